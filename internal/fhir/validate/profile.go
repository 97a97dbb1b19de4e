package validate

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/fhirpath"
	"github.com/hip-platform/hip/internal/fhir/spec"
)

// Profile is a compiled constraint StructureDefinition: what it adds to its
// base type. The base type's own rules are checked by the structural walk and
// the invariants, so a profile is checked from its differential (or, for a
// definition that has only a snapshot, from the snapshot, which restates the
// base and so checks it twice, harmlessly).
type Profile struct {
	URL  string
	Name string
	Type string // the resource or datatype it constrains (Extension for an extension definition)
	Base string // baseDefinition: a core type's URL or another profile
	root *pElem
	// For an extension definition: the types its value may have (nil: any
	// the definition does not restrict) and whether it has a value at all.
	valueTypes []string
	noValue    bool
}

// pElem is one element of a profile, with its slices and children.
type pElem struct {
	id        string // element id, e.g. Patient.identifier:idcard.value
	name      string // JSON name; a choice element's name without [x]
	choice    bool
	sliceName string
	typeSlice string           // a choice element's slice of one type (Quantity for value[x]:valueQuantity)
	def       *spec.ElementDef // the base definition of the element; nil for the root
	min       int
	max       int // -1: unbounded, -2: not restricted by the profile
	hasMin    bool
	fixed     any
	pattern   any
	binding   *pBinding
	types     []string // allowed type codes; nil: not restricted
	targets   []string // allowed Reference target types; nil: not restricted
	extURL    string   // an extension slice: the extension's definition
	rules     []pConstraint
	slicing   *pSlicing
	slices    []*pElem
	children  []*pElem
}

type pBinding struct{ strength, valueSet string }

type pConstraint struct {
	key, severity, human string
	expr                 *fhirpath.Expression
}

type pSlicing struct {
	discriminators []pDiscriminator
	closed         bool
}

type pDiscriminator struct{ kind, path string }

// CompileProfile compiles a StructureDefinition with derivation "constraint".
func (v *Validator) CompileProfile(sd fhir.Resource) (*Profile, error) {
	url, _ := sd["url"].(string)
	if sd.Type() != "StructureDefinition" || url == "" {
		return nil, fmt.Errorf("validate: a profile is a StructureDefinition with a url")
	}
	if d, _ := sd["derivation"].(string); d != "constraint" {
		return nil, fmt.Errorf("validate: profile %s: derivation is %q, not constraint", url, d)
	}
	p := &Profile{URL: url}
	p.Name, _ = sd["name"].(string)
	p.Type, _ = sd["type"].(string)
	p.Base, _ = sd["baseDefinition"].(string)
	base := v.defs.Type(p.Type)
	if base == nil {
		return nil, fmt.Errorf("validate: profile %s constrains unknown type %q", url, p.Type)
	}
	var elements []any
	for _, part := range []string{"differential", "snapshot"} {
		if m, ok := sd[part].(map[string]any); ok {
			if elements, _ = m["element"].([]any); len(elements) > 0 {
				break
			}
		}
	}
	if len(elements) == 0 {
		return nil, fmt.Errorf("validate: profile %s has no elements", url)
	}
	byID := map[string]*pElem{}
	p.root = &pElem{id: p.Type, max: -2}
	byID[p.Type] = p.root
	for i, raw := range elements {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("validate: profile %s: element %d is not an object", url, i)
		}
		id, _ := m["id"].(string)
		if id == "" {
			id, _ = m["path"].(string)
		}
		e, err := v.element(p, byID, id)
		if err != nil {
			return nil, fmt.Errorf("validate: profile %s: %w", url, err)
		}
		if err := v.fill(p, e, m); err != nil {
			return nil, fmt.Errorf("validate: profile %s: element %s: %w", url, id, err)
		}
	}
	return p, nil
}

