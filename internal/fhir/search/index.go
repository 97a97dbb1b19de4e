package search

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/fhirpath"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/pinyin"
)

// Kind says which index table an Entry belongs to and which of its fields are set.
type Kind uint8

// Entry kinds, one per SearchParameter type that is indexed.
const (
	KindString Kind = iota + 1
	KindToken
	KindReference
	KindDate
	KindNumber
	KindQuantity
	KindURI
	KindComposite
)

func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindToken:
		return "token"
	case KindReference:
		return "reference"
	case KindDate:
		return "date"
	case KindNumber:
		return "number"
	case KindQuantity:
		return "quantity"
	case KindURI:
		return "uri"
	case KindComposite:
		return "composite"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one indexed value: the columns of an index row. Only the fields of
// its Kind are set; the others are zero. It is comparable, so equal values are
// found with ==.
type Value struct {
	Kind Kind

	// KindString: String is NormalizeString(Exact), for the default
	// starts-with and :contains searches; Exact is the text as written, for
	// :exact.
	String, Exact string

	// KindToken: System and Code (Coding system|code, Identifier system|value,
	// ContactPoint system|value, or "" and the value of a code, boolean, id,
	// string or uri); Text is the normalized display or CodeableConcept.text
	// for :text (an entry with only Text carries a CodeableConcept.text that no
	// coding displays); TypeSystem and TypeCode are an Identifier's type
	// coding, for :of-type.
	// KindQuantity: System and Code are the unit's system and code.
	System, Code, Text, TypeSystem, TypeCode string

	// KindReference: RefType and RefID when the reference ends in Type/id
	// (relative, absolute or a canonical; _history and |version removed); URL
	// is the reference or canonical as written; IdentifierSystem and
	// IdentifierValue are Reference.identifier, for :identifier.
	RefType, RefID, URL, IdentifierSystem, IdentifierValue string

	// KindDate: the half-open range [Start, End) in Unix milliseconds (UTC)
	// that the value covers at its precision; MinTime and MaxTime stand for
	// an open start or end.
	Start, End int64

	// KindNumber, KindQuantity: Number is the value and [Low, High) the range
	// its written precision implies (100 → [99.5, 100.5)); a Range or a
	// comparator (<, >) widens it, -math.MaxFloat64 and math.MaxFloat64
	// standing for open ends.
	Number, Low, High float64
	// KindQuantity: Unit is the human-readable unit; CanonicalCode and the
	// Canonical values are the quantity in the base unit of its UCUM
	// dimension (kg, mg → g; mL, dL → L; mg/dL → g/L), or a copy of Code and
	// the values when the unit is not UCUM or not in the conversion table.
	Unit, CanonicalCode                         string
	CanonicalValue, CanonicalLow, CanonicalHigh float64

	// KindURI: the uri, url or canonical as written.
	URI string
}

// Entry is one index row of a resource: the search parameter code and its
// value. A composite parameter gives one Entry per combination of component
// values found within one item of its expression: Kind is KindComposite and
// Components[i] is a value of the i-th component of the SearchParameter, of
// that component's kind. So Observation?code-value-quantity=loinc|29463-7$185
// matches an Entry whose Components[0] is token loinc|29463-7 and whose
// Components[1] is quantity 185, both taken from the same Observation (or the
// same Observation.component, for the component-… parameters). The SQL layer
// stores a composite entry as one row holding the columns of each component
// (R4 composites have two or three).
type Entry struct {
	Param string // the SearchParameter code, e.g. "family", "code-value-quantity"
	Value
	Components []Value // KindComposite only
}

// ParamError is the failure of one search parameter's expression on a
// resource. Index reports it and indexes the other parameters: a write is not
// rejected because one parameter cannot be evaluated.
type ParamError struct {
	ResourceType, Param string
	Err                 error
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("search: index %s %s: %v", e.ResourceType, e.Param, e.Err)
}

func (e *ParamError) Unwrap() error { return e.Err }

// NamePinyinURL is the canonical URL of the built-in name-pinyin parameter.
const NamePinyinURL = fhir.NS + "SearchParameter/name-pinyin"

// UCUMSystem is the code system of UCUM units.
const UCUMSystem = "http://unitsofmeasure.org"

// NamePinyinParam returns the definition of name-pinyin: the pinyin of every
// HumanName of a Patient, Practitioner or RelatedPerson, indexed as string
// entries holding the full key and the initials (张三 → "zhangsan", "zs"; 单雄信
// → "shanxiongxin", "sxx"), so that the default starts-with string search
// finds 张三 by "zhang", "zhangs" or "zs". The name is read family name first
// with the surname readings of package pinyin; a name with only text is split
// into surname and given name first.
func NamePinyinParam() *spec.SearchParam {
	return &spec.SearchParam{
		URL:        NamePinyinURL,
		Name:       "name-pinyin",
		Code:       "name-pinyin",
		Base:       []string{"Patient", "Practitioner", "RelatedPerson"},
		Type:       "string",
		Expression: "Patient.name | Practitioner.name | RelatedPerson.name",
		XPathUsage: "normal",
	}
}

