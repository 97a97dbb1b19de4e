package search

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/fhir/validate"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/shape")

// loadShapeDefs loads the definitions and a validator once for all shaping tests.
var loadShapeDefs = sync.OnceValues(spec.Load)

var shapeValidator = sync.OnceValue(func() *validate.Validator {
	defs, err := loadShapeDefs()
	if err != nil {
		panic(err)
	}
	return validate.New(defs)
})

func shapeDefs(t testing.TB) *spec.Definitions {
	t.Helper()
	defs, err := loadShapeDefs()
	if err != nil {
		t.Fatal(err)
	}
	return defs
}

// TestShapeGolden pins the whole result for official examples.
func TestShapeGolden(t *testing.T) {
	t.Parallel()
	defs := shapeDefs(t)
	tests := []struct {
		golden   string
		example  string
		summary  Summary
		elements []string
	}{
		{"patient-summary-true", "Patient-example.json", SummaryTrue, nil},
		{"observation-summary-true", "Observation-example.json", SummaryTrue, nil},
		{"observation-summary-text", "Observation-example.json", SummaryText, nil},
		{"observation-elements-value", "Observation-example.json", "", []string{"value"}},
		{"questionnaire-summary-true", "Questionnaire-3141.json", SummaryTrue, nil},
		{"questionnaire-elements-item", "Questionnaire-3141.json", "", []string{"item"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			t.Parallel()
			got := Shape(defs, readExample(t, tt.example), tt.summary, tt.elements)
			path := filepath.Join("testdata", "shape", tt.golden+".json")
			if *updateGolden {
				var buf bytes.Buffer
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				enc.SetIndent("", "  ")
				if err := enc.Encode(got); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to write it)", err)
			}
			want, err := fhir.Parse(b)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if !reflect.DeepEqual(got, want) {
				gotJSON, _ := json.MarshalIndent(got, "", "  ")
				t.Errorf("Shape(%s, %q, %q) differs from %s; got\n%s", tt.example, tt.summary, tt.elements, path, gotJSON)
			}
		})
	}
}

