// Package validate checks resources against the FHIR R4 structure definitions
// (known elements, JSON shapes, primitive values, cardinality, required
// bindings, the specification's FHIRPath invariants, extensions) and against
// profiles: the shipped China core profiles and those clients store.
package validate

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/fhirpath"
	"github.com/hip-platform/hip/internal/fhir/spec"
)

// MaxIssues caps the issues reported for one resource: past it, the client has
// enough to fix and the rest is noise.
const MaxIssues = 100

// Validator checks resources. It precomputes, per type and backbone element, a map
// from JSON property name to what the property must hold, so a check walks the
// resource once without building paths or strings unless it finds a problem. It is
// safe for concurrent use.
type Validator struct {
	resources  map[string]*node // concrete resource type → its root node
	walkers    sync.Pool        // of *walker
	model      *fhirpath.Model
	invariants map[string][]invariant // by resource type
	defs       *spec.Definitions
	shipped    map[string]*Profile // data/profiles, by URL
	stored     sync.Map            // URL → *cachedProfile
	// Problems are invariants of the specification the FHIRPath engine
	// could not compile; they are not checked.
	Problems []error
}

// node is an object that can appear in a resource: a resource, a complex type, a
// backbone element, or the "_name" sibling of a primitive.
type node struct {
	resource bool // may carry resourceType
	fields   map[string]*field
	required []requirement
	choices  int // number of choice elements, numbered 1.. in field.choice
}

// field is one JSON property of a node. A choice element value[x] gives one field
// per type (valueQuantity, valueString, ...).
type field struct {
	name     string // JSON property name
	extName  string // "_" + name, for primitives
	element  string // element name, e.g. value[x], for messages
	array    bool
	prim     *primitive // set for primitive types
	ext      *node      // for primitives: what "_name" holds (id, extension)
	child    *node      // for complex types and backbone elements
	resource bool       // type Resource: checked as the type its resourceType names
	choice   int        // choice element number within the node; 0 if none
	valueSet *spec.ValueSet
	coded    codedKind // how the required value set applies
	targets  []string  // a Reference's allowed target types; nil: any
}

type codedKind uint8

const (
	notCoded codedKind = iota
	codedCode
	codedCoding
	codedConcept
)

// requirement is an element with min ≥ 1: present if any of its JSON names (or their
// "_" siblings, for a primitive carrying only extensions) is present.
type requirement struct {
	element string
	names   []string
}

// New builds a validator over the definitions.
func New(defs *spec.Definitions) *Validator {
	b := &builder{
		defs:  defs,
		nodes: map[string]*node{},
		prims: map[string]*primitive{},
	}
	for _, t := range defs.Types() {
		if t.Kind == spec.KindPrimitiveType {
			b.prims[t.Name] = newPrimitive(t)
		}
	}
	for _, t := range defs.Types() {
		b.addType(t)
	}
	for _, p := range b.pending {
		p.resolve(b)
	}
	v := &Validator{resources: map[string]*node{}, model: fhirpath.NewModel(defs), defs: defs, shipped: map[string]*Profile{}}
	v.invariants, v.Problems = buildInvariants(defs)
	v.loadShipped()
	v.walkers.New = func() any { return &walker{v: v} }
	for _, name := range defs.ResourceTypes() {
		n := b.nodes[nodeKey(name, name)]
		n.resource = true
		v.resources[name] = n
	}
	return v
}

type builder struct {
	defs    *spec.Definitions
	nodes   map[string]*node // by nodeKey(type, element path)
	prims   map[string]*primitive
	pending []pendingChild
}

func nodeKey(typ, path string) string { return typ + "|" + path }

func (b *builder) node(typ, path string) *node {
	k := nodeKey(typ, path)
	n := b.nodes[k]
	if n == nil {
		n = &node{fields: map[string]*field{}}
		b.nodes[k] = n
	}
	return n
}