// NamePinyinResource returns name-pinyin as a SearchParameter resource, for the
// CapabilityStatement and the SearchParameter endpoint.
func NamePinyinResource() fhir.Resource {
	sp := NamePinyinParam()
	base := make([]any, len(sp.Base))
	for i, b := range sp.Base {
		base[i] = b
	}
	return fhir.Resource{
		"resourceType": "SearchParameter",
		"id":           sp.Code,
		"url":          sp.URL,
		"name":         sp.Name,
		"status":       "active",
		"publisher":    "HIP",
		"description": "按姓名拼音检索：全拼或首字母，前缀匹配（张三：zhangsan、zhang、zs）。" +
			"Search by the pinyin of a person's name: the full key or the initials, starts-with (张三: zhangsan, zhang, zs).",
		"code":       sp.Code,
		"base":       base,
		"type":       sp.Type,
		"expression": sp.Expression,
		"xpathUsage": sp.XPathUsage,
		"modifier":   []any{"exact"},
	}
}

// Indexer computes the index entries of resources from the R4 search
// parameters and the custom ones added to it. It is safe for concurrent use,
// Add included.
type Indexer struct {
	// Zone is where dates and dateTimes written without a zone are placed:
	// China Standard Time (UTC+8, no daylight saving since 1991) by default,
	// so a birthDate of 1974-12-25 covers 1974-12-24T16:00Z to
	// 1974-12-25T16:00Z. Set it before the first Index call.
	Zone *time.Location

	defs     *spec.Definitions
	model    *fhirpath.Model
	resolver fhirpath.Resolver
	stubs    map[string]fhir.Resource // resource type → {"resourceType": type}; read-only
	// extensionValue is "value", evaluated on Extension items.
	extensionValue *fhirpath.Expression

	// params is replaced as a whole by Add (copy on write), so Index reads it
	// without a lock.
	params atomic.Pointer[map[string][]*compiledParam]

	mu       sync.Mutex                      // serialises Add
	custom   map[string]*spec.SearchParam    // by URL; guarded by mu
	compiled map[string]*fhirpath.Expression // by source; guarded by mu
}

// compiledParam is a search parameter compiled for one resource type.
type compiledParam struct {
	def        *spec.SearchParam
	expr       *fhirpath.Expression
	components []compiledComponent // composite only
	pinyin     bool                // name-pinyin: HumanNames become pinyin keys
	textNames  bool                // family or given of a resource's name: text-only names count too
	// codeSystem is the system implied for a code element bound to a value
	// set of one code system (Patient.gender: administrative-gender), so
	// that system|code and :in find codes sent without a system.
	codeSystem string
}

type compiledComponent struct {
	typ  string // the component's SearchParameter type
	expr *fhirpath.Expression
}

// NewIndexer compiles every R4 search parameter that has an expression for
// every resource type, and name-pinyin.
func NewIndexer(defs *spec.Definitions) (*Indexer, error) {
	ix := &Indexer{
		Zone:     time.FixedZone("CST", 8*60*60),
		defs:     defs,
		model:    fhirpath.NewModel(defs),
		stubs:    map[string]fhir.Resource{},
		custom:   map[string]*spec.SearchParam{},
		compiled: map[string]*fhirpath.Expression{},
	}
	ix.resolver = fhirpath.ResolverFunc(ix.resolveStub)
	var err error
	if ix.extensionValue, err = fhirpath.Compile("value"); err != nil {
		return nil, fmt.Errorf("search: compile extension value: %w", err)
	}
	byType := map[string][]*compiledParam{}
	for _, rt := range defs.ResourceTypes() {
		ix.stubs[rt] = fhir.Resource{"resourceType": rt}
		for _, sp := range defs.SearchParams(rt) {
			if !indexable(sp) {
				continue
			}
			p, err := ix.compile(rt, sp)
			if err != nil {
				return nil, err
			}
			byType[rt] = append(byType[rt], p)
		}
	}
	ix.params.Store(&byType)
	if err := ix.Add(NamePinyinParam()); err != nil {
		return nil, err
	}
	return ix, nil
}

// indexable reports whether a parameter yields index entries: _text,
// _content, _query, _filter and the other special parameters are answered
// without them (or not at all), and the few R4 parameters without an
// expression (Patient age and birthOrderBoolean) cannot be evaluated.
func indexable(sp *spec.SearchParam) bool {
	return sp.Expression != "" && sp.Type != "special"
}

// Add indexes a custom SearchParameter from now on, replacing a parameter with
// the same code on the same resource type. Resources written before must be
// reindexed ($reindex) to be found by it.
func (ix *Indexer) Add(sp *spec.SearchParam) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	types, compiled, err := ix.prepare(sp)
	if err != nil {
		return err
	}
	old := *ix.params.Load()
	next := make(map[string][]*compiledParam, len(old))
	for rt, ps := range old {
		next[rt] = ps
	}
	for i, rt := range types {
		ps := make([]*compiledParam, 0, len(next[rt])+1)
		for _, p := range next[rt] {
			if p.def.Code != sp.Code {
				ps = append(ps, p)
			}
		}
		next[rt] = append(ps, compiled[i])
	}
	if sp.URL != "" {
		ix.custom[sp.URL] = sp
	}
	ix.params.Store(&next)
	return nil
}

