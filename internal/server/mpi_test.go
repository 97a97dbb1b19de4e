package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hip-platform/hip/internal/auth"
	"github.com/hip-platform/hip/internal/empi"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/idcard"
	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/storetest"
)

// mpiTraining is the synthetic sample the test indexes train on.
var mpiTraining = sync.OnceValue(func() []empi.Record {
	recs, _, err := empi.SyntheticRecords(context.Background(), 5, 4000)
	if err != nil {
		panic(err)
	}
	return recs
})

func newIndex(t testing.TB, st store.Store) *empi.Index {
	t.Helper()
	ix, err := empi.OpenIndex(context.Background(), st, empi.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Train(context.Background(), mpiTraining()); err != nil {
		t.Fatal(err)
	}
	return ix
}

// idNumber is a valid 身份证 number with the given first 17 digits.
func idNumber(first17 string) string {
	c, err := idcard.CheckDigit(first17)
	if err != nil {
		panic(err)
	}
	return first17 + string(c)
}

func patientJSON(id, name, sex, birth, idNum, phone, address string) string {
	family, given := string([]rune(name)[:1]), string([]rune(name)[1:])
	p := map[string]any{"resourceType": "Patient", "id": id,
		"name":      []any{map[string]any{"use": "official", "text": name, "family": family, "given": []any{given}}},
		"gender":    sex,
		"birthDate": birth,
		"address":   []any{map[string]any{"use": "home", "text": address}},
	}
	if idNum != "" {
		p["identifier"] = []any{map[string]any{"system": fhir.SystemResidentID, "value": idNum}}
	}
	if phone != "" {
		p["telecom"] = []any{map[string]any{"system": "phone", "value": phone}}
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// personsOf returns the Person ids linking a Patient, from a FHIR search.
func personsOf(t *testing.T, base, patient string) []string {
	t.Helper()
	status, _, body := call(t, http.MethodGet, base+"/fhir/Person?link=Patient/"+patient, nil, nil)
	if status != http.StatusOK {
		t.Fatalf("Person?link=Patient/%s: %d %s", patient, status, body)
	}
	var out []string
	entries, _ := decode(t, body)["entry"].([]any)
	for _, e := range entries {
		out = append(out, e.(map[string]any)["resource"].(map[string]any)["id"].(string))
	}
	return out
}

func TestMPIOperations(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			st := b.open(t)
			defs, err := loadDefs()
			if err != nil {
				t.Fatal(err)
			}
			srv, err := New(Config{Store: st, Definitions: defs, Validator: validate.New(defs), Indexer: storetest.Indexer(t),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), MPI: newIndex(t, st)})
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(srv.Handler())
			t.Cleanup(ts.Close)
			base := ts.URL

			idZW := idNumber("11010519800315123")
			idZQ := idNumber("11010519800315125")
			put := func(id, body string) {
				t.Helper()
				if status, _, b := call(t, http.MethodPut, base+"/fhir/Patient/"+id, nil, []byte(body)); status >= 300 {
					t.Fatalf("PUT Patient/%s: %d %s", id, status, b)
				}
			}
			put("zw-1", patientJSON("zw-1", "张伟", "male", "1980-03-15", idZW, "13800138000", "北京市朝阳区幸福里3号"))
			// The second registration arrives in a transaction, in traditional characters.
			tx := fmt.Sprintf(`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":%s,"request":{"method":"PUT","url":"Patient/zw-2"}}]}`,
				patientJSON("zw-2", "張偉", "male", "1980-03-15", idZW, "", "北京市朝阳区幸福里3号"))
			if status, _, b := call(t, http.MethodPost, base+"/fhir", nil, []byte(tx)); status != http.StatusOK {
				t.Fatalf("transaction: %d %s", status, b)
			}
			put("zq-1", patientJSON("zq-1", "张强", "male", "1980-03-15", idZQ, "13800138000", "北京市朝阳区幸福里3号"))
			// Same name, birth, phone and address, no number, but female: a
			// contradiction, so the pair goes to review.
			put("zw-f", patientJSON("zw-f", "张伟", "female", "1980-03-15", "", "13800138000", "北京市朝阳区幸福里3号"))

			if got := personsOf(t, base, "zw-2"); len(got) != 1 || got[0] != "p-zw-1" {
				t.Fatalf("zw-2 linked by %v, want [p-zw-1]", got)
			}
			if got := personsOf(t, base, "zq-1"); len(got) != 1 || got[0] != "p-zq-1" {
				t.Fatalf("zq-1 linked by %v, want [p-zq-1]", got)
			}

			// A Patient search brings the person and all its records.
			status, _, body := call(t, http.MethodGet, base+"/fhir/Patient?_id=zw-2&_revinclude=Person:link&_include:iterate=Person:link", nil, nil)
			if status != http.StatusOK {
				t.Fatalf("search with the person: %d %s", status, body)
			}
			var got []string
			for _, e := range decode(t, body)["entry"].([]any) {
				r := e.(map[string]any)["resource"].(map[string]any)
				got = append(got, r["resourceType"].(string)+"/"+r["id"].(string))
			}
			for _, want := range []string{"Patient/zw-1", "Patient/zw-2", "Person/p-zw-1"} {
				if !strings.Contains(strings.Join(got, " "), want) {
					t.Errorf("search with the person: %v lacks %s", got, want)
				}
			}

			// $match: 张伟's records first, graded certain.
			match := fmt.Sprintf(`{"resourceType":"Parameters","parameter":[{"name":"resource","resource":%s},{"name":"count","valueInteger":2}]}`,
				patientJSON("q", "张伟", "male", "1980-03-15", idZW, "", ""))
			status, _, body = call(t, http.MethodPost, base+"/fhir/Patient/$match", nil, []byte(match))
			if status != http.StatusOK {
				t.Fatalf("$match: %d %s", status, body)
			}
			bundle := decode(t, body)
			entries := bundle["entry"].([]any)
			if len(entries) != 2 {
				t.Fatalf("$match returned %d entries, want 2 (count)", len(entries))
			}
			for _, e := range entries {
				em := e.(map[string]any)
				id := em["resource"].(map[string]any)["id"]
				sr := em["search"].(map[string]any)
				grade := sr["extension"].([]any)[0].(map[string]any)["valueCode"]
				if id != "zw-1" && id != "zw-2" || sr["mode"] != "match" || grade != "certain" {
					t.Errorf("$match entry %v %v %v", id, sr["mode"], grade)
				}
			}
			status, _, body = call(t, http.MethodPost, base+"/fhir/Patient/$match", nil, []byte(`{"resourceType":"Parameters","parameter":[]}`))
			if status != http.StatusBadRequest {
				t.Errorf("$match without a resource: %d %s", status, body)
			}

			// The review queue holds the contradicted pair, with evidence.
			status, _, body = call(t, http.MethodGet, base+"/fhir/Person/$review", nil, nil)
			if status != http.StatusOK {
				t.Fatalf("$review: %d %s", status, body)
			}
			if !strings.Contains(string(body), `"Patient/zw-f"`) || !strings.Contains(string(body), `"evidence"`) {
				t.Errorf("review queue lacks zw-f: %s", body)
			}
			// Deciding: zw-f is another person (apart), the pair leaves the queue.
			decide := func(a, b, decision string) {
				t.Helper()
				p := fmt.Sprintf(`{"resourceType":"Parameters","parameter":[{"name":"a","valueReference":{"reference":"Patient/%s"}},{"name":"b","valueReference":{"reference":"Patient/%s"}},{"name":"decision","valueCode":"%s"}]}`, a, b, decision)
				if status, _, body := call(t, http.MethodPost, base+"/fhir/Person/$review", nil, []byte(p)); status != http.StatusOK {
					t.Fatalf("decide %s %s %s: %d %s", a, b, decision, status, body)
				}
			}
			decide("zw-1", "zw-f", "apart")
			if _, _, body = call(t, http.MethodGet, base+"/fhir/Person/$review", nil, nil); strings.Contains(string(body), `"Patient/zw-1"},{"name":"b","valueReference":{"reference":"Patient/zw-f"`) {
				t.Errorf("a decided pair is still in the queue: %s", body)
			}
			// Linking the twin by decision merges the persons; unmerging
			// moves him out again into a person of his own.
			decide("zw-1", "zq-1", "link")
			if got := personsOf(t, base, "zq-1"); len(got) != 1 || got[0] != "p-zw-1" {
				t.Fatalf("after link, zq-1 linked by %v", got)
			}
			unmerge := `{"resourceType":"Parameters","parameter":[{"name":"patient","valueReference":{"reference":"Patient/zq-1"}}]}`
			status, _, body = call(t, http.MethodPost, base+"/fhir/Person/p-zw-1/$unmerge", nil, []byte(unmerge))
			if status != http.StatusOK {
				t.Fatalf("$unmerge: %d %s", status, body)
			}
			if p := decode(t, body); p["resourceType"] != "Person" || len(p["link"].([]any)) != 1 {
				t.Errorf("$unmerge answered %s", body)
			}
			if got := personsOf(t, base, "zq-1"); len(got) != 1 || got[0] == "p-zw-1" {
				t.Errorf("after unmerge, zq-1 linked by %v", got)
			}
			// Merge by persons.
			merge := fmt.Sprintf(`{"resourceType":"Parameters","parameter":[{"name":"source","valueReference":{"reference":"Person/%s"}},{"name":"target","valueReference":{"reference":"Person/p-zw-1"}}]}`, personsOf(t, base, "zq-1")[0])
			if status, _, body := call(t, http.MethodPost, base+"/fhir/Person/$merge", nil, []byte(merge)); status != http.StatusOK {
				t.Fatalf("$merge: %d %s", status, body)
			}
			if got := personsOf(t, base, "zq-1"); len(got) != 1 || got[0] != "p-zw-1" {
				t.Errorf("after merge, zq-1 linked by %v", got)
			}
			// Deleting a Patient takes it out of its person.
			if status, _, body := call(t, http.MethodDelete, base+"/fhir/Patient/zq-1", nil, nil); status >= 300 {
				t.Fatalf("delete: %d %s", status, body)
			}
			if got := personsOf(t, base, "zq-1"); len(got) != 0 {
				t.Errorf("a deleted Patient is still linked by %v", got)
			}
		})
	}
}

