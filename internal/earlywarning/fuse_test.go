package earlywarning

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var day0 = time.Date(2025, 3, 3, 0, 0, 0, 0, cst)

// sig is a signal of source src in township area on day d (days after day0).
func sig(src Source, syn Syndrome, area string, d int, high bool) Signal {
	return Signal{Key: Key{src, syn, area}, Day: day0.AddDate(0, 0, d), Observed: 5, Expected: 2, Bound: 3, High: high}
}

// describe renders events as "area/syndrome@startDay:src+src…" for comparison.
func describe(events []Event) []string {
	var out []string
	for _, e := range events {
		var srcs []string
		for _, s := range e.Signals {
			srcs = append(srcs, string(s.Source)+"@"+strconv.Itoa(int(s.Day.Sub(day0).Hours()/24)))
		}
		out = append(out, e.Area+"/"+string(e.Syndrome)+"@"+strconv.Itoa(int(e.Start.Sub(day0).Hours()/24))+":"+strings.Join(srcs, ","))
	}
	return out
}

func TestFuse(t *testing.T) {
	two := Rule{Name: "two", MinSources: 2, WindowDays: 3}
	twoOrHigh := Rule{Name: "two-or-high", MinSources: 2, WindowDays: 3, HighAlone: true}
	one := Rule{Name: "diagnosis", MinSources: 1, WindowDays: 1, Sources: []Source{Diagnosis}}
	cases := []struct {
		name    string
		rule    Rule
		signals []Signal
		want    []string
	}{
		{"one source is not enough", two,
			[]Signal{sig(Diagnosis, ILI, "A", 0, false), sig(Diagnosis, ILI, "A", 1, false)}, nil},
		{"two sources within three days", two,
			[]Signal{sig(Pharmacy, ILI, "A", 0, false), sig(Diagnosis, ILI, "A", 2, false)},
			[]string{"A/ili@2:pharmacy@0,diagnosis@2"}},
		{"two sources four days apart", two,
			[]Signal{sig(Pharmacy, ILI, "A", 0, false), sig(Diagnosis, ILI, "A", 3, false)}, nil},
		{"different townships do not corroborate", two,
			[]Signal{sig(Pharmacy, ILI, "A", 0, false), sig(Diagnosis, ILI, "B", 1, false)}, nil},
		{"different syndromes do not corroborate", two,
			[]Signal{sig(Pharmacy, ILI, "A", 0, false), sig(Diagnosis, Diarrhoea, "A", 1, false)}, nil},
		{"later signals join the open event", two,
			[]Signal{sig(School, ILI, "A", 0, false), sig(Lab, ILI, "A", 1, false), sig(Lab, ILI, "A", 6, false), sig(Diagnosis, ILI, "A", 13, false)},
			[]string{"A/ili@1:school@0,lab@1,lab@6,diagnosis@13"}},
		{"after seven quiet days the rule must hold again", two,
			[]Signal{sig(School, ILI, "A", 0, false), sig(Lab, ILI, "A", 1, false), sig(Lab, ILI, "A", 9, false),
				sig(Lab, ILI, "A", 20, false), sig(Pharmacy, ILI, "A", 21, false)},
			[]string{"A/ili@1:school@0,lab@1", "A/ili@21:lab@20,pharmacy@21"}},
		{"a high signal alone", twoOrHigh,
			[]Signal{sig(Lab, Diarrhoea, "B", 4, true)}, []string{"B/diarrhoea@4:lab@4"}},
		{"a high signal alone does not count without HighAlone", two,
			[]Signal{sig(Lab, Diarrhoea, "B", 4, true)}, nil},
		{"single-source rule ignores other sources", one,
			[]Signal{sig(Pharmacy, ILI, "A", 0, false), sig(Diagnosis, HFMD, "C", 2, false)}, []string{"C/hfmd@2:diagnosis@2"}},
		{"events ordered by start, township", two,
			[]Signal{sig(Lab, HFMD, "B", 5, false), sig(School, HFMD, "B", 5, false), sig(Lab, ILI, "A", 5, false),
				sig(Diagnosis, ILI, "A", 6, false), sig(Lab, ILI, "C", 1, false), sig(Pharmacy, ILI, "C", 1, false)},
			[]string{"C/ili@1:lab@1,pharmacy@1", "B/hfmd@5:lab@5,school@5", "A/ili@6:lab@5,diagnosis@6"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := describe(Fuse(c.signals, c.rule))
			if !slices.Equal(got, c.want) {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestEventSources(t *testing.T) {
	e := Event{Signals: []Signal{sig(Lab, ILI, "A", 0, false), sig(School, ILI, "A", 1, false), sig(Lab, ILI, "A", 2, false)}}
	if got := e.Sources(); !slices.Equal(got, []Source{Lab, School}) {
		t.Errorf("Sources = %v", got)
	}
}

func TestScore(t *testing.T) {
	ob := Outbreak{ID: "ob", Syndrome: ILI, Areas: []string{"A", "B"}, Start: day0.AddDate(0, 0, 10), End: day0.AddDate(0, 0, 23)}
	cases := []struct {
		name      string
		events    []Event
		detected  bool
		delay     int
		falseOnes int
	}{
		{"no events", nil, false, 0, 0},
		{"event during the outbreak", []Event{{Area: "B", Syndrome: ILI, Start: day0.AddDate(0, 0, 13),
			Signals: []Signal{sig(Lab, ILI, "B", 12, false), sig(Diagnosis, ILI, "B", 13, false)}}}, true, 3, 0},
		{"earliest of two", []Event{
			{Area: "A", Syndrome: ILI, Start: day0.AddDate(0, 0, 16), Signals: []Signal{sig(Lab, ILI, "A", 16, false)}},
			{Area: "B", Syndrome: ILI, Start: day0.AddDate(0, 0, 12), Signals: []Signal{sig(Lab, ILI, "B", 12, false)}}}, true, 2, 0},
		{"an open event the outbreak's signals join", []Event{{Area: "A", Syndrome: ILI, Start: day0,
			Signals: []Signal{sig(Lab, ILI, "A", 0, false), sig(Lab, ILI, "A", 5, false), sig(Lab, ILI, "A", 11, false)}}}, true, 1, 0},
		{"within the grace days after the end", []Event{{Area: "A", Syndrome: ILI, Start: day0.AddDate(0, 0, 26),
			Signals: []Signal{sig(Lab, ILI, "A", 26, false)}}}, true, 16, 0},
		{"too late", []Event{{Area: "A", Syndrome: ILI, Start: day0.AddDate(0, 0, 27),
			Signals: []Signal{sig(Lab, ILI, "A", 27, false)}}}, false, 0, 1},
		{"wrong syndrome, other township, before", []Event{
			{Area: "A", Syndrome: Diarrhoea, Start: day0.AddDate(0, 0, 12), Signals: []Signal{sig(Lab, Diarrhoea, "A", 12, false)}},
			{Area: "C", Syndrome: ILI, Start: day0.AddDate(0, 0, 12), Signals: []Signal{sig(Lab, ILI, "C", 12, false)}},
			{Area: "A", Syndrome: ILI, Start: day0, Signals: []Signal{sig(Lab, ILI, "A", 0, false)}}}, false, 0, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dets, unmatched := Score(c.events, []Outbreak{ob})
			d := dets[0]
			if d.Detected != c.detected || d.Delay != c.delay || len(unmatched) != c.falseOnes {
				t.Errorf("detected %v delay %d false %d, want %v %d %d", d.Detected, d.Delay, len(unmatched), c.detected, c.delay, c.falseOnes)
			}
		})
	}
}

func TestSchoolDay(t *testing.T) {
	cases := map[string]bool{
		"2025-03-03": true,  // Monday
		"2025-03-08": false, // Saturday
		"2025-01-01": false, // New Year
		"2025-01-17": true,
		"2025-01-20": false, // winter holiday
		"2025-02-24": true,
		"2025-05-02": false,
		"2025-07-09": true,
		"2025-07-10": false, // summer holiday
		"2025-09-01": true,
		"2025-10-07": false,
		"2025-10-08": true,
	}
	for d, want := range cases {
		day, _ := time.ParseInLocation(time.DateOnly, d, cst)
		if got := SchoolDay(day); got != want {
			t.Errorf("SchoolDay(%s) = %v, want %v", d, got, want)
		}
	}
}
