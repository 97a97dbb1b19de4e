package surveillance

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestRMeanSd checks the long double emulation against R 4.2.2 on windows
// where plain float64 arithmetic gives another last bit.
func TestRMeanSd(t *testing.T) {
	tests := []struct {
		x        []float64
		mean, sd float64 // sprintf("%.17g", c(mean(x), sd(x))) in R
	}{
		{[]float64{0, 0, 1, 0, 1, 1, 0}, 0.42857142857142855, 0.53452248382484879},
		{[]float64{6, 117, 179, 170, 117, 211, 107}, 129.57142857142858, 66.837756652102826},
		{[]float64{162, 594, 379, 128, 77, 286, 553}, 311.28571428571428, 205.89132593491667},
		{[]float64{1, 0, 0, 0, 0, 0, 0}, 0.14285714285714285, 0.3779644730092272},
		{[]float64{0, 0, 0, 0, 0, 0, 1}, 0.14285714285714285, 0.3779644730092272},
		{[]float64{5, 5, 5}, 5, 0},
		{[]float64{1, NA, 3}, NA, NA},
		{[]float64{4}, 4, NA},
	}
	for _, tt := range tests {
		if m, s := rMean(tt.x), rSd(tt.x); refRelDiff(m, tt.mean) != 0 || refRelDiff(s, tt.sd) != 0 {
			t.Errorf("mean, sd of %v = %.17g, %.17g; R: %.17g, %.17g", tt.x, m, s, tt.mean, tt.sd)
		}
	}
}

func series(y ...float64) *Series {
	s := &Series{Observed: y, Freq: 52}
	for i := range y {
		s.T = append(s.T, i+1)
	}
	return s
}

func repeat(v float64, n int) []float64 {
	y := make([]float64, n)
	for i := range y {
		y[i] = v
	}
	return y
}

// point is the expected result at one 1-based time point.
type point struct {
	t     int
	bound float64
	alarm int8
}

func checkPoints(t *testing.T, r *Result, want []point) {
	t.Helper()
	for _, w := range want {
		i := slices.Index(r.Index, w.t-1)
		if i < 0 {
			t.Errorf("t=%d not evaluated (index %v)", w.t, r.Index)
			continue
		}
		if d := refRelDiff(r.UpperBound[i], w.bound); d > 1e-12 || r.Alarm[i] != w.alarm {
			t.Errorf("t=%d: bound %v alarm %d, want %v alarm %d", w.t, r.UpperBound[i], r.Alarm[i], w.bound, w.alarm)
		}
	}
}

