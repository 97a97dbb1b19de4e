package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sharedDir is ../shared seen from this package's directory.
const sharedDir = "../../../shared"

func sharedFiles(t *testing.T, sub string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(sharedDir, sub, "*.json"))
	if err != nil || len(files) == 0 {
		t.Skipf("../shared/%s not found: test data of ../shared absent, round-trip skipped", sub)
	}
	return files
}

// withoutServerMeta drops id and the server-assigned parts of meta.
func withoutServerMeta(m map[string]any) map[string]any {
	delete(m, "id")
	if meta, ok := m["meta"].(map[string]any); ok {
		delete(meta, "versionId")
		delete(meta, "lastUpdated")
		if len(meta) == 0 {
			delete(m, "meta")
		}
	}
	return m
}

// wrongExamples are the official examples that reference a type their
// element does not allow in R4 (docs/validation.md): strict validation
// refuses them with 422.
var wrongExamples = map[string]bool{
	"DeviceMetric-example.json": true, "DeviceUseStatement-example.json": true,
	"MedicationRequest-medrx0301.json": true, "Observation-clinical-gender.json": true,
}

// Every official R4 example creates and reads back equal to what was sent,
// but the four wrong ones, which are refused.
func TestRoundTripExamples(t *testing.T) {
	files := sharedFiles(t, "fhir/r4-examples")
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, b.open(t), 0)
			passed := 0
			for _, f := range files {
				raw, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				sent := decode(t, raw)
				typ, _ := sent["resourceType"].(string)
				status, h, body := call(t, "POST", ts.URL+"/fhir/"+typ, nil, raw)
				if wrongExamples[filepath.Base(f)] {
					if status != 422 {
						t.Errorf("%s: create %d, want 422: %.400s", filepath.Base(f), status, body)
					}
					continue
				}
				if status != 201 {
					t.Errorf("%s: create %d %.400s", filepath.Base(f), status, body)
					continue
				}
				status, _, body = call(t, "GET", h.Get("Location"), nil, nil)
				if status != 200 {
					t.Errorf("%s: read back %d", filepath.Base(f), status)
					continue
				}
				got := withoutServerMeta(decode(t, body))
				want := withoutServerMeta(sent)
				if !reflect.DeepEqual(got, want) {
					g, _ := json.Marshal(got)
					w, _ := json.Marshal(want)
					t.Errorf("%s: read back differs\n got %.600s\nwant %.600s", filepath.Base(f), g, w)
					continue
				}
				passed++
			}
			t.Logf("%d of %d examples round-tripped, %d refused", passed, len(files), len(wrongExamples))
			if passed != len(files)-len(wrongExamples) {
				t.Errorf("%d examples round-tripped, want %d", passed, len(files)-len(wrongExamples))
			}
		})
	}
}

// Every Synthea transaction bundle posts, and every entry then reads back.
func TestSyntheaTransactions(t *testing.T) {
	files := sharedFiles(t, "synthea")
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, b.open(t), 64<<20)
			read := 0
			for _, f := range files {
				raw, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				status, _, body := call(t, "POST", ts.URL+"/fhir", nil, raw)
				if status != 200 {
					t.Fatalf("%s: %d %.600s", filepath.Base(f), status, body)
				}
				resp := decode(t, body)
				sent := entries(t, decode(t, raw))
				got := entries(t, resp)
				if len(got) != len(sent) {
					t.Fatalf("%s: %d response entries for %d", filepath.Base(f), len(got), len(sent))
				}
				for i, e := range got {
					loc := entryLocation(e)
					if !strings.HasPrefix(entryStatus(e), "201") || loc == "" {
						t.Fatalf("%s entry %d: %v", filepath.Base(f), i, e["response"])
					}
					status, _, body := call(t, "GET", ts.URL+"/fhir/"+loc, nil, nil)
					if status != 200 {
						t.Fatalf("%s entry %d: read %s: %d", filepath.Base(f), i, loc, status)
					}
					res := decode(t, body)
					if res["resourceType"] != sent[i]["resource"].(map[string]any)["resourceType"] {
						t.Fatalf("%s entry %d: read back a %v", filepath.Base(f), i, res["resourceType"])
					}
					if strings.Contains(string(body), "urn:uuid:") && strings.Contains(string(body), `"reference":"urn:uuid:`) {
						t.Fatalf("%s entry %d: unresolved urn:uuid reference in %.300s", filepath.Base(f), i, body)
					}
					read++
				}
			}
			t.Logf("%d bundles posted, %d entries read back", len(files), read)
		})
	}
}
