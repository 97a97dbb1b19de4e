package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/audit"
	"github.com/hip-platform/hip/internal/auth"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/storetest"
)

// secureServer is a server with the built-in provider, the policy and the
// audit trail, as hip serve runs it.
type secureServer struct {
	url     string
	handler http.Handler
	store   store.Store
	prov    *auth.Provider
	trail   *audit.Trail
	tokens  map[string]string // principal name → access token
}

func newSecureServer(t *testing.T, st store.Store) *secureServer { return newSecureServerTB(t, st) }

func newSecureServerTB(t testing.TB, st store.Store) *secureServer {
	return newSecureServerWith(t, st, 0, 0)
}

// newSecureServerWith is newSecureServer with a per-principal rate limit.
func newSecureServerWith(t testing.TB, st store.Store, rate float64, burst int) *secureServer {
	t.Helper()
	return newSecureServerMPI(t, st, rate, burst, nil)
}

// newSecureServerMPI is newSecureServerWith with a master patient index.
func newSecureServerMPI(t testing.TB, st store.Store, rate float64, burst int, mpi MPI) *secureServer {
	t.Helper()
	defs, err := loadDefs()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	keys, err := auth.NewKeyRing(ctx, st, 0)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	prov, err := auth.NewProvider(auth.ProviderConfig{Issuer: ts.URL + "/auth", Audience: ts.URL + "/fhir", Accounts: st, Keys: keys, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	trail := audit.NewTrail(st, discard)
	t.Cleanup(trail.Close)
	ix := storetest.Indexer(t)
	srv, err := New(Config{Store: st, Definitions: defs, Validator: validate.New(defs), Indexer: ix, Logger: discard,
		Security: &Security{Authenticator: prov, Policy: auth.NewPolicy(defs, ix), Trail: trail, SMART: prov.Configuration(),
			Rate: rate, Burst: burst}, MPI: mpi})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", srv.Handler())
	mux.Handle("/auth/", prov.Handler())
	return &secureServer{url: ts.URL, handler: mux, store: st, prov: prov, trail: trail, tokens: map[string]string{}}
}

// principal adds a user (or, for role facility, a client) and keeps a token.
func (s *secureServer) principal(t testing.TB, name string, role auth.Role, facility string, patients []string, scope string) {
	t.Helper()
	ctx := context.Background()
	hash, err := auth.HashPassword("Matrix-password-1")
	if err != nil {
		t.Fatal(err)
	}
	var tok *auth.TokenResponse
	if role == auth.RoleFacility {
		c := auth.Client{ID: name, SecretHash: hash, Role: role, Facility: facility}
		if err := s.prov.Directory().AddClient(ctx, c); err != nil {
			t.Fatal(err)
		}
		tok, err = s.prov.IssueForClient(ctx, &c, scope)
	} else {
		u := auth.User{Name: name, PasswordHash: hash, Role: role, Facility: facility, Patients: patients}
		if err := s.prov.Directory().AddUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		tok, err = s.prov.IssueForUser(ctx, &u, nil, scope)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.tokens[name] = tok.AccessToken
}

// as sends a request as a principal ("" for none) and returns status and body.
func (s *secureServer) as(t *testing.T, who, method, path string, header map[string]string, body string) (int, []byte) {
	t.Helper()
	h := map[string]string{}
	for k, v := range header {
		h[k] = v
	}
	if who != "" {
		h["Authorization"] = "Bearer " + s.tokens[who]
	}
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	status, _, out := call(t, method, s.url+"/fhir"+path, h, b)
	return status, out
}

// matrixData are the region's records: two facilities A and B, a pharmacy
// P, patients p1 (registered at A, seen at B) and p2 (registered at B).
func matrixData(t *testing.T, s *secureServer) {
	t.Helper()
	put := func(who, path, body string) {
		t.Helper()
		if status, out := s.as(t, who, "PUT", path, nil, body); status != http.StatusCreated && status != http.StatusOK {
			t.Fatalf("%s PUT %s: %d %s", who, path, status, out)
		}
	}
	for _, org := range []string{"orgA", "orgB", "orgP"} {
		put("admin", "/Organization/"+org, `{"resourceType":"Organization","id":"`+org+`","name":"`+org+`"}`)
	}
	patient := func(id, family, org string) string {
		return fmt.Sprintf(`{"resourceType":"Patient","id":"%s","name":[{"family":"%s","given":["测试"]}],"managingOrganization":{"reference":"Organization/%s"}}`, id, family, org)
	}
	obs := func(id, patient, code string) string {
		return fmt.Sprintf(`{"resourceType":"Observation","id":"%s","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"%s"}]},"subject":{"reference":"Patient/%s"}}`, id, code, patient)
	}
	enc := func(id, patient, org string) string {
		return fmt.Sprintf(`{"resourceType":"Encounter","id":"%s","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/%s"},"serviceProvider":{"reference":"Organization/%s"}}`, id, patient, org)
	}
	put("hisA", "/Patient/p1", patient("p1", "王", "orgA"))
	put("hisA", "/Encounter/e1", enc("e1", "p1", "orgA"))
	put("hisA", "/Observation/o1", obs("o1", "p1", "2345-7"))
	put("hisA", "/Observation/o4", obs("o4", "p2", "2345-7")) // A's record of B's patient
	put("hisA", "/MedicationRequest/m1", `{"resourceType":"MedicationRequest","id":"m1","status":"active","intent":"order",
		"meta":{"tag":[{"system":"`+auth.SystemSharedWith+`","code":"orgP"},{"system":"`+auth.SystemSourceFacility+`","code":"orgB"}]},
		"medicationCodeableConcept":{"text":"二甲双胍"},"subject":{"reference":"Patient/p1"}}`)
	put("hisB", "/Patient/p2", patient("p2", "赵", "orgB"))
	put("hisB", "/Encounter/e2", enc("e2", "p2", "orgB"))
	put("hisB", "/Observation/o2", obs("o2", "p2", "2345-7"))
	put("hisB", "/Encounter/e3", enc("e3", "p1", "orgB"))      // p1 seen at B
	put("hisB", "/Observation/o3", obs("o3", "p1", "94500-6")) // B's result of p1
	cond := func(id, patient, label string) string {
		security := ""
		if label != "" {
			security = `"meta":{"security":[{"system":"` + auth.SystemActCode + `","code":"` + label + `"}]},`
		}
		return fmt.Sprintf(`{"resourceType":"Condition","id":"%s",%s"code":{"text":"诊断"},"subject":{"reference":"Patient/%s"}}`, id, security, patient)
	}
	put("hisA", "/Condition/c1", cond("c1", "p1", ""))
	put("hisB", "/Condition/c2", cond("c2", "p1", "PSY")) // a mental health diagnosis
	put("hisB", "/Condition/c3", cond("c3", "p1", ""))
}

// consent is a resident's Consent denying what provision says.
func consent(patient, provision string) string {
	return `{"resourceType":"Consent","status":"active",
	"scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},
	"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],
	"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTOUT"}]},
	"patient":{"reference":"Patient/` + patient + `"},"provision":` + provision + `}`
}

// bundleIDs returns the Type/id of a searchset's matches and includes.
func bundleIDs(t *testing.T, body []byte) (matches, included []string) {
	t.Helper()
	var b struct {
		ResourceType string
		Entry        []struct {
			Resource struct{ ResourceType, ID string }
			Search   struct{ Mode string }
		}
	}
	if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Bundle" {
		t.Fatalf("not a Bundle: %v %.300s", err, body)
	}
	for _, e := range b.Entry {
		k := e.Resource.ResourceType + "/" + e.Resource.ID
		switch e.Search.Mode {
		case "include":
			included = append(included, k)
		case "match":
			matches = append(matches, k)
		}
	}
	slices.Sort(matches)
	slices.Sort(included)
	return matches, included
}

type matrixCase struct {
	name    string
	who     string
	method  string
	path    string
	header  map[string]string
	body    string
	status  int
	matches []string // for searches: exactly these matches
	incl    []string // and exactly these included resources
	// anyMatches, anyIncl: the matches or includes are not checked.
	anyMatches, anyIncl bool
	total               string   // for searches: the Bundle's total, when set
	contains            []string // text the answer must hold
	lacks               []string // text it must not
	audited             bool     // leaves exactly one audit record (else none)
	// patients, when set, are the patients its audit record must name.
	patients []string
}

var (
	treat = map[string]string{"X-Purpose-Of-Use": "TREAT"}
	glass = map[string]string{"X-Purpose-Of-Use": "ETREAT", "X-Break-Glass-Reason": "%E6%98%8F%E8%BF%B7%E6%80%A5%E8%AF%8A"} // 昏迷急诊
	pubh  = map[string]string{"X-Purpose-Of-Use": "HCOMPL"}
)

func ids(list ...string) []string { slices.Sort(list); return list }

// matrix is the authorisation matrix: roles × interactions × kinds of
// resource, with the attempts to learn of hidden records through includes,
// chains, _has, history, compartments, $everything and bundles.
var matrix = []matrixCase{
	// Authentication.
	{name: "no token", who: "", method: "GET", path: "/Patient/p1", status: 401},
	{name: "metadata is public", who: "", method: "GET", path: "/metadata", status: 200},
	{name: "SMART configuration is public", who: "", method: "GET", path: "/.well-known/smart-configuration", status: 200},

	// Administrator: everything.
	{name: "admin reads B's result", who: "admin", method: "GET", path: "/Observation/o2", status: 200, audited: true, patients: []string{"Patient/p2"}},
	{name: "admin searches all results", who: "admin", method: "GET", path: "/Observation", status: 200,
		matches: ids("Observation/o1", "Observation/o2", "Observation/o3", "Observation/o4"), audited: true,
		patients: []string{"Patient/p1", "Patient/p2"}},
	{name: "admin type history", who: "admin", method: "GET", path: "/Observation/_history", status: 200, audited: true},
	{name: "admin chain", who: "admin", method: "GET", path: "/Observation?subject:Patient.family=赵", status: 200,
		matches: ids("Observation/o2", "Observation/o4"), audited: true},

	// Clinician of A, no purpose: A's records only.
	{name: "clinician reads own patient", who: "docA", method: "GET", path: "/Patient/p1", status: 200, audited: true, patients: []string{"Patient/p1"}},
	{name: "clinician reads other facility's patient", who: "docA", method: "GET", path: "/Patient/p2", status: 404, audited: true},
	{name: "hidden answers as missing", who: "docA", method: "GET", path: "/Patient/nobody", status: 404, audited: true},
	{name: "clinician reads other facility's result", who: "docA", method: "GET", path: "/Observation/o3", status: 404, audited: true},
	{name: "clinician vread of hidden", who: "docA", method: "GET", path: "/Observation/o3/_history/1", status: 404, audited: true},
	{name: "clinician searches results", who: "docA", method: "GET", path: "/Observation", status: 200,
		matches: ids("Observation/o1", "Observation/o4"), audited: true},
	{name: "total counts only visible", who: "docA", method: "GET", path: "/Observation?_summary=count", status: 200, total: "2", audited: true},
	{name: "chain through a hidden patient", who: "docA", method: "GET", path: "/Observation?subject:Patient.family=赵", status: 200,
		matches: nil, audited: true},
	{name: "chain probed through a hidden patient", who: "docA", method: "GET", path: "/Observation?_id=o4&subject:Patient.family=赵", status: 200,
		matches: nil, audited: true},
	{name: "chain through a visible patient", who: "docA", method: "GET", path: "/Observation?subject:Patient.family=王", status: 200,
		matches: ids("Observation/o1"), audited: true},
	{name: "include of a hidden patient", who: "docA", method: "GET", path: "/Observation?_include=Observation:subject", status: 200,
		matches: ids("Observation/o1", "Observation/o4"), incl: ids("Patient/p1"), audited: true},
	{name: "revinclude of hidden results", who: "docA", method: "GET", path: "/Patient?_id=p1&_revinclude=Observation:subject", status: 200,
		matches: ids("Patient/p1"), incl: ids("Observation/o1"), audited: true},
	{name: "wildcard revinclude", who: "docA", method: "GET", path: "/Patient?_id=p1&_revinclude=*", status: 200,
		matches: ids("Patient/p1"), incl: ids("Condition/c1", "Encounter/e1", "MedicationRequest/m1", "Observation/o1"), audited: true},
	{name: "_has through a hidden result", who: "docA", method: "GET", path: "/Patient?_has:Observation:subject:code=94500-6", status: 200,
		matches: nil, audited: true},
	{name: "_has probed through a hidden result", who: "docA", method: "GET", path: "/Patient?_id=p1&_has:Observation:subject:code=94500-6", status: 200,
		matches: nil, audited: true},
	{name: "_has through a visible result", who: "docA", method: "GET", path: "/Patient?_has:Observation:subject:code=2345-7", status: 200,
		matches: ids("Patient/p1"), audited: true},
	{name: "instance history of hidden", who: "docA", method: "GET", path: "/Patient/p2/_history", status: 404, audited: true},
	{name: "type history limited", who: "docA", method: "GET", path: "/Observation/_history", status: 403, audited: true},
	{name: "system history limited", who: "docA", method: "GET", path: "/_history", status: 403, audited: true},
	{name: "compartment without purpose", who: "docA", method: "GET", path: "/Patient/p1/Observation", status: 200,
		matches: ids("Observation/o1"), audited: true},
	{name: "compartment of other's patient", who: "docA", method: "GET", path: "/Patient/p2/Observation", status: 200,
		matches: ids("Observation/o4"), audited: true},
	{name: "everything of hidden patient", who: "docA", method: "GET", path: "/Patient/p2/$everything", status: 404, audited: true},
	{name: "system search", who: "docA", method: "GET", path: "/?_type=Observation,Encounter", status: 200,
		matches: ids("Encounter/e1", "Observation/o1", "Observation/o4"), audited: true},
	{name: "directory is open", who: "docA", method: "GET", path: "/Organization", status: 200,
		matches: ids("Organization/orgA", "Organization/orgB", "Organization/orgP"), audited: false},
	{name: "audit trail closed to clinicians", who: "docA", method: "GET", path: "/AuditEvent", status: 403, audited: true},
	{name: "clinician writes a result", who: "docA", method: "PUT", path: "/Observation/o5",
		body: `{"resourceType":"Observation","id":"o5","status":"final","code":{"text":"血压"},"subject":{"reference":"Patient/p1"},
		"meta":{"tag":[{"system":"` + auth.SystemSourceFacility + `","code":"orgB"}]}}`, status: 201, audited: true, patients: []string{"Patient/p1"}},
	{name: "the forged facility tag was replaced", who: "hisB", method: "GET", path: "/Observation?_id=o5", status: 200, matches: nil, audited: true},
	{name: "clinician updates hidden result", who: "docA", method: "PUT", path: "/Observation/o2",
		body: `{"resourceType":"Observation","id":"o2","status":"cancelled","code":{"text":"x"}}`, status: 404, audited: true},
	{name: "clinician deletes hidden result", who: "docA", method: "DELETE", path: "/Observation/o2", status: 204, audited: true},
	{name: "hidden result survived", who: "admin", method: "GET", path: "/Observation?_id=o2", status: 200, matches: ids("Observation/o2"), audited: true},
	{name: "clinician writes a definition", who: "docA", method: "POST", path: "/SearchParameter",
		body:   `{"resourceType":"SearchParameter","url":"http://x/sp","name":"x","status":"active","code":"x","base":["Patient"],"type":"token","expression":"Patient.id","description":"x"}`,
		status: 403, audited: false},
	{name: "clinician writes an AuditEvent", who: "docA", method: "POST", path: "/AuditEvent",
		body: `{"resourceType":"AuditEvent"}`, status: 403, audited: true},
	{name: "batch mixes visible and hidden", who: "docA", method: "POST", path: "",
		body: `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Observation/o2"}},
		{"request":{"method":"GET","url":"Observation/o1"}},{"request":{"method":"GET","url":"Observation?subject:Patient.family=赵"}}]}`,
		status: 200, audited: true, patients: []string{"Patient/p1"}},
	{name: "transaction writing hidden", who: "docA", method: "POST", path: "",
		body: `{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"PUT","url":"Observation/o2"},
		"resource":{"resourceType":"Observation","id":"o2","status":"cancelled","code":{"text":"x"}}}]}`, status: 404, audited: true},
	{name: "reindex is for administrators", who: "docA", method: "POST", path: "/$reindex", status: 403, audited: true},

	// Treatment opens the records of a patient in the facility's care.
	{name: "treatment of own patient", who: "docA", method: "GET", path: "/Observation?patient=p1", header: treat, status: 200,
		matches: ids("Observation/o1", "Observation/o3", "Observation/o5"), audited: true, patients: []string{"Patient/p1"}},
	{name: "treatment compartment", who: "docA", method: "GET", path: "/Patient/p1/Observation", header: treat, status: 200,
		matches: ids("Observation/o1", "Observation/o3", "Observation/o5"), audited: true},
	{name: "treatment everything", who: "docA", method: "GET", path: "/Patient/p1/$everything?_type=Observation,Encounter", header: treat, status: 200,
		matches: ids("Encounter/e1", "Encounter/e3", "Observation/o1", "Observation/o3", "Observation/o5"), anyIncl: true, audited: true},
	{name: "treatment in a batch", who: "docA", method: "POST", path: "", header: treat,
		body: `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Observation?patient=p1"}},
		{"request":{"method":"GET","url":"Observation?patient=p2"}}]}`,
		status: 200, contains: []string{`"id":"o3"`, `"id":"o4"`}, lacks: []string{`"id":"o2"`}, audited: true,
		patients: []string{"Patient/p1", "Patient/p2"}},
	{name: "treatment of a patient not in care", who: "docA", method: "GET", path: "/Observation?patient=p2", header: treat, status: 200,
		matches: ids("Observation/o4"), audited: true},
	{name: "B treats p1, seen there", who: "docB", method: "GET", path: "/Observation?patient=p1", header: treat, status: 200,
		matches: ids("Observation/o1", "Observation/o3", "Observation/o5"), audited: true},
	{name: "break the glass without reason", who: "docA", method: "GET", path: "/Observation?patient=p2",
		header: map[string]string{"X-Purpose-Of-Use": "ETREAT"}, status: 400, audited: false},
	{name: "break the glass", who: "docA", method: "GET", path: "/Patient/p2/$everything", header: glass, status: 200,
		anyMatches: true, anyIncl: true, audited: true, patients: []string{"Patient/p2"}},
	{name: "the resident sees the glass broken", who: "res2", method: "GET", path: "/AuditEvent?_count=3", status: 200,
		anyMatches: true, contains: []string{`"code":"ETREAT"`, "昏迷急诊", `"value":"docA"`},
		lacks:   []string{"Patient/p1", "Observation/", "patient=p1"}, // who else was in a batch is not theirs to know
		audited: true, patients: []string{"Patient/p2"}},
	{name: "unknown purpose", who: "docA", method: "GET", path: "/Observation", header: map[string]string{"X-Purpose-Of-Use": "FUN"}, status: 400},
	{name: "clinician cannot claim a regulator's purpose", who: "docA", method: "GET", path: "/Observation", header: pubh, status: 403},

	// Facility system.
	{name: "facility system reads own", who: "hisA", method: "GET", path: "/Observation", status: 200,
		matches: ids("Observation/o1", "Observation/o4", "Observation/o5"), audited: true},
	{name: "facility system updates another's", who: "hisB", method: "PUT", path: "/Observation/o1",
		body: `{"resourceType":"Observation","id":"o1","status":"cancelled","code":{"text":"x"}}`, status: 404, audited: true},

	// Pharmacist: prescriptions presented to the pharmacy.
	{name: "pharmacist searches prescriptions", who: "pharmP", method: "GET", path: "/MedicationRequest", status: 200,
		matches: ids("MedicationRequest/m1"), audited: true, patients: []string{"Patient/p1"}},
	{name: "pharmacist reads results", who: "pharmP", method: "GET", path: "/Observation", status: 403, audited: true},
	{name: "pharmacist reads a patient", who: "pharmP", method: "GET", path: "/Patient/p1", status: 404, audited: true},
	{name: "pharmacist dispenses", who: "pharmP", method: "POST", path: "/MedicationDispense",
		body:   `{"resourceType":"MedicationDispense","status":"completed","medicationCodeableConcept":{"text":"二甲双胍"},"subject":{"reference":"Patient/p1"}}`,
		status: 201, audited: true},
	{name: "pharmacist writes a result", who: "pharmP", method: "POST", path: "/Observation",
		body: `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, status: 403, audited: true},

	// Regulator: aggregates and de-identified data; identified data with a purpose.
	{name: "regulator counts", who: "regulator", method: "GET", path: "/Observation?_summary=count", status: 200, total: "5", audited: true},
	{name: "regulator reads de-identified", who: "regulator", method: "GET", path: "/Patient/p1", status: 200, audited: true,
		contains: []string{`"managingOrganization"`}, lacks: []string{"王", "测试", `"name"`}},
	{name: "regulator searches de-identified", who: "regulator", method: "GET", path: "/Observation?_include=Observation:subject&code=2345-7", status: 200,
		matches: ids("Observation/o1", "Observation/o2", "Observation/o4"), incl: ids("Patient/p1", "Patient/p2"), lacks: []string{"王", "赵"}, audited: true},
	{name: "regulator asks by name", who: "regulator", method: "GET", path: "/Patient?family=王", status: 403, audited: true},
	{name: "regulator chains by name", who: "regulator", method: "GET", path: "/Observation?subject:Patient.family=王", status: 403, audited: true},
	{name: "regulator with purpose reads identified", who: "regulator", method: "GET", path: "/Patient/p1", header: pubh, status: 200,
		contains: []string{"王"}, audited: true},
	{name: "regulator with purpose", who: "regulator", method: "GET", path: "/Observation?code=2345-7", header: pubh, status: 200,
		matches: ids("Observation/o1", "Observation/o2", "Observation/o4"), audited: true},
	{name: "regulator audit without purpose", who: "regulator", method: "GET", path: "/AuditEvent", status: 403, audited: true},
	{name: "regulator audit with purpose", who: "regulator", method: "GET", path: "/AuditEvent?_count=5", header: pubh, status: 200, anyMatches: true, audited: true},
	{name: "regulator writes", who: "regulator", method: "POST", path: "/Observation",
		body: `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, status: 403, audited: true},

	// Resident: their own records.
	{name: "resident reads self", who: "res1", method: "GET", path: "/Patient/p1", status: 200, audited: true, patients: []string{"Patient/p1"}},
	{name: "resident reads another", who: "res1", method: "GET", path: "/Patient/p2", status: 404, audited: true},
	{name: "resident searches results", who: "res1", method: "GET", path: "/Observation", status: 200,
		matches: ids("Observation/o1", "Observation/o3", "Observation/o5"), audited: true},
	{name: "resident chain to another", who: "res1", method: "GET", path: "/Observation?subject:Patient.family=赵", status: 200, matches: nil, audited: true},
	{name: "resident revinclude", who: "res1", method: "GET", path: "/Patient?_revinclude=Observation:subject", status: 200,
		matches: ids("Patient/p1"), incl: ids("Observation/o1", "Observation/o3", "Observation/o5"), audited: true},
	{name: "resident everything", who: "res1", method: "GET", path: "/Patient/p1/$everything?_type=Observation,Encounter,Patient", status: 200,
		matches: ids("Encounter/e1", "Encounter/e3", "Observation/o1", "Observation/o3", "Observation/o5", "Patient/p1"), anyIncl: true, audited: true},
	{name: "resident everything of another", who: "res1", method: "GET", path: "/Patient/p2/$everything", status: 404, audited: true},
	{name: "resident history of another", who: "res1", method: "GET", path: "/Patient/p2/_history", status: 404, audited: true},
	{name: "resident system search", who: "res1", method: "GET", path: "/?_type=Observation,Patient", status: 200,
		matches: ids("Observation/o1", "Observation/o3", "Observation/o5", "Patient/p1"), audited: true},
	{name: "resident batch", who: "res1", method: "POST", path: "",
		body:   `{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Patient/p2"}},{"request":{"method":"GET","url":"Observation?patient=p2"}}]}`,
		status: 200, audited: true},
	{name: "resident writes a result", who: "res1", method: "POST", path: "/Observation",
		body: `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}`, status: 403, audited: true},
	{name: "resident consents for self", who: "res1", method: "POST", path: "/Consent",
		body:   `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p1"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]}}`,
		status: 201, audited: true, patients: []string{"Patient/p1"}},
	// Consent: p1's resident withholds their records from B, and mental
	// health records from everyone but the facility that wrote them.
	{name: "treatment before consent", who: "docA", method: "GET", path: "/Condition?patient=p1", header: treat, status: 200,
		matches: ids("Condition/c1", "Condition/c2", "Condition/c3"), audited: true},
	{name: "resident withholds from B", who: "res1", method: "POST", path: "/Consent",
		body:   consent("p1", `{"type":"deny","actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"Organization/orgB"}}]}`),
		status: 201, audited: true},
	{name: "resident withholds mental health", who: "res1", method: "POST", path: "/Consent",
		body: consent("p1", `{"type":"deny","securityLabel":[{"system":"`+auth.SystemActCode+`","code":"PSY"}]}`), status: 201, audited: true},
	{name: "B treats p1 after consent", who: "docB", method: "GET", path: "/Observation?patient=p1", header: treat, status: 200,
		matches: ids("Observation/o3"), audited: true},
	{name: "B's own records stay B's", who: "docB", method: "GET", path: "/Condition?patient=p1", header: treat, status: 200,
		matches: ids("Condition/c2", "Condition/c3"), audited: true},
	{name: "B's chain to the withheld patient", who: "docB", method: "GET", path: "/Observation?subject:Patient.family=王", header: treat, status: 200,
		matches: nil, audited: true},
	{name: "A after consent", who: "docA", method: "GET", path: "/Condition?patient=p1", header: treat, status: 200,
		matches: ids("Condition/c1", "Condition/c3"), audited: true},
	{name: "A reads the withheld diagnosis", who: "docA", method: "GET", path: "/Condition/c2", header: treat, status: 404, audited: true},
	{name: "the glass overrides consent", who: "docB", method: "GET", path: "/Observation?patient=p1", header: glass, status: 200,
		matches: ids("Observation/o1", "Observation/o3", "Observation/o5"), audited: true, patients: []string{"Patient/p1"}},
	{name: "the resident still sees everything", who: "res1", method: "GET", path: "/Condition", status: 200,
		matches: ids("Condition/c1", "Condition/c2", "Condition/c3"), audited: true},
	{name: "the resident sees the glass broken on their record", who: "res1", method: "GET", path: "/AuditEvent?_count=2", status: 200,
		anyMatches: true, contains: []string{`"code":"ETREAT"`, `"value":"docB"`}, audited: true},
	{name: "resident consents for another", who: "res1", method: "POST", path: "/Consent",
		body:   `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/p2"},"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]}}`,
		status: 403, audited: true},
	{name: "resident sees who read their record", who: "res1", method: "GET", path: "/AuditEvent", status: 200, anyMatches: true, audited: true},
	{name: "resident audit of another", who: "res1", method: "GET", path: "/AuditEvent?patient=Patient/p2", status: 403, audited: true},
	{name: "resident directory", who: "res1", method: "GET", path: "/Organization?_id=orgA", status: 200, matches: ids("Organization/orgA")},

	// A resident's app granted results only.
	{name: "scoped app reads results", who: "res1obs", method: "GET", path: "/Observation?_include=Observation:subject", status: 200,
		matches: ids("Observation/o1", "Observation/o3", "Observation/o5"), incl: nil, audited: true},
	{name: "scoped app reads the patient", who: "res1obs", method: "GET", path: "/Patient/p1", status: 403, audited: true},
	{name: "scoped app chains to the patient", who: "res1obs", method: "GET", path: "/Observation?subject:Patient.family=王", status: 403, audited: true},
}

func TestAuthorizationMatrix(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s := newSecureServer(t, b.open(t))
			for _, p := range []struct {
				name     string
				role     auth.Role
				facility string
				patients []string
				scope    string
			}{
				{"admin", auth.RoleAdmin, "", nil, ""},
				{"hisA", auth.RoleFacility, "orgA", nil, ""},
				{"hisB", auth.RoleFacility, "orgB", nil, ""},
				{"docA", auth.RoleClinician, "orgA", nil, ""},
				{"docB", auth.RoleClinician, "orgB", nil, ""},
				{"pharmP", auth.RolePharmacist, "orgP", nil, ""},
				{"regulator", auth.RoleRegulator, "", nil, ""},
				{"res1", auth.RoleResident, "", []string{"p1"}, ""},
				{"res1obs", auth.RoleResident, "", []string{"p1"}, "patient/Observation.rs"},
				{"res2", auth.RoleResident, "", []string{"p2"}, ""},
			} {
				s.principal(t, p.name, p.role, p.facility, p.patients, p.scope)
			}
			matrixData(t, s)
			runMatrix(t, s)
		})
	}
}

