package server

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func entries(t *testing.T, bundle map[string]any) []map[string]any {
	t.Helper()
	list, _ := bundle["entry"].([]any)
	out := make([]map[string]any, len(list))
	for i, e := range list {
		out[i] = e.(map[string]any)
	}
	return out
}

func entryStatus(e map[string]any) string {
	r, _ := e["response"].(map[string]any)
	s, _ := r["status"].(string)
	return s
}

func entryLocation(e map[string]any) string {
	r, _ := e["response"].(map[string]any)
	s, _ := r["location"].(string)
	return s
}

const txBundle = `{"resourceType":"Bundle","type":"transaction","entry":[
 {"request":{"method":"GET","url":"Patient?_id=tx-existing"}},
 {"fullUrl":"urn:uuid:0b6c7f1e-3c2a-4f7e-9d1a-1a2b3c4d5e6f","resource":{"resourceType":"Observation","status":"final","code":{"text":"体温"},
   "subject":{"reference":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a"},"hasMember":[{"reference":"Observation/tx-obs-2"}]},
   "request":{"method":"POST","url":"Observation"}},
 {"fullUrl":"urn:uuid:61ebe359-bfdc-4613-8bf2-c5e300945f0a","resource":{"resourceType":"Patient","name":[{"family":"李"}]},
   "request":{"method":"POST","url":"Patient"}},
 {"fullUrl":"http://example.org/fhir/Observation/tx-obs-2","resource":{"resourceType":"Observation","id":"tx-obs-2","status":"final","code":{"text":"脉搏"}},
   "request":{"method":"PUT","url":"Observation/tx-obs-2"}},
 {"request":{"method":"DELETE","url":"Patient/tx-existing"}}
]}`

func TestTransaction(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, b.open(t), 0)
			base := ts.URL + "/fhir"
			if status, _, body := call(t, "PUT", base+"/Patient/tx-existing", nil, []byte(`{"resourceType":"Patient","id":"tx-existing"}`)); status != 201 {
				t.Fatalf("setup: %d %s", status, body)
			}
			status, _, body := call(t, "POST", base, nil, []byte(txBundle))
			if status != http.StatusOK {
				t.Fatalf("transaction: %d %s", status, body)
			}
			resp := decode(t, body)
			if resp["type"] != "transaction-response" {
				t.Fatalf("type %v", resp["type"])
			}
			es := entries(t, resp)
			want := []string{"200 OK", "201 Created", "201 Created", "201 Created", "204 No Content"}
			if len(es) != len(want) {
				t.Fatalf("%d entries, want %d", len(es), len(want))
			}
			for i, w := range want {
				if got := entryStatus(es[i]); got != w {
					t.Errorf("entry %d status %q, want %q", i, got, w)
				}
			}
			// GET ran after the DELETE: processing order is DELETE, POST, PUT, GET.
			if got := entries(t, es[0]["resource"].(map[string]any)); len(got) != 0 {
				t.Errorf("GET entry saw %d patients, want 0 (after the DELETE)", len(got))
			}
			patientID := idFromLocation(entryLocation(es[2]))
			obsLoc := entryLocation(es[1])
			_, _, obsBody := call(t, "GET", base+"/"+obsLoc, nil, nil)
			obs := decode(t, obsBody)
			if ref := obs["subject"].(map[string]any)["reference"]; ref != "Patient/"+patientID {
				t.Errorf("subject %v, want Patient/%s", ref, patientID)
			}
			if ref := obs["hasMember"].([]any)[0].(map[string]any)["reference"]; ref != "Observation/tx-obs-2" {
				t.Errorf("hasMember %v", ref)
			}
			if status, _, _ := call(t, "GET", base+"/Observation/tx-obs-2", nil, nil); status != 200 {
				t.Errorf("PUT entry not stored: %d", status)
			}
			if status, _, _ := call(t, "GET", base+"/Patient/tx-existing", nil, nil); status != 410 {
				t.Errorf("DELETE entry: read gives %d, want 410", status)
			}
		})
	}
}

