package sqlstore

import (
	"context"
	"fmt"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

// Page sizes for History and Search.
const (
	defaultCount = 50
	maxCount     = 1000
)

// versionCols are the columns scanResource reads, from resource_versions v.
const versionCols = "v.type, v.id, v.version, v.updated, v.deleted, v.body, v.seq"

// headJoin reaches the current version's body from the head row h.
const headJoin = " FROM resources h JOIN resource_versions v ON v.type = h.type AND v.id = h.id AND v.version = h.version"

// reader implements store.Reader. run supplies the connection: the pool outside
// a transaction, the transaction's own connection (after flushing its pending
// writes) inside one.
type reader struct {
	d   *Dialect
	run func(ctx context.Context, fn func(Conn) error) error
	// params finds a type's search parameter by code (the Indexer's, when
	// it can): nil when it cannot.
	params func(typ, code string) *spec.SearchParam
	// access is the limit of the search being run (search.Query.Access);
	// perType: its matches' types have different limits.
	access  *search.Access
	perType bool
}

// query runs q and hands each row to scan.
func (r reader) query(ctx context.Context, q string, args []any, scan func(Rows) error) error {
	return r.run(ctx, func(c Conn) error { return queryConn(ctx, c, r.d.rebind(q), args, scan) })
}

func queryConn(ctx context.Context, c Conn, q string, args []any, scan func(Rows) error) error {
	rows, err := c.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return rows.Close()
}

// resources runs q, whose columns are versionCols.
func (r reader) resources(ctx context.Context, q string, args []any) ([]store.Resource, error) {
	var list []store.Resource
	err := r.query(ctx, q, args, func(rows Rows) error {
		var res store.Resource
		var updated int64
		if err := rows.Scan(&res.Type, &res.ID, &res.Version, &updated, &res.Deleted, &res.Body, &res.Seq); err != nil {
			return err
		}
		res.Updated = time.UnixMilli(updated).UTC()
		list = append(list, res)
		return nil
	})
	return list, err
}

// count runs q, which selects one integer.
func (r reader) count(ctx context.Context, q string, args []any) (int, error) {
	var n int
	err := r.query(ctx, q, args, func(rows Rows) error { return rows.Scan(&n) })
	return n, err
}

func (r reader) Read(ctx context.Context, typ, id string) (*store.Resource, error) {
	list, err := r.resources(ctx, "SELECT "+versionCols+headJoin+" WHERE h.type = ? AND h.id = ?", []any{typ, id})
	if err != nil {
		return nil, fmt.Errorf("store: read %s/%s: %w", typ, id, err)
	}
	return found(list, "%s/%s", typ, id)
}

func (r reader) VRead(ctx context.Context, typ, id string, version int64) (*store.Resource, error) {
	list, err := r.resources(ctx, "SELECT "+versionCols+" FROM resource_versions v WHERE v.type = ? AND v.id = ? AND v.version = ?",
		[]any{typ, id, version})
	if err != nil {
		return nil, fmt.Errorf("store: vread %s/%s/_history/%d: %w", typ, id, version, err)
	}
	return found(list, "%s/%s/_history/%d", typ, id, version)
}

// found turns a lookup's result into the Reader contract: NotFound when empty,
// Gone with the marker when it is a delete.
func found(list []store.Resource, format string, args ...any) (*store.Resource, error) {
	if len(list) == 0 {
		return nil, fhir.Errorf(fhir.NotFound, format+" not found", args...)
	}
	res := &list[0]
	if res.Deleted {
		return res, fhir.Errorf(fhir.Gone, format+" was deleted", args...)
	}
	return res, nil
}

func (r reader) History(ctx context.Context, q store.HistoryQuery) (*store.HistoryPage, error) {
	var w where
	if q.Type != "" {
		w.add("v.type = ?", q.Type)
	}
	if q.ID != "" {
		w.add("v.id = ?", q.ID)
	}
	if !q.Since.IsZero() {
		w.add("v.updated >= ?", ceilMilli(q.Since))
	}
	total, err := r.count(ctx, "SELECT count(*) FROM resource_versions v"+w.sql(), w.args)
	if err != nil {
		return nil, fmt.Errorf("store: history %s/%s: count: %w", q.Type, q.ID, err)
	}
	if q.Before > 0 {
		w.add("v.seq < ?", q.Before)
	}
	n := pageSize(q.Count)
	list, err := r.resources(ctx, "SELECT "+versionCols+" FROM resource_versions v"+w.sql()+" ORDER BY v.seq DESC LIMIT ?",
		append(w.args, n+1))
	if err != nil {
		return nil, fmt.Errorf("store: history %s/%s: %w", q.Type, q.ID, err)
	}
	page := &store.HistoryPage{Versions: list, Total: total}
	if len(list) > n {
		page.Versions = list[:n]
		page.Next = list[n-1].Seq
	}
	return page, nil
}

func pageSize(n int) int {
	if n <= 0 {
		return defaultCount
	}
	return min(n, maxCount)
}

// ceilMilli converts a bound to stored milliseconds. Stored instants are whole
// milliseconds, so v < t and v >= t hold exactly when they hold against t
// rounded up.
func ceilMilli(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.Nanosecond()%int(time.Millisecond) != 0 {
		ms++
	}
	return ms
}

// where collects AND-ed conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

// in restricts col to vals: nil means no restriction, an empty list matches nothing.
func (w *where) in(col string, vals []string) {
	if vals == nil {
		return
	}
	if len(vals) == 0 {
		w.conds = append(w.conds, "1 = 0")
		return
	}
	w.conds = append(w.conds, col+" IN (?"+strings.Repeat(", ?", len(vals)-1)+")")
	for _, v := range vals {
		w.args = append(w.args, v)
	}
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}
