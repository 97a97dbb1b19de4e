package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"log/slog"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

// tx implements store.Tx. Writes are buffered and flushed as multi-row INSERTs
// before any read in the transaction and before commit, so a batch of Puts
// costs one round trip each (the head-row lock) plus a few bulk statements.
type tx struct {
	reader
	d    *Dialect
	conn Conn
	now  time.Time
	// versions are the buffered version rows in write order; heads maps each
	// written resource to its latest entry there.
	versions []store.Resource
	heads    map[key]int
	// nextSeq and endSeq delimit the sequence numbers reserved and not yet
	// used; endSeq is 0 when the dialect's SeqBlock is unlimited.
	nextSeq, endSeq int64
	// docs are the resources of the buffered heads, to index at flush; stale
	// are the seqs of committed heads that buffered writes replace, whose
	// index rows flush drops.
	docs    map[key]fhir.Resource
	indexed map[key][]search.Entry // entries the caller computed (PutIndexed)
	// indexing holds the evaluations of the search parameters that Put starts
	// in the background, so that they overlap the rest of the transaction.
	indexing map[key]*indexJob
	// locked are the heads Lock read that no write has taken yet.
	locked map[key]store.Resource
	stale  []int64
	ix     store.Indexer
	slots  chan struct{} // the Store's: bounds the evaluations running at once
	log    *slog.Logger
	// dbErr is the first database error, which decides whether Tx retries.
	dbErr error
}

type key struct{ typ, id string }

// rowsPerInsert bounds multi-row statements below both engines' parameter
// limits.
const rowsPerInsert = 64

// chunks splits items into runs of rowsPerInsert and, for the rest, runs whose
// sizes are powers of two (100 → 64, 32, 4), so that multi-row statements
// take few distinct shapes and the backends can keep them prepared.
func chunks[T any](items []T) iter.Seq[[]T] {
	return func(yield func([]T) bool) {
		for len(items) > 0 {
			n := min(len(items), rowsPerInsert)
			n = 1 << (bits.Len(uint(n)) - 1)
			if !yield(items[:n]) {
				return
			}
			items = items[n:]
		}
	}
}

func newTx(s *Store, c Conn) *tx {
	t := &tx{d: s.d, conn: c, now: time.Now().UTC().Truncate(time.Millisecond), heads: map[key]int{},
		docs: map[key]fhir.Resource{}, indexed: map[key][]search.Entry{}, indexing: map[key]*indexJob{},
		locked: map[key]store.Resource{}, ix: s.ix, slots: s.indexSlots, log: s.log}
	d := s.d
	t.reader = reader{d: d, params: s.params, run: func(ctx context.Context, fn func(Conn) error) error {
		if err := t.flush(ctx); err != nil {
			return err
		}
		return t.failed(fn(c))
	}}
	return t
}

// failed records err as the transaction's database error and returns it.
func (t *tx) failed(err error) error {
	if err != nil && t.dbErr == nil {
		t.dbErr = err
	}
	return err
}

func (t *tx) Now() time.Time { return t.now }

func (t *tx) Serialize(ctx context.Context, key string) error {
	if t.d.KeyLock == "" {
		return nil
	}
	if err := t.conn.Exec(ctx, t.d.rebind(t.d.KeyLock), key); err != nil {
		return fmt.Errorf("store: serialize on %q: %w", key, t.failed(err))
	}
	return nil
}

func (t *tx) Put(ctx context.Context, res fhir.Resource, pre store.Precondition) (*store.Resource, bool, error) {
	return t.PutIndexed(ctx, res, nil, pre)
}

