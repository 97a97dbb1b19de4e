package search

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/spec"
)

// maxDepth bounds how deeply chains and _has nest: each level is a join, and a
// query string must not be able to ask for an unbounded number of them.
const maxDepth = 4

// maxOffset keeps _offset within what every backend takes as an integer.
const maxOffset = 1<<31 - 1

// Complexity limits of one search: every clause is a join or a probe of
// each candidate, every value a branch of its clause, every _include or
// _revinclude another query per page (and :iterate up to four). Beyond them
// a search is refused as too costly rather than left to run.
const (
	maxClauses  = 40
	maxValues   = 500
	maxIncludes = 10
)

// Parser turns search parameters into a Query. It is read-only after NewParser
// and safe for concurrent use.
type Parser struct {
	defs      *spec.Definitions
	normalize func(string) string
	loc       *time.Location
	custom    func(resourceType, code string) *spec.SearchParam // may be nil
	anyType   string                                            // a concrete DomainResource, to look up Resource-level parameters
	list      *spec.SearchParam                                 // _list, which R4 defines in prose rather than as a SearchParameter
}

// NewParser returns a parser over the R4 parameters of defs. normalize folds
// string values the way the string index stores them (NormalizeString); nil
// leaves them as they are. Dates without a time zone are read in China Standard
// Time, as the Indexer reads them by default, until WithLocation says otherwise.
func NewParser(defs *spec.Definitions, normalize func(string) string) *Parser {
	if normalize == nil {
		normalize = func(s string) string { return s }
	}
	p := &Parser{defs: defs, normalize: normalize, loc: time.FixedZone("CST", 8*60*60),
		list: &spec.SearchParam{Code: "_list", Name: "_list", Type: "special", Base: []string{"Resource"}}}
	if types := defs.ResourceTypes(); len(types) > 0 {
		p.anyType = types[0]
	}
	return p
}

// WithLocation returns a copy of p that reads dates without a time zone in loc,
// the server's zone (FHIR lets a server assume its own).
func (p *Parser) WithLocation(loc *time.Location) *Parser {
	c := *p
	c.loc = loc
	return &c
}

// WithParams returns a copy of p that looks parameters up in params before the R4
// definitions, so that custom SearchParameters and name-pinyin can be searched:
// pass Indexer.Param. params returns nil for a code it does not know.
func (p *Parser) WithParams(params func(resourceType, code string) *spec.SearchParam) *Parser {
	c := *p
	c.custom = params
	return &c
}

// lookup finds a parameter of a resource type, custom ones first, or nil.
func (p *Parser) lookup(resourceType, code string) *spec.SearchParam {
	if p.custom != nil {
		if sp := p.custom(resourceType, code); sp != nil {
			return sp
		}
	}
	return p.defs.SearchParam(resourceType, code)
}

// Parse reads search parameters for a search over types: one type for a type-level
// search, nil for a system search (which _type may narrow). With strict, any
// unknown, unsupported or malformed parameter fails the search with a *fhir.Error
// of code Invalid carrying one issue per bad parameter; otherwise those parameters
// are left out of the Query and returned as warnings (Prefer: handling=lenient).
// Empty values are ignored, as FHIR asks.
func (p *Parser) Parse(types []string, values url.Values, strict bool) (*Query, []Warning, error) {
	st := &parseState{strict: strict}
	q := &Query{System: len(types) != 1, Types: slices.Clone(types), Count: DefaultCount}
	for _, t := range types {
		if !p.defs.IsResourceType(t) {
			return nil, nil, issuesError([]fhir.Issue{{Severity: "error", Code: "not-supported",
				Diagnostics: fmt.Sprintf("unknown resource type %q", t)}})
		}
	}
	// _type first: it decides which parameters the others may name.
	var typeFilter []string
	for _, v := range values["_type"] {
		if v == "" {
			continue
		}
		ts, err := p.parseTypes(q.System, types, v)
		st.check("_type", v, err)
		for _, t := range ts {
			if !slices.Contains(typeFilter, t) {
				typeFilter = append(typeFilter, t)
			}
		}
	}
	if typeFilter != nil {
		q.Types = typeFilter
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if name == "_type" {
			continue
		}
		for _, v := range values[name] {
			if v != "" {
				st.check(name, v, p.parseParam(q, name, v))
			}
		}
	}
	if q.Cursor != "" && q.Offset > 0 {
		st.check("_offset", strconv.Itoa(q.Offset), errorf("_offset and _cursor cannot be used together"))
		q.Offset = 0
	}
	if len(st.issues) > 0 {
		return nil, nil, issuesError(st.issues)
	}
	if err := checkCost(q); err != nil {
		return nil, nil, err
	}
	// Canonical order, so that a query and its re-encoding compare equal.
	slices.SortStableFunc(q.Clauses, func(a, b Clause) int { return strings.Compare(a.Key(), b.Key()) })
	byIterate := func(a, b Include) int {
		switch {
		case a.Iterate == b.Iterate:
			return 0
		case b.Iterate:
			return -1
		}
		return 1
	}
	slices.SortStableFunc(q.Include, byIterate)
	slices.SortStableFunc(q.RevInclude, byIterate)
	return q, st.warnings, nil
}

