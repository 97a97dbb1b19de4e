package validate_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/synth"
	"github.com/hip-platform/hip/internal/terminology"
)

// region is a synthetic region and a terminology service that holds its
// division table, as the region's HIP would after importing it.
type region struct {
	resources []fhir.Resource
	manifest  *synth.Manifest
	env       *validate.Env
}

var syntheticRegion = sync.OnceValues(func() (*region, error) {
	rg := &region{}
	var stored []fhir.Resource
	m, err := synth.Generate(context.Background(), synth.Config{Seed: 3, Residents: 400, Scenarios: synth.AllScenarios()}, func(r fhir.Resource) error {
		rg.resources = append(rg.resources, r)
		if r.Type() == "CodeSystem" {
			stored = append(stored, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rg.manifest = m
	terms, err := terminology.New(func(ctx context.Context, typ, url string) (fhir.Resource, error) {
		for _, r := range stored {
			if r.Type() == typ && r["url"] == url {
				return r, nil
			}
		}
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	rg.env = &validate.Env{Terminology: terms}
	return rg, nil
})

// findingKey names a finding by its constraint key, or code and location.
func findingKey(is fhir.Issue) string {
	if key, _, ok := strings.Cut(is.Diagnostics, ":"); ok && strings.HasPrefix(key, "cn-") {
		return key
	}
	return is.Code + "@" + strings.Join(is.Expression, ",")
}

// TestSyntheticRegionMeetsCNProfiles checks every resource of a synthetic
// region against the China core profiles of its type. Every one meets them
// with no finding at all (but the best-practice narrative warning), except
// the duplicate registrations the generator corrupts on purpose, as
// facilities' systems do: each of those gets exactly the findings its
// variants predict.
func TestSyntheticRegionMeetsCNProfiles(t *testing.T) {
	t.Parallel()
	v := newValidator()
	if len(v.Problems) > 0 {
		t.Fatalf("problems: %v", v.Problems)
	}
	rg, err := syntheticRegion()
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string][]string{}
	for _, set := range rg.manifest.Duplicates {
		for _, rec := range set.Records {
			variants[rec.Patient] = rec.Variants
		}
	}
	ctx := context.Background()
	checked, corrupted := map[string]int{}, 0
	for _, r := range rg.resources {
		found := map[string]bool{}
		for _, is := range v.Validate(ctx, rg.env, r, validate.CNProfiles[r.Type()]) {
			if strings.HasPrefix(is.Diagnostics, "dom-6:") {
				continue
			}
			found[findingKey(is)] = true
		}
		checked[r.Type()]++
		vs := variants[r.ID()]
		if r.Type() != "Patient" || len(vs) == 0 {
			if len(found) > 0 {
				t.Errorf("%s/%s: %v", r.Type(), r.ID(), slices.Sorted(maps.Keys(found)))
			}
			continue
		}
		// The keys each variant must raise, and those it may raise.
		must, may := map[string]bool{}, map[string]bool{}
		idIntact := !slices.Contains(vs, "id-digit-swap") && !slices.Contains(vs, "id-missing") && !slices.Contains(vs, "id-15-digit")
		for _, variant := range vs {
			switch variant {
			case "id-digit-swap":
				must["cn-pat-2"] = true
				may["cn-pat-1"], may["cn-pat-3"], may["cn-pat-4"] = true, true, true
			case "birthdate-typo":
				if idIntact {
					must["cn-pat-3"] = true
				}
				may["cn-pat-3"] = true
			case "pinyin":
				must["cn-pat-5"] = true
			case "id-15-digit":
				must["cn-pat-8"] = true
			}
		}
		if len(must) > 0 {
			corrupted++
		}
		for k := range must {
			if !found[k] {
				t.Errorf("Patient/%s (variants %v): %s not found; found %v", r.ID(), vs, k, slices.Sorted(maps.Keys(found)))
			}
		}
		for k := range found {
			if !must[k] && !may[k] {
				t.Errorf("Patient/%s (variants %v): unexpected %s", r.ID(), vs, k)
			}
		}
	}
	for _, typ := range []string{"Patient", "Organization", "Practitioner", "Encounter", "Condition", "Observation", "CodeSystem"} {
		if checked[typ] == 0 {
			t.Errorf("no %s checked", typ)
		}
	}
	if corrupted == 0 {
		t.Error("no corrupted duplicate registration met")
	}
	t.Logf("checked %v; %d corrupted duplicate registrations found as predicted", checked, corrupted)
}

// BenchmarkWrite checks the synthetic region's resources as writes do, per
// mode: the structure only, the base definitions in full, and the China
// core profiles on top. Reported per resource.
func BenchmarkWrite(b *testing.B) {
	v := newValidator()
	rg, err := syntheticRegion()
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct {
		name  string
		rules validate.Rules
	}{
		{"structural", validate.Rules{Mode: validate.Structural}},
		{"strict", validate.Rules{Mode: validate.Strict}},
		{"strict+cn", validate.Rules{Mode: validate.Strict, Profiles: validate.CNProfiles}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				r := rg.resources[n%len(rg.resources)]
				n++
				v.Write(b.Context(), rg.env, r, mode.rules)
			}
		})
	}
}
