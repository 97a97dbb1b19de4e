package empi

import (
	"context"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/idcard"
	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/postgres/pgtest"
	"github.com/hip-platform/hip/internal/store/sqlite"
	"github.com/hip-platform/hip/internal/store/storetest"
	"github.com/hip-platform/hip/internal/synth"
)

// backends open an empty store of each kind; PostgreSQL when
// HIP_TEST_POSTGRES_URL is set.
var backends = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"sqlite", func(t *testing.T) store.Store {
		db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hip.db"), storetest.Options(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}},
	{"postgres", func(t *testing.T) store.Store { return pgtest.Open(t, pgtest.URL(t), storetest.Options(t)) }},
}

// trainingRecords is a synthetic region's registrations, shared by the tests
// as the model's training data (the index trains on it before the region
// has records of its own).
var trainingRecords = sync.OnceValue(func() []Record {
	recs, _, err := SyntheticRecords(context.Background(), 3, 5000)
	if err != nil {
		panic(err)
	}
	return recs
})

func openIndex(t *testing.T, st store.Store) *Index {
	t.Helper()
	ix, err := OpenIndex(t.Context(), st, Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ix.Model() != nil {
		t.Fatal("a new index has a model")
	}
	if err := ix.Train(t.Context(), trainingRecords()); err != nil {
		t.Fatal(err)
	}
	return ix
}

// patientRes builds a Patient as a facility would send it.
func patientRes(id, name, sex, birth, idNumber, phone, address string) fhir.Resource {
	family, given := []rune(name)[:1], []rune(name)[1:]
	p := fhir.Resource{"resourceType": "Patient", "id": id,
		"name":      []any{map[string]any{"use": "official", "text": name, "family": string(family), "given": []any{string(given)}}},
		"gender":    sex,
		"birthDate": birth,
		"address":   []any{map[string]any{"use": "home", "text": address}},
	}
	if idNumber != "" {
		p["identifier"] = []any{map[string]any{"system": fhir.SystemResidentID, "value": idNumber}}
	}
	if phone != "" {
		p["telecom"] = []any{map[string]any{"system": "phone", "value": phone}}
	}
	return p
}

// A small region: 张伟 registered three times (one typo in the ID, one in
// pinyin-less traditional characters without ID), 李娜 twice, and 张伟's
// twin brother 张强 with his own valid number at the same address.
var smallRegion = []fhir.Resource{
	patientRes("zw-1", "张伟", "male", "1980-03-15", "110105198003151234", "13800138000", "北京市朝阳区幸福里3号"),
	patientRes("zw-2", "张伟", "male", "1980-03-15", "110105198003151243", "13800138000", "北京市朝阳区幸福里3号"),
	patientRes("zw-3", "張偉", "male", "1980-03-15", "", "13911112222", "北京市朝阳区幸福里3号"),
	patientRes("ln-1", "李娜", "female", "1992-07-01", "110105199207015828", "13700001111", "北京市海淀区学院路8号"),
	patientRes("ln-2", "李娜", "female", "1992-07-01", "110105199207015828", "", "北京市海淀区学院路8号"),
	patientRes("zq-1", "张强", "male", "1980-03-15", "110105198003151250", "13800138000", "北京市朝阳区幸福里3号"),
}

func init() {
	// Fix the check digits of the test numbers (the table keeps them readable).
	for _, p := range smallRegion {
		ids, _ := p["identifier"].([]any)
		for _, x := range ids {
			m := x.(map[string]any)
			v := m["value"].(string)
			if c, err := idcard.CheckDigit(v[:17]); err == nil {
				m["value"] = v[:17] + string(c)
			}
		}
	}
	// zw-2's number is zw-1's with two digits swapped: a typo, so invalid.
	id1 := smallRegion[0]["identifier"].([]any)[0].(map[string]any)["value"].(string)
	smallRegion[1]["identifier"].([]any)[0].(map[string]any)["value"] = id1[:15] + id1[16:17] + id1[15:16] + id1[17:]
}

// persons returns patient → person as the index holds it, and checks the
// invariants: every indexed Patient is linked by exactly one active Person,
// the one the index names, and no retired Person links a Patient.
func persons(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	err := st.ScanMPI(ctx, func(r *store.MPIRecord) error {
		out[r.Patient] = r.Person
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	linkedBy := map[string][]string{}
	var all []store.Resource
	q := &search.Query{Types: []string{"Person"}, Count: 1000, Total: search.TotalNone}
	for {
		page, err := st.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Resources...)
		if !page.More {
			break
		}
		q.Cursor = page.Next
	}
	for _, r := range all {
		res, err := fhir.Parse(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		links, _ := res["link"].([]any)
		for _, l := range links {
			ref := l.(map[string]any)["target"].(map[string]any)["reference"].(string)
			if pat, ok := cutPrefix(ref, "Patient/"); ok {
				if res["active"] != true {
					t.Errorf("retired Person/%s links %s", r.ID, ref)
				}
				linkedBy[pat] = append(linkedBy[pat], r.ID)
			}
		}
	}
	for pat, per := range out {
		if got := linkedBy[pat]; len(got) != 1 || got[0] != per {
			t.Errorf("Patient/%s: index says person %s, linked by Persons %v", pat, per, got)
		}
	}
	for pat, pers := range linkedBy {
		if _, ok := out[pat]; !ok {
			t.Errorf("Persons %v link Patient/%s, which is not in the index", pers, pat)
		}
	}
	return out
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return "", false
}

// groups lists the persons as sorted groups of patients.
func groups(m map[string]string) [][]string {
	by := map[string][]string{}
	for pat, per := range m {
		by[per] = append(by[per], pat)
	}
	var out [][]string
	for _, g := range by {
		slices.Sort(g)
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

func readPerson(t *testing.T, st store.Store, id string) fhir.Resource {
	t.Helper()
	r, err := st.Read(context.Background(), "Person", id)
	if err != nil {
		t.Fatalf("Person/%s: %v", id, err)
	}
	res, err := fhir.Parse(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// indexSmallRegion links the small region's Patients one by one into a new
// index over st.
func indexSmallRegion(t *testing.T, st store.Store) (store.Store, *Index) {
	t.Helper()
	ix := openIndex(t, st)
	for _, p := range smallRegion {
		out, err := ix.Update(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s → %s (new %v, links %d, reviews %d)", out.Patient, out.Person, out.NewPerson, len(out.Links), len(out.Reviews))
	}
	return st, ix
}

func TestIndexIncremental(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			st, ix := indexSmallRegion(t, b.open(t))
			ctx := t.Context()
			got := groups(persons(t, st))
			want := [][]string{{"ln-1", "ln-2"}, {"zq-1"}, {"zw-1", "zw-2", "zw-3"}}
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("persons %v, want %v", got, want)
			}
			pm := persons(t, st)
			// Stable, founded by the first record.
			if pm["zw-1"] != "p-zw-1" || pm["ln-1"] != "p-ln-1" || pm["zq-1"] != "p-zq-1" {
				t.Errorf("person ids %v", pm)
			}
			// The golden record: the valid number, sex and birth date from
			// it, the latest name in characters, the latest phone.
			g := readPerson(t, st, "p-zw-1")
			id := g["identifier"].([]any)[0].(map[string]any)["value"]
			if id != smallRegion[0]["identifier"].([]any)[0].(map[string]any)["value"] {
				t.Errorf("golden identifier %v", id)
			}
			if g["gender"] != "male" || g["birthDate"] != "1980-03-15" || len(g["link"].([]any)) != 3 {
				t.Errorf("golden record %v", g)
			}
			// Updating a record again changes nothing.
			out, err := ix.Update(ctx, smallRegion[2])
			if err != nil || out.Person != "p-zw-1" || out.Moved != "" || out.NewPerson {
				t.Errorf("re-update: %+v, %v", out, err)
			}
			// $match finds 张伟's records first, with certainty. (His twin
			// brother, of the same birth date, phone and address, comes
			// after them: without a 身份证 number in the query only the
			// given name tells them apart.)
			ms, err := ix.Match(ctx, patientRes("", "张伟", "male", "1980-03-15", "", "13800138000", "北京市朝阳区幸福里3号"), 10, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) < 3 || ms[0].Grade != GradeCertain || ms[0].Person != "p-zw-1" || ms[1].Person != "p-zw-1" {
				t.Errorf("match: %+v", ms)
			}
			// With the number, the twin conflicts and is not certain.
			ms, err = ix.Match(ctx, smallRegion[0], 10, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				if m.Person != "p-zw-1" {
					t.Errorf("only certain matches, with the number: %+v", m)
				}
			}
			// A record that links with the person through its ID, though its
			// birth date contradicts another of the person's records, joins
			// it with nothing to review inside the person.
			id1 := smallRegion[0]["identifier"].([]any)[0].(map[string]any)["value"].(string)
			out, err = ix.Update(ctx, patientRes("zw-4", "张伟", "male", "1981-07-20", id1, "13800138000", "北京市朝阳区幸福里3号"))
			if err != nil || out.Person != "p-zw-1" {
				t.Fatalf("zw-4: %+v, %v", out, err)
			}
			for _, r := range out.Reviews {
				t.Errorf("a review inside the person: %s, %s", r.A, r.B)
			}
			// A deleted Patient leaves the index; its person is rebuilt.
			if err := ix.Remove(ctx, "zw-3"); err != nil {
				t.Fatal(err)
			}
			if g := readPerson(t, st, "p-zw-1"); len(g["link"].([]any)) != 3 {
				t.Errorf("after removing zw-3: %v", g["link"])
			}
			persons(t, st)
		})
	}
}

func TestIndexDecisionsAndUnmerge(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			st, ix := indexSmallRegion(t, b.open(t))
			ctx := t.Context()
			// Unmerge zw-3: it gets a person of its own; the old golden
			// record is rebuilt from zw-1 and zw-2 (phone back to theirs).
			created, err := ix.Unmerge(ctx, "p-zw-1", []string{"zw-3"}, "reviewer")
			if err != nil {
				t.Fatal(err)
			}
			if created != "p-zw-3" {
				t.Errorf("unmerged into %s, want p-zw-3", created)
			}
			g := readPerson(t, st, "p-zw-1")
			if len(g["link"].([]any)) != 2 || g["telecom"].([]any)[0].(map[string]any)["value"] != "13800138000" {
				t.Errorf("survivorship after unmerge: %v", g)
			}
			pm := persons(t, st)
			if pm["zw-3"] != "p-zw-3" {
				t.Fatalf("zw-3 in %s", pm["zw-3"])
			}
			// Decisions about stored records do not bend $match of a record
			// that is not stored.
			ms, err := ix.Match(ctx, patientRes("", "张伟", "male", "1980-03-15", "", "13800138000", "北京市朝阳区幸福里3号"), 3, true)
			if err != nil || len(ms) == 0 || ms[0].Person != "p-zw-1" {
				t.Errorf("match after unmerge: %+v, %v", ms, err)
			}
			// The decision holds when zw-3 is updated and when all is relinked.
			if out, err := ix.Update(ctx, smallRegion[2]); err != nil || out.Person == "p-zw-1" {
				t.Errorf("update after unmerge: %+v, %v", out, err)
			}
			// Relink needs the Patients in the store.
			storePatients(t, st, smallRegion)
			if _, err := ix.Relink(ctx, nil); err != nil {
				t.Fatal(err)
			}
			pm = persons(t, st)
			if pm["zw-3"] == pm["zw-1"] {
				t.Errorf("relink merged what a person unmerged: %v", pm)
			}
			if pm["zw-1"] != "p-zw-1" || pm["ln-1"] != "p-ln-1" {
				t.Errorf("relink changed stable ids: %v", pm)
			}
			// Merging persons by decision: the twin joins (a person's word
			// overrides the conflicting numbers), and stays through relink.
			if err := ix.Merge(ctx, "p-zq-1", "p-zw-1", "reviewer"); err != nil {
				t.Fatal(err)
			}
			if r := readPerson(t, st, "p-zq-1"); r["active"] != false {
				t.Errorf("merged person not retired: %v", r)
			}
			if _, err := ix.Relink(ctx, nil); err != nil {
				t.Fatal(err)
			}
			pm = persons(t, st)
			if pm["zq-1"] != pm["zw-1"] {
				t.Errorf("relink undid a merge: %v", pm)
			}
			// And apart again by a decision on the pair.
			if err := ix.Decide(ctx, "zw-1", "zq-1", false, "reviewer"); err != nil {
				t.Fatal(err)
			}
			pm = persons(t, st)
			if pm["zq-1"] == pm["zw-1"] {
				t.Errorf("decided apart, still one person: %v", pm)
			}
			if err := ix.Decide(ctx, "zw-1", "nobody", true, "reviewer"); fhir.ErrorCode(err) != fhir.NotFound {
				t.Errorf("deciding on an unknown patient: %v", err)
			}
		})
	}
}

func storePatients(t *testing.T, st store.Store, ps []fhir.Resource) {
	t.Helper()
	err := st.Tx(t.Context(), func(tx store.Tx) error {
		for _, p := range ps {
			if _, _, err := tx.Put(t.Context(), p, store.Precondition{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestIndexRegion links a synthetic region's registrations one by one and
// then relinks it: both must keep the accuracy goals, and relinking twice
// changes no person id.
func TestIndexRegion(t *testing.T) {
	t.Parallel()
	st := backends[0].open(t)
	ix := openIndex(t, st)
	ctx := t.Context()
	var ps []fhir.Resource
	m, err := synth.Registrations(ctx, synth.Config{Seed: 11, Residents: 1500, Scenarios: synth.Scenarios{Duplicates: true}},
		func(r fhir.Resource) error { ps = append(ps, r); return nil })
	if err != nil {
		t.Fatal(err)
	}
	storePatients(t, st, ps)
	for _, p := range ps {
		if _, err := ix.Update(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	truth := Truth{}
	for _, p := range m.Truth.DuplicatePairs() {
		truth.Add(p[0], p[1])
	}
	check := func(stage string) map[string]string {
		pm := persons(t, st)
		var pairs []Pair
		for _, g := range groups(pm) {
			for i := range g {
				for j := i + 1; j < len(g); j++ {
					pairs = append(pairs, Pair{A: g[i], B: g[j], Decision: DecideLink})
				}
			}
		}
		a := Evaluate(pairs, truth, false)
		t.Logf("%s: %d records, %d persons, %v", stage, len(pm), len(groups(pm)), a)
		if a.Precision < 0.999 || a.Recall < 0.98 {
			t.Errorf("%s: precision %.4f recall %.4f", stage, a.Precision, a.Recall)
		}
		return pm
	}
	check("incremental")
	if _, err := ix.Relink(ctx, nil); err != nil {
		t.Fatal(err)
	}
	first := check("relinked")
	stats, err := ix.Relink(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	second := check("relinked again")
	if stats.Rebuilt != 0 || stats.Retired != 0 {
		t.Errorf("a second relink rebuilt %d and retired %d persons", stats.Rebuilt, stats.Retired)
	}
	for pat, per := range first {
		if second[pat] != per {
			t.Errorf("Patient/%s moved from %s to %s on a second relink", pat, per, second[pat])
		}
	}
}