func TestEarsC(t *testing.T) {
	z999 := 3.0902323061678132 // R: qnorm(1 - 0.001)
	tests := []struct {
		name  string
		y     []float64
		opts  Options
		first int // 1-based first point evaluated
		want  []point
	}{
		{"C1: window t-7..t-1", []float64{1, 2, 3, 4, 5, 6, 7, 30, 8}, Options{}, 8,
			[]point{{8, 4 + z999*math.Sqrt(28.0/6), Alarm}, {9, 57.0/7 + z999*rSd([]float64{2, 3, 4, 5, 6, 7, 30}), NoAlarm}}},
		{"C1: σ = 0 gives U = μ", append(repeat(5, 7), 6, 5), Options{"method": "C1"}, 8,
			[]point{{8, 5, Alarm}, {9, 36.0/7 + z999*rSd([]float64{5, 5, 5, 5, 5, 5, 6}), NoAlarm}}},
		{"C1: minSigma floors σ", append(repeat(5, 7), 6), Options{"minSigma": "0.5"}, 8,
			[]point{{8, 5 + z999*0.5, NoAlarm}}},
		{"C1: a missing count in the window", []float64{1, 2, NA, 4, 5, 6, 7, 8}, Options{}, 8,
			[]point{{8, NA, AlarmNA}}},
		{"C1: a missing count at t", []float64{5, 5, 5, 5, 5, 5, 5, NA}, Options{}, 8,
			[]point{{8, 5, AlarmNA}}},
		{"C2: window t-9..t-3", append(repeat(2, 9), 100), Options{"method": "C2"}, 10,
			[]point{{10, 2, Alarm}}},
		{"C3: σ = 0 gives NaN", repeat(3, 13), Options{"method": "C3"}, 12,
			[]point{{12, NA, AlarmNA}, {13, NA, AlarmNA}}},
		{"baseline and range", []float64{1, 3, 1, 3, 1, 3, 9, 1}, Options{"baseline": "3", "range": "7:7"}, 7,
			[]point{{7, 7.0/3 + z999*rSd([]float64{3, 1, 3}), Alarm}}},
		{"alpha", append(repeat(5, 7), 6), Options{"alpha": "0.5", "minSigma": "1"}, 8,
			[]point{{8, 5, Alarm}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := EarsC(series(tt.y...), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Index[0] != tt.first-1 || r.Index[len(r.Index)-1] != len(tt.y)-1 && tt.opts["range"] == "" {
				t.Errorf("evaluated %v, want %d to %d", r.Index, tt.first-1, len(tt.y)-1)
			}
			checkPoints(t, r, tt.want)
		})
	}
}

// TestEarsC3SinglePoint checks the one place we depart from R on purpose:
// R fails on a C3 range of one point; ours gives that point's value in a
// longer range.
func TestEarsC3SinglePoint(t *testing.T) {
	s := &Series{Freq: 52}
	for i := range 70 {
		s.Observed = append(s.Observed, float64((i*7)%11+(i%5)*(i%3)))
	}
	long, err := EarsC(s, Options{"method": "C3", "range": "40:60"})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range long.Index {
		one, err := EarsC(s, Options{"method": "C3", "range": fmt.Sprint(p + 1)})
		if err != nil {
			t.Fatal(err)
		}
		if one.UpperBound[0] != long.UpperBound[i] || one.Alarm[0] != long.Alarm[i] {
			t.Errorf("t=%d: alone %v/%d, in 40:60 %v/%d", p+1, one.UpperBound[0], one.Alarm[0], long.UpperBound[i], long.Alarm[i])
		}
	}
}

func TestEarsCErrors(t *testing.T) {
	y := series(repeat(4, 20)...)
	tests := []struct {
		s    *Series
		opts Options
		err  string
	}{
		{y, Options{"method": "C4"}, "option method=C4: want one of C1, C2, C3"},
		{y, Options{"baseline": "2"}, "the minimum baseline is 3"},
		{y, Options{"baseline": "7.5"}, "not an integer"},
		{y, Options{"minSigma": "-1"}, "must not be negative"},
		{y, Options{"alpha": "0"}, "want 0 < alpha < 1"},
		{y, Options{"alpha": "1"}, "want 0 < alpha < 1"},
		{y, Options{"range": "5:20"}, "needs 7 points before the first one evaluated; range starts at 5"},
		{y, Options{"method": "C3", "range": "11:20"}, "needs 11 points before"},
		{y, Options{"range": "8:21"}, "the series has 20 points"},
		{y, Options{"trans": "rossi"}, "unknown option trans"},
		{series(repeat(1, 7)...), Options{}, "the series has 7 points; the first one evaluated would be 8"},
		{nil, Options{}, "empty series"},
	}
	for _, tt := range tests {
		_, err := EarsC(tt.s, tt.opts)
		if err == nil || !strings.HasPrefix(err.Error(), "surveillance: earsC: ") || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("EarsC(%v): error %v, want %q", tt.opts, err, tt.err)
		}
	}
}

