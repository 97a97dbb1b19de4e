package server

import (
	"net/url"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/store"
)

func TestParseSearch(t *testing.T) {
	defs, err := loadDefs()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{defs: defs, cfg: Config{Location: time.UTC}, parser: search.NewParser(defs, search.NormalizeString).WithLocation(time.UTC)}
	tests := []struct {
		query       string
		lenient     bool
		wantErr     bool
		wantIgnored int
		check       func(q store.Query) bool
	}{
		{query: "_id=a,b&_id=b,c", check: func(q store.Query) bool { return len(q.IDs) == 1 && q.IDs[0] == "b" }},
		{query: "_id=a&_id=c", check: func(q store.Query) bool { return q.IDs != nil && len(q.IDs) == 0 }},
		{query: "_count=5000", check: func(q store.Query) bool { return q.Count == search.MaxCount }},
		{query: "_count=x", wantErr: true},
		{query: "_offset=-1", wantErr: true},
		{query: "_total=none", check: func(q store.Query) bool { return !q.Total }},
		{query: "_total=maybe", wantErr: true},
		{query: "_sort=-_lastUpdated", check: func(q store.Query) bool { return q.SortUpdated == store.SortDescending }},
		{query: "_sort=name", wantErr: true},
		{query: "_sort=name", lenient: true, wantIgnored: 1},
		{query: "name=王&gender=male", wantErr: true},
		{query: "name=王&gender=male", lenient: true, wantIgnored: 2},
		{query: "colour=blue", wantErr: true},
		{query: "colour=blue", lenient: true, wantIgnored: 1},
		{query: "_id=bad$id", wantErr: true},
		{query: "_lastUpdated=ge2024&_lastUpdated=lt2025", check: func(q store.Query) bool {
			return len(q.LastUpdated) == 2 && q.LastUpdated[0].Prefix == "ge" && q.LastUpdated[0].Low.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
		}},
		{query: "_lastUpdated=ap2024-06-01", check: func(q store.Query) bool {
			f := q.LastUpdated[0]
			return f.Prefix == "eq" && f.High.Sub(f.Low) > 48*time.Hour
		}},
		{query: "_lastUpdated=gt20000", wantErr: true},
		{query: "_summary=count", check: func(q store.Query) bool { return q.Count == 0 && q.Total }},
		{query: "_include=Patient:organization", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			values, _ := url.ParseQuery(tt.query)
			q, _, ignored, err := s.parseSearch([]string{"Patient"}, values, tt.lenient)
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
	values, _ := url.ParseQuery("_type=Patient,Observation")
	q, _, _, err := s.parseSearch(nil, values, false)
	if err != nil || len(q.Types) != 2 {
		t.Errorf("_type: %v %v", q.Types, err)
	}
	values, _ = url.ParseQuery("_type=Martian")
	if _, _, _, err := s.parseSearch(nil, values, false); err == nil {
		t.Errorf("_type with an unknown type accepted")
	}
}

func FuzzParseSearch(f *testing.F) {
	defs, err := loadDefs()
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{defs: defs, cfg: Config{Location: time.UTC}, parser: search.NewParser(defs, search.NormalizeString).WithLocation(time.UTC)}
	f.Add("_id=a,b&_lastUpdated=ap2024-01-01T10:00:00.123+08:00&_count=3")
	f.Add("_lastUpdated=2024-02&_sort=-_lastUpdated&_total=none&_summary=count")
	f.Add("name:exact=王&subject:Patient.name=x&_has:Observation:patient:code=1")
	f.Fuzz(func(t *testing.T, query string) {
		values, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		for _, lenient := range []bool{false, true} {
			q, run, _, err := s.parseSearch([]string{"Patient"}, values, lenient)
			if err != nil {
				if fhir.ErrorCode(err) != fhir.Invalid {
					t.Fatalf("%q: error code %s", query, fhir.ErrorCode(err))
				}
				continue
			}
			run.Encode()
			for _, d := range q.LastUpdated {
				if !d.Low.Before(d.High) {
					t.Fatalf("empty date range %v for %q", d, query)
				}
			}
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