// Check reports whether Add would accept sp, without adding it.
func (ix *Indexer) Check(sp *spec.SearchParam) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	_, _, err := ix.prepare(sp)
	return err
}

// prepare compiles sp for each resource type it applies to. Callers hold mu.
func (ix *Indexer) prepare(sp *spec.SearchParam) ([]string, []*compiledParam, error) {
	if sp.Code == "" || sp.Expression == "" {
		return nil, nil, fmt.Errorf("search: add SearchParameter %q: a code and an expression are required", sp.URL)
	}
	if KindOf(sp.Type) == 0 {
		return nil, nil, fmt.Errorf("search: add SearchParameter %q: type %q cannot be indexed", sp.URL, sp.Type)
	}
	var types []string
	for _, b := range sp.Base {
		switch {
		case ix.defs.IsResourceType(b):
			types = append(types, b)
		case b == "Resource" || b == "DomainResource":
			for _, rt := range ix.defs.ResourceTypes() {
				if ix.defs.DerivesFrom(rt, b) {
					types = append(types, rt)
				}
			}
		default:
			return nil, nil, fmt.Errorf("search: add SearchParameter %q: unknown base %q", sp.URL, b)
		}
	}
	if len(types) == 0 {
		return nil, nil, fmt.Errorf("search: add SearchParameter %q: no base resource type", sp.URL)
	}
	compiled := make([]*compiledParam, len(types))
	for i, rt := range types {
		p, err := ix.compile(rt, sp)
		if err != nil {
			return nil, nil, err
		}
		compiled[i] = p
	}
	return types, compiled, nil
}

// ParamFromResource reads a SearchParameter resource into a definition.
func ParamFromResource(res fhir.Resource) (*spec.SearchParam, error) {
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("search: read SearchParameter: %w", err)
	}
	var sp spec.SearchParam
	if err := json.Unmarshal(b, &sp); err != nil {
		return nil, fmt.Errorf("search: read SearchParameter: %w", err)
	}
	return &sp, nil
}

// Param returns the indexed definition of a parameter of a resource type,
// custom ones and name-pinyin included, or nil when it has no index entries.
func (ix *Indexer) Param(resourceType, code string) *spec.SearchParam {
	for _, p := range (*ix.params.Load())[resourceType] {
		if p.def.Code == code {
			return p.def
		}
	}
	return nil
}

// Params returns the definitions of the indexed parameters of a resource type,
// custom ones and name-pinyin included, in indexing order.
func (ix *Indexer) Params(resourceType string) []*spec.SearchParam {
	ps := (*ix.params.Load())[resourceType]
	out := make([]*spec.SearchParam, len(ps))
	for i, p := range ps {
		out[i] = p.def
	}
	return out
}

// compile prepares sp for resource type rt. Many R4 parameters share one
// expression across types (clinical-code is a union of fifteen
// Type.element branches); only the branches that can apply to rt are kept,
// so indexing an Observation does not walk fourteen empty paths.
// Callers hold mu or own ix exclusively.
func (ix *Indexer) compile(rt string, sp *spec.SearchParam) (*compiledParam, error) {
	p := &compiledParam{def: sp, pinyin: sp.URL == NamePinyinURL,
		textNames: (sp.Code == "family" || sp.Code == "given") && strings.Contains(sp.Expression, rt+".name."+sp.Code)}
	var err error
	if p.expr, err = ix.compileExpr(restrictTo(ix.defs, sp.Expression, rt)); err != nil {
		return nil, fmt.Errorf("search: compile %s %s: %w", rt, sp.Code, err)
	}
	for _, c := range sp.Component {
		def := ix.defs.SearchParamByURL(c.Definition)
		if def == nil {
			def = ix.custom[c.Definition]
		}
		if def == nil || KindOf(def.Type) == 0 || def.Type == "composite" {
			return nil, fmt.Errorf("search: compile %s %s: component %q is not a known search parameter", rt, sp.Code, c.Definition)
		}
		x, err := ix.compileExpr(c.Expression)
		if err != nil {
			return nil, fmt.Errorf("search: compile %s %s component %s: %w", rt, sp.Code, def.Code, err)
		}
		p.components = append(p.components, compiledComponent{typ: def.Type, expr: x})
	}
	if sp.Type == "token" {
		p.codeSystem = ix.impliedSystem(rt, restrictTo(ix.defs, sp.Expression, rt))
	}
	if sp.Type == "composite" && len(p.components) == 0 {
		return nil, fmt.Errorf("search: compile %s %s: composite without components", rt, sp.Code)
	}
	return p, nil
}

