package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/store"
)

// maxRune ends a prefix range: every string that starts with p sorts before
// p + maxRune in byte order (the index tables compare bytes).
const maxRune = "\U0010FFFF"

// Include limits: :iterate follows references at most maxIterate rounds, and a
// page adds at most maxIncluded resources.
const (
	maxIterate  = 4
	maxIncluded = 5000
)

// sqlQuery builds one statement: its text with ? placeholders and their
// arguments in the same order. Every piece is written in text order, so the
// arguments line up.
type sqlQuery struct {
	b     strings.Builder
	args  []any
	alias int
	now   time.Time
}

func (s *sqlQuery) w(parts ...string) {
	for _, p := range parts {
		s.b.WriteString(p)
	}
}

// arg writes a placeholder for v.
func (s *sqlQuery) arg(v any) {
	s.b.WriteByte('?')
	s.args = append(s.args, v)
}

// list writes ?, ?, … for vals.
func (s *sqlQuery) list(vals ...string) {
	for i, v := range vals {
		if i > 0 {
			s.b.WriteString(", ")
		}
		s.arg(v)
	}
}

// newAlias names a table or subquery alias unique within the statement.
func (s *sqlQuery) newAlias(prefix string) string {
	s.alias++
	return fmt.Sprintf("%s%d", prefix, s.alias)
}

// in writes "col = ?" or "col IN (?, …)".
func (s *sqlQuery) in(col string, vals []string) {
	if len(vals) == 1 {
		s.w(col, " = ")
		s.arg(vals[0])
		return
	}
	s.w(col, " IN (")
	s.list(vals...)
	s.w(")")
}

// where writes the conditions on head alias h of a search over types (nil: all).
func (s *sqlQuery) where(h string, types []string, q *search.Query) error {
	s.w(" WHERE NOT ", h, ".deleted")
	if len(types) > 0 {
		s.w(" AND ")
		s.in(h+".type", types)
	}
	if c := q.Compartment; c != nil {
		s.w(" AND ")
		s.compartment(h, c)
	}
	for _, c := range q.Clauses {
		s.w(" AND ")
		if err := s.clause(h, types, c); err != nil {
			return err
		}
	}
	return nil
}

// compartment selects the resources that refer to the compartment's owner
// through one of the parameters the definition names for their type. The
// owner itself is not in its compartment here; $everything adds it.
func (s *sqlQuery) compartment(h string, c *search.Compartment) {
	r := s.newAlias("r")
	s.w(h, ".seq IN (SELECT ", r, ".seq FROM idx_reference ", r, " WHERE ", r, ".grp >= 0 AND ", r, ".ref_id = ")
	s.arg(c.ID)
	s.w(" AND ", r, ".ref_type = ")
	s.arg(c.Code)
	s.w(" AND (")
	types := make([]string, 0, len(c.Params))
	for t := range c.Params {
		types = append(types, t)
	}
	slices.Sort(types)
	if len(types) == 0 {
		s.w("1 = 0")
	}
	for i, t := range types {
		if i > 0 {
			s.w(" OR ")
		}
		s.w("(", r, ".type = ")
		s.arg(t)
		s.w(" AND ")
		s.in(r+".param", c.Params[t])
		s.w(")")
	}
	s.w("))")
}

// clause writes the OR of a clause's conditions.
func (s *sqlQuery) clause(h string, types []string, c search.Clause) error {
	if len(c.Conditions) == 0 {
		return nil
	}
	s.w("(")
	// Plain values of one parameter share one subquery: code=a,b is one index
	// scan with an OR, not two.
	if plain(c.Conditions) {
		if err := s.matchIn(h, types, c.Conditions, false); err != nil {
			return err
		}
		s.w(")")
		return nil
	}
	for i := range c.Conditions {
		if i > 0 {
			s.w(" OR ")
		}
		if err := s.condition(h, types, &c.Conditions[i]); err != nil {
			return err
		}
	}
	s.w(")")
	return nil
}