func runMatrix(t *testing.T, s *secureServer) {
	bodies := map[string][]byte{}
	for i, tc := range matrix {
		header := map[string]string{"X-Request-Id": fmt.Sprintf("matrix-%d", i)}
		for k, v := range tc.header {
			header[k] = v
		}
		if tc.body != "" && tc.method == "POST" && tc.path == "" {
			header["Content-Type"] = "application/fhir+json"
		}
		status, body := s.as(t, tc.who, tc.method, tc.path, header, tc.body)
		bodies[tc.name] = body
		for _, want := range tc.contains {
			if !strings.Contains(string(body), want) {
				t.Errorf("%s: the answer lacks %s: %.300s", tc.name, want, body)
			}
		}
		for _, leak := range tc.lacks {
			if strings.Contains(string(body), leak) {
				t.Errorf("%s: the answer holds %s: %.300s", tc.name, leak, body)
			}
		}
		if status != tc.status {
			t.Errorf("%s: %s %s as %q: status %d, want %d: %.300s", tc.name, tc.method, tc.path, tc.who, status, tc.status, body)
			continue
		}
		if status >= 400 {
			if status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound {
				var oo struct{ ResourceType string }
				if json.Unmarshal(body, &oo); oo.ResourceType != "OperationOutcome" {
					t.Errorf("%s: a refusal without an OperationOutcome: %.200s", tc.name, body)
				}
			}
			continue
		}
		var kind struct{ ResourceType, Type string }
		json.Unmarshal(body, &kind)
		if kind.ResourceType != "Bundle" || kind.Type != "searchset" {
			if tc.matches != nil || tc.incl != nil || tc.total != "" {
				t.Errorf("%s: not a searchset: %.200s", tc.name, body)
			}
			continue
		}
		matches, incl := bundleIDs(t, body)
		if !tc.anyMatches && !slices.Equal(matches, tc.matches) {
			t.Errorf("%s: %s as %s: matches %v, want %v", tc.name, tc.path, tc.who, matches, tc.matches)
		}
		if !tc.anyIncl && !slices.Equal(incl, tc.incl) {
			t.Errorf("%s: %s as %s: included %v, want %v", tc.name, tc.path, tc.who, incl, tc.incl)
		}
		if tc.total != "" && !strings.Contains(string(body), `"total":`+tc.total) {
			t.Errorf("%s: total, want %s: %.300s", tc.name, tc.total, body)
		}
	}
	// No existence oracle: a hidden resource answers exactly as a missing one.
	hidden := strings.ReplaceAll(string(bodies["clinician reads other facility's patient"]), "p2", "ID")
	missing := strings.ReplaceAll(string(bodies["hidden answers as missing"]), "nobody", "ID")
	if hidden != missing {
		t.Errorf("a hidden patient answers %s, a missing one %s", hidden, missing)
	}
	checkMatrixAudit(t, s)
}

