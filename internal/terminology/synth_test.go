package terminology

import (
	"context"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/synth"
)

// TestShippedCoversTheGenerator checks that every coding the synthetic
// region writes in a code system HIP ships is in that system, with its
// display (the synthetic province's division codes are its own and left
// out: GB/T 2260 is shipped for Beijing only).
func TestShippedCoversTheGenerator(t *testing.T) {
	t.Parallel()
	s, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	shipped := map[string]bool{}
	rs, _ := Shipped()
	for _, r := range rs {
		if r.Type() == "CodeSystem" && r["url"] != fhir.SystemDivision {
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
	_, err = synth.Generate(ctx, synth.Config{Seed: 2, Residents: 600, Scenarios: synth.AllScenarios()}, func(r fhir.Resource) error {
		walk(map[string]any(r))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, sys := range []string{fhir.SystemICD10, fhir.SystemDepartment, fhir.SystemFacilityLevel, fhir.SystemFacilityKind} {
		if checked[sys] == 0 {
			t.Errorf("no coding of %s checked", sys)
		}
	}
	t.Logf("codings checked per system: %v", checked)
}