func (t *tx) PutIndexed(ctx context.Context, res fhir.Resource, entries []search.Entry, pre store.Precondition) (*store.Resource, bool, error) {
	typ, id := res.Type(), res.ID()
	if typ == "" || id == "" {
		return nil, false, fhir.Errorf(fhir.Invalid, "a stored resource needs resourceType and id")
	}
	var refused error
	cur, err := t.lock(ctx, typ, id, func(cur store.Resource) error {
		refused = checkIfMatch(cur, pre)
		if refused == nil && pre.IfNoneExist && cur.Version > 0 && !cur.Deleted {
			refused = fhir.Errorf(fhir.Conflict, "%s/%s already exists", typ, id)
		}
		if refused == nil {
			refused = t.check(ctx, cur, pre)
		}
		return refused
	})
	if refused != nil {
		return nil, false, refused
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: put %s/%s: %w", typ, id, err)
	}
	live := cur.Version > 0 && !cur.Deleted
	updated := t.stamp(cur)
	res.Stamp(id, cur.Version+1, updated)
	body, err := res.MarshalJSON()
	if err != nil {
		return nil, false, fmt.Errorf("store: put %s/%s: %w", typ, id, err)
	}
	stored, err := t.write(ctx, cur, updated, body)
	if err != nil {
		return nil, false, fmt.Errorf("store: put %s/%s: %w", typ, id, err)
	}
	k := key{typ, id}
	t.docs[k] = res
	if entries != nil {
		t.indexed[k] = entries
		delete(t.indexing, k)
	} else {
		delete(t.indexed, k)
		t.indexing[k] = t.startIndex(res)
	}
	return stored, !live, nil
}

func (t *tx) Delete(ctx context.Context, typ, id string, pre store.Precondition) (*store.Resource, error) {
	var refused error
	cur, err := t.lock(ctx, typ, id, func(cur store.Resource) error {
		if refused = checkIfMatch(cur, pre); refused == nil && cur.Version > 0 && !cur.Deleted {
			refused = t.check(ctx, cur, pre)
		}
		return refused
	})
	if refused != nil {
		return nil, refused
	}
	if err != nil {
		return nil, fmt.Errorf("store: delete %s/%s: %w", typ, id, err)
	}
	if cur.Version == 0 || cur.Deleted {
		return nil, nil
	}
	marker, err := t.write(ctx, cur, t.stamp(cur), nil)
	if err != nil {
		return nil, fmt.Errorf("store: delete %s/%s: %w", typ, id, err)
	}
	delete(t.docs, key{typ, id})
	delete(t.indexed, key{typ, id})
	delete(t.indexing, key{typ, id})
	return marker, nil
}

// indexJob is a background evaluation of a resource's search parameters.
type indexJob struct {
	done    chan struct{} // closed when entries and err are set
	entries []search.Entry
	err     error
}

// startIndex evaluates res's search parameters in the background. res must
// not change afterwards; Put's callers hand it over.
func (t *tx) startIndex(res fhir.Resource) *indexJob {
	j := &indexJob{done: make(chan struct{})}
	go func() {
		t.slots <- struct{}{}
		j.entries, j.err = t.ix.Index(res)
		<-t.slots
		close(j.done)
	}()
	return j
}

// checkIfMatch enforces pre.IfMatch against the current version cur; a missing
// or deleted resource matches no version.
func checkIfMatch(cur store.Resource, pre store.Precondition) error {
	if pre.IfMatch > 0 && (cur.Version != pre.IfMatch || cur.Deleted) {
		return fhir.Errorf(fhir.PreconditionFailed, "%s/%s: version %d is not the current version", cur.Type, cur.ID, pre.IfMatch)
	}
	return nil
}

// lock returns the current head of typ/id (Version 0 when there is none),
// locked until commit.
func (t *tx) lock(ctx context.Context, typ, id string, check func(store.Resource) error) (store.Resource, error) {
	k := key{typ, id}
	if i, ok := t.heads[k]; ok {
		return t.versions[i], check(t.versions[i]) // locked by the write that buffered it
	}
	cur, ok := t.locked[k]
	if !ok {
		if err := t.lockAll(ctx, map[string][]string{typ: {id}}); err != nil {
			return store.Resource{}, err
		}
		cur = t.locked[k]
	}
	if err := check(cur); err != nil {
		return cur, err // refused before the write takes the head over
	}
	delete(t.locked, k) // the write that asked for it takes it over
	if cur.Version > 0 && !cur.Deleted {
		t.stale = append(t.stale, cur.Seq) // its index rows go when the write is flushed
	}
	return cur, nil
}

