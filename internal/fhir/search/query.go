package search

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/spec"
)

// Page size limits. A request without _count gets DefaultCount; larger requests
// are clamped to MaxCount rather than refused, as FHIR lets a server return fewer.
const (
	DefaultCount = 20
	MaxCount     = 1000
)

// Query is a parsed search: which resources to select (Clauses) and how to return
// them (the result parameters). It names search parameters by their definitions and
// holds typed values, so a storage backend can turn it into indexed SQL without
// reading the request again.
type Query struct {
	// System is true for a system-level search (GET [base]?…), where _type may
	// narrow the types.
	System bool
	// Types are the resource types searched: the one type of a type-level search,
	// the _type list of a system search, nil for a system search over every type.
	Types []string
	// Compartment restricts the search to a compartment (GET [base]/Patient/123/…);
	// nil otherwise. It is set by Parser.InCompartment, not by the query string.
	Compartment *Compartment
	// Clauses are ANDed. They are ordered by their canonical parameter name and,
	// for one name, in the order given, so equal queries compare equal.
	Clauses []Clause

	Count  int    // page size, 0 for count only; DefaultCount when not given
	Offset int    // _offset paging: rows to skip
	Cursor string // _cursor paging: an opaque position the store issued; excludes Offset
	Total  Total
	Sort   []SortKey
	// Summary and Elements shape the returned resources; empty when not asked for.
	Summary    Summary
	Elements   []string
	Include    []Include
	RevInclude []Include

	// Access, when set, limits what the search reads to what its caller may
	// see. It is not part of the query string: the authorisation policy sets
	// it on every search a request makes.
	Access *Access
}

// Access limits a search to what its caller may see. Every resource the
// search reads — its matches, the targets of its chains, the referrers of
// its _has, the resources it includes — must be of a readable type and meet
// that type's clauses, so that neither the results nor which resources
// match can tell anything about the rest.
type Access struct {
	// Types maps each readable type to the clauses (ANDed) its resources must
	// meet; none: every resource of the type.
	Types map[string][]Clause
	// Others makes every type that Types does not name readable, under the
	// Default clauses.
	Others  bool
	Default []Clause
}

// For returns the clauses a resource of typ must meet, and false when the
// type cannot be read at all. A nil Access reads everything.
func (a *Access) For(typ string) ([]Clause, bool) {
	if a == nil {
		return nil, true
	}
	if c, ok := a.Types[typ]; ok {
		return c, true
	}
	if a.Others {
		return a.Default, true
	}
	return nil, false
}

// Compartment names a compartment instance. The parameters linking each type to
// it are in spec.Definitions.Compartment(Code).Params(type).
type Compartment struct {
	Code string // Patient, Encounter, RelatedPerson, Practitioner, Device
	ID   string
	// Params maps each resource type searched to the reference parameters that
	// put a resource of that type in the compartment.
	Params map[string][]string
}

// Clause is one occurrence of a parameter: its comma-separated values are ORed.
// Every condition of a clause has the same parameter, modifier and chain.
type Clause struct {
	Conditions []Condition
}

// Condition is one value of one parameter. Exactly one of the value fields is set,
// the one the parameter's type and modifier call for; with ModifierMissing only
// Missing is meaningful.
type Condition struct {
	// Param is the parameter searched on; nil for a _has condition, whose Has names
	// everything. _list has a definition of its own (type special, code _list).
	Param    *spec.SearchParam
	Modifier Modifier
	// Raw is the value as written, still escaped (\, \$ \| \\), so that Encode can
	// write it back. A chained or _has condition keeps it on the innermost one.
	Raw string

	Missing   bool
	String    *String
	Token     *Token
	Reference *Reference
	Date      *Date
	Number    *Number
	Quantity  *Quantity
	URI       *URI
	Composite *Composite
	List      string // _list: a List id or a functional list such as $current-problems
	// ValueSet holds the codes of the value set of a token :in or :not-in,
	// expanded by the parser (URI names it).
	ValueSet []Token

	Chain *Chain // Param is a reference and the condition applies to its target
	Has   *Has   // reverse chain: some resource of another type refers here and matches

	// None matches a resource that does not meet all of these clauses: NOT
	// (c1 AND c2 …). Param is nil. No query string writes it: the
	// authorisation policy builds it, to withhold what a resident's consent
	// withholds (the records of these patients, unless written here).
	None []Clause
}

// Modifier is a search modifier as written after the colon, except ModifierType,
// which stands for a resource type name (subject:Patient) held in Reference.Type.
type Modifier string

