package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// k is a blocking key.
func k(rule int, hash uint64) store.MPIKey { return store.MPIKey{Rule: rule, Hash: hash} }

func mpiPatients(recs []store.MPIRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Patient+"@"+r.Person)
	}
	return out
}

func testMPI(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Three patients: a and b share key (1, 10); c shares (2, 20) with a;
	// keys (3, 30) is shared by all three (a large block).
	entries := []struct {
		rec  store.MPIRecord
		keys []store.MPIKey
	}{
		{store.MPIRecord{Patient: "a", Person: "p1", Body: []byte(`{"id":"a"}`)}, []store.MPIKey{k(1, 10), k(2, 20), k(3, 30), k(3, 30)}},
		{store.MPIRecord{Patient: "b", Person: "p1", Body: []byte(`{"id":"b"}`)}, []store.MPIKey{k(1, 10), k(3, 30)}},
		{store.MPIRecord{Patient: "c", Person: "p2", Body: []byte(`{"id":"c"}`)}, []store.MPIKey{k(2, 20), k(3, 30), k(4, 1<<63)}},
	}
	err := s.UpdateMPI(ctx, func(tx store.Tx, w store.MPIWriter) error {
		for _, e := range entries {
			if err := w.PutMPIRecord(ctx, e.rec, e.keys); err != nil {
				return err
			}
		}
		// Reads inside the transaction see its writes.
		got, err := w.MPIPerson(ctx, "p1")
		if err != nil {
			return err
		}
		if want := []string{"a@p1", "b@p1"}; !slices.Equal(mpiPatients(got), want) {
			t.Errorf("in the transaction, person p1 = %v, want %v", mpiPatients(got), want)
		}
		if _, _, err := tx.Put(ctx, fhir.Resource{"resourceType": "Person", "id": "p1"}, store.Precondition{}); err != nil {
			return err
		}
		return w.PutMPIState(ctx, "model", []byte(`{"lambda":0.01}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, "Person", "p1"); err != nil {
		t.Errorf("the Person written with the index: %v", err)
	}
	tests := []struct {
		name     string
		keys     []store.MPIKey
		maxBlock int
		want     []string
	}{
		{"one key", []store.MPIKey{k(1, 10)}, 10, []string{"a@p1", "b@p1"}},
		{"two keys, each entry once", []store.MPIKey{k(1, 10), k(2, 20)}, 10, []string{"a@p1", "b@p1", "c@p2"}},
		{"large block left out", []store.MPIKey{k(3, 30), k(1, 10)}, 2, []string{"a@p1", "b@p1"}},
		{"hash with the top bit", []store.MPIKey{k(4, 1<<63)}, 10, []string{"c@p2"}},
		{"same hash, other rule", []store.MPIKey{k(2, 10)}, 10, nil},
		{"no keys", nil, 10, nil},
	}
	for _, tt := range tests {
		got, err := s.MPICandidates(ctx, tt.keys, tt.maxBlock)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(mpiPatients(got), tt.want) {
			t.Errorf("%s: candidates %v, want %v", tt.name, mpiPatients(got), tt.want)
		}
	}
	got, err := s.MPIRecords(ctx, []string{"c", "a", "zz"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a@p1", "c@p2"}; !slices.Equal(mpiPatients(got), want) {
		t.Errorf("MPIRecords = %v, want %v", mpiPatients(got), want)
	}
	if string(got[0].Body) != `{"id":"a"}` || got[0].Updated.IsZero() {
		t.Errorf("entry a = %+v", got[0])
	}
	if body, err := s.MPIState(ctx, "model"); err != nil || string(body) != `{"lambda":0.01}` {
		t.Errorf("MPIState = %q, %v", body, err)
	}
	_, err = s.MPIState(ctx, "nothing")
	wantCode(t, err, fhir.NotFound)

	// Moving b to a person of its own replaces its keys; removing c drops its keys.
	err = s.UpdateMPI(ctx, func(_ store.Tx, w store.MPIWriter) error {
		if err := w.PutMPIRecord(ctx, store.MPIRecord{Patient: "b", Person: "p3", Body: []byte(`{}`)}, []store.MPIKey{k(5, 50)}); err != nil {
			return err
		}
		return w.DeleteMPIRecord(ctx, "c")
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.MPICandidates(ctx, []store.MPIKey{k(1, 10), k(2, 20), k(5, 50)}, 10); !slices.Equal(mpiPatients(got), []string{"a@p1", "b@p3"}) {
		t.Errorf("after the changes, candidates %v", mpiPatients(got))
	}
	var scanned []string
	if err := s.ScanMPI(ctx, func(r *store.MPIRecord) error { scanned = append(scanned, r.Patient); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b"}; !slices.Equal(scanned, want) {
		t.Errorf("ScanMPI = %v, want %v", scanned, want)
	}

	// Pairs: a review, a decision, replaced, listed, dropped.
	err = s.UpdateMPI(ctx, func(_ store.Tx, w store.MPIWriter) error {
		if err := w.PutMPIPair(ctx, store.MPIPair{A: "a", B: "b", Status: "review", Probability: 0.7, Evidence: []byte(`[]`)}); err != nil {
			return err
		}
		if err := w.PutMPIPair(ctx, store.MPIPair{A: "b", B: "a", Status: "review"}); err == nil {
			t.Error("PutMPIPair accepted A > B")
		}
		return w.PutMPIPair(ctx, store.MPIPair{A: "a", B: "x", Status: "apart", DecidedBy: "reviewer", Decided: tx0})
	})
	if err != nil {
		t.Fatal(err)
	}
	reviews, err := s.MPIPairs(ctx, store.MPIPairQuery{Status: "review"})
	if err != nil {
		t.Fatal(err)
	}
	if len(reviews) != 1 || reviews[0].A != "a" || reviews[0].Probability != 0.7 || !reviews[0].Decided.IsZero() || reviews[0].Created.IsZero() {
		t.Errorf("reviews = %+v", reviews)
	}
	if all, _ := s.MPIPairs(ctx, store.MPIPairQuery{Patient: "a"}); len(all) != 2 {
		t.Errorf("pairs of a = %+v, want 2", all)
	}
	err = s.UpdateMPI(ctx, func(_ store.Tx, w store.MPIWriter) error { return w.DeleteMPIReviews(ctx, "b") })
	if err != nil {
		t.Fatal(err)
	}
	all, _ := s.MPIPairs(ctx, store.MPIPairQuery{})
	if len(all) != 1 || all[0].Status != "apart" || all[0].DecidedBy != "reviewer" || !all[0].Decided.Equal(tx0) {
		t.Errorf("after dropping b's reviews: %+v", all)
	}
}

// tx0 is a decision time at millisecond precision, as stored.
var tx0 = time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)

func testMPIRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := s.UpdateMPI(ctx, func(tx store.Tx, w store.MPIWriter) error {
		if err := w.PutMPIRecord(ctx, store.MPIRecord{Patient: "a", Person: "p1", Body: []byte(`{}`)}, []store.MPIKey{k(1, 1)}); err != nil {
			return err
		}
		if _, _, err := tx.Put(ctx, fhir.Resource{"resourceType": "Person", "id": "p1"}, store.Precondition{}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateMPI = %v, want boom", err)
	}
	if got, _ := s.MPIRecords(ctx, []string{"a"}); len(got) != 0 {
		t.Errorf("a rolled-back entry remains: %v", got)
	}
	_, err = s.Read(ctx, "Person", "p1")
	wantCode(t, err, fhir.NotFound)
}