// InCompartment restricts q to the compartment code/id, for a compartment search
// (GET [base]/Patient/123/Observation?…); every type searched must be in it.
func (p *Parser) InCompartment(q *Query, code, id string) error {
	fail := func(format string, args ...any) error {
		return issuesError([]fhir.Issue{{Severity: "error", Code: "processing", Diagnostics: fmt.Sprintf(format, args...)}})
	}
	c := p.defs.Compartment(code)
	if c == nil {
		return fail("unknown compartment %q", code)
	}
	if !validID(id) {
		return fail("invalid id %q of the %s compartment", id, code)
	}
	types := q.Types
	if len(types) == 0 {
		for _, r := range c.Resources {
			if len(r.Params) > 0 {
				types = append(types, r.Type)
			}
		}
	}
	params := make(map[string][]string, len(types))
	for _, t := range types {
		ps := c.Params(t)
		if ps == nil {
			return fail("%s resources are not in the %s compartment", t, code)
		}
		params[t] = ps
	}
	q.Compartment = &Compartment{Code: code, ID: id, Params: params}
	return nil
}

// parseState collects the issues of one Parse.
type parseState struct {
	strict   bool
	issues   []fhir.Issue
	warnings []Warning
}

// check records err, if any, against the parameter name=value: as an error issue
// when strict, as a warning otherwise.
func (st *parseState) check(name, value string, err error) {
	if err == nil {
		return
	}
	issueType := "processing"
	var pr *problem
	if errors.As(err, &pr) {
		issueType = pr.issueType
	}
	if len(value) > 200 {
		value = value[:200] + "…"
	}
	diag := fmt.Sprintf("search parameter %s=%q: %v", name, value, err)
	issue := fhir.Issue{Severity: "error", Code: issueType, Diagnostics: diag, Expression: []string{name}}
	if st.strict {
		st.issues = append(st.issues, issue)
		return
	}
	issue.Severity, issue.Diagnostics = "warning", "ignored "+diag
	st.warnings = append(st.warnings, Warning{Param: name, Issue: issue})
}

// checkCost refuses searches beyond the complexity limits.
func checkCost(q *Query) error {
	tooCostly := func(format string, args ...any) error {
		return issuesError([]fhir.Issue{{Severity: "error", Code: "too-costly", Diagnostics: fmt.Sprintf(format, args...)}})
	}
	if len(q.Clauses) > maxClauses {
		return tooCostly("a search may have at most %d parameters, not %d", maxClauses, len(q.Clauses))
	}
	if n := len(q.Include) + len(q.RevInclude); n > maxIncludes {
		return tooCostly("a search may have at most %d _include and _revinclude, not %d", maxIncludes, n)
	}
	for _, c := range q.Clauses {
		if len(c.Conditions) > maxValues {
			return tooCostly("%s has %d values, at most %d", c.Key(), len(c.Conditions), maxValues)
		}
	}
	return nil
}

func issuesError(issues []fhir.Issue) *fhir.Error {
	msg := issues[0].Diagnostics
	if len(issues) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(issues)-1)
	}
	return &fhir.Error{Code: fhir.Invalid, Message: msg, Issues: issues}
}

// problem is why one parameter was refused; issueType is the OperationOutcome
// issue code: processing for what is wrong, not-supported for what is valid FHIR
// this server does not do.
type problem struct {
	issueType string
	msg       string
}

