package surveillance

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestNoufailyScenarios checks the 42 scenarios' order and parameters
// against Noufaily et al.'s Table I.
func TestNoufailyScenarios(t *testing.T) {
	t.Parallel()
	all := NoufailyScenarios()
	if len(all) != 42 {
		t.Fatalf("%d scenarios, want 42", len(all))
	}
	for i, sc := range all {
		if sc.Number != i+1 || len(sc.Cos) != sc.Harmonics || len(sc.Sin) != sc.Harmonics || sc.Trend != (sc.Beta != 0) {
			t.Errorf("scenario %d: %+v", i+1, sc)
		}
	}
	tests := []struct {
		number, set int
		label       string
		want        Scenario
	}{
		{1, 1, "set 1, no trend, m=0", Scenario{Theta: 0.1, Phi: 1.5}},
		{6, 1, "set 1, trend, m=2", Scenario{Theta: 0.1, Beta: 0.0025, Cos: []float64{0.6, 0.6}, Sin: []float64{0.6, 0.6}, Phi: 1.5}},
		{8, 2, "set 2, no trend, m=1", Scenario{Theta: -2, Cos: []float64{0.1}, Sin: []float64{0.3}, Phi: 2}},
		{16, 3, "set 3, trend, m=0", Scenario{Theta: 1.5, Beta: 0.003, Phi: 1}},
		{21, 4, "set 4, no trend, m=2", Scenario{Theta: 0.5, Cos: []float64{0.5, 0.5}, Sin: []float64{0.5, 0.5}, Phi: 5}},
		{29, 5, "set 5, trend, m=1", Scenario{Theta: 2.5, Beta: 0.001, Cos: []float64{1}, Sin: []float64{0.1}, Phi: 3}},
		{33, 6, "set 6, no trend, m=2", Scenario{Theta: 3.75, Cos: []float64{0.1, 0.1}, Sin: []float64{-0.1, -0.1}, Phi: 1.1}},
		{42, 7, "set 7, trend, m=2", Scenario{Theta: 5, Beta: 0.0001, Cos: []float64{0.05, 0.05}, Sin: []float64{0.01, 0.01}, Phi: 1.2}},
	}
	for _, tc := range tests {
		sc := all[tc.number-1]
		if sc.Set != tc.set || sc.Label() != tc.label || !reflect.DeepEqual(sc.Scenario, tc.want) {
			t.Errorf("scenario %d = set %d %q %+v, want set %d %q %+v", tc.number, sc.Set, sc.Label(), sc.Scenario, tc.set, tc.label, tc.want)
		}
	}
}

