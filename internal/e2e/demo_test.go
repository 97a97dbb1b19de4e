package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs `hip demo` as a newcomer would and reads a generated resident back.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	s := startHip(t, "", "demo", "--dir", dir, "--residents", "300")
	// Without a token nothing but the CapabilityStatement is served.
	if resp, body := s.get(t, "/fhir/Patient?_count=1"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("search without a token: %d %.200s", resp.StatusCode, body)
	}
	if resp, _ := s.get(t, "/fhir/metadata"); resp.StatusCode != http.StatusOK {
		t.Fatalf("metadata: %d", resp.StatusCode)
	}
	s.token = demoToken(t, s)
	resp, body := s.get(t, "/fhir/Patient?_count=1&_total=accurate")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("search: %d %s", resp.StatusCode, body)
	}
	var bundle struct {
		Total int `json:"total"`
		Entry []struct {
			Resource resource `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &bundle); err != nil || len(bundle.Entry) != 1 || bundle.Total < 300 {
		t.Fatalf("search bundle (total %d, %v): %.300s", bundle.Total, err, body)
	}
	id := bundle.Entry[0].Resource.ID
	resp, body = s.get(t, "/fhir/Patient/"+id)
	if r, err := decodeResource(body); resp.StatusCode != http.StatusOK || err != nil || r.ResourceType != "Patient" || r.ID != id {
		t.Fatalf("read Patient/%s: %d %.300s", id, resp.StatusCode, body)
	}
	for _, typ := range []string{"Organization", "Practitioner", "Encounter", "Observation", "Claim"} {
		resp, body := s.get(t, "/fhir/"+typ+"?_summary=count")
		if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"total":0`) {
			t.Errorf("%s: %d %.200s", typ, resp.StatusCode, body)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		t.Errorf("no ground-truth manifest: %v", err)
	}
	if _, err := s.stop(); err != nil {
		t.Fatalf("demo did not stop cleanly: %v", err)
	}
	// A second start reuses the region instead of generating it again.
	again := startHip(t, "", "demo", "--dir", dir, "--residents", "300")
	if !strings.Contains(again.logTail(40), "using the demo data already in") {
		t.Errorf("second start did not reuse the demo data:\n%s", again.logTail(40))
	}
	if _, err := again.stop(); err != nil {
		t.Fatalf("demo did not stop cleanly: %v", err)
	}
	// Other options over the same directory are refused rather than served.
	msg, err := runHip(t, "demo", "--dir", dir, "--residents", "400", "--addr", "127.0.0.1:0")
	if err == nil || !strings.Contains(msg, "not a complete demo region of these options") {
		t.Errorf("demo with other options over %s: %v\n%s", dir, err, msg)
	}
}

// TestSynthImport writes a region with `hip synth` and loads it with `hip import`
// into each backend, then serves it.
func TestSynthImport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "region")
	msg, err := runHip(t, "synth", "--out", out, "--residents", "200", "--seed", "7")
	if err != nil {
		t.Fatalf("hip synth: %v\n%s", err, msg)
	}
	for _, f := range []string{"Patient.ndjson", "Organization.ndjson", "manifest.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatalf("hip synth wrote no %s: %v\n%s", f, err, msg)
		}
	}
	forEachBackend(t, func(t *testing.T, db string) {
		msg, err := runHip(t, "import", "--db", db, out)
		if err != nil || !strings.Contains(msg, "0 refused") {
			t.Fatalf("hip import: %v\n%s", err, msg)
		}
		s := startServer(t, db)
		resp, body := s.get(t, "/fhir/Patient?_summary=count")
		if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `"total":0`) {
			t.Fatalf("imported patients: %d %s", resp.StatusCode, body)
		}
	})
}

// demoToken reads the administrator's token from the demo's banner.
func demoToken(t *testing.T, s *server) string {
	t.Helper()
	lines := strings.Split(s.logTail(200), "\n")
	for i, line := range lines {
		if strings.Contains(line, "admin access token") && i+1 < len(lines) {
			return strings.TrimSpace(lines[i+1])
		}
	}
	t.Fatalf("no admin token in the demo banner:\n%s", s.logTail(40))
	return ""
}