// Lock implements store.Tx: where the dialect batches locks, one SELECT per
// type and rowsPerInsert ids reads the heads into t.locked (Version 0 for
// those that do not exist).
func (t *tx) Lock(ctx context.Context, ids map[string][]string) error {
	if !t.d.BatchLocks {
		return nil
	}
	return t.lockAll(ctx, ids)
}

func (t *tx) lockAll(ctx context.Context, ids map[string][]string) error {
	for typ, list := range ids {
		for chunk := range chunks(list) {
			todo := make([]string, 0, len(chunk))
			for _, id := range chunk {
				k := key{typ, id}
				if _, buffered := t.heads[k]; buffered {
					continue
				}
				if _, done := t.locked[k]; !done {
					t.locked[k] = store.Resource{Type: typ, ID: id}
					todo = append(todo, id)
				}
			}
			if len(todo) == 0 {
				continue
			}
			q := &sqlQuery{}
			q.w("SELECT id, version, deleted, updated, seq FROM resources WHERE type = ")
			q.arg(typ)
			q.w(" AND ")
			q.in("id", todo)
			q.w(t.d.LockRows)
			err := queryConn(ctx, t.conn, t.d.rebind(q.b.String()), q.args, func(rows Rows) error {
				cur := store.Resource{Type: typ}
				var updated int64
				if err := rows.Scan(&cur.ID, &cur.Version, &cur.Deleted, &updated, &cur.Seq); err != nil {
					return err
				}
				cur.Updated = time.UnixMilli(updated).UTC()
				t.locked[key{typ, cur.ID}] = cur
				return nil
			})
			if err != nil {
				return fmt.Errorf("store: lock %s: %w", typ, t.failed(err))
			}
		}
	}
	return nil
}

// noCheck takes any head.
func noCheck(store.Resource) error { return nil }

// check runs the precondition's Check on the head cur; the current body is
// read only if the check asks, from the buffered write or from its version
// row, without flushing what the transaction buffered.
func (t *tx) check(ctx context.Context, cur store.Resource, pre store.Precondition) error {
	if pre.Check == nil {
		return nil
	}
	return pre.Check(&cur, func() ([]byte, error) {
		if cur.Version == 0 || cur.Deleted {
			return nil, nil
		}
		if i, ok := t.heads[key{cur.Type, cur.ID}]; ok {
			return t.versions[i].Body, nil
		}
		var body []byte
		err := queryConn(ctx, t.conn, t.d.rebind("SELECT body FROM resource_versions WHERE type = ? AND id = ? AND version = ?"),
			[]any{cur.Type, cur.ID, cur.Version}, func(rows Rows) error { return rows.Scan(&body) })
		if err != nil {
			return nil, fmt.Errorf("store: read %s/%s: %w", cur.Type, cur.ID, t.failed(err))
		}
		return body, nil
	})
}

// stamp is the lastUpdated of the version after cur: the transaction's clock,
// unless a writer that committed after this transaction began stamped cur later
// still; then cur's time, so that a resource's versions never go back in time.
func (t *tx) stamp(cur store.Resource) time.Time {
	if cur.Updated.After(t.now) {
		return cur.Updated
	}
	return t.now
}

// write buffers the version after cur (a delete marker when body is nil). Its
// seq must exceed cur's: a block of numbers reserved before cur's writer
// committed would put this newer version before it in history, so such a block
// is given up for a fresh one.
func (t *tx) write(ctx context.Context, cur store.Resource, updated time.Time, body []byte) (*store.Resource, error) {
	if t.nextSeq == t.endSeq || t.nextSeq <= cur.Seq {
		err := queryConn(ctx, t.conn, t.d.NextSeq, nil, func(rows Rows) error { return rows.Scan(&t.nextSeq) })
		if err != nil {
			return nil, t.failed(err)
		}
		if t.d.SeqBlock > 0 {
			t.endSeq = t.nextSeq + t.d.SeqBlock
		}
	}
	res := store.Resource{Type: cur.Type, ID: cur.ID, Version: cur.Version + 1, Updated: updated, Deleted: body == nil, Body: body, Seq: t.nextSeq}
	t.nextSeq++
	t.heads[key{cur.Type, cur.ID}] = len(t.versions)
	t.versions = append(t.versions, res)
	stored := res
	return &stored, nil
}

