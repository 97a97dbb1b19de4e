package audit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/postgres"
	"github.com/hip-platform/hip/internal/store/postgres/pgtest"
	"github.com/hip-platform/hip/internal/store/sqlite"
	"github.com/hip-platform/hip/internal/store/storetest"
)

// backend opens a store of one kind and returns it with a way to run SQL
// on its database around the store, as a tamperer with database access.
type backend struct {
	name string
	open func(t *testing.T) (store.Store, func(sql string) error)
}

var backends = []backend{
	{"sqlite", func(t *testing.T) (store.Store, func(string) error) {
		path := filepath.Join(t.TempDir(), "hip.db")
		db, err := sqlite.Open(t.Context(), path, storetest.Options(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		raw, err := sql.Open("sqlite", sqlite.AuditPath(path))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		return db, func(stmt string) error { _, err := raw.Exec(stmt); return err }
	}},
	{"postgres", func(t *testing.T) (store.Store, func(string) error) {
		url := pgtest.Schema(t, pgtest.URL(t))
		db, err := postgres.Open(t.Context(), url, storetest.Options(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		conn, err := pgx.Connect(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return db, func(stmt string) error { _, err := conn.Exec(context.Background(), stmt); return err }
	}},
}

func openTrail(t *testing.T, b backend) (store.Store, *Trail, func(string) error) {
	t.Helper()
	db, exec := b.open(t)
	trail := NewTrail(db, nil)
	t.Cleanup(trail.Close)
	return db, trail, exec
}

func TestTrailAndVerify(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { testTrailAndVerify(t, b) })
	}
}

func testTrailAndVerify(t *testing.T, b backend) {
	db, trail, exec := openTrail(t, b)
	ctx := t.Context()
	// Concurrent requests: their records are written in shared batches.
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 25 {
				rec := &Record{Agent: fmt.Sprintf("user%d", w), Role: "clinician", Facility: "org1", Interaction: "read", Action: "R",
					Type: "Observation", Resources: []string{fmt.Sprintf("Observation/o%d", i)},
					Patients: []string{fmt.Sprintf("Patient/p%d", i%5)}, Status: 200, Address: "192.0.2.7"}
				if err := trail.Record(ctx, rec); err != nil {
					t.Errorf("Record: %v", err)
				}
			}
		})
	}
	wg.Wait()
	if err := trail.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	report, err := Verify(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if report.Entries != 200 || len(report.Problems) > 0 || len(report.Head) != 32 || report.HeadSeq != 200 {
		t.Fatalf("report %+v, want 200 sound entries", report)
	}
	head := trail.Head()
	if head.Seq != 200 || !bytes.Equal(head.Hash, report.Head) {
		t.Fatalf("trail head %v, verified head %d:%x", head, report.HeadSeq, report.Head)
	}
	again, err := ParseAnchor(head.String())
	if err != nil || again.Seq != head.Seq || !bytes.Equal(again.Hash, head.Hash) {
		t.Fatalf("anchor %s parsed as %v, %v", head, again, err)
	}

	// Tampering through SQL, around the triggers that refuse it.
	drop := []string{"DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete"}
	if b.name == "postgres" {
		drop = []string{"DROP TRIGGER audit_log_no_change ON audit_log"}
	}
	for _, stmt := range drop {
		if err := exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	edit := map[string]string{
		"sqlite":   `UPDATE audit_log SET body = replace(body, '"status":200', '"status":403') WHERE seq = 40`,
		"postgres": `UPDATE audit_log SET body = convert_to(replace(convert_from(body, 'UTF8'), '"status":200', '"status":403'), 'UTF8') WHERE seq = 40`,
	}[b.name]
	for _, tc := range []struct {
		name, stmt string
		seq        int64
		want       string
	}{
		{"edited content", edit, 40, "altered"},
		{"hidden patient", `UPDATE audit_log SET patients = '' WHERE seq = 60`, 60, "indexed"},
		{"deleted entry", `DELETE FROM audit_log WHERE seq = 100`, 101, "missing"},
		// Deleting the last entries leaves a sound chain: the anchor finds it.
		{"cut-off tail", `DELETE FROM audit_log WHERE seq > 195`, 200, "cut off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := exec(tc.stmt); err != nil {
				t.Fatal(err)
			}
			report, err := Verify(ctx, db, head)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, p := range report.Problems {
				if p.Seq == tc.seq && strings.Contains(p.What, tc.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("problems %+v, want one at %d about %q", report.Problems, tc.seq, tc.want)
			}
		})
	}
}

func TestAppendOnly(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db, trail, exec := openTrail(t, b)
			if err := trail.Record(t.Context(), &Record{Agent: "a", Interaction: "read", Action: "R", Status: 200}); err != nil {
				t.Fatal(err)
			}
			if err := trail.Sync(t.Context()); err != nil {
				t.Fatal(err)
			}
			for _, stmt := range []string{"UPDATE audit_log SET agent = 'b'", "DELETE FROM audit_log"} {
				if err := exec(stmt); err == nil || !strings.Contains(err.Error(), "append-only") {
					t.Errorf("%s: %v, want refused as append-only", stmt, err)
				}
			}
			if r, _ := Verify(t.Context(), db); r.Entries != 1 || len(r.Problems) != 0 {
				t.Errorf("report %+v", r)
			}
		})
	}
}

