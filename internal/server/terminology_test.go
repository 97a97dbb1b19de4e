package server

import (
	"net/http"
	"strings"
	"testing"
)

func TestTerminologyOperations(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, b.open(t), 0)
			base := ts.URL + "/fhir"
			// A client's value set over a shipped code system, stored through the API.
			vs := `{"resourceType":"ValueSet","id":"known-sex","url":"http://example.cn/vs/known-sex","status":"active",
				"compose":{"include":[{"system":"https://hip-platform.github.io/fhir/CodeSystem/gb-t-2261-1","concept":[{"code":"1"},{"code":"2"}]}]}}`
			if status, _, body := call(t, http.MethodPut, base+"/ValueSet/known-sex", nil, []byte(vs)); status >= 300 {
				t.Fatalf("PUT ValueSet: %d %s", status, body)
			}
			sex := "https%3A%2F%2Fhip-platform.github.io%2Ffhir%2FCodeSystem%2Fgb-t-2261-1"
			tests := []opCase{
				{"GET", "/CodeSystem/$lookup?system=" + sex + "&code=2", "", 200, []string{`"valueString":"女性"`, `"valueString":"2003"`, `"valueString":"Female"`}},
				{"POST", "/CodeSystem/$lookup", `{"resourceType":"Parameters","parameter":[{"name":"coding","valueCoding":{"system":"https://hip-platform.github.io/fhir/CodeSystem/gb-t-2261-1","code":"1"}}]}`, 200, []string{`"valueString":"男性"`}},
				{"GET", "/CodeSystem/$lookup?system=" + sex + "&code=7", "", 404, []string{"not in"}},
				{"GET", "/CodeSystem/$validate-code?url=" + sex + "&code=9", "", 200, []string{`"valueBoolean":true`, "未说明的性别"}},
				{"GET", "/ValueSet/$validate-code?url=http://example.cn/vs/known-sex&system=" + sex + "&code=9", "", 200, []string{`"valueBoolean":false`, "not in the value set"}},
				{"GET", "/ValueSet/known-sex/$validate-code?system=" + sex + "&code=2&display=女", "", 200, []string{`"valueBoolean":true`, "differs"}},
				{"GET", "/ValueSet/known-sex/$expand", "", 200, []string{`"total":2`, `"code":"1"`, `"display":"男性"`}},
				{"GET", "/ValueSet/$expand?url=https%3A%2F%2Fhip-platform.github.io%2Ffhir%2FValueSet%2Fbeijing-divisions&filter=区&offset=2&count=3", "", 200, []string{`"total":17`, `"offset":2`, `"code":"110105"`}},
				{"GET", "/ValueSet/$expand?url=http://example.cn/nothing", "", 404, nil},
				{"GET", "/ValueSet/$expand?url=http://example.cn/vs/known-sex&count=x", "", 400, nil},
				{"GET", "/ConceptMap/$translate?url=https%3A%2F%2Fhip-platform.github.io%2Ffhir%2FConceptMap%2Fgb-t-2261-1-to-fhir-gender&system=" + sex + "&code=1", "", 200, []string{`"valueBoolean":true`, `"code":"male"`, `"valueCode":"equivalent"`}},
				{"DELETE", "/ValueSet/$expand", "", 405, nil},
			}
			runOperations(t, base, tests)
		})
	}
}

func TestValidateOperation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, backends[0].open(t), 0)
	base := ts.URL + "/fhir"
	if status, _, body := call(t, http.MethodPut, base+"/Patient/p1", nil, []byte(`{"resourceType":"Patient","id":"p1","gender":"male"}`)); status >= 300 {
		t.Fatalf("PUT: %d %s", status, body)
	}
	tests := []opCase{
		{"POST", "/Patient/$validate", `{"resourceType":"Patient","birthDate":"1990-13-01"}`, 200, []string{`"severity":"error"`, "Patient.birthDate"}},
		{"POST", "/Patient/$validate", `{"resourceType":"Patient","gender":"male"}`, 200, []string{`"severity":"information"`, "valid", "dom-6"}},
		{"POST", "/Patient/$validate", `{"resourceType":"Patient","contact":[{"gender":"male"}]}`, 200, []string{`"severity":"error"`, "pat-1", "Patient.contact"}},
		{"POST", "/Observation/$validate", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"effectivePeriod":{"start":"2020-02-01","end":"2020-01-01"}}`, 200, []string{"per-1", "Observation.effective[x]"}},
		{"POST", "/Patient/$validate", `{"resourceType":"Parameters","parameter":[{"name":"resource","resource":{"resourceType":"Patient","gender":"nonsense"}},{"name":"mode","valueCode":"create"}]}`, 200, []string{`"severity":"error"`, "Patient.gender"}},
		{"POST", "/Patient/$validate?profile=http://example.cn/StructureDefinition/cn-patient", `{"resourceType":"Patient"}`, 200, []string{"not known here"}},
		{"POST", "/Patient/$validate", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, 200, []string{"does not match"}},
		{"POST", "/Patient/$validate", `{not json`, 200, []string{`"severity":"error"`, "malformed JSON"}},
		{"GET", "/Patient/p1/$validate", "", 200, []string{"valid"}},
		{"POST", "/Patient/p1/$validate", `{"resourceType":"Patient","id":"p2"}`, 200, []string{"does not match the URL"}},
		{"GET", "/Patient/p1/$validate?mode=delete", "", 200, []string{"may be deleted"}},
		{"GET", "/Patient/missing/$validate", "", 404, nil},
		{"POST", "/Patient/$validate?mode=purge", `{"resourceType":"Patient"}`, 400, nil},
		{"GET", "/Patient/$validate", "", 405, nil},
	}
	runOperations(t, base, tests)
}

// opCase is one request to an operation and what its answer must hold.
type opCase struct {
	method, path, body string
	status             int
	want               []string // fragments of the body
}

// runOperations sends each case to the FHIR base and checks status and body.
func runOperations(t *testing.T, base string, tests []opCase) {
	t.Helper()
	for _, tt := range tests {
		var body []byte
		if tt.body != "" {
			body = []byte(tt.body)
		}
		status, _, got := call(t, tt.method, base+tt.path, nil, body)
		if status != tt.status {
			t.Errorf("%s %s: %d, want %d: %s", tt.method, tt.path, status, tt.status, got)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(string(got), w) {
				t.Errorf("%s %s: lacks %s: %s", tt.method, tt.path, w, got)
			}
		}
	}
}
