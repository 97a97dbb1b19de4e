package earlywarning

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

func resource(t *testing.T, s string) fhir.Resource {
	t.Helper()
	var r fhir.Resource
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func patient(id, village, birth string) string {
	addr := `{"text":"somewhere"}`
	if village != "" {
		addr = `{"extension":[{"url":"` + fhir.ExtDivision + `","valueCoding":{"system":"` + fhir.SystemDivision + `","code":"` + village + `"}}]}`
	}
	return `{"resourceType":"Patient","id":"` + id + `","birthDate":"` + birth + `","address":[` + addr + `]}`
}

func condition(id, pat, code, when, status string) string {
	w := `"onsetDateTime":"` + when + `"`
	if len(when) == 10 {
		w = `"recordedDate":"` + when + `"`
	}
	vs := ""
	if status != "" {
		vs = `,"verificationStatus":{"coding":[{"code":"` + status + `"}]}`
	}
	return `{"resourceType":"Condition","id":"` + id + `","subject":{"reference":"Patient/` + pat + `"},` + w +
		`,"code":{"coding":[{"system":"` + fhir.SystemICD10 + `","code":"` + code + `"}]}` + vs + `}`
}

func TestRegister(t *testing.T) {
	reg := NewRegister()
	for _, s := range []string{
		condition("c1", "p1", "J10.100", "2025-03-04T09:00:00+08:00", ""), // before its patient
		patient("p1", "990121102203", "2015-06-01"),
		patient("p2", "990121001001", "1980-01-01"),
		patient("p3", "", "1990-01-01"),                              // no division: left out
		condition("c2", "p2", "K52.900", "2025-03-03T23:30:00Z", ""), // 07:30 CST on the 4th
		condition("c3", "p2", "A08.101", "2025-03-05", ""),           // recorded date only
		condition("c4", "p2", "J06.900", "2025-03-05T10:00:00+08:00", "refuted"),
		condition("c5", "p2", "I10.x00", "2025-03-05T10:00:00+08:00", ""), // not syndromic
		condition("c6", "p3", "J06.900", "2025-03-05T10:00:00+08:00", ""),
		condition("c7", "p9", "B08.401", "2025-03-06T10:00:00+08:00", ""), // unknown patient
		`{"resourceType":"Observation","id":"o1"}`,
	} {
		if err := reg.Add(resource(t, s)); err != nil {
			t.Fatal(err)
		}
	}
	visits, unplaced := reg.Visits()
	if unplaced != 2 {
		t.Errorf("unplaced = %d, want 2", unplaced)
	}
	var got []string
	for _, v := range visits {
		got = append(got, v.Patient+" "+v.Code+" "+string(v.Syndrome)+" "+v.Area+" "+v.Time.Format(time.DateOnly)+" "+strconv.Itoa(v.Age))
	}
	want := []string{
		"p2 K52.900 diarrhoea 990121001 2025-03-04 45",
		"p1 J10.100 ili 990121102 2025-03-04 9",
		"p2 A08.101 diarrhoea 990121001 2025-03-05 45",
	}
	if !slices.Equal(got, want) {
		t.Errorf("visits:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	pops := reg.Populations(time.Date(2025, 7, 1, 0, 0, 0, 0, cst))
	if pops["990121102"] != (Population{Residents: 1, Pupils: 1}) || pops["990121001"] != (Population{Residents: 1}) || len(pops) != 2 {
		t.Errorf("populations = %v", pops)
	}

	c := NewCounts(time.Date(2025, 3, 1, 12, 0, 0, 0, cst), 10)
	CountDiagnoses(c, visits, []string{"990121001", "990121102", "990121101"})
	if len(c.Keys()) != 9 {
		t.Errorf("%d series, want every area × syndrome: %v", len(c.Keys()), c.Keys())
	}
	if s := c.Series(Key{Diagnosis, Diarrhoea, "990121001"}); s[3] != 1 || s[4] != 1 || sum(s) != 2 {
		t.Errorf("diarrhoea series %v", s)
	}
}

func sum(x []float64) float64 {
	s := 0.0
	for _, v := range x {
		s += v
	}
	return s
}

func TestRegisterBadDate(t *testing.T) {
	reg := NewRegister()
	err := reg.Add(resource(t, condition("cx", "p1", "J06.900", "yesterday", "")))
	if err == nil || !strings.Contains(err.Error(), "Condition/cx") {
		t.Errorf("err = %v, want one naming the Condition", err)
	}
}

func TestCountsDays(t *testing.T) {
	c := NewCounts(time.Date(2025, 1, 1, 15, 0, 0, 0, cst), 365)
	cases := []struct {
		when string
		i    int
		ok   bool
	}{
		{"2025-01-01T00:00:00+08:00", 0, true},
		{"2024-12-31T16:00:00Z", 0, true}, // midnight CST
		{"2024-12-31T15:59:59Z", -1, false},
		{"2025-12-31T23:59:00+08:00", 364, true},
		{"2026-01-01T00:00:00+08:00", 365, false},
	}
	for _, cs := range cases {
		tm, _ := time.Parse(time.RFC3339, cs.when)
		if i, ok := c.DayIndex(tm); i != cs.i || ok != cs.ok {
			t.Errorf("DayIndex(%s) = %d %v, want %d %v", cs.when, i, ok, cs.i, cs.ok)
		}
	}
	k := Key{Lab, ILI, "A"}
	c.Add(k, -1, 5)
	c.Add(k, 365, 5)
	if c.Series(k) != nil {
		t.Error("adds outside the series made one")
	}
}

func TestDetect(t *testing.T) {
	start := time.Date(2025, 3, 3, 0, 0, 0, 0, cst) // a Monday, term time
	c := NewCounts(start, 70)
	quiet := []float64{8, 11, 9, 10, 12, 9, 10, 11, 8, 10}
	for _, k := range []Key{{Diagnosis, ILI, "A"}, {School, ILI, "A"}, {Pharmacy, Diarrhoea, "A"}} {
		c.Ensure(k)
		for i := range c.Days {
			c.Add(k, i, quiet[i%len(quiet)])
		}
	}
	c.Add(Key{Diagnosis, ILI, "A"}, 50, 6)  // 16 or so: above C2's bound, not the high one
	c.Add(Key{Diagnosis, ILI, "A"}, 60, 40) // far above both
	c.Add(Key{School, ILI, "A"}, 54, 40)    // a Saturday: the school source does not report
	c.Add(Key{School, ILI, "A"}, 56, 40)    // a Monday
	c.Ensure(Key{Lab, ILI, "A"})
	c.Add(Key{Lab, ILI, "A"}, 45, 2) // over a zero baseline but under MinCount
	sigs, err := Detect(c, DefaultDetectors(0.001))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sigs {
		got = append(got, s.Key.String()+" "+strconv.Itoa(int(s.Day.Sub(start).Hours()/24))+" "+strconv.FormatBool(s.High))
	}
	want := []string{"diagnosis/ili/A 50 false", "school/ili/A 56 true", "diagnosis/ili/A 60 true"}
	if !slices.Equal(got, want) {
		t.Errorf("signals %q, want %q", got, want)
	}
	for _, s := range sigs {
		if !(s.Observed > s.Bound) || math.IsNaN(s.Bound) || !(s.Expected >= 8 && s.Expected <= 12) {
			t.Errorf("signal %v: count %v, expected %v, bound %v: want a count above the bound, about 10 expected", s.Key, s.Observed, s.Expected, s.Bound)
		}
	}
	bad := DefaultDetectors(0.001)
	bad[0].Options = []string{"method=C9"}
	if _, err := Detect(c, bad); err == nil || !strings.Contains(err.Error(), "diagnosis/ili/A") {
		t.Errorf("bad options: err = %v, want one naming the series", err)
	}
}
