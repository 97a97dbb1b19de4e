package terminology

import (
	"context"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/synth"
)

// TestShippedCoversTheGenerator checks that every coding the synthetic
// region writes in a code system HIP ships is in that system, with its
// display. The synthetic province's division codes are not in the shipped
// GB/T 2260 table (Beijing only): the generator writes them as a CodeSystem
// of the same url, which is found here as a stored one would be, through
// the Finder, and so takes precedence over the shipped table.
func TestShippedCoversTheGenerator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var generated, terms []fhir.Resource
	_, err := synth.Generate(ctx, synth.Config{Seed: 2, Residents: 600, Scenarios: synth.AllScenarios()}, func(r fhir.Resource) error {
		switch r.Type() {
		case "CodeSystem", "ValueSet", "ConceptMap":
			terms = append(terms, r)
		}
		generated = append(generated, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(stored(terms...))
	if err != nil {
		t.Fatal(err)
	}
	shipped := map[string]bool{}
	rs, _ := Shipped()
	for _, r := range rs {
		if r.Type() == "CodeSystem" {
			shipped[r["url"].(string)] = true
		}
	}
	checked := map[string]int{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if sys, ok := x["system"].(string); ok && shipped[sys] {
				code, _ := x["code"].(string)
				display, _ := x["display"].(string)
				r, err := s.Lookup(ctx, sys, code)
				switch {
				case err != nil:
					t.Errorf("%s|%s: %v", sys, code, err)
				case display != "" && display != r.Concept.Display:
					t.Errorf("%s|%s: the generator writes %q, the table %q", sys, code, display, r.Concept.Display)
				}
				checked[sys]++
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, r := range generated {
		walk(map[string]any(r))
	}
	for _, sys := range []string{fhir.SystemICD10, fhir.SystemDepartment, fhir.SystemFacilityLevel, fhir.SystemFacilityKind, fhir.SystemDivision} {
		if checked[sys] == 0 {
			t.Errorf("no coding of %s checked", sys)
		}
	}
	t.Logf("codings checked per system: %v", checked)
}