// element finds or creates the element with an id, creating the elements
// above it that the differential leaves out.
func (v *Validator) element(p *Profile, byID map[string]*pElem, id string) (*pElem, error) {
	if e := byID[id]; e != nil {
		return e, nil
	}
	cut := strings.LastIndexByte(id, '.')
	if cut < 0 {
		return nil, fmt.Errorf("element %s is not under %s", id, p.Type)
	}
	parentID, last := id[:cut], id[cut+1:]
	name, slice, _ := strings.Cut(last, ":")
	var e *pElem
	if slice != "" {
		// A slice hangs under the element it slices, at the same path.
		sliced, err := v.element(p, byID, parentID+"."+name)
		if err != nil {
			return nil, err
		}
		e = &pElem{id: id, name: sliced.name, choice: sliced.choice, def: sliced.def, sliceName: slice, max: -2}
		if sliced.choice && strings.HasPrefix(slice, sliced.name) && len(slice) > len(sliced.name) {
			// value[x]:valueQuantity: the shorthand for the values of one type.
			e.typeSlice = slice[len(sliced.name):]
			if sliced.slicing == nil {
				sliced.slicing = &pSlicing{discriminators: []pDiscriminator{{kind: "type", path: "$this"}}}
			}
		}
		sliced.slices = append(sliced.slices, e)
	} else {
		parent, err := v.element(p, byID, parentID)
		if err != nil {
			return nil, err
		}
		def := v.elementDef(p.Type, pathOf(id))
		if parent.typeSlice != "" {
			ts := parent.typeSlice
			if dt := v.defs.Type(ts); dt == nil {
				ts = strings.ToLower(ts[:1]) + ts[1:] // valueString: the primitive string
			}
			def = v.elementDef(ts, ts+"."+name)
		}
		if def == nil {
			return nil, fmt.Errorf("no element %s in %s", pathOf(id), p.Type)
		}
		e = &pElem{id: id, name: strings.TrimSuffix(name, "[x]"), choice: strings.HasSuffix(name, "[x]"), def: def, max: -2}
		parent.children = append(parent.children, e)
	}
	byID[id] = e
	return e, nil
}

// pathOf drops slice names from an element id: Patient.identifier:idcard.value
// → Patient.identifier.value.
func pathOf(id string) string {
	parts := strings.Split(id, ".")
	for i, s := range parts {
		parts[i], _, _ = strings.Cut(s, ":")
	}
	return strings.Join(parts, ".")
}

// elementDef finds the base definition of an element path, following
// datatypes (Patient.identifier.system is Identifier.system) and content
// references.
func (v *Validator) elementDef(typ, path string) *spec.ElementDef {
	t := v.defs.Type(typ)
	if t == nil {
		return nil
	}
	if e := t.Element(path); e != nil {
		if e.ContentReference != "" {
			if ref := t.Element(strings.TrimPrefix(e.ContentReference, "#")); ref != nil {
				return ref
			}
		}
		return e
	}
	// Walk down to the longest prefix the type defines, then into its type.
	parts := strings.Split(path, ".")
	for n := len(parts) - 1; n >= 2; n-- {
		e := t.Element(strings.Join(parts[:n], "."))
		if e == nil {
			continue
		}
		if e.ContentReference != "" {
			ref := strings.TrimPrefix(e.ContentReference, "#")
			return v.elementDef(typ, ref+"."+strings.Join(parts[n:], "."))
		}
		if len(e.Types) != 1 {
			return nil
		}
		return v.elementDef(e.Types[0].Code, e.Types[0].Code+"."+strings.Join(parts[n:], "."))
	}
	return nil
}