// flush writes the buffered versions, then moves the head rows to them. Rows go
// in key order so that concurrent transactions lock in the same order. A
// concurrent create of the same id surfaces here as a unique violation on
// resource_versions, which the dialect may retry.
func (t *tx) flush(ctx context.Context) error {
	if len(t.versions) == 0 {
		return nil
	}
	byKey := func(a, b store.Resource) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), strings.Compare(a.ID, b.ID), cmp.Compare(a.Version, b.Version))
	}
	versions := slices.SortedFunc(slices.Values(t.versions), byKey)
	heads := make([]store.Resource, 0, len(t.heads))
	for _, i := range t.heads {
		heads = append(heads, t.versions[i])
	}
	slices.SortFunc(heads, byKey)

	err := insert(ctx, t, "resource_versions (type, id, version, updated, deleted, body, seq) VALUES ", "", 7,
		versions, func(r store.Resource) []any {
			return []any{r.Type, r.ID, r.Version, r.Updated.UnixMilli(), r.Deleted, r.Body, r.Seq}
		})
	if err != nil {
		return fmt.Errorf("store: write versions: %w", err)
	}
	// A first version has no head row yet: a plain INSERT, which SQLite runs
	// without the statement journal an upsert needs.
	fresh, moved := splitFunc(heads, func(r store.Resource) bool { return r.Version == 1 })
	headValues := func(r store.Resource) []any {
		return []any{r.Type, r.ID, r.Version, r.Updated.UnixMilli(), r.Deleted, r.Seq}
	}
	const headCols = "resources (type, id, version, updated, deleted, seq) VALUES "
	if err := insert(ctx, t, headCols, "", 6, fresh, headValues); err != nil {
		return fmt.Errorf("store: write heads: %w", err)
	}
	err = insert(ctx, t, headCols, " ON CONFLICT (type, id) DO UPDATE SET version = excluded.version, updated = excluded.updated,"+
		" deleted = excluded.deleted, seq = excluded.seq", 6, moved, headValues)
	if err != nil {
		return fmt.Errorf("store: write heads: %w", err)
	}
	rows, err := t.index(heads)
	if err != nil {
		return err
	}
	if err := t.writeIndex(ctx, t.stale, rows); err != nil {
		return err
	}
	t.versions, t.stale = t.versions[:0], t.stale[:0]
	clear(t.heads)
	clear(t.docs)
	clear(t.indexed)
	clear(t.indexing)
	return nil
}

// insert writes rows into head ("table (columns) VALUES ") as multi-row
// INSERTs in the shapes chunks gives, each
// row the values of width columns; tail follows the VALUES list.
func insert[T any](ctx context.Context, t *tx, head, tail string, width int, rows []T, values func(T) []any) error {
	tuple := "(?" + strings.Repeat(", ?", width-1) + ")"
	for chunk := range chunks(rows) {
		var q strings.Builder
		q.WriteString(t.d.insert())
		q.WriteString(" ")
		q.WriteString(head)
		args := make([]any, 0, len(chunk)*width)
		for i, r := range chunk {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(tuple)
			args = append(args, values(r)...)
		}
		q.WriteString(tail)
		if err := t.conn.Exec(ctx, t.d.rebind(q.String()), args...); err != nil {
			return t.failed(err)
		}
	}
	return nil
}

// splitFunc returns the elements of list for which keep holds and the others,
// each in list order.
func splitFunc[T any](list []T, keep func(T) bool) (yes, no []T) {
	for _, v := range list {
		if keep(v) {
			yes = append(yes, v)
		} else {
			no = append(no, v)
		}
	}
	return yes, no
}
