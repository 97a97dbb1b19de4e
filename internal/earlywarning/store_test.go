package earlywarning

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/sqlite"
	"github.com/hip-platform/hip/internal/store/storetest"
)

// TestLoad reads syndromic diagnoses from a real SQLite store over more
// than one page: only the syndromes' codes, only onsets in the days asked
// for, each with its patient's township.
func TestLoad(t *testing.T) {
	ctx := t.Context()
	ix := storetest.Indexer(t)
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "hip.db"), store.Options{Indexer: ix})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	defs, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	parser := search.NewParser(defs, search.NormalizeString).WithParams(ix.Param)

	var docs []string
	for i := range 3 {
		docs = append(docs, patient("p"+string(rune('1'+i)), []string{"990121001001", "990121101201", "990121102203"}[i], "2012-05-01"))
	}
	want := map[string]int{}
	for d := range 30 { // 2025-03-01 … 2025-03-30
		day := time.Date(2025, 3, 1+d, 10, 0, 0, 0, cst).Format(time.RFC3339)
		for j, code := range []string{"J06.900", "K52.900", "B08.401", "I10.x00"} {
			pat := "p" + string(rune('1'+(d+j)%3))
			docs = append(docs, condition("c"+day[:10]+code, pat, code, day, ""))
			if _, syndromic := SyndromeOf(code); syndromic && d >= 5 && d < 25 {
				want[code]++
			}
		}
	}
	err = db.Tx(ctx, func(tx store.Tx) error {
		for _, d := range docs {
			if _, _, err := tx.Put(ctx, resource(t, d), store.Precondition{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegister()
	from, to := time.Date(2025, 3, 6, 0, 0, 0, 0, cst), time.Date(2025, 3, 26, 0, 0, 0, 0, cst)
	n, err := reg.Load(ctx, pagedSearcher{db}, parser, from, to)
	if err != nil {
		t.Fatal(err)
	}
	visits, unplaced := reg.Visits()
	got := map[string]int{}
	for _, v := range visits {
		got[v.Code]++
		if v.Time.Before(from) || !v.Time.Before(to) || v.Area == "" {
			t.Errorf("visit %+v outside the days or without a township", v)
		}
	}
	if n != 60 || unplaced != 0 || len(got) != 3 || got["J06.900"] != want["J06.900"] || got["B08.401"] != want["B08.401"] {
		t.Errorf("loaded %d, unplaced %d, by code %v, want 60, 0, %v", n, unplaced, got, want)
	}
	areas := slices.Sorted(maps.Keys(reg.Populations(from)))
	if !slices.Equal(areas, []string{"990121001", "990121101", "990121102"}) {
		t.Errorf("townships %v", areas)
	}
}

// pagedSearcher makes the store's pages small so that Load follows the
// next links.
type pagedSearcher struct{ s store.Store }

func (p pagedSearcher) Search(ctx context.Context, q *search.Query) (*store.SearchPage, error) {
	q.Count = 7
	return p.s.Search(ctx, q)
}
