package bench

import (
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/bulk"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/server"
	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/postgres/pgtest"
	"github.com/hip-platform/hip/internal/store/sqlite"
	"github.com/hip-platform/hip/internal/store/storetest"
	"github.com/hip-platform/hip/internal/synth"
)

// tinyRegion is the region the search tests load: small enough for a test, yet
// with every kind of resource the mix samples.
var tinyRegion = synth.Config{Seed: 7, Residents: 200}

func openSQLite(t *testing.T, opts store.Options) store.Store {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hip.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSearch loads a tiny region into each backend, through LoadRegion as the
// command does, serves it over loopback HTTP and runs the harness on it.
func TestSearch(t *testing.T) {
	t.Parallel()
	defs, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	backends := []struct {
		name string
		open func(t *testing.T, opts store.Options) store.Store
	}{
		{"sqlite", openSQLite},
		{"postgres", func(t *testing.T, opts store.Options) store.Store {
			return pgtest.Open(t, pgtest.URL(t), opts)
		}},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			// The server adds custom SearchParameters to the store's indexer, so
			// each store gets its own, shared with its server as hip serve does.
			ix, err := search.NewIndexer(defs)
			if err != nil {
				t.Fatal(err)
			}
			st := b.open(t, store.Options{Indexer: ix})
			im := &bulk.Importer{Store: st, Validator: validate.New(defs)}
			if _, _, err := LoadRegion(t.Context(), st, im, tinyRegion, false); err == nil || !strings.Contains(err.Error(), "--load") {
				t.Fatalf("LoadRegion without load on an empty database: %v, want an error asking for --load", err)
			}
			m, sum, err := LoadRegion(t.Context(), st, im, tinyRegion, true)
			if err != nil {
				t.Fatalf("LoadRegion: %v", err)
			}
			if sum == nil || sum.Resources == 0 || sum.Failed != 0 || !m.Describes(tinyRegion) {
				t.Fatalf("LoadRegion loaded %+v, manifest %+v", sum, m)
			}
			srv, err := server.New(server.Config{Store: st, Definitions: defs, Validator: validate.New(defs),
				Indexer: ix, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.LoadSearchParameters(t.Context()); err != nil {
				t.Fatal(err)
			}
			base, stop, err := Loopback(srv.Handler())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(stop)

			t.Run("reuse", func(t *testing.T) { testReuse(t, st, im, m) })
			t.Run("sampling", func(t *testing.T) { testSampling(t, base) })
			t.Run("harness", func(t *testing.T) { testHarness(t, base) })
			t.Run("mix", func(t *testing.T) { testMix(t, base) })
		})
	}
}

// testReuse: a database holding the region is reused, one holding another
// region or other data is refused.
func testReuse(t *testing.T, st store.Store, im *bulk.Importer, loaded *synth.Manifest) {
	m, sum, err := LoadRegion(t.Context(), st, im, tinyRegion, true)
	if err != nil || sum != nil || !reflect.DeepEqual(m.Counts, loaded.Counts) {
		t.Errorf("second LoadRegion = %+v, %+v, %v; want the region reused without import", m, sum, err)
	}
	other := tinyRegion
	other.Seed++
	if _, _, err := LoadRegion(t.Context(), st, im, other, true); err == nil || !strings.Contains(err.Error(), "another region") {
		t.Errorf("LoadRegion with another seed: %v, want a refusal", err)
	}

	fresh := openSQLite(t, storetest.Options(t))
	err = fresh.Tx(t.Context(), func(tx store.Tx) error {
		_, _, err := tx.Put(t.Context(), fhir.Resource{"resourceType": "Patient", "id": "someone"}, store.Precondition{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadRegion(t.Context(), fresh, &bulk.Importer{Store: fresh, Validator: im.Validator}, tinyRegion, true); err == nil ||
		!strings.Contains(err.Error(), "no complete benchmark region") {
		t.Errorf("LoadRegion on a database with other data: %v, want a refusal", err)
	}
}

// testSampling: the seed alone decides the samples.
func testSampling(t *testing.T, base string) {
	c := &fhirClient{base: base, http: defaultClient(1), orgs: map[string]map[string]any{}, patients: map[string]map[string]any{}}
	pools := samplePools()
	draw := func(seed uint64) [][]map[string]string {
		var out [][]map[string]string
		for _, p := range pools {
			s, err := c.sample(t.Context(), p, 8, seed)
			if err != nil {
				t.Fatalf("sample %s: %v", p.name, err)
			}
			if len(s) == 0 || len(s) > 8 {
				t.Errorf("pool %s: %d samples, want 1–8", p.name, len(s))
			}
			out = append(out, s)
		}
		return out
	}
	a, b, other := draw(1), draw(1), draw(2)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("two samplings with seed 1 differ:\n%v\n%v", a, b)
	}
	if reflect.DeepEqual(a[0], other[0]) {
		t.Errorf("seeds 1 and 2 sampled the same patients: %v", a[0])
	}
}

// harnessMix is a mix of what the server answers without indexed search (ids,
// reads, _lastUpdated, counts), plus a query the server refuses and one that
// matches nothing, to test the harness apart from the search engine.
var harnessMix = []SearchQuery{
	{Name: "patient-id", Pool: "patient", Template: "Patient?_id={patient}", Goal: true},
	{Name: "encounter-read", Pool: "encounter", Template: "Encounter/{encounter}", Goal: true},
	{Name: "observation-id", Pool: "observation", Template: "Observation?_id={observation}&_sort=-_lastUpdated", Goal: true},
	{Name: "condition-count", Pool: "condition", Template: "Condition?_lastUpdated=gt2000-01-01&_summary=count"},
	{Name: "medication-id", Pool: "medication", Template: "MedicationRequest?_id={medication}", Goal: true},
	{Name: "organization-id", Pool: "organization", Template: "Organization?_id={organization}", Goal: true},
	{Name: "bad-parameter", Pool: "patient", Template: "Patient?no-such-parameter={patient}", Goal: true},
	{Name: "no-match", Pool: "patient", Template: "Patient?_id={patient}-none", Goal: true},
}

func testHarness(t *testing.T, base string) {
	var progress strings.Builder
	cfg := SearchConfig{BaseURL: base, Queries: harnessMix, Clients: []int{1, 3}, Requests: 12, Warmup: 2,
		Samples: 6, Seed: 1, Progress: &progress}
	res, err := Search(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	for pool, n := range res.Samples {
		if n < 1 || n > cfg.Samples {
			t.Errorf("pool %s: %d samples, want 1–%d", pool, n, cfg.Samples)
		}
	}
	if len(res.Rows) != len(harnessMix)*len(cfg.Clients) {
		t.Fatalf("%d rows, want %d", len(res.Rows), len(harnessMix)*len(cfg.Clients))
	}
	for i, row := range res.Rows {
		q, clients := harnessMix[i%len(harnessMix)], cfg.Clients[i/len(harnessMix)]
		if row.Query != q.Name || row.Clients != clients || row.Goal != q.Goal {
			t.Errorf("row %d is %s with %d clients (goal %v), want %s with %d (goal %v)", i, row.Query, row.Clients, row.Goal, q.Name, clients, q.Goal)
		}
		switch q.Name {
		case "bad-parameter", "no-match":
			want := map[string]string{"bad-parameter": "HTTP 400", "no-match": "no match"}[q.Name]
			if row.Errors != row.Requests || row.Requests != 5 || !strings.Contains(row.FirstError, want) || row.P50 != 0 {
				t.Errorf("%s: %d errors in %d requests, p50 %s, first error %q; want every checked request failed with %q and no run",
					q.Name, row.Errors, row.Requests, row.P50, row.FirstError, want)
			}
			if q.Name == "bad-parameter" && !strings.Contains(row.FirstError, "no-such-parameter") {
				t.Errorf("first error %q does not quote the OperationOutcome", row.FirstError)
			}
		default:
			if row.Errors != 0 || row.FirstError != "" {
				t.Errorf("%s, %d clients: %d errors, first %s", q.Name, clients, row.Errors, row.FirstError)
			}
			if row.Requests != cfg.Requests || row.Matches < 1 || row.PerSec <= 0 || row.Elapsed <= 0 ||
				row.P50 <= 0 || row.P50 > row.P90 || row.P90 > row.P99 || row.P99 > row.Max {
				t.Errorf("%s, %d clients: implausible measurements %+v", q.Name, clients, row)
			}
		}
	}
	if got, want := res.Errors(), 2*len(cfg.Clients); got != want {
		t.Errorf("Errors() = %d, want %d", got, want)
	}
	md := res.Markdown()
	for _, want := range []string{"| query | clients | requests |", "| patient-id | 3 | 12 | 0 |", "| condition-count | 1 |",
		"- bad-parameter, 1 clients: 5 errors; first: GET Patient?no-such-parameter=", "- no-match, 3 clients"} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(progress.String(), "sampled") {
		t.Errorf("no progress reported: %q", progress.String())
	}
}

// testMix runs the whole mix, checking every sample: every query answers 200
// and matches at least one resource for every sample.
func testMix(t *testing.T, base string) {
	cfg := SearchConfig{BaseURL: base, Clients: []int{1, 2}, Requests: 4, Samples: 10, Verify: 10, Seed: 3}
	res, err := Search(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("samples %v\n%s", res.Samples, res.Markdown())
		}
	})
	mix := SearchMix()
	if len(res.Rows) != len(mix)*len(cfg.Clients) {
		t.Fatalf("%d rows, want %d", len(res.Rows), len(mix)*len(cfg.Clients))
	}
	for i, q := range mix {
		t.Run(q.Name, func(t *testing.T) {
			for _, row := range []SearchRow{res.Rows[i], res.Rows[len(mix)+i]} {
				if row.Errors > 0 {
					t.Errorf("%d clients: %d errors in %d requests; first: %s", row.Clients, row.Errors, row.Requests, row.FirstError)
					continue
				}
				if row.Requests != cfg.Requests || row.Matches < 1 {
					t.Errorf("%d clients: %d requests, median %d matches; want %d requests, at least one match", row.Clients, row.Requests, row.Matches, cfg.Requests)
				}
			}
		})
	}
}

func TestSearchMixShape(t *testing.T) {
	t.Parallel()
	mix := SearchMix()
	if len(mix) != 20 {
		t.Errorf("the mix has %d queries, the issue asks for 20", len(mix))
	}
	pools := map[string]bool{}
	for _, p := range samplePools() {
		pools[p.name] = true
	}
	names := map[string]bool{}
	var exempt []string
	for _, q := range mix {
		if names[q.Name] {
			t.Errorf("query name %s is not unique", q.Name)
		}
		names[q.Name] = true
		if !pools[q.Pool] {
			t.Errorf("query %s: unknown pool %q", q.Name, q.Pool)
		}
		if q.Description == "" {
			t.Errorf("query %s has no description", q.Name)
		}
		if !q.Goal {
			exempt = append(exempt, q.Name)
		}
	}
	// The issue exempts $everything and region-wide counts, nothing else.
	if want := []string{"observation-region-count", "patient-everything"}; !slices.Equal(exempt, want) {
		t.Errorf("queries exempt from the goal: %v, want %v", exempt, want)
	}
	sel, err := SelectQueries(mix, []string{"organization-name", "patient-identifier"})
	if err != nil || len(sel) != 2 || sel[0].Name != "patient-identifier" || sel[1].Name != "organization-name" {
		t.Errorf("SelectQueries = %v, %v; want the two in mix order", sel, err)
	}
	if _, err := SelectQueries(mix, []string{"patient-identifier", "nonsense"}); err == nil || !strings.Contains(err.Error(), "nonsense") {
		t.Errorf("SelectQueries with an unknown name: %v", err)
	}
}

func TestFill(t *testing.T) {
	t.Parallel()
	values := map[string]string{"patient": "pat-1 2", "idsys": "https://x.example/sid", "idnum": "1101", "name": "王秀英", "from": "2025-03-01"}
	tests := []struct {
		template, want, err string
	}{
		{"Patient?identifier={idsys}|{idnum}", "Patient?identifier=https%3A%2F%2Fx.example%2Fsid|1101", ""},
		{"Patient/{patient}/$everything", "Patient/pat-1%202/$everything", ""},
		{"Patient/{patient}/Observation?subject={patient}&date=ge{from}", "Patient/pat-1%202/Observation?subject=pat-1+2&date=ge2025-03-01", ""},
		{"Patient?name={name}", "Patient?name=%E7%8E%8B%E7%A7%80%E8%8B%B1", ""},
		{"Observation?_summary=count", "Observation?_summary=count", ""},
		{"Patient?name={nope}", "", `no sampled value "nope"`},
		{"Patient?name={name", "", "unclosed"},
	}
	for _, tt := range tests {
		got, err := fill(tt.template, values)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("fill(%q) error = %v, want %q", tt.template, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("fill(%q) = %q, %v; want %q", tt.template, got, err, tt.want)
		}
	}
}

func TestMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body string
		want int
	}{
		{`{"resourceType":"Bundle","type":"searchset","total":7,"entry":[{"search":{"mode":"match"}},{"search":{"mode":"include"}},{"search":{"mode":"match"}},{"search":{"mode":"outcome"}}]}`, 7},
		{`{"resourceType":"Bundle","type":"searchset","entry":[{"search":{"mode":"match"}},{"search":{"mode":"include"}},{"search":{"mode":"outcome"}}]}`, 1},
		{`{"resourceType":"Bundle","type":"searchset","total":1234}`, 1234},
		{`{"resourceType":"Bundle","type":"searchset","total":0,"entry":[]}`, 0},
		{`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{}},{"resource":{}}]}`, 2},
		{`{"resourceType":"Patient","id":"x"}`, 1},
	}
	for _, tt := range tests {
		if got, err := matches([]byte(tt.body)); err != nil || got != tt.want {
			t.Errorf("matches(%s) = %d, %v; want %d", tt.body, got, err, tt.want)
		}
	}
	if _, err := matches([]byte("<html>")); err == nil {
		t.Error("matches of a non-JSON body: no error")
	}
}
