package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// mpiLockKey serialises updates of the master patient index across
// processes (PostgreSQL); SQLite's write transaction holds the database.
const mpiLockKey = "hip:mpi"

// UpdateMPI runs fn in one transaction with the index's lock held.
func (s *Store) UpdateMPI(ctx context.Context, fn func(store.Tx, store.MPIWriter) error) error {
	return s.Tx(ctx, func(st store.Tx) error {
		t := st.(*tx)
		if err := t.Serialize(ctx, mpiLockKey); err != nil {
			return err
		}
		return fn(t, mpiWriter{t})
	})
}

const mpiRecordCols = "patient, person, body, updated"

func scanMPIRecord(rows Rows) (store.MPIRecord, error) {
	var r store.MPIRecord
	var updated int64
	err := rows.Scan(&r.Patient, &r.Person, &r.Body, &updated)
	r.Updated = time.UnixMilli(updated).UTC()
	return r, err
}

func (r reader) mpiRecords(ctx context.Context, q string, args []any) ([]store.MPIRecord, error) {
	var out []store.MPIRecord
	err := r.query(ctx, q, args, func(rows Rows) error {
		rec, err := scanMPIRecord(rows)
		out = append(out, rec)
		return err
	})
	return out, err
}

// MPIRecords returns the entries of the patients that are indexed.
func (r reader) MPIRecords(ctx context.Context, patients []string) ([]store.MPIRecord, error) {
	var out []store.MPIRecord
	for batch := range chunks(patients) {
		recs, err := r.mpiRecords(ctx, "SELECT "+mpiRecordCols+" FROM mpi_record WHERE patient IN ("+placeholders(len(batch))+") ORDER BY patient", anys(batch))
		if err != nil {
			return nil, fmt.Errorf("store: read index entries: %w", err)
		}
		out = append(out, recs...)
	}
	return out, nil
}

// MPIPerson returns the entries of one person.
func (r reader) MPIPerson(ctx context.Context, person string) ([]store.MPIRecord, error) {
	out, err := r.mpiRecords(ctx, "SELECT "+mpiRecordCols+" FROM mpi_record WHERE person = ? ORDER BY patient", []any{person})
	if err != nil {
		return nil, fmt.Errorf("store: read person %s: %w", person, err)
	}
	return out, nil
}