// plain reports whether the conditions are ordinary value matches, answered
// from one index table.
func plain(conds []search.Condition) bool {
	for i := range conds {
		c := &conds[i]
		if c.Chain != nil || c.Has != nil || c.Param == nil || onResources(c.Param.Code) || c.Param.Code == "_list" ||
			c.Modifier == search.ModifierMissing || c.Modifier == search.ModifierNot || c.Modifier == search.ModifierNotIn ||
			c.Param.Type == "composite" {
			return false
		}
	}
	return true
}

// condition writes one condition on head alias h.
func (s *sqlQuery) condition(h string, types []string, c *search.Condition) error {
	switch {
	case c.Has != nil:
		return s.has(h, types, c.Has)
	case c.Chain != nil:
		return s.chain(h, types, c)
	case c.Param.Code == "_id":
		return s.id(h, c)
	case c.Param.Code == "_lastUpdated":
		return s.lastUpdated(h, c)
	case c.Param.Code == "_list":
		return s.listMembers(h, c)
	case c.Modifier == search.ModifierMissing:
		kind, err := kindOf(c.Param)
		if err != nil {
			return err
		}
		x := s.newAlias("x")
		s.w(h, ".seq ")
		if c.Missing {
			s.w("NOT ")
		}
		s.w("IN (SELECT ", x, ".seq FROM ", indexTables[kind].name, " ", x, " WHERE ", x, ".grp >= 0 AND ")
		s.typeIn(x, types)
		s.w(" AND ", x, ".param = ")
		s.arg(c.Param.Code)
		s.w(")")
		return nil
	case c.Param.Type == "composite":
		return s.composite(h, types, c)
	case c.Modifier == search.ModifierNot || c.Modifier == search.ModifierNotIn:
		// :not matches resources with no matching value, including those with
		// no value at all (http://hl7.org/fhir/R4/search.html#modifiers).
		return s.matchIn(h, types, []search.Condition{*c}, true)
	}
	return s.matchIn(h, types, []search.Condition{*c}, false)
}

// typeIn writes the resource type restriction of an index alias.
func (s *sqlQuery) typeIn(x string, types []string) {
	if len(types) == 0 {
		s.w("1 = 1")
		return
	}
	s.in(x+".type", types)
}

// matchIn writes h.seq [NOT] IN (the resources with a value matching any of
// conds), all of one parameter.
func (s *sqlQuery) matchIn(h string, types []string, conds []search.Condition, negate bool) error {
	kind, err := kindOf(conds[0].Param)
	if err != nil {
		return err
	}
	x := s.newAlias("x")
	s.w(h, ".seq ")
	if negate {
		s.w("NOT ")
	}
	s.w("IN (SELECT ", x, ".seq FROM ", indexTables[kind].name, " ", x, " WHERE ", x, ".grp >= 0 AND ")
	s.typeIn(x, types)
	s.w(" AND ", x, ".param = ")
	s.arg(conds[0].Param.Code)
	s.w(" AND (")
	for i := range conds {
		if i > 0 {
			s.w(" OR ")
		}
		if err := s.value(x, kind, &conds[i]); err != nil {
			return err
		}
	}
	s.w("))")
	return nil
}

func kindOf(sp *spec.SearchParam) (search.Kind, error) {
	switch t := sp.Type; t {
	case "string":
		return search.KindString, nil
	case "token":
		return search.KindToken, nil
	case "reference":
		return search.KindReference, nil
	case "date":
		return search.KindDate, nil
	case "number":
		return search.KindNumber, nil
	case "quantity":
		return search.KindQuantity, nil
	case "uri":
		return search.KindURI, nil
	default:
		return 0, fhir.Errorf(fhir.NotSupported, "search parameters of type %s are not supported here", t)
	}
}

// value writes the match of one value against the index row alias x.
func (s *sqlQuery) value(x string, kind search.Kind, c *search.Condition) error {
	switch kind {
	case search.KindString:
		return s.stringValue(x, c)
	case search.KindToken:
		return s.tokenValue(x, c)
	case search.KindReference:
		return s.referenceValue(x, c)
	case search.KindDate:
		lo, hi := c.Date.Range(s.now)
		s.dateRange(x+".lo", x+".hi", c.Date.Prefix, lo, hi)
		return nil
	case search.KindNumber:
		s.number(x+".value", c.Number)
		return nil
	case search.KindQuantity:
		return s.quantity(x, c.Quantity)
	case search.KindURI:
		return s.uriValue(x+".uri", c)
	}
	return fhir.Errorf(fhir.NotSupported, "search parameter %s is not supported here", c.Param.Code)
}