func (e *problem) Error() string { return e.msg }

func errorf(format string, args ...any) error {
	return &problem{issueType: "processing", msg: fmt.Sprintf(format, args...)}
}

func unsupportedf(format string, args ...any) error {
	return &problem{issueType: "not-supported", msg: fmt.Sprintf(format, args...)}
}

// parseTypes reads one _type value. When the caller named the types of a system
// search, _type may only narrow them.
func (p *Parser) parseTypes(system bool, callerTypes []string, v string) ([]string, error) {
	if !system {
		return nil, unsupportedf("_type applies to system search only")
	}
	ts := strings.Split(v, ",")
	for _, t := range ts {
		if !p.defs.IsResourceType(t) {
			return nil, errorf("unknown resource type %q", t)
		}
		if len(callerTypes) > 0 && !slices.Contains(callerTypes, t) {
			return nil, errorf("%s is not among the types searched", t)
		}
	}
	return ts, nil
}

// parseParam reads one name=value into q, leaving q untouched on error.
func (p *Parser) parseParam(q *Query, name, v string) error {
	base, mod, hasMod := strings.Cut(name, ":")
	switch base {
	case "_include", "_revinclude":
		in, err := p.parseInclude(q, base == "_revinclude", mod, v)
		if err != nil {
			return err
		}
		if base == "_include" {
			q.Include = append(q.Include, in)
		} else {
			q.RevInclude = append(q.RevInclude, in)
		}
		return nil
	case "_count", "_offset", "_cursor", "_total", "_sort", "_summary", "_elements", "_format", "_pretty":
		if hasMod {
			return errorf("%s takes no modifier", base)
		}
		return p.parseResultParam(q, base, v)
	case "_contained", "_containedType", "_filter", "_query":
		return unsupportedf("%s is not supported", base)
	}
	c, err := p.parseClause(q.Types, name, v)
	if err != nil {
		return err
	}
	q.Clauses = append(q.Clauses, c)
	return nil
}

func (p *Parser) parseResultParam(q *Query, name, v string) error {
	switch name {
	case "_count":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errorf("_count must be an integer ≥ 0")
		}
		q.Count = min(n, MaxCount)
	case "_offset":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return errorf("_offset must be an integer ≥ 0")
		}
		q.Offset = min(n, maxOffset)
	case "_cursor":
		if !validCursor(v) {
			return errorf("invalid _cursor")
		}
		q.Cursor = v
	case "_total":
		switch t := Total(v); t {
		case TotalNone, TotalEstimate, TotalAccurate:
			q.Total = t
		default:
			return errorf("_total must be none, estimate or accurate")
		}
	case "_summary":
		switch s := Summary(v); s {
		case SummaryTrue, SummaryText, SummaryData, SummaryCount, SummaryFalse:
			q.Summary = s
		default:
			return errorf("_summary must be true, text, data, count or false")
		}
	case "_sort":
		keys, err := p.parseSort(q.Types, v)
		if err != nil {
			return err
		}
		q.Sort = append(q.Sort, keys...)
	case "_elements":
		elems, err := p.parseElements(q.Types, v)
		if err != nil {
			return err
		}
		for _, e := range elems {
			if !slices.Contains(q.Elements, e) {
				q.Elements = append(q.Elements, e)
			}
		}
	}
	// _format and _pretty belong to the HTTP layer.
	return nil
}

func (p *Parser) parseSort(types []string, v string) ([]SortKey, error) {
	var keys []SortKey
	for _, k := range strings.Split(v, ",") {
		code, desc := strings.CutPrefix(k, "-")
		sp, err := p.param(types, code)
		if err != nil {
			return nil, errorf("cannot sort: %v", err)
		}
		if sp.Type == "composite" || sp.Type == "special" {
			return nil, unsupportedf("cannot sort by %s parameter %s", sp.Type, code)
		}
		keys = append(keys, SortKey{Param: sp, Descending: desc})
	}
	return keys, nil
}