// fill reads what an element definition of the profile says.
func (v *Validator) fill(p *Profile, e *pElem, m map[string]any) error {
	if raw, ok := m["min"]; ok {
		// json.Number from fhir.Parse; float64 from a definition decoded otherwise.
		n, _ := numberText(raw)
		i, err := strconv.Atoi(n)
		if err != nil || i < 0 {
			return fmt.Errorf("min %v", raw)
		}
		e.min, e.hasMin = i, true
	}
	if s, ok := m["max"].(string); ok {
		if s == "*" {
			e.max = -1
		} else {
			i, err := strconv.Atoi(s)
			if err != nil {
				return fmt.Errorf("max %q", s)
			}
			e.max = i
		}
	}
	for k, val := range m {
		switch {
		case strings.HasPrefix(k, "fixed"):
			e.fixed = val
		case strings.HasPrefix(k, "pattern"):
			e.pattern = val
		}
	}
	if b, ok := m["binding"].(map[string]any); ok {
		strength, _ := b["strength"].(string)
		vs, _ := b["valueSet"].(string)
		vs, _, _ = strings.Cut(vs, "|")
		if vs != "" {
			e.binding = &pBinding{strength: strength, valueSet: vs}
		}
	}
	if ts, ok := m["type"].([]any); ok {
		e.types = nil
		for _, raw := range ts {
			t, _ := raw.(map[string]any)
			code, _ := t["code"].(string)
			e.types = append(e.types, code)
			if code == "Reference" {
				for _, tp := range asStrings(t["targetProfile"]) {
					e.targets = append(e.targets, tp[strings.LastIndexByte(tp, '/')+1:])
				}
			}
			if code == "Extension" {
				if prof := asStrings(t["profile"]); len(prof) > 0 {
					e.extURL = prof[0]
				}
			}
		}
		if p.Type == "Extension" && e.id == "Extension.value[x]" {
			p.valueTypes = e.types
		}
	}
	if p.Type == "Extension" && e.id == "Extension.value[x]" && e.max == 0 {
		p.noValue = true
	}
	if cs, ok := m["constraint"].([]any); ok {
		for _, raw := range cs {
			c, _ := raw.(map[string]any)
			key, _ := c["key"].(string)
			expr, _ := c["expression"].(string)
			if expr == "" {
				continue
			}
			if e.def != nil && slices.ContainsFunc(e.def.Constraints, func(b spec.Constraint) bool { return b.Key == key }) {
				continue // the base's own, checked by the invariants
			}
			x, err := fhirpath.Compile(expr)
			if err != nil {
				return fmt.Errorf("constraint %s: %w", key, err)
			}
			sev, _ := c["severity"].(string)
			human, _ := c["human"].(string)
			e.rules = append(e.rules, pConstraint{key: key, severity: sev, human: human, expr: x})
		}
	}
	if s, ok := m["slicing"].(map[string]any); ok {
		e.slicing = &pSlicing{}
		rules, _ := s["rules"].(string)
		e.slicing.closed = rules == "closed"
		ds, _ := s["discriminator"].([]any)
		for _, raw := range ds {
			d, _ := raw.(map[string]any)
			kind, _ := d["type"].(string)
			path, _ := d["path"].(string)
			switch kind {
			case "value", "pattern", "type", "exists":
			default:
				return fmt.Errorf("slicing discriminator type %q is not supported (value, pattern, type, exists are)", kind)
			}
			e.slicing.discriminators = append(e.slicing.discriminators, pDiscriminator{kind: kind, path: path})
		}
	}
	return nil
}

func asStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// profileCheck is the state of checking one resource against profiles.
type profileCheck struct {
	ctx    context.Context
	v      *Validator
	env    *Env
	res    fhir.Resource
	fp     *fhirpath.Env
	issues []fhir.Issue
	seen   map[string]bool // profiles checked, against cycles
}

func (c *profileCheck) add(severity, code, where, format string, args ...any) {
	if len(c.issues) >= MaxIssues {
		return
	}
	c.issues = append(c.issues, fhir.Issue{Severity: severity, Code: code, Diagnostics: fmt.Sprintf(format, args...), Expression: []string{where}})
}

// profile checks the resource (or, for an extension definition, an
// extension) against p and the profiles p derives from.
func (c *profileCheck) profile(p *Profile, value any, where string) {
	if c.seen[p.URL+"\x00"+where] {
		return
	}
	c.seen[p.URL+"\x00"+where] = true
	if p.Base != "" && !strings.HasPrefix(p.Base, "http://hl7.org/fhir/StructureDefinition/") {
		if base, err := c.v.profileByURL(c.ctx, c.env, p.Base); err != nil {
			c.add("error", "not-found", where, "无法解析基础配置文件 the base profile %s of %s: %v", p.Base, p.URL, err)
		} else {
			c.profile(base, value, where)
		}
	}
	c.items(p.root, []any{value}, []string{where}, "", p)
}

// items checks the instances of an element found under one parent (for
// the root: the resource).
func (c *profileCheck) items(e *pElem, vals []any, wheres []string, parent string, p *Profile) {
	for i, val := range vals {
		c.value(e, val, wheres[i], p)
	}
	if e.slicing != nil {
		c.slice(e, vals, wheres, parent, p)
	}
	for i, val := range vals {
		obj, ok := val.(map[string]any)
		if !ok {
			continue
		}
		for _, ch := range e.children {
			cv, cw := children(obj, ch, wheres[i])
			c.cardinality(ch, len(cv), wheres[i])
			c.items(ch, cv, cw, wheres[i], p)
		}
	}
}