// pendingChild links a complex field to its node once every type is built: an inline
// backbone element's own node when the definition has children under its path, else
// the node of its type.
type pendingChild struct {
	f        *field
	typ      string // type whose definition holds the element
	path     string // element path, or the contentReference target
	typeCode string
}

func (p pendingChild) resolve(b *builder) {
	if n := b.nodes[nodeKey(p.typ, p.path)]; n != nil && len(n.fields) > 0 {
		p.f.child = n
		return
	}
	p.f.child = b.node(p.typeCode, p.typeCode)
}

func (b *builder) addType(t *spec.TypeDef) {
	b.node(t.Name, t.Name)
	for _, e := range t.Elements[1:] {
		parent := b.node(t.Name, e.Path[:strings.LastIndexByte(e.Path, '.')])
		types := e.Types
		target := e.Path
		if e.ContentReference != "" {
			ref := t.Element(e.ContentReference)
			if ref == nil {
				continue
			}
			types, target = ref.Types, e.ContentReference
		}
		name := e.Name()
		choice := 0
		if e.IsChoice() {
			parent.choices++
			choice = parent.choices
			name = strings.TrimSuffix(name, "[x]")
		}
		req := requirement{element: e.Name()}
		for _, tr := range types {
			f := &field{name: name, element: e.Name(), array: e.IsArray(), choice: choice}
			if choice > 0 {
				f.name = name + strings.ToUpper(tr.Code[:1]) + tr.Code[1:]
			}
			switch {
			case b.prims[tr.Code] != nil:
				f.prim = b.prims[tr.Code]
				f.extName = "_" + f.name
				f.ext = b.node(tr.Code, tr.Code)
				req.names = append(req.names, f.extName)
			case tr.Code == "Resource":
				f.resource = true
			default:
				b.pending = append(b.pending, pendingChild{f: f, typ: t.Name, path: target, typeCode: tr.Code})
				if tr.Code == "Reference" && len(tr.Targets) > 0 && !slices.Contains(tr.Targets, "Resource") {
					f.targets = tr.Targets
				}
			}
			if bd := e.Binding; bd != nil && bd.Strength == spec.BindingRequired {
				if vs := b.defs.ValueSet(bd.ValueSet); vs != nil && vs.Enumerable {
					switch tr.Code {
					case "code":
						f.valueSet, f.coded = vs, codedCode
					case "Coding":
						f.valueSet, f.coded = vs, codedCoding
					case "CodeableConcept":
						f.valueSet, f.coded = vs, codedConcept
					}
				}
			}
			parent.fields[f.name] = f
			req.names = append(req.names, f.name)
		}
		if e.Min > 0 && !examplesOmit(e.Path) {
			parent.required = append(parent.required, req)
		}
	}
}

// examplesOmit reports the required elements whose minimum cardinality is not
// checked because official R4 examples, which must validate, genuinely leave them
// out: Questionnaire-qs1 has display items without linkId (1..1), and
// ImplementationGuide-fhir and ig-r4 have neither name nor status (both 1..1).
// Every other element's minimum is checked.
func examplesOmit(path string) bool {
	switch path {
	case "Questionnaire.item.linkId", "ImplementationGuide.name", "ImplementationGuide.status":
		return true
	}
	return false
}

// Resource checks res structurally (Write adds invariants, extensions and
// profiles under a policy) and returns nil or a *fhir.Error with code
// Invalid and one issue per finding.
func (v *Validator) Resource(res fhir.Resource) error {
	issues := v.Check(res, false)
	first := slices.IndexFunc(issues, structural)
	if first < 0 {
		return nil
	}
	msg := issues[first].Diagnostics
	if len(issues) > 1 {
		msg = fmt.Sprintf("%s (and %d more issues)", msg, len(issues)-1)
	}
	return &fhir.Error{Code: fhir.Invalid, Message: "invalid resource: " + msg, Issues: issues}
}