func TestCusum(t *testing.T) {
	r2 := math.Sqrt(2)
	tests := []struct {
		name      string
		y         []float64
		opts      Options
		want      []point
		m         float64
		cusum     []float64 // S_t at the evaluated points
		evaluated int
	}{
		{"standard, freq sets the range", []float64{2, 2, 2, 2, 2, 6, 2}, Options{"freq": "4"},
			[]point{{5, math.Ceil(r2*3.3 + 2), NoAlarm}, {6, 7, NoAlarm}, {7, math.Ceil(r2*(3.3-(4/r2-1.04)) + 2), NoAlarm}},
			2, []float64{0, 4/r2 - 1.04, 4/r2 - 1.04 + (0 - 1.04)}, 3},
		{"alarm at S ≥ h", []float64{1, 1, 1, 1, 9, 1}, Options{"range": "5:6", "h": "4"},
			[]point{{5, math.Ceil(4 + 1.04 + 1), Alarm}, {6, 0, Alarm}},
			1, []float64{8 - 1.04, 8 - 1.04 + (0 - 1.04)}, 2},
		{"rossi", []float64{4, 4, 4, 4, 4}, Options{"range": "5:5", "trans": "rossi"},
			[]point{{5, 2*2.26*2 + 2*1.04*2 + 20 - 2*math.Sqrt(64+2*8*2.26+2*8*1.04), NoAlarm}},
			4, []float64{0}, 1},
		{"a missing count before the range", []float64{1, NA, 1, 5, 9}, Options{"range": "4:5"},
			[]point{{4, 0, AlarmNA}, {5, 0, AlarmNA}},
			NA, []float64{NA, NA}, 2},
		{"a missing count in the range", []float64{4, 4, 4, NA, 4, 4}, Options{"range": "4:6"},
			[]point{{4, math.Ceil(2*3.3 + 4), AlarmNA}, {5, 0, AlarmNA}, {6, 0, AlarmNA}},
			4, []float64{NA, NA, NA}, 3},
		{"range from 1 takes m from y[1]", []float64{4, 16, 4}, Options{"range": "1:3"},
			[]point{{1, math.Ceil(2*3.3 + 4), NoAlarm}, {2, math.Ceil(2*3.3 + 4), Alarm}},
			4, []float64{0, 6 - 1.04, 6 - 1.04 - 1.04}, 3},
		{"fixed m", []float64{0, 0, 9, 9}, Options{"range": "3:4", "m": "9"},
			[]point{{3, math.Ceil(3*3.3 + 9), NoAlarm}},
			9, []float64{0, 0}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Cusum(series(tt.y...), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Index) != tt.evaluated || !slices.Equal(r.Columns, []string{"m", "cusum", "ctm1"}) {
				t.Fatalf("evaluated %v, columns %v", r.Index, r.Columns)
			}
			checkPoints(t, r, tt.want)
			prev := 0.0
			for i := range r.Index {
				if refRelDiff(r.Diagnostics["m"][i], tt.m) > 1e-12 || refRelDiff(r.Diagnostics["cusum"][i], tt.cusum[i]) > 1e-12 ||
					refRelDiff(r.Diagnostics["ctm1"][i], prev) != 0 {
					t.Errorf("point %d: m %v cusum %v ctm1 %v, want %v %v %v", i, r.Diagnostics["m"][i], r.Diagnostics["cusum"][i],
						r.Diagnostics["ctm1"][i], tt.m, tt.cusum[i], prev)
				}
				prev = r.Diagnostics["cusum"][i]
			}
		})
	}
}

func TestCusumErrors(t *testing.T) {
	y := series(repeat(4, 60)...)
	tests := []struct {
		s    *Series
		opts Options
		err  string
	}{
		{y, Options{"trans": "anscombe"}, "option trans=anscombe: want one of standard, rossi"},
		{y, Options{"m": "glm"}, "option m=glm"},
		{y, Options{"m": "1,2"}, "want one number"},
		{y, Options{"k": "x"}, "option k=x: not a number"},
		{y, Options{"freq": "60"}, "the series has 60 points; the first one evaluated would be 61"},
		{y, Options{"method": "C1"}, "unknown option method"},
		{series(), Options{}, "empty series"},
	}
	for _, tt := range tests {
		_, err := Cusum(tt.s, tt.opts)
		if err == nil || !strings.HasPrefix(err.Error(), "surveillance: cusum: ") || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Cusum(%v): error %v, want %q", tt.opts, err, tt.err)
		}
	}
}