// children returns the values of an element in an object, with their
// locations; a choice element gives its values of every type.
func children(obj map[string]any, e *pElem, where string) ([]any, []string) {
	var vals []any
	var wheres []string
	addAll := func(key string, raw any) {
		if list, ok := raw.([]any); ok {
			for i, x := range list {
				if x != nil {
					vals = append(vals, x)
					wheres = append(wheres, where+"."+key+"["+strconv.Itoa(i)+"]")
				}
			}
			return
		}
		vals = append(vals, raw)
		wheres = append(wheres, where+"."+key)
	}
	if !e.choice {
		if raw, ok := obj[e.name]; ok {
			addAll(e.name, raw)
		}
		return vals, wheres
	}
	for k, raw := range obj {
		if len(k) > len(e.name) && strings.HasPrefix(k, e.name) && k[len(e.name)] >= 'A' && k[len(e.name)] <= 'Z' {
			addAll(k, raw)
		}
	}
	return vals, wheres
}

func (c *profileCheck) cardinality(e *pElem, n int, where string) {
	label := e.label()
	if e.hasMin && n < e.min {
		if n == 0 {
			c.add("error", "required", where+"."+e.name, "缺少必填元素 %s (配置文件要求至少 %d 个) the profile requires at least %d %s", label, e.min, e.min, label)
		} else {
			c.add("error", "structure", where+"."+e.name, "%s 数量不足 the profile requires at least %d %s, found %d", label, e.min, label, n)
		}
	}
	if e.max >= 0 && n > e.max {
		if e.max == 0 {
			c.add("error", "structure", where+"."+e.name, "不允许出现 %s the profile does not allow %s", label, label)
		} else {
			c.add("error", "structure", where+"."+e.name, "%s 数量过多 the profile allows at most %d %s, found %d", label, e.max, label, n)
		}
	}
}

// label names an element in messages: its path, with the slice.
func (e *pElem) label() string {
	if e.sliceName != "" {
		return e.name + ":" + e.sliceName
	}
	return e.name
}

// value checks one instance against an element's own rules.
func (c *profileCheck) value(e *pElem, val any, where string, p *Profile) {
	if e.fixed != nil && !jsonEqual(val, e.fixed) {
		c.add("error", "value", where, "值必须为 %s the profile fixes the value to %s", compact(e.fixed), compact(e.fixed))
	}
	if e.pattern != nil && !matchesPattern(val, e.pattern) {
		c.add("error", "value", where, "值不符合模式 the value must match the pattern %s", compact(e.pattern))
	}
	if e.types != nil && e.choice {
		if t := choiceType(where, e.name); t != "" && !slices.ContainsFunc(e.types, func(s string) bool { return strings.EqualFold(s, t) }) {
			c.add("error", "structure", where, "类型不允许 the profile allows %s as %s, not %s", e.name, strings.Join(e.types, ", "), t)
		}
	}
	if e.targets != nil && !slices.Contains(e.targets, "Resource") {
		if m, ok := val.(map[string]any); ok {
			if ref, _ := m["reference"].(string); ref != "" {
				if t := referenceType(ref); t != "" && !slices.Contains(e.targets, t) {
					c.add("error", "structure", where, "引用类型不允许 the profile allows references to %s, not %s", strings.Join(e.targets, ", "), t)
				}
			}
		}
	}
	if e.binding != nil {
		c.binding(e.binding, val, where)
	}
	if e.extURL != "" {
		if ext, ok := val.(map[string]any); ok {
			if def, err := c.v.profileByURL(c.ctx, c.env, e.extURL); err == nil {
				c.extension(def, ext, where)
			}
		}
	}
	for _, r := range e.rules {
		env := *c.fp
		got, err := r.expr.Evaluate(&env, val)
		if err != nil {
			c.add("warning", "processing", where, "%s: 无法求值 could not be evaluated: %v", r.key, err)
			continue
		}
		if len(got) == 1 && got[0].Value == false {
			sev := "error"
			if r.severity == "warning" {
				sev = "warning"
			}
			c.add(sev, "invariant", where, "%s: %s", r.key, r.human)
		}
	}
}

// extension checks an extension against its definition (a profile of
// Extension): the value's type, then the definition's own elements.
func (c *profileCheck) extension(def *Profile, ext map[string]any, where string) {
	c.extensionValue(def.URL, def.valueTypes, def.noValue, ext, where)
	c.profile(def, ext, where)
}