// prefixRange writes col >= p AND col < p+maxRune: starts-with as an index range.
func (s *sqlQuery) prefixRange(col, p string) {
	s.w(col, " >= ")
	s.arg(p)
	s.w(" AND ", col, " < ")
	s.arg(p + maxRune)
}

// likeContains escapes v for LIKE … ESCAPE '\'.
func likeContains(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(v) + "%"
}

func (s *sqlQuery) stringValue(x string, c *search.Condition) error {
	v := c.String.Normalized
	if c.Param.URL == search.NamePinyinURL {
		// Pinyin keys are stored without spaces: "zhang san" is "zhangsan".
		v = strings.ReplaceAll(v, " ", "")
	}
	switch c.Modifier {
	case search.ModifierExact:
		s.w(x, ".exact = ")
		s.arg(c.String.Value)
	case search.ModifierContains:
		s.w(x, ".value LIKE ")
		s.arg(likeContains(v))
		s.w(` ESCAPE '\'`)
	case search.ModifierNone:
		s.prefixRange(x+".value", v)
	default:
		return fhir.Errorf(fhir.NotSupported, "modifier :%s is not supported on %s", c.Modifier, c.Param.Code)
	}
	return nil
}

func (s *sqlQuery) tokenValue(x string, c *search.Condition) error {
	switch c.Modifier {
	case search.ModifierText:
		s.prefixRange(x+".text", c.String.Normalized)
		return nil
	case search.ModifierIn, search.ModifierNotIn:
		if len(c.ValueSet) == 0 {
			s.w("1 = 0")
			return nil
		}
		// Grouped by system: code IN (…) per system keeps the list short.
		bySystem := map[string][]string{}
		var systems []string
		for _, t := range c.ValueSet {
			if _, ok := bySystem[t.System]; !ok {
				systems = append(systems, t.System)
			}
			bySystem[t.System] = append(bySystem[t.System], t.Code)
		}
		s.w("(")
		for i, sys := range systems {
			if i > 0 {
				s.w(" OR ")
			}
			// An element of type code is indexed without its (implied) system.
			s.w("(", x, ".system IN (")
			s.arg(sys)
			s.w(", '') AND ")
			s.in(x+".code", bySystem[sys])
			s.w(")")
		}
		s.w(")")
		return nil
	case search.ModifierOfType:
		t := c.Token
		s.w(x, ".type_system = ")
		s.arg(t.System)
		s.w(" AND ", x, ".type_code = ")
		s.arg(t.Code)
		s.w(" AND ", x, ".code = ")
		s.arg(t.Value)
		return nil
	case search.ModifierNone, search.ModifierNot:
	default:
		return fhir.Errorf(fhir.NotSupported, "modifier :%s is not supported on %s", c.Modifier, c.Param.Code)
	}
	t := c.Token
	switch {
	case !t.HasSystem:
		s.w(x, ".code = ")
		s.arg(t.Code)
	case t.Code == "":
		s.w(x, ".system = ")
		s.arg(t.System)
	default:
		s.w(x, ".code = ")
		s.arg(t.Code)
		s.w(" AND ", x, ".system = ")
		s.arg(t.System)
	}
	return nil
}

