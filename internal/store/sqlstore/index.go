package sqlstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

// indexTable describes one index table: its name and the value columns after
// the common seq, type, param, grp.
type indexTable struct {
	name string
	cols []string
	// values appends the value columns of v in cols order.
	values func(dst []any, v *search.Value) []any
}

var indexTables = map[search.Kind]*indexTable{
	search.KindString: {"idx_string", []string{"value", "exact"}, func(dst []any, v *search.Value) []any {
		return append(dst, v.String, v.Exact)
	}},
	// patient comes last, from the resource rather than the value (see add).
	search.KindToken: {"idx_token", []string{"system", "code", "text", "type_system", "type_code", "patient"}, func(dst []any, v *search.Value) []any {
		return append(dst, v.System, v.Code, v.Text, v.TypeSystem, v.TypeCode)
	}},
	search.KindReference: {"idx_reference", []string{"ref_type", "ref_id", "url", "ident_system", "ident_value"}, func(dst []any, v *search.Value) []any {
		url := v.URL
		if v.RefType != "" && url == v.RefType+"/"+v.RefID {
			url = "" // relative: ref_type and ref_id say it all
		}
		return append(dst, v.RefType, v.RefID, url, v.IdentifierSystem, v.IdentifierValue)
	}},
	search.KindDate: {"idx_date", []string{"lo", "hi"}, func(dst []any, v *search.Value) []any {
		return append(dst, v.Start, v.End)
	}},
	search.KindNumber: {"idx_number", []string{"value", "lo", "hi"}, func(dst []any, v *search.Value) []any {
		return append(dst, v.Number, v.Low, v.High)
	}},
	search.KindQuantity: {"idx_quantity", []string{"system", "code", "value", "canon_code", "canon_value"}, func(dst []any, v *search.Value) []any {
		return append(dst, v.System, v.Code, v.Number, v.CanonicalCode, v.CanonicalValue)
	}},
	search.KindURI: {"idx_uri", []string{"uri"}, func(dst []any, v *search.Value) []any {
		return append(dst, v.URI)
	}},
}

// indexKinds lists the tables in a fixed order, so that statements run in the
// same order in every transaction.
var indexKinds = []search.Kind{search.KindString, search.KindToken, search.KindReference, search.KindDate,
	search.KindNumber, search.KindQuantity, search.KindURI}

// onResources are the parameters answered from the resources table itself.
func onResources(code string) bool { return code == "_id" || code == "_lastUpdated" }

// componentParam is the param column of component i of a composite entry.
func componentParam(code string, i int) string { return code + "$" + strconv.Itoa(i) }

// indexRows collects the rows of several resources per table.
type indexRows map[search.Kind][]any

// rowKeyBits is the width of the row number n in the key k = seq <<
// rowKeyBits | n of an index row (Dialect.RowKeys): a resource has at most
// 2^20 rows in one table.
const rowKeyBits = 20

// add appends the rows of the entries of the resource stored as seq; the
// first column is seq, or with rowKeys the row's key.
func (rows indexRows) add(seq int64, typ string, entries []search.Entry, rowKeys bool) error {
	var n [search.KindURI + 1]int64 // rows so far per kind
	first := func(k search.Kind) any {
		if !rowKeys {
			return seq
		}
		n[k]++
		return seq<<rowKeyBits | (n[k] - 1)
	}
	patient := patientOf(entries)
	row := func(kind search.Kind, param string, grp int64, v *search.Value) {
		rows[kind] = indexTables[kind].values(append(rows[kind], first(kind), typ, param, grp), v)
		if kind == search.KindToken {
			if param == patientCodeParam {
				rows[kind] = append(rows[kind], patient)
			} else {
				rows[kind] = append(rows[kind], "")
			}
		}
	}
	grp := int64(0)
	for i := range entries {
		e := &entries[i]
		if onResources(e.Param) {
			continue
		}
		if e.Kind != search.KindComposite {
			row(e.Kind, e.Param, 0, &e.Value)
			continue
		}
		grp++
		for j := range e.Components {
			c := &e.Components[j]
			g := grp
			if j > 0 {
				g = -grp // left out of the value indexes: found by (seq, grp) only
			}
			row(c.Kind, componentParam(e.Param, j), g, c)
		}
	}
	if slices.Max(n[:]) > 1<<rowKeyBits {
		return fmt.Errorf("%s has more than %d index rows of one kind", typ, 1<<rowKeyBits)
	}
	return nil
}

