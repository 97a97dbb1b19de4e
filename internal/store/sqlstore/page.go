package sqlstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

// Pages are cut by keyset: a cursor holds the sort keys of the row a page
// ends (or, going back, starts) at, and the next page is the rows after it in
// the search's order. Unlike an offset, it neither skips nor repeats a match
// when resources are written between two pages.

// sortTerm is one ORDER BY key: an expression on head h, its direction,
// whether a resource may lack it (then it sorts last), and the Go type its
// values scan to.
type sortTerm struct {
	expr     func(s *sqlQuery)
	desc     bool
	nullable bool
	integer  bool // int64 values (instants), float64 for numbers, else strings
	number   bool
	// fromRow, when set, reads the key from the version columns of the row
	// instead of selecting expr.
	fromRow func(r *store.Resource) any
	// orderExpr, when set, is what ORDER BY sorts by instead of expr, in the
	// same order.
	orderExpr func(s *sqlQuery)
}

// sortTerms lists q's _sort keys then type and id, a total order. Without
// _sort the order is the heads' seq, the order of their last writes: the
// seqs of a search's driving clause come from its index and sort without
// reading a head, so the first page needs the heads of its own matches
// only, not the ids of every match.
func sortTerms(h string, q *search.Query) ([]sortTerm, error) {
	if len(q.Sort) == 0 {
		return []sortTerm{{expr: func(s *sqlQuery) { s.w(s.seqSource, ".seq") }, integer: true,
			fromRow: func(r *store.Resource) any { return r.Seq },
			// A streamed driver is in the order of its index rows' keys,
			// which SQLite sees as the index order, unlike their seqs.
			orderExpr: func(s *sqlQuery) {
				if s.streamed {
					s.w(s.seqSource, ".ord")
				} else {
					s.w(s.seqSource, ".seq")
				}
			}}}, nil
	}
	var terms []sortTerm
	for _, k := range q.Sort {
		switch k.Param.Code {
		case "_id":
			terms = append(terms, sortTerm{expr: func(s *sqlQuery) { s.w(h, ".id") }, desc: k.Descending})
			continue
		case "_lastUpdated":
			terms = append(terms, sortTerm{expr: func(s *sqlQuery) { s.w(h, ".updated") }, desc: k.Descending, integer: true})
			continue
		}
		kind, err := kindOf(k.Param)
		if err != nil {
			return nil, err
		}
		col, agg := sortColumn(kind, k.Descending)
		code := k.Param.Code
		terms = append(terms, sortTerm{
			expr: func(s *sqlQuery) {
				x := s.indexAlias("x")
				s.w("(SELECT ", agg, "(", x, ".", col, ") FROM ", indexTables[kind].name, " ", x, " WHERE ")
				s.rowsOf(x, s.seqOf(h))
				s.w(" AND ", x, ".param = ")
				s.name(code)
				s.w(")")
			},
			desc: k.Descending, nullable: true,
			integer: kind == search.KindDate,
			number:  kind == search.KindNumber || kind == search.KindQuantity,
		})
	}
	terms = append(terms,
		sortTerm{expr: func(s *sqlQuery) { s.w(h, ".type") }, fromRow: func(r *store.Resource) any { return r.Type }},
		sortTerm{expr: func(s *sqlQuery) { s.w(h, ".id") }, fromRow: func(r *store.Resource) any { return r.ID }})
	return terms, nil
}

// orderBy writes the ORDER BY of terms, reversed when back is set. A
// resource without a value for a key sorts after those with one, in both
// directions.
func (s *sqlQuery) orderBy(terms []sortTerm, back bool) {
	s.w(" ORDER BY ")
	for i, t := range terms {
		if i > 0 {
			s.w(", ")
		}
		if t.nullable {
			t.expr(s)
			s.w(" IS NULL", dir(false, back), ", ")
		}
		if t.orderExpr != nil {
			t.orderExpr(s)
		} else {
			t.expr(s)
		}
		s.w(dir(t.desc, back))
	}
}

func dir(desc, back bool) string {
	if desc != back {
		return " DESC"
	}
	return ""
}