// Check returns every finding about res, errors and warnings; with
// invariants, the specification's FHIRPath constraints are evaluated too.
func (v *Validator) Check(res fhir.Resource, invariants bool) []fhir.Issue {
	w := v.walkers.Get().(*walker)
	defer func() {
		w.issues, w.segs, w.root, w.withInvariants = nil, w.segs[:0], nil, false
		v.walkers.Put(w)
	}()
	w.root, w.withInvariants = res, invariants
	w.resource(res, true)
	return w.issues
}

// walker is the state of one check. Walkers are pooled so that the location stack
// is reused: a valid resource is checked without allocating.
type walker struct {
	v      *Validator
	segs   []seg // the location being walked; rendered only for an issue
	issues []fhir.Issue
	root   fhir.Resource // the top-level resource: %rootResource
	// withInvariants evaluates the invariants of each resource met.
	withInvariants bool
}

// seg is one step of a location: an element name and, for array items, the index.
type seg struct {
	name  string
	index int // -1: not an array item
}

func (w *walker) push(name string, index int) { w.segs = append(w.segs, seg{name, index}) }

func (w *walker) pop() { w.segs = w.segs[:len(w.segs)-1] }

// where renders the location as a FHIRPath expression, e.g. Patient.name[0].given[1].
func (w *walker) where() string {
	var sb strings.Builder
	for i, s := range w.segs {
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(s.name)
		if s.index >= 0 {
			sb.WriteByte('[')
			sb.WriteString(strconv.Itoa(s.index))
			sb.WriteByte(']')
		}
	}
	return sb.String()
}

// add reports an issue at the current location.
func (w *walker) add(code string, format string, args ...any) {
	if len(w.issues) >= MaxIssues {
		return
	}
	w.issues = append(w.issues, fhir.Issue{
		Severity:    "error",
		Code:        code,
		Diagnostics: fmt.Sprintf(format, args...),
		Expression:  []string{w.where()},
	})
}

// addIssue reports an issue of a severity at an element path.
func (w *walker) addIssue(severity, code, expression string, format string, args ...any) {
	if len(w.issues) >= MaxIssues {
		return
	}
	w.issues = append(w.issues, fhir.Issue{Severity: severity, Code: code, Diagnostics: fmt.Sprintf(format, args...),
		Expression: []string{expression}})
}

// addAt reports an issue at a child of the current location.
func (w *walker) addAt(name string, index int, code string, format string, args ...any) {
	w.push(name, index)
	w.add(code, format, args...)
	w.pop()
}

// resource checks a resource by its resourceType. A top-level resource's location
// starts with its type; a nested one (contained, Bundle.entry.resource) continues
// its parent's.
func (w *walker) resource(obj map[string]any, top bool) {
	if top {
		w.push("Resource", -1)
		defer w.pop()
	}
	raw, ok := obj["resourceType"]
	if !ok {
		w.add("required", "缺少 resourceType resourceType is missing")
		return
	}
	rt, ok := raw.(string)
	if !ok {
		w.add("structure", "resourceType must be a string, not %s", jsonKind(raw))
		return
	}
	n := w.v.resources[rt]
	if n == nil {
		w.add("structure", "未知的资源类型 unknown resource type %q", clip(rt))
		return
	}
	if top {
		w.segs[len(w.segs)-1].name = rt
	}
	before := len(w.issues)
	w.object(obj, n)
	if w.withInvariants && len(w.issues) == before {
		// Invariants assume a structurally sound resource.
		w.invariants(obj, rt)
	}
}