func TestTransactionAllOrNothing(t *testing.T) {
	tests := []struct {
		name, bundle string
		status       int
		want         string
	}{
		{"invalid resource", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"resource":{"resourceType":"Patient","id":"aon-1"},"request":{"method":"PUT","url":"Patient/aon-1"}},
			{"resource":{"resourceType":"Patient","birthDate":"1990-02-31"},"request":{"method":"POST","url":"Patient"}}]}`,
			400, `Bundle.entry[1].resource.birthDate`},
		{"version conflict", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"resource":{"resourceType":"Patient","id":"aon-1"},"request":{"method":"PUT","url":"Patient/aon-1"}},
			{"resource":{"resourceType":"Patient","id":"aon-2"},"request":{"method":"PUT","url":"Patient/aon-2","ifMatch":"W/\"7\""}}]}`,
			412, `Bundle.entry[1]`},
		{"dangling urn", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"resource":{"resourceType":"Patient","id":"aon-1"},"request":{"method":"PUT","url":"Patient/aon-1"}},
			{"resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:5e0b1a6c-0000-4000-8000-000000000000"}},"request":{"method":"POST","url":"Observation"}}]}`,
			400, `Bundle.entry[1]`},
		{"same resource twice", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"resource":{"resourceType":"Patient","id":"aon-1"},"request":{"method":"PUT","url":"Patient/aon-1"}},
			{"resource":{"resourceType":"Patient","id":"aon-1"},"request":{"method":"PUT","url":"Patient/aon-1"}}]}`,
			400, `Bundle.entry[1]`},
		{"missing request", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"resource":{"resourceType":"Patient","id":"aon-1"},"request":{"method":"PUT","url":"Patient/aon-1"}},
			{"resource":{"resourceType":"Patient"}}]}`,
			400, `Bundle.entry[1]`},
		{"unknown type", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"resource":{"resourceType":"Patient","id":"aon-1"},"request":{"method":"PUT","url":"Patient/aon-1"}},
			{"resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Martian"}}]}`,
			404, `Bundle.entry[1]`},
		{"conditional delete without criteria", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"resource":{"resourceType":"Patient","id":"aon-1"},"request":{"method":"PUT","url":"Patient/aon-1"}},
			{"request":{"method":"DELETE","url":"Patient"}}]}`,
			400, `Bundle.entry[1]`},
		{"duplicate fullUrl", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"fullUrl":"urn:uuid:5e0b1a6c-0000-4000-8000-000000000001","resource":{"resourceType":"Patient","id":"aon-1"},"request":{"method":"PUT","url":"Patient/aon-1"}},
			{"fullUrl":"urn:uuid:5e0b1a6c-0000-4000-8000-000000000001","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}]}`,
			400, `Bundle.entry[1]`},
		{"conditional update with another id", `{"resourceType":"Bundle","type":"transaction","entry":[
			{"resource":{"resourceType":"Patient","id":"aon-1"},"request":{"method":"PUT","url":"Patient/aon-1"}},
			{"resource":{"resourceType":"Patient","id":"other"},"request":{"method":"PUT","url":"Patient?_id=tx-fixed"}}]}`,
			400, `Bundle.entry[1]`},
		{"not a bundle", `{"resourceType":"Patient"}`, 400, `Bundle`},
		{"wrong bundle type", `{"resourceType":"Bundle","type":"collection"}`, 400, `Bundle.type`},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, b.open(t), 0)
			if status, _, body := call(t, "PUT", ts.URL+"/fhir/Patient/tx-fixed", nil, []byte(`{"resourceType":"Patient","id":"tx-fixed"}`)); status != 201 {
				t.Fatalf("setup: %d %s", status, body)
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					status, _, body := call(t, "POST", ts.URL+"/fhir", nil, []byte(tt.bundle))
					if status != tt.status || !strings.Contains(string(body), tt.want) || !strings.Contains(string(body), "OperationOutcome") {
						t.Fatalf("status %d body %s; want %d naming %s", status, body, tt.status, tt.want)
					}
					if status, _, _ := call(t, "GET", ts.URL+"/fhir/Patient/aon-1", nil, nil); status != 404 {
						t.Errorf("first entry was written although the transaction failed: read gives %d", status)
					}
				})
			}
		})
	}
}

