package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// referenceSearch runs queries against Medplum's in-memory FHIR repository
// (medplum/search.mjs) loaded with resources: the reference for HIP's differential
// search tests. It returns, per query, the sorted Type/id list or the error text.
func referenceSearch(t *testing.T, resources [][]byte, queries []string) map[string][]string {
	t.Helper()
	node, dir := nodePackage(t, "medplum", "@medplum/fhir-router")
	tmp := t.TempDir()
	data := filepath.Join(tmp, "resources.ndjson")
	if err := os.WriteFile(data, append(bytes.Join(resources, []byte("\n")), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	qfile := filepath.Join(tmp, "queries.txt")
	if err := os.WriteFile(qfile, []byte(strings.Join(queries, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "search.mjs", data, qfile)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node search.mjs: %v\n%s", err, stderr.String())
	}
	results := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var r struct {
			Query string   `json:"query"`
			IDs   []string `json:"ids"`
			Error string   `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("reference output %q: %v", sc.Text(), err)
		}
		if r.Error != "" {
			r.IDs = []string{"error: " + r.Error}
		}
		results[r.Query] = r.IDs
	}
	return results
}

// TestReferenceSearch checks the reference itself on official examples, so the
// differential tests of search can trust it.
func TestReferenceSearch(t *testing.T) {
	examples := filepath.Join("..", "..", "..", "shared", "fhir", "r4-examples")
	var resources [][]byte
	for _, name := range []string{"Patient-example.json", "Patient-pat2.json", "Observation-example.json", "Observation-f001.json"} {
		b, err := os.ReadFile(filepath.Join(examples, name))
		if err != nil {
			t.Skipf("../shared/fhir/r4-examples not readable: reference search test skipped: %v", err)
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, b); err != nil {
			t.Fatal(err)
		}
		resources = append(resources, compact.Bytes())
	}
	tests := map[string][]string{
		"Patient?family=chalmers":                   {"Patient/example"},
		"Patient?gender=male":                       {"Patient/example"},
		"Patient?gender=other":                      {"Patient/pat2"},
		"Patient?birthdate=1974-12-25":              {"Patient/example"},
		"Observation?subject=Patient/example":       {"Observation/example"},
		"Observation?code=http://loinc.org|29463-7": {"Observation/example"},
	}
	queries := make([]string, 0, len(tests))
	for q := range tests {
		queries = append(queries, q)
	}
	got := referenceSearch(t, resources, queries)
	for q, want := range tests {
		if !slices.Equal(got[q], want) {
			t.Errorf("%s: reference found %v, want %v", q, got[q], want)
		}
	}
}