// Modifiers (http://hl7.org/fhir/R4/search.html#modifiers).
const (
	ModifierNone       Modifier = ""
	ModifierMissing    Modifier = "missing"
	ModifierExact      Modifier = "exact"
	ModifierContains   Modifier = "contains"
	ModifierText       Modifier = "text"
	ModifierNot        Modifier = "not"
	ModifierAbove      Modifier = "above"
	ModifierBelow      Modifier = "below"
	ModifierIn         Modifier = "in"
	ModifierNotIn      Modifier = "not-in"
	ModifierOfType     Modifier = "of-type"
	ModifierIdentifier Modifier = "identifier"
	ModifierType       Modifier = "[type]"
)

// Prefix is the comparator of a number, date or quantity value.
type Prefix string

// Prefixes; a value written without one has PrefixEq.
const (
	PrefixEq Prefix = "eq"
	PrefixNe Prefix = "ne"
	PrefixGt Prefix = "gt"
	PrefixLt Prefix = "lt"
	PrefixGe Prefix = "ge"
	PrefixLe Prefix = "le"
	PrefixSa Prefix = "sa"
	PrefixEb Prefix = "eb"
	PrefixAp Prefix = "ap"
)

// String is a string value (also a token :text value).
type String struct {
	Value      string // unescaped
	Normalized string // as the string index stores it (case and accent folded)
}

// Token is a token value: [system|]code. HasSystem tells `|code` (no system) and
// `system|code` from a bare `code` (any system). With ModifierOfType, System and
// Code are the identifier type and Value is the identifier value.
type Token struct {
	System    string
	Code      string
	HasSystem bool
	Value     string
}

// Reference is a reference value. A relative reference sets Type (empty when only
// an id is given and no :Type modifier) and ID; an absolute or canonical one sets
// URL, plus Type and ID when its path ends in Type/id. With ModifierIdentifier only
// Identifier is set.
type Reference struct {
	Type       string
	ID         string
	Version    string // _history/<v> of a relative or absolute URL, or |<v> of a canonical
	URL        string
	Identifier *Token
}

// Date is a date value as the half-open range [Low, High) of Unix milliseconds
// (UTC) its precision implies, the form the date index stores (Value.Start, End).
type Date struct {
	Prefix    Prefix
	Low, High int64
}

// Range returns the range to compare against. For ap it is widened by a tenth of
// the distance from now, at least a day, as the server has always done; now is a
// parameter so that one request reads the clock once and parsing stays pure.
func (d Date) Range(now time.Time) (low, high int64) {
	if d.Prefix != PrefixAp {
		return d.Low, d.High
	}
	const day = 24 * 60 * 60 * 1000
	gap := now.UnixMilli() - d.Low
	if gap < 0 {
		gap = -gap
	}
	widen := max(gap/10, day)
	return d.Low - widen, d.High + widen
}

// Number is a number value. Text is the decimal as written; Low and High are the
// bounds its implicit precision gives (100 → [99.5, 100.5), 1e2 → [50, 150)).
type Number struct {
	Prefix    Prefix
	Value     float64
	Text      string
	Low, High float64
}

// Range returns the range to compare against: for ap, at least 10% of the value
// either side (http://hl7.org/fhir/R4/search.html#prefix).
func (n Number) Range() (low, high float64) {
	if n.Prefix != PrefixAp {
		return n.Low, n.High
	}
	d := math.Abs(n.Value) / 10
	return min(n.Low, n.Value-d), max(n.High, n.Value+d)
}

// Quantity is a quantity value: number|system|code, system and code optional.
type Quantity struct {
	Number
	System string
	Code   string
}

// URI is a uri value (also the value set of a token :in or :not-in).
type URI struct {
	Value string
}

// Composite is a composite value: one condition per component, in the order the
// definition lists them, each with the component's own parameter.
type Composite struct {
	Components []Condition
}

// Chain applies a condition to the resource a reference parameter points to.
type Chain struct {
	Type      string // the target type: named (subject:Patient.name) or the only one possible
	Condition Condition
}

// Has is a reverse chain: _has:Type:Param:<condition> selects resources that some
// resource of Type refers to through its reference parameter Param, when that
// resource meets Condition.
type Has struct {
	Type      string
	Param     *spec.SearchParam
	Condition Condition
}

// Total is the _total parameter.
type Total string

// Totals.
const (
	TotalNone     Total = "none"
	TotalEstimate Total = "estimate"
	TotalAccurate Total = "accurate"
)

// Summary is the _summary parameter.
type Summary string