// parseElements checks _elements names against the types searched: each must be
// a top-level element of at least one of them (any name goes for all types).
func (p *Parser) parseElements(types []string, v string) ([]string, error) {
	names := strings.Split(v, ",")
	for _, n := range names {
		if !validElementName(n) {
			return nil, errorf("invalid element name %q", n)
		}
		if len(types) == 0 {
			continue
		}
		found := false
		for _, t := range types {
			td := p.defs.Type(t)
			if td != nil && (td.Element(t+"."+n) != nil || td.Element(t+"."+n+"[x]") != nil) {
				found = true
				break
			}
		}
		if !found {
			return nil, errorf("%s has no element %q", strings.Join(types, ", "), n)
		}
	}
	return names, nil
}

func (p *Parser) parseInclude(q *Query, rev bool, mod, v string) (Include, error) {
	var in Include
	switch mod {
	case "":
	case "iterate", "recurse": // recurse is the STU3 name
		in.Iterate = true
	default:
		return in, errorf("unknown modifier :%s: only :iterate", mod)
	}
	if v == "*" {
		in.Wildcard = true
		return in, nil
	}
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return in, errorf("expected SourceType:parameter[:TargetType] or *")
	}
	src := parts[0]
	if !p.defs.IsResourceType(src) {
		return in, errorf("unknown resource type %q", src)
	}
	in.SourceType = src
	if parts[1] == "*" && len(parts) == 2 {
		in.Wildcard = true
		return in, nil
	}
	sp := p.lookup(src, parts[1])
	switch {
	case sp == nil:
		return in, errorf("%s has no search parameter %q", src, parts[1])
	case sp.Type != "reference":
		return in, errorf("%s:%s is a %s parameter, not a reference", src, parts[1], sp.Type)
	case !rev && !in.Iterate && len(q.Types) > 0 && !slices.Contains(q.Types, src):
		return in, errorf("%s is not a type searched: use _include:iterate to include from included resources", src)
	case rev && !in.Iterate && !canTarget(sp, q.Types):
		return in, errorf("%s:%s cannot refer to %s", src, sp.Code, strings.Join(q.Types, ", "))
	}
	in.Param = sp
	if len(parts) == 3 {
		t := parts[2]
		if !p.defs.IsResourceType(t) {
			return in, errorf("unknown resource type %q", t)
		}
		if len(sp.Target) > 0 && !slices.Contains(sp.Target, t) {
			return in, errorf("%s:%s cannot refer to %s", src, sp.Code, t)
		}
		in.TargetType = t
	}
	return in, nil
}

// canTarget reports whether reference parameter sp may point at one of types (nil
// types: any).
func canTarget(sp *spec.SearchParam, types []string) bool {
	if len(sp.Target) == 0 || len(types) == 0 {
		return true
	}
	for _, t := range types {
		if slices.Contains(sp.Target, t) {
			return true
		}
	}
	return false
}

// parseClause reads the comma-separated values of one parameter occurrence.
func (p *Parser) parseClause(types []string, name, v string) (Clause, error) {
	raws := splitEscaped(v, ',')
	c := Clause{Conditions: make([]Condition, 0, len(raws))}
	for _, raw := range raws {
		if raw == "" {
			return c, errorf("empty value in a comma-separated list")
		}
		cond, err := p.parseCondition(types, name, raw, 0)
		if err != nil {
			return c, err
		}
		c.Conditions = append(c.Conditions, cond)
	}
	return c, nil
}

// parseCondition reads one value of the parameter key, which may be chained or
// reverse-chained, at nesting depth.
func (p *Parser) parseCondition(types []string, key, raw string, depth int) (Condition, error) {
	if depth > maxDepth {
		return Condition{}, unsupportedf("chains and _has nest at most %d deep", maxDepth)
	}
	if rest, ok := strings.CutPrefix(key, "_has:"); ok {
		return p.parseHas(types, rest, raw, depth)
	}
	if head, rest, ok := strings.Cut(key, "."); ok {
		return p.parseChain(types, head, rest, raw, depth)
	}
	code, mod, _ := strings.Cut(key, ":")
	sp, err := p.param(types, code)
	if err != nil {
		return Condition{}, err
	}
	c := Condition{Param: sp, Raw: raw}
	return c, p.parseValue(&c, mod, raw)
}