func (w *walker) object(obj map[string]any, n *node) {
	if len(obj) == 0 {
		w.add("structure", "空对象 empty object: FHIR JSON leaves out elements without content")
		return
	}
	var seen uint64 // choice elements met, by number (bits past 63 are not tracked)
	for k, val := range obj {
		if k == "resourceType" && n.resource {
			continue
		}
		if strings.HasPrefix(k, "_") {
			if f := n.fields[k[1:]]; f != nil && f.prim != nil {
				w.primitiveExt(obj, f, val)
				continue
			}
		}
		f := n.fields[k]
		if f == nil {
			w.addAt(k, -1, "structure", "未知元素 unknown element %q", clip(k))
			continue
		}
		if f.choice > 0 && f.choice < 64 {
			if seen&(1<<f.choice) != 0 {
				w.addAt(f.element, -1, "structure", "只能给出一种类型 more than one type given for %s", f.element)
			}
			seen |= 1 << f.choice
		}
		w.field(obj, f, val)
	}
	for _, r := range n.required {
		if !hasAny(obj, r.names) {
			w.addAt(r.element, -1, "required", "缺少必填元素 missing required element %s", r.element)
		}
	}
}

func hasAny(obj map[string]any, names []string) bool {
	for _, n := range names {
		if _, ok := obj[n]; ok {
			return true
		}
	}
	return false
}

func (w *walker) field(obj map[string]any, f *field, val any) {
	if !f.array {
		w.push(f.name, -1)
		defer w.pop()
		if _, ok := val.([]any); ok {
			w.add("structure", "%s 只能有一个值 %s must be a single value, not an array", f.name, f.name)
			return
		}
		if val == nil {
			w.add("structure", "%s is null", f.name)
			return
		}
		w.value(f, val)
		return
	}
	arr, ok := w.array(f.name, val)
	if !ok {
		return
	}
	var ext []any
	if f.prim != nil {
		ext, _ = obj[f.extName].([]any)
	}
	for i, item := range arr {
		w.push(f.name, i)
		if item != nil {
			w.value(f, item)
		} else if i >= len(ext) || ext[i] == nil {
			// A null keeps positions aligned with the "_" array, which must then
			// carry something at this index.
			w.add("structure", "null in %s without an extension in %s", f.name, f.extName)
		}
		w.pop()
	}
}

// array checks that the value of a repeating element name is a non-empty array.
func (w *walker) array(name string, val any) ([]any, bool) {
	arr, ok := val.([]any)
	switch {
	case !ok:
		w.addAt(name, -1, "structure", "%s 须为数组 %s must be an array", name, name)
	case len(arr) == 0:
		w.addAt(name, -1, "structure", "空数组 empty array: FHIR JSON leaves out elements without content")
	}
	return arr, ok && len(arr) > 0
}

// primitiveExt checks the "_name" sibling of a primitive: an object (or, for an
// array, an array of objects and nulls aligned with the values).
func (w *walker) primitiveExt(obj map[string]any, f *field, val any) {
	if !f.array {
		w.push(f.extName, -1)
		defer w.pop()
		m, ok := val.(map[string]any)
		if !ok {
			w.add("structure", "%s must be an object, not %s", f.extName, jsonKind(val))
			return
		}
		w.object(m, f.ext)
		return
	}
	arr, ok := w.array(f.extName, val)
	if !ok {
		return
	}
	values, hasValues := obj[f.name].([]any)
	if hasValues && len(values) != len(arr) {
		w.addAt(f.extName, -1, "structure", "%s has %d items but %s has %d", f.extName, len(arr), f.name, len(values))
	}
	for i, item := range arr {
		w.push(f.extName, i)
		switch m, ok := item.(map[string]any); {
		case item == nil:
			if i >= len(values) || values[i] == nil {
				w.add("structure", "null in %s without a value in %s", f.extName, f.name)
			}
		case !ok:
			w.add("structure", "%s items must be objects or null, not %s", f.extName, jsonKind(item))
		default:
			w.object(m, f.ext)
		}
		w.pop()
	}
}

