package server

import (
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

// validationServer serves a SQLite store with a validation policy.
func validationServer(t *testing.T, policy *validate.Policy) string {
	t.Helper()
	defs, err := loadDefs()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Store: backends[0].open(t), Definitions: defs, Validator: validate.New(defs), Validation: policy,
		Indexer: storetest.Indexer(t), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL + "/fhir"
}

const (
	// A resident whose 身份证号 has a wrong check digit, claiming CN Patient.
	badIDPatient = `{"resourceType":"Patient","meta":{"profile":["` + validate.ProfileCNPatient + `"]},
		"identifier":[{"system":"urn:oid:2.16.156.10011.1.3","value":"110105194912310021"}],
		"name":[{"text":"王秀英","family":"王","given":["秀英"]}],"gender":"female","birthDate":"1949-12-31"}`
	// The same resident, right.
	goodIDPatient = `{"resourceType":"Patient","meta":{"profile":["` + validate.ProfileCNPatient + `"]},
		"identifier":[{"system":"urn:oid:2.16.156.10011.1.3","value":"11010519491231002X"}],
		"name":[{"text":"王秀英","family":"王","given":["秀英"]}],"gender":"female","birthDate":"1949-12-31"}`
	// Breaks a specification invariant (per-1), not the structure.
	backwardsPeriod = `{"resourceType":"Encounter","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
		"period":{"start":"2025-03-01T09:20:00+08:00","end":"2025-03-01T09:00:00+08:00"}}`
)

func TestWriteValidationModes(t *testing.T) {
	t.Parallel()
	type want struct {
		status int
		body   []string // substrings of the answer
		absent []string
	}
	tests := []struct {
		name   string
		policy *validate.Policy
		method string
		path   string
		body   string
		header map[string]string
		want   want
	}{
		{"strict refuses a claimed profile's error", nil, "POST", "/Patient", badIDPatient, nil,
			want{422, []string{"cn-pat-2", "身份证号校验码错误", `"severity":"error"`}, nil}},
		{"strict accepts what is right", nil, "POST", "/Patient", goodIDPatient, nil,
			want{201, []string{`"11010519491231002X"`}, []string{validate.TagValidation}}},
		{"strict refuses a broken invariant", nil, "POST", "/Encounter", backwardsPeriod, nil,
			want{422, []string{"per-1"}, nil}},
		{"structure is refused with 400 in every mode", &validate.Policy{Default: validate.Rules{Mode: validate.Lenient}},
			"POST", "/Patient", `{"resourceType":"Patient","sex":"female"}`, nil,
			want{400, []string{"unknown element"}, nil}},
		{"lenient keeps the findings with the resource", &validate.Policy{Default: validate.Rules{Mode: validate.Lenient}},
			"POST", "/Patient", badIDPatient, nil,
			want{201, []string{validate.TagValidation, `"code":"errors"`, validate.ExtValidationIssue, "cn-pat-2"}, nil}},
		{"lenient answers the findings when asked for an OperationOutcome", &validate.Policy{Default: validate.Rules{Mode: validate.Lenient}},
			"POST", "/Encounter", backwardsPeriod, map[string]string{"Prefer": "return=OperationOutcome"},
			want{201, []string{`"resourceType":"OperationOutcome"`, "stored Encounter/", "per-1"}, []string{validate.ExtValidationIssue}}},
		{"a configured profile applies without meta.profile", &validate.Policy{Default: validate.Rules{Mode: validate.Strict,
			Profiles: map[string][]string{"Patient": {validate.ProfileCNPatient}}}},
			"POST", "/Patient", strings.Replace(badIDPatient, `"meta":{"profile":["`+validate.ProfileCNPatient+`"]},`, "", 1), nil,
			want{422, []string{"cn-pat-2"}, nil}},
		{"structural mode checks only the structure", &validate.Policy{Default: validate.Rules{Mode: validate.Structural}},
			"POST", "/Patient", badIDPatient, nil,
			want{201, nil, []string{validate.TagValidation}}},
		{"transaction entries carry their findings", &validate.Policy{Default: validate.Rules{Mode: validate.Lenient}},
			"POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient"},"resource":` + badIDPatient + `}]}`, nil,
			want{200, []string{`"outcome"`, "cn-pat-2", "201 Created"}, nil}},
		{"a transaction fails whole on a strict error", nil,
			"POST", "", `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"POST","url":"Patient"},"resource":` + goodIDPatient + `},{"request":{"method":"POST","url":"Patient"},"resource":` + badIDPatient + `}]}`, nil,
			want{422, []string{"cn-pat-2"}, nil}},
		{"$validate with a profile parameter", nil, "POST", "/Patient/$validate?profile=" + validate.ProfileCNPatient,
			strings.Replace(badIDPatient, `"meta":{"profile":["`+validate.ProfileCNPatient+`"]},`, "", 1), nil,
			want{200, []string{"cn-pat-2"}, []string{"校验通过"}}},
		{"$validate with an unknown profile", nil, "POST", "/Patient/$validate?profile=http://example.org/nope", goodIDPatient, nil,
			want{200, []string{"not known here", `"severity":"error"`}, nil}},
		{"$validate of a valid CN Patient", nil, "POST", "/Patient/$validate", goodIDPatient, nil,
			want{200, []string{"校验通过"}, []string{`"severity":"error"`}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := validationServer(t, tc.policy)
			status, _, body := call(t, tc.method, base+tc.path, tc.header, []byte(tc.body))
			if status != tc.want.status {
				t.Fatalf("status %d, want %d: %s", status, tc.want.status, body)
			}
			for _, s := range tc.want.body {
				if !strings.Contains(string(body), s) {
					t.Errorf("answer lacks %q: %s", s, body)
				}
			}
			for _, s := range tc.want.absent {
				if strings.Contains(string(body), s) {
					t.Errorf("answer has %q: %s", s, body)
				}
			}
		})
	}
}

// TestLenientFindingsAreReplaced checks that a corrected version drops the
// findings kept with the one before, and that clients cannot forge them.
func TestLenientFindingsAreReplaced(t *testing.T) {
	t.Parallel()
	base := validationServer(t, &validate.Policy{Default: validate.Rules{Mode: validate.Lenient}})
	status, h, body := call(t, "POST", base+"/Patient", nil, []byte(badIDPatient))
	if status != http.StatusCreated || !strings.Contains(string(body), validate.ExtValidationIssue) {
		t.Fatalf("create: %d %s", status, body)
	}
	id := idFromLocation(h.Get("Location"))
	fixed := decode(t, []byte(goodIDPatient))
	fixed["id"] = id
	// The client sends back the kept findings with its correction.
	stored := decode(t, body)
	fixed["meta"] = stored["meta"]
	b, _ := json.Marshal(fixed)
	status, _, body = call(t, "PUT", base+"/Patient/"+id, nil, b)
	if status != http.StatusOK {
		t.Fatalf("update: %d %s", status, body)
	}
	if strings.Contains(string(body), validate.ExtValidationIssue) || strings.Contains(string(body), validate.TagValidation) {
		t.Errorf("the corrected version keeps old findings: %s", body)
	}
	status, _, body = call(t, "GET", base+"/Patient?_tag="+validate.TagValidation+"|errors", nil, nil)
	if status != http.StatusOK || !strings.Contains(string(body), `"total":0`) {
		t.Errorf("search by the validation tag after the fix: %d %s", status, body)
	}
}