func TestParseScenarios(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []int
		err  string
	}{
		{in: "1-42", want: func() []int {
			var all []int
			for n := 1; n <= 42; n++ {
				all = append(all, n)
			}
			return all
		}()},
		{in: "1,9,17", want: []int{1, 9, 17}},
		{in: " 25 , 3-5,41", want: []int{25, 3, 4, 5, 41}},
		{in: "7-7", want: []int{7}},
		{in: "", err: "not a number"},
		{in: "1,", err: "not a number"},
		{in: "0", err: "not within 1-42"},
		{in: "43", err: "not within 1-42"},
		{in: "5-3", err: "not within 1-42"},
		{in: "1-2-3", err: "not a number"},
		{in: "-3", err: "not a number"},
		{in: "1,2,1-3", err: "given twice"},
		{in: "x", err: "not a number"},
	}
	for _, tc := range tests {
		got, err := ParseScenarios(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseScenarios(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseScenarios(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatScenarios(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   []int
		want string
	}{
		{nil, ""},
		{[]int{5}, "5"},
		{[]int{1, 2, 3, 9, 17, 18}, "1-3,9,17-18"},
		{[]int{3, 2, 1}, "3,2,1"},
	} {
		if got := FormatScenarios(tc.in); got != tc.want {
			t.Errorf("FormatScenarios(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzParseScenarios: an accepted list holds each scenario of 1…42 at most
// once, and written back by FormatScenarios it parses to itself.
func FuzzParseScenarios(f *testing.F) {
	for _, s := range []string{"1-42", "1,9,17", " 3-5 ,41", "5-3", "1,,2", "-", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseScenarios(s)
		if err != nil {
			return
		}
		for i, n := range got {
			if n < 1 || n > 42 || slices.Contains(got[:i], n) {
				t.Fatalf("ParseScenarios(%q) = %v", s, got)
			}
		}
		again, err := ParseScenarios(FormatScenarios(got))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("ParseScenarios(%q) = %v, written back as %q: %v, %v", s, got, FormatScenarios(got), again, err)
		}
	})
}

// TestDelayDistribution checks the delays of outbreak cases against R's
// lognormDiscrete(Dmax = 20, logmu = 0, sigma = 0.5): its probabilities
// and, over many draws, the empirical distribution.
func TestDelayDistribution(t *testing.T) {
	t.Parallel()
	p := make([]float64, maxDelay)
	prev := 0.0
	for d, c := range delayCDF {
		p[d] = c - prev
		prev = c
	}
	// R: diff(plnorm(0:20, 0, 0.5)) / plnorm(20, 0, 0.5)
	for d, want := range []float64{0.5000000005198992, 0.4171714814320757, 0.06882631349931896, 0.011221587723303695} {
		if math.Abs(p[d]-want) > 1e-12 {
			t.Errorf("P(%d) = %.17g, want %.17g", d, p[d], want)
		}
	}
	const n = 400000
	var o outbreak
	o.add(newTestRand(3), n) // Start 0: no case is dropped
	if o.Dropped != 0 || len(o.Cases) > maxDelay {
		t.Fatalf("%d dropped, %d delays", o.Dropped, len(o.Cases))
	}
	for d := range maxDelay {
		got := 0.0
		if d < len(o.Cases) {
			got = float64(o.Cases[d]) / n
		}
		// Four binomial standard errors, and at least 1e-4 for the tail.
		if tol := max(4*math.Sqrt(p[d]*(1-p[d])/n), 1e-4); math.Abs(got-p[d]) > tol {
			t.Errorf("delay %d: share %.5f, want %.5f ± %.5f", d, got, p[d], tol)
		}
	}
}

// TestReplicate checks the injected outbreaks: starts in their periods,
// baseline outbreaks' sizes drawn from {2, 3, 5, 10}, current outbreaks
// nested in k, and the mean number of cases k·SD of the baseline count at
// the start week.
func TestReplicate(t *testing.T) {
	t.Parallel()
	all := NoufailyScenarios()
	for _, number := range []int{5, 30, 41} {
		sc := all[number-1]
		t.Run(sc.Label(), func(t *testing.T) {
			t.Parallel()
			var cases, expected [MaxK]float64
			for rep := range 2000 {
				x := simulateReplicate(11, sc, rep)
				var starts []int
				for _, o := range x.Baseline {
					if o.Start < BaselineFrom || o.Start >= CurrentFrom || slices.Contains(starts, o.Start) || !slices.Contains(baselineOutbreakK[:], o.K) {
						t.Fatalf("replicate %d: baseline outbreak %+v (starts %v)", rep, o, starts)
					}
					starts = append(starts, o.Start)
				}
				for k := 1; k <= MaxK; k++ {
					o := x.Current[k-1]
					if o.Start < CurrentFrom || o.Start > EvalWeeks || o.Start != x.Current[0].Start || o.K != k || o.Start+len(o.Cases)-1 > EvalWeeks {
						t.Fatalf("replicate %d: current outbreak %+v", rep, o)
					}
					n := o.Dropped
					for d, c := range o.Cases {
						n += c
						if k > 1 && c < at(x.Current[k-2].Cases, d) {
							t.Fatalf("replicate %d: outbreak %d has fewer cases in week %d than outbreak %d", rep, k, o.Start+d, k-1)
						}
					}
					cases[k-1] += float64(n)
					expected[k-1] += float64(k) * math.Sqrt(sc.Phi*sc.Mean(o.Start))
					s := x.series(k)
					for w, c := range x.currentCases(k) {
						if s.Observed[CurrentFrom-1+w] != x.Null[CurrentFrom-1+w]+float64(c) {
							t.Fatalf("replicate %d, k=%d: week %d is %v, null %v + %d cases", rep, k, CurrentFrom+w, s.Observed[CurrentFrom-1+w], x.Null[CurrentFrom-1+w], c)
						}
					}
				}
			}
			for k := range MaxK {
				// The sum of 2000 Poisson counts: a relative error of
				// 4/sqrt(total) is four standard errors.
				if got, want := cases[k], expected[k]; math.Abs(got-want) > 4*math.Sqrt(want) {
					t.Errorf("k=%d: %v cases in all, want %v", k+1, got, want)
				}
			}
		})
	}
	// The same seed gives the same replicate; another replicate differs.
	a, b, c := simulateReplicate(1, all[0], 0), simulateReplicate(1, all[0], 0), simulateReplicate(1, all[0], 1)
	if !reflect.DeepEqual(a, b) || reflect.DeepEqual(a, c) {
		t.Error("replicates are not determined by seed, scenario and replicate")
	}
}

// newTestRand is a fixed random stream.
func newTestRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

func at(s []int, i int) int {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// TestTally scores hand-made alarm vectors of known FPR, POD and
// timeliness.
func TestTally(t *testing.T) {
	t.Parallel()
	const na, no, yes = AlarmNA, NoAlarm, Alarm
	var tl Tally
	tl.AddNull([]int8{no, yes, na, no, yes})    // 2 alarms in 4 weeks
	tl.AddNull([]int8{no, no, no, no, na, yes}) // 1 in 5
	if got := tl.FPR(); got != 3.0/9 {
		t.Errorf("FPR = %v, want 3/9", got)
	}
	outbreaks := []struct {
		cases  []int
		alarms []int8
		// detected, in the first week, timeliness
		detected, first bool
		late            float64
	}{
		// Weeks 1–4 of the outbreak (positions 1…4), first alarm in week 3.
		{[]int{0, 2, 1, 3, 1, 0}, []int8{yes, no, na, yes, yes, yes}, true, false, 2.0 / 4},
		// Alarm in the first week.
		{[]int{0, 0, 5, 0, 0, 0}, []int8{no, no, yes, no, no, no}, true, true, 0},
		// Alarms only outside the outbreak's weeks, and in a week without cases
		// between two with: not detected.
		{[]int{3, 0, 1, 0, 0, 0}, []int8{na, yes, no, yes, yes, no}, false, false, 1},
		// No case: left out.
		{[]int{0, 0, 0, 0, 0, 0}, []int8{yes, yes, yes, yes, yes, yes}, false, false, 0},
	}
	for _, o := range outbreaks {
		tl.AddOutbreak(4, o.cases, o.alarms)
	}
	want := OutbreakTally{Empty: 1, N: 3, Detected: 2, FirstWeek: 1, Late: 0.5 + 0 + 1}
	if got := tl.Outbreak[3]; got != want {
		t.Fatalf("tally %+v, want %+v", got, want)
	}
	if got := tl.POD(4); got != 2.0/3 {
		t.Errorf("POD = %v, want 2/3", got)
	}
	if got := tl.PODFirstWeek(4); got != 1.0/3 {
		t.Errorf("POD first week = %v, want 1/3", got)
	}
	if got := tl.Timeliness(4); got != 1.5/3 {
		t.Errorf("timeliness = %v, want 0.5", got)
	}
	if !IsNA(tl.POD(1)) || !IsNA(tl.Timeliness(1)) || !IsNA(new(Tally).FPR()) {
		t.Error("measures without outbreaks or weeks should be NaN")
	}
	var sum Tally
	sum.Add(&tl)
	sum.Add(&tl)
	if sum.NullAlarms != 6 || sum.NullWeeks != 18 || sum.Outbreak[3].Late != 3 || sum.FPR() != tl.FPR() {
		t.Errorf("sum of two tallies %+v", sum)
	}
	e := &Evaluation{Tallies: [][]Tally{{tl}, {Tally{}}, {sum}}}
	if got := e.Mean(0, func(t *Tally) float64 { return t.POD(4) }); got != 2.0/3 {
		t.Errorf("mean POD over scenarios, one without outbreaks = %v, want 2/3", got)
	}
}

// TestEvaluate runs every algorithm on a small design: each evaluates the
// current period, the results are the same for the same seed and any
// number of workers, and another seed changes them.
func TestEvaluate(t *testing.T) {
	t.Parallel()
	cfg := EvalConfig{Scenarios: []int{17, 28}, Replicates: 3, Seed: 5, Workers: 1}
	calls := 0
	cfg.Progress = func(done, total int) {
		calls++
		if done != calls || total != 6 {
			t.Errorf("progress %d/%d at call %d", done, total, calls)
		}
	}
	one, err := Evaluate(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 6 || len(one.Tallies) != 2 || len(one.Algorithms) != len(EvalAlgorithms) {
		t.Fatalf("%d progress calls, %d scenarios, %d algorithms", calls, len(one.Tallies), len(one.Algorithms))
	}
	if want := 2 * 3 * (MaxK + 1) * len(EvalAlgorithms) * CurrentWeeks; one.Points != want {
		t.Errorf("%d points evaluated, want %d", one.Points, want)
	}
	for i, row := range one.Tallies {
		for j, tl := range row {
			n := 0
			for _, o := range tl.Outbreak {
				n += o.N + o.Empty
			}
			if tl.NullWeeks == 0 || n != 3*MaxK {
				t.Errorf("scenario %d, %s: %d null weeks, %d outbreaks", one.Scenarios[i].Number, one.Algorithms[j].Name(), tl.NullWeeks, n)
			}
		}
	}
	cfg.Progress = nil
	for _, workers := range []int{1, 3} {
		cfg.Workers = workers
		again, err := Evaluate(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(again.Tallies, one.Tallies) {
			t.Errorf("%d workers: other tallies", workers)
		}
	}
	cfg.Seed = 6
	other, err := Evaluate(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(other.Tallies, one.Tallies) {
		t.Error("seeds 5 and 6 give the same tallies")
	}
	if _, err := Evaluate(t.Context(), EvalConfig{Scenarios: []int{43}, Replicates: 1}); err == nil {
		t.Error("scenario 43 accepted")
	}
}

// TestEvaluateAgainstR runs a small subset of the design through peer.R,
// R's surveillance 1.20.3, and checks that its alarms and so its measures
// equal ours.
func TestEvaluateAgainstR(t *testing.T) {
	t.Parallel()
	rs := rscript(t)
	peer := filepath.Join(sharedSurveillance, "peer.R")
	if _, err := os.Stat(peer); err != nil {
		t.Skipf("peer.R not available (../shared/surveillance): %v", err)
	}
	// A sparse scenario (mostly zero counts) and a seasonal one with a trend.
	sub := RSubset{Rscript: rs, Peer: peer, Scenarios: []int{8, 36}, Replicates: 2, Seed: 1, K: 5}
	rows, took, err := CompareWithR(t.Context(), sub)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(EvalAlgorithms)-1 {
		t.Errorf("%d algorithms compared, want every one but movingPercentile", len(rows))
	}
	for _, r := range rows {
		t.Logf("%s: %d series, %d points, %d differing; FPR %.3f, POD(5) %.2f", r.Algorithm.Name(), r.Series, r.Points, r.Differing, r.Go.FPR(), r.Go.POD(5))
		if r.Series != 8 || r.Points != 8*CurrentWeeks || r.Differing != 0 {
			t.Errorf("%s: %d series, %d points, %d alarms differing", r.Algorithm.Name(), r.Series, r.Points, r.Differing)
		}
		if r.Go != r.R {
			t.Errorf("%s: tallies differ: Go %+v, R %+v", r.Algorithm.Name(), r.Go, r.R)
		}
	}
	t.Logf("R took %s", took)
}
