package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
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

// versionJoin reaches the version row v of head h.
const versionJoin = " JOIN resource_versions v ON v.type = h.type AND v.id = h.id AND v.version = h.version"

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
	// counting makes the next driver list its rows without DISTINCT: a size
	// probe needs no exact count, and PostgreSQL would read every match to
	// make them distinct before the LIMIT.
	counting bool
	// rowKeys is Dialect.RowKeys; indexAliases are the aliases of index rows.
	rowKeys      bool
	indexAliases map[string]bool
	// seqOrder asks the next selectFrom for its matches in seq order (1
	// ascending, -1 descending), and seqSource is then the alias whose seq
	// column gives it: the driving subquery, read in that order, so that a
	// page stops reading at its end.
	seqOrder  int
	seqSource string
	streamed  bool // the driver streams from its index (streamDriver)
	// seqsOnly tells the next selectFrom that its caller selects h.seq
	// alone: when no clause needs a head, none is read.
	seqsOnly bool
	// chainSample, when above 0, makes the next chain written (chainTail)
	// follow only that many of its targets, for an estimate of its size.
	chainSample int
	// access limits the resources of chains, _has and includes (the
	// matches' own limits are among the search's clauses: withAccess).
	access *search.Access
	// perType: the matches' types have different limits (selectMatches).
	perType bool
	params  func(typ, code string) *spec.SearchParam // reader.params
}

// newQuery begins a query of r's dialect.
func (r reader) newQuery(now time.Time) *sqlQuery {
	return &sqlQuery{now: now, rowKeys: r.d.RowKeys, access: r.access, perType: r.perType, params: r.params}
}

// restriction returns the clauses every resource of typ that the query
// reads must meet, or a Forbidden error when the caller may not read the
// type at all.
func (s *sqlQuery) restriction(typ string) ([]search.Clause, error) {
	clauses, ok := s.access.For(typ)
	if !ok {
		return nil, fhir.Errorf(fhir.Forbidden, "this search reads %s resources, which you may not read", typ)
	}
	return clauses, nil
}

// restrictedProbe writes " AND " and a test of head h, of type typ, against
// each of the type's access clauses.
func (s *sqlQuery) restrictedProbe(h, typ string) error {
	clauses, err := s.restriction(typ)
	if err != nil {
		return err
	}
	for _, c := range clauses {
		s.w(" AND ")
		if err := s.probe(h, []string{typ}, c); err != nil {
			return err
		}
	}
	return nil
}

// withAccess returns q with the access clauses of its types added to its
// own, so that the planner may drive by them (a resident's own records are
// few), and the types of a system search narrowed to the readable ones.
// When the types searched have different limits, the limits cannot join the
// clauses: perType is then true and the matches are tested against the
// limits of their own type (selectMatches).
func withAccess(q *search.Query) (out *search.Query, perType bool, err error) {
	a := q.Access
	if a == nil {
		return q, false, nil
	}
	types := q.Types
	if len(types) == 0 && !a.Others {
		types = slices.Sorted(maps.Keys(a.Types))
		if len(types) == 0 {
			return nil, false, fhir.Errorf(fhir.Forbidden, "you may not search any resource type")
		}
	}
	for _, t := range types {
		if _, readable := a.For(t); !readable {
			return nil, false, fhir.Errorf(fhir.Forbidden, "you may not search %s resources", t)
		}
	}
	common, uniform := a.Default, true
	if len(types) > 0 {
		common, _ = a.For(types[0])
		for _, t := range types[1:] {
			c, _ := a.For(t)
			uniform = uniform && sameClauses(c, common)
		}
	} else {
		for _, c := range a.Types {
			uniform = uniform && sameClauses(c, a.Default)
		}
	}
	o := *q
	o.Types = types
	if !uniform {
		return &o, true, nil
	}
	o.Clauses = append(slices.Clone(q.Clauses), common...)
	slices.SortStableFunc(o.Clauses, func(x, y search.Clause) int { return strings.Compare(x.Key(), y.Key()) })
	return &o, false, nil
}

// selectMatches writes the FROM and WHERE of a search's matches: selectFrom
// over its types and clauses, then, when its types have different access
// limits, a test of each match against the limits of its type.
func (s *sqlQuery) selectMatches(q *search.Query, join string, sizes []int) error {
	if err := s.selectFrom("h", q.Types, q.Clauses, q.Compartment, join, sizes); err != nil {
		return err
	}
	if !s.perType {
		return nil
	}
	a := q.Access
	listed := q.Types
	if len(listed) == 0 {
		listed = slices.Sorted(maps.Keys(a.Types))
	}
	s.w(" AND (")
	for i, t := range listed {
		if i > 0 {
			s.w(" OR ")
		}
		s.w("(h.type = ")
		s.name(t)
		if err := s.restrictedProbe("h", t); err != nil {
			return err
		}
		s.w(")")
	}
	if len(q.Types) == 0 && a.Others {
		if len(listed) > 0 {
			s.w(" OR (NOT ")
			s.names("h.type", listed)
		} else {
			s.w("(1 = 1")
		}
		for _, c := range a.Default {
			s.w(" AND ")
			if err := s.probe("h", nil, c); err != nil {
				return err
			}
		}
		s.w(")")
	}
	s.w(")")
	return nil
}

func sameClauses(a, b []search.Clause) bool {
	return slices.EqualFunc(a, b, func(x, y search.Clause) bool { return x.String() == y.String() })
}

// indexAlias returns a new alias for a row of an index table.
func (s *sqlQuery) indexAlias(prefix string) string {
	a := s.newAlias(prefix)
	if s.indexAliases == nil {
		s.indexAliases = map[string]bool{}
	}
	s.indexAliases[a] = true
	return a
}

// seqOf is the seq of alias a: a head, or an index row.
func (s *sqlQuery) seqOf(a string) string {
	if s.rowKeys && s.indexAliases[a] {
		return "(" + a + ".k >> " + strconv.Itoa(rowKeyBits) + ")"
	}
	return a + ".seq"
}

// rowsOf writes the test that index row x belongs to the resource stored as
// seq, an SQL expression.
func (s *sqlQuery) rowsOf(x, seq string) {
	if !s.rowKeys {
		s.w(x, ".seq = ", seq)
		return
	}
	b := strconv.Itoa(rowKeyBits)
	s.w(x, ".k >= (", seq, " << ", b, ") AND ", x, ".k < ((", seq, " + 1) << ", b, ")")
}

// rowsOfSeqs writes the test that index row x (no alias when "") belongs to
// one of the resources stored as seqs.
func (s *sqlQuery) rowsOfSeqs(x string, seqs []int64) {
	if x != "" {
		x += "."
	}
	if !s.rowKeys {
		s.w(x, "seq IN (")
		for i, q := range seqs {
			if i > 0 {
				s.w(", ")
			}
			s.arg(q)
		}
		s.w(")")
		return
	}
	s.w("(")
	for i, q := range seqs {
		if i > 0 {
			s.w(" OR ")
		}
		s.w(x, "k >= ")
		s.arg(q << rowKeyBits)
		s.w(" AND ", x, "k < ")
		s.arg((q + 1) << rowKeyBits)
	}
	s.w(")")
}