// TestShape covers the rules one by one on small resources.
func TestShape(t *testing.T) {
	t.Parallel()
	defs := shapeDefs(t)
	const tag = `{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}`
	tests := []struct {
		name     string
		in       string
		summary  Summary
		elements []string
		want     string
	}{
		{
			name:    "false keeps everything",
			in:      `{"resourceType":"Patient","id":"a","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">a</div>"},"language":"zh"}`,
			summary: SummaryFalse,
			want:    `{"resourceType":"Patient","id":"a","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">a</div>"},"language":"zh"}`,
		},
		{
			name:    "count keeps everything",
			in:      `{"resourceType":"Patient","language":"zh"}`,
			summary: SummaryCount,
			want:    `{"resourceType":"Patient","language":"zh"}`,
		},
		{
			name:    "nothing to remove: no tag",
			in:      `{"resourceType":"Patient","id":"a","active":true}`,
			summary: SummaryTrue,
			want:    `{"resourceType":"Patient","id":"a","active":true}`,
		},
		{
			name:    "data drops text only",
			in:      `{"resourceType":"Patient","id":"a","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">a</div>"},"language":"zh","contained":[{"resourceType":"Organization","id":"o","text":{"status":"empty","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"></div>"}}]}`,
			summary: SummaryData,
			want:    `{"resourceType":"Patient","id":"a","meta":{"tag":[` + tag + `]},"language":"zh","contained":[{"resourceType":"Organization","id":"o","text":{"status":"empty","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"></div>"}}]}`,
		},
		{
			name:    "text keeps text, id, meta and top-level mandatory elements whole",
			in:      `{"resourceType":"Observation","id":"a","meta":{"versionId":"2"},"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">a</div>"},"status":"final","_status":{"id":"s"},"code":{"text":"x","extension":[{"url":"http://e","valueString":"v"}]},"subject":{"reference":"Patient/a"}}`,
			summary: SummaryText,
			want:    `{"resourceType":"Observation","id":"a","meta":{"versionId":"2","tag":[` + tag + `]},"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">a</div>"},"status":"final","_status":{"id":"s"},"code":{"text":"x","extension":[{"url":"http://e","valueString":"v"}]}}`,
		},
		{
			name:    "true follows each data type's definition",
			in:      `{"resourceType":"Patient","name":[{"id":"n","family":"张","given":["三"],"extension":[{"url":"http://e","valueString":"v"}]}],"photo":[{"contentType":"image/png","data":"AA=="}],"extension":[{"url":"http://e","valueString":"v"}],"language":"zh"}`,
			summary: SummaryTrue,
			want:    `{"resourceType":"Patient","meta":{"tag":[` + tag + `]},"name":[{"family":"张","given":["三"]}]}`,
		},
		{
			name:    "true drops Attachment.data inside a summary element",
			in:      `{"resourceType":"DocumentReference","status":"current","content":[{"attachment":{"contentType":"text/plain","data":"AA==","title":"t"}}]}`,
			summary: SummaryTrue,
			want:    `{"resourceType":"DocumentReference","meta":{"tag":[` + tag + `]},"status":"current","content":[{"attachment":{"contentType":"text/plain","title":"t"}}]}`,
		},
		{
			name:    "true keeps a choice element by its type's definition",
			in:      `{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50,"unit":"mg","extension":[{"url":"http://e","valueString":"v"}]},"interpretation":[{"text":"high"}]}`,
			summary: SummaryTrue,
			want:    `{"resourceType":"Observation","meta":{"tag":[` + tag + `]},"status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50,"unit":"mg"}}`,
		},
		{
			name:    "true keeps modifier extensions whole, at the root too",
			in:      `{"resourceType":"Patient","modifierExtension":[{"url":"http://m","valueBoolean":true}],"contact":[{"modifierExtension":[{"url":"http://m","valueBoolean":true}],"name":{"text":"x"}}]}`,
			summary: SummaryTrue,
			want:    `{"resourceType":"Patient","meta":{"tag":[` + tag + `]},"modifierExtension":[{"url":"http://m","valueBoolean":true}]}`,
		},
		{
			name:    "true keeps mandatory and modifier elements under kept parents",
			in:      `{"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted","actor":{"reference":"Patient/a"},"required":"required","type":[{"text":"x"}]}],"comment":"c"}`,
			summary: SummaryTrue,
			want:    `{"resourceType":"Appointment","meta":{"tag":[` + tag + `]},"status":"booked","participant":[{"status":"accepted","actor":{"reference":"Patient/a"},"required":"required","type":[{"text":"x"}]}]}`,
		},
		{
			name:    "true drops a primitive's extensions and the nulls aligned with them",
			in:      `{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"extension":[{"url":"http://e","valueString":"v"}]}]},{"given":[null],"_given":[{"id":"g"}]}],"birthDate":"2000-01-01","_birthDate":{"extension":[{"url":"http://e","valueDateTime":"2000-01-01T08:00:00+08:00"}]}}`,
			summary: SummaryTrue,
			want:    `{"resourceType":"Patient","meta":{"tag":[` + tag + `]},"name":[{"given":["a"]}],"birthDate":"2000-01-01"}`,
		},
		{
			name:    "true keeps a mandatory element whole rather than empty",
			in:      `{"resourceType":"Observation","_status":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]},"code":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]},"subject":{"extension":[{"url":"http://e","valueString":"v"}]}}`,
			summary: SummaryTrue,
			want:    `{"resourceType":"Observation","meta":{"tag":[` + tag + `]},"_status":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]},"code":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/data-absent-reason","valueCode":"unknown"}]}}`,
		},
		{
			name:    "true summarises and tags nested resources by their own type",
			in:      `{"resourceType":"Bundle","type":"searchset","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","id":"a","language":"zh"}},{"resource":{"resourceType":"Patient","id":"b"}}]}`,
			summary: SummaryTrue,
			want:    `{"resourceType":"Bundle","meta":{"tag":[` + tag + `]},"type":"searchset","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient","id":"a","meta":{"tag":[` + tag + `]}}},{"resource":{"resourceType":"Patient","id":"b"}}]}`,
		},
		{
			name:    "true follows content references",
			in:      `{"resourceType":"Parameters","parameter":[{"name":"a","part":[{"name":"b","extension":[{"url":"http://e","valueString":"v"}],"part":[{"name":"c","valueString":"x","_valueString":{"id":"v"}}]}]}]}`,
			summary: SummaryTrue,
			want:    `{"resourceType":"Parameters","meta":{"tag":[` + tag + `]},"parameter":[{"name":"a","part":[{"name":"b","part":[{"name":"c","valueString":"x"}]}]}]}`,
		},
		{
			name:    "true drops contained resources and elements no definition knows",
			in:      `{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o"}],"managingOrganization":{"reference":"#o"},"nickname":"x","_active":[]}`,
			summary: SummaryTrue,
			want:    `{"resourceType":"Patient","meta":{"tag":[` + tag + `]},"managingOrganization":{"reference":"#o"}}`,
		},
		{
			name:    "true keeps other tags and does not repeat SUBSETTED",
			in:      `{"resourceType":"Patient","meta":{"tag":[{"code":"x"},` + tag + `]},"language":"zh"}`,
			summary: SummaryTrue,
			want:    `{"resourceType":"Patient","meta":{"tag":[{"code":"x"},` + tag + `]}}`,
		},
		{
			name:    "true keeps what is not FHIR JSON where it cannot tell",
			in:      `{"resourceType":"Patient","name":null,"address":[null,"x",{"city":"c","id":"a"}],"birthDate":[1]}`,
			summary: SummaryTrue,
			want:    `{"resourceType":"Patient","meta":{"tag":[` + tag + `]},"name":null,"address":[null,"x",{"city":"c"}],"birthDate":[1]}`,
		},
		{
			name:    "true leaves an unknown type whole",
			in:      `{"resourceType":"Nope","language":"zh"}`,
			summary: SummaryTrue,
			want:    `{"resourceType":"Nope","language":"zh"}`,
		},
		{
			name:     "elements keep choice forms, primitive siblings, id, meta and mandatory elements",
			in:       `{"resourceType":"Observation","id":"a","_id":{"id":"i"},"meta":{"versionId":"1"},"status":"final","code":{"text":"x"},"valueQuantity":{"value":1},"effectiveDateTime":"2020","_effectiveDateTime":{"id":"e"},"subject":{"reference":"Patient/a"},"issued":"2020-01-01T00:00:00Z"}`,
			elements: []string{"value", "effective"},
			want:     `{"resourceType":"Observation","id":"a","_id":{"id":"i"},"meta":{"versionId":"1","tag":[` + tag + `]},"status":"final","code":{"text":"x"},"valueQuantity":{"value":1},"effectiveDateTime":"2020","_effectiveDateTime":{"id":"e"}}`,
		},
		{
			name:     "elements naming every element: no tag",
			in:       `{"resourceType":"Patient","id":"a","active":true}`,
			elements: []string{"active"},
			want:     `{"resourceType":"Patient","id":"a","active":true}`,
		},
		{
			name:     "elements of an unknown type match JSON names",
			in:       `{"resourceType":"Nope","a":1,"_a":{"id":"x"},"b":2}`,
			elements: []string{"a"},
			want:     `{"resourceType":"Nope","a":1,"_a":{"id":"x"},"meta":{"tag":[` + tag + `]}}`,
		},
		{
			name:     "summary and elements: what each keeps",
			in:       `{"resourceType":"Patient","text":{"status":"empty","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"></div>"},"active":true,"gender":"male"}`,
			summary:  SummaryText,
			elements: []string{"text", "gender"},
			want:     `{"resourceType":"Patient","meta":{"tag":[` + tag + `]},"text":{"status":"empty","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\"></div>"}}`,
		},
		{
			name:    "a meta that is not an object cannot take the tag",
			in:      `{"resourceType":"Patient","meta":"x","language":"zh"}`,
			summary: SummaryData,
			want:    `{"resourceType":"Patient","meta":"x","language":"zh"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := parseResource(t, tt.in)
			got := Shape(defs, in, tt.summary, tt.elements)
			if want := parseResource(t, tt.want); !reflect.DeepEqual(got, want) {
				gotJSON, _ := json.Marshal(got)
				t.Errorf("Shape(%q, %q) =\n%s\nwant\n%s", tt.summary, tt.elements, gotJSON, tt.want)
			}
			if !reflect.DeepEqual(in, parseResource(t, tt.in)) {
				t.Error("Shape changed its input")
			}
		})
	}
}

// TestShapeExamples checks properties of every official example in every mode:
// shaping adds nothing but the SUBSETTED tag, which it adds exactly when it
// removed something; the input is left as it was; the result shares nothing with
// the input; and the result is still valid R4.
func TestShapeExamples(t *testing.T) {
	t.Parallel()
	defs := shapeDefs(t)
	v := shapeValidator()
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skipf("no R4 examples in %s (../shared/fhir/r4-examples of the repository's parent)", examplesDir)
	}
	if len(files) != 728 {
		t.Errorf("found %d examples, want 728", len(files))
	}
	modes := []struct {
		summary  Summary
		elements []string
	}{
		{SummaryTrue, nil},
		{SummaryText, nil},
		{SummaryData, nil},
		{SummaryFalse, nil},
		{"", []string{"identifier", "subject", "value"}},
		{"", []string{"nope"}},
		{SummaryTrue, []string{"identifier", "status", "name"}},
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		res, err := fhir.Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, m := range modes {
			got := Shape(defs, res, m.summary, m.elements)
			where := filepath.Base(f) + " _summary=" + string(m.summary) + " _elements=" + strings.Join(m.elements, ",")
			if err := checkShaped(res, got); err != nil {
				t.Errorf("%s: %v", where, err)
			}
			if err := v.Resource(got); err != nil {
				var fe *fhir.Error
				if errors.As(err, &fe) {
					for _, is := range fe.Issues {
						t.Errorf("%s: invalid result: %s: %s", where, is.Expression, is.Diagnostics)
					}
				} else {
					t.Errorf("%s: invalid result: %v", where, err)
				}
			}
		}
		if again, _ := fhir.Parse(b); !reflect.DeepEqual(res, again) {
			t.Errorf("%s: Shape changed its input", filepath.Base(f))
		}
	}
}

// checkShaped checks got, the shaped form of in, against the properties every
// result must have.
func checkShaped(in, got fhir.Resource) error {
	stripped, tagged := withoutSubsetted(map[string]any(got))
	if !within(stripped, map[string]any(in)) {
		js, _ := json.Marshal(got)
		return errors.New("result holds what the input does not: " + string(js))
	}
	if removed := !reflect.DeepEqual(stripped, map[string]any(in)); removed != tagged {
		return errors.New("SUBSETTED tag present " + boolWord(tagged) + ", something removed " + boolWord(removed))
	}
	if sharesContainer(map[string]any(in), map[string]any(got)) {
		return errors.New("result shares an object or array with the input")
	}
	return nil
}

func boolWord(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// withoutSubsetted returns v without the SUBSETTED codings Shape adds to the meta
// of the resource and of the resources nested in it, and whether the top-level
// one had it.
func withoutSubsetted(v any) (any, bool) {
	top := false
	var walk func(v any, root bool) any
	walk = func(v any, root bool) any {
		switch v := v.(type) {
		case map[string]any:
			out := make(map[string]any, len(v))
			for k, x := range v {
				out[k] = walk(x, false)
			}
			if _, isResource := v["resourceType"]; isResource || root {
				meta, _ := out["meta"].(map[string]any)
				tags, _ := meta["tag"].([]any)
				for i, tag := range tags {
					if c, _ := tag.(map[string]any); c["code"] == SubsettedCode && c["system"] == SubsettedSystem {
						top = top || root
						tags = append(tags[:i:i], tags[i+1:]...)
						meta["tag"] = tags
						if len(tags) == 0 {
							delete(meta, "tag")
						}
						if len(meta) == 0 {
							delete(out, "meta")
						}
						break
					}
				}
			}
			return out
		case []any:
			out := make([]any, len(v))
			for i, x := range v {
				out[i] = walk(x, false)
			}
			return out
		}
		return v
	}
	return walk(v, true), top
}

// within reports whether got is want with some elements and array items left out.
func within(got, want any) bool {
	switch g := got.(type) {
	case map[string]any:
		w, ok := want.(map[string]any)
		if !ok {
			return false
		}
		for k, x := range g {
			y, ok := w[k]
			if !ok || !within(x, y) {
				return false
			}
		}
		return true
	case []any:
		w, ok := want.([]any)
		if !ok {
			return false
		}
		j := 0 // items keep their order
		for _, x := range g {
			for j < len(w) && !within(x, w[j]) {
				j++
			}
			if j == len(w) {
				return false
			}
			j++
		}
		return true
	}
	return reflect.DeepEqual(got, want)
}

// sharesContainer reports whether any object or array of got is one of in's.
func sharesContainer(in, got any) bool {
	seen := map[uintptr]bool{}
	var mark func(v any)
	mark = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			seen[reflect.ValueOf(v).Pointer()] = true
			for _, x := range v {
				mark(x)
			}
		case []any:
			if len(v) > 0 {
				seen[reflect.ValueOf(v).Pointer()] = true
			}
			for _, x := range v {
				mark(x)
			}
		}
	}
	mark(in)
	var find func(v any) bool
	find = func(v any) bool {
		switch v := v.(type) {
		case map[string]any:
			if seen[reflect.ValueOf(v).Pointer()] {
				return true
			}
			for _, x := range v {
				if find(x) {
					return true
				}
			}
		case []any:
			if len(v) > 0 && seen[reflect.ValueOf(v).Pointer()] {
				return true
			}
			for _, x := range v {
				if find(x) {
					return true
				}
			}
		}
		return false
	}
	return find(got)
}

func FuzzShape(f *testing.F) {
	summaries := []Summary{"", SummaryTrue, SummaryText, SummaryData, SummaryCount, SummaryFalse}
	for _, s := range []string{
		`{"resourceType":"Patient","name":[{"given":["a",null],"_given":[null,{"id":"x"}]}],"_birthDate":{"extension":[]}}`,
		`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","valueQuantity":{"value":1},"_status":"x"}}]}`,
		`{"resourceType":"Questionnaire","item":[{"item":[{"item":{}}]}],"meta":{"tag":{}}}`,
		`{"resourceType":"Parameters","parameter":[{"part":[null,{"part":[]}]}],"meta":[]}`,
		`{"resourceType":"Observation","code":[],"status":null,"value":{},"valueQuantity.value":1,"component":[{"referenceRange":[{"low":{}}]}]}`,
		`{"":{}}`,
		`{"resourceType":"Patient","modifierExtension":{"url":1},"contact":{"name":"x"},"_":1,"meta":{"tag":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue"}]}}`,
	} {
		for mode := range len(summaries) {
			f.Add([]byte(s), uint8(mode), "")
		}
		f.Add([]byte(s), uint8(1), "name,value")
	}
	defs := shapeDefs(f)
	f.Fuzz(func(t *testing.T, data []byte, mode uint8, elements string) {
		res, err := fhir.Parse(data)
		if err != nil {
			return
		}
		var elems []string
		if elements != "" {
			elems = strings.Split(elements, ",")
		}
		summary := summaries[int(mode)%len(summaries)]
		got := Shape(defs, res, summary, elems)
		if stripped, _ := withoutSubsetted(map[string]any(got)); !within(stripped, map[string]any(res)) {
			t.Errorf("Shape(%q, %q) added to %s", summary, elems, data)
		}
		if sharesContainer(map[string]any(res), map[string]any(got)) {
			t.Errorf("Shape(%q, %q) of %s shares an object or array with its input", summary, elems, data)
		}
		if again, _ := fhir.Parse(data); !reflect.DeepEqual(res, again) {
			t.Errorf("Shape(%q, %q) changed its input %s", summary, elems, data)
		}
	})
}