func (p *Parser) parseHas(types []string, rest, raw string, depth int) (Condition, error) {
	typ, rest, ok1 := strings.Cut(rest, ":")
	code, inner, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || inner == "" {
		return Condition{}, errorf("expected _has:Type:reference-parameter:search-parameter")
	}
	if !p.defs.IsResourceType(typ) {
		return Condition{}, errorf("_has: unknown resource type %q", typ)
	}
	sp := p.lookup(typ, code)
	switch {
	case sp == nil:
		return Condition{}, errorf("_has: %s has no search parameter %q", typ, code)
	case sp.Type != "reference":
		return Condition{}, errorf("_has: %s:%s is a %s parameter, not a reference", typ, code, sp.Type)
	case !canTarget(sp, types):
		return Condition{}, errorf("_has: %s:%s cannot refer to %s", typ, code, strings.Join(types, ", "))
	}
	c, err := p.parseCondition([]string{typ}, inner, raw, depth+1)
	if err != nil {
		return Condition{}, err
	}
	return Condition{Has: &Has{Type: typ, Param: sp, Condition: c}}, nil
}

func (p *Parser) parseChain(types []string, head, rest, raw string, depth int) (Condition, error) {
	code, typ, _ := strings.Cut(head, ":")
	sp, err := p.param(types, code)
	if err != nil {
		return Condition{}, err
	}
	if sp.Type != "reference" {
		return Condition{}, errorf("%s is a %s parameter: only reference parameters can be chained", code, sp.Type)
	}
	if typ != "" {
		if !p.defs.IsResourceType(typ) {
			return Condition{}, errorf("unknown resource type %q", typ)
		}
		if len(sp.Target) > 0 && !slices.Contains(sp.Target, typ) {
			return Condition{}, errorf("%s cannot refer to %s", code, typ)
		}
	} else if typ, err = p.chainTarget(sp, rest); err != nil {
		return Condition{}, err
	}
	c, err := p.parseCondition([]string{typ}, rest, raw, depth+1)
	if err != nil {
		return Condition{}, err
	}
	return Condition{Param: sp, Chain: &Chain{Type: typ, Condition: c}}, nil
}

