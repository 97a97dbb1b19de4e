package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// PutAccount creates or replaces an account record.
func (s *Store) PutAccount(ctx context.Context, kind, name string, body []byte) error {
	err := s.inTx(ctx, func(c Conn) error {
		return c.Exec(ctx, s.d.rebind("INSERT INTO accounts (kind, name, body, updated) VALUES (?, ?, ?, ?) "+
			"ON CONFLICT (kind, name) DO UPDATE SET body = excluded.body, updated = excluded.updated"),
			kind, name, body, time.Now().UnixMilli())
	})
	if err != nil {
		return fmt.Errorf("store: put %s %q: %w", kind, name, err)
	}
	return nil
}

// Account reads one account record.
func (s *Store) Account(ctx context.Context, kind, name string) ([]byte, error) {
	var body []byte
	found := false
	err := s.query(ctx, "SELECT body FROM accounts WHERE kind = ? AND name = ?", []any{kind, name}, func(rows Rows) error {
		found = true
		return rows.Scan(&body)
	})
	if err != nil {
		return nil, fmt.Errorf("store: read %s %q: %w", kind, name, err)
	}
	if !found {
		return nil, fhir.Errorf(fhir.NotFound, "%s %q not found", kind, name)
	}
	return body, nil
}

// Accounts lists the records of a kind in name order.
func (s *Store) Accounts(ctx context.Context, kind string) ([]store.AccountRecord, error) {
	var list []store.AccountRecord
	err := s.query(ctx, "SELECT name, body, updated FROM accounts WHERE kind = ? ORDER BY name", []any{kind}, func(rows Rows) error {
		var rec store.AccountRecord
		var updated int64
		if err := rows.Scan(&rec.Name, &rec.Body, &updated); err != nil {
			return err
		}
		rec.Updated = time.UnixMilli(updated).UTC()
		list = append(list, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list %s: %w", kind, err)
	}
	return list, nil
}

// DeleteAccount deletes a record; the DELETE's row count tells which of two
// concurrent deletes removed it.
func (s *Store) DeleteAccount(ctx context.Context, kind, name string) (bool, error) {
	deleted := false
	err := s.inTx(ctx, func(c Conn) error {
		return queryConn(ctx, c, s.d.rebind("DELETE FROM accounts WHERE kind = ? AND name = ? RETURNING name"), []any{kind, name},
			func(rows Rows) error {
				deleted = true
				return nil
			})
	})
	if err != nil {
		return false, fmt.Errorf("store: delete %s %q: %w", kind, name, err)
	}
	return deleted, nil
}

// auditLockKey serialises appends to the trail across processes (PostgreSQL);
// SQLite's write transaction holds the database already.
const auditLockKey = "hip:audit_log"

// auditBatchRows bounds the rows of one multi-row INSERT, far below SQLite's
// limit of bound parameters.
const auditBatchRows = 500

// AppendAudit appends entries after the last one, numbering and chaining them
// under a lock so that two processes cannot both extend the same entry.
func (s *Store) AppendAudit(ctx context.Context, entries []store.AuditEntry, chain func(int64, []byte, []store.AuditEntry)) error {
	if len(entries) == 0 {
		return nil
	}
	err := inTx(ctx, s.audit, func(c Conn) error {
		if s.d.KeyLock != "" {
			if err := c.Exec(ctx, s.d.rebind(s.d.KeyLock), auditLockKey); err != nil {
				return err
			}
		}
		var lastSeq int64
		var lastHash []byte
		err := queryConn(ctx, c, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", nil, func(rows Rows) error {
			return rows.Scan(&lastSeq, &lastHash)
		})
		if err != nil {
			return err
		}
		chain(lastSeq, lastHash, entries)
		for start := 0; start < len(entries); start += auditBatchRows {
			batch := entries[start:min(start+auditBatchRows, len(entries))]
			if err := s.insertAudit(ctx, c, batch); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: append %d audit entries: %w", len(entries), err)
	}
	return nil
}

func (s *Store) insertAudit(ctx context.Context, c Conn, batch []store.AuditEntry) error {
	var b strings.Builder
	args := make([]any, 0, 6*len(batch))
	b.WriteString("INSERT INTO audit_log (seq, recorded, agent, patients, body, hash) VALUES ")
	var links []any
	for i, e := range batch {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?)")
		patients := dedupe(e.Patients)
		args = append(args, e.Seq, e.Recorded.UnixMilli(), e.Agent, strings.Join(patients, " "), e.Body, e.Hash)
		for _, p := range patients {
			links = append(links, p, e.Seq)
		}
	}
	if err := c.Exec(ctx, s.d.rebind(b.String()), args...); err != nil {
		return err
	}
	for start := 0; start < len(links); start += 2 * auditBatchRows {
		part := links[start:min(start+2*auditBatchRows, len(links))]
		q := "INSERT INTO audit_patients (patient, seq) VALUES " + strings.TrimSuffix(strings.Repeat("(?, ?), ", len(part)/2), ", ")
		if err := c.Exec(ctx, s.d.rebind(q), part...); err != nil {
			return err
		}
	}
	return nil
}

// dedupe returns list without repeated values, keeping the first of each.
func dedupe[T comparable](list []T) []T {
	if len(list) < 2 {
		return list
	}
	seen := make(map[T]bool, len(list))
	out := list[:0:0]
	for _, v := range list {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// auditPage is how many entries ScanAudit reads per statement, so that a scan
// of the whole trail (verification) streams.
const auditPage = 1000

// ScanAudit reads entries in number order, a page at a time, each with the
// patients it touched.
func (s *Store) ScanAudit(ctx context.Context, q store.AuditQuery, fn func(*store.AuditEntry) error) error {
	after, before := q.After, q.Before
	left := q.Limit
	for {
		size := auditPage
		if q.Limit > 0 {
			size = min(size, left)
		}
		batch, err := s.auditPage(ctx, q, after, before, size)
		if err != nil {
			return fmt.Errorf("store: scan audit: %w", err)
		}
		for i := range batch {
			if err := fn(&batch[i]); err != nil {
				return err
			}
		}
		if len(batch) < size {
			return nil
		}
		if q.Limit > 0 {
			if left -= len(batch); left == 0 {
				return nil
			}
		}
		if last := batch[len(batch)-1].Seq; q.Descending {
			before = last
		} else {
			after = last
		}
	}
}

func (s *Store) auditPage(ctx context.Context, q store.AuditQuery, after, before int64, size int) ([]store.AuditEntry, error) {
	var where []string
	var args []any
	cond := func(c string, v any) {
		where = append(where, c)
		args = append(args, v)
	}
	if after > 0 {
		cond("seq > ?", after)
	}
	if before > 0 {
		cond("seq < ?", before)
	}
	if q.Agent != "" {
		cond("agent = ?", q.Agent)
	}
	if q.Patient != "" {
		cond("seq IN (SELECT seq FROM audit_patients WHERE patient = ?)", q.Patient)
	}
	if !q.Since.IsZero() {
		cond("recorded >= ?", q.Since.UnixMilli())
	}
	if !q.Until.IsZero() {
		cond("recorded < ?", q.Until.UnixMilli())
	}
	sql := "SELECT seq, recorded, agent, patients, body, hash FROM audit_log"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY seq"
	if q.Descending {
		sql += " DESC"
	}
	sql += fmt.Sprintf(" LIMIT %d", size)
	var batch []store.AuditEntry
	audit := reader{d: s.d, run: s.audit.Read}
	err := audit.query(ctx, sql, args, func(rows Rows) error {
		var e store.AuditEntry
		var recorded int64
		var patients string
		if err := rows.Scan(&e.Seq, &recorded, &e.Agent, &patients, &e.Body, &e.Hash); err != nil {
			return err
		}
		e.Recorded = time.UnixMilli(recorded).UTC()
		e.Patients = strings.Fields(patients)
		batch = append(batch, e)
		return nil
	})
	return batch, err
}