func (s *sqlQuery) referenceValue(x string, c *search.Condition) error {
	r := c.Reference
	switch {
	case c.Modifier == search.ModifierIdentifier:
		t := r.Identifier
		s.w(x, ".ident_value <> '' AND ", x, ".ident_value = ")
		s.arg(t.Code)
		if t.HasSystem {
			s.w(" AND ", x, ".ident_system = ")
			s.arg(t.System)
		}
	case c.Modifier == search.ModifierAbove || c.Modifier == search.ModifierBelow:
		return fhir.Errorf(fhir.NotSupported, "modifier :%s is not supported on %s", c.Modifier, c.Param.Code)
	case r.URL != "":
		// An absolute URL or canonical, as written; a canonical without a
		// version also matches the versions stored (url|version).
		s.w(x, ".url <> '' AND (", x, ".url = ")
		if r.Version != "" {
			s.arg(r.URL + "|" + r.Version)
			s.w(")")
			return nil
		}
		s.arg(r.URL)
		s.w(" OR (")
		s.prefixRange(x+".url", r.URL+"|")
		s.w("))")
	default:
		s.w(x, ".ref_id = ")
		s.arg(r.ID)
		if r.Type != "" {
			s.w(" AND ", x, ".ref_type = ")
			s.arg(r.Type)
		}
	}
	return nil
}

// dateRange writes the comparison of a stored range [lo, hi) with the search
// range [low, high) by prefix (http://hl7.org/fhir/R4/search.html#prefix).
func (s *sqlQuery) dateRange(lo, hi string, p search.Prefix, low, high int64) {
	contained := func() {
		s.w("(", lo, " >= ")
		s.arg(low)
		s.w(" AND ", hi, " <= ")
		s.arg(high)
		s.w(")")
	}
	switch p {
	case search.PrefixEq:
		contained()
	case search.PrefixNe:
		s.w("NOT ")
		contained()
	case search.PrefixGt:
		s.w(hi, " > ")
		s.arg(high)
	case search.PrefixLt:
		s.w(lo, " < ")
		s.arg(low)
	case search.PrefixGe:
		s.w("(", hi, " > ")
		s.arg(high)
		s.w(" OR ")
		contained()
		s.w(")")
	case search.PrefixLe:
		s.w("(", lo, " < ")
		s.arg(low)
		s.w(" OR ")
		contained()
		s.w(")")
	case search.PrefixSa:
		s.w(lo, " >= ")
		s.arg(high)
	case search.PrefixEb:
		s.w(hi, " <= ")
		s.arg(low)
	case search.PrefixAp: // overlaps the widened range
		s.w("(", lo, " < ")
		s.arg(high)
		s.w(" AND ", hi, " > ")
		s.arg(low)
		s.w(")")
	}
}

// number compares a stored value with a number: eq and ne by the search
// value's implicit precision, the others by its value.
func (s *sqlQuery) number(col string, n *search.Number) {
	s.scaledNumber(col, n, 1)
}

// scaledNumber is number with the search value multiplied by f (a unit
// conversion).
func (s *sqlQuery) scaledNumber(col string, n *search.Number, f float64) {
	low, high := n.Range()
	low, high, v := low*f, high*f, n.Value*f
	cmp := func(op string, x float64) {
		s.w(col, " ", op, " ")
		s.arg(x)
	}
	switch n.Prefix {
	case search.PrefixEq, search.PrefixAp:
		s.w("(")
		cmp(">=", low)
		s.w(" AND ")
		cmp("<", high)
		s.w(")")
	case search.PrefixNe:
		s.w("(")
		cmp("<", low)
		s.w(" OR ")
		cmp(">=", high)
		s.w(")")
	case search.PrefixGt, search.PrefixSa:
		cmp(">", v)
	case search.PrefixLt, search.PrefixEb:
		cmp("<", v)
	case search.PrefixGe:
		cmp(">=", v)
	case search.PrefixLe:
		cmp("<=", v)
	}
}

// quantity matches by the canonical UCUM unit when the search names a UCUM
// (or no) system and a convertible unit, by system and code otherwise, and
// by value alone without a unit.
func (s *sqlQuery) quantity(x string, q *search.Quantity) error {
	switch {
	case q.Code == "":
		s.number(x+".value", &q.Number)
	case q.System == "" || q.System == search.UCUMSystem:
		base, f := search.CanonicalUnit(q.Code)
		s.w(x, ".canon_code = ")
		s.arg(base)
		s.w(" AND ")
		s.scaledNumber(x+".canon_value", &q.Number, f)
	default:
		s.w(x, ".system = ")
		s.arg(q.System)
		s.w(" AND ", x, ".code = ")
		s.arg(q.Code)
		s.w(" AND ")
		s.number(x+".value", &q.Number)
	}
	return nil
}