// chainTarget picks the target type of an untyped chain (subject.name): the one
// target of sp that has the chained parameter. When several have it the client
// must name one, since each may mean something else by it.
func (p *Parser) chainTarget(sp *spec.SearchParam, rest string) (string, error) {
	next := rest[:strings.IndexAny(rest+".", ".:")]
	targets := sp.Target
	if len(targets) == 0 {
		targets = p.defs.ResourceTypes()
	}
	var found []string
	for _, t := range targets {
		if p.lookup(t, next) != nil {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return "", errorf("no resource %s refers to has a search parameter %q", sp.Code, next)
	case 1:
		return found[0], nil
	}
	return "", errorf("chain is ambiguous: %s may refer to %s, which all have %q: name the type, as in %s:%s.%s",
		sp.Code, strings.Join(found, ", "), next, sp.Code, found[0], rest)
}

// param finds the parameter code for a search over types. A system search over
// every type takes only parameters of Resource and DomainResource; over several
// types, only parameters all of them define with the same type.
func (p *Parser) param(types []string, code string) (*spec.SearchParam, error) {
	if code == "_list" {
		return p.list, nil
	}
	if len(types) == 0 {
		sp := p.lookup(p.anyType, code)
		if sp == nil || !(slices.Contains(sp.Base, "Resource") || slices.Contains(sp.Base, "DomainResource")) {
			return nil, errorf("unknown search parameter %q for a search across all types: name the types with _type", code)
		}
		return sp, nil
	}
	sp := p.lookup(types[0], code)
	if sp == nil {
		return nil, errorf("unknown search parameter %q for %s", code, types[0])
	}
	for _, t := range types[1:] {
		other := p.lookup(t, code)
		if other == nil {
			return nil, errorf("unknown search parameter %q for %s", code, t)
		}
		if other.Type != sp.Type {
			return nil, errorf("search parameter %q is a %s on %s but a %s on %s", code, sp.Type, types[0], other.Type, t)
		}
	}
	return sp, nil
}

// modifier reads the modifier text of c.Param: a modifier name or, for a
// reference, a target type.
func (p *Parser) modifier(sp *spec.SearchParam, mod string) (m Modifier, typ string, err error) {
	switch m = Modifier(mod); m {
	case ModifierNone:
		return m, "", nil
	case ModifierMissing:
		if sp.Type == "composite" || sp.Type == "special" {
			return m, "", errorf(":missing does not apply to %s parameter %s", sp.Type, sp.Code)
		}
		return m, "", nil
	case ModifierExact, ModifierContains, ModifierText, ModifierNot, ModifierAbove, ModifierBelow,
		ModifierIn, ModifierNotIn, ModifierOfType, ModifierIdentifier:
	default:
		if mod[0] < 'A' || mod[0] > 'Z' || !p.defs.IsResourceType(mod) {
			return m, "", errorf("unknown modifier :%s", mod)
		}
		if sp.Type != "reference" {
			return m, "", errorf("modifier :%s (a type) applies to reference parameters only, not to %s parameter %s", mod, sp.Type, sp.Code)
		}
		if len(sp.Target) > 0 && !slices.Contains(sp.Target, mod) {
			return m, "", errorf("%s cannot refer to %s", sp.Code, mod)
		}
		return ModifierType, mod, nil
	}
	if !modifierApplies(sp.Type, m) {
		return m, "", errorf("modifier :%s does not apply to %s parameter %s", mod, sp.Type, sp.Code)
	}
	return m, "", nil
}

// modifierApplies tells which modifiers each parameter type takes
// (http://hl7.org/fhir/R4/search.html#modifiers); :missing and :[type] are
// decided by the caller.
func modifierApplies(paramType string, m Modifier) bool {
	switch paramType {
	case "string":
		return m == ModifierExact || m == ModifierContains
	case "token":
		switch m {
		case ModifierText, ModifierNot, ModifierAbove, ModifierBelow, ModifierIn, ModifierNotIn, ModifierOfType:
			return true
		}
	case "reference":
		return m == ModifierIdentifier || m == ModifierAbove || m == ModifierBelow
	case "uri":
		return m == ModifierAbove || m == ModifierBelow
	}
	return false
}

// parseValue reads raw, one escaped value, into c for c.Param and modifier mod.
func (p *Parser) parseValue(c *Condition, mod, raw string) error {
	sp := c.Param
	m, typ, err := p.modifier(sp, mod)
	if err != nil {
		return err
	}
	c.Modifier = m
	switch {
	case m == ModifierMissing:
		switch raw {
		case "true":
			c.Missing = true
		case "false":
		default:
			return errorf(":missing takes true or false")
		}
		return nil
	case m == ModifierText:
		s := unescape(raw)
		c.String = &String{Value: s, Normalized: p.normalize(s)}
		return nil
	case m == ModifierIn || m == ModifierNotIn:
		c.URI = &URI{Value: unescape(raw)}
		url, _, _ := strings.Cut(c.URI.Value, "|")
		vs := p.defs.ValueSet(url)
		if vs == nil || !vs.Enumerable {
			return unsupportedf("value set %s is not known to this server or cannot be expanded", c.URI.Value)
		}
		c.ValueSet = make([]Token, len(vs.Concepts))
		for i, con := range vs.Concepts {
			c.ValueSet[i] = Token{System: con.System, Code: con.Code, HasSystem: true}
		}
		return nil
	case sp == p.list: // modifier has refused any modifier on a special parameter
		c.List = unescape(raw)
		if !validID(c.List) && !(strings.HasPrefix(c.List, "$") && validID(c.List[1:])) {
			return errorf("_list takes a List id or a functional list name such as $current-problems")
		}
		return nil
	}
	switch sp.Type {
	case "string":
		s := unescape(raw)
		c.String = &String{Value: s, Normalized: p.normalize(s)}
	case "token":
		c.Token, err = parseToken(raw, m == ModifierOfType)
		if err == nil && sp.Code == "_id" && (c.Token.HasSystem || !validID(c.Token.Code)) {
			err = errorf("invalid id %q", unescape(raw))
		}
	case "reference":
		c.Reference, err = p.parseReference(sp, m, typ, raw)
	case "date":
		c.Date, err = p.parseDate(sp, raw)
	case "number":
		var n Number
		n, err = parseNumber(sp, unescape(raw))
		c.Number = &n
	case "quantity":
		c.Quantity, err = parseQuantity(sp, raw)
	case "uri":
		c.URI = &URI{Value: unescape(raw)}
	case "composite":
		c.Composite, err = p.parseComposite(sp, raw)
	default:
		err = unsupportedf("%s parameter %s is not supported", sp.Type, sp.Code)
	}
	return err
}

func parseToken(raw string, ofType bool) (*Token, error) {
	parts := splitEscaped(raw, '|')
	if ofType {
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return nil, errorf(":of-type takes system|code|value")
		}
		return &Token{System: unescape(parts[0]), Code: unescape(parts[1]), HasSystem: true, Value: unescape(parts[2])}, nil
	}
	switch len(parts) {
	case 1:
		return &Token{Code: unescape(parts[0])}, nil
	case 2:
		if parts[0] == "" && parts[1] == "" {
			return nil, errorf("a token needs a system or a code")
		}
		return &Token{System: unescape(parts[0]), Code: unescape(parts[1]), HasSystem: true}, nil
	}
	return nil, errorf("a token is [system|]code")
}

