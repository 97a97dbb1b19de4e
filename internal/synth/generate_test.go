package synth

import (
	"bytes"
	"crypto/sha256"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hip-platform/hip/internal/bulk"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/uscc"
)

var loadDefs = sync.OnceValues(spec.Load)

// region generates a small region and returns its resources by type/id, in order,
// with the manifest.
func region(t testing.TB, cfg Config) ([]fhir.Resource, *Manifest) {
	t.Helper()
	var out []fhir.Resource
	m, err := Generate(t.Context(), cfg, func(res fhir.Resource) error {
		out = append(out, res)
		return nil
	})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return out, m
}

func digest(t testing.TB, cfg Config) [32]byte {
	h := sha256.New()
	m, err := Generate(t.Context(), cfg, func(res fhir.Resource) error {
		b, err := res.MarshalJSON()
		h.Write(b)
		h.Write([]byte{'\n'})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The manifest is part of the output.
	path := filepath.Join(t.TempDir(), "manifest.json")
	if err := m.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h.Write(manifest)
	if back, err := ReadManifest(path); err != nil || back.Residents != m.Residents {
		t.Fatalf("manifest round trip: %v", err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Seed: 42, Residents: 600, Scenarios: AllScenarios()}
	a, b := digest(t, cfg), digest(t, cfg)
	if a != b {
		t.Fatalf("the same seed gave different output")
	}
	cfg.Seed = 43
	if digest(t, cfg) == a {
		t.Fatalf("another seed gave the same output")
	}
}

func TestResidentCountAndManifest(t *testing.T) {
	out, m := region(t, Config{Seed: 1, Residents: 500, Scenarios: AllScenarios()})
	if m.Residents < 500 || m.Residents > 500+10 {
		t.Errorf("%d residents, want 500 up to one household more", m.Residents)
	}
	counted := map[string]int{}
	for _, r := range out {
		counted[r.Type()]++
	}
	for typ, n := range m.Counts {
		if counted[typ] != n {
			t.Errorf("manifest counts %d %s, output has %d", n, typ, counted[typ])
		}
	}
	for _, typ := range []string{"Organization", "Location", "HealthcareService", "Practitioner", "PractitionerRole",
		"Patient", "Encounter", "Condition", "Observation", "MedicationRequest", "Claim", "Coverage", "Immunization", "EpisodeOfCare"} {
		if counted[typ] == 0 {
			t.Errorf("no %s generated", typ)
		}
	}
}

// Every generated resource passes the store's write checks, and ids are unique.
func TestEveryResourceValid(t *testing.T) {
	defs, err := loadDefs()
	if err != nil {
		t.Fatal(err)
	}
	v := validate.New(defs)
	out, _ := region(t, Config{Seed: 3, Residents: 1500, Scenarios: AllScenarios()})
	seen := map[string]bool{}
	bad := 0
	for _, res := range out {
		key := res.Type() + "/" + res.ID()
		if seen[key] {
			t.Errorf("duplicate id %s", key)
		}
		seen[key] = true
		if err := v.Resource(res); err != nil {
			if bad++; bad <= 10 {
				t.Errorf("%s: %v", key, fhir.AsError(err).Issues)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d resources invalid", bad, len(out))
	}
}

// writeNDJSON generates a region as `hip synth` does: NDJSON files and manifest.json.
func writeNDJSON(t testing.TB, cfg Config) string {
	t.Helper()
	dir := t.TempDir()
	w, err := bulk.NewNDJSONWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Generate(t.Context(), cfg, w.Write)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.WriteFile(filepath.Join(dir, "manifest.json")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// readNDJSON reads every Type.ndjson file of dir, keyed by Type/id.
func readNDJSON(t testing.TB, dir string) map[string]fhir.Resource {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.ndjson"))
	out := map[string]fhir.Resource{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.Lines(data) {
			res, err := fhir.Parse(line)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out[res.Type()+"/"+res.ID()] = res
		}
	}
	return out
}

// The NDJSON files, encoded on every core, are byte-identical run after run.
func TestNDJSONDeterministic(t *testing.T) {
	cfg := Config{Seed: 9, Residents: 800, Scenarios: AllScenarios()}
	a, b := writeNDJSON(t, cfg), writeNDJSON(t, cfg)
	files, _ := filepath.Glob(filepath.Join(a, "*"))
	if len(files) < 10 {
		t.Fatalf("only %d files written", len(files))
	}
	for _, f := range files {
		x, _ := os.ReadFile(f)
		y, err := os.ReadFile(filepath.Join(b, filepath.Base(f)))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs between two runs with the same seed", filepath.Base(f))
		}
	}
}

// Reading manifest.json, every injected case is found in the NDJSON output.
func TestGroundTruthInOutput(t *testing.T) {
	dir := writeNDJSON(t, Config{Seed: 5, Residents: 4000, Scenarios: AllScenarios()})
	m, err := ReadManifest(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	byKey := readNDJSON(t, dir)
	need := func(what, typ, id string) fhir.Resource {
		t.Helper()
		res, ok := byKey[typ+"/"+id]
		if !ok {
			t.Errorf("%s: %s/%s not in the output", what, typ, id)
		}
		return res
	}
	if len(m.Duplicates) == 0 || len(m.Outbreaks) == 0 || len(m.Fraud) == 0 || len(m.Shortages) == 0 || len(m.PriceAnomalies) == 0 {
		t.Fatalf("a scenario injected nothing: %d duplicates, %d outbreaks, %d fraud, %d shortages, %d price anomalies",
			len(m.Duplicates), len(m.Outbreaks), len(m.Fraud), len(m.Shortages), len(m.PriceAnomalies))
	}
	for _, d := range m.Duplicates {
		need("duplicate person", "Patient", d.Person)
		for _, r := range d.Records {
			need("duplicate record", "Patient", r.Patient)
			need("duplicate facility", "Organization", r.Facility)
		}
	}
	for _, ob := range m.Outbreaks {
		if len(ob.Cases) == 0 {
			t.Errorf("outbreak %s has no cases", ob.ID)
		}
		for _, c := range ob.Cases {
			cond := need("outbreak case", "Condition", c)
			if cond != nil && !bytes.Contains(mustJSON(t, cond), []byte(`"code":"`+ob.Disease+`"`)) {
				t.Errorf("outbreak %s case %s lacks code %s", ob.ID, c, ob.Disease)
			}
		}
	}
	for _, f := range m.Fraud {
		need("fraud patient", "Patient", f.Patient)
		for _, c := range f.Claims {
			need("fraud claim", "Claim", c)
		}
	}
	medCodes := map[string]bool{}
	for key, res := range byKey {
		if strings.HasPrefix(key, "Medication/") {
			for _, c := range res["code"].(map[string]any)["coding"].([]any) {
				medCodes[c.(map[string]any)["code"].(string)] = true
			}
		}
	}
	for _, sh := range m.Shortages {
		if !medCodes[sh.Drug] {
			t.Errorf("shortage drug %s is no Medication of the output", sh.Drug)
		}
		for _, f := range sh.Facilities {
			need("shortage facility", "Organization", f)
		}
	}
	for _, p := range m.PriceAnomalies {
		if !medCodes[p.Drug] {
			t.Errorf("price anomaly drug %s is no Medication of the output", p.Drug)
		}
		need("price anomaly facility", "Organization", p.Facility)
		for _, id := range p.Resources {
			need("price anomaly", "SupplyDelivery", id)
		}
	}
	counted := map[string]int{}
	for key := range byKey {
		typ, _, _ := strings.Cut(key, "/")
		counted[typ]++
	}
	if !maps.Equal(counted, m.Counts) {
		t.Errorf("manifest counts %v, output has %v", m.Counts, counted)
	}
	_, none := region(t, Config{Seed: 5, Residents: 500})
	if len(none.Duplicates)+len(none.Outbreaks)+len(none.Fraud)+len(none.Shortages)+len(none.PriceAnomalies) != 0 {
		t.Errorf("scenarios switched off still injected ground truth")
	}
}

// The region's division CodeSystem comes first and holds every division code
// the output writes: address extensions (with the same display), the division
// part of every 统一社会信用代码 and of every resident's 身份证 number.
func TestDivisionCodeSystemCoversTheOutput(t *testing.T) {
	t.Parallel()
	out, m := region(t, Config{Seed: 3, Residents: 1500, Scenarios: AllScenarios()})
	if m.Counts["CodeSystem"] != 1 || out[0].Type() != "CodeSystem" || out[0]["url"] != fhir.SystemDivision {
		t.Fatalf("want one CodeSystem of %s, emitted first; counts %v, first %s", fhir.SystemDivision, m.Counts, out[0].Type())
	}
	display := map[string]string{}
	var walk func(list any, parent string)
	walk = func(list any, parent string) {
		for _, x := range list.([]any) {
			c := x.(map[string]any)
			code, name := c["code"].(string), c["display"].(string)
			if _, dup := display[code]; dup || name == "" {
				t.Errorf("concept %s %q repeated or without display", code, name)
			}
			// A GB/T 2260 code extends its parent's without the parent's
			// trailing zero pairs (990000 → 99, 990100 → 9901).
			prefix := parent
			for len(prefix) > 2 && len(prefix) <= 6 && strings.HasSuffix(prefix, "00") {
				prefix = prefix[:len(prefix)-2]
			}
			if parent == "" && len(code) != 6 || parent != "" && (!strings.HasPrefix(code, prefix) || len(code) <= len(prefix)) {
				t.Errorf("concept %s is no part of %s", code, parent)
			}
			display[code] = name
			if sub, ok := c["concept"]; ok {
				walk(sub, code)
			}
		}
	}
	walk(out[0]["concept"], "")

	var codings, orgs, ids int
	usccs := map[string]string{}
	var find func(v any)
	find = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if x["url"] == fhir.ExtDivision {
				c := x["valueCoding"].(map[string]any)
				if c["system"] != fhir.SystemDivision || display[c["code"].(string)] != c["display"] {
					t.Errorf("division coding %v: the CodeSystem has %q", c, display[c["code"].(string)])
				}
				codings++
			}
			for _, e := range x {
				find(e)
			}
		case []any:
			for _, e := range x {
				find(e)
			}
		}
	}
	for _, res := range out[1:] {
		find(map[string]any(res))
		var list []any
		if l, ok := res["identifier"].([]any); ok {
			list = l
		}
		switch {
		case res.Type() == "Organization":
			orgs++
			n := 0
			for _, x := range list {
				id := x.(map[string]any)
				if id["system"] != fhir.SystemUSCC {
					continue
				}
				n++
				code, _ := id["value"].(string)
				if !uscc.Valid(code) || id["use"] != "official" || display[code[2:8]] == "" {
					t.Errorf("%s: 统一社会信用代码 %v invalid, not official or of a division not in the CodeSystem", res.ID(), id)
					continue
				}
				if other, dup := usccs[code]; dup {
					t.Errorf("%s and %s share %s", res.ID(), other, code)
				}
				usccs[code] = res.ID()
			}
			if n != 1 {
				t.Errorf("%s: %d 统一社会信用代码, want 1", res.ID(), n)
			}
		case res.Type() == "Patient" && !strings.Contains(res.ID(), "-d"): // a resident's own record, not a duplicate with variants
			for _, x := range list {
				id := x.(map[string]any)
				if v, _ := id["value"].(string); id["system"] == fhir.SystemResidentID {
					if display[v[:6]] == "" {
						t.Errorf("%s: 身份证 division %s not in the CodeSystem", res.ID(), v[:6])
					}
					ids++
				}
			}
		}
	}
	if codings == 0 || orgs == 0 || ids == 0 {
		t.Errorf("checked %d division codings, %d Organizations, %d ID numbers", codings, orgs, ids)
	}
}

func mustJSON(t testing.TB, r fhir.Resource) []byte {
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseScenarios(t *testing.T) {
	for in, want := range map[string]Scenarios{
		"all":              AllScenarios(),
		"none":             {},
		"fraud,duplicates": {Fraud: true, Duplicates: true},
		"prices":           {PriceAnomalies: true},
	} {
		got, err := ParseScenarios(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v", in, got, err)
		}
	}
	if _, err := ParseScenarios("fraud,bogus"); err == nil {
		t.Errorf("unknown scenario accepted")
	}
}

// BenchmarkGenerate measures the whole generator (marshalling included, as the
// NDJSON writer does) in resources/s.
func BenchmarkGenerate(b *testing.B) {
	n := 0
	for b.Loop() {
		n = 0
		_, err := Generate(b.Context(), Config{Seed: 1, Residents: 20000, Scenarios: AllScenarios()}, func(res fhir.Resource) error {
			n++
			_, err := res.MarshalJSON()
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "resources/s")
}
