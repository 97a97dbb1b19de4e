package storetest

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/store"
)

var (
	loadDefs   = sync.OnceValues(spec.Load)
	newIndexer = sync.OnceValues(func() (*search.Indexer, error) {
		defs, err := loadDefs()
		if err != nil {
			return nil, err
		}
		ix, err := search.NewIndexer(defs)
		if err != nil {
			return nil, err
		}
		return ix, ix.Add(groupPatient)
	})
)

// groupPatient is a custom parameter of the shared test indexer: R4 gives no
// type both a code and a patient parameter of several patients, and the
// store must still find such resources through the patient column
// (testRareHas).
var groupPatient = &spec.SearchParam{
	URL: "https://hip-platform.github.io/fhir/test/SearchParameter/group-patient", Name: "patient", Code: "patient",
	Base: []string{"Group"}, Type: "reference", Expression: "Group.member.entity.where(resolve() is Patient)", Target: []string{"Patient"},
}

// Options returns store options for a test: the Indexer.
func Options(t testing.TB) store.Options {
	t.Helper()
	return store.Options{Indexer: Indexer(t)}
}

// Indexer returns the R4 indexer that tests share (it is safe for concurrent
// use; a test that adds SearchParameters builds its own with search.NewIndexer).
func Indexer(t testing.TB) *search.Indexer {
	t.Helper()
	ix, err := newIndexer()
	if err != nil {
		t.Fatalf("storetest: indexer: %v", err)
	}
	return ix
}

// Query parses search parameters for a type ("" for a system search).
func Query(t testing.TB, typ, params string) *search.Query {
	t.Helper()
	defs, err := loadDefs()
	if err != nil {
		t.Fatal(err)
	}
	values, err := url.ParseQuery(params)
	if err != nil {
		t.Fatalf("query %q: %v", params, err)
	}
	var types []string
	if typ != "" {
		types = []string{typ}
	}
	q, _, err := search.NewParser(defs, search.NormalizeString).WithParams(Indexer(t).Param).Parse(types, values, true)
	if err != nil {
		t.Fatalf("parse %s?%s: %v", typ, params, err)
	}
	return q
}