// MPICandidates returns the entries sharing a key, leaving out the keys more
// than maxBlock entries share (counted first, one statement).
func (r reader) MPICandidates(ctx context.Context, keys []store.MPIKey, maxBlock int) ([]store.MPIRecord, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	var cond strings.Builder
	args := make([]any, 0, 2*len(keys))
	for i, k := range keys {
		if i > 0 {
			cond.WriteString(" OR ")
		}
		cond.WriteString("(rule = ? AND key = ?)")
		args = append(args, k.Rule, int64(k.Hash))
	}
	var keep []any
	var keepCond strings.Builder
	err := r.query(ctx, "SELECT rule, key FROM mpi_key WHERE "+cond.String()+" GROUP BY rule, key HAVING count(*) <= ?",
		append(args, maxBlock), func(rows Rows) error {
			var rule, key int64
			if err := rows.Scan(&rule, &key); err != nil {
				return err
			}
			if len(keep) > 0 {
				keepCond.WriteString(" OR ")
			}
			keepCond.WriteString("(k.rule = ? AND k.key = ?)")
			keep = append(keep, rule, key)
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("store: count index keys: %w", err)
	}
	if len(keep) == 0 {
		return nil, nil
	}
	out, err := r.mpiRecords(ctx, "SELECT DISTINCT r.patient, r.person, r.body, r.updated FROM mpi_key k JOIN mpi_record r ON r.patient = k.patient WHERE "+
		keepCond.String()+" ORDER BY r.patient", keep)
	if err != nil {
		return nil, fmt.Errorf("store: read index candidates: %w", err)
	}
	return out, nil
}

// MPIPairs lists pairs, oldest first.
func (r reader) MPIPairs(ctx context.Context, q store.MPIPairQuery) ([]store.MPIPair, error) {
	var where []string
	var args []any
	if q.Status != "" {
		where = append(where, "status = ?")
		args = append(args, q.Status)
	}
	if q.Patient != "" {
		where = append(where, "(a = ? OR b = ?)")
		args = append(args, q.Patient, q.Patient)
	}
	sql := "SELECT a, b, status, probability, evidence, decided_by, created, decided FROM mpi_pair"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY created, a, b"
	if q.Limit > 0 {
		sql += " LIMIT ?"
		args = append(args, q.Limit)
	}
	var out []store.MPIPair
	err := r.query(ctx, sql, args, func(rows Rows) error {
		var p store.MPIPair
		var created, decided int64
		if err := rows.Scan(&p.A, &p.B, &p.Status, &p.Probability, &p.Evidence, &p.DecidedBy, &created, &decided); err != nil {
			return err
		}
		p.Created = time.UnixMilli(created).UTC()
		if decided != 0 {
			p.Decided = time.UnixMilli(decided).UTC()
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list index pairs: %w", err)
	}
	return out, nil
}

// MPIState returns a named document.
func (r reader) MPIState(ctx context.Context, name string) ([]byte, error) {
	var body []byte
	found := false
	err := r.query(ctx, "SELECT body FROM mpi_state WHERE name = ?", []any{name}, func(rows Rows) error {
		found = true
		return rows.Scan(&body)
	})
	if err != nil {
		return nil, fmt.Errorf("store: read index state %q: %w", name, err)
	}
	if !found {
		return nil, fhir.Errorf(fhir.NotFound, "index state %q not found", name)
	}
	return body, nil
}

// mpiScanPage bounds the entries one statement of ScanMPI reads.
const mpiScanPage = 5000

// ScanMPI calls fn for every entry in patient order, a page at a time.
func (r reader) ScanMPI(ctx context.Context, fn func(*store.MPIRecord) error) error {
	after := ""
	for {
		recs, err := r.mpiRecords(ctx, "SELECT "+mpiRecordCols+" FROM mpi_record WHERE patient > ? ORDER BY patient LIMIT ?", []any{after, mpiScanPage})
		if err != nil {
			return fmt.Errorf("store: scan index: %w", err)
		}
		for i := range recs {
			if err := fn(&recs[i]); err != nil {
				return err
			}
		}
		if len(recs) < mpiScanPage {
			return nil
		}
		after = recs[len(recs)-1].Patient
	}
}

// mpiWriter writes the index on a transaction's connection; its reads are
// the transaction's.
type mpiWriter struct{ *tx }

func (w mpiWriter) exec(ctx context.Context, q string, args ...any) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	return w.failed(w.conn.Exec(ctx, w.d.rebind(q), args...))
}

func (w mpiWriter) PutMPIRecord(ctx context.Context, rec store.MPIRecord, keys []store.MPIKey) error {
	err := w.exec(ctx, "INSERT INTO mpi_record ("+mpiRecordCols+") VALUES (?, ?, ?, ?) "+
		"ON CONFLICT (patient) DO UPDATE SET person = excluded.person, body = excluded.body, updated = excluded.updated",
		rec.Patient, rec.Person, rec.Body, w.now.UnixMilli())
	if err == nil {
		err = w.exec(ctx, "DELETE FROM mpi_key WHERE patient = ?", rec.Patient)
	}
	for batch := range chunks(dedupe(keys)) {
		if err != nil {
			break
		}
		args := make([]any, 0, 3*len(batch))
		for _, k := range batch {
			args = append(args, k.Rule, int64(k.Hash), rec.Patient)
		}
		err = w.exec(ctx, "INSERT INTO mpi_key (rule, key, patient) VALUES "+strings.Repeat("(?, ?, ?), ", len(batch)-1)+"(?, ?, ?)", args...)
	}
	if err != nil {
		return fmt.Errorf("store: index patient %s: %w", rec.Patient, err)
	}
	return nil
}

func (w mpiWriter) DeleteMPIRecord(ctx context.Context, patient string) error {
	err := w.exec(ctx, "DELETE FROM mpi_key WHERE patient = ?", patient)
	if err == nil {
		err = w.exec(ctx, "DELETE FROM mpi_record WHERE patient = ?", patient)
	}
	if err != nil {
		return fmt.Errorf("store: remove patient %s from the index: %w", patient, err)
	}
	return nil
}

func (w mpiWriter) PutMPIPair(ctx context.Context, p store.MPIPair) error {
	if p.A >= p.B {
		return fmt.Errorf("store: index pair %s, %s: want A < B", p.A, p.B)
	}
	var decided int64
	if !p.Decided.IsZero() {
		decided = p.Decided.UnixMilli()
	}
	created := p.Created
	if created.IsZero() {
		created = w.now
	}
	err := w.exec(ctx, "INSERT INTO mpi_pair (a, b, status, probability, evidence, decided_by, created, decided) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "+
		"ON CONFLICT (a, b) DO UPDATE SET status = excluded.status, probability = excluded.probability, evidence = excluded.evidence, "+
		"decided_by = excluded.decided_by, decided = excluded.decided",
		p.A, p.B, p.Status, p.Probability, nonNil(p.Evidence), p.DecidedBy, created.UnixMilli(), decided)
	if err != nil {
		return fmt.Errorf("store: put index pair %s, %s: %w", p.A, p.B, err)
	}
	return nil
}

// placeholders returns n comma-separated ? marks.
func placeholders(n int) string {
	return strings.Repeat("?, ", n-1) + "?"
}

func anys(list []string) []any {
	out := make([]any, len(list))
	for i, v := range list {
		out[i] = v
	}
	return out
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (w mpiWriter) DeleteMPIReviews(ctx context.Context, patient string) error {
	var err error
	if patient == "" {
		err = w.exec(ctx, "DELETE FROM mpi_pair WHERE status = 'review'")
	} else {
		err = w.exec(ctx, "DELETE FROM mpi_pair WHERE status = 'review' AND (a = ? OR b = ?)", patient, patient)
	}
	if err != nil {
		return fmt.Errorf("store: drop reviews of %s: %w", patient, err)
	}
	return nil
}

func (w mpiWriter) PutMPIState(ctx context.Context, name string, body []byte) error {
	err := w.exec(ctx, "INSERT INTO mpi_state (name, body, updated) VALUES (?, ?, ?) "+
		"ON CONFLICT (name) DO UPDATE SET body = excluded.body, updated = excluded.updated", name, body, w.now.UnixMilli())
	if err != nil {
		return fmt.Errorf("store: put index state %q: %w", name, err)
	}
	return nil
}
