package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/store/storetest"
)

// FuzzServer sends arbitrary requests to the FHIR API over a real SQLite store:
// whatever arrives, the answer is never a 5xx, and every error is an
// OperationOutcome.
func FuzzServer(f *testing.F) {
	methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}
	f.Add(uint8(1), "/fhir/Patient", "application/fhir+json", []byte(`{"resourceType":"Patient","birthDate":"2020-02-29"}`))
	f.Add(uint8(1), "/fhir", "application/fhir+json", []byte(`{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}},{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:1"}},"request":{"method":"POST","url":"Observation?_id=x"}}]}`))
	f.Add(uint8(2), "/fhir/Patient/a", "application/fhir+json", []byte(`{"resourceType":"Patient","id":"a","contained":[{"resourceType":"Patient"}]}`))
	f.Add(uint8(3), "/fhir/Patient/a", "application/json-patch+json", []byte(`[{"op":"add","path":"/active","value":true}]`))
	f.Add(uint8(0), "/fhir/Patient?_lastUpdated=ap2024&_count=1&_sort=-_lastUpdated", "", []byte(nil))
	f.Add(uint8(0), "/fhir/_history?_since=2024-01-01T00:00:00Z&_cursor=3", "", []byte(nil))
	f.Add(uint8(1), "/fhir/Patient/_search", "application/x-www-form-urlencoded", []byte(`_id=a,b&_total=accurate`))
	f.Add(uint8(4), "/fhir/Patient?_id=a", "", []byte(nil))
	f.Add(uint8(0), "/fhir/Observation?subject:Patient.organization.name=x&code=a,b|c&date=ge2024&_sort=-date,_id&_include=Observation:subject&_revinclude:iterate=Provenance:target", "", []byte(nil))
	f.Add(uint8(0), "/fhir/Patient?_has:Observation:patient:_has:Provenance:target:agent=x&name-pinyin=zs&gender:not=male&_elements=name&_summary=true", "", []byte(nil))
	f.Add(uint8(0), "/fhir/Observation?code-value-quantity=http://loinc.org|2339-0$gt100|http://unitsofmeasure.org|mg/dL&value-quantity:missing=true&_cursor=eyJrIjpbXX0", "", []byte(nil))
	f.Add(uint8(0), "/fhir/Patient/a/Observation?date=2024&_count=2", "", []byte(nil))
	f.Add(uint8(0), "/fhir/Patient/a/$everything?_since=2024-01-01&_type=Observation,Encounter", "", []byte(nil))
	f.Add(uint8(1), "/fhir/SearchParameter", "application/fhir+json", []byte(`{"resourceType":"SearchParameter","url":"http://x/sp","name":"x","status":"active","description":"x","code":"x","base":["Patient"],"type":"token","expression":"Patient.gender"}`))
	f.Add(uint8(1), "/fhir/Patient/$match", "application/fhir+json", []byte(`{"resourceType":"Parameters","parameter":[{"name":"resource","resource":{"resourceType":"Patient","name":[{"text":"张三"}],"birthDate":"1990-01-01"}},{"name":"count","valueInteger":3},{"name":"onlyCertainMatches","valueBoolean":true}]}`))
	f.Add(uint8(0), "/fhir/Person/$review?_count=5", "", []byte(nil))
	f.Add(uint8(1), "/fhir/Patient/$validate?mode=create", "application/fhir+json", []byte(`{"resourceType":"Parameters","parameter":[{"name":"resource","resource":{"resourceType":"Patient","birthDate":"x"}},{"name":"profile","valueUri":"http://x"}]}`))
	f.Add(uint8(0), "/fhir/Patient/a/$validate?mode=delete", "", []byte(nil))
	f.Add(uint8(0), "/fhir/ValueSet/$expand?url=https://hip-platform.github.io/fhir/ValueSet/facility-level&filter=三级&offset=1&count=2", "", []byte(nil))
	f.Add(uint8(1), "/fhir/CodeSystem/$lookup", "application/fhir+json", []byte(`{"resourceType":"Parameters","parameter":[{"name":"coding","valueCoding":{"system":"https://hip-platform.github.io/fhir/CodeSystem/gb-t-2261-1","code":"1"}}]}`))
	f.Add(uint8(0), "/fhir/ConceptMap/$translate?url=https://hip-platform.github.io/fhir/ConceptMap/gb-t-2261-1-to-fhir-gender&system=https://hip-platform.github.io/fhir/CodeSystem/gb-t-2261-1&code=9", "", []byte(nil))
	f.Add(uint8(1), "/fhir/ValueSet", "application/fhir+json", []byte(`{"resourceType":"ValueSet","url":"http://x/vs","status":"active","compose":{"include":[{"valueSet":["http://x/vs"]}]}}`))
	f.Add(uint8(1), "/fhir/Person/$review", "application/fhir+json", []byte(`{"resourceType":"Parameters","parameter":[{"name":"a","valueReference":{"reference":"Patient/a"}},{"name":"b","valueReference":{"reference":"Patient/b"}},{"name":"decision","valueCode":"link"}]}`))
	f.Add(uint8(1), "/fhir/Person/$merge", "application/fhir+json", []byte(`{"resourceType":"Parameters","parameter":[{"name":"source","valueReference":{"reference":"Person/p-a"}},{"name":"target","valueString":"p-b"}]}`))
	f.Add(uint8(1), "/fhir/Person/p-a/$unmerge", "application/fhir+json", []byte(`{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/a"}}]}`))

	defs, err := loadDefs()
	if err != nil {
		f.Fatal(err)
	}
	st := backends[0].open(f)
	srv, err := New(Config{Store: st, Definitions: defs, Validator: validate.New(defs), Indexer: storetest.Indexer(f),
		MaxBodyBytes: 1 << 20, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MPI: newIndex(f, st)})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, method uint8, target, contentType string, body []byte) {
		// Only the FHIR API answers with OperationOutcomes; other paths are the mux's.
		if !strings.HasPrefix(target, "/fhir/") && !strings.HasPrefix(target, "/fhir?") {
			target = "/fhir/" + target
		}
		req, err := http.NewRequest(methods[int(method)%len(methods)], "http://hip.test"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", req.Method, target, rec.Code, rec.Body.Bytes())
		}
		if rec.Code >= 400 && req.Method != "HEAD" {
			var oo struct {
				ResourceType string `json:"resourceType"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &oo); err != nil || oo.ResourceType != "OperationOutcome" {
				t.Fatalf("%s %s: %d without an OperationOutcome: %s", req.Method, target, rec.Code, rec.Body.Bytes())
			}
		}
	})
}