// value checks one non-null value of a field at the current location.
func (w *walker) value(f *field, val any) {
	switch {
	case f.prim != nil:
		if w.primitive(f.prim, val) && f.coded == codedCode {
			if code := val.(string); !f.valueSet.Contains("", code) {
				w.add("code-invalid", "编码不在必选值集中 code %q is not in the required value set %s", clip(code), f.valueSet.URL)
			}
		}
	case f.resource:
		m, ok := val.(map[string]any)
		if !ok {
			w.add("structure", "%s must be a resource (JSON object), not %s", f.name, jsonKind(val))
			return
		}
		w.resource(m, false)
	default:
		m, ok := val.(map[string]any)
		if !ok {
			w.add("structure", "%s must be a JSON object, not %s", f.name, jsonKind(val))
			return
		}
		w.object(m, f.child)
		if f.targets != nil {
			if ref, _ := m["reference"].(string); ref != "" {
				if t := referenceType(ref); t != "" && w.v.resources[t] != nil && !slices.Contains(f.targets, t) {
					w.addAt("reference", -1, "invalid", "引用类型错误 %s may refer to %s, not %s", f.element, strings.Join(f.targets, ", "), t)
				}
			}
		}
		switch f.coded {
		case codedCoding:
			w.coding(f.valueSet, m)
		case codedConcept:
			w.concept(f.valueSet, m)
		}
	}
}

// coding reports a Coding whose system and code are outside vs. A Coding without a
// code says nothing to check.
func (w *walker) coding(vs *spec.ValueSet, m map[string]any) {
	code, ok := m["code"].(string)
	if !ok {
		return
	}
	system, _ := m["system"].(string)
	if !vs.Contains(system, code) {
		w.add("code-invalid", "编码不在必选值集中 code %q (system %q) is not in the required value set %s", clip(code), clip(system), vs.URL)
	}
}

// concept reports a CodeableConcept with codes none of which is in vs. One that
// holds only text has no code to check.
func (w *walker) concept(vs *spec.ValueSet, m map[string]any) {
	codings, _ := m["coding"].([]any)
	checked := false
	for _, c := range codings {
		cm, _ := c.(map[string]any)
		code, ok := cm["code"].(string)
		if !ok {
			continue
		}
		system, _ := cm["system"].(string)
		if vs.Contains(system, code) {
			return
		}
		checked = true
	}
	if checked {
		w.add("code-invalid", "编码均不在必选值集中 none of the codes is in the required value set %s", vs.URL)
	}
}

// primitive checks a primitive value and reports whether it is valid.
func (w *walker) primitive(pr *primitive, val any) bool {
	switch pr.json {
	case jsonBool:
		if _, ok := val.(bool); !ok {
			w.add("structure", "%s must be a JSON boolean, not %s", pr.name, jsonKind(val))
			return false
		}
		return true
	case jsonNumber:
		n, ok := numberText(val)
		if !ok {
			w.add("structure", "%s must be a JSON number, not %s", pr.name, jsonKind(val))
			return false
		}
		if msg := pr.checkNumber(n); msg != "" {
			w.add("value", "值无效 invalid %s %s: %s", pr.name, clip(n), msg)
			return false
		}
		return true
	}
	s, ok := val.(string)
	if !ok {
		w.add("structure", "%s must be a JSON string, not %s", pr.name, jsonKind(val))
		return false
	}
	if s == "" {
		w.add("value", "空字符串 empty string: FHIR JSON leaves out elements without content")
		return false
	}
	if msg := pr.checkString(s); msg != "" {
		w.add("value", "值无效 invalid %s %q: %s", pr.name, clip(s), msg)
		return false
	}
	return true
}

// numberText returns the text of a JSON number: a json.Number from fhir.Parse, or a
// Go number in a resource built in code.
func numberText(v any) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		return string(n), true
	case float64:
		return strconv.FormatFloat(n, 'f', -1, 64), true
	case int:
		return strconv.Itoa(n), true
	case int64:
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number, float64, int, int64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// clip shortens a value quoted in a message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// regexp.MustCompile is safe here: the patterns come from the embedded definitions,
// which the tests load, so a bad one fails the build's tests, not a request.
func anchored(re string) *regexp.Regexp { return regexp.MustCompile(`^(?:` + re + `)$`) }