// patientOf is the patient column of a resource's rows of patientCodeParam:
// the id of the Patient its `patient` parameter refers to, "" when none,
// manyPatients when several.
func patientOf(entries []search.Entry) string {
	patient := ""
	for i := range entries {
		e := &entries[i]
		if e.Param != patientParam || e.Kind != search.KindReference || e.Value.RefType != "Patient" || e.Value.RefID == patient {
			continue
		}
		if patient != "" {
			return manyPatients
		}
		patient = e.Value.RefID
	}
	return patient
}

// patientParam is the search parameter whose Patient fills the patient column
// of the token rows of patientCodeParam (the clinical code: a test, a
// diagnosis, a drug — what a clinic's panel or a register is filtered by;
// the other token rows leave it empty, which spares their index entries);
// manyPatients marks a resource with several.
const (
	patientParam     = "patient"
	patientCodeParam = "code"
	manyPatients     = "*"
)

// index returns the index rows of the heads: from the entries the caller gave
// or Put began computing, else computed here in parallel (indexing runs
// FHIRPath over every parameter, the costliest part of a write).
func (t *tx) index(heads []store.Resource) (indexRows, error) {
	rows := indexRows{}
	todo := make([]int, 0, len(heads))
	entries := make([][]search.Entry, len(heads))
	for i := range heads {
		if heads[i].Deleted {
			continue
		}
		if e, ok := t.indexed[key{heads[i].Type, heads[i].ID}]; ok {
			entries[i] = e
			continue
		}
		todo = append(todo, i)
	}
	errs := make([]error, len(heads))
	todo = slices.DeleteFunc(todo, func(i int) bool {
		j := t.indexing[key{heads[i].Type, heads[i].ID}]
		if j == nil {
			return false
		}
		<-j.done
		entries[i], errs[i] = j.entries, j.err
		return true
	})
	work := func(i int) {
		res := t.docs[key{heads[i].Type, heads[i].ID}]
		entries[i], errs[i] = t.ix.Index(res)
	}
	if workers := min(runtime.GOMAXPROCS(0), len(todo)/8); workers > 1 {
		var wg sync.WaitGroup
		next := make(chan int)
		for range workers {
			wg.Go(func() {
				for i := range next {
					work(i)
				}
			})
		}
		for _, i := range todo {
			next <- i
		}
		close(next)
		wg.Wait()
	} else {
		for _, i := range todo {
			work(i)
		}
	}
	for i := range heads {
		h := &heads[i]
		if h.Deleted {
			continue
		}
		if err := errs[i]; err != nil {
			var pe *search.ParamError
			if !errors.As(err, &pe) {
				return nil, fmt.Errorf("index %s/%s: %w", h.Type, h.ID, err)
			}
			// One parameter's expression failed on this resource: the others are
			// stored and the failure is logged, as a write must not fail for it.
			t.log.Warn("search index incomplete", "type", h.Type, "id", h.ID, "err", err)
		}
		if err := rows.add(h.Seq, h.Type, entries[i], t.d.RowKeys); err != nil {
			return nil, fmt.Errorf("index %s/%s: %w", h.Type, h.ID, err)
		}
	}
	return rows, nil
}