// parseReference reads a reference value: id, Type/id, Type/id/_history/v, an
// absolute URL, or a canonical url|version; with :identifier, a token.
func (p *Parser) parseReference(sp *spec.SearchParam, m Modifier, typ, raw string) (*Reference, error) {
	if m == ModifierIdentifier {
		t, err := parseToken(raw, false)
		if err != nil {
			return nil, err
		}
		return &Reference{Identifier: t}, nil
	}
	v := unescape(raw)
	r := &Reference{}
	if strings.Contains(v, "://") || strings.HasPrefix(v, "urn:") {
		r.URL, r.Version, _ = strings.Cut(v, "|")
		// A URL ending in Type/id[/_history/v] may point into this server; say so.
		segs := strings.Split(r.URL, "/")
		n := len(segs)
		switch {
		case n >= 4 && segs[n-2] == "_history" && p.defs.IsResourceType(segs[n-4]) && validID(segs[n-3]) && validID(segs[n-1]) && r.Version == "":
			r.Type, r.ID, r.Version = segs[n-4], segs[n-3], segs[n-1]
		case n >= 2 && p.defs.IsResourceType(segs[n-2]) && validID(segs[n-1]):
			r.Type, r.ID = segs[n-2], segs[n-1]
		}
	} else {
		segs := strings.Split(v, "/")
		switch {
		case len(segs) == 1:
			r.ID = segs[0]
		case len(segs) == 2:
			r.Type, r.ID = segs[0], segs[1]
		case len(segs) == 4 && segs[2] == "_history":
			r.Type, r.ID, r.Version = segs[0], segs[1], segs[3]
			if !validID(r.Version) {
				return nil, errorf("invalid version %q", r.Version)
			}
		default:
			return nil, errorf("a reference is id, Type/id, Type/id/_history/version or an absolute URL")
		}
		if !validID(r.ID) {
			return nil, errorf("invalid id %q", r.ID)
		}
		if r.Type != "" && !p.defs.IsResourceType(r.Type) {
			return nil, errorf("unknown resource type %q", r.Type)
		}
	}
	if typ != "" {
		if r.Type != "" && r.Type != typ {
			return nil, errorf("%s is not a reference to a %s", v, typ)
		}
		r.Type = typ
	}
	if r.Type != "" && len(sp.Target) > 0 && !slices.Contains(sp.Target, r.Type) {
		return nil, errorf("%s cannot refer to %s", sp.Code, r.Type)
	}
	return r, nil
}

// prefix splits a number, date or quantity value into its prefix and the rest,
// checking the prefix against those the parameter allows.
func prefix(sp *spec.SearchParam, v string) (Prefix, string, error) {
	if len(v) < 2 || v[0] < 'a' || v[0] > 'z' || v[1] < 'a' || v[1] > 'z' {
		return PrefixEq, v, nil
	}
	pf := Prefix(v[:2])
	switch pf {
	case PrefixEq, PrefixNe, PrefixGt, PrefixLt, PrefixGe, PrefixLe, PrefixSa, PrefixEb, PrefixAp:
	default:
		return pf, v, errorf("unknown prefix %q", pf)
	}
	if len(sp.Comparator) > 0 && !slices.Contains(sp.Comparator, string(pf)) {
		return pf, v, errorf("prefix %s is not allowed for %s", pf, sp.Code)
	}
	return pf, v[2:], nil
}

