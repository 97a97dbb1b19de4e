package validate_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/terminology"
)

var shared = filepath.Join("..", "..", "..", "..", "shared")

// newValidator loads the definitions once per test binary: they are read-only.
var newValidator = sync.OnceValue(func() *validate.Validator {
	defs, err := spec.Load()
	if err != nil {
		panic(err)
	}
	return validate.New(defs)
})

func issuesOf(t testing.TB, err error) []fhir.Issue {
	t.Helper()
	if err == nil {
		return nil
	}
	var fe *fhir.Error
	if !errors.As(err, &fe) || fe.Code != fhir.Invalid {
		t.Fatalf("error %v is not a *fhir.Error with code invalid", err)
	}
	if len(fe.Issues) == 0 {
		t.Fatalf("error %v has no issues", err)
	}
	return fe.Issues
}

func parse(t testing.TB, s string) fhir.Resource {
	t.Helper()
	r, err := fhir.Parse([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return r
}

// issue is the part of a fhir.Issue a case pins down.
type issue struct{ code, expr string }

func TestResource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json string
		want []issue // nil: valid
	}{
		{"minimal patient", `{"resourceType":"Patient"}`, nil},
		{"full patient", `{"resourceType":"Patient","id":"p-1","meta":{"versionId":"1","lastUpdated":"2024-01-02T03:04:05.678+08:00"},
			"active":true,"name":[{"family":"张","given":["三","丰"]}],"gender":"male","birthDate":"1990-02-28",
			"deceasedBoolean":false,"multipleBirthInteger":2,"telecom":[{"system":"phone","value":"13800000000"}],
			"extension":[{"url":"http://example.org/x","valueDecimal":1.50}],
			"_birthDate":{"extension":[{"url":"http://example.org/t","valueTime":"12:30:00"}]},
			"contact":[{"relationship":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0131","code":"N"}]}],"name":{"text":"李四"}}]}`, nil},
		{"missing resourceType", `{"id":"x"}`, []issue{{"required", "Resource"}}},
		{"resourceType not a string", `{"resourceType":7}`, []issue{{"structure", "Resource"}}},
		{"unknown resourceType", `{"resourceType":"Patientx"}`, []issue{{"structure", "Resource"}}},
		{"abstract resourceType", `{"resourceType":"DomainResource"}`, []issue{{"structure", "Resource"}}},
		{"bad month", `{"resourceType":"Patient","birthDate":"1990-13-01"}`, []issue{{"value", "Patient.birthDate"}}},
		{"no such day", `{"resourceType":"Patient","birthDate":"2023-02-29"}`, []issue{{"value", "Patient.birthDate"}}},
		{"leap day", `{"resourceType":"Patient","birthDate":"2024-02-29"}`, nil},
		{"partial dates", `{"resourceType":"Patient","birthDate":"1990-02"}`, nil},
		{"dateTime without zone", `{"resourceType":"Patient","deceasedDateTime":"2020-01-01T10:00:00"}`, []issue{{"value", "Patient.deceasedDateTime"}}},
		{"instant needs zone", `{"resourceType":"Patient","meta":{"lastUpdated":"2020-01-01T10:00:00"}}`, []issue{{"value", "Patient.meta.lastUpdated"}}},
		{"instant needs time", `{"resourceType":"Patient","meta":{"lastUpdated":"2020-01-01"}}`, []issue{{"value", "Patient.meta.lastUpdated"}}},
		{"bad id", `{"resourceType":"Patient","id":"a b"}`, []issue{{"value", "Patient.id"}}},
		{"id too long", `{"resourceType":"Patient","id":"` + strings.Repeat("a", 65) + `"}`, []issue{{"value", "Patient.id"}}},
		{"code with trailing space", `{"resourceType":"Patient","gender":"male "}`, []issue{{"value", "Patient.gender"}}},
		{"unknown element", `{"resourceType":"Patient","foo":1}`, []issue{{"structure", "Patient.foo"}}},
		{"unknown nested element", `{"resourceType":"Patient","name":[{"first":"x"}]}`, []issue{{"structure", "Patient.name[0].first"}}},
		{"resourceType inside a datatype", `{"resourceType":"Patient","name":[{"resourceType":"HumanName","text":"x"}]}`, []issue{{"structure", "Patient.name[0].resourceType"}}},
		{"wrong boolean", `{"resourceType":"Patient","active":"yes"}`, []issue{{"structure", "Patient.active"}}},
		{"string for number", `{"resourceType":"Patient","multipleBirthInteger":"2"}`, []issue{{"structure", "Patient.multipleBirthInteger"}}},
		{"integer not integral", `{"resourceType":"Patient","multipleBirthInteger":2.5}`, []issue{{"value", "Patient.multipleBirthInteger"}}},
		{"integer out of range", `{"resourceType":"Patient","multipleBirthInteger":2147483648}`, []issue{{"value", "Patient.multipleBirthInteger"}}},
		{"positiveInt zero", `{"resourceType":"Patient","photo":[{"size":0}]}`, nil}, // size is unsignedInt
		{"unsignedInt negative", `{"resourceType":"Patient","photo":[{"size":-1}]}`, []issue{{"value", "Patient.photo[0].size"}}},
		{"positiveInt zero rejected", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueSampledData":{"origin":{"value":1},"period":1,"dimensions":0,"data":"1"}}`,
			[]issue{{"value", "Observation.valueSampledData.dimensions"}}},
		{"decimal as string", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"1.5"}}`, []issue{{"structure", "Observation.valueQuantity.value"}}},
		{"array for singleton", `{"resourceType":"Patient","birthDate":["1990-01-01"]}`, []issue{{"structure", "Patient.birthDate"}}},
		{"singleton for array", `{"resourceType":"Patient","name":{"family":"x"}}`, []issue{{"structure", "Patient.name"}}},
		{"nested given not array", `{"resourceType":"Patient","name":[{"given":"x"}]}`, []issue{{"structure", "Patient.name[0].given"}}},
		{"nested given wrong item type", `{"resourceType":"Patient","name":[{"given":["a",2]}]}`, []issue{{"structure", "Patient.name[0].given[1]"}}},
		{"empty array", `{"resourceType":"Patient","name":[]}`, []issue{{"structure", "Patient.name"}}},
		{"empty object", `{"resourceType":"Patient","name":[{}]}`, []issue{{"structure", "Patient.name[0]"}}},
		{"empty string", `{"resourceType":"Patient","name":[{"family":""}]}`, []issue{{"value", "Patient.name[0].family"}}},
		{"null singleton", `{"resourceType":"Patient","active":null}`, []issue{{"structure", "Patient.active"}}},
		{"null in array without extension", `{"resourceType":"Patient","name":[{"given":["a",null]}]}`, []issue{{"structure", "Patient.name[0].given[1]"}}},
		{"null in array with extension", `{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"extension":[{"url":"http://e.org","valueString":"x"}]}]}]}`, nil},
		{"primitive extension on complex element", `{"resourceType":"Patient","_name":{"id":"x"}}`, []issue{{"structure", "Patient._name"}}},
		{"primitive extension not an object", `{"resourceType":"Patient","_birthDate":"x"}`, []issue{{"structure", "Patient._birthDate"}}},
		{"primitive extension arrays misaligned", `{"resourceType":"Patient","name":[{"given":["a"],"_given":[null,{"id":"x"}]}]}`, []issue{{"structure", "Patient.name[0]._given"}}},
		{"required satisfied by extension only", `{"resourceType":"Observation","_status":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]},"code":{"text":"x"}}`, nil},
		{"unknown choice type", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueFoo":1}`, []issue{{"structure", "Observation.valueFoo"}}},
		{"choice without type", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"value":1}`, []issue{{"structure", "Observation.value"}}},
		{"two choice types", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"a","valueBoolean":true}`, []issue{{"structure", "Observation.value[x]"}}},
		{"missing required", `{"resourceType":"Observation","code":{"text":"x"}}`, []issue{{"required", "Observation.status"}}},
		{"missing required in backbone", `{"resourceType":"Patient","link":[{"type":"seealso"}]}`, []issue{{"required", "Patient.link[0].other"}}},
		{"missing required in extension", `{"resourceType":"Patient","extension":[{"valueString":"x"}]}`, []issue{{"required", "Patient.extension[0].url"}}},
		{"gender outside value set", `{"resourceType":"Patient","gender":"boy"}`, []issue{{"code-invalid", "Patient.gender"}}},
		{"status outside value set", `{"resourceType":"Observation","status":"done","code":{"text":"x"}}`, []issue{{"code-invalid", "Observation.status"}}},
		{"Coding outside required value set", `{"resourceType":"Patient","meta":{"tag":[{"code":"x"}]},"extension":[{"url":"http://e.org","valueCoding":{"code":"x"}}]}`, nil},
		{"mime type not enumerable", `{"resourceType":"Patient","photo":[{"contentType":"image/x-anything"}]}`, nil},
		{"contained", `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o1","name":"x"},{"resourceType":"Practitioner","gender":"boy","birthDate":"1990-13-01"}]}`,
			[]issue{{"code-invalid", "Patient.contained[1].gender"}, {"value", "Patient.contained[1].birthDate"}}},
		{"contained without resourceType", `{"resourceType":"Patient","contained":[{"id":"o1"}]}`, []issue{{"required", "Patient.contained[0]"}}},
		{"bundle entry resource", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"fullUrl":"urn:uuid:0b2b8a1e-3c6f-4b2a-9d6e-1f0a2b3c4d5e","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
			{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},
			{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:0b2b8a1e-3c6f-4b2a-9d6e-1f0a2b3c4d5e","foo":1}},"request":{"method":"POST","url":"Observation"}}]}`,
			[]issue{{"structure", "Bundle.entry[2].resource.subject.foo"}}},
		{"bundle request method", `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"FETCH","url":"Patient"}}]}`, []issue{{"code-invalid", "Bundle.entry[0].request.method"}}},
		{"parameters resource", `{"resourceType":"Parameters","parameter":[{"name":"p","resource":{"resourceType":"Patient","active":1}}]}`, []issue{{"structure", "Parameters.parameter[0].resource.active"}}},
		{"contentReference recursion", `{"resourceType":"Questionnaire","status":"active","item":[{"linkId":"1","type":"group","item":[{"linkId":"1.1","type":"string","item":[{"linkId":"1.1.1","type":"bogus"}]}]}]}`,
			[]issue{{"code-invalid", "Questionnaire.item[0].item[0].item[0].type"}}},
		{"narrative", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}`, nil},
		{"uri with space", `{"resourceType":"Patient","implicitRules":"http://a b"}`, []issue{{"value", "Patient.implicitRules"}}},
	}
	v := newValidator()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			issues := issuesOf(t, v.Resource(parse(t, tt.json)))
			var got []issue
			for _, is := range issues {
				if is.Severity != "error" || is.Diagnostics == "" || len(is.Expression) != 1 {
					t.Errorf("malformed issue %+v", is)
				}
				got = append(got, issue{is.Code, is.Expression[0]})
			}
			sortIssues(got)
			sortIssues(tt.want)
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v\n%+v", got, tt.want, issues)
			}
		})
	}
}

func sortIssues(s []issue) {
	slices.SortFunc(s, func(a, b issue) int { return strings.Compare(a.expr+a.code, b.expr+b.code) })
}

func TestGoValues(t *testing.T) {
	t.Parallel()
	v := newValidator()
	ok := fhir.Resource{"resourceType": "Patient", "multipleBirthInteger": 2, "active": true,
		"photo": []any{map[string]any{"size": int64(10)}}}
	if err := v.Resource(ok); err != nil {
		t.Errorf("Go ints: %v", err)
	}
	bad := fhir.Resource{"resourceType": "Patient", "multipleBirthInteger": 2.5}
	if err := v.Resource(bad); err == nil {
		t.Error("float 2.5 accepted as integer")
	}
}

func TestIssueCap(t *testing.T) {
	t.Parallel()
	var sb strings.Builder
	sb.WriteString(`{"resourceType":"Patient","name":[`)
	for i := range 300 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"given":[1]}`)
	}
	sb.WriteString(`]}`)
	issues := issuesOf(t, newValidator().Resource(parse(t, sb.String())))
	if len(issues) != validate.MaxIssues {
		t.Errorf("got %d issues, want the cap %d", len(issues), validate.MaxIssues)
	}
}

