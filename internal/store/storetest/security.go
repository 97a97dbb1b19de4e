package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

func testAccounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.Account(ctx, "user", "zhangsan")
	wantCode(t, err, fhir.NotFound)
	for _, rec := range []struct{ kind, name, body string }{
		{"user", "zhangsan", `{"v":1}`},
		{"user", "lisi", `{"v":1}`},
		{"client", "zhangsan", `{"client":true}`},
		{"user", "zhangsan", `{"v":2}`},
	} {
		if err := s.PutAccount(ctx, rec.kind, rec.name, []byte(rec.body)); err != nil {
			t.Fatalf("PutAccount %s %s: %v", rec.kind, rec.name, err)
		}
	}
	body, err := s.Account(ctx, "user", "zhangsan")
	if err != nil || string(body) != `{"v":2}` {
		t.Fatalf("Account(user, zhangsan) = %s, %v; want the replaced record", body, err)
	}
	users, err := s.Accounts(ctx, "user")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
		if u.Updated.IsZero() {
			t.Errorf("%s: no update time", u.Name)
		}
	}
	if !slices.Equal(names, []string{"lisi", "zhangsan"}) {
		t.Errorf("Accounts(user) = %v, want [lisi zhangsan]", names)
	}
	clients, err := s.Accounts(ctx, "client")
	if err != nil || len(clients) != 1 || string(clients[0].Body) != `{"client":true}` {
		t.Errorf("Accounts(client) = %v, %v", clients, err)
	}

	// Of concurrent deletes of one record exactly one removes it.
	if err := s.PutAccount(ctx, "code", "once", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	removed := 0
	for range 8 {
		wg.Go(func() {
			ok, err := s.DeleteAccount(ctx, "code", "once")
			if err != nil {
				t.Errorf("DeleteAccount: %v", err)
			}
			if ok {
				mu.Lock()
				removed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if removed != 1 {
		t.Errorf("%d concurrent deletes removed the record, want 1", removed)
	}
	_, err = s.Account(ctx, "code", "once")
	wantCode(t, err, fhir.NotFound)
}

// chainAudit numbers entries after lastSeq and hashes each over its
// predecessor, as the audit package does.
func chainAudit(lastSeq int64, lastHash []byte, entries []store.AuditEntry) {
	for i := range entries {
		lastSeq++
		entries[i].Seq = lastSeq
		h := sha256.New()
		h.Write(lastHash)
		h.Write(entries[i].Body)
		lastHash = h.Sum(nil)
		entries[i].Hash = lastHash
	}
}

func testAuditLog(t *testing.T, s store.Store) {
	ctx := t.Context()
	base := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	// Concurrent appenders: the trail must come out numbered without gaps and
	// chained, whatever order their transactions commit in.
	const writers, batches, perBatch = 6, 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for b := range batches {
				entries := make([]store.AuditEntry, perBatch)
				for i := range entries {
					n := (w*batches+b)*perBatch + i
					entries[i] = store.AuditEntry{
						Recorded: base.Add(time.Duration(n) * time.Second),
						Agent:    fmt.Sprintf("user%d", w),
						Patients: []string{fmt.Sprintf("Patient/p%d", n%7), fmt.Sprintf("Patient/p%d", n%7), "Patient/all"},
						Body:     fmt.Appendf(nil, `{"n":%d}`, n),
					}
				}
				if err := s.AppendAudit(ctx, entries, chainAudit); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("AppendAudit: %v", err)
	}
	const total = writers * batches * perBatch
	var prev []byte
	var seq int64
	err := s.ScanAudit(ctx, store.AuditQuery{}, func(e *store.AuditEntry) error {
		seq++
		if e.Seq != seq {
			return fmt.Errorf("entry %d where %d was due", e.Seq, seq)
		}
		h := sha256.New()
		h.Write(prev)
		h.Write(e.Body)
		if !bytes.Equal(h.Sum(nil), e.Hash) {
			return fmt.Errorf("entry %d: hash not chained to its predecessor", e.Seq)
		}
		if len(e.Patients) != 2 {
			return fmt.Errorf("entry %d: patients %v, want two distinct ones", e.Seq, e.Patients)
		}
		prev = e.Hash
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seq != total {
		t.Fatalf("scanned %d entries, want %d", seq, total)
	}

	count := func(q store.AuditQuery) (n int, first, last int64) {
		t.Helper()
		err := s.ScanAudit(ctx, q, func(e *store.AuditEntry) error {
			if n == 0 {
				first = e.Seq
			}
			last = e.Seq
			n++
			return nil
		})
		if err != nil {
			t.Fatalf("ScanAudit(%+v): %v", q, err)
		}
		return n, first, last
	}
	for _, tc := range []struct {
		name        string
		q           store.AuditQuery
		n           int
		first, last int64
	}{
		{"all newest first", store.AuditQuery{Descending: true}, total, total, 1},
		{"after and before", store.AuditQuery{After: 10, Before: 21}, 10, 11, 20},
		{"limit", store.AuditQuery{Limit: 1500}, 1500, 1, 1500},
		{"limit newest first", store.AuditQuery{Limit: 3, Descending: true}, 3, total, total - 2},
		{"agent", store.AuditQuery{Agent: "user0"}, batches * perBatch, -1, -1},
		{"patient", store.AuditQuery{Patient: "Patient/p3"}, (total + 3) / 7, -1, -1},
		{"patient shared by all", store.AuditQuery{Patient: "Patient/all", Limit: 1001}, 1001, 1, 1001},
		{"unknown patient", store.AuditQuery{Patient: "Patient/none"}, 0, 0, 0},
	} {
		n, first, last := count(tc.q)
		if n != tc.n || tc.first >= 0 && (first != tc.first || last != tc.last) {
			t.Errorf("%s: %d entries %d…%d, want %d entries %d…%d", tc.name, n, first, last, tc.n, tc.first, tc.last)
		}
	}
	// Time bounds select by the recorded instant, whatever the append order was.
	n, _, _ := count(store.AuditQuery{Since: base.Add(100 * time.Second), Until: base.Add(200 * time.Second)})
	if n != 100 {
		t.Errorf("Since/Until: %d entries, want 100", n)
	}
}

// testWriteCheck checks Precondition.Check: it sees the head and the
// current body, and a refusal writes nothing and leaves the index as it was.
func testWriteCheck(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "Patient", "wc1")
	refused := errors.New("refused")
	var seen []string
	check := func(verdict error) store.Precondition {
		return store.Precondition{Check: func(cur *store.Resource, body func() ([]byte, error)) error {
			b, err := body()
			if err != nil {
				return err
			}
			seen = append(seen, fmt.Sprintf("%s/%s v%d %t", cur.Type, cur.ID, cur.Version, len(b) > 0))
			return verdict
		}}
	}
	for _, tc := range []struct {
		name string
		op   func(tx store.Tx) error
		want error
	}{
		{"refused update", func(tx store.Tx) error {
			_, _, err := tx.Put(ctx, resource("Patient", "wc1"), check(refused))
			return err
		}, refused},
		{"refused delete", func(tx store.Tx) error {
			_, err := tx.Delete(ctx, "Patient", "wc1", check(refused))
			return err
		}, refused},
		// In one transaction a refusal after other writes must not disturb
		// the resource it refused (its index rows stay).
		{"refused among writes", func(tx store.Tx) error {
			if _, _, err := tx.Put(ctx, resource("Patient", "wc2"), store.Precondition{}); err != nil {
				return err
			}
			if _, err := tx.Delete(ctx, "Patient", "wc1", check(refused)); err != refused {
				return fmt.Errorf("delete: %v", err)
			}
			return nil
		}, nil},
		{"allowed create", func(tx store.Tx) error {
			_, _, err := tx.Put(ctx, resource("Patient", "wc3"), check(nil))
			return err
		}, nil},
	} {
		err := s.Tx(ctx, tc.op)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	want := []string{"Patient/wc1 v1 true", "Patient/wc1 v1 true", "Patient/wc1 v1 true", "Patient/wc3 v0 false"}
	if !slices.Equal(seen, want) {
		t.Errorf("checks saw %v, want %v", seen, want)
	}
	res, err := s.Read(ctx, "Patient", "wc1")
	if err != nil || res.Version != 1 {
		t.Fatalf("wc1 after refusals: %v %v", res, err)
	}
	page := run(t, s, Query(t, "Patient", "_id=wc1,wc2,wc3&active=true&_sort=_id"))
	if got := keys(page); !slices.Equal(got, []string{"Patient/wc1", "Patient/wc2", "Patient/wc3"}) {
		t.Errorf("index after refusals: %v", got)
	}
}