// impliedSystem returns the code system of the values of expr, a plain path
// such as Patient.gender, when it selects a code bound (required) to a value
// set drawn from one code system; "" otherwise.
func (ix *Indexer) impliedSystem(rt, expr string) string {
	for _, r := range expr {
		if r != '.' && !unicode.IsLetter(r) {
			return ""
		}
	}
	t := ix.defs.Type(rt)
	if t == nil {
		return ""
	}
	el := t.Element(expr)
	if el == nil || len(el.Types) != 1 || el.Types[0].Code != "code" || el.Binding == nil || el.Binding.Strength != spec.BindingRequired {
		return ""
	}
	vs := ix.defs.ValueSet(el.Binding.ValueSet)
	if vs == nil || !vs.Enumerable || len(vs.Concepts) == 0 {
		return ""
	}
	system := vs.Concepts[0].System
	for _, c := range vs.Concepts {
		if c.System != system {
			return ""
		}
	}
	return system
}

func (ix *Indexer) compileExpr(src string) (*fhirpath.Expression, error) {
	if x := ix.compiled[src]; x != nil {
		return x, nil
	}
	x, err := fhirpath.Compile(src)
	if err != nil {
		return nil, err
	}
	ix.compiled[src] = x
	return x, nil
}

// restrictTo keeps the top-level union branches of expr that can select
// something in a resource of type rt: those not starting with the name of
// another resource type.
func restrictTo(defs *spec.Definitions, expr, rt string) string {
	branches := splitUnion(expr)
	kept := branches[:0]
	for _, b := range branches {
		head := strings.TrimLeft(b, "( \t\r\n")
		end := strings.IndexFunc(head, func(r rune) bool { return r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		if end >= 0 {
			head = head[:end]
		}
		t := defs.Type(head)
		if t == nil || t.Kind != spec.KindResource || defs.DerivesFrom(rt, head) {
			kept = append(kept, b)
		}
	}
	if len(kept) == 0 {
		return expr // nothing applies: evaluating the whole gives the empty result
	}
	return strings.Join(kept, " | ")
}

// splitUnion splits a FHIRPath expression at the | operators outside
// parentheses, brackets, strings and delimited identifiers.
func splitUnion(expr string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(expr); i++ {
		switch c := expr[i]; c {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case '\'', '`':
			for i++; i < len(expr) && expr[i] != c; i++ {
				if expr[i] == '\\' {
					i++
				}
			}
		case '|':
			if depth == 0 {
				out = append(out, strings.TrimSpace(expr[start:i]))
				start = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(expr[start:]))
}

// KindOf is the Kind of the index entries of a SearchParameter type, 0 for a
// type that is not indexed (special).
func KindOf(typ string) Kind {
	switch typ {
	case "string":
		return KindString
	case "token":
		return KindToken
	case "reference":
		return KindReference
	case "date":
		return KindDate
	case "number":
		return KindNumber
	case "quantity":
		return KindQuantity
	case "uri":
		return KindURI
	case "composite":
		return KindComposite
	}
	return 0
}

// resolveStub answers resolve() during indexing. Parameters such as
// Observation.subject.where(resolve() is Patient) only ask for the type of the
// target, and references are indexed as written, so a reference resolves to
// an empty resource of the type it names instead of a database read.
func (ix *Indexer) resolveStub(ref string) (fhir.Resource, error) {
	typ, _ := ix.splitRef(ref)
	return ix.stubs[typ], nil
}

// splitRef returns the type and id of a reference or canonical ending in
// Type/id (after removing |version and /_history/v); "" when it does not.
func (ix *Indexer) splitRef(ref string) (typ, id string) {
	ref, _, _ = strings.Cut(ref, "|")
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	slash := strings.LastIndexByte(ref, '/')
	if slash <= 0 || slash == len(ref)-1 {
		return "", ""
	}
	id = ref[slash+1:]
	typ = ref[strings.LastIndexByte(ref[:slash], '/')+1 : slash]
	if !ix.defs.IsResourceType(typ) {
		return "", ""
	}
	return typ, id
}

// Index evaluates every parameter that applies to res and returns its index
// entries, deduplicated per parameter, in parameter order. A resource type
// the definitions do not know is an error and gives no entries. A parameter
// whose expression fails at run time is left out and reported as a
// *ParamError within the returned (joined) error, next to the entries of the
// other parameters: the caller should store those and log the error.
func (ix *Indexer) Index(res fhir.Resource) ([]Entry, error) {
	rt := res.Type()
	params, ok := (*ix.params.Load())[rt]
	if !ok {
		if !ix.defs.IsResourceType(rt) {
			return nil, fmt.Errorf("search: index: unknown resource type %q", rt)
		}
		return nil, nil
	}
	x := extractor{ix: ix, env: fhirpath.Env{Model: ix.model, Resource: res, Resolver: ix.resolver}}
	entries := make([]Entry, 0, len(params))
	var errs []error
	for _, p := range params {
		start := len(entries)
		var err error
		if entries, err = x.param(entries, p, res); err != nil {
			errs = append(errs, &ParamError{ResourceType: rt, Param: p.def.Code, Err: err})
			entries = entries[:start]
			continue
		}
		entries = entries[:start+len(dedupe(entries[start:]))]
		if p.textNames {
			entries = appendTextNames(entries, p.def.Code, res)
		}
	}
	return entries, errors.Join(errs...)
}

// Evaluate returns the index entries of res for the named parameters only
// (the authorisation policy reads a resource's tags and patient references
// this way without indexing all of it).
func (ix *Indexer) Evaluate(res fhir.Resource, codes ...string) ([]Entry, error) {
	params := (*ix.params.Load())[res.Type()]
	x := extractor{ix: ix, env: fhirpath.Env{Model: ix.model, Resource: res, Resolver: ix.resolver}}
	var entries []Entry
	for _, p := range params {
		if !slices.Contains(codes, p.def.Code) {
			continue
		}
		var err error
		if entries, err = x.param(entries, p, res); err != nil {
			return nil, &ParamError{ResourceType: res.Type(), Param: p.def.Code, Err: err}
		}
	}
	return entries, nil
}

// appendTextNames adds family or given (code) entries for the Chinese names
// that a facility sent as HumanName.text alone ("张无忌"): split into surname
// and given name, as a clerk would read them, they are found by family=张 and
// given=无忌 like names sent in parts.
func appendTextNames(dst []Entry, code string, res fhir.Resource) []Entry {
	for _, n := range array(res, "name") {
		m, ok := n.(map[string]any)
		if !ok || m["family"] != nil || m["given"] != nil {
			continue
		}
		text := strings.TrimSpace(str(m, "text"))
		if !startsHan(text) {
			continue
		}
		family, given := pinyin.SplitSurname(text)
		part := family
		if code == "given" {
			part = given
		}
		if part != "" {
			dst = appendString(dst, code, part)
		}
	}
	return dst
}

// dedupe removes repeated entries in place, keeping the first.
func dedupe(seg []Entry) []Entry {
	if len(seg) < 2 {
		return seg
	}
	out := seg[:0]
	if len(seg) > 32 && seg[0].Kind != KindComposite {
		// Large value sets (a CodeSystem's codes) would make the scan quadratic.
		seen := make(map[Value]struct{}, len(seg))
		for _, e := range seg {
			if _, dup := seen[e.Value]; !dup {
				seen[e.Value] = struct{}{}
				out = append(out, e)
			}
		}
		return out
	}
next:
	for _, e := range seg {
		for _, o := range out {
			if o.Value == e.Value && equalValues(o.Components, e.Components) {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

func equalValues(a, b []Value) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// extractor holds what one Index call shares between parameters.
type extractor struct {
	ix    *Indexer
	env   fhirpath.Env
	parts [][]Entry // component values of a composite, reused between composites
}

// param appends the entries of p.
func (x *extractor) param(dst []Entry, p *compiledParam, res fhir.Resource) ([]Entry, error) {
	items, err := p.expr.Evaluate(&x.env, res)
	if err != nil {
		return dst, err
	}
	code := p.def.Code
	switch {
	case p.pinyin:
		for _, it := range items {
			dst = appendPinyin(dst, code, it)
		}
	case p.def.Type == "composite":
		for _, it := range items {
			if dst, err = x.composite(dst, code, p.components, it); err != nil {
				return dst, err
			}
		}
	default:
		start := len(dst)
		for _, it := range items {
			if dst, err = x.appendItem(dst, code, p.def.Type, it); err != nil {
				return dst, err
			}
		}
		if p.codeSystem != "" {
			for i := start; i < len(dst); i++ {
				if e := &dst[i]; e.Kind == KindToken && e.System == "" && e.Code != "" {
					e.System = p.codeSystem
				}
			}
		}
	}
	return dst, nil
}

// composite appends one entry per combination of the component values found
// in item it.
func (x *extractor) composite(dst []Entry, code string, comps []compiledComponent, it fhirpath.Item) ([]Entry, error) {
	for len(x.parts) < len(comps) {
		x.parts = append(x.parts, nil)
	}
	parts := x.parts[:len(comps)]
	// The last component comes first: in R4 it is the value (code-value-quantity,
	// -concept, -string, -date on one Observation), of which at most one is
	// present, so most composites are given up before converting the codes.
	for i := len(comps) - 1; i >= 0; i-- {
		items, err := comps[i].expr.Evaluate(&x.env, it)
		if err != nil {
			return dst, err
		}
		parts[i] = parts[i][:0]
		for _, ci := range items {
			if parts[i], err = x.appendItem(parts[i], code, comps[i].typ, ci); err != nil {
				return dst, err
			}
		}
		if len(parts[i]) == 0 {
			return dst, nil // a composite matches only with every component present
		}
	}
	var odometer [4]int // over the cartesian product; R4 composites have 2 or 3 parts
	idx := odometer[:0]
	for range parts {
		idx = append(idx, 0)
	}
	for {
		vals := make([]Value, len(parts))
		for i, k := range idx {
			vals[i] = parts[i][k].Value
		}
		dst = append(dst, Entry{Param: code, Value: Value{Kind: KindComposite}, Components: vals})
		i := len(idx) - 1
		for ; i >= 0; i-- {
			if idx[i]++; idx[i] < len(parts[i]) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return dst, nil
		}
	}
}

// appendItem converts one expression result by parameter type.
func (x *extractor) appendItem(dst []Entry, code, typ string, it fhirpath.Item) ([]Entry, error) {
	if it.FHIRType() == "Extension" {
		// Expressions that stop at extension('url') (R4 gene-identifier, and
		// custom parameters written the same way) mean the extension's value.
		values, err := x.ix.extensionValue.Evaluate(&x.env, it)
		if err != nil {
			return dst, err
		}
		for _, v := range values {
			if dst, err = x.appendItem(dst, code, typ, v); err != nil {
				return dst, err
			}
		}
		return dst, nil
	}
	switch typ {
	case "string":
		dst = appendStrings(dst, code, it)
	case "token":
		dst = appendTokens(dst, code, it)
	case "reference":
		dst = x.appendReference(dst, code, it)
	case "date":
		dst = x.appendDate(dst, code, it)
	case "number":
		dst = appendNumber(dst, code, it)
	case "quantity":
		dst = appendQuantity(dst, code, it)
	case "uri":
		if s, ok := scalarText(it); ok && s != "" {
			dst = append(dst, Entry{Param: code, Value: Value{Kind: KindURI, URI: s}})
		}
	}
	return dst, nil
}

// fhirType is the FHIR type of a complex item, guessed from its content when
// the evaluator could not type it (elements of unknown extensions and other
// untyped JSON).
func fhirType(it fhirpath.Item, m map[string]any) string {
	if t := it.FHIRType(); t != "" {
		return t
	}
	switch {
	case m["resourceType"] != nil:
		return "Resource"
	case m["coding"] != nil:
		return "CodeableConcept"
	case m["reference"] != nil:
		return "Reference"
	case m["family"] != nil || m["given"] != nil:
		return "HumanName"
	case m["start"] != nil || m["end"] != nil:
		return "Period"
	case m["value"] != nil && m["unit"] != nil:
		return "Quantity"
	case m["code"] != nil:
		return "Coding"
	case m["value"] != nil:
		return "Identifier"
	}
	return ""
}

// scalarText returns the text of a primitive or System value.
func scalarText(it fhirpath.Item) (string, bool) {
	switch v := it.Value.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case json.Number:
		return string(v), true
	case map[string]any, nil:
		return "", false
	}
	return it.String(), true // System values: Decimal, Temporal, Quantity, int64
}

func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// array returns an array element, nil when absent.
func array(m map[string]any, key string) []any {
	a, _ := m[key].([]any)
	return a
}

func appendString(dst []Entry, code, s string) []Entry {
	if strings.TrimSpace(s) == "" {
		return dst
	}
	return append(dst, Entry{Param: code, Value: Value{Kind: KindString, String: NormalizeString(s), Exact: s}})
}

func appendStrings(dst []Entry, code string, it fhirpath.Item) []Entry {
	m, ok := it.Value.(map[string]any)
	if !ok {
		if s, ok := scalarText(it); ok {
			dst = appendString(dst, code, s)
		}
		return dst
	}
	switch fhirType(it, m) {
	case "HumanName":
		family, text := str(m, "family"), str(m, "text")
		dst = appendString(dst, code, family)
		given := array(m, "given")
		var joined strings.Builder // the given names of a Chinese name, written together
		for _, g := range given {
			s, _ := g.(string)
			dst = appendString(dst, code, s)
			joined.WriteString(s)
		}
		for _, k := range [...]string{"prefix", "suffix"} {
			for _, v := range array(m, k) {
				s, _ := v.(string)
				dst = appendString(dst, code, s)
			}
		}
		dst = appendString(dst, code, text)
		switch {
		case family == "" && len(given) == 0 && startsHan(text):
			// 张三 written only as text is found by name=张 as well.
			f, g := pinyin.SplitSurname(text)
			dst = appendString(dst, code, f)
			dst = appendString(dst, code, g)
		case text == "" && startsHan(family) && joined.Len() > 0:
			// and 张 + 三 written apart is found by name=张三.
			dst = appendString(dst, code, family+joined.String())
		}
	case "Address":
		for _, v := range array(m, "line") {
			s, _ := v.(string)
			dst = appendString(dst, code, s)
		}
		for _, k := range [...]string{"city", "district", "state", "postalCode", "country", "text"} {
			dst = appendString(dst, code, str(m, k))
		}
	}
	return dst
}

func startsHan(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.Is(unicode.Han, r)
}

// appendPinyin appends the pinyin key and initials of a HumanName.
func appendPinyin(dst []Entry, code string, it fhirpath.Item) []Entry {
	m, ok := it.Value.(map[string]any)
	if !ok {
		return dst
	}
	var syl []string
	family, given := str(m, "family"), array(m, "given")
	if family != "" || len(given) > 0 {
		var b strings.Builder
		for i, g := range given {
			if i > 0 {
				b.WriteByte(' ')
			}
			s, _ := g.(string)
			b.WriteString(s)
		}
		syl = pinyin.Name(family, b.String())
	} else {
		syl = pinyin.Full(str(m, "text"))
	}
	if len(syl) == 0 {
		return dst
	}
	key := pinyin.Key(syl)
	dst = append(dst, Entry{Param: code, Value: Value{Kind: KindString, String: key, Exact: key}})
	if ini := pinyin.Initials(syl); ini != key {
		dst = append(dst, Entry{Param: code, Value: Value{Kind: KindString, String: ini, Exact: ini}})
	}
	return dst
}

func appendToken(dst []Entry, code string, v Value) []Entry {
	if v.System == "" && v.Code == "" && v.Text == "" {
		return dst
	}
	v.Kind = KindToken
	return append(dst, Entry{Param: code, Value: v})
}

// FoldToken is the form in which token values of type string (Identifier
// and ContactPoint values, strings) are indexed and searched: R4 matches
// them regardless of case ("If the underlying data type is string then the
// search is not case sensitive", search.html#token), unlike codes.
func FoldToken(s string) string { return strings.ToLower(s) }

func appendTokens(dst []Entry, code string, it fhirpath.Item) []Entry {
	m, ok := it.Value.(map[string]any)
	if !ok {
		if s, ok := scalarText(it); ok {
			if it.FHIRType() == "string" {
				s = FoldToken(s)
			}
			dst = appendToken(dst, code, Value{Code: s})
		}
		return dst
	}
	switch fhirType(it, m) {
	case "Coding":
		dst = appendToken(dst, code, coding(m))
	case "CodeableConcept":
		text := NormalizeString(str(m, "text"))
		textShown := text == ""
		for _, c := range array(m, "coding") {
			cm, _ := c.(map[string]any)
			v := coding(cm)
			textShown = textShown || v.Text == text
			dst = appendToken(dst, code, v)
		}
		if !textShown {
			dst = appendToken(dst, code, Value{Text: text})
		}
	case "Identifier":
		v := Value{System: str(m, "system"), Code: FoldToken(str(m, "value"))}
		if v.System == "" && v.Code == "" {
			break
		}
		typ, _ := m["type"].(map[string]any)
		v.Text = NormalizeString(str(typ, "text"))
		types := array(typ, "coding")
		if len(types) == 0 {
			dst = appendToken(dst, code, v)
		}
		for _, c := range types {
			cm, _ := c.(map[string]any)
			v.TypeSystem, v.TypeCode = str(cm, "system"), str(cm, "code")
			dst = appendToken(dst, code, v)
		}
	case "ContactPoint":
		dst = appendToken(dst, code, Value{System: str(m, "system"), Code: FoldToken(str(m, "value"))})
	}
	return dst
}

func coding(m map[string]any) Value {
	return Value{System: str(m, "system"), Code: str(m, "code"), Text: NormalizeString(str(m, "display"))}
}

func (x *extractor) appendReference(dst []Entry, code string, it fhirpath.Item) []Entry {
	var v Value
	switch m := it.Value.(type) {
	case string: // canonical or uri
		v.URL = m
		v.RefType, v.RefID = x.ix.splitRef(m)
	case map[string]any:
		if rt := str(m, "resourceType"); rt != "" { // a resource inline (Bundle.entry[0].resource)
			v.RefType, v.RefID = rt, str(m, "id")
			break
		}
		if fhirType(it, m) == "Attachment" { // DocumentReference and Consent source attachments
			v.URL = str(m, "url")
			v.RefType, v.RefID = x.ix.splitRef(v.URL)
			break
		}
		v.URL = str(m, "reference")
		v.RefType, v.RefID = x.ix.splitRef(v.URL)
		if v.RefType == "" && x.ix.defs.IsResourceType(str(m, "type")) {
			v.RefType = str(m, "type")
		}
		if id, ok := m["identifier"].(map[string]any); ok {
			v.IdentifierSystem, v.IdentifierValue = str(id, "system"), str(id, "value")
		}
	default:
		return dst
	}
	if v.URL == "" && v.RefID == "" && v.IdentifierSystem == "" && v.IdentifierValue == "" {
		return dst
	}
	v.Kind = KindReference
	return append(dst, Entry{Param: code, Value: v})
}

func (x *extractor) appendDate(dst []Entry, code string, it fhirpath.Item) []Entry {
	m, ok := it.Value.(map[string]any)
	if !ok {
		if s, ok := scalarText(it); ok {
			if lo, hi, ok := DateRange(s, x.ix.Zone); ok {
				dst = append(dst, Entry{Param: code, Value: Value{Kind: KindDate, Start: lo, End: hi}})
			}
		}
		return dst
	}
	lo, hi := MaxTime, MinTime // empty until something widens it
	switch fhirType(it, m) {
	case "Period":
		lo, hi = x.period(m)
	case "Timing":
		// Only the outer limits of a schedule count (R4 search, date).
		for _, e := range array(m, "event") {
			s, _ := e.(string)
			if l, h, ok := DateRange(s, x.ix.Zone); ok {
				lo, hi = min(lo, l), max(hi, h)
			}
		}
		rep, _ := m["repeat"].(map[string]any)
		if b, ok := rep["boundsPeriod"].(map[string]any); ok {
			l, h := x.period(b)
			lo, hi = min(lo, l), max(hi, h)
		}
	}
	if lo < hi {
		dst = append(dst, Entry{Param: code, Value: Value{Kind: KindDate, Start: lo, End: hi}})
	}
	return dst
}

// period returns the range of a Period; a missing or unreadable bound is open.
// A Period with neither bound gives an empty range.
func (x *extractor) period(m map[string]any) (lo, hi int64) {
	start, end := str(m, "start"), str(m, "end")
	if start == "" && end == "" {
		return MaxTime, MinTime
	}
	lo, hi = MinTime, MaxTime
	if l, _, ok := DateRange(start, x.ix.Zone); ok {
		lo = l
	}
	if _, h, ok := DateRange(end, x.ix.Zone); ok {
		hi = h
	}
	return lo, hi
}

// numberOf returns the number an element holds and its precision range.
func numberOf(v any) (n, lo, hi float64, ok bool) {
	switch v := v.(type) {
	case json.Number:
		return numberRange(string(v))
	case string:
		return numberRange(v)
	}
	return 0, 0, 0, false
}

// rangeBounds reads a Range: the values of low and high, open where missing.
func rangeBounds(m map[string]any) (v Value, ok bool) {
	low, _ := m["low"].(map[string]any)
	high, _ := m["high"].(map[string]any)
	l, _, _, okl := numberOf(low["value"])
	h, _, _, okh := numberOf(high["value"])
	if !okl && !okh {
		return v, false
	}
	v.Low, v.High = -math.MaxFloat64, math.MaxFloat64
	if okl {
		v.Low, v.Number = l, l
	}
	if okh {
		v.High = h
		if !okl {
			v.Number = h
		}
	}
	unit := low
	if !okl {
		unit = high
	}
	v.System, v.Code, v.Unit = str(unit, "system"), str(unit, "code"), str(unit, "unit")
	return v, true
}

func appendNumber(dst []Entry, code string, it fhirpath.Item) []Entry {
	var v Value
	var ok bool
	if m, isMap := it.Value.(map[string]any); isMap {
		if fhirType(it, m) == "Range" {
			v, ok = rangeBounds(m)
			v.System, v.Code, v.Unit = "", "", ""
		} else {
			v.Number, v.Low, v.High, ok = numberOf(m["value"]) // a Quantity where a number is asked
		}
	} else if s, isText := scalarText(it); isText {
		v.Number, v.Low, v.High, ok = numberRange(s)
	}
	if !ok {
		return dst
	}
	v.Kind = KindNumber
	return append(dst, Entry{Param: code, Value: v})
}

func appendQuantity(dst []Entry, code string, it fhirpath.Item) []Entry {
	var v Value
	var ok bool
	switch m := it.Value.(type) {
	case map[string]any:
		switch fhirType(it, m) {
		case "Range":
			v, ok = rangeBounds(m)
		case "Money":
			v.Number, v.Low, v.High, ok = numberOf(m["value"])
			v.System, v.Code, v.Unit = "urn:iso:std:iso:4217", str(m, "currency"), str(m, "currency")
		case "SampledData":
			// A series has no single value to compare.
		default: // Quantity and its specialisations (Age, Duration, Count, Distance…)
			if v.Number, v.Low, v.High, ok = numberOf(m["value"]); ok {
				switch str(m, "comparator") {
				case "<", "<=":
					v.Low = -math.MaxFloat64
				case ">", ">=":
					v.High = math.MaxFloat64
				}
				v.System, v.Code, v.Unit = str(m, "system"), str(m, "code"), str(m, "unit")
			}
		}
	case fhirpath.Quantity: // a System value computed by the expression
		v.Number, v.Low, v.High, ok = numberRange(m.Value.String())
		v.System, v.Code, v.Unit = UCUMSystem, m.Unit, m.Unit
	default:
		if s, isText := scalarText(it); isText {
			v.Number, v.Low, v.High, ok = numberRange(s)
		}
	}
	if !ok {
		return dst
	}
	v.Kind = KindQuantity
	v.CanonicalCode, v.CanonicalValue, v.CanonicalLow, v.CanonicalHigh = v.Code, v.Number, v.Low, v.High
	if v.CanonicalCode == "" {
		v.CanonicalCode = v.Unit
	}
	if v.System == UCUMSystem && v.Code != "" {
		var f float64
		v.CanonicalCode, f = CanonicalUnit(v.Code)
		v.CanonicalValue = v.Number * f
		v.CanonicalLow, v.CanonicalHigh = scaleBound(v.Low, f), scaleBound(v.High, f)
	}
	return append(dst, Entry{Param: code, Value: v})
}

// scaleBound converts a range bound to the canonical unit, keeping open ends open.
func scaleBound(b, f float64) float64 {
	if b == math.MaxFloat64 || b == -math.MaxFloat64 {
		return b
	}
	return b * f
}