func TestRun(t *testing.T) {
	s := series(repeat(3, 60)...)
	tests := []struct {
		algo string
		opts Options
		err  string
	}{
		{"earsC", nil, ""},
		{"cusum", Options{"trans": "rossi"}, ""},
		{"farringtonFlexible", Options{"b": "1", "range": "55:60", "thresholdMethod": "muan"}, ""},
		{"farrington", Options{"b": "1", "range": "57:60"}, ""},
		{"farringtonFlexible", Options{"thresholdMethod": "exact"}, `thresholdMethod`},
		{"bayes", nil, `surveillance: unknown algorithm "bayes" (known: cusum, earsC, farrington, farringtonFlexible, movingPercentile)`},
		{"EARSC", nil, "unknown algorithm"},
	}
	for _, tt := range tests {
		r, err := Run(tt.algo, s, tt.opts)
		if tt.err == "" {
			if err != nil || len(r.Index) == 0 {
				t.Errorf("Run(%s): %v", tt.algo, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("Run(%s): error %v, want %q", tt.algo, err, tt.err)
		}
	}
	if _, err := Run("earsC", &Series{}, nil); err == nil || !strings.Contains(err.Error(), "empty series") {
		t.Errorf("empty series: %v", err)
	}
}

// TestExpected checks each algorithm's expected count against what it is
// defined as: the EARS window's mean, CUSUM's m, the Farrington models'
// prediction (the reference's expected and mu0 columns where they give
// it), the moving percentile's baseline median.
func TestExpected(t *testing.T) {
	s := Scenario{Theta: 2, Beta: 0.001, Cos: []float64{0.4}, Sin: []float64{-0.2}, Phi: 1.5}.Simulate(7*52, 42)
	run := func(algo string, args ...string) *Result {
		t.Helper()
		opts, err := ParseOptions(args)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Run(algo, s, opts)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
	for _, method := range []string{"C1", "C2", "C3"} {
		r := run("earsC", "method="+method)
		gap := map[string]int{"C1": 0, "C2": 2, "C3": 2}[method]
		for i, p := range r.Index {
			sum := 0.0
			for _, y := range s.Observed[p-gap-7 : p-gap] {
				sum += y
			}
			if !near(r.Expected[i], sum/7) {
				t.Fatalf("earsC %s at %d: expected %v, window mean %v", method, p, r.Expected[i], sum/7)
			}
		}
	}
	r := run("cusum")
	for i := range r.Index {
		if r.Expected[i] != r.Diagnostics["m"][i] {
			t.Fatalf("cusum: expected %v, m %v", r.Expected[i], r.Diagnostics["m"][i])
		}
	}
	for _, th := range []string{"delta", "muan", "nbPlugin"} {
		r := run("farringtonFlexible", "thresholdMethod="+th)
		given := 0
		for i := range r.Index {
			if e := r.Diagnostics["expected"][i]; !IsNA(e) && e != 0 {
				given++
				if !near(r.Expected[i], e) {
					t.Fatalf("farringtonFlexible %s: expected %v, the reference's column %v", th, r.Expected[i], e)
				}
			}
			if !IsNA(r.UpperBound[i]) && !(r.Expected[i] > 0) {
				t.Fatalf("farringtonFlexible %s: a bound without an expected count", th)
			}
		}
		if given < len(r.Index)/2 {
			t.Fatalf("farringtonFlexible %s: the reference's expected column given at %d of %d points", th, given, len(r.Index))
		}
	}
	r = run("farrington")
	for i := range r.Index {
		if mu0 := r.Diagnostics["mu0"][i]; !IsNA(mu0) && !near(r.Expected[i], mu0) {
			t.Fatalf("farrington: expected %v, mu0 %v", r.Expected[i], mu0)
		}
	}
	r = run("movingPercentile")
	for i := range r.Index {
		if !(r.Expected[i] <= r.UpperBound[i]) {
			t.Fatalf("movingPercentile: median %v above the 80th percentile %v", r.Expected[i], r.UpperBound[i])
		}
	}
}