// specExampleErrors are the findings on official R4 examples that are the
// examples' own mistakes (docs/validation.md): each references a resource
// type its element does not allow in R4.
var specExampleErrors = map[string]string{
	"DeviceMetric-example.json":        "DeviceMetric.parent.reference",                         // Device only; refers to a DeviceDefinition
	"DeviceUseStatement-example.json":  "DeviceUseStatement.reasonReference[0].reference",       // not Procedure
	"MedicationRequest-medrx0301.json": "MedicationRequest.dispenseRequest.performer.reference", // Organization only; refers to a Practitioner
	"Observation-clinical-gender.json": "Observation.performer[0].reference",                    // not Encounter
}

// TestOfficialExamples validates every example of the R4 specification in
// full (structure, invariants, extensions): they are valid R4, so an error
// is a validator bug, but for the examples' own mistakes listed above.
func TestOfficialExamples(t *testing.T) {
	t.Parallel()
	files := sharedFiles(t, filepath.Join(shared, "fhir", "r4-examples"))
	v := newValidator()
	warned := 0
	for _, f := range files {
		name := filepath.Base(f)
		for _, is := range v.Validate(t.Context(), nil, parseFile(t, f), nil) {
			switch {
			case is.Severity == "warning":
				warned++
			case specExampleErrors[name] == is.Expression[0]:
			default:
				t.Errorf("%s: %s: %s", name, is.Expression, is.Diagnostics)
			}
		}
	}
	t.Logf("validated %d official examples: no errors but the %d known mistakes of the examples, %d warnings", len(files), len(specExampleErrors), warned)
	if len(files) != 728 {
		t.Errorf("found %d examples, want 728", len(files))
	}
}

