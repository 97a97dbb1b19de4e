package server

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/store/storetest"
)

func testServer(t testing.TB) *Server {
	defs, err := loadDefs()
	if err != nil {
		t.Fatal(err)
	}
	ix := storetest.Indexer(t)
	return &Server{defs: defs, cfg: Config{Location: time.UTC}, indexer: ix,
		parser: search.NewParser(defs, search.NormalizeString).WithLocation(time.UTC).WithParams(ix.Param)}
}

func TestParseSearch(t *testing.T) {
	s := testServer(t)
	const base = "http://hip.test/fhir"
	tests := []struct {
		query       string
		types       []string
		lenient     bool
		wantErr     bool
		wantIgnored int
		check       func(q *search.Query) bool
	}{
		{query: "_count=5000", check: func(q *search.Query) bool { return q.Count == search.MaxCount }},
		{query: "_count=x", wantErr: true},
		{query: "_offset=-1", wantErr: true},
		{query: "_total=maybe", wantErr: true},
		{query: "_sort=name", check: func(q *search.Query) bool { return len(q.Sort) == 1 }},
		{query: "colour=blue", wantErr: true},
		{query: "colour=blue", lenient: true, wantIgnored: 1},
		{query: "colour=blue&name=王", lenient: true, wantIgnored: 1, check: func(q *search.Query) bool { return len(q.Clauses) == 1 }},
		{query: "_id=bad$id", wantErr: true},
		{query: "_id=" + strings.Repeat("a,", search.MaxCount) + "a", wantErr: true},
		{query: "name-pinyin=zs", check: func(q *search.Query) bool { return q.Clauses[0].Conditions[0].Param.URL == search.NamePinyinURL }},
		{query: "general-practitioner=" + base + "/Practitioner/p1", check: func(q *search.Query) bool {
			r := q.Clauses[0].Conditions[0].Reference
			return r.URL == "" && r.Type == "Practitioner" && r.ID == "p1"
		}},
		{query: "general-practitioner=http://elsewhere.test/fhir/Practitioner/p1", check: func(q *search.Query) bool {
			return q.Clauses[0].Conditions[0].Reference.URL == "http://elsewhere.test/fhir/Practitioner/p1"
		}},
		{query: "_type=Patient,Observation", types: []string{}, check: func(q *search.Query) bool { return len(q.Types) == 2 }},
		{query: "_type=Martian", types: []string{}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			values, _ := url.ParseQuery(tt.query)
			types := []string{"Patient"}
			if tt.types != nil {
				types = nil
			}
			q, ignored, err := s.parseSearch(types, values, tt.lenient, base)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error")
				}
				if fhir.ErrorCode(err) != fhir.Invalid {
					t.Errorf("error code %s, want invalid", fhir.ErrorCode(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ignored) != tt.wantIgnored {
				t.Errorf("ignored %v, want %d", ignored, tt.wantIgnored)
			}
			if tt.check != nil && !tt.check(q) {
				t.Errorf("query %+v", q)
			}
		})
	}
}

func FuzzParseSearch(f *testing.F) {
	s := testServer(f)
	f.Add("_id=a,b&_lastUpdated=ap2024-01-01T10:00:00.123+08:00&_count=3")
	f.Add("_lastUpdated=2024-02&_sort=-_lastUpdated&_total=none&_summary=count")
	f.Add("name:exact=王&subject:Patient.name=x&_has:Observation:patient:code=1")
	f.Fuzz(func(t *testing.T, query string) {
		values, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		for _, lenient := range []bool{false, true} {
			q, _, err := s.parseSearch([]string{"Patient"}, values, lenient, "http://hip.test/fhir")
			if err != nil {
				if fhir.ErrorCode(err) != fhir.Invalid {
					t.Fatalf("%q: error code %s", query, fhir.ErrorCode(err))
				}
				continue
			}
			q.Encode()
		}
	})
}

// The server's own CapabilityStatement is a valid R4 resource.
func TestCapabilityStatementValid(t *testing.T) {
	ts := newTestServer(t, backends[0].open(t), 0)
	status, _, body := call(t, "GET", ts.URL+"/fhir/metadata", nil, nil)
	if status != 200 {
		t.Fatalf("metadata: %d", status)
	}
	defs, _ := loadDefs()
	res, err := fhir.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.New(defs).Resource(res); err != nil {
		t.Errorf("CapabilityStatement is invalid: %v", fhir.AsError(err).Issues)
	}
	rest := res["rest"].([]any)[0].(map[string]any)
	if got, want := len(rest["resource"].([]any)), len(defs.ResourceTypes()); got != want {
		t.Errorf("%d resource types listed, the definitions know %d", got, want)
	}
}