func (s *sqlQuery) uriValue(col string, c *search.Condition) error {
	v := c.URI.Value
	switch c.Modifier {
	case search.ModifierNone:
		s.w(col, " = ")
		s.arg(v)
	case search.ModifierBelow:
		s.prefixRange(col, v)
	case search.ModifierAbove:
		// The stored uri is v or one of its parents at a / boundary.
		prefixes := []string{v}
		for i := len(v) - 1; i > 0; i-- {
			if v[i] == '/' && !strings.HasSuffix(v[:i], "/") && strings.Contains(v[:i], "://") && !strings.HasSuffix(v[:i], ":/") {
				prefixes = append(prefixes, v[:i])
			}
		}
		s.in(col, prefixes)
	default:
		return fhir.Errorf(fhir.NotSupported, "modifier :%s is not supported on %s", c.Modifier, c.Param.Code)
	}
	return nil
}

// composite matches the components of one composite entry: rows of each
// component's kind with the same seq and grp.
func (s *sqlQuery) composite(h string, types []string, c *search.Condition) error {
	comps := c.Composite.Components
	kinds := make([]search.Kind, len(comps))
	aliases := make([]string, len(comps))
	for i := range comps {
		k, err := kindOf(comps[i].Param)
		if err != nil {
			return err
		}
		kinds[i], aliases[i] = k, s.newAlias("c")
	}
	s.w(h, ".seq IN (SELECT ", aliases[0], ".seq FROM ", indexTables[kinds[0]].name, " ", aliases[0])
	for i := 1; i < len(comps); i++ {
		a := aliases[i]
		s.w(" JOIN ", indexTables[kinds[i]].name, " ", a, " ON ", a, ".seq = ", aliases[0], ".seq AND ",
			a, ".grp = -", aliases[0], ".grp AND ", a, ".param = ")
		s.arg(componentParam(c.Param.Code, i))
	}
	s.w(" WHERE ", aliases[0], ".grp >= 0 AND ")
	s.typeIn(aliases[0], types)
	s.w(" AND ", aliases[0], ".param = ")
	s.arg(componentParam(c.Param.Code, 0))
	for i := range comps {
		s.w(" AND ")
		if err := s.value(aliases[i], kinds[i], &comps[i]); err != nil {
			return err
		}
	}
	s.w(")")
	return nil
}

func (s *sqlQuery) id(h string, c *search.Condition) error {
	switch c.Modifier {
	case search.ModifierNone:
		s.w(h, ".id = ")
	case search.ModifierNot:
		s.w(h, ".id <> ")
	case search.ModifierMissing:
		if c.Missing {
			s.w("1 = 0")
		} else {
			s.w("1 = 1")
		}
		return nil
	default:
		return fhir.Errorf(fhir.NotSupported, "modifier :%s is not supported on _id", c.Modifier)
	}
	s.arg(c.Token.Code)
	return nil
}

// lastUpdated compares the head's instant, a point (the range [v, v+1ms)),
// written so that each prefix is one index range on updated.
func (s *sqlQuery) lastUpdated(h string, c *search.Condition) error {
	col := h + ".updated"
	if c.Modifier == search.ModifierMissing {
		if c.Missing {
			s.w("1 = 0")
		} else {
			s.w("1 = 1")
		}
		return nil
	}
	low, high := c.Date.Range(s.now)
	one := func(op string, v int64) {
		s.w(col, " ", op, " ")
		s.arg(v)
	}
	switch c.Date.Prefix {
	case search.PrefixEq, search.PrefixAp:
		s.w("(")
		one(">=", low)
		s.w(" AND ")
		one("<", high)
		s.w(")")
	case search.PrefixNe:
		s.w("(")
		one("<", low)
		s.w(" OR ")
		one(">=", high)
		s.w(")")
	case search.PrefixLt, search.PrefixEb:
		one("<", low)
	case search.PrefixLe:
		one("<", high)
	case search.PrefixGt, search.PrefixSa:
		one(">=", high)
	case search.PrefixGe:
		one(">=", low)
	}
	return nil
}