// parseDate reads a date value as the range its precision implies, by the rules
// the index stores dates with. A '+' of a zone offset that arrived unencoded
// reads as a space; it is taken back.
func (p *Parser) parseDate(sp *spec.SearchParam, raw string) (*Date, error) {
	pf, v, err := prefix(sp, unescape(raw))
	if err != nil {
		return nil, err
	}
	lo, hi, ok := DateRange(strings.ReplaceAll(v, " ", "+"), p.loc)
	if !ok {
		return nil, errorf("invalid date: expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]")
	}
	return &Date{Prefix: pf, Low: lo, High: hi}, nil
}

// parseNumber reads a decimal with an optional prefix. The grammar is FHIR's
// decimal (strconv alone would take 0x1p3 and 1_0); the range is the index's,
// so that equal text gives bit-equal bounds on both sides.
func parseNumber(sp *spec.SearchParam, v string) (Number, error) {
	pf, s, err := prefix(sp, v)
	if err != nil {
		return Number{}, err
	}
	if !isDecimal(s) {
		return Number{}, errorf("invalid number %q", s)
	}
	f, lo, hi, ok := numberRange(s)
	if !ok {
		return Number{}, errorf("number %q is out of range", s)
	}
	return Number{Prefix: pf, Value: f, Text: s, Low: lo, High: hi}, nil
}

// parseQuantity reads number[|system|code].
func parseQuantity(sp *spec.SearchParam, raw string) (*Quantity, error) {
	parts := splitEscaped(raw, '|')
	if len(parts) != 1 && len(parts) != 3 {
		return nil, errorf("a quantity is [prefix]number[|system|code]")
	}
	n, err := parseNumber(sp, unescape(parts[0]))
	if err != nil {
		return nil, err
	}
	q := &Quantity{Number: n}
	if len(parts) == 3 {
		q.System, q.Code = unescape(parts[1]), unescape(parts[2])
		if q.System != "" && q.Code == "" {
			return nil, errorf("a quantity with a system needs a code")
		}
	}
	return q, nil
}

// parseComposite reads the $-separated component values, each by its own
// parameter's rules.
func (p *Parser) parseComposite(sp *spec.SearchParam, raw string) (*Composite, error) {
	parts := splitEscaped(raw, '$')
	if len(parts) != len(sp.Component) {
		return nil, errorf("%s takes %d values separated by $", sp.Code, len(sp.Component))
	}
	comp := &Composite{Components: make([]Condition, len(parts))}
	for i, part := range parts {
		csp := p.defs.SearchParamByURL(sp.Component[i].Definition)
		if csp == nil {
			return nil, unsupportedf("component %s of %s is not defined", sp.Component[i].Definition, sp.Code)
		}
		if part == "" {
			return nil, errorf("empty component %d of %s", i+1, sp.Code)
		}
		c := Condition{Param: csp, Raw: part}
		if err := p.parseValue(&c, "", part); err != nil {
			return nil, fmt.Errorf("component %s: %w", csp.Code, err)
		}
		comp.Components[i] = c
	}
	return comp, nil
}

// splitEscaped splits s at each sep not escaped by a backslash, keeping escapes.
func splitEscaped(s string, sep byte) []string {
	if strings.IndexByte(s, sep) < 0 {
		return []string{s}
	}
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unescape removes the backslash escapes of \, \$ \| and \\; a lone trailing
// backslash stays.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// validID reports whether s is a FHIR resource id.
func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validCursor admits the URL-safe text a store may issue as a cursor.
func validCursor(s string) bool {
	if len(s) > 2048 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~=", c) >= 0) {
			return false
		}
	}
	return true
}

func validElementName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// isDecimal reports whether s is a FHIR decimal, also in exponent form (1.5e3).
func isDecimal(s string) bool {
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	if hasExp {
		if e := trimSign(exp); e == "" || !allDigits(e) {
			return false
		}
	}
	whole, frac, _ := strings.Cut(trimSign(mant), ".")
	return whole+frac != "" && allDigits(whole) && allDigits(frac)
}

func trimSign(s string) string {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		return s[1:]
	}
	return s
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