func TestEvent(t *testing.T) {
	rec := Record{Recorded: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC), Agent: "zhang.wei", Name: "张伟", Client: "app",
		Role: "clinician", Facility: "org1", Interaction: "search-type", Action: "E", Type: "Observation", Query: "patient=Patient/p1",
		Patients: []string{"Patient/p1"}, Resources: []string{"Observation/o1", "Patient/p1"}, Purpose: "ETREAT",
		BreakGlass: "患者昏迷，急诊抢救", Status: 200, Address: "192.0.2.7"}
	body, _ := json.Marshal(rec)
	ev, err := Event(&store.AuditEntry{Seq: 7, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := ev.MarshalJSON()
	for _, want := range []string{`"id":"7"`, `"action":"E"`, `"code":"search-type"`, `"reference":"Patient/p1"`,
		`"reference":"Observation/o1"`, `"code":"ETREAT"`, `"valueString":"患者昏迷，急诊抢救"`, `"address":"192.0.2.7"`,
		`"value":"app"`, `"outcome":"0"`, `"description":"Observation?patient=Patient/p1"`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("AuditEvent lacks %s: %s", want, got)
		}
	}
	// The patient is an entity once, as the patient, not again as a resource.
	if n := strings.Count(string(got), `"reference":"Patient/p1"`); n != 1 {
		t.Errorf("Patient/p1 appears %d times", n)
	}
}

// flaky is an audit log whose appends fail while down is set.
type flaky struct {
	store.AuditLog
	mu   sync.Mutex
	down bool
}

func (f *flaky) AppendAudit(ctx context.Context, e []store.AuditEntry, chain func(int64, []byte, []store.AuditEntry)) error {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return errors.New("disk full")
	}
	return f.AuditLog.AppendAudit(ctx, e, chain)
}

func (f *flaky) set(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// TestFailsClosed: while the trail cannot be written, new records are
// refused (their requests go unanswered), and what was handed over before is
// written once the store is back.
func TestFailsClosed(t *testing.T) {
	db, _ := backends[0].open(t)
	f := &flaky{AuditLog: db}
	trail := NewTrail(f, slog.New(slog.DiscardHandler))
	defer trail.Close()
	ctx := t.Context()
	f.set(true)
	if err := trail.Record(ctx, &Record{Agent: "a", Interaction: "read", Action: "R", Status: 200}); err != nil {
		t.Fatalf("the first record: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for trail.Record(ctx, &Record{Agent: "b", Interaction: "read", Action: "R", Status: 200}) == nil {
		if time.Now().After(deadline) {
			t.Fatal("records still accepted while the trail fails")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := trail.Sync(ctx); err == nil {
		t.Errorf("Sync succeeded while the trail fails")
	}
	f.set(false)
	deadline = time.Now().Add(10 * time.Second)
	for trail.Record(ctx, &Record{Agent: "c", Interaction: "read", Action: "R", Status: 200}) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the trail did not recover")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := trail.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	var agents []string
	db.ScanAudit(ctx, store.AuditQuery{}, func(e *store.AuditEntry) error {
		agents = append(agents, e.Agent)
		return nil
	})
	if len(agents) < 2 || agents[0] != "a" || agents[len(agents)-1] != "c" {
		t.Errorf("trail holds %v: the record handed over before the failure must be written first", agents)
	}
}
