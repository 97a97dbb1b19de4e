package server

import (
	"net/url"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/store"
)

func TestDateRange(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		in        string
		low, high string
		wantErr   bool
	}{
		{in: "2024", low: "2023-12-31T16:00:00Z", high: "2024-12-31T16:00:00Z"},
		{in: "2024-02", low: "2024-01-31T16:00:00Z", high: "2024-02-29T16:00:00Z"},
		{in: "2024-02-29", low: "2024-02-28T16:00:00Z", high: "2024-02-29T16:00:00Z"},
		{in: "2024-03-01T10:00Z", low: "2024-03-01T10:00:00Z", high: "2024-03-01T10:01:00Z"},
		{in: "2024-03-01T10:00:05+08:00", low: "2024-03-01T02:00:05Z", high: "2024-03-01T02:00:06Z"},
		{in: "2024-03-01T10:00:05.25Z", low: "2024-03-01T10:00:05.25Z", high: "2024-03-01T10:00:05.26Z"},
		{in: "2023-02-29", wantErr: true},
		{in: "2024-13", wantErr: true},
		{in: "2024-01-01T25:00Z", wantErr: true},
		{in: "yesterday", wantErr: true},
		{in: "20240101", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			low, high, err := dateRange(tt.in, cst)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !low.Equal(utc(tt.low)) || !high.Equal(utc(tt.high)) {
				t.Errorf("[%s, %s), want [%s, %s)", low.Format(time.RFC3339Nano), high.Format(time.RFC3339Nano), tt.low, tt.high)
			}
		})
	}
}

func TestParseDateFilterPrefixes(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range []string{"eq", "ne", "lt", "gt", "le", "ge", "sa", "eb"} {
		f, err := parseDateFilter(p+"2025-06-01", time.UTC, now)
		if err != nil || len(f) != 1 || f[0].Prefix != p {
			t.Errorf("%s: %v %v", p, f, err)
		}
	}
	// ap widens the range by a tenth of the distance to now (at least a day) and
	// becomes eq.
	f, err := parseDateFilter("ap2025-01-01", time.UTC, now)
	if err != nil || f[0].Prefix != "eq" {
		t.Fatalf("ap: %v %v", f, err)
	}
	if got := f[0].High.Sub(f[0].Low); got <= 24*time.Hour+2*36*24*time.Hour {
		t.Errorf("ap range %s is not widened", got)
	}
	if _, err := parseDateFilter("xx2025", time.UTC, now); err == nil {
		t.Errorf("unknown prefix accepted")
	}
}

func TestParseSearch(t *testing.T) {
	defs, err := loadDefs()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{defs: defs, cfg: Config{Location: time.UTC}}
	tests := []struct {
		query       string
		strict      bool
		wantErr     bool
		wantIgnored int
		check       func(q store.Query) bool
	}{
		{query: "_id=a,b&_id=b,c", check: func(q store.Query) bool { return len(q.IDs) == 1 && q.IDs[0] == "b" }},
		{query: "_id=a&_id=c", check: func(q store.Query) bool { return q.IDs != nil && len(q.IDs) == 0 }},
		{query: "_count=5000", check: func(q store.Query) bool { return q.Count == maxCount }},
		{query: "_count=x", wantErr: true},
		{query: "_offset=-1", wantErr: true},
		{query: "_total=none", check: func(q store.Query) bool { return !q.Total }},
		{query: "_total=maybe", wantErr: true},
		{query: "_sort=-_lastUpdated", check: func(q store.Query) bool { return q.SortUpdated == store.SortDescending }},
		{query: "_sort=name", wantIgnored: 1},
		{query: "_sort=name", strict: true, wantErr: true},
		{query: "name=王&gender=male", wantIgnored: 2},
		{query: "_id=bad$id", wantErr: true},
		{query: "_lastUpdated=ge2024&_lastUpdated=lt2025", check: func(q store.Query) bool { return len(q.LastUpdated) == 2 }},
		{query: "_summary=count", check: func(q store.Query) bool { return q.Count == 0 && q.Total }},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			values, _ := url.ParseQuery(tt.query)
			q, ignored, err := s.parseSearch([]string{"Patient"}, values, tt.strict)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error")
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
	q, _, err := s.parseSearch(nil, values, false)
	if err != nil || len(q.Types) != 2 {
		t.Errorf("_type: %v %v", q.Types, err)
	}
	values, _ = url.ParseQuery("_type=Martian")
	if _, _, err := s.parseSearch(nil, values, false); err == nil {
		t.Errorf("_type with an unknown type accepted")
	}
}

func FuzzParseSearch(f *testing.F) {
	defs, err := loadDefs()
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{defs: defs, cfg: Config{Location: time.UTC}}
	f.Add("_id=a,b&_lastUpdated=ap2024-01-01T10:00:00.123+08:00&_count=3")
	f.Add("_lastUpdated=2024-02&_sort=-_lastUpdated&_total=none&_summary=count")
	f.Fuzz(func(t *testing.T, query string) {
		values, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		for _, strict := range []bool{false, true} {
			q, _, err := s.parseSearch([]string{"Patient"}, values, strict)
			if err != nil {
				continue
			}
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