// listMembers selects the resources a List names in its entries (_list=id).
func (s *sqlQuery) listMembers(h string, c *search.Condition) error {
	if strings.HasPrefix(c.List, "$") {
		return fhir.Errorf(fhir.NotSupported, "functional list %s is not supported", c.List)
	}
	r, l := s.newAlias("r"), s.newAlias("l")
	s.w("(", h, ".type, ", h, ".id) IN (SELECT ", r, ".ref_type, ", r, ".ref_id FROM idx_reference ", r,
		" JOIN resources ", l, " ON ", l, ".seq = ", r, ".seq WHERE ", l, ".type = 'List' AND ", l, ".id = ")
	s.arg(c.List)
	s.w(" AND NOT ", l, ".deleted AND ", r, ".grp >= 0 AND ", r, ".param = 'item')")
	return nil
}

// chain selects resources whose reference parameter points at a resource of
// the chain's type that meets the chained condition.
func (s *sqlQuery) chain(h string, types []string, c *search.Condition) error {
	r, t := s.newAlias("r"), s.newAlias("h")
	s.w(h, ".seq IN (SELECT ", r, ".seq FROM idx_reference ", r, " WHERE ", r, ".grp >= 0 AND ")
	s.typeIn(r, types)
	s.w(" AND ", r, ".param = ")
	s.arg(c.Param.Code)
	s.w(" AND ", r, ".ref_type = ")
	s.arg(c.Chain.Type)
	s.w(" AND ", r, ".ref_id IN (SELECT ", t, ".id FROM resources ", t, " WHERE ", t, ".type = ")
	s.arg(c.Chain.Type)
	s.w(" AND NOT ", t, ".deleted AND ")
	if err := s.condition(t, []string{c.Chain.Type}, &c.Chain.Condition); err != nil {
		return err
	}
	s.w("))")
	return nil
}

// has selects resources that a resource of the _has type refers to through its
// parameter, when that resource meets the inner condition.
func (s *sqlQuery) has(h string, types []string, hs *search.Has) error {
	r, t := s.newAlias("r"), s.newAlias("h")
	if len(types) == 1 {
		s.w(h, ".id IN (SELECT ", r, ".ref_id")
	} else {
		s.w("(", h, ".type, ", h, ".id) IN (SELECT ", r, ".ref_type, ", r, ".ref_id")
	}
	s.w(" FROM idx_reference ", r, " JOIN resources ", t, " ON ", t, ".seq = ", r, ".seq WHERE ", r, ".grp >= 0 AND ", r, ".type = ")
	s.arg(hs.Type)
	s.w(" AND ", r, ".param = ")
	s.arg(hs.Param.Code)
	if len(types) == 1 {
		s.w(" AND ", r, ".ref_type = ")
		s.arg(types[0])
	}
	s.w(" AND ")
	if err := s.condition(t, []string{hs.Type}, &hs.Condition); err != nil {
		return err
	}
	s.w(")")
	return nil
}

// orderBy writes the ORDER BY of q: its _sort keys, then type and id, so the
// order is total and pages never overlap. A resource without a value for a key
// sorts after those with one, in both directions.
func (s *sqlQuery) orderBy(h string, q *search.Query) error {
	s.w(" ORDER BY ")
	for _, k := range q.Sort {
		dir := ""
		if k.Descending {
			dir = " DESC"
		}
		switch k.Param.Code {
		case "_id":
			s.w(h, ".id", dir, ", ")
			continue
		case "_lastUpdated":
			s.w(h, ".updated", dir, ", ")
			continue
		}
		kind, err := kindOf(k.Param)
		if err != nil {
			return err
		}
		col, agg := sortColumn(kind, k.Descending)
		x := s.newAlias("x")
		sub := func() {
			s.w("(SELECT ", agg, "(", x, ".", col, ") FROM ", indexTables[kind].name, " ", x, " WHERE ", x, ".seq = ", h, ".seq AND ", x, ".param = ")
			s.arg(k.Param.Code)
			s.w(")")
		}
		sub()
		s.w(" IS NULL, ")
		x = s.newAlias("x")
		sub()
		s.w(dir, ", ")
	}
	s.w(h, ".type, ", h, ".id")
	return nil
}

