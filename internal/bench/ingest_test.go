package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// syntheaSubset copies the first n Synthea bundles from ../shared into a temp dir, so
// that a test can go round them several times quickly.
func syntheaSubset(t *testing.T, n int) string {
	t.Helper()
	src := filepath.Join("..", "..", "..", "shared", "synthea")
	names, _ := filepath.Glob(filepath.Join(src, "*.json"))
	if len(names) < n {
		t.Skipf("needs %d Synthea bundles in ../shared/synthea (found %d): skipped", n, len(names))
	}
	dir := t.TempDir()
	for _, name := range names[:n] {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(name)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// transactionChecker is a FHIR endpoint that accepts only transaction bundles whose
// urn:uuid values are new (never seen in the source bundles nor an earlier request)
// and consistent (every urn:uuid reference names an entry of the same bundle).
type transactionChecker struct {
	t       *testing.T
	mu      sync.Mutex
	seen    map[string]bool // uuids of the source files and of every bundle received
	bundles int
	entries int
}

func (c *transactionChecker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, err := c.check(r)
	if err != nil {
		c.t.Error(err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	entries := make([]map[string]any, n)
	for i := range entries {
		entries[i] = map[string]any{"response": map[string]any{"status": "201 Created"}}
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	json.NewEncoder(w).Encode(map[string]any{"resourceType": "Bundle", "type": "transaction-response", "entry": entries})
}

// check validates one request and returns its number of entries.
func (c *transactionChecker) check(r *http.Request) (int, error) {
	if r.Method != http.MethodPost || r.URL.Path != "/fhir" {
		return 0, fmt.Errorf("got %s %s, want POST /fhir", r.Method, r.URL.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/fhir+json" {
		return 0, fmt.Errorf("Content-Type %q, want application/fhir+json", ct)
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return 0, err
	}
	var b struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			FullURL  string `json:"fullUrl"`
			Resource struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
			} `json:"resource"`
			Request struct {
				Method string `json:"method"`
				URL    string `json:"url"`
			} `json:"request"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return 0, fmt.Errorf("invalid JSON: %v", err)
	}
	if b.ResourceType != "Bundle" || b.Type != "transaction" || len(b.Entry) == 0 {
		return 0, fmt.Errorf("got resourceType %q type %q with %d entries, want a non-empty transaction Bundle", b.ResourceType, b.Type, len(b.Entry))
	}
	own := map[string]bool{}
	for i, e := range b.Entry {
		id, ok := strings.CutPrefix(e.FullURL, "urn:uuid:")
		if !ok || !anyUUID.MatchString(id) {
			return 0, fmt.Errorf("entry %d: fullUrl %q is not a urn:uuid", i, e.FullURL)
		}
		if e.Resource.ID != id {
			return 0, fmt.Errorf("entry %d: resource id %q differs from fullUrl %q", i, e.Resource.ID, e.FullURL)
		}
		if e.Request.Method != http.MethodPost || e.Request.URL != e.Resource.ResourceType {
			return 0, fmt.Errorf("entry %d: request %s %s, want POST %s", i, e.Request.Method, e.Request.URL, e.Resource.ResourceType)
		}
		own[id] = true
	}
	for _, m := range urnUUID.FindAllSubmatch(raw, -1) {
		if !own[string(m[1])] {
			return 0, fmt.Errorf("reference %s names no entry of the bundle", m[0])
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range own {
		if c.seen[id] {
			return 0, fmt.Errorf("uuid %s is not fresh", id)
		}
		c.seen[id] = true
	}
	c.bundles++
	c.entries += len(b.Entry)
	return len(b.Entry), nil
}

func TestIngestFreshConsistentUUIDs(t *testing.T) {
	dir := syntheaSubset(t, 3)
	tpls, err := loadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	checker := &transactionChecker{t: t, seen: map[string]bool{}}
	perRound := 0
	for _, tpl := range tpls {
		perRound += tpl.entries
		raw, err := os.ReadFile(filepath.Join(dir, tpl.name))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range urnUUID.FindAllSubmatch(raw, -1) {
			checker.seen[string(m[1])] = true
		}
	}
	srv := httptest.NewServer(checker)
	defer srv.Close()

	// Two and a half rounds: every bundle is sent at least twice, so freshness
	// across repetitions is checked, and the run stops at the first bundle that
	// reaches the target.
	target := perRound*2 + perRound/2
	var progress strings.Builder
	res, err := Ingest(context.Background(), IngestConfig{
		BaseURL:    srv.URL + "/fhir/",
		BundlesDir: dir,
		Resources:  target,
		Clients:    3,
		Progress:   &progress,
	})
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	if res.Resources < target || res.Resources != checker.entries || res.Bundles != checker.bundles {
		t.Errorf("result %d resources in %d bundles (target %d); server received %d in %d",
			res.Resources, res.Bundles, target, checker.entries, checker.bundles)
	}
	if res.Bundles < 2*len(tpls)+1 || res.Bundles > 3*len(tpls) {
		t.Errorf("posted %d bundles, want between %d and %d for %d resources", res.Bundles, 2*len(tpls)+1, 3*len(tpls), target)
	}
	if res.Clients != 3 || res.Elapsed <= 0 || res.ResourcesPerSec <= 0 || res.P50 <= 0 || res.P50 > res.P95 || res.P95 > res.P99 {
		t.Errorf("implausible measurements: %+v", res)
	}
	if s := res.String(); !strings.Contains(s, fmt.Sprintf("%d resources", res.Resources)) || !strings.Contains(s, "p99") {
		t.Errorf("String() = %q", s)
	}
}

func TestIngestReportsOperationOutcome(t *testing.T) {
	dir := syntheaSubset(t, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		io.WriteString(w, `{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid",`+
			`"diagnostics":"Patient.birthDate: not a date","expression":["Bundle.entry[0].resource.birthDate"]}]}`)
	}))
	defer srv.Close()
	res, err := Ingest(context.Background(), IngestConfig{BaseURL: srv.URL + "/fhir", BundlesDir: dir, Resources: 1000})
	if err == nil {
		t.Fatalf("Ingest succeeded against a server that rejects everything: %v", res)
	}
	for _, want := range []string{"422", "Patient.birthDate: not a date", "Bundle.entry[0].resource.birthDate", "bundle-"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if res.Resources != 0 || res.Bundles != 0 {
		t.Errorf("counted rejected bundles: %+v", res)
	}
}

// Without bundle files, Ingest posts a generated region as PUT transactions.
func TestIngestGenerated(t *testing.T) {
	var mu sync.Mutex
	entries, bundles := 0, 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			Type  string `json:"type"`
			Entry []struct {
				Request struct{ Method, URL string } `json:"request"`
			} `json:"entry"`
		}
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil || b.Type != "transaction" {
			http.Error(w, "not a transaction", http.StatusBadRequest)
			return
		}
		resp := map[string]any{"resourceType": "Bundle", "type": "transaction-response"}
		var out []any
		for _, e := range b.Entry {
			if e.Request.Method != "PUT" || !strings.Contains(e.Request.URL, "/") {
				http.Error(w, "not a PUT with an id", http.StatusBadRequest)
				return
			}
			out = append(out, map[string]any{"response": map[string]any{"status": "201 Created"}})
		}
		resp["entry"] = out
		mu.Lock()
		entries += len(b.Entry)
		bundles++
		mu.Unlock()
		json.NewEncoder(w).Encode(resp)
	}))
	defer ts.Close()
	res, err := Ingest(t.Context(), IngestConfig{BaseURL: ts.URL, Resources: 3000, BundleSize: 250, Clients: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Resources < 3000 || res.Resources != entries || res.Bundles != bundles {
		t.Errorf("result %+v; server saw %d entries in %d bundles", res, entries, bundles)
	}
}
