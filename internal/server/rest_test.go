package server

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/validate"
)

// step is one HTTP exchange of a scenario. Paths, headers and bodies may name
// variables saved by earlier steps as {name}.
type step struct {
	name       string
	method     string
	path       string // under /fhir
	header     map[string]string
	body       string
	status     int
	want       []string          // substrings of the response body
	notWant    []string          // substrings that must not appear
	wantHeader map[string]string // header → substring of its value
	emptyBody  bool
	save       string // variable that takes the id in the Location header
}

const patient = `{"resourceType":"Patient","name":[{"family":"王","given":["小明"]}],"gender":"male","birthDate":"1990-01-02"}`

var restScenario = []step{
	{name: "capabilities", method: "GET", path: "/metadata", status: 200,
		want: []string{`"resourceType":"CapabilityStatement"`, `"fhirVersion":"4.0.1"`, `"type":"Patient"`, `"type":"VisionPrescription"`, `"code":"transaction"`, `"name":"_lastUpdated"`}},
	{name: "create", method: "POST", path: "/Patient", body: patient, status: 201, save: "p1",
		want:       []string{`"versionId":"1"`, `"family":"王"`},
		wantHeader: map[string]string{"ETag": `W/"1"`, "Location": "/fhir/Patient/", "Last-Modified": "GMT", "Content-Type": "application/fhir+json"}},
	{name: "create ignores a body id", method: "POST", path: "/Patient", body: `{"resourceType":"Patient","id":"chosen"}`, status: 201, notWant: []string{`"id":"chosen"`}},
	{name: "read", method: "GET", path: "/Patient/{p1}", status: 200, want: []string{`"id":"{p1}"`, `"lastUpdated":"`},
		wantHeader: map[string]string{"ETag": `W/"1"`}},
	{name: "read not modified", method: "GET", path: "/Patient/{p1}", header: map[string]string{"If-None-Match": `W/"1"`}, status: 304, emptyBody: true},
	{name: "read missing", method: "GET", path: "/Patient/nobody", status: 404, want: []string{`"resourceType":"OperationOutcome"`, `"code":"not-found"`}},
	{name: "read unknown type", method: "GET", path: "/Martian/1", status: 404, want: []string{"unknown resource type"}},
	{name: "read invalid id", method: "GET", path: "/Patient/bad$id", status: 404},
	{name: "update", method: "PUT", path: "/Patient/{p1}", body: `{"resourceType":"Patient","id":"{p1}","gender":"female"}`, status: 200,
		want: []string{`"versionId":"2"`, `"gender":"female"`}, wantHeader: map[string]string{"ETag": `W/"2"`}},
	{name: "update stale If-Match", method: "PUT", path: "/Patient/{p1}", header: map[string]string{"If-Match": `W/"1"`},
		body: `{"resourceType":"Patient","id":"{p1}"}`, status: 412, want: []string{"OperationOutcome"}},
	{name: "update current If-Match", method: "PUT", path: "/Patient/{p1}", header: map[string]string{"If-Match": `W/"2"`},
		body: `{"resourceType":"Patient","id":"{p1}","active":true}`, status: 200, wantHeader: map[string]string{"ETag": `W/"3"`}},
	{name: "update malformed If-Match", method: "PUT", path: "/Patient/{p1}", header: map[string]string{"If-Match": `W/"x"`},
		body: `{"resourceType":"Patient","id":"{p1}"}`, status: 400},
	{name: "update id mismatch", method: "PUT", path: "/Patient/{p1}", body: `{"resourceType":"Patient","id":"other"}`, status: 400, want: []string{`"Patient.id"`}},
	{name: "update without id", method: "PUT", path: "/Patient/{p1}", body: `{"resourceType":"Patient"}`, status: 400, want: []string{`"Patient.id"`}},
	{name: "update as create", method: "PUT", path: "/Patient/client-chosen-1", body: `{"resourceType":"Patient","id":"client-chosen-1"}`, status: 201,
		wantHeader: map[string]string{"Location": "/fhir/Patient/client-chosen-1/_history/1"}},
	{name: "vread", method: "GET", path: "/Patient/{p1}/_history/1", status: 200, want: []string{`"versionId":"1"`, `"gender":"male"`}},
	{name: "vread missing version", method: "GET", path: "/Patient/{p1}/_history/99", status: 404},
	{name: "vread bad version", method: "GET", path: "/Patient/{p1}/_history/abc", status: 404},

	{name: "wrong resourceType", method: "POST", path: "/Patient", body: `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, status: 400, want: []string{`"resourceType"`, "does not match"}},
	{name: "missing resourceType", method: "POST", path: "/Patient", body: `{"gender":"male"}`, status: 400, want: []string{"resourceType"}},
	{name: "malformed JSON", method: "POST", path: "/Patient", body: `{"resourceType":"Patient",`, status: 400, want: []string{"malformed JSON"}},
	{name: "not an object", method: "POST", path: "/Patient", body: `[1,2]`, status: 400},
	{name: "empty body", method: "POST", path: "/Patient", body: ``, status: 400},
	{name: "unknown element", method: "POST", path: "/Patient", body: `{"resourceType":"Patient","foo":1}`, status: 400, want: []string{`"Patient.foo"`}},
	{name: "wrong JSON type", method: "POST", path: "/Patient", body: `{"resourceType":"Patient","active":"yes"}`, status: 400, want: []string{`"Patient.active"`}},
	{name: "invalid date", method: "POST", path: "/Patient", body: `{"resourceType":"Patient","birthDate":"1990-02-30"}`, status: 400, want: []string{`"Patient.birthDate"`}},
	{name: "nested wrong type", method: "POST", path: "/Patient", body: `{"resourceType":"Patient","name":[{"given":"小明"}]}`, status: 400, want: []string{`Patient.name[0].given`}},
	{name: "invalid code", method: "POST", path: "/Patient", body: `{"resourceType":"Patient","gender":"boy"}`, status: 400, want: []string{`"Patient.gender"`}},
	{name: "refused write changed nothing", method: "GET", path: "/Patient/{p1}", status: 200, wantHeader: map[string]string{"ETag": `W/"3"`}},

	{name: "XML body", method: "POST", path: "/Patient", header: map[string]string{"Content-Type": "application/fhir+xml"}, body: `<Patient xmlns="http://hl7.org/fhir"/>`, status: 415, want: []string{"OperationOutcome"}},
	{name: "text body", method: "POST", path: "/Patient", header: map[string]string{"Content-Type": "text/plain"}, body: patient, status: 415},
	{name: "XML accepted only", method: "GET", path: "/Patient/{p1}", header: map[string]string{"Accept": "application/fhir+xml"}, status: 406, want: []string{"OperationOutcome"}},
	{name: "XML format", method: "GET", path: "/Patient/{p1}?_format=xml", status: 406},
	{name: "JSON format", method: "GET", path: "/Patient/{p1}?_format=json", status: 200},
	{name: "JSON format with unescaped plus", method: "GET", path: "/Patient/{p1}?_format=application/fhir+json", status: 200},
	{name: "JSON refused with q=0", method: "GET", path: "/Patient/{p1}", header: map[string]string{"Accept": "application/fhir+json;q=0, application/fhir+xml"}, status: 406},
	{name: "any media type", method: "GET", path: "/Patient/{p1}", header: map[string]string{"Accept": "application/fhir+xml;q=0.9, */*;q=0.1"}, status: 200},
	{name: "body too large", method: "POST", path: "/Patient", body: `{"resourceType":"Patient","text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">` + strings.Repeat("x", 70000) + `</div>"}}`, status: 413},
	{name: "method not allowed", method: "DELETE", path: "/metadata", status: 405},

	{name: "patch", method: "PATCH", path: "/Patient/{p1}", header: map[string]string{"Content-Type": "application/json-patch+json"},
		body: `[{"op":"add","path":"/birthDate","value":"1980-05-06"},{"op":"replace","path":"/active","value":false}]`, status: 200,
		want: []string{`"birthDate":"1980-05-06"`, `"active":false`, `"versionId":"4"`}},
	{name: "patch wrong media type", method: "PATCH", path: "/Patient/{p1}", body: `[]`, status: 415},
	{name: "patch failing test", method: "PATCH", path: "/Patient/{p1}", header: map[string]string{"Content-Type": "application/json-patch+json"},
		body: `[{"op":"test","path":"/gender","value":"male"}]`, status: 422},
	{name: "patch to invalid resource", method: "PATCH", path: "/Patient/{p1}", header: map[string]string{"Content-Type": "application/json-patch+json"},
		body: `[{"op":"add","path":"/birthDate","value":"yesterday"}]`, status: 400, want: []string{`"Patient.birthDate"`}},
	{name: "patch stale If-Match", method: "PATCH", path: "/Patient/{p1}", header: map[string]string{"Content-Type": "application/json-patch+json", "If-Match": `W/"1"`},
		body: `[{"op":"remove","path":"/active"}]`, status: 412},
	{name: "patch malformed", method: "PATCH", path: "/Patient/{p1}", header: map[string]string{"Content-Type": "application/json-patch+json"}, body: `{"op":"x"}`, status: 400},

	{name: "prefer minimal", method: "POST", path: "/Patient", header: map[string]string{"Prefer": "return=minimal"}, body: patient, status: 201, emptyBody: true,
		wantHeader: map[string]string{"Location": "/fhir/Patient/"}},
	{name: "prefer outcome", method: "POST", path: "/Patient", header: map[string]string{"Prefer": "return=OperationOutcome"}, body: patient, status: 201,
		want: []string{`"resourceType":"OperationOutcome"`, `"severity":"information"`}},

	{name: "conditional create matches", method: "POST", path: "/Patient", header: map[string]string{"If-None-Exist": "_id={p1}"}, body: patient, status: 200,
		want: []string{`"id":"{p1}"`}},
	{name: "conditional create no match", method: "POST", path: "/Patient", header: map[string]string{"If-None-Exist": "_id=nobody"}, body: patient, status: 201, save: "p2"},
	{name: "conditional create several", method: "POST", path: "/Patient", header: map[string]string{"If-None-Exist": "_id={p1},{p2}"}, body: patient, status: 412},
	{name: "conditional create unsupported criteria", method: "POST", path: "/Patient", header: map[string]string{"If-None-Exist": "bogus=1"}, body: patient, status: 400},
	{name: "conditional update one match", method: "PUT", path: "/Patient?_id={p2}", body: `{"resourceType":"Patient","gender":"unknown"}`, status: 200,
		want: []string{`"id":"{p2}"`, `"versionId":"2"`}},
	{name: "conditional update several", method: "PUT", path: "/Patient?_id={p1},{p2}", body: `{"resourceType":"Patient"}`, status: 412},
	{name: "conditional update no match creates", method: "PUT", path: "/Patient?_id=nobody", body: `{"resourceType":"Patient"}`, status: 201},
	{name: "conditional patch", method: "PATCH", path: "/Patient?_id={p2}", header: map[string]string{"Content-Type": "application/json-patch+json"},
		body: `[{"op":"add","path":"/active","value":false}]`, status: 200, want: []string{`"active":false`}},
	{name: "conditional delete several", method: "DELETE", path: "/Patient?_id={p1},{p2}", status: 412},
	{name: "conditional delete no criteria", method: "DELETE", path: "/Patient", status: 400},
	{name: "conditional delete result params only", method: "DELETE", path: "/Patient?_count=1&_format=json", status: 400},
	{name: "conditional create result params only", method: "POST", path: "/Patient", header: map[string]string{"If-None-Exist": "_count=1"}, body: patient, status: 400},
	{name: "conditional update no match must not overwrite", method: "PUT", path: "/Patient?_id=nobody", body: `{"resourceType":"Patient","id":"{p1}"}`, status: 409},
	{name: "conditional delete one", method: "DELETE", path: "/Patient?_id={p2}", status: 204},
	{name: "conditionally deleted is gone", method: "GET", path: "/Patient/{p2}", status: 410},

	{name: "delete", method: "DELETE", path: "/Patient/{p1}", status: 204, wantHeader: map[string]string{"ETag": `W/"5"`}},
	{name: "read deleted", method: "GET", path: "/Patient/{p1}", status: 410, want: []string{"OperationOutcome"}},
	{name: "delete again", method: "DELETE", path: "/Patient/{p1}", status: 204},
	{name: "delete missing", method: "DELETE", path: "/Patient/never-was", status: 204},
	{name: "vread delete marker", method: "GET", path: "/Patient/{p1}/_history/5", status: 410},
	{name: "vread before delete", method: "GET", path: "/Patient/{p1}/_history/4", status: 200},
	{name: "search skips deleted", method: "GET", path: "/Patient?_id={p1}", status: 200, want: []string{`"total":0`}},
	{name: "history instance", method: "GET", path: "/Patient/{p1}/_history", status: 200,
		want: []string{`"type":"history"`, `"total":5`, `"method":"DELETE"`, `"method":"POST"`, `"status":"204 No Content"`}},
	{name: "history of missing", method: "GET", path: "/Patient/never-was/_history", status: 404},
	{name: "recreate after delete", method: "PUT", path: "/Patient/{p1}", body: `{"resourceType":"Patient","id":"{p1}"}`, status: 201,
		wantHeader: map[string]string{"ETag": `W/"6"`}},
	{name: "history paging", method: "GET", path: "/Patient/{p1}/_history?_count=2", status: 200,
		want: []string{`"relation":"next"`, `_cursor=`, `"total":6`, `"versionId":"6"`}, notWant: []string{`"versionId":"4"`}},
	{name: "history type", method: "GET", path: "/Patient/_history?_count=3", status: 200, want: []string{`"relation":"next"`, `"type":"history"`}},
	{name: "history system", method: "GET", path: "/_history", status: 200, want: []string{`"type":"history"`, `Patient/`}},
	{name: "history since future", method: "GET", path: "/_history?_since=2999-01-01T00:00:00Z", status: 200, want: []string{`"total":0`}},
	{name: "history bad since", method: "GET", path: "/_history?_since=tomorrow", status: 400},
	{name: "history bad count", method: "GET", path: "/_history?_count=abc", status: 400},

	{name: "search by id", method: "GET", path: "/Patient?_id={p1}", status: 200, want: []string{`"type":"searchset"`, `"total":1`, `"mode":"match"`, `"fullUrl":"http`}},
	{name: "search lastUpdated", method: "GET", path: "/Patient?_lastUpdated=gt2000-01-01&_lastUpdated=lt2999", status: 200, notWant: []string{`"total":0`}},
	{name: "search lastUpdated none", method: "GET", path: "/Patient?_lastUpdated=lt2000-01-01", status: 200, want: []string{`"total":0`}},
	{name: "search bad date", method: "GET", path: "/Patient?_lastUpdated=gt20000", status: 400},
	{name: "search paging", method: "GET", path: "/Patient?_count=1", status: 200, want: []string{`"relation":"next"`, `_cursor=`}},
	{name: "search page two", method: "GET", path: "/Patient?_count=1&_offset=1", status: 200, want: []string{`"relation":"previous"`}},
	{name: "search count only", method: "GET", path: "/Patient?_summary=count", status: 200, notWant: []string{`"entry"`}},
	{name: "search sort", method: "GET", path: "/Patient?_sort=-_lastUpdated", status: 200},
	{name: "search total none", method: "GET", path: "/Patient?_total=none", status: 200, notWant: []string{`"total"`}},
	{name: "search unknown param lenient", method: "GET", path: "/Patient?_id={p1}&colour=blue", header: map[string]string{"Prefer": "handling=lenient"}, status: 200,
		want: []string{`"mode":"outcome"`, "colour", `"total":1`}, notWant: []string{"colour=blue"}},
	{name: "search unknown param strict", method: "GET", path: "/Patient?colour=blue", status: 400, want: []string{`"expression":["colour"]`}},
	{name: "put for summary", method: "PUT", path: "/Patient/sum1", status: 201,
		body: `{"resourceType":"Patient","id":"sum1","gender":"female","maritalStatus":{"text":"已婚"},"name":[{"family":"周"}]}`},
	{name: "read summary", method: "GET", path: "/Patient/sum1?_summary=true", status: 200, want: []string{`"SUBSETTED"`, `"周"`}, notWant: []string{"已婚"}},
	{name: "read elements", method: "GET", path: "/Patient/sum1?_elements=gender", status: 200, want: []string{`"SUBSETTED"`, `"female"`}, notWant: []string{`"周"`}},
	{name: "read summary false", method: "GET", path: "/Patient/sum1?_summary=false", status: 200, want: []string{"已婚"}, notWant: []string{`"SUBSETTED"`}},
	{name: "read summary count", method: "GET", path: "/Patient/sum1?_summary=count", status: 400},
	{name: "search family", method: "GET", path: "/Patient?family=王", status: 200, want: []string{`"total":`, `"family":"王"`}},
	{name: "search functional list", method: "GET", path: "/Patient?_list=$current-problems", status: 400, want: []string{"not supported"}},
	{name: "search malformed value", method: "GET", path: "/Patient?birthdate=1990-02-30", status: 400, want: []string{"birthdate"}},
	{name: "search by POST", method: "POST", path: "/Patient/_search", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		body: "_id={p1}", status: 200, want: []string{`"total":1`}},
	{name: "search ids that exclude each other", method: "GET", path: "/Patient?_id={p1}&_id=nobody", status: 200, want: []string{`"total":0`}},
	{name: "search system", method: "GET", path: "?_id={p1}", status: 200, want: []string{`"total":1`}},
	{name: "search system by type", method: "GET", path: "?_type=Observation&_id={p1}", status: 200, want: []string{`"total":0`}},
	{name: "search bad _count", method: "GET", path: "/Patient?_count=-1", status: 400},
}

func TestREST(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, b.open(t), 64<<10)
			defs, _ := loadDefs()
			validator := validate.New(defs)
			vars := map[string]string{}
			expand := func(s string) string {
				for k, v := range vars {
					s = strings.ReplaceAll(s, "{"+k+"}", v)
				}
				return s
			}
			for _, st := range restScenario {
				ok := t.Run(st.name, func(t *testing.T) {
					var body []byte
					if st.method == "POST" || st.method == "PUT" || st.method == "PATCH" {
						body = []byte(expand(st.body))
					}
					header := map[string]string{}
					for k, v := range st.header {
						header[k] = expand(v)
					}
					status, h, got := call(t, st.method, ts.URL+"/fhir"+expand(st.path), header, body)
					if status != st.status {
						t.Fatalf("%s %s: status %d, want %d; body %.600s", st.method, st.path, status, st.status, got)
					}
					for _, w := range st.want {
						if !strings.Contains(string(got), expand(w)) {
							t.Errorf("body lacks %s: %.800s", expand(w), got)
						}
					}
					for _, w := range st.notWant {
						if strings.Contains(string(got), expand(w)) {
							t.Errorf("body has %s: %.800s", expand(w), got)
						}
					}
					for k, w := range st.wantHeader {
						if !strings.Contains(h.Get(k), w) {
							t.Errorf("header %s = %q, want it to contain %q", k, h.Get(k), w)
						}
					}
					if st.emptyBody && len(got) > 0 {
						t.Errorf("body %.200s, want none", got)
					}
					if status >= 400 && !strings.Contains(string(got), `"resourceType":"OperationOutcome"`) {
						t.Errorf("error without OperationOutcome: %.300s", got)
					}
					if len(got) > 0 {
						// Whatever the server answers is itself valid FHIR.
						res, err := fhir.Parse(got)
						if err != nil {
							t.Fatalf("response is not JSON: %v", err)
						}
						if err := validator.Resource(res); err != nil {
							t.Errorf("response is not valid FHIR: %v: %.300s", fhir.AsError(err).Issues, got)
						}
					}
					if st.save != "" {
						vars[st.save] = idFromLocation(h.Get("Location"))
					}
				})
				if !ok {
					return // later steps depend on this one
				}
			}
		})
	}
}

func TestPatchInBundleNeedsBinary(t *testing.T) {
	// A transaction PATCH entry carries the JSON Patch in a Binary.
	patch := base64.StdEncoding.EncodeToString([]byte(`[{"op":"add","path":"/active","value":true}]`))
	ts := newTestServer(t, backends[0].open(t), 0)
	status, _, body := call(t, "PUT", ts.URL+"/fhir/Patient/pb1", nil, []byte(`{"resourceType":"Patient","id":"pb1"}`))
	if status != http.StatusCreated {
		t.Fatalf("create: %d %s", status, body)
	}
	tx := `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Binary","contentType":"application/json-patch+json","data":"` + patch + `"},"request":{"method":"PATCH","url":"Patient/pb1"}}]}`
	status, _, body = call(t, "POST", ts.URL+"/fhir", nil, []byte(tx))
	if status != 200 || !strings.Contains(string(body), `"status":"200 OK"`) {
		t.Fatalf("transaction patch: %d %s", status, body)
	}
	_, _, body = call(t, "GET", ts.URL+"/fhir/Patient/pb1", nil, nil)
	if !strings.Contains(string(body), `"active":true`) {
		t.Errorf("patched resource lacks active: %s", body)
	}
}
