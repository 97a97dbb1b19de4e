package earlywarning

import (
	"math"
	"slices"
	"strconv"
	"testing"
	"time"
)

// sourceVisits are a township's syndromic visits: a steady background and
// a cluster of pupils' influenza from day 40.
func sourceVisits(start time.Time) []Visit {
	var vs []Visit
	for d := range 120 {
		for k := range 6 {
			vs = append(vs, Visit{Patient: "bg" + strconv.Itoa(d*10+k), Code: "J06.900", Syndrome: ILI, Area: "A",
				Time: start.AddDate(0, 0, d).Add(9 * time.Hour), Age: 30 + k})
		}
		if d >= 40 && d < 50 {
			for k := range 5 {
				vs = append(vs, Visit{Patient: "ob" + strconv.Itoa(d*10+k), Code: "J10.100", Syndrome: ILI, Area: "A",
					Time: start.AddDate(0, 0, d).Add(10 * time.Hour), Age: 8})
			}
		}
	}
	return vs
}

func TestSimulateDeterministic(t *testing.T) {
	start := time.Date(2025, 3, 3, 0, 0, 0, 0, cst)
	pops := map[string]Population{"A": {Residents: 10000, Pupils: 1500}, "B": {Residents: 5000, Pupils: 700}}
	run := func(seed uint64) *Counts {
		c := NewCounts(start, 120)
		DefaultSourceModel().Simulate(c, sourceVisits(start), pops, seed)
		return c
	}
	a, b, other := run(1), run(1), run(2)
	if !slices.Equal(a.Keys(), b.Keys()) || len(a.Keys()) != 16 {
		t.Fatalf("keys %v", a.Keys())
	}
	differs := false
	for _, k := range a.Keys() {
		if !slices.Equal(a.Series(k), b.Series(k)) {
			t.Errorf("%s differs between runs of one seed", k)
		}
		if !slices.Equal(a.Series(k), other.Series(k)) {
			differs = true
		}
	}
	if !differs {
		t.Error("another seed gave the same counts")
	}
	// The background: 0.3 purchases per 1,000 residents a day in B, which
	// has no visits; absences on school days only.
	mean := sum(a.Series(Key{Pharmacy, ILI, "B"})) / 120
	if math.Abs(mean-1.5) > 0.35 {
		t.Errorf("pharmacy background in B: %.2f a day, want about 1.5", mean)
	}
	for i, v := range a.Series(Key{School, ILI, "A"}) {
		if !SchoolDay(a.Day(i)) && v != 0 {
			t.Errorf("school absences on %s, not a school day", a.Day(i).Format(time.DateOnly))
		}
	}
	if a.Series(Key{Pharmacy, HFMD, "A"}) != nil {
		t.Error("a pharmacy series for HFMD, which has no over-the-counter medicine")
	}
}

// TestSimulateOutbreakShows checks that the cluster of pupils' influenza
// shows in every source, the lab after the visits, pharmacy and school
// from before them.
func TestSimulateOutbreakShows(t *testing.T) {
	start := time.Date(2025, 3, 3, 0, 0, 0, 0, cst)
	m := DefaultSourceModel()
	m.PharmacyBackground, m.SchoolBackground, m.OtherTested = 0, 0, 0
	c := NewCounts(start, 120)
	visits := sourceVisits(start)
	m.Simulate(c, visits, map[string]Population{"A": {Residents: 10000, Pupils: 1500}}, 7)
	window := func(k Key, from, to int) float64 { return sum(c.Series(k)[from:to]) }
	if lab := c.Series(Key{Lab, ILI, "A"}); sum(lab) != window(Key{Lab, ILI, "A"}, 41, 52) || sum(lab) < 15 {
		t.Errorf("lab positives %v: want about 21 (50 × 0.5 × 0.85), all 1–2 days after the visits", sum(lab))
	}
	if school := window(Key{School, ILI, "A"}, 0, 120); school == 0 || window(Key{School, ILI, "A"}, 34, 55) != school {
		t.Errorf("school absences %v, want all in days 34–54 (onsets up to 3 days before the visits, the undiagnosed up to 3 days around them, off school up to 3 days)", school)
	}
	before := window(Key{Pharmacy, ILI, "A"}, 30, 40) / 10
	during := window(Key{Pharmacy, ILI, "A"}, 40, 50) / 10
	if !(during > before+2) {
		t.Errorf("pharmacy sales %.1f a day during the cluster, %.1f before", during, before)
	}
	if first := slices.IndexFunc(c.Series(Key{School, ILI, "A"}), func(v float64) bool { return v > 0 }); first > 40 || first < 34 {
		t.Errorf("first absence on day %d, want before the first visit (day 40)", first)
	}
}