// testIndexFollowsWrites checks that search sees the current version only:
// an update replaces the old values, a delete removes them, a transaction
// sees its own writes, and Reindex rebuilds rows without changing results.
func testIndexFollowsWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	patient := func(id, family string) fhir.Resource {
		return fhir.Resource{"resourceType": "Patient", "id": id, "name": []any{map[string]any{"family": family}}}
	}
	ids := func(typ, params string) []string {
		t.Helper()
		got := keys(run(t, s, Query(t, typ, params)))
		slices.Sort(got)
		return got
	}
	want := func(typ, params string, want ...string) {
		t.Helper()
		if got := ids(typ, params); !slices.Equal(got, want) {
			t.Errorf("%s?%s = %v, want %v", typ, params, got, want)
		}
	}
	for _, p := range []fhir.Resource{patient("a", "Zhang"), patient("b", "Wang"), patient("c", "Zhao")} {
		if _, _, err := put(t, s, p, store.Precondition{}); err != nil {
			t.Fatal(err)
		}
	}
	want("Patient", "family=zh", "Patient/a", "Patient/c")
	if _, _, err := put(t, s, patient("a", "Li"), store.Precondition{}); err != nil {
		t.Fatal(err)
	}
	want("Patient", "family=zh", "Patient/c")
	want("Patient", "family=li", "Patient/a")
	if _, err := del(t, s, "Patient", "c", store.Precondition{}); err != nil {
		t.Fatal(err)
	}
	want("Patient", "family=zh")
	want("Patient", "family:missing=false", "Patient/a", "Patient/b")

	// Inside a transaction: written twice, then searched, then written again.
	err := s.Tx(ctx, func(tx store.Tx) error {
		for _, f := range []string{"Qian", "Sun"} {
			if _, _, err := tx.Put(ctx, patient("d", f), store.Precondition{}); err != nil {
				return err
			}
		}
		page, err := tx.Search(ctx, Query(t, "Patient", "family=sun"))
		if err != nil {
			return err
		}
		if got := keys(page); !slices.Equal(got, []string{"Patient/d"}) {
			t.Errorf("in the transaction, family=sun = %v, want [Patient/d]", got)
		}
		_, _, err = tx.Put(ctx, patient("d", "Zhou"), store.Precondition{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want("Patient", "family=sun")
	want("Patient", "family=zhou", "Patient/d")

	// Entries computed ahead of the transaction are stored as they are.
	ahead := patient("e", "Wu")
	entries, err := Indexer(t).Index(ahead)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Tx(ctx, func(tx store.Tx) error {
		_, _, err := tx.PutIndexed(ctx, ahead, entries, store.Precondition{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want("Patient", "family=wu", "Patient/e")

	before := strings.Join(ids("Patient", "family:missing=false"), " ")
	n, err := s.Reindex(ctx, []string{"Patient"}, nil)
	if err != nil || n != 4 {
		t.Fatalf("Reindex = %d, %v; want 4 resources", n, err)
	}
	if after := strings.Join(ids("Patient", "family:missing=false"), " "); after != before {
		t.Errorf("after Reindex %s, before %s", after, before)
	}
	want("Patient", "family=zhou", "Patient/d")
}

// testCursorPaging pages through a search by its Next cursors while resources
// are created and deleted between pages, sorted by a key some resources lack:
// every resource there from start to end is seen exactly once, in order, and
// Prev leads back to the page before.
func testCursorPaging(t *testing.T, s store.Store) {
	patient := func(id, family string) fhir.Resource {
		p := fhir.Resource{"resourceType": "Patient", "id": id}
		if family != "" {
			p["name"] = []any{map[string]any{"family": family}}
		}
		return p
	}
	families := []string{"e", "", "a", "c", "a", "", "d", "b", "c", "f"}
	for i, f := range families {
		if _, _, err := put(t, s, patient(fmt.Sprintf("p%02d", i), f), store.Precondition{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, sort := range []string{"family,-_id", "-family", "_id", ""} {
		t.Run("_sort="+sort, func(t *testing.T) {
			want := keys(run(t, s, Query(t, "Patient", "_count=100&_sort="+sort)))
			q := Query(t, "Patient", "_count=3&_sort="+sort)
			var got []string
			var pages []*store.SearchPage
			for i := 0; ; i++ {
				p := run(t, s, q)
				pages = append(pages, p)
				got = append(got, keys(p)...)
				if i == 0 {
					// Writes between pages: a new resource and a deleted one.
					if _, _, err := put(t, s, patient(fmt.Sprintf("new-%s", sort), "a"), store.Precondition{}); err != nil {
						t.Fatal(err)
					}
					if _, err := del(t, s, "Patient", "p09", store.Precondition{}); err != nil {
						t.Fatal(err)
					}
				}
				if p.Next == "" {
					break
				}
				q.Cursor, q.Offset = p.Next, 0
			}
			// Seen once each, in the order of the search, except the deleted
			// one if its page came after the delete and the new one if its
			// place was still ahead.
			var kept []string
			for _, k := range got {
				if !strings.HasPrefix(k, "Patient/new-") {
					kept = append(kept, k)
				}
			}
			wantKept := slices.DeleteFunc(slices.Clone(want), func(k string) bool {
				return strings.HasPrefix(k, "Patient/new-") || k == "Patient/p09" && !slices.Contains(kept, k)
			})
			if !slices.Equal(kept, wantKept) {
				t.Errorf("paged %v, want %v", kept, wantKept)
			}
			if len(pages) < 2 || pages[0].Prev != "" {
				t.Fatalf("%d pages, first Prev %q", len(pages), pages[0].Prev)
			}
			// Back from the second page: the three resources before its first
			// one, as the data stands now.
			now := keys(run(t, s, Query(t, "Patient", "_count=100&_sort="+sort)))
			at := slices.Index(now, keys(pages[1])[0])
			q.Cursor = pages[1].Prev
			back := run(t, s, q)
			if got, before := keys(back), now[max(at-3, 0):at]; !slices.Equal(got, before) {
				t.Errorf("back from page 2: %v, want %v", got, before)
			}
			if back.Next == "" {
				t.Errorf("a page reached backwards has no Next")
			}
		})
	}
	q := Query(t, "Patient", "_count=3")
	q.Cursor = "bm90LWEtY3Vyc29y"
	if _, err := s.Search(t.Context(), q); fhir.ErrorCode(err) != fhir.Invalid {
		t.Errorf("forged cursor: %v, want invalid", err)
	}
}

// testTotals checks _total: accurate counts, estimate gives a count near it
// (exact where the backend cannot estimate), none and the default count only
// when it is known without counting.
func testTotals(t *testing.T, s store.Store) {
	for i := range 30 {
		res := fhir.Resource{"resourceType": "Patient", "id": fmt.Sprintf("t%02d", i), "gender": []string{"male", "female"}[i%2]}
		if _, _, err := put(t, s, res, store.Precondition{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Analyze(t.Context()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		params   string
		min, max int
	}{
		{"gender=male&_total=accurate&_count=5", 15, 15},
		{"gender=male&_total=estimate&_count=5", 1, 30},
		{"_total=estimate", 1, 100},
		{"gender=male&_count=5", -1, -1},  // more pages: not counted
		{"gender=male&_count=50", 15, 15}, // one page: known
		{"gender=male&_total=none&_count=50", -1, -1},
	}
	for _, tc := range tests {
		page := run(t, s, Query(t, "Patient", tc.params))
		if page.Total < tc.min || page.Total > tc.max {
			t.Errorf("%s: Total %d, want %d to %d", tc.params, page.Total, tc.min, tc.max)
		}
	}
}

// testLargeClauses checks searches whose clauses each match more resources
// than the planner first counts (they are then counted further, or
// intersected): the answer is the same as clause by clause.
func testLargeClauses(t *testing.T, s store.Store) {
	const n = 2600
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		for i, name := range []string{"pzero", "pone"} {
			p := fhir.Resource{"resourceType": "Patient", "id": fmt.Sprintf("p%d", i), "name": []any{map[string]any{"family": name}}}
			if _, _, err := tx.Put(t.Context(), p, store.Precondition{}); err != nil {
				return err
			}
		}
		for i := range n {
			obs := fhir.Resource{"resourceType": "Observation", "id": fmt.Sprintf("o%04d", i),
				"status":  []string{"final", "amended"}[min(i%7, 1)],
				"code":    map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": []string{"2339-0", "718-7"}[i%2]}}},
				"subject": map[string]any{"reference": fmt.Sprintf("Patient/p%d", i/2%2)}}
			if _, _, err := tx.Put(t.Context(), obs, store.Precondition{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Each clause matches over 1,000: i even, i%7 != 0, i/2%2 == 1.
	match := func(i int) bool { return i%2 == 0 && i%7 != 0 && i/2%2 == 1 }
	want := 0
	for i := range n {
		if match(i) {
			want++
		}
	}
	for _, params := range []string{
		"code=http://loinc.org|2339-0&status=amended&subject=Patient/p1",
		"status=amended&code=2339-0&patient=p1",
		// A chain of one target, counted further with the others.
		"code=http://loinc.org|2339-0&status=amended&subject:Patient.name=pone",
	} {
		page := run(t, s, Query(t, "Observation", params+"&_total=accurate&_count=1000"))
		if page.Total != want || len(page.Resources) != want {
			t.Errorf("%s: total %d, %d resources; want %d", params, page.Total, len(page.Resources), want)
		}
		for _, r := range page.Resources {
			var i int
			fmt.Sscanf(r.ID, "o%d", &i)
			if !match(i) {
				t.Errorf("%s: %s does not match", params, r.ID)
			}
		}
	}
	// A full page's _include: 1,000 matches whose references are read at
	// once (SQLite refuses one expression over all of them).
	page := run(t, s, Query(t, "Observation", "code=2339-0&_include=Observation:subject&_count=1000"))
	var included []string
	for _, r := range page.Included {
		included = append(included, r.Type+"/"+r.ID)
	}
	if len(page.Resources) != 1000 || !slices.Equal(included, []string{"Patient/p0", "Patient/p1"}) {
		t.Errorf("_include over a full page: %d matches, included %v", len(page.Resources), included)
	}
}

// testWriteOrder checks the order of searches without _sort, the order of the
// resources' last writes, on every kind of driving clause (one value, a
// prefix, none), with a value a resource holds twice listed once, and that
// pages follow it.
func testWriteOrder(t *testing.T, s store.Store) {
	patient := func(id, family string) fhir.Resource {
		code := map[string]any{"system": "urn:test", "value": "same"}
		return fhir.Resource{"resourceType": "Patient", "id": id,
			"identifier": []any{code, code}, // one value twice
			"name":       []any{map[string]any{"family": family}, map[string]any{"family": family + "x"}}}
	}
	for _, id := range []string{"w3", "w1", "w4", "w2", "w5"} {
		if _, _, err := put(t, s, patient(id, "wu"), store.Precondition{}); err != nil {
			t.Fatal(err)
		}
	}
	// Written again: it moves to the end.
	if _, _, err := put(t, s, patient("w1", "wu"), store.Precondition{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"Patient/w3", "Patient/w4", "Patient/w2", "Patient/w5", "Patient/w1"}
	for _, params := range []string{"identifier=urn:test|same", "family=wu", "_lastUpdated=gt2000", "identifier=urn:test|same&family=wu"} {
		t.Run(params, func(t *testing.T) {
			if got := keys(run(t, s, Query(t, "Patient", params))); !slices.Equal(got, want) {
				t.Errorf("%s = %v, want %v", params, got, want)
			}
			q := Query(t, "Patient", params+"&_count=2")
			var got []string
			for {
				p := run(t, s, q)
				got = append(got, keys(p)...)
				if p.Next == "" {
					break
				}
				q.Cursor = p.Next
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s by pages of 2 = %v, want %v", params, got, want)
			}
		})
	}
}

// testRareHas checks a _has whose inner values are rare beside a clause with
// many matches, where the few resources the _has names drive the search:
// the answer is the same, in write order.
func testRareHas(t *testing.T, s store.Store) {
	const n = 1200 // more than the planner first counts
	rare := map[int]bool{5: true, 700: true, 1100: true}
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		for i := range n {
			p := fhir.Resource{"resourceType": "Patient", "id": fmt.Sprintf("hx%d", i), "name": []any{map[string]any{"family": "hasfam"}},
				"managingOrganization": map[string]any{"reference": "Organization/hxorg" + strconv.Itoa(i%2)}}
			if _, _, err := tx.Put(t.Context(), p, store.Precondition{}); err != nil {
				return err
			}
			code := "common"
			if rare[i] {
				code = "rare"
			}
			obs := fhir.Resource{"resourceType": "Observation", "id": fmt.Sprintf("hxo%d", i), "status": "final",
				"code":    map[string]any{"coding": []any{map[string]any{"system": "urn:test", "code": code}}},
				"subject": map[string]any{"reference": fmt.Sprintf("Patient/hx%d", i)}}
			if _, _, err := tx.Put(t.Context(), obs, store.Precondition{}); err != nil {
				return err
			}
			// Every tenth group but one has two patients (groupPatient): its
			// code's row cannot name one (manyPatients).
			members := []any{map[string]any{"entity": map[string]any{"reference": fmt.Sprintf("Patient/hx%d", i)}}}
			if i%10 == 1 {
				members = append(members, map[string]any{"entity": map[string]any{"reference": fmt.Sprintf("Patient/hx%d", i+1)}})
			}
			group := fhir.Resource{"resourceType": "Group", "id": fmt.Sprintf("hxg%d", i), "type": "person", "actual": true,
				"code": map[string]any{"coding": []any{map[string]any{"system": "urn:test", "code": "visit"}}}, "member": members}
			if _, _, err := tx.Put(t.Context(), group, store.Precondition{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		params string
		want   []string
	}{
		{"family=hasfam&_has:Observation:subject:code=urn:test|rare", []string{"Patient/hx5", "Patient/hx700", "Patient/hx1100"}},
		{"family=hasfam&_has:Observation:subject:code=urn:test|rare&_count=2", []string{"Patient/hx5", "Patient/hx700"}},
		{"family=nobody&_has:Observation:subject:code=urn:test|rare", nil},
	} {
		if got := keys(run(t, s, Query(t, "Patient", tc.params))); !slices.Equal(got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.params, got, tc.want)
		}
	}
	page := run(t, s, Query(t, "Patient", "family=hasfam&_has:Observation:subject:code=urn:test|common&_total=accurate&_count=1"))
	if page.Total != n-len(rare) {
		t.Errorf("common: total %d, want %d", page.Total, n-len(rare))
	}

	// A chain with more targets than the planner follows to size it: the
	// results of the 600 patients of one organization, rare or common.
	for _, tc := range []struct {
		params string
		total  int
	}{
		{"code=urn:test|common&subject:Patient.organization=Organization/hxorg0", n/2 - 2},
		{"code=urn:test|rare&subject:Patient.organization=Organization/hxorg0", 2},
		{"code=urn:test|rare&subject:Patient.organization=Organization/hxorg1", 1},
		{"code=urn:test|common&patient:Patient.organization=Organization/hxorg1", n/2 - 1},
	} {
		page := run(t, s, Query(t, "Observation", tc.params+"&_total=accurate&_count=5"))
		if page.Total != tc.total || len(page.Resources) != min(tc.total, 5) {
			t.Errorf("%s: total %d, %d on the page; want %d", tc.params, page.Total, len(page.Resources), tc.total)
		}
	}
	// The same through groups, some of two patients: org0's patients are in
	// the 600 groups of an even patient and the 120 of an odd one with an
	// even second patient.
	for _, tc := range []struct {
		params string
		total  int
	}{
		{"code=urn:test|visit&patient:Patient.organization=Organization/hxorg0", n/2 + n/10},
		{"code=urn:test|visit&patient:Patient.organization=Organization/hxorg1", n / 2},
		{"code=urn:test|visit&patient:Patient.organization=Organization/hxorg1&_sort=-_lastUpdated", n / 2},
	} {
		page := run(t, s, Query(t, "Group", tc.params+"&_total=accurate&_count=5"))
		if page.Total != tc.total || len(page.Resources) != min(tc.total, 5) {
			t.Errorf("%s: total %d, %d on the page; want %d", tc.params, page.Total, len(page.Resources), tc.total)
		}
	}

	// A _has probed for each patient finds one in a group of two.
	for _, tc := range []struct {
		params string
		want   []string
	}{
		{"_id=hx1,hx2,hx3&_has:Group:patient:code=urn:test|visit", []string{"Patient/hx1", "Patient/hx2", "Patient/hx3"}},
		{"_id=hx1,hx2,hx3&_has:Group:patient:code=urn:test|none", nil},
		{"_id=hx1,hx2&_has:Observation:subject:code=urn:test|common&_has:Observation:patient:code=urn:test|common", []string{"Patient/hx1", "Patient/hx2"}},
		{"_id=hx4,hx5,hx6&_has:Observation:subject:code=urn:test|rare", []string{"Patient/hx5"}},
	} {
		if got := keys(run(t, s, Query(t, "Patient", tc.params))); !slices.Equal(got, tc.want) {
			t.Errorf("%s = %v, want %v", tc.params, got, tc.want)
		}
	}

	// A deleted patient is found neither through a _has nor through a chain,
	// though its observations still refer to it.
	if _, err := del(t, s, "Patient", "hx700", store.Precondition{}); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(run(t, s, Query(t, "Patient", "_has:Observation:subject:code=urn:test|rare"))), []string{"Patient/hx5", "Patient/hx1100"}; !slices.Equal(got, want) {
		t.Errorf("after a delete, _has = %v, want %v", got, want)
	}
	if got, want := keys(run(t, s, Query(t, "Observation", "code=urn:test|rare&subject:Patient.organization=Organization/hxorg0"))), []string{"Observation/hxo1100"}; !slices.Equal(got, want) {
		t.Errorf("after a delete, chain = %v, want %v", got, want)
	}
}