// sortColumn is the column a kind sorts by and the aggregate that picks a
// resource's key among its values: the least ascending, the greatest
// descending (for dates, the start ascending and the end descending).
func sortColumn(k search.Kind, desc bool) (col, agg string) {
	agg = "min"
	if desc {
		agg = "max"
	}
	switch k {
	case search.KindString:
		return "value", agg
	case search.KindToken:
		return "code", agg
	case search.KindReference:
		return "ref_id", agg
	case search.KindDate:
		if desc {
			return "hi", agg
		}
		return "lo", agg
	case search.KindNumber, search.KindQuantity:
		return "value", agg
	}
	return "uri", agg
}

// Search runs q as SQL over the index tables.
func (r reader) Search(ctx context.Context, q *search.Query) (*store.SearchPage, error) {
	now := time.Now()
	page := &store.SearchPage{Total: -1}
	if q.Total == search.TotalAccurate || q.Total == search.TotalEstimate || q.Count == 0 {
		c := &sqlQuery{now: now}
		c.w("SELECT count(*) FROM resources h")
		if err := c.where("h", q.Types, q); err != nil {
			return nil, err
		}
		n, err := r.count(ctx, c.b.String(), c.args)
		if err != nil {
			return nil, fmt.Errorf("store: search %v: count: %w", q.Types, err)
		}
		page.Total = n
		if q.Count == 0 {
			return page, nil
		}
	}
	c := &sqlQuery{now: now}
	c.w("SELECT ", versionCols, headJoin)
	if err := c.where("h", q.Types, q); err != nil {
		return nil, err
	}
	if err := c.orderBy("h", q); err != nil {
		return nil, err
	}
	n := pageSize(q.Count)
	c.w(" LIMIT ")
	c.arg(n + 1)
	c.w(" OFFSET ")
	c.arg(max(q.Offset, 0))
	list, err := r.resources(ctx, c.b.String(), c.args)
	if err != nil {
		return nil, fmt.Errorf("store: search %v: %w", q.Types, err)
	}
	page.Resources = list
	if len(list) > n {
		page.Resources, page.More = list[:n], true
	}
	if page.Total < 0 && q.Total == "" && !page.More && q.Offset == 0 {
		page.Total = len(page.Resources) // known without counting
	}
	if page.Included, err = r.includes(ctx, q, page.Resources); err != nil {
		return nil, err
	}
	return page, nil
}

// includes follows q's _include and _revinclude from the matches: the plain
// ones once, the :iterate ones until they add nothing (at most maxIterate
// rounds).
func (r reader) includes(ctx context.Context, q *search.Query, matches []store.Resource) ([]store.Resource, error) {
	if len(matches) == 0 || len(q.Include)+len(q.RevInclude) == 0 {
		return nil, nil
	}
	seen := map[key]bool{}
	for _, m := range matches {
		seen[key{m.Type, m.ID}] = true
	}
	var included []store.Resource
	add := func(list []store.Resource) []store.Resource {
		var fresh []store.Resource
		for _, res := range list {
			if k := (key{res.Type, res.ID}); !seen[k] && len(included) < maxIncluded {
				seen[k] = true
				included = append(included, res)
				fresh = append(fresh, res)
			}
		}
		return fresh
	}
	round := func(from []store.Resource, iterate bool) ([]store.Resource, error) {
		var fresh []store.Resource
		for _, in := range q.Include {
			if in.Iterate != iterate {
				continue
			}
			list, err := r.include(ctx, in, from)
			if err != nil {
				return nil, err
			}
			fresh = append(fresh, add(list)...)
		}
		for _, in := range q.RevInclude {
			if in.Iterate != iterate {
				continue
			}
			list, err := r.revInclude(ctx, in, from)
			if err != nil {
				return nil, err
			}
			fresh = append(fresh, add(list)...)
		}
		return fresh, nil
	}
	fresh, err := round(matches, false)
	if err != nil {
		return nil, err
	}
	// :iterate applies to the matches and to everything included so far.
	from := append(slices.Clone(matches), fresh...)
	for i := 0; i < maxIterate && len(from) > 0 && len(included) < maxIncluded; i++ {
		if from, err = round(from, true); err != nil {
			return nil, err
		}
	}
	return included, nil
}