func TestMPIOperationsNeedRoles(t *testing.T) {
	t.Parallel()
	st := backends[0].open(t)
	s := newSecureServerMPI(t, st, 0, 0, newIndex(t, st))
	s.principal(t, "admin", auth.RoleAdmin, "", nil, "")
	s.principal(t, "doctor", auth.RoleClinician, "org-1", nil, "")
	s.principal(t, "resident", auth.RoleResident, "", []string{"zw-1"}, "")
	match := `{"resourceType":"Parameters","parameter":[{"name":"resource","resource":` +
		patientJSON("q", "张伟", "male", "1980-03-15", "", "", "") + `}]}`
	tests := []struct {
		who, method, path, body string
		want                    int
	}{
		{"doctor", http.MethodGet, "/Person/$review", "", http.StatusForbidden},
		{"admin", http.MethodGet, "/Person/$review", "", http.StatusOK},
		{"doctor", http.MethodPost, "/Person/$merge", `{"resourceType":"Parameters"}`, http.StatusForbidden},
		{"doctor", http.MethodPost, "/Person/p-1/$unmerge", `{"resourceType":"Parameters"}`, http.StatusForbidden},
		{"resident", http.MethodPost, "/Patient/$match", match, http.StatusForbidden},
		{"doctor", http.MethodPost, "/Patient/$match", match, http.StatusOK},
		{"", http.MethodPost, "/Patient/$match", match, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		if status, body := s.as(t, tt.who, tt.method, tt.path, nil, tt.body); status != tt.want {
			t.Errorf("%s %s %s: %d, want %d (%s)", tt.who, tt.method, tt.path, status, tt.want, body)
		}
	}
}