// selectSeqs begins a driver's SELECT (see counting).
func (s *sqlQuery) selectSeqs() string {
	if s.counting {
		s.counting = false
		return "SELECT "
	}
	return "SELECT DISTINCT "
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

// name writes a resource type or parameter code as a literal, not a
// placeholder: they decide which rows a statement reads, and a plan made
// without the values (a generic plan PostgreSQL may choose for a prepared
// statement it ran five times) then still knows them.
// Types and codes are checked against the definitions before they get here;
// quoting makes any text safe all the same.
func (s *sqlQuery) name(v string) {
	s.b.WriteString("'" + strings.ReplaceAll(v, "'", "''") + "'")
}

// newAlias names a table or subquery alias unique within the statement.
func (s *sqlQuery) newAlias(prefix string) string {
	s.alias++
	return fmt.Sprintf("%s%d", prefix, s.alias)
}

// in writes "col = ?" or "col IN (?, …)".
func (s *sqlQuery) in(col string, vals []string) {
	s.oneOf(col, vals, func(v string) { s.arg(v) })
}

// names writes "col = 'a'" or "col IN ('a', …)" for type or parameter names.
func (s *sqlQuery) names(col string, vals []string) {
	s.oneOf(col, vals, s.name)
}

// oneOf writes "col = v" or "col IN (v, …)", each v written by write.
func (s *sqlQuery) oneOf(col string, vals []string, write func(string)) {
	if len(vals) == 1 {
		s.w(col, " = ")
		write(vals[0])
		return
	}
	s.w(col, " IN (")
	for i, v := range vals {
		if i > 0 {
			s.w(", ")
		}
		write(v)
	}
	s.w(")")
}

// A search is written as SQL in one shape on both engines. The clause that
// narrows it most (a reference, an identifier, a code …) drives it: a
// subquery reads the matching seqs straight from its value index, and only
// those heads are read (CROSS JOIN keeps SQLite from starting elsewhere).
// Every other clause probes each of those heads through the (seq, param)
// index (EXISTS … WHERE x.seq = h.seq). Without a selective clause the heads
// of the type are scanned in (type, id) order and probed, which stops at the
// page's end when matches are common.

// Ranks of how far a clause narrows a search, lower is narrower; a clause of
// rank noDriver never drives.
const (
	rankReference = 1 // a reference, identifier or chain: a few resources
	rankCode      = 2 // a code, uri or exact string
	rankRange     = 3 // a prefix, a composite, an equal date or number
	rankWide      = 4 // a value set
	noDriver      = 9 // open ranges, dates but equal ones, :missing, :not, :contains, :text, _lastUpdated, _list
)

// selectFrom writes " FROM … WHERE …" over the current heads h of types (all
// when nil) that meet every clause and lie in comp (when not nil). join is
// written right after h, to reach the version row.
//
// sizes, when not nil, are the counted matches of the clauses (capped at
// sizeCap; -1 where not counted): among clauses that could drive, the one
// with the fewest matches does, a clause not counted being taken at the size
// typical of its rank.
//
// A driver's seqs come from index rows, which exist for live heads only (a
// write drops the rows of the head it replaces or deletes): the heads it
// reaches need no test of deleted, and SQLite reads their ids from the
// (seq) index without the head row.
func (s *sqlQuery) selectFrom(h string, types []string, clauses []search.Clause, comp *search.Compartment, join string, sizes []int) error {
	order := s.seqOrder
	s.seqOrder = 0 // not for the selects of chains and _has within
	seqsOnly := s.seqsOnly
	s.seqsOnly = false
	drive, best, bestSize := -1, noDriver, 1<<31
	// bySeq is where probes that need only a seq read it: the driver's row
	// once there is one, so that they run before its head is read.
	bySeq := h
	streamed := false // the driver is a streamDriver
	if comp != nil {
		best, bestSize = rankReference, typicalSize(rankReference)
	}
	byID := false
	for i, c := range clauses {
		if len(c.Conditions) > 0 && c.Conditions[0].Param != nil && c.Conditions[0].Param.Code == "_id" && c.Conditions[0].Modifier == search.ModifierNone {
			byID = true // the primary key is the best way in
		}
		r := clauseRank(c, types)
		if r == noDriver {
			continue
		}
		size := typicalSize(r)
		if sizes != nil && sizes[i] >= 0 {
			size = sizes[i]
		}
		if size < bestSize || size == bestSize && r < best {
			drive, best, bestSize = i, r, size
		}
	}
	// When every counted candidate is large, none narrows the search much
	// alone: their intersection drives, each read once from its index
	// instead of probing the others for every match of one. Not for a page
	// in seq order: its driver streams, and probing stops at the page's end.
	var together []int
	if sizes != nil && bestSize >= sizeCap && drive >= 0 && !byID && order == 0 {
		for i := range clauses {
			if sizes[i] >= sizeCap {
				together = append(together, i)
			}
		}
		if len(together) < 2 {
			together = nil
		}
	}
	// A chain through the patient that drives takes a code along (see
	// patientCodes): paired is that code's clause.
	paired := -1
	if drive >= 0 && together == nil && !byID && len(types) == 1 && s.chainByPatient(types[0], clauses[drive]) {
		paired = slices.IndexFunc(clauses, codeByPatient)
	}
	switch {
	case byID || best == noDriver:
		s.w(" FROM resources ", h, join, " WHERE NOT ", h, ".deleted")
		drive = -1
		if order != 0 {
			s.seqSource = h
		}
	default:
		d := s.newAlias("d")
		s.w(" FROM (")
		if order != 0 && together == nil && drive >= 0 && s.rowKeys && streams(clauses[drive]) {
			if err := s.streamDriver(types, clauses[drive], order); err != nil {
				return err
			}
			s.seqSource, s.streamed, bySeq, streamed = d, true, d, true
			s.w(") ", d, " CROSS JOIN resources ", h, join, " WHERE ", h, ".seq = ", d, ".seq")
			break
		}
		if order != 0 {
			// Grouped and ordered outside the driver, its rows come out in seq
			// order and both engines read them as the outer loop without
			// sorting again (SQLite drops an ORDER BY next to DISTINCT). The
			// grouping makes them distinct: the driver need not.
			s.w("SELECT seq FROM (")
			s.counting = true
		}
		var err error
		switch {
		case together != nil:
			for j, i := range together {
				if j > 0 {
					s.w(" INTERSECT ")
				}
				if err = s.driver(types, clauses[i]); err != nil {
					return err
				}
			}
		case drive < 0:
			s.compartmentSeqs(comp)
		case paired >= 0:
			chain := clauses[drive]
			err = s.patientCodes(types, clauses[paired], chain.Conditions[0].Param.Code, func() error { return s.chainTargets(chain) }, nil)
		default:
			err = s.driver(types, clauses[drive])
		}
		s.counting = false
		if err != nil {
			return err
		}
		if order != 0 {
			s.w(") g GROUP BY seq ORDER BY seq", dir(order < 0, false))
			s.seqSource = d
		}
		bySeq = d
		if seqsOnly && order == 0 && join == "" && comp == nil && !byID && s.seqProbesOnly(clauses, drive, together) {
			// The caller needs the seqs alone, and every other clause probes
			// by seq: the driver's rows are the matches, no head is read.
			s.w(") ", h, " WHERE 1 = 1")
			for i, c := range clauses {
				if i == drive || i == paired || slices.Contains(together, i) {
					continue
				}
				s.w(" AND ")
				if err := s.probe(h, types, c); err != nil {
					return err
				}
			}
			return nil
		}
		s.w(") ", d, " CROSS JOIN resources ", h, join, " WHERE ", h, ".seq = ", d, ".seq")
	}
	if len(types) > 0 {
		s.w(" AND ")
		s.names(h+".type", types)
	}
	if comp != nil && (drive >= 0 || byID || best == noDriver) {
		s.w(" AND ")
		s.compartmentProbe(bySeq, comp)
	}
	for i, c := range clauses {
		if i == drive && !byID || i == paired || slices.Contains(together, i) {
			continue
		}
		s.w(" AND ")
		at := h
		if probesBySeq(c) {
			at = bySeq
		}
		if err := s.probe(at, types, c); err != nil {
			return err
		}
	}
	if streamed {
		s.w(" AND ")
		return s.firstRow(bySeq, clauses[drive])
	}
	return nil
}

// sizeCap bounds the counting of a clause's matches that chooses the driver:
// beyond it a clause is simply large.
const sizeCap = 1000

// typicalSize is the number of matches taken for a clause of a rank that
// was not counted (a compartment, or a search with one candidate).
func typicalSize(rank int) int {
	switch rank {
	case rankReference:
		return 50
	case rankCode:
		return 500
	case rankRange:
		return sizeCap
	}
	return 4 * sizeCap
}

// clauseSizes counts the resources matching each clause of q that could
// drive it, when there are two or more such candidates: the counts choose
// the driver. Each is counted up to sizeCap, and further where a page in
// write order needs to know the smallest. -1 marks the others.
func (r reader) clauseSizes(ctx context.Context, q *search.Query, now time.Time) ([]int, error) {
	sizes := make([]int, len(q.Clauses))
	candidates := 0
	for i, c := range q.Clauses {
		sizes[i] = -1
		if clauseRank(c, q.Types) < noDriver {
			sizes[i] = 0
			candidates++
		}
	}
	if candidates+btoi(q.Compartment != nil) < 2 {
		return nil, nil
	}
	// Counted together, in one statement: values and _has, then the
	// targets of chains, then the chains, then refineSizes.
	var first, chains []int
	var counts []sizeCount
	for i, c := range q.Clauses {
		switch {
		case sizes[i] < 0:
		case c.Conditions[0].Chain != nil:
			chains = append(chains, i)
		case c.Conditions[0].Has != nil:
			// A _has reads every resource referring here that meets its
			// inner values before it can count them. Those are counted
			// instead: when they are few (a rare diagnosis), so are the
			// resources they refer to, and the _has may drive. Otherwise it
			// is not counted, and so neither joins an intersection.
			sizes[i] = -1
			has := c.Conditions[0].Has
			inner := innerClause(c, func(c *search.Condition) search.Condition { return c.Has.Condition })
			if clauseRank(inner, []string{has.Type}) < noDriver {
				first = append(first, i)
				counts = append(counts, sizeCount{[]string{has.Type}, inner, sizeCap, 0})
			}
		default:
			first = append(first, i)
			counts = append(counts, sizeCount{q.Types, c, sizeCap, 0})
		}
	}
	ns, err := r.countClauses(ctx, now, counts)
	if err != nil {
		return nil, err
	}
	known := refinedCap + 1 // the smallest count known exactly
	var open []int          // values whose count reached the cap
	for j, i := range first {
		n := ns[j]
		switch {
		case n < sizeCap:
			sizes[i], known = n, min(known, n)
		case q.Clauses[i].Conditions[0].Has == nil:
			sizes[i] = n
			open = append(open, i)
		}
	}
	// A page in write order is driven by the smallest clause, whose seqs it
	// sorts (王 and 一诺: 9,469 and 1,527 matches): it is counted exactly,
	// and no clause beyond it. Other pages count up to sizeCap.
	bound := refinedCap
	if len(q.Sort) > 0 {
		bound = sizeCap
	}
	if err := r.chainSizes(ctx, q, now, sizes, chains, min(known, bound)+1); err != nil {
		return nil, err
	}
	for _, i := range chains {
		if sizes[i] <= min(known, bound) {
			known = sizes[i]
		}
	}
	if len(q.Sort) == 0 {
		if err := r.refineSizes(ctx, q, now, sizes, open, known); err != nil {
			return nil, err
		}
	}
	return sizes, nil
}

// chainSizes sizes the chains of q at chains, up to limit. Sizing a chain
// reads all its targets first: one with many (the 56,606 residents a town's
// health centre manages, not the 1,800 of a village clinic) is not sized
// but taken as large. It would read every reference to every target before
// its first seq, too: among large clauses, a value index drives better. One
// with few is counted up to one more than the smallest count known (as
// large, it loses to that clause); with more than chainSample targets, only
// the references of chainSample of them are counted and the count scaled to
// all: the village clinic's 9,038 results took 15 ms to count, as long as
// the page they drive.
func (r reader) chainSizes(ctx context.Context, q *search.Query, now time.Time, sizes []int, chains []int, limit int) error {
	if len(chains) == 0 {
		return nil
	}
	counts := make([]sizeCount, len(chains))
	for j, i := range chains {
		c := q.Clauses[i]
		inner := innerClause(c, func(c *search.Condition) search.Condition { return c.Chain.Condition })
		counts[j] = sizeCount{[]string{c.Conditions[0].Chain.Type}, inner, chainTargetCap, 0}
	}
	targets, err := r.countClauses(ctx, now, counts)
	if err != nil {
		return err
	}
	var few, scale []int
	counts = counts[:0]
	for j, i := range chains {
		sizes[i] = refinedCap + 1 // as large as the others, and slower to read
		if n := targets[j]; n < chainTargetCap {
			few = append(few, i)
			sample := 0
			if n > chainSample {
				sample = chainSample
			}
			scale = append(scale, n)
			counts = append(counts, sizeCount{q.Types, q.Clauses[i], limit, sample})
		}
	}
	ns, err := r.countClauses(ctx, now, counts)
	if err != nil {
		return err
	}
	for j, i := range few {
		n := ns[j]
		if counts[j].sample > 0 {
			n = int(int64(n) * int64(scale[j]) / chainSample)
		}
		if n <= refinedCap {
			sizes[i] = n
		}
	}
	return nil
}

// chainSample is the number of targets whose references estimate the size
// of a chain with more targets.
const chainSample = 100

// refineSizes counts further the clauses open, which reached sizeCap, for a
// page in write order, in one round: up to the smallest count known exactly
// (no clause beyond it can drive), or else up to refineLimit, which tells a
// clause of a few thousand matches from one of many (given name 浩, 2,619,
// from family name 李, 7,000) without reading all of the larger. A count that
// reaches its limit leaves the limit as its size.
func (r reader) refineSizes(ctx context.Context, q *search.Query, now time.Time, sizes []int, open []int, known int) error {
	limit := refineLimit
	if known <= refinedCap {
		limit = known
	} else if len(open) < 2 {
		return nil // the one clause left is the smallest
	}
	if limit <= sizeCap || len(open) == 0 {
		return nil
	}
	counts := make([]sizeCount, len(open))
	for j, i := range open {
		counts[j] = sizeCount{q.Types, q.Clauses[i], limit, 0}
	}
	ns, err := r.countClauses(ctx, now, counts)
	if err != nil {
		return err
	}
	for j, i := range open {
		sizes[i] = ns[j]
	}
	return nil
}

// refineLimit bounds the second count of clauses that reached sizeCap when no
// smaller count is known.
const refineLimit = 4 * sizeCap

// refinedCap bounds the further counting of clauses that reached sizeCap.
const refinedCap = 20000

// chainTargetCap bounds the counting of a chain's targets, beyond which the
// chain is not counted further.
const chainTargetCap = 4 * sizeCap

// sizeCount asks for the number of resources of types matching c, up to
// limit; for a chain, of those referring to its first sample targets when
// sample is above 0.
type sizeCount struct {
	types  []string
	c      search.Clause
	limit  int
	sample int
}

// countClauses answers counts in one statement: a round trip and a
// statement's preparation for all.
func (r reader) countClauses(ctx context.Context, now time.Time, counts []sizeCount) ([]int, error) {
	if len(counts) == 0 {
		return nil, nil
	}
	sq := r.newQuery(now)
	sq.w("SELECT ")
	for j, n := range counts {
		if j > 0 {
			sq.w(", ")
		}
		sq.counting = true
		sq.chainSample = n.sample
		sq.w("(SELECT count(*) FROM (")
		if err := sq.driver(n.types, n.c); err != nil {
			return nil, err
		}
		sq.w(" LIMIT ")
		sq.arg(n.limit)
		sq.w(") ", sq.newAlias("n"), ")")
	}
	ns := make([]int, len(counts))
	ptrs := make([]any, len(counts))
	for j := range ns {
		ptrs[j] = &ns[j]
	}
	err := r.query(ctx, sq.b.String(), sq.args, func(rows Rows) error { return rows.Scan(ptrs...) })
	if err != nil {
		keys := make([]string, len(counts))
		for j, n := range counts {
			keys[j] = n.c.Key()
		}
		return nil, fmt.Errorf("store: search: sizes of %s: %w", strings.Join(keys, ", "), err)
	}
	return ns, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// clauseRank tells how well a clause could drive a search over types.
func clauseRank(c search.Clause, types []string) int {
	rank := 0
	for i := range c.Conditions {
		rank = max(rank, conditionRank(&c.Conditions[i], types))
	}
	return rank
}

func conditionRank(c *search.Condition, types []string) int {
	switch {
	case c.Has != nil:
		// Which resources refer here is often many (every patient with a
		// common diagnosis): it drives only when nothing narrower does.
		if len(types) != 1 {
			return noDriver
		}
		return rankWide
	case c.Chain != nil:
		return rankReference
	case c.Param == nil || onResources(c.Param.Code) || c.Param.Code == "_list":
		return noDriver
	}
	switch c.Modifier {
	case search.ModifierMissing, search.ModifierNot, search.ModifierNotIn, search.ModifierContains, search.ModifierText:
		return noDriver
	case search.ModifierIn:
		return rankWide
	case search.ModifierOfType, search.ModifierIdentifier, search.ModifierType:
		return rankReference
	}
	switch c.Param.Type {
	case "reference":
		return rankReference
	case "token":
		switch {
		case c.Token.Code == "":
			return noDriver // system| alone: a whole code system
		case c.Param.Code == "identifier":
			return rankReference
		}
		return rankCode
	case "uri":
		if c.Modifier == search.ModifierNone {
			return rankCode
		}
		return rankRange
	case "string":
		if c.Modifier == search.ModifierExact {
			return rankCode
		}
		return rankRange
	case "composite":
		return rankRange
	case "date":
		// An equal date bounds lo on both sides (idx_date_lo); the others are
		// open on lo.
		if c.Date.Prefix == search.PrefixEq {
			return rankRange
		}
	case "number":
		if c.Number.Prefix == search.PrefixEq || c.Number.Prefix == search.PrefixAp {
			return rankRange
		}
	case "quantity":
		if c.Quantity.Prefix == search.PrefixEq || c.Quantity.Prefix == search.PrefixAp {
			return rankRange
		}
	}
	return noDriver
}

// driver writes a SELECT of the seqs of the resources of types that meet c,
// each once.
func (s *sqlQuery) driver(types []string, c search.Clause) error {
	first := &c.Conditions[0]
	switch {
	case first.Has != nil:
		h := s.newAlias("h")
		s.w("SELECT ", h, ".seq AS seq FROM resources ", h, " WHERE NOT ", h, ".deleted AND ", h, ".type = ")
		s.name(types[0])
		s.w(" AND ", h, ".id IN (")
		if err := s.hasIDs(types, c); err != nil {
			return err
		}
		s.w(")")
		return nil
	case first.Chain != nil:
		r := s.indexAlias("r")
		s.w(s.selectSeqs(), s.seqOf(r), " AS seq FROM idx_reference ", r, " WHERE ", r, ".grp >= 0 AND ")
		s.typeIn(r, types)
		if err := s.chainTail(r, c); err != nil {
			return err
		}
		return nil
	case first.Param.Type == "composite":
		return s.composite("", types, c)
	}
	kind, err := kindOf(first.Param)
	if err != nil {
		return err
	}
	x := s.indexAlias("x")
	s.w(s.selectSeqs(), s.seqOf(x), " AS seq")
	return s.valueRows(x, kind, types, c)
}

// valueRows writes " FROM … WHERE …" over the rows x of c's index table
// that hold one of its values for resources of types.
func (s *sqlQuery) valueRows(x string, kind search.Kind, types []string, c search.Clause) error {
	s.w(" FROM ", indexTables[kind].name, " ", x, " WHERE ", x, ".grp >= 0 AND ")
	s.typeIn(x, types)
	s.w(" AND ", x, ".param = ")
	s.name(c.Conditions[0].Param.Code)
	return s.values(x, kind, c)
}

// streams tells whether c's matches can be read from its value index in
// seq order (Dialect.RowKeys): one value, equal on every indexed column, so
// that the index lists them by rowid.
func streams(c search.Clause) bool {
	if len(c.Conditions) != 1 {
		return false
	}
	first := &c.Conditions[0]
	if first.Chain != nil || first.Has != nil || first.Param == nil || first.Modifier != search.ModifierNone {
		return false
	}
	switch first.Param.Type {
	case "token":
		return first.Token.Code != ""
	case "reference", "uri":
		return true
	}
	return false
}

// streamDriver writes a driver of c (see streams) that lists the seqs in
// order (descending when order < 0) straight from the value index, without
// sorting them, as many times as a resource has matching rows (firstRow
// keeps one).
func (s *sqlQuery) streamDriver(types []string, c search.Clause, order int) error {
	kind, err := kindOf(c.Conditions[0].Param)
	if err != nil {
		return err
	}
	x := s.indexAlias("x")
	s.w("SELECT ", s.seqOf(x), " AS seq, ", x, ".k AS ord")
	if err := s.valueRows(x, kind, types, c); err != nil {
		return err
	}
	s.w(" ORDER BY ", x, ".k", dir(order < 0, false))
	return nil
}

// firstRow writes the test that the row d of a streamed driver of c is the
// first of its resource's rows that match c, so that the resource is listed
// once. It goes after the probes: only rows that pass them pay for it.
func (s *sqlQuery) firstRow(d string, c search.Clause) error {
	first := &c.Conditions[0]
	kind, err := kindOf(first.Param)
	if err != nil {
		return err
	}
	table := indexTables[kind].name
	y := s.indexAlias("y")
	s.w("NOT EXISTS (SELECT 1 FROM ", table, " ", y, " WHERE ", y, ".k >= (", d, ".seq << ",
		strconv.Itoa(rowKeyBits), ") AND ", y, ".k < ", d, ".ord AND ", y, ".grp >= 0 AND ", y, ".param = ")
	s.name(first.Param.Code)
	if err := s.values(y, kind, c); err != nil {
		return err
	}
	s.w(")")
	return nil
}

// values writes " AND (v1 OR v2 …)" for a clause's values on index row x.
func (s *sqlQuery) values(x string, kind search.Kind, c search.Clause) error {
	s.w(" AND (")
	for i := range c.Conditions {
		if i > 0 {
			s.w(" OR ")
		}
		if err := s.value(x, kind, &c.Conditions[i]); err != nil {
			return err
		}
	}
	s.w(")")
	return nil
}

// probe writes a test of head h against clause c.
func (s *sqlQuery) probe(h string, types []string, c search.Clause) error {
	first := &c.Conditions[0]
	switch {
	case first.None != nil:
		// NOT (c1 AND c2 …), for each condition, ORed.
		s.w("(")
		for i := range c.Conditions {
			if i > 0 {
				s.w(" OR ")
			}
			s.w("NOT (")
			for j, inner := range c.Conditions[i].None {
				if j > 0 {
					s.w(" AND ")
				}
				if err := s.probe(h, types, inner); err != nil {
					return err
				}
			}
			s.w(")")
		}
		s.w(")")
		return nil
	case first.Has != nil:
		// From h's id to the resources referring to it (the target index),
		// each probed for the inner values.
		hs := first.Has
		inner := innerClause(c, func(c *search.Condition) search.Condition { return c.Has.Condition })
		limits, err := s.restriction(hs.Type)
		if err != nil {
			return err
		}
		if len(c.Conditions) == 1 && slices.Equal(types, []string{"Patient"}) && s.byPatient(hs.Type, hs.Param) &&
			codeByPatient(inner) && !slices.ContainsFunc(limits, func(c search.Clause) bool { return !probesBySeq(c) }) {
			// The patient's rows of the code, one seek (see patientCodes).
			s.w("EXISTS (")
			err := s.patientCodes([]string{hs.Type}, inner, hs.Param.Code, func() error {
				s.w("(", h, ".id)")
				return nil
			}, limits)
			s.w(")")
			return err
		}
		r, t := s.indexAlias("r"), s.newAlias("h")
		s.w("EXISTS (SELECT 1 FROM idx_reference ", r)
		if probesBySeq(inner) && !slices.ContainsFunc(limits, func(c search.Clause) bool { return !probesBySeq(c) }) {
			t = r // the referring resource's rows are found by its seq alone
		} else {
			s.w(" JOIN resources ", t, " ON ", t, ".seq = ", s.seqOf(r))
		}
		s.w(" WHERE ", r, ".grp >= 0 AND ", r, ".ref_id = ", h, ".id AND ", r, ".ref_type = ", h, ".type AND ", r, ".type = ")
		s.name(hs.Type)
		s.w(" AND ", r, ".param = ")
		s.name(hs.Param.Code)
		s.w(" AND ")
		if err := s.probe(t, []string{hs.Type}, inner); err != nil {
			return err
		}
		if err := s.restrictedProbe(t, hs.Type); err != nil {
			return err
		}
		s.w(")")
		return nil
	case first.Chain != nil:
		// From h's reference to its target, probed for the chained values.
		// CROSS JOIN keeps SQLite from starting at the targets (it scanned
		// every Organization of a two-level chain and indexed their
		// references anew for each probe).
		r, t := s.indexAlias("r"), s.newAlias("h")
		s.w("EXISTS (SELECT 1 FROM idx_reference ", r, " CROSS JOIN resources ", t, " WHERE ")
		s.rowsOf(r, s.seqOf(h))
		s.w(" AND ", t, ".type = ", r, ".ref_type AND ", t, ".id = ", r, ".ref_id AND ", r, ".param = ")
		s.name(first.Param.Code)
		s.w(" AND ", r, ".ref_type = ")
		s.name(first.Chain.Type)
		s.w(" AND NOT ", t, ".deleted AND ")
		if err := s.probe(t, []string{first.Chain.Type}, innerClause(c, func(c *search.Condition) search.Condition { return c.Chain.Condition })); err != nil {
			return err
		}
		if err := s.restrictedProbe(t, first.Chain.Type); err != nil {
			return err
		}
		s.w(")")
		return nil
	}
	switch first.Param.Code {
	case "_id", "_lastUpdated", "_list":
		s.w("(")
		for i := range c.Conditions {
			if i > 0 {
				s.w(" OR ")
			}
			var err error
			switch first.Param.Code {
			case "_id":
				err = s.id(h, &c.Conditions[i])
			case "_lastUpdated":
				err = s.lastUpdated(h, &c.Conditions[i])
			default:
				err = s.listMembers(h, &c.Conditions[i])
			}
			if err != nil {
				return err
			}
		}
		s.w(")")
		return nil
	}
	if first.Param.Type == "composite" {
		s.w("EXISTS (")
		if err := s.composite(h, types, c); err != nil {
			return err
		}
		s.w(")")
		return nil
	}
	kind, err := kindOf(first.Param)
	if err != nil {
		return err
	}
	if first.Modifier == search.ModifierMissing {
		// A clause of :missing has one value that counts (true or false).
		missing := first.Missing
		for _, c := range c.Conditions[1:] {
			if c.Missing != missing {
				s.w("1 = 1") // missing=true,false: every resource
				return nil
			}
		}
		if missing {
			s.w("NOT ")
		}
		x := s.indexAlias("x")
		s.w("EXISTS (SELECT 1 FROM ", indexTables[kind].name, " ", x, " WHERE ")
		s.rowsOf(x, s.seqOf(h))
		s.w(" AND ", x, ".param = ")
		s.name(first.Param.Code)
		s.w(")")
		return nil
	}
	if first.Modifier == search.ModifierNot || first.Modifier == search.ModifierNotIn {
		// :not matches resources with no matching value, including those with
		// no value at all (http://hl7.org/fhir/R4/search.html#modifiers).
		s.w("NOT ")
	}
	x := s.indexAlias("x")
	s.w("EXISTS (SELECT 1 FROM ", indexTables[kind].name, " ", x, " WHERE ")
	s.rowsOf(x, s.seqOf(h))
	s.w(" AND ", x, ".param = ")
	s.name(first.Param.Code)
	if err := s.values(x, kind, c); err != nil {
		return err
	}
	s.w(")")
	return nil
}

// compartmentSeqs writes a SELECT of the seqs of the resources in comp.
func (s *sqlQuery) compartmentSeqs(c *search.Compartment) {
	r := s.indexAlias("r")
	s.w("SELECT DISTINCT ", s.seqOf(r), " AS seq FROM idx_reference ", r, " WHERE ", r, ".grp >= 0 AND ", r, ".ref_id = ")
	s.arg(c.ID)
	s.w(" AND ", r, ".ref_type = ")
	s.name(c.Code)
	s.compartmentParams(r, c)
}

// compartmentProbe tests whether head h is in comp.
func (s *sqlQuery) compartmentProbe(h string, c *search.Compartment) {
	r := s.indexAlias("r")
	s.w("EXISTS (SELECT 1 FROM idx_reference ", r, " WHERE ")
	s.rowsOf(r, s.seqOf(h))
	s.w(" AND ", r, ".ref_id = ")
	s.arg(c.ID)
	s.w(" AND ", r, ".ref_type = ")
	s.name(c.Code)
	s.compartmentParams(r, c)
	s.w(")")
}

// compartmentParams writes " AND (…)": the reference parameters that put each
// type in the compartment. The owner itself is not in its compartment here;
// $everything adds it.
func (s *sqlQuery) compartmentParams(r string, c *search.Compartment) {
	types := make([]string, 0, len(c.Params))
	for t := range c.Params {
		types = append(types, t)
	}
	slices.Sort(types)
	s.w(" AND (")
	if len(types) == 0 {
		s.w("1 = 0")
	}
	for i, t := range types {
		if i > 0 {
			s.w(" OR ")
		}
		s.w("(", r, ".type = ")
		s.name(t)
		s.w(" AND ")
		s.names(r+".param", c.Params[t])
		s.w(")")
	}
	s.w(")")
}

// typeIn writes the resource type restriction of an index alias.
func (s *sqlQuery) typeIn(x string, types []string) {
	if len(types) == 0 {
		s.w("1 = 1")
		return
	}
	s.names(x+".type", types)
}

func kindOf(sp *spec.SearchParam) (search.Kind, error) {
	if k := search.KindOf(sp.Type); k != 0 && k != search.KindComposite {
		return k, nil
	}
	return 0, fhir.Errorf(fhir.NotSupported, "search parameters of type %s are not supported here", sp.Type)
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
		s.arg(search.FoldToken(t.Value))
		return nil
	case search.ModifierNone, search.ModifierNot:
	default:
		return fhir.Errorf(fhir.NotSupported, "modifier :%s is not supported on %s", c.Modifier, c.Param.Code)
	}
	t := c.Token
	if t.HasSystem && t.Code == "" {
		s.w(x, ".system = ")
		s.arg(t.System)
		return nil
	}
	// Codes match as written; values of type string (identifiers, telecoms)
	// are indexed folded, so the folded value finds them too.
	if folded := search.FoldToken(t.Code); folded != t.Code {
		s.in(x+".code", []string{t.Code, folded})
	} else {
		s.w(x, ".code = ")
		s.arg(t.Code)
	}
	if t.HasSystem {
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
	// Contained in [low, high): lo < high follows from lo < hi <= high and
	// bounds the index range on lo from above.
	contained := func() {
		s.w("(", lo, " >= ")
		s.arg(low)
		s.w(" AND ", lo, " < ")
		s.arg(high)
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

// composite writes a SELECT of the seqs of resources (of types; h alone when
// h is not "") with a composite entry matching one of c's values: the rows of
// each component's kind with the same seq and grp.
func (s *sqlQuery) composite(h string, types []string, c search.Clause) error {
	first := &c.Conditions[0]
	n := len(first.Composite.Components)
	kinds := make([]search.Kind, n)
	aliases := make([]string, n)
	for i := range first.Composite.Components {
		k, err := kindOf(first.Composite.Components[i].Param)
		if err != nil {
			return err
		}
		kinds[i], aliases[i] = k, s.indexAlias("c")
	}
	c0 := aliases[0]
	s.w(s.selectSeqs(), s.seqOf(c0), " AS seq FROM ", indexTables[kinds[0]].name, " ", c0)
	for i := 1; i < n; i++ {
		a := aliases[i]
		s.w(" JOIN ", indexTables[kinds[i]].name, " ", a, " ON ")
		s.rowsOf(a, s.seqOf(c0))
		s.w(" AND ", a, ".grp = -", c0, ".grp AND ", a, ".param = ")
		s.name(componentParam(first.Param.Code, i))
	}
	if h != "" {
		s.w(" WHERE ")
		s.rowsOf(c0, s.seqOf(h))
		s.w(" AND ", c0, ".grp > 0")
	} else {
		s.w(" WHERE ", c0, ".grp >= 0 AND ")
		s.typeIn(c0, types)
	}
	s.w(" AND ", c0, ".param = ")
	s.name(componentParam(first.Param.Code, 0))
	s.w(" AND (")
	for j := range c.Conditions {
		if j > 0 {
			s.w(" OR ")
		}
		comps := c.Conditions[j].Composite.Components
		s.w("(")
		for i := range comps {
			if i > 0 {
				s.w(" AND ")
			}
			if err := s.value(aliases[i], kinds[i], &comps[i]); err != nil {
				return err
			}
		}
		s.w(")")
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
	r, l := s.indexAlias("r"), s.newAlias("l")
	s.w("(", h, ".type, ", h, ".id) IN (SELECT ", r, ".ref_type, ", r, ".ref_id FROM resources ", l,
		" JOIN idx_reference ", r, " ON ")
	s.rowsOf(r, s.seqOf(l))
	s.w(" WHERE ", l, ".type = 'List' AND ", l, ".id = ")
	s.arg(c.List)
	s.w(" AND NOT ", l, ".deleted AND ", r, ".grp >= 0 AND ", r, ".param = 'item')")
	return nil
}

// probesBySeq tells whether a probe of c reads only the head's seq (not its
// id, type or instant), so an index row with the same seq can stand in for
// the head.
func probesBySeq(c search.Clause) bool {
	first := &c.Conditions[0]
	if first.Has != nil || first.None != nil {
		return false
	}
	return first.Chain != nil || !onResources(first.Param.Code) && first.Param.Code != "_list"
}

// innerClause is the clause of the conditions that the chains or _has of c
// apply to their targets.
func innerClause(c search.Clause, inner func(*search.Condition) search.Condition) search.Clause {
	out := search.Clause{Conditions: make([]search.Condition, len(c.Conditions))}
	for i := range c.Conditions {
		out.Conditions[i] = inner(&c.Conditions[i])
	}
	return out
}

// chainTail writes the rest of a chain's reference row test on r: its
// parameter, the target type and that the target meets the chained values.
func (s *sqlQuery) chainTail(r string, c search.Clause) error {
	first := &c.Conditions[0]
	s.w(" AND ", r, ".param = ")
	s.name(first.Param.Code)
	s.w(" AND ", r, ".ref_type = ")
	s.name(first.Chain.Type)
	s.w(" AND ", r, ".ref_id IN ")
	return s.chainTargets(c)
}

// chainTargets writes "(SELECT id …)" of the resources a chain's references
// must point at: those of its target type that meet the chained values.
func (s *sqlQuery) chainTargets(c search.Clause) error {
	first := &c.Conditions[0]
	inner := innerClause(c, func(c *search.Condition) search.Condition { return c.Chain.Condition })
	limits, err := s.restriction(first.Chain.Type)
	if err != nil {
		return err
	}
	sample := s.chainSample
	s.chainSample = 0 // the outermost chain only
	t := s.newAlias("h")
	s.w("(SELECT ", t, ".id")
	if err := s.selectFrom(t, []string{first.Chain.Type}, append([]search.Clause{inner}, limits...), nil, "", nil); err != nil {
		return err
	}
	if sample > 0 {
		s.w(" LIMIT ")
		s.arg(sample)
	}
	s.w(")")
	return nil
}

// The patient column of the code's token rows (idx_token.patient) holds the
// Patient of the resource's `patient` parameter, or manyPatients. A chain
// through that parameter to Patients, or a _has from Patients through it,
// combined with a code then becomes one seek per patient into (type,
// patient, code, system), instead of reading all of each patient's resources
// and probing each for the code. Rows of resources with several patients are
// checked through their reference rows.

// byPatient tells whether reference parameter p of typ, narrowed to
// Patients, has the values of typ's patient parameter: it is that
// parameter, or the one that parameter narrows (Observation's subject, as
// its patient is Observation.subject.where(resolve() is Patient)).
func (s *sqlQuery) byPatient(typ string, p *spec.SearchParam) bool {
	switch {
	case p == nil || p.Type != "reference":
		return false
	case p.Code == patientParam:
		return true
	case s.params == nil:
		return false
	}
	pp := s.params(typ, patientParam)
	if pp == nil {
		return false
	}
	own, patient := branchOf(p.Expression, typ), branchOf(pp.Expression, typ)
	return own != "" && patient == own+".where(resolve() is Patient)"
}

// branchOf returns the one branch of a union expression that applies to typ
// ("Observation.subject" of "… | Observation.subject | …"), or "" when there
// is none or several.
func branchOf(expr, typ string) string {
	found := ""
	for b := range strings.SplitSeq(expr, "|") {
		b = strings.TrimSpace(b)
		if b == typ || strings.HasPrefix(b, typ+".") {
			if found != "" {
				return ""
			}
			found = b
		}
	}
	return found
}

// chainByPatient tells whether clause c of a search of typ is one chain to
// Patients through typ's patient parameter.
func (s *sqlQuery) chainByPatient(typ string, c search.Clause) bool {
	if len(c.Conditions) != 1 {
		return false
	}
	k := &c.Conditions[0]
	return k.Chain != nil && k.Chain.Type == "Patient" && s.byPatient(typ, k.Param)
}

// codeByPatient tells whether clause c can be matched through the patient
// column: every condition a plain value of the code parameter.
func codeByPatient(c search.Clause) bool {
	for i := range c.Conditions {
		k := &c.Conditions[i]
		if k.Chain != nil || k.Has != nil || k.None != nil || k.Param == nil || k.Param.Code != patientCodeParam ||
			k.Param.Type != "token" || k.Modifier != search.ModifierNone || k.Token == nil || k.Token.Code == "" {
			return false
		}
	}
	return true
}

// patientCodes writes "SELECT seq" of the resources of types with a token
// row of code (a clause that codeByPatient allows) whose patient is one of
// ids: those of one patient column value, then those with several patients
// whose reference rows of param point at one of ids. ids writes a
// parenthesised list or SELECT of Patient ids. Each resource is probed for
// the clauses limits, which all probe by seq.
func (s *sqlQuery) patientCodes(types []string, code search.Clause, param string, ids func() error, limits []search.Clause) error {
	union := " UNION "
	if s.counting {
		union = " UNION ALL " // grouped by the caller
	}
	for i, many := range []bool{false, true} {
		x := s.indexAlias("x")
		if i == 0 {
			s.w(s.selectSeqs(), s.seqOf(x), " AS seq")
		} else {
			s.w(union, "SELECT ", s.seqOf(x), " AS seq")
		}
		if err := s.valueRows(x, search.KindToken, types, code); err != nil {
			return err
		}
		for _, c := range limits {
			s.w(" AND ")
			if err := s.probe(x, types, c); err != nil {
				return err
			}
		}
		// patient <> '' lets the engines use the partial patient index.
		s.w(" AND ", x, ".patient <> ''")
		if !many {
			s.w(" AND ", x, ".patient IN ")
			if err := ids(); err != nil {
				return err
			}
			continue
		}
		r := s.indexAlias("r")
		s.w(" AND ", x, ".patient = ")
		s.arg(manyPatients)
		s.w(" AND EXISTS (SELECT 1 FROM idx_reference ", r, " WHERE ")
		s.rowsOf(r, s.seqOf(x))
		s.w(" AND ", r, ".grp >= 0 AND ", r, ".param = ")
		s.name(param)
		s.w(" AND ", r, ".ref_type = 'Patient' AND ", r, ".ref_id IN ")
		if err := ids(); err != nil {
			return err
		}
		s.w(")")
	}
	return nil
}

// seqProbesOnly tells whether every clause but the driving ones (drive, and
// together) can be probed by seq alone, without a head.
func (s *sqlQuery) seqProbesOnly(clauses []search.Clause, drive int, together []int) bool {
	for i, c := range clauses {
		if i != drive && !slices.Contains(together, i) && !probesBySeq(c) {
			return false
		}
	}
	return true
}

// hasIDs writes a SELECT of the ids (with their types when types are several)
// that a resource of the _has type meeting the inner values refers to through
// its parameter.
func (s *sqlQuery) hasIDs(types []string, c search.Clause) error {
	hs := c.Conditions[0].Has
	inner := innerClause(c, func(c *search.Condition) search.Condition { return c.Has.Condition })
	limits, err := s.restriction(hs.Type)
	if err != nil {
		return err
	}
	r, t, q := s.indexAlias("r"), s.newAlias("h"), s.newAlias("q")
	if len(types) == 1 {
		s.w("SELECT ", r, ".ref_id")
	} else {
		s.w("SELECT ", r, ".ref_type, ", r, ".ref_id")
	}
	// From the referring resources to their reference rows.
	s.w(" FROM (SELECT ", t, ".seq AS seq")
	s.seqsOnly = true
	if err := s.selectFrom(t, []string{hs.Type}, append([]search.Clause{inner}, limits...), nil, "", nil); err != nil {
		return err
	}
	s.w(") ", q, " CROSS JOIN idx_reference ", r, " WHERE ")
	s.rowsOf(r, q+".seq")
	s.w(" AND ", r, ".grp >= 0 AND ", r, ".type = ")
	s.name(hs.Type)
	s.w(" AND ", r, ".param = ")
	s.name(hs.Param.Code)
	if len(types) == 1 {
		s.w(" AND ", r, ".ref_type = ")
		s.name(types[0])
	}
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

// Explain returns the SQL of q's page query with its arguments and the
// database's plan for it, for docs/search.md and for operators asking why a
// search is slow.
func (s *Store) Explain(ctx context.Context, q *search.Query) (sql string, args []any, plan []string, err error) {
	q, perType, err := withAccess(q)
	if err != nil {
		return "", nil, nil, err
	}
	rd := s.reader
	rd.access, rd.perType = q.Access, perType
	terms, err := sortTerms("h", q)
	if err != nil {
		return "", nil, nil, err
	}
	now := time.Now()
	sizes, err := rd.clauseSizes(ctx, q, now)
	if err != nil {
		return "", nil, nil, err
	}
	c, err := rd.pageQuery(q, terms, nil, pageSize(q.Count), now, sizes)
	if err != nil {
		return "", nil, nil, err
	}
	sql = s.d.rebind(c.b.String())
	err = s.pool.Read(ctx, func(conn Conn) error {
		rows, err := conn.Query(ctx, s.d.Explain+sql, c.args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols := s.d.ExplainColumns
		depth := map[string]int{} // SQLite: a row's id → its depth in the plan tree
		for rows.Next() {
			vals := make([]any, cols)
			ptrs := make([]any, cols)
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			line := fmt.Sprint(vals[cols-1])
			if cols == 4 { // id, parent, notused, detail
				d := depth[fmt.Sprint(vals[1])] + 1
				depth[fmt.Sprint(vals[0])] = d
				line = strings.Repeat("  ", d-1) + line
			}
			plan = append(plan, line)
		}
		return rows.Err()
	})
	if err != nil {
		return sql, c.args, nil, fmt.Errorf("store: explain: %w", err)
	}
	return sql, c.args, plan, nil
}

// Search runs q on one connection: a search waits for a connection once, not
// once for each of its queries (sizes, count, page, includes).
func (s *Store) Search(ctx context.Context, q *search.Query) (*store.SearchPage, error) {
	var page *store.SearchPage
	err := s.pool.Read(ctx, func(c Conn) error {
		var err error
		page, err = reader{d: s.d, params: s.params, run: func(_ context.Context, fn func(Conn) error) error { return fn(c) }}.Search(ctx, q)
		return err
	})
	return page, err
}

// Search runs q as SQL over the index tables.
func (r reader) Search(ctx context.Context, q *search.Query) (*store.SearchPage, error) {
	q, perType, err := withAccess(q)
	if err != nil {
		return nil, err
	}
	r.access, r.perType = q.Access, perType
	now := time.Now()
	page := &store.SearchPage{Total: -1}
	sizes, err := r.clauseSizes(ctx, q, now)
	if err != nil {
		return nil, err
	}
	switch {
	case q.Total == search.TotalEstimate && r.d.Estimate != "" && q.Count > 0:
		// The planner's row estimate: no scan, as _total=estimate allows.
		c := r.newQuery(now)
		c.w(r.d.Estimate, "SELECT 1")
		if err := c.selectMatches(q, "", sizes); err != nil {
			return nil, err
		}
		var plan []byte
		err := r.query(ctx, c.b.String(), c.args, func(rows Rows) error { return rows.Scan(&plan) })
		if err != nil {
			return nil, fmt.Errorf("store: search %v: estimate: %w", q.Types, err)
		}
		var explained []struct {
			Plan struct {
				Rows float64 `json:"Plan Rows"`
			}
		}
		if err := json.Unmarshal(plan, &explained); err != nil || len(explained) == 0 {
			return nil, fmt.Errorf("store: search %v: estimate: unexpected plan %.200s", q.Types, plan)
		}
		page.Total = int(explained[0].Plan.Rows)
	case q.Total == search.TotalAccurate || q.Total == search.TotalEstimate || q.Count == 0:
		c := r.newQuery(now)
		c.w("SELECT count(*)")
		if err := c.selectMatches(q, "", sizes); err != nil {
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
	total := page.Total
	page, err = r.page(ctx, q, now, sizes)
	if err != nil {
		return nil, err
	}
	page.Total = total
	if page.Total < 0 && q.Total == "" && !page.More && q.Offset == 0 && q.Cursor == "" {
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
	var seqs []int64
	for _, res := range from {
		if in.SourceType == "" || res.Type == in.SourceType {
			seqs = append(seqs, res.Seq)
		}
	}
	if len(seqs) == 0 {
		return nil, nil
	}
	// In chunks: a page of 1,000 matches as one test of row-key ranges
	// would exceed SQLite's expression depth of 1,000.
	targets := map[string][]string{}
	seen := map[key]bool{}
	for chunk := range chunks(seqs) {
		c := r.newQuery(time.Time{})
		c.w("SELECT DISTINCT ref_type, ref_id FROM idx_reference WHERE ")
		c.rowsOfSeqs("", chunk)
		if in.Param != nil {
			c.w(" AND param = ")
			c.name(in.Param.Code)
		} else {
			c.w(" AND grp = 0") // every reference parameter, not composite components
		}
		if in.TargetType != "" {
			c.w(" AND ref_type = ")
			c.name(in.TargetType)
		} else {
			c.w(" AND ref_type <> ''")
		}
		err := r.query(ctx, c.b.String(), c.args, func(rows Rows) error {
			var typ, id string
			if err := rows.Scan(&typ, &id); err != nil {
				return err
			}
			if k := (key{typ, id}); !seen[k] {
				seen[k] = true
				targets[typ] = append(targets[typ], id)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: _include %s: %w", in.SourceType, err)
		}
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
	referrers := map[string][]string{}
	n := 0
	for _, typ := range types {
		for ids := range slices.Chunk(byType[typ], rowsPerInsert) {
			c := r.newQuery(time.Time{})
			x := c.indexAlias("r")
			c.w("SELECT DISTINCT h.type, h.id FROM resources h WHERE NOT h.deleted AND h.seq IN (SELECT ", c.seqOf(x), " FROM idx_reference ", x, " WHERE ", x, ".grp >= 0 AND ")
			c.in(x+".ref_id", ids)
			c.w(" AND ", x, ".ref_type = ")
			c.name(typ)
			if in.SourceType != "" {
				c.w(" AND ", x, ".type = ")
				c.name(in.SourceType)
			}
			if in.Param != nil {
				c.w(" AND ", x, ".param = ")
				c.name(in.Param.Code)
			} else {
				c.w(" AND ", x, ".grp = 0")
			}
			c.w(") ORDER BY h.type, h.id LIMIT ")
			c.arg(maxIncluded)
			err := r.query(ctx, c.b.String(), c.args, func(rows Rows) error {
				var t, id string
				if err := rows.Scan(&t, &id); err != nil {
					return err
				}
				referrers[t] = append(referrers[t], id)
				n++
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("store: _revinclude %s: %w", in.SourceType, err)
			}
			if n >= maxIncluded {
				break
			}
		}
	}
	return r.heads(ctx, referrers)
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
		if _, readable := r.access.For(typ); !readable {
			continue // included resources the caller may not see are left out
		}
		for chunk := range slices.Chunk(ids[typ], rowsPerInsert) {
			c := r.newQuery(time.Time{})
			c.w("SELECT ", versionCols, headJoin, " WHERE NOT h.deleted AND h.type = ")
			c.name(typ)
			c.w(" AND ")
			c.in("h.id", chunk)
			if err := c.restrictedProbe("h", typ); err != nil {
				return nil, err
			}
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