// include reads the resources that the from resources of in's source type
// refer to through in's parameter (any reference parameter for a wildcard).
func (r reader) include(ctx context.Context, in search.Include, from []store.Resource) ([]store.Resource, error) {
	var seqs []any
	for _, res := range from {
		if in.SourceType == "" || res.Type == in.SourceType {
			seqs = append(seqs, res.Seq)
		}
	}
	if len(seqs) == 0 {
		return nil, nil
	}
	c := &sqlQuery{}
	c.w("SELECT DISTINCT ref_type, ref_id FROM idx_reference WHERE seq IN (?", strings.Repeat(", ?", len(seqs)-1), ")")
	c.args = seqs
	if in.Param != nil {
		c.w(" AND param = ")
		c.arg(in.Param.Code)
	} else {
		c.w(" AND grp = 0") // every reference parameter, not composite components
	}
	if in.TargetType != "" {
		c.w(" AND ref_type = ")
		c.arg(in.TargetType)
	} else {
		c.w(" AND ref_type <> ''")
	}
	targets := map[string][]string{}
	err := r.query(ctx, c.b.String(), c.args, func(rows Rows) error {
		var typ, id string
		if err := rows.Scan(&typ, &id); err != nil {
			return err
		}
		targets[typ] = append(targets[typ], id)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: _include %s: %w", in.SourceType, err)
	}
	return r.heads(ctx, targets)
}

// revInclude reads the resources of in's source type that refer to one of
// from through in's parameter (any reference parameter for a wildcard).
func (r reader) revInclude(ctx context.Context, in search.Include, from []store.Resource) ([]store.Resource, error) {
	byType := map[string][]string{}
	for _, res := range from {
		byType[res.Type] = append(byType[res.Type], res.ID)
	}
	types := slices.Sorted(func(yield func(string) bool) {
		for t := range byType {
			if !yield(t) {
				return
			}
		}
	})
	var out []store.Resource
	for _, typ := range types {
		for ids := range slices.Chunk(byType[typ], rowsPerInsert) {
			c := &sqlQuery{}
			c.w("SELECT ", versionCols, headJoin, " WHERE NOT h.deleted AND h.seq IN (SELECT r.seq FROM idx_reference r WHERE r.grp >= 0 AND ")
			c.in("r.ref_id", ids)
			c.w(" AND r.ref_type = ")
			c.arg(typ)
			if in.SourceType != "" {
				c.w(" AND r.type = ")
				c.arg(in.SourceType)
			}
			if in.Param != nil {
				c.w(" AND r.param = ")
				c.arg(in.Param.Code)
			} else {
				c.w(" AND r.grp = 0")
			}
			c.w(") ORDER BY h.type, h.id LIMIT ")
			c.arg(maxIncluded)
			list, err := r.resources(ctx, c.b.String(), c.args)
			if err != nil {
				return nil, fmt.Errorf("store: _revinclude %s: %w", in.SourceType, err)
			}
			out = append(out, list...)
		}
	}
	return out, nil
}

// heads reads the current, non-deleted versions of the resources named by
// type → ids, in type and id order.
func (r reader) heads(ctx context.Context, ids map[string][]string) ([]store.Resource, error) {
	types := make([]string, 0, len(ids))
	for t := range ids {
		types = append(types, t)
	}
	slices.Sort(types)
	var out []store.Resource
	for _, typ := range types {
		for chunk := range slices.Chunk(ids[typ], rowsPerInsert) {
			c := &sqlQuery{}
			c.w("SELECT ", versionCols, headJoin, " WHERE NOT h.deleted AND h.type = ")
			c.arg(typ)
			c.w(" AND ")
			c.in("h.id", chunk)
			c.w(" ORDER BY h.id")
			list, err := r.resources(ctx, c.b.String(), c.args)
			if err != nil {
				return nil, fmt.Errorf("store: read %s: %w", typ, err)
			}
			out = append(out, list...)
		}
	}
	return out, nil
}