// extensionValue checks an extension's value against the types its
// definition allows (nil: any) or, for an extension of nested extensions
// only (noValue), that it has none.
func (c *profileCheck) extensionValue(url string, types []string, noValue bool, ext map[string]any, where string) {
	var valueKey string
	for k := range ext {
		if strings.HasPrefix(k, "value") {
			valueKey = k
		}
	}
	switch {
	case valueKey == "":
	case noValue:
		c.add("error", "structure", where, "扩展 %s 不应有值 the extension %s has nested extensions, not a value", url, url)
	case types != nil && !slices.ContainsFunc(types, func(t string) bool { return strings.EqualFold("value"+t, valueKey) }):
		c.add("error", "structure", where+"."+valueKey, "扩展值类型错误 the extension %s takes a value of type %s, not %s", url, strings.Join(types, ", "), strings.TrimPrefix(valueKey, "value"))
	}
}

// slice assigns the instances of a sliced element to its slices and checks
// each slice's cardinality and rules on the instances it holds.
func (c *profileCheck) slice(e *pElem, vals []any, wheres []string, parent string, p *Profile) {
	held := make([][]int, len(e.slices))
	for i, val := range vals {
		matched := false
		for s, sl := range e.slices {
			if c.inSlice(e, sl, val, wheres[i]) {
				held[s] = append(held[s], i)
				matched = true
				break
			}
		}
		if !matched && e.slicing.closed {
			c.add("error", "structure", wheres[i], "不属于任何切片 %s is closed to values outside its slices (%s)", e.name, sliceNames(e))
		}
	}
	for s, sl := range e.slices {
		var sv []any
		var sw []string
		for _, i := range held[s] {
			sv = append(sv, vals[i])
			sw = append(sw, wheres[i])
		}
		if len(vals) > 0 || sl.hasMin {
			c.cardinality(sl, len(sv), parent)
		}
		c.items(sl, sv, sw, parent, p)
	}
}

func sliceNames(e *pElem) string {
	var names []string
	for _, s := range e.slices {
		names = append(names, s.sliceName)
	}
	return strings.Join(names, ", ")
}

// inSlice reports whether a value belongs to a slice by the slicing's
// discriminators: value and pattern compare the value at the path with
// the slice's fixed or pattern value there; type compares the value's
// type; exists tests presence. An extension slice is told by its url.
func (c *profileCheck) inSlice(e, sl *pElem, val any, where string) bool {
	if sl.typeSlice != "" {
		return choiceType(where, e.name) == sl.typeSlice
	}
	obj, _ := val.(map[string]any)
	for _, d := range e.slicing.discriminators {
		switch {
		case d.kind == "type":
			if sl.types == nil {
				continue
			}
			t := ""
			if obj != nil {
				if rt, ok := obj["resourceType"].(string); ok {
					t = rt
				}
			}
			if t == "" || !slices.Contains(sl.types, t) {
				return false
			}
		case d.path == "url" && sl.extURL != "":
			if obj == nil || obj["url"] != sl.extURL {
				return false
			}
		case d.kind == "exists":
			target := sliceTarget(sl, d.path)
			want := target != nil && target.hasMin && target.min > 0
			_, has := pathValue(obj, d.path)
			if has != want {
				return false
			}
		default:
			target := sliceTarget(sl, d.path)
			if target == nil {
				continue
			}
			got, ok := pathValue(obj, d.path)
			if d.path == "$this" {
				got, ok = val, true
			}
			if !ok {
				return false
			}
			switch {
			case target.fixed != nil:
				if !jsonEqual(got, target.fixed) {
					return false
				}
			case target.pattern != nil:
				if !matchesPattern(got, target.pattern) {
					return false
				}
			}
		}
	}
	return true
}

// sliceTarget finds the element of a slice a discriminator path points at.
func sliceTarget(sl *pElem, path string) *pElem {
	if path == "$this" {
		return sl
	}
	e := sl
	for _, step := range strings.Split(path, ".") {
		var next *pElem
		for _, ch := range e.children {
			if ch.name == step || ch.choice && strings.HasPrefix(step, ch.name) {
				next = ch
				break
			}
		}
		if next == nil {
			return nil
		}
		e = next
	}
	return e
}

