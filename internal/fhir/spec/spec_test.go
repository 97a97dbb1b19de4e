package spec_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/fhir/spec"
)

func load(t testing.TB) *spec.Definitions {
	t.Helper()
	d, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestResourceTypes(t *testing.T) {
	t.Parallel()
	d := load(t)
	got := d.ResourceTypes()
	// hl7.fhir.r4.core 4.0.1 has 146 concrete resource StructureDefinitions
	// (Account … VisionPrescription, with Bundle, Binary and Parameters).
	if len(got) != 146 {
		t.Errorf("len(ResourceTypes()) = %d, want 146", len(got))
	}
	if !slices.IsSorted(got) {
		t.Error("ResourceTypes() not sorted")
	}
	if got[0] != "Account" || got[len(got)-1] != "VisionPrescription" {
		t.Errorf("ResourceTypes() runs %s … %s, want Account … VisionPrescription", got[0], got[len(got)-1])
	}
	tests := []struct {
		name string
		want bool
	}{
		{"Patient", true}, {"Bundle", true}, {"Parameters", true}, {"Observation", true},
		{"Resource", false}, {"DomainResource", false}, {"HumanName", false}, {"string", false},
		{"MetadataResource", false}, {"vitalsigns", false}, {"patient", false}, {"", false},
	}
	for _, tt := range tests {
		if got := d.IsResourceType(tt.name); got != tt.want {
			t.Errorf("IsResourceType(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestElements(t *testing.T) {
	t.Parallel()
	d := load(t)
	tests := []struct {
		typ, path string
		min       int
		max       string
		types     []string
		contRef   string
	}{
		{"Patient", "Patient.birthDate", 0, "1", []string{"date"}, ""},
		{"Patient", "Patient.id", 0, "1", []string{"id"}, ""},
		{"Patient", "Patient.name", 0, "*", []string{"HumanName"}, ""},
		{"Patient", "Patient.link.other", 1, "1", []string{"Reference"}, ""},
		{"Observation", "Observation.status", 1, "1", []string{"code"}, ""},
		{"Observation", "Observation.value[x]", 0, "1", []string{"Quantity", "CodeableConcept", "string", "boolean", "integer", "Range", "Ratio", "SampledData", "time", "dateTime", "Period"}, ""},
		{"Questionnaire", "Questionnaire.item.item", 0, "*", nil, "Questionnaire.item"},
		{"Extension", "Extension.url", 1, "1", []string{"uri"}, ""},
		{"HumanName", "HumanName.given", 0, "*", []string{"string"}, ""},
		{"Bundle", "Bundle.entry.resource", 0, "1", []string{"Resource"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			typ := d.Type(tt.typ)
			if typ == nil {
				t.Fatalf("Type(%q) = nil", tt.typ)
			}
			e := typ.Element(tt.path)
			if e == nil {
				t.Fatalf("Element(%q) = nil", tt.path)
			}
			var codes []string
			for _, r := range e.Types {
				codes = append(codes, r.Code)
			}
			if e.Min != tt.min || e.Max != tt.max || !slices.Equal(codes, tt.types) || e.ContentReference != tt.contRef {
				t.Errorf("got %d..%s %v ref %q, want %d..%s %v ref %q", e.Min, e.Max, codes, e.ContentReference, tt.min, tt.max, tt.types, tt.contRef)
			}
		})
	}

	t.Run("type metadata", func(t *testing.T) {
		if p := d.Type("Patient"); p.Kind != spec.KindResource || p.Abstract || p.Base != "DomainResource" {
			t.Errorf("Patient: kind %s abstract %v base %s", p.Kind, p.Abstract, p.Base)
		}
		if r := d.Type("Resource"); !r.Abstract || r.Base != "" {
			t.Errorf("Resource: abstract %v base %q", r.Abstract, r.Base)
		}
		if dt := d.Type("date"); dt.Kind != spec.KindPrimitiveType || !strings.HasPrefix(dt.Regex, "([0-9]") {
			t.Errorf("date: kind %s regex %q", dt.Kind, dt.Regex)
		}
		if d.Type("vitalsigns") != nil || d.Type("Nope") != nil {
			t.Error("profiles and unknown names must not be types")
		}
		ref := d.Type("Patient").Element("Patient.managingOrganization")
		if len(ref.Types) != 1 || !slices.Equal(ref.Types[0].Targets, []string{"Organization"}) {
			t.Errorf("Patient.managingOrganization targets = %+v", ref.Types)
		}
		flags := []struct {
			typ, path         string
			summary, modifier bool
		}{
			{"Patient", "Patient.name", true, false},
			{"Patient", "Patient.active", true, true},
			{"Patient", "Patient.photo", false, false},
			{"Patient", "Patient.modifierExtension", false, true}, // R4 leaves it out of the summary
			{"Patient", "Patient.contact.modifierExtension", true, true},
			{"Attachment", "Attachment.data", false, false},
			{"HumanName", "HumanName.family", true, false},
			{"Questionnaire", "Questionnaire.item.item", false, false},
		}
		for _, f := range flags {
			if e := d.Type(f.typ).Element(f.path); e.Summary != f.summary || e.Modifier != f.modifier {
				t.Errorf("%s: summary %v modifier %v, want %v %v", f.path, e.Summary, e.Modifier, f.summary, f.modifier)
			}
		}
		g := d.Type("Patient").Element("Patient.gender")
		if g.Binding == nil || g.Binding.Strength != spec.BindingRequired || g.Binding.ValueSet != "http://hl7.org/fhir/ValueSet/administrative-gender" {
			t.Errorf("Patient.gender binding = %+v", g.Binding)
		}
	})
}

func TestSearchParams(t *testing.T) {
	t.Parallel()
	d := load(t)
	p := d.SearchParam("Patient", "birthdate")
	if p == nil || !strings.Contains(p.Expression, "Patient.birthDate") || p.Type != "date" {
		t.Fatalf("SearchParam(Patient, birthdate) = %+v", p)
	}
	for _, code := range []string{"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source", "_text", "_content", "name", "identifier", "gender"} {
		if d.SearchParam("Patient", code) == nil {
			t.Errorf("Patient has no search parameter %s", code)
		}
	}
	// _text is defined on DomainResource, which Bundle does not derive from.
	if d.SearchParam("Bundle", "_id") == nil || d.SearchParam("Bundle", "_text") != nil {
		t.Error("Bundle: want _id (Resource) and no _text (DomainResource)")
	}
	all := d.SearchParams("Observation")
	if !slices.IsSortedFunc(all, func(a, b *spec.SearchParam) int { return strings.Compare(a.Code, b.Code) }) {
		t.Error("SearchParams not sorted by code")
	}
	comp := d.SearchParam("Observation", "code-value-quantity")
	if comp == nil || comp.Type != "composite" || len(comp.Component) != 2 || d.SearchParamByURL(comp.Component[0].Definition) == nil {
		t.Errorf("Observation code-value-quantity = %+v", comp)
	}
	if subj := d.SearchParam("Observation", "subject"); subj == nil || subj.Type != "reference" || !slices.Contains(subj.Target, "Patient") {
		t.Errorf("Observation subject = %+v", subj)
	}
	if d.SearchParams("Nope") != nil {
		t.Error("SearchParams(unknown type) must be nil")
	}
	// The package's example SearchParameters are not definitions.
	for _, tc := range [][3]string{{"Condition", "subject", "http://hl7.org/fhir/SearchParameter/Condition-subject"},
		{"Patient", "_id", "http://hl7.org/fhir/SearchParameter/Resource-id"}} {
		if sp := d.SearchParam(tc[0], tc[1]); sp == nil || sp.URL != tc[2] {
			t.Errorf("%s %s = %+v, want %s", tc[0], tc[1], sp, tc[2])
		}
	}
	if d.SearchParam("Patient", "part-agree") != nil {
		t.Error("Patient part-agree (an example SearchParameter) is defined")
	}
}

func TestCompartment(t *testing.T) {
	t.Parallel()
	d := load(t)
	c := d.Compartment("Patient")
	if c == nil {
		t.Fatal("no Patient compartment")
	}
	obs := c.Params("Observation")
	for _, want := range []string{"subject", "performer"} {
		if !slices.Contains(obs, want) {
			t.Errorf("Patient compartment Observation params %v lack %s", obs, want)
		}
	}
	if c.Params("ActivityDefinition") != nil {
		t.Error("ActivityDefinition is listed without params: want nil")
	}
	for _, code := range []string{"Encounter", "RelatedPerson", "Practitioner", "Device"} {
		if d.Compartment(code) == nil {
			t.Errorf("no %s compartment", code)
		}
	}
}

func TestValueSets(t *testing.T) {
	t.Parallel()
	d := load(t)
	tests := []struct {
		url, system, code string
		want              bool
	}{
		{"http://hl7.org/fhir/ValueSet/administrative-gender", "http://hl7.org/fhir/administrative-gender", "male", true},
		{"http://hl7.org/fhir/ValueSet/administrative-gender", "", "female", true},
		{"http://hl7.org/fhir/ValueSet/administrative-gender", "", "other", true},
		{"http://hl7.org/fhir/ValueSet/administrative-gender", "", "unknown", true},
		{"http://hl7.org/fhir/ValueSet/administrative-gender", "", "boy", false},
		{"http://hl7.org/fhir/ValueSet/administrative-gender", "http://example.org", "male", false},
		{"http://hl7.org/fhir/ValueSet/resource-types", "", "Patient", true},
		// Nested concepts of a hierarchical code system (v3 ActCode-based, issue-type).
		{"http://hl7.org/fhir/ValueSet/issue-type", "", "required", true},
		{"http://hl7.org/fhir/ValueSet/units-of-time", "http://unitsofmeasure.org", "wk", true},
	}
	for _, tt := range tests {
		vs := d.ValueSet(tt.url)
		if vs == nil || !vs.Enumerable {
			t.Errorf("ValueSet(%s) = %+v, want an enumerable expansion", tt.url, vs)
			continue
		}
		if got := vs.Contains(tt.system, tt.code); got != tt.want {
			t.Errorf("%s Contains(%q, %q) = %v, want %v", tt.url, tt.system, tt.code, got, tt.want)
		}
	}
	for _, url := range []string{"http://hl7.org/fhir/ValueSet/mimetypes", "http://hl7.org/fhir/ValueSet/ucum-units"} {
		if vs := d.ValueSet(url); vs == nil || vs.Enumerable {
			t.Errorf("ValueSet(%s) = %+v, want present and not enumerable", url, vs)
		}
	}
}

// TestGeneratedDataUpToDate regenerates the embedded file and compares bytes, so the
// committed data cannot drift from the generator.
func TestGeneratedDataUpToDate(t *testing.T) {
	src := filepath.Join("..", "..", "..", "..", "shared", "fhir", "r4-core")
	if _, err := os.Stat(filepath.Join(src, "package.json")); err != nil {
		t.Skipf("FHIR R4 core package not present at %s (it lives outside the repository): %v", src, err)
	}
	if testing.Short() {
		t.Skip("regenerating takes a few seconds; skipped in -short mode")
	}
	out := filepath.Join(t.TempDir(), "fhir-r4.json.gz")
	cmd := exec.Command("go", "run", "./gen", "-src", src, "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run ./gen: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "..", "data", "fhir-r4.json.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("data/fhir-r4.json.gz is stale (%d bytes, regenerated %d): run go generate ./internal/fhir/spec", len(want), len(got))
	}
}

func BenchmarkLoad(b *testing.B) {
	for b.Loop() {
		if _, err := spec.Load(); err != nil {
			b.Fatal(err)
		}
	}
}