// Summaries.
const (
	SummaryTrue  Summary = "true"
	SummaryText  Summary = "text"
	SummaryData  Summary = "data"
	SummaryCount Summary = "count"
	SummaryFalse Summary = "false"
)

// SortKey is one _sort key.
type SortKey struct {
	Param      *spec.SearchParam
	Descending bool
}

// Include is one _include or _revinclude. For _include, SourceType:Param points
// at TargetType (empty: any target); for _revinclude, resources of SourceType
// that point at a match through Param. Wildcard (`*` or `Type:*`) means every
// reference parameter; Param is then nil.
type Include struct {
	SourceType string
	Param      *spec.SearchParam
	TargetType string
	Iterate    bool
	Wildcard   bool
}

// Warning is a parameter a lenient parse ignored.
type Warning struct {
	Param string // the parameter name as given
	Issue fhir.Issue
}

// Encode writes the query back as search parameters in a canonical form, for the
// self and next links of a Bundle: chains name their target type, _include:recurse
// becomes :iterate, and url.Values.Encode orders the names. Parsing the result for
// the same types gives an equal Query. Compartment is part of the path, not here.
func (q *Query) Encode() url.Values {
	v := url.Values{}
	if q.System && len(q.Types) > 0 {
		v.Set("_type", strings.Join(q.Types, ","))
	}
	for _, c := range q.Clauses {
		raws := make([]string, len(c.Conditions))
		for i := range c.Conditions {
			raws[i] = c.Conditions[i].raw()
		}
		key := c.Key()
		v[key] = append(v[key], strings.Join(raws, ","))
	}
	v.Set("_count", strconv.Itoa(q.Count))
	if q.Offset > 0 {
		v.Set("_offset", strconv.Itoa(q.Offset))
	}
	if q.Cursor != "" {
		v.Set("_cursor", q.Cursor)
	}
	if q.Total != "" {
		v.Set("_total", string(q.Total))
	}
	if len(q.Sort) > 0 {
		keys := make([]string, len(q.Sort))
		for i, k := range q.Sort {
			keys[i] = k.Param.Code
			if k.Descending {
				keys[i] = "-" + keys[i]
			}
		}
		v.Set("_sort", strings.Join(keys, ","))
	}
	if q.Summary != "" {
		v.Set("_summary", string(q.Summary))
	}
	if len(q.Elements) > 0 {
		v.Set("_elements", strings.Join(q.Elements, ","))
	}
	encodeIncludes(v, "_include", q.Include)
	encodeIncludes(v, "_revinclude", q.RevInclude)
	return v
}

func encodeIncludes(v url.Values, name string, list []Include) {
	for _, in := range list {
		key := name
		if in.Iterate {
			key += ":iterate"
		}
		var s string
		switch {
		case in.Wildcard && in.SourceType == "":
			s = "*"
		case in.Wildcard:
			s = in.SourceType + ":*"
		default:
			s = in.SourceType + ":" + in.Param.Code
			if in.TargetType != "" {
				s += ":" + in.TargetType
			}
		}
		v.Add(key, s)
	}
}

// Key is the clause's parameter name in canonical form, modifiers and chains
// included (subject:Patient.name:exact).
func (c *Clause) Key() string {
	if len(c.Conditions) == 0 {
		return ""
	}
	return c.Conditions[0].key()
}

func (c *Condition) key() string {
	switch {
	case c.None != nil:
		return "_none"
	case c.Has != nil:
		return "_has:" + c.Has.Type + ":" + c.Has.Param.Code + ":" + c.Has.Condition.key()
	case c.Chain != nil:
		return c.Param.Code + ":" + c.Chain.Type + "." + c.Chain.Condition.key()
	case c.Modifier == ModifierType:
		return c.Param.Code + ":" + c.Reference.Type
	case c.Modifier != ModifierNone:
		return c.Param.Code + ":" + string(c.Modifier)
	}
	return c.Param.Code
}

// String writes the clause as a search parameter: name=value,value.
func (c *Clause) String() string {
	raws := make([]string, len(c.Conditions))
	for i := range c.Conditions {
		raws[i] = c.Conditions[i].raw()
	}
	return c.Key() + "=" + strings.Join(raws, ",")
}

// raw is the value text of the innermost condition of a chain or _has.
func (c *Condition) raw() string {
	switch {
	case c.None != nil:
		parts := make([]string, len(c.None))
		for i := range c.None {
			parts[i] = c.None[i].String()
		}
		return "(" + strings.Join(parts, "&") + ")"
	case c.Has != nil:
		return c.Has.Condition.raw()
	case c.Chain != nil:
		return c.Chain.Condition.raw()
	}
	return c.Raw
}
