package validate_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/terminology"
)

// TestProfileRules checks each kind of profile rule on a test profile that
// derives from another, found the way stored profiles are (Env.Find):
// fixed and pattern values, closed slicing by value, a type slice of a
// choice element, an extensible binding, allowed types, reference targets,
// maximum cardinality, a constraint, and the base profile's rules.
func TestProfileRules(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("testdata", "profile-rules.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sds []fhir.Resource
	if err := json.Unmarshal(raw, &sds); err != nil {
		t.Fatal(err)
	}
	terms, err := terminology.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &validate.Env{Terminology: terms, Find: func(_ context.Context, url string) (fhir.Resource, error) {
		for _, sd := range sds {
			if sd["url"] == url {
				return sd, nil
			}
		}
		return nil, nil
	}}
	const valid = `{"resourceType":"Observation","status":"final",
		"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory","display":"Laboratory"}],"text":"检验"}],
		"identifier":[{"system":"http://example.org/lab-order","value":"A1"}],
		"code":{"coding":[{"system":"https://hip-platform.github.io/fhir/CodeSystem/icd-10-cn","code":"E11.900"}]},
		"subject":{"reference":"Patient/p1","display":"王秀英"},
		"performer":[{"reference":"Organization/o1"}],
		"valueQuantity":{"value":6.1,"system":"http://unitsofmeasure.org","code":"mmol/L"}}`
	tests := []struct {
		name   string
		change func(r fhir.Resource)
		want   []string // "severity code location" of every finding
	}{
		{"valid", func(fhir.Resource) {}, nil},
		{"fixed value of the base profile", func(r fhir.Resource) { r["status"] = "preliminary" },
			[]string{"error value Observation.status"}},
		{"pattern of the base profile", func(r fhir.Resource) {
			r["category"] = []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}}}}
		}, []string{"error value Observation.category[0]"}},
		{"cardinality of the base profile", func(r fhir.Resource) { delete(r, "category") },
			[]string{"error required Observation.category"}},
		{"closed slicing", func(r fhir.Resource) {
			r["identifier"] = append(r["identifier"].([]any), map[string]any{"system": "http://example.org/other", "value": "B"})
		}, []string{"error structure Observation.identifier[1]"}},
		{"a required slice missing", func(r fhir.Resource) {
			r["identifier"] = []any{map[string]any{"system": "http://example.org/other", "value": "B"}}
		}, []string{"error structure Observation.identifier[0]", "error required Observation.identifier"}},
		{"a slice over its maximum", func(r fhir.Resource) {
			r["identifier"] = append(r["identifier"].([]any), map[string]any{"system": "http://example.org/lab-order", "value": "A2"})
		}, []string{"error structure Observation.identifier"}},
		{"extensible binding: a warning", func(r fhir.Resource) {
			r["code"] = map[string]any{"coding": []any{map[string]any{"system": "https://hip-platform.github.io/fhir/CodeSystem/icd-10-cn", "code": "A00-B99x"}}}
		}, []string{"warning code-invalid Observation.code"}},
		{"a type the profile does not allow", func(r fhir.Resource) {
			delete(r, "valueQuantity")
			r["valueBoolean"] = true
		}, []string{"error structure Observation.valueBoolean"}},
		{"a type slice's rule", func(r fhir.Resource) {
			r["valueQuantity"] = map[string]any{"system": "http://unitsofmeasure.org", "code": "mmol/L"}
		}, []string{"error required Observation.valueQuantity.value"}},
		{"the other type is not held to the type slice", func(r fhir.Resource) {
			delete(r, "valueQuantity")
			r["valueString"] = "阴性"
		}, nil},
		{"a reference target the profile does not allow", func(r fhir.Resource) {
			r["performer"] = []any{map[string]any{"reference": "Practitioner/d1"}}
		}, []string{"error structure Observation.performer[0]"}},
		{"an element the profile forbids", func(r fhir.Resource) {
			r["note"] = []any{map[string]any{"text": "x"}}
		}, []string{"error structure Observation.note"}},
		{"a constraint of the profile", func(r fhir.Resource) {
			r["subject"] = map[string]any{"reference": "Patient/p1"}
		}, []string{"warning invariant Observation.subject"}},
	}
	v := newValidator()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := parse(t, valid)
			tc.change(r)
			var got []string
			for _, is := range v.Validate(t.Context(), env, r, []string{"http://example.org/fhir/StructureDefinition/obs-lab"}) {
				if strings.HasPrefix(is.Diagnostics, "dom-6:") {
					continue
				}
				got = append(got, is.Severity+" "+is.Code+" "+strings.Join(is.Expression, ","))
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("findings %q, want %q", got, want)
			}
		})
	}
}