// cursor is the position a page link continues from.
type cursor struct {
	Back bool  `json:"b,omitempty"` // the page before the row, not after it
	Keys []any `json:"k"`           // one per sort term; nil for a missing value
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor for terms; a cursor of another search (or a
// forged one) is refused.
func decodeCursor(s string, terms []sortTerm) (cursor, error) {
	var c cursor
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		err = dec.Decode(&c)
	}
	if err == nil && len(c.Keys) != len(terms) {
		err = fmt.Errorf("%d keys for %d sort terms", len(c.Keys), len(terms))
	}
	for i := 0; err == nil && i < len(c.Keys); i++ {
		c.Keys[i], err = terms[i].value(c.Keys[i])
	}
	if err != nil {
		return cursor{}, fhir.Errorf(fhir.Invalid, "_cursor does not belong to this search: start again without it")
	}
	return c, nil
}

// value converts a decoded JSON key to the term's Go type.
func (t sortTerm) value(v any) (any, error) {
	switch v := v.(type) {
	case nil:
		if !t.nullable {
			return nil, fmt.Errorf("missing key")
		}
		return nil, nil
	case json.Number:
		if t.integer {
			return v.Int64()
		}
		if t.number {
			return v.Float64()
		}
	case string:
		if !t.integer && !t.number {
			return v, nil
		}
	}
	return nil, fmt.Errorf("key %v of the wrong type", v)
}

// after writes the keyset condition: the row comes after (or, with
// c.Back, before) the cursor's in the order of terms.
func (s *sqlQuery) after(terms []sortTerm, c cursor) {
	s.w("(")
	for i, t := range terms {
		if i > 0 {
			s.w(" OR (")
		}
		// Equal on every earlier term …
		for j := range i {
			s.equal(terms[j], c.Keys[j])
			s.w(" AND ")
		}
		// … and beyond it on this one.
		s.beyond(t, c.Keys[i], c.Back)
		if i > 0 {
			s.w(")")
		}
	}
	s.w(")")
}

func (s *sqlQuery) equal(t sortTerm, key any) {
	t.expr(s)
	if key == nil {
		s.w(" IS NULL")
		return
	}
	s.w(" = ")
	s.arg(key)
}

// beyond writes "the row's key comes after key" in the term's direction
// (before it, back), missing values counting as last.
func (s *sqlQuery) beyond(t sortTerm, key any, back bool) {
	op := " > "
	if t.desc != back {
		op = " < "
	}
	switch {
	case key == nil && !back:
		s.w("1 = 0") // nothing sorts after a missing value but other missing ones
	case key == nil:
		t.expr(s)
		s.w(" IS NOT NULL")
	case t.nullable && !back:
		s.w("(")
		t.expr(s)
		s.w(" IS NULL OR ")
		t.expr(s)
		s.w(op)
		s.arg(key)
		s.w(")")
	default:
		t.expr(s)
		s.w(op)
		s.arg(key)
	}
}

// pageQuery writes the SELECT of one page of q: the version columns and the
// sort keys, filtered, after the cursor if any, ordered and limited to n+1
// rows (the extra one tells that more follow).
func (r reader) pageQuery(q *search.Query, terms []sortTerm, cur *cursor, n int, now time.Time, sizes []int) (*sqlQuery, error) {
	c := r.newQuery(now)
	c.w("SELECT ", versionCols)
	for _, t := range terms {
		if t.fromRow == nil {
			c.w(", ")
			t.expr(c)
		}
	}
	if len(q.Sort) == 0 {
		c.seqOrder = 1
		if cur != nil && cur.Back {
			c.seqOrder = -1
		}
	}
	if err := c.selectMatches(q, versionJoin, sizes); err != nil {
		return nil, err
	}
	if cur != nil {
		c.w(" AND ")
		c.after(terms, *cur)
	}
	c.orderBy(terms, cur != nil && cur.Back)
	c.w(" LIMIT ")
	c.arg(n + 1)
	if cur == nil {
		c.w(" OFFSET ")
		c.arg(max(q.Offset, 0))
	}
	return c, nil
}

// page reads one page of q with the cursors of the pages before and after it.
func (r reader) page(ctx context.Context, q *search.Query, now time.Time, sizes []int) (*store.SearchPage, error) {
	terms, err := sortTerms("h", q)
	if err != nil {
		return nil, err
	}
	var cur *cursor
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor, terms)
		if err != nil {
			return nil, err
		}
		cur = &c
	}
	n := pageSize(q.Count)
	c, err := r.pageQuery(q, terms, cur, n, now, sizes)
	if err != nil {
		return nil, err
	}
	extra := 0 // the keys selected after the version columns
	for _, t := range terms {
		if t.fromRow == nil {
			extra++
		}
	}
	var list []store.Resource
	var keys [][]any
	err = r.query(ctx, c.b.String(), c.args, func(rows Rows) error {
		var res store.Resource
		var updated int64
		dest := []any{&res.Type, &res.ID, &res.Version, &updated, &res.Deleted, &res.Body, &res.Seq}
		k := make([]any, extra)
		for i := range k {
			dest = append(dest, &k[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		res.Updated = time.UnixMilli(updated).UTC()
		list = append(list, res)
		k = normalizeKeys(k, terms)
		for _, t := range terms[extra:] {
			k = append(k, t.fromRow(&res))
		}
		keys = append(keys, k)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: search %v: %w", q.Types, err)
	}
	more := len(list) > n
	if more {
		list, keys = list[:n], keys[:n]
	}
	back := cur != nil && cur.Back
	if back { // read backwards: put the page in order
		slices.Reverse(list)
		slices.Reverse(keys)
	}
	page := &store.SearchPage{Resources: list, Total: -1}
	if len(list) > 0 {
		if more || back { // going back, the page we came from follows
			page.Next = cursor{Keys: keys[len(keys)-1]}.encode()
		}
		if (back && more) || (!back && (cur != nil || q.Offset > 0)) {
			page.Prev = cursor{Back: true, Keys: keys[0]}.encode()
		}
	}
	page.More = page.Next != ""
	return page, nil
}

// normalizeKeys makes scanned sort keys the Go types the terms compare with
// (SQLite gives a number column's whole values as int64, text as []byte).
func normalizeKeys(k []any, terms []sortTerm) []any {
	for i, v := range k {
		switch x := v.(type) {
		case []byte:
			k[i] = string(x)
		case int64:
			if terms[i].number {
				k[i] = float64(x)
			}
		case float64:
			if terms[i].integer {
				k[i] = int64(x)
			}
		}
	}
	return k
}
