package search

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/spec"
)

const examplesDir = "../../../../shared/fhir/r4-examples"

func newTestIndexer(t testing.TB) *Indexer {
	t.Helper()
	defs, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	ix, err := NewIndexer(defs)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func TestIndexExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Skipf("R4 examples not found in %s (../shared/fhir/r4-examples of the repository's parent)", examplesDir)
	}
	ix := newTestIndexer(t)
	perKind := map[Kind]int{}
	total := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := fhir.Parse(data)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		entries, err := ix.Index(res)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
		for _, e := range entries {
			perKind[e.Kind]++
		}
		total += len(entries)
	}
	kinds := make([]Kind, 0, len(perKind))
	for k := range perKind {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
	for _, k := range kinds {
		t.Logf("%-10s %6d", k, perKind[k])
	}
	t.Logf("%d resources, %d entries", len(files), total)
}

func readExample(t testing.TB, name string) fhir.Resource {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(examplesDir, name))
	if err != nil {
		t.Skipf("R4 example %s not found (../shared/fhir/r4-examples of the repository's parent): %v", name, err)
	}
	res, err := fhir.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func parseResource(t testing.TB, js string) fhir.Resource {
	t.Helper()
	res, err := fhir.Parse([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// covers reports whether every non-zero field of want equals that of got,
// components included.
func covers(got, want Value) bool {
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range w.NumField() {
		if f := w.Field(i); !f.IsZero() && !f.Equal(g.Field(i)) {
			return false
		}
	}
	return true
}

func hasEntry(entries []Entry, param string, want Value, comps ...Value) bool {
	for _, e := range entries {
		if e.Param != param || !covers(e.Value, want) || len(e.Components) != len(comps) {
			continue
		}
		ok := true
		for i, c := range comps {
			ok = ok && covers(e.Components[i], c)
		}
		if ok {
			return true
		}
	}
	return false
}

const chinesePatient = `{"resourceType":"Patient","id":"cn1","name":[{"text":"张三"}],"gender":"male","birthDate":"1990-01-02"}`
const shanPatient = `{"resourceType":"Patient","id":"cn2","name":[{"family":"单","given":["雄信"]}]}`

func TestIndex(t *testing.T) {
	t.Parallel()
	ix := newTestIndexer(t)
	ucum := "http://unitsofmeasure.org"
	loinc := "http://loinc.org"
	tests := []struct {
		name     string
		resource func(testing.TB) fhir.Resource
		param    string
		want     Value
		comps    []Value
	}{
		{"family", example("Patient-example.json"), "family", Value{Kind: KindString, String: "chalmers", Exact: "Chalmers"}, nil},
		{"given in name", example("Patient-example.json"), "name", Value{Kind: KindString, String: "peter", Exact: "Peter"}, nil},
		{"identifier", example("Patient-example.json"), "identifier",
			Value{Kind: KindToken, System: "urn:oid:1.2.36.146.595.217.0.1", Code: "12345",
				TypeSystem: "http://terminology.hl7.org/CodeSystem/v2-0203", TypeCode: "MR"}, nil},
		{"birthdate is the whole day in China time", example("Patient-example.json"), "birthdate",
			Value{Kind: KindDate, Start: ms("1974-12-24T16:00:00Z"), End: ms("1974-12-25T16:00:00Z")}, nil},
		{"gender", example("Patient-example.json"), "gender", Value{Kind: KindToken, Code: "male"}, nil},
		{"telecom", example("Patient-example.json"), "phone", Value{Kind: KindToken, System: "phone", Code: "(03) 5555 6473"}, nil},
		{"address city", example("Patient-example.json"), "address", Value{Kind: KindString, String: "pleasantville"}, nil},
		{"pinyin of a Latin name", example("Patient-example.json"), "name-pinyin", Value{Kind: KindString, String: "chalmerspeterjames"}, nil},
		{"value-quantity", example("Observation-example.json"), "value-quantity",
			Value{Kind: KindQuantity, Number: 185, Low: 184.5, High: 185.5, System: ucum, Code: "[lb_av]", Unit: "lbs", CanonicalCode: "g"}, nil},
		{"subject", example("Observation-example.json"), "subject",
			Value{Kind: KindReference, RefType: "Patient", RefID: "example", URL: "Patient/example"}, nil},
		{"patient through resolve() is Patient", example("Observation-example.json"), "patient",
			Value{Kind: KindReference, RefType: "Patient", RefID: "example"}, nil},
		{"code", example("Observation-example.json"), "code", Value{Kind: KindToken, System: loinc, Code: "29463-7", Text: "body weight"}, nil},
		{"effectiveDateTime", example("Observation-example.json"), "date",
			Value{Kind: KindDate, Start: ms("2016-03-27T16:00:00Z"), End: ms("2016-03-28T16:00:00Z")}, nil},
		{"code-value-quantity", example("Observation-example.json"), "code-value-quantity", Value{Kind: KindComposite},
			[]Value{{Kind: KindToken, System: loinc, Code: "29463-7"}, {Kind: KindQuantity, Number: 185, Code: "[lb_av]"}}},
		{"period without end", example("Observation-abdo-tender.json"), "date",
			Value{Kind: KindDate, Start: ms("2018-04-02T09:30:10Z"), End: MaxTime}, nil},
		{"component composite", example("Observation-blood-pressure.json"), "component-code-value-quantity", Value{Kind: KindComposite},
			[]Value{{Kind: KindToken, System: loinc, Code: "8480-6"}, {Kind: KindQuantity, Number: 107, Code: "mm[Hg]"}}},
		{"number", inline(`{"resourceType":"RiskAssessment","prediction":[{"probabilityDecimal":0.02}]}`), "probability",
			Value{Kind: KindNumber, Number: 0.02, Low: 0.015, High: 0.025}, nil},
		{"uri", inline(`{"resourceType":"ValueSet","url":"http://example.org/ValueSet/x","status":"draft"}`), "url",
			Value{Kind: KindURI, URI: "http://example.org/ValueSet/x"}, nil},
		{"canonical reference", inline(`{"resourceType":"PlanDefinition","status":"draft","relatedArtifact":[{"type":"derived-from","resource":"http://example.org/fhir/Questionnaire/q1|2"}]}`), "derived-from",
			Value{Kind: KindReference, RefType: "Questionnaire", RefID: "q1", URL: "http://example.org/fhir/Questionnaire/q1|2"}, nil},
		{"Chinese name as text", inline(chinesePatient), "name", Value{Kind: KindString, String: "张三", Exact: "张三"}, nil},
		{"Chinese text split: family", inline(chinesePatient), "name", Value{Kind: KindString, String: "张"}, nil},
		{"Chinese text split: given", inline(chinesePatient), "name", Value{Kind: KindString, String: "三"}, nil},
		{"pinyin key", inline(chinesePatient), "name-pinyin", Value{Kind: KindString, String: "zhangsan", Exact: "zhangsan"}, nil},
		{"pinyin initials", inline(chinesePatient), "name-pinyin", Value{Kind: KindString, String: "zs"}, nil},
		{"surname reading 单 shan", inline(shanPatient), "name-pinyin", Value{Kind: KindString, String: "shanxiongxin"}, nil},
		{"surname initials", inline(shanPatient), "name-pinyin", Value{Kind: KindString, String: "sxx"}, nil},
		{"family and given written together", inline(shanPatient), "name", Value{Kind: KindString, String: "单雄信"}, nil},
		{"contained reference kept as written", inline(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"#p1"}}`), "subject",
			Value{Kind: KindReference, URL: "#p1"}, nil},
		{"absolute reference", inline(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"http://other.org/fhir/Patient/7/_history/2","identifier":{"system":"urn:s","value":"v"}}}`), "subject",
			Value{Kind: KindReference, RefType: "Patient", RefID: "7", URL: "http://other.org/fhir/Patient/7/_history/2", IdentifierSystem: "urn:s", IdentifierValue: "v"}, nil},
		{"CodeableConcept text only", inline(`{"resourceType":"Observation","status":"final","code":{"text":"体重"}}`), "code",
			Value{Kind: KindToken, Text: "体重"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			entries, err := ix.Index(tt.resource(t))
			if err != nil {
				t.Fatal(err)
			}
			if !hasEntry(entries, tt.param, tt.want, tt.comps...) {
				var got []Entry
				for _, e := range entries {
					if e.Param == tt.param {
						got = append(got, e)
					}
				}
				t.Errorf("no %s entry covering %+v %+v; got %+v", tt.param, tt.want, tt.comps, got)
			}
		})
	}
}

func example(name string) func(testing.TB) fhir.Resource {
	return func(t testing.TB) fhir.Resource { return readExample(t, name) }
}

func inline(js string) func(testing.TB) fhir.Resource {
	return func(t testing.TB) fhir.Resource { return parseResource(t, js) }
}

func TestIndexQuantityCanonical(t *testing.T) {
	t.Parallel()
	ix := newTestIndexer(t)
	entries, err := ix.Index(parseResource(t, `{"resourceType":"Observation","status":"final","code":{"text":"w"},
		"valueQuantity":{"value":1.50,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg","comparator":"<"}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Param != "value-quantity" {
			continue
		}
		if e.CanonicalCode != "g" || math.Abs(e.CanonicalValue-1500) > 1e-9 || e.CanonicalLow != -math.MaxFloat64 || math.Abs(e.CanonicalHigh-1505) > 1e-9 {
			t.Errorf("canonical = %s %v [%v, %v), want g 1500 [open, 1505)", e.CanonicalCode, e.CanonicalValue, e.CanonicalLow, e.CanonicalHigh)
		}
		return
	}
	t.Fatal("no value-quantity entry")
}

func TestIndexDedupe(t *testing.T) {
	t.Parallel()
	ix := newTestIndexer(t)
	entries, err := ix.Index(parseResource(t, `{"resourceType":"Patient","name":[{"family":"Li","given":["Lei"]},{"family":"Li","given":["Lei"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range entries {
		if e.Param == "family" || e.Param == "name-pinyin" {
			count[e.Param+" "+e.String]++
		}
	}
	for k, n := range count {
		if n != 1 {
			t.Errorf("%s indexed %d times, want once", k, n)
		}
	}
	if count["family li"] != 1 || count["name-pinyin lilei"] != 1 || count["name-pinyin ll"] != 1 {
		t.Errorf("entries = %v, want family li and name-pinyin lilei, ll", count)
	}
}

func TestIndexZone(t *testing.T) {
	t.Parallel()
	ix := newTestIndexer(t)
	ix.Zone = time.UTC
	entries, err := ix.Index(parseResource(t, chinesePatient))
	if err != nil {
		t.Fatal(err)
	}
	want := Value{Kind: KindDate, Start: ms("1990-01-02T00:00:00Z"), End: ms("1990-01-03T00:00:00Z")}
	if !hasEntry(entries, "birthdate", want) {
		t.Errorf("birthdate in UTC: no entry %+v in %+v", want, entries)
	}
}

func TestIndexErrors(t *testing.T) {
	t.Parallel()
	ix := newTestIndexer(t)
	if entries, err := ix.Index(fhir.Resource{"resourceType": "Nonsense"}); err == nil || entries != nil {
		t.Errorf("unknown type: got %v, %v; want an error and no entries", entries, err)
	}
	// single() fails at run time on a patient with two family names; the
	// other parameters are still indexed.
	if err := ix.Add(&spec.SearchParam{URL: "http://example.org/sp/one-family", Code: "one-family", Base: []string{"Patient"},
		Type: "string", Expression: "Patient.name.family.single()"}); err != nil {
		t.Fatal(err)
	}
	entries, err := ix.Index(parseResource(t, `{"resourceType":"Patient","name":[{"family":"Li"},{"family":"Wang"}],"gender":"female"}`))
	var pe *ParamError
	if !errors.As(err, &pe) || pe.Param != "one-family" || pe.ResourceType != "Patient" {
		t.Fatalf("err = %v, want a ParamError for Patient one-family", err)
	}
	if !hasEntry(entries, "gender", Value{Kind: KindToken, Code: "female"}) {
		t.Errorf("a failing parameter blocked the others: %+v", entries)
	}
	for _, e := range entries {
		if e.Param == "one-family" {
			t.Errorf("failing parameter left entry %+v", e)
		}
	}
}

func TestAdd(t *testing.T) {
	t.Parallel()
	const ethnicity = "https://hip-platform.github.io/fhir/StructureDefinition/ethnicity"
	tests := []struct {
		name    string
		sp      spec.SearchParam
		wantErr bool
	}{
		{"extension token", spec.SearchParam{URL: "http://example.org/sp/ethnicity", Code: "ethnicity", Base: []string{"Patient"},
			Type: "token", Expression: "Patient.extension('" + ethnicity + "').value"}, false},
		{"extension without .value", spec.SearchParam{URL: "http://example.org/sp/ethnicity2", Code: "ethnicity2", Base: []string{"Patient"},
			Type: "token", Expression: "Patient.extension('" + ethnicity + "')"}, false},
		{"on every resource", spec.SearchParam{URL: "http://example.org/sp/source", Code: "source-uri", Base: []string{"Resource"},
			Type: "uri", Expression: "Resource.meta.source"}, false},
		{"no expression", spec.SearchParam{URL: "http://example.org/sp/x", Code: "x", Base: []string{"Patient"}, Type: "token"}, true},
		{"special", spec.SearchParam{URL: "http://example.org/sp/x", Code: "x", Base: []string{"Patient"}, Type: "special", Expression: "Patient.id"}, true},
		{"unknown base", spec.SearchParam{URL: "http://example.org/sp/x", Code: "x", Base: []string{"Patients"}, Type: "token", Expression: "id"}, true},
		{"syntax error", spec.SearchParam{URL: "http://example.org/sp/x", Code: "x", Base: []string{"Patient"}, Type: "token", Expression: "Patient.name.("}, true},
		{"unknown component", spec.SearchParam{URL: "http://example.org/sp/x", Code: "x", Base: []string{"Patient"}, Type: "composite", Expression: "Patient",
			Component: []spec.Component{{Definition: "http://example.org/nope", Expression: "id"}}}, true},
	}
	ix := newTestIndexer(t)
	for _, tt := range tests {
		err := ix.Add(&tt.sp)
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: Add = %v, want error %v", tt.name, err, tt.wantErr)
		}
	}
	res := parseResource(t, `{"resourceType":"Patient","meta":{"source":"urn:his:1"},"extension":[{"url":"`+ethnicity+`",
		"valueCodeableConcept":{"coding":[{"system":"`+fhir.SystemEthnicity+`","code":"01","display":"汉族"}]}}]}`)
	entries, err := ix.Index(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"ethnicity", "ethnicity2"} {
		if !hasEntry(entries, code, Value{Kind: KindToken, System: fhir.SystemEthnicity, Code: "01", Text: "汉族"}) {
			t.Errorf("custom %s: no entry in %+v", code, entries)
		}
	}
	if !hasEntry(entries, "source-uri", Value{Kind: KindURI, URI: "urn:his:1"}) {
		t.Errorf("custom source-uri on Resource: no entry")
	}
	if ix.Param("Observation", "source-uri") == nil || ix.Param("Patient", "ethnicity") == nil || ix.Param("Patient", "name-pinyin") == nil {
		t.Error("Param does not list added parameters")
	}
	// Replacing a parameter by code keeps one definition.
	if err := ix.Add(&spec.SearchParam{URL: "http://example.org/sp/ethnicity-v2", Code: "ethnicity", Base: []string{"Patient"},
		Type: "string", Expression: "Patient.extension('" + ethnicity + "').value.coding.display"}); err != nil {
		t.Fatal(err)
	}
	entries, _ = ix.Index(res)
	if !hasEntry(entries, "ethnicity", Value{Kind: KindString, Exact: "汉族"}) || hasEntry(entries, "ethnicity", Value{Kind: KindToken}) {
		t.Errorf("replaced ethnicity: got %+v", entries)
	}
}

func TestAddConcurrentWithIndex(t *testing.T) {
	t.Parallel()
	ix := newTestIndexer(t)
	res := parseResource(t, chinesePatient)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for range 20 {
				if _, err := ix.Index(res); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() {
			sp := &spec.SearchParam{URL: fmt.Sprintf("http://example.org/sp/%d", i), Code: fmt.Sprintf("c%d", i),
				Base: []string{"Patient"}, Type: "token", Expression: "Patient.gender"}
			if err := ix.Add(sp); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	entries, err := ix.Index(res)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if !hasEntry(entries, fmt.Sprintf("c%d", i), Value{Kind: KindToken, Code: "male"}) {
			t.Errorf("c%d lost in concurrent Add", i)
		}
	}
}

func TestNamePinyinResource(t *testing.T) {
	t.Parallel()
	r := NamePinyinResource()
	if r.Type() != "SearchParameter" || r["url"] != NamePinyinURL || r["code"] != "name-pinyin" || r["type"] != "string" {
		t.Errorf("NamePinyinResource() = %v", r)
	}
	base, _ := r["base"].([]any)
	if len(base) != 3 || base[0] != "Patient" {
		t.Errorf("base = %v, want Patient, Practitioner, RelatedPerson", base)
	}
}

func TestRestrictTo(t *testing.T) {
	t.Parallel()
	defs, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ expr, rt, want string }{
		{"AllergyIntolerance.code | (DeviceRequest.code as CodeableConcept) | Observation.code", "Observation", "Observation.code"},
		{"(DeviceRequest.code as CodeableConcept) | Observation.code", "DeviceRequest", "(DeviceRequest.code as CodeableConcept)"},
		{"Resource.id", "Patient", "Resource.id"},
		{"Patient.name.where(text = 'a|b') | Practitioner.name", "Patient", "Patient.name.where(text = 'a|b')"},
		{"name | Practitioner.name", "Patient", "name"},
		{"Practitioner.name", "Patient", "Practitioner.name"},
	}
	for _, tt := range tests {
		if got := restrictTo(defs, tt.expr, tt.rt); got != tt.want {
			t.Errorf("restrictTo(%q, %s) = %q, want %q", tt.expr, tt.rt, got, tt.want)
		}
	}
}

func BenchmarkIndex(b *testing.B) {
	ix := newTestIndexer(b)
	for _, name := range []string{"Patient-example.json", "Observation-example.json"} {
		res := readExample(b, name)
		b.Run(strings.TrimSuffix(name, ".json"), func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				entries, err := ix.Index(res)
				if err != nil {
					b.Fatal(err)
				}
				n = len(entries)
			}
			b.ReportMetric(float64(n), "entries")
		})
	}
}