// TestSyntheaBundles validates the Synthea transaction bundles as Bundle resources.
func TestSyntheaBundles(t *testing.T) {
	t.Parallel()
	files := sharedFiles(t, filepath.Join(shared, "synthea"))
	v := newValidator()
	for _, f := range files {
		if err := v.Resource(parseFile(t, f)); err != nil {
			for _, is := range issuesOf(t, err) {
				t.Errorf("%s: %s: %s", filepath.Base(f), is.Expression, is.Diagnostics)
			}
		}
	}
	t.Logf("validated %d Synthea bundles", len(files))
	if len(files) != 76 {
		t.Errorf("found %d Synthea bundles, want 76", len(files))
	}
}

func sharedFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skipf("no JSON files in %s: the shared test corpus lives outside the repository", dir)
	}
	return files
}

func parseFile(t testing.TB, name string) fhir.Resource {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := fhir.Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		`{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"id":"x"}]}]}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","valueQuantity":{"value":1e400}}}]}`,
		`{"resourceType":"Patient","birthDate":"2023-02-30","contained":[{"resourceType":"Patient","_active":[]}]}`,
		`{"resourceType":"Questionnaire","item":[{"item":[{"item":{}}]}]}`,
		`{"resourceType":"Parameters","parameter":[{"resource":null,"valueInteger":-0}]}`,
		`{"resourceType":"Patient","contact":[{"gender":"male"}],"name":[{"period":{"start":"2020","end":"2019-01-01T00:00:00Z"}}]}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1,"code":"mg"},"component":[{"code":{"text":"y"}}]}`,
		`{"resourceType":"Patient","identifier":[{"system":"urn:oid:2.16.156.10011.1.3","value":"11010519491231002X"}],"gender":"male","birthDate":"1949"}`,
		`{"resourceType":"Organization","identifier":[{"system":"https://hip-platform.github.io/fhir/sid/uscc","value":"12110105MB0O0000Z6"}],"type":[{"coding":[{"system":"https://hip-platform.github.io/fhir/CodeSystem/facility-level","code":"3A"}]}]}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1,"system":"http://unitsofmeasure.org","code":"mm[Hg"}}`,
	} {
		f.Add([]byte(s))
	}
	v := newValidator()
	terms, err := terminology.New(nil)
	if err != nil {
		f.Fatal(err)
	}
	env := &validate.Env{Terminology: terms}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := fhir.Parse(data)
		if err != nil {
			return
		}
		if err := v.Resource(r); err != nil {
			issuesOf(t, err)
		}
		// With the invariants too: the FHIRPath engine must not panic on
		// whatever a structurally valid resource holds.
		for _, is := range v.Check(r, true) {
			if is.Severity == "" || len(is.Expression) == 0 {
				t.Fatalf("an issue without severity or location: %+v", is)
			}
		}
		// And the China core profiles, extensions and bindings.
		for _, is := range v.Validate(t.Context(), env, r, validate.CNProfiles[r.Type()]) {
			if is.Severity == "" || len(is.Expression) == 0 {
				t.Fatalf("an issue without severity or location: %+v", is)
			}
		}
	})
}