func TestBatch(t *testing.T) {
	ts := newTestServer(t, backends[0].open(t), 0)
	batch := `{"resourceType":"Bundle","type":"batch","entry":[
		{"resource":{"resourceType":"Patient","id":"b-1"},"request":{"method":"PUT","url":"Patient/b-1"}},
		{"resource":{"resourceType":"Patient","gender":"boy"},"request":{"method":"POST","url":"Patient"}},
		{"request":{"method":"GET","url":"Patient/b-1"}},
		{"request":{"method":"GET","url":"Patient/nobody"}}]}`
	status, _, body := call(t, "POST", ts.URL+"/fhir", map[string]string{"Prefer": "return=representation"}, []byte(batch))
	if status != 200 {
		t.Fatalf("batch: %d %s", status, body)
	}
	resp := decode(t, body)
	if resp["type"] != "batch-response" {
		t.Fatalf("type %v", resp["type"])
	}
	es := entries(t, resp)
	for i, want := range []string{"201 Created", "400 Bad Request", "200 OK", "404 Not Found"} {
		if got := entryStatus(es[i]); got != want {
			t.Errorf("entry %d: %q, want %q", i, got, want)
		}
	}
	if _, ok := es[1]["response"].(map[string]any)["outcome"]; !ok {
		t.Errorf("failed entry has no outcome: %v", es[1])
	}
	if _, ok := es[0]["resource"]; !ok {
		t.Errorf("return=representation: entry 0 has no resource")
	}
}

// Two clients updating the same version: exactly one wins, on every backend.
func TestConcurrentIfMatch(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, b.open(t), 0)
			url := ts.URL + "/fhir/Patient/race"
			if status, _, _ := call(t, "PUT", url, nil, []byte(`{"resourceType":"Patient","id":"race"}`)); status != 201 {
				t.Fatal("setup failed")
			}
			const clients = 8
			var wg sync.WaitGroup
			codes := make([]int, clients)
			for i := range clients {
				wg.Go(func() {
					body := fmt.Sprintf(`{"resourceType":"Patient","id":"race","name":[{"text":"client %d"}]}`, i)
					codes[i], _, _ = call(t, "PUT", url, map[string]string{"If-Match": `W/"1"`}, []byte(body))
				})
			}
			wg.Wait()
			won := 0
			for _, c := range codes {
				switch c {
				case 200:
					won++
				case 412:
				default:
					t.Errorf("unexpected status %d", c)
				}
			}
			if won != 1 {
				t.Errorf("%d updates of version 1 succeeded, want exactly 1 (%v)", won, codes)
			}
			_, h, _ := call(t, "GET", url, nil, nil)
			if h.Get("ETag") != `W/"2"` {
				t.Errorf("ETag %s, want W/\"2\"", h.Get("ETag"))
			}
		})
	}
}

// Concurrent conditional creates with the same criteria create one resource, on
// every backend (PostgreSQL runs them concurrently at READ COMMITTED).
func TestConcurrentConditionalCreate(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, b.open(t), 0)
			const clients = 8
			var wg sync.WaitGroup
			codes := make([]int, clients)
			for i := range clients {
				wg.Go(func() {
					codes[i], _, _ = call(t, "POST", ts.URL+"/fhir/Substance", map[string]string{"If-None-Exist": "_lastUpdated=gt2000-01-01"},
						[]byte(`{"resourceType":"Substance","code":{"text":"青霉素"}}`))
				})
			}
			wg.Wait()
			created := 0
			for _, c := range codes {
				switch c {
				case 201:
					created++
				case 200:
				default:
					t.Errorf("status %d", c)
				}
			}
			_, _, body := call(t, "GET", ts.URL+"/fhir/Substance?_summary=count", nil, nil)
			if created != 1 || !strings.Contains(string(body), `"total":1`) {
				t.Errorf("%d creates answered 201 (%v); store holds %s", created, codes, body)
			}
		})
	}
}