// checkMatrixAudit checks that every request of the matrix that touched
// patient data left exactly one audit record, naming its patients, and that
// the trail verifies.
func checkMatrixAudit(t *testing.T, s *secureServer) {
	if err := s.trail.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	records := map[string][]audit.Record{}
	err := s.store.ScanAudit(t.Context(), store.AuditQuery{}, func(e *store.AuditEntry) error {
		var r audit.Record
		if err := json.Unmarshal(e.Body, &r); err != nil {
			return err
		}
		records[r.RequestID] = append(records[r.RequestID], r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range matrix {
		got := records[fmt.Sprintf("matrix-%d", i)]
		want := 0
		if tc.audited {
			want = 1
		}
		if len(got) != want {
			t.Errorf("%s: %d audit records, want %d", tc.name, len(got), want)
			continue
		}
		if want == 0 {
			continue
		}
		r := got[0]
		if r.Agent != tc.who || r.Status != tc.status || r.Address == "" || r.Interaction == "" {
			t.Errorf("%s: audit record %+v", tc.name, r)
		}
		if tc.patients != nil && !slices.Equal(r.Patients, tc.patients) {
			t.Errorf("%s: audit names patients %v, want %v", tc.name, r.Patients, tc.patients)
		}
		if tc.header["X-Purpose-Of-Use"] != "" && r.Purpose != tc.header["X-Purpose-Of-Use"] {
			t.Errorf("%s: audit purpose %q", tc.name, r.Purpose)
		}
		if tc.header["X-Purpose-Of-Use"] == "ETREAT" && r.BreakGlass != "昏迷急诊" {
			t.Errorf("%s: break-glass reason %q", tc.name, r.BreakGlass)
		}
	}
	report, err := audit.Verify(t.Context(), s.store)
	if err != nil || len(report.Problems) > 0 || report.Entries == 0 {
		t.Errorf("verify: %+v %v", report, err)
	}
}

// FuzzSecurityHeaders sends arbitrary credentials and purpose headers, read
// before anyone is authenticated: no answer is a 5xx, none serves patient
// data without a valid token, and a valid token with any purpose headers is
// answered with a decision, never a failure.
func FuzzSecurityHeaders(f *testing.F) {
	s := newSecureServerTB(f, backends[0].open(f))
	s.principal(f, "docA", auth.RoleClinician, "orgA", nil, "")
	valid := s.tokens["docA"]
	f.Add("Bearer "+valid, "TREAT", "", true)
	f.Add("Bearer "+valid, "ETREAT", "%E6%98%8F", true)
	f.Add("Bearer "+valid+"x", "", "", false)
	f.Add("bearer  "+valid, "treat", "\x00\xff", false)
	f.Add("Basic YWRtaW46YWRtaW4=", "", "", false)
	f.Add("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiaGlwX3JvbGUiOiJhZG1pbiJ9.", "", "", false)
	f.Fuzz(func(t *testing.T, authz, purpose, reason string, useValid bool) {
		if useValid {
			authz = "Bearer " + valid
		}
		req := httptest.NewRequest("GET", "/fhir/Patient?_count=1", nil)
		for k, v := range map[string]string{"Authorization": authz, "X-Purpose-Of-Use": purpose, "X-Break-Glass-Reason": reason} {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		s.handler.ServeHTTP(w, req)
		resp := w.Result()
		switch {
		case resp.StatusCode >= 500:
			t.Fatalf("%q %q %q: %d", authz, purpose, reason, resp.StatusCode)
		case resp.StatusCode == http.StatusOK && !carries(authz, valid):
			t.Fatalf("served without the valid token: %q", authz)
		}
	})
}

// carries reports whether an Authorization header holds the bearer token
// (the scheme is case-insensitive, RFC 7235).
func carries(authz, token string) bool {
	scheme, tok, _ := strings.Cut(authz, " ")
	return strings.EqualFold(scheme, "Bearer") && strings.TrimSpace(tok) == token
}