func BenchmarkValidate(b *testing.B) {
	files := sharedFiles(b, filepath.Join(shared, "synthea"))
	r := parseFile(b, files[0])
	v := newValidator()
	entries, _ := r["entry"].([]any)
	for _, invariants := range []bool{false, true} {
		name := "structural"
		if invariants {
			name = "invariants"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportMetric(float64(len(entries)), "resources/bundle")
			b.ReportAllocs()
			for b.Loop() {
				for _, is := range v.Check(r, invariants) {
					if is.Severity == "error" {
						b.Fatal(is)
					}
				}
			}
		})
	}
}

// TestInvariants checks the specification's FHIRPath constraints: on the
// resource, on backbone elements, and on datatypes wherever they occur.
func TestInvariants(t *testing.T) {
	t.Parallel()
	v := newValidator()
	if len(v.Problems) > 0 {
		t.Errorf("invariants the engine cannot compile: %v", v.Problems)
	}
	tests := []struct {
		name, json string
		want       []string // "severity key expression", exactly, warnings included
	}{
		{"valid, with narrative", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}`, nil},
		{"no narrative: a warning", `{"resourceType":"Patient"}`, []string{"warning dom-6 Patient"}},
		{"backbone element", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},"contact":[{"gender":"male"}]}`,
			[]string{"error pat-1 Patient.contact"}},
		{"datatype in a datatype", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},"name":[{"period":{"start":"2020-01-02","end":"2019-01-01"}}]}`,
			[]string{"error per-1 Patient.name.period"}},
		{"choice datatype", `{"resourceType":"Observation","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},"status":"final","code":{"text":"x"},"valueQuantity":{"value":1,"code":"mg"}}`,
			[]string{"error qty-3 Observation.value[x]"}},
		{"a contained resource's own invariants (org-1: a name or an identifier)", `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"},"contained":[{"resourceType":"Organization","id":"o","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}],"managingOrganization":{"reference":"#o"}}`,
			[]string{"error org-1 Organization"}},
	}
	for _, tt := range tests {
		var got []string
		for _, is := range v.Check(parse(t, tt.json), true) {
			key, _, _ := strings.Cut(is.Diagnostics, ":")
			got = append(got, is.Severity+" "+key+" "+strings.Join(is.Expression, ","))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
		// Writes check structure only, until strict and lenient modes exist.
		if err := v.Resource(parse(t, tt.json)); err != nil {
			t.Errorf("%s: Resource: %v", tt.name, err)
		}
	}
}