// pathValue follows a dotted path of element names in a JSON object; an
// array is followed through its first item.
func pathValue(obj map[string]any, path string) (any, bool) {
	var cur any = obj
	for _, step := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[step]; !ok {
			return nil, false
		}
		if list, ok := cur.([]any); ok {
			if len(list) == 0 {
				return nil, false
			}
			cur = list[0]
		}
	}
	return cur, true
}

// binding checks a coded value against a value set: a code, a Coding, a
// CodeableConcept (one of its codings suffices) or a Quantity's unit.
func (c *profileCheck) binding(b *pBinding, val any, where string) {
	if b.strength != "required" && b.strength != "extensible" {
		return
	}
	sev := "error"
	if b.strength == "extensible" {
		sev = "warning"
	}
	if c.env == nil || c.env.Terminology == nil {
		return
	}
	type coding struct{ system, code string }
	var codings []coding
	switch x := val.(type) {
	case string:
		codings = append(codings, coding{"", x})
	case map[string]any:
		if list, ok := x["coding"].([]any); ok {
			for _, raw := range list {
				m, _ := raw.(map[string]any)
				code, _ := m["code"].(string)
				system, _ := m["system"].(string)
				if code != "" {
					codings = append(codings, coding{system, code})
				}
			}
			if len(codings) == 0 {
				if b.strength == "required" {
					c.add(sev, "code-invalid", where, "缺少编码 a code from %s is required, the concept has only text", b.valueSet)
				}
				return
			}
		} else if code, ok := x["code"].(string); ok {
			system, _ := x["system"].(string)
			codings = append(codings, coding{system, code})
		}
	}
	if len(codings) == 0 {
		return
	}
	unknown, why := "", ""
	for _, cd := range codings {
		status, msg, err := c.env.Terminology.CheckCode(c.ctx, b.valueSet, cd.system, cd.code)
		if err != nil {
			c.add("warning", "processing", where, "无法校验编码 the code %q could not be checked against %s: %v", cd.code, b.valueSet, err)
			return
		}
		switch status {
		case CodeValid:
			return
		case CodeUnknown:
			unknown = msg
		default:
			if why == "" {
				why = msg
			}
		}
	}
	if unknown != "" {
		c.add("warning", "code-invalid", where, "无法确认编码 %s", unknown)
		return
	}
	first := codings[0]
	in := ""
	if first.system != "" {
		in = " (system " + first.system + ")"
	}
	if why != "" {
		why = ": " + why
	}
	c.add(sev, "code-invalid", where, "编码不在值集中 the code %q%s is not in the value set %s%s", first.code, in, b.valueSet, why)
}

// choiceType returns the type of a choice value from its location:
// ….valueQuantity → Quantity.
func choiceType(where, name string) string {
	last := where[strings.LastIndexByte(where, '.')+1:]
	last, _, _ = strings.Cut(last, "[")
	return strings.TrimPrefix(last, name)
}

// referenceType returns the resource type a literal reference names
// (Type/id, or an absolute URL ending in Type/id[/_history/v]); "" for
// contained (#id) and urn: references.
func referenceType(ref string) string {
	if strings.HasPrefix(ref, "#") || strings.HasPrefix(ref, "urn:") {
		return ""
	}
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	parts := strings.Split(ref, "/")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2]
}

// jsonEqual compares two decoded JSON values, numbers by their text.
func jsonEqual(a, b any) bool {
	if an, ok := a.(json.Number); ok {
		bn, ok := b.(json.Number)
		return ok && numberEqual(an, bn)
	}
	return reflect.DeepEqual(a, b)
}

func numberEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	fa, errA := a.Float64()
	fb, errB := b.Float64()
	return errA == nil && errB == nil && fa == fb
}

// matchesPattern reports whether val holds everything the pattern has: each
// property of a pattern object is in the value and matches; each item of a
// pattern array matches some item of the value's array.
func matchesPattern(val, pattern any) bool {
	switch p := pattern.(type) {
	case map[string]any:
		m, ok := val.(map[string]any)
		if !ok {
			return false
		}
		for k, pv := range p {
			if !matchesPattern(m[k], pv) {
				return false
			}
		}
		return true
	case []any:
		list, ok := val.([]any)
		if !ok {
			return false
		}
		for _, pi := range p {
			if !slices.ContainsFunc(list, func(x any) bool { return matchesPattern(x, pi) }) {
				return false
			}
		}
		return true
	}
	return jsonEqual(val, pattern)
}

// compact renders a fixed or pattern value for a message.
func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return clip(string(b))
}