// writeIndex replaces the index rows of the resources whose earlier heads were
// stored as stale with rows.
func (t *tx) writeIndex(ctx context.Context, stale []int64, rows indexRows) error {
	if len(stale) > 0 {
		slices.Sort(stale)
		for _, k := range indexKinds {
			for chunk := range chunks(stale) {
				q := &sqlQuery{rowKeys: t.d.RowKeys}
				q.w("DELETE FROM ", indexTables[k].name, " WHERE ")
				q.rowsOfSeqs("", chunk)
				if err := t.conn.Exec(ctx, t.d.rebind(q.b.String()), q.args...); err != nil {
					return fmt.Errorf("store: drop index rows: %w", t.failed(err))
				}
			}
		}
	}
	for _, k := range indexKinds {
		vals := rows[k]
		if len(vals) == 0 {
			continue
		}
		tab := indexTables[k]
		width := 4 + len(tab.cols)
		cols := append([]string{"seq", "type", "param", "grp"}, tab.cols...)
		if t.d.RowKeys {
			cols[0] = "k"
		}
		head := tab.name + " (" + strings.Join(cols, ", ") + ") VALUES "
		rows := make([][]any, 0, len(vals)/width)
		for i := 0; i < len(vals); i += width {
			rows = append(rows, vals[i:i+width])
		}
		// In key order (type, param, first value column …), consecutive
		// rows land on the same index pages.
		slices.SortFunc(rows, compareRows)
		if c, ok := t.conn.(Copier); ok && len(rows) >= copyThreshold {
			if err := c.CopyFrom(ctx, tab.name, cols, rows); err != nil {
				return fmt.Errorf("store: copy %s rows: %w", tab.name, t.failed(err))
			}
			continue
		}
		if err := insert(ctx, t, head, "", width, rows, func(row []any) []any { return row }); err != nil {
			return fmt.Errorf("store: write %s rows: %w", tab.name, err)
		}
	}
	return nil
}

// copyThreshold is the number of rows from which a Copier loads them with
// COPY: below it, one prepared INSERT costs less than COPY's set-up.
const copyThreshold = 32

// compareRows orders index rows by type, param and then the value columns.
func compareRows(a, b []any) int {
	for _, i := range [...]int{1, 2, 4} {
		if c := compareValues(a[i], b[i]); c != 0 {
			return c
		}
	}
	return compareValues(a[0], b[0])
}

func compareValues(a, b any) int {
	switch x := a.(type) {
	case string:
		return strings.Compare(x, b.(string))
	case int64:
		return cmp.Compare(x, b.(int64))
	case float64:
		return cmp.Compare(x, b.(float64))
	}
	return 0
}

// Reindex recomputes the index rows of every current resource of the types
// (all types when none are given), in transactions of batch resources, and
// returns how many it indexed. It is how a SearchParameter added later applies
// to data written before it.
func (s *Store) Reindex(ctx context.Context, types []string, progress func(done int)) (int, error) {
	const batch = 500
	done := 0
	after := key{}
	for {
		var w where
		w.conds = append(w.conds, "NOT h.deleted")
		w.in("h.type", types)
		w.add("(h.type > ? OR (h.type = ? AND h.id > ?))", after.typ, after.typ, after.id)
		list, err := s.resources(ctx, "SELECT "+versionCols+headJoin+w.sql()+" ORDER BY h.type, h.id LIMIT ?", append(w.args, batch))
		if err != nil {
			return done, fmt.Errorf("store: reindex: %w", err)
		}
		if len(list) == 0 {
			return done, nil
		}
		err = s.Tx(ctx, func(stx store.Tx) error {
			t := stx.(*tx)
			heads := make([]store.Resource, 0, len(list))
			stale := make([]int64, 0, len(list))
			for _, r := range list {
				// Only a head unchanged since it was read is reindexed here; a
				// newer version was indexed by its own write.
				cur, err := t.lock(ctx, r.Type, r.ID, noCheck)
				if err != nil {
					return err
				}
				if cur.Seq != r.Seq || cur.Deleted {
					continue
				}
				res, err := fhir.Parse(r.Body)
				if err != nil {
					return fmt.Errorf("store: reindex %s/%s: %w", r.Type, r.ID, err)
				}
				t.docs[key{r.Type, r.ID}] = res
				heads = append(heads, r)
				stale = append(stale, r.Seq)
			}
			rows, err := t.index(heads)
			if err != nil {
				return err
			}
			return t.writeIndex(ctx, stale, rows)
		})
		if err != nil {
			return done, fmt.Errorf("store: reindex: %w", err)
		}
		done += len(list)
		last := list[len(list)-1]
		after = key{last.Type, last.ID}
		if progress != nil {
			progress(done)
		}
	}
}
