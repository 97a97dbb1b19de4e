package surveillance

import (
	"math"
	"testing"
)

func TestQuantile7(t *testing.T) {
	t.Parallel()
	// Values of R's quantile(x, p) (type 7).
	tests := []struct {
		x    []float64
		p    float64
		want float64
	}{
		{[]float64{1, 2, 3, 4, 5}, 0.8, 4.2},
		{[]float64{5, 1, 4, 2, 3}, 0.5, 3},
		{[]float64{0, 0, 0, 0, 10}, 0.8, 2},
		{[]float64{7}, 0.8, 7},
		{[]float64{2, 9}, 1, 9},
		{[]float64{3, 1, 2, 8, 6, 4, 5, 9, 7, 0, 10, 12, 11, 14, 13}, 0.8, 11.2},
	}
	for _, tc := range tests {
		if got := quantile7(append([]float64(nil), tc.x...), tc.p); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("quantile7(%v, %v) = %v, want %v", tc.x, tc.p, got, tc.want)
		}
	}
}

// weekly builds a weekly series whose value at 0-based week i is f(i).
func weekly(n int, f func(i int) float64) *Series {
	s := &Series{Freq: 52}
	for i := range n {
		s.T = append(s.T, i+1)
		s.Observed = append(s.Observed, f(i))
	}
	return s
}

func TestMovingPercentile(t *testing.T) {
	t.Parallel()
	// Week i holds i mod 52 (the week of the year), so the baseline of week
	// w of year 4 is weeks w−2…w+2 of years 1–3, each three times. For
	// w = 10, sorted: 8,8,8,9,9,9,10,10,10,11,11,11,12,12,12; the 80th
	// percentile (type 7) is at h = 14·0.8 = 11.2: x[11] + 0.2·(x[12] − x[11])
	// = 11 + 0.2 = 11.2.
	s := weekly(4*52, func(i int) float64 { return float64(i % 52) })
	c := DefaultMovingPercentile(52)
	r, err := MovingPercentile(s, c)
	if err != nil {
		t.Fatal(err)
	}
	if first := 3*52 + 2; r.Index[0] != first {
		t.Fatalf("first evaluated position %d, want %d", r.Index[0], first)
	}
	at := func(pos int) int {
		for k, p := range r.Index {
			if p == pos {
				return k
			}
		}
		t.Fatalf("position %d not evaluated", pos)
		return -1
	}
	k := at(3*52 + 10)
	if got := r.UpperBound[k]; math.Abs(got-11.2) > 1e-12 {
		t.Errorf("bound at week 10 of year 4: %v, want 11.2", got)
	}
	if r.Alarm[k] != NoAlarm || r.Diagnostics["current"][k] != 10 || r.Diagnostics["baseline"][k] != 15 {
		t.Errorf("week 10: alarm %d current %v baseline %v", r.Alarm[k], r.Diagnostics["current"][k], r.Diagnostics["baseline"][k])
	}
	// An outbreak week alarms; a missing count gives no bound.
	s.Observed[3*52+20] = 40
	s.Observed[3*52+30] = NA
	r, _ = MovingPercentile(s, c)
	if k := at(3*52 + 20); r.Alarm[k] != Alarm {
		t.Errorf("outbreak week: alarm %d, bound %v", r.Alarm[k], r.UpperBound[k])
	}
	if k := at(3*52 + 30); r.Alarm[k] != AlarmNA || !IsNA(r.UpperBound[k]) {
		t.Errorf("missing week: alarm %d, bound %v", r.Alarm[k], r.UpperBound[k])
	}
	// Below MinCases nothing alarms, even above a zero baseline.
	z := weekly(4*52, func(int) float64 { return 0 })
	z.Observed[4*52-1] = 1
	c.MinCases = 2
	r, _ = MovingPercentile(z, c)
	if last := len(r.Index) - 1; r.Alarm[last] != NoAlarm || r.UpperBound[last] != 0 {
		t.Errorf("one case under MinCases 2: alarm %d bound %v", r.Alarm[last], r.UpperBound[last])
	}
}

func TestMovingPercentileDaily(t *testing.T) {
	t.Parallel()
	// Daily counts of 1: every 7-day sum is 7, the bound 7, no alarm; the
	// first evaluable day has 3 years of 365 days, 2 weeks and 6 days behind it.
	s := &Series{Freq: 365}
	for i := range 4 * 365 {
		s.T = append(s.T, i+1)
		s.Observed = append(s.Observed, 1)
	}
	s.Observed[len(s.Observed)-1] = 5
	r, err := MovingPercentile(s, DefaultMovingPercentile(365))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3*365 + 2*7 + 6; r.Index[0] != want {
		t.Errorf("first day %d, want %d", r.Index[0], want)
	}
	last := len(r.Index) - 1
	if r.UpperBound[0] != 7 || r.Alarm[0] != NoAlarm || r.Diagnostics["current"][last] != 11 || r.Alarm[last] != Alarm {
		t.Errorf("bound %v alarm %d; last current %v alarm %d", r.UpperBound[0], r.Alarm[0], r.Diagnostics["current"][last], r.Alarm[last])
	}
}

func TestMovingPercentileSettings(t *testing.T) {
	t.Parallel()
	s := weekly(200, func(int) float64 { return 1 })
	for _, c := range []MovingPercentileControl{
		{Period: 0, Years: 3, HalfWindow: 2, Percentile: 0.8},
		{Period: 1, Years: 0, HalfWindow: 2, Percentile: 0.8},
		{Period: 1, Years: 3, HalfWindow: 2, Percentile: 0},
		{Period: 1, Years: 3, HalfWindow: 2, Percentile: 1.5},
		{Period: 7, Years: 1, HalfWindow: 8, Percentile: 0.8},
		{Period: 1, Years: 1, HalfWindow: 1, Percentile: 0.8, Range: []int{500}},
	} {
		if _, err := MovingPercentile(s, c); err == nil {
			t.Errorf("%+v: no error", c)
		}
	}
}

func TestMovingPercentileOptions(t *testing.T) {
	t.Parallel()
	s := weekly(4*52, func(i int) float64 { return float64(i % 52) })
	r, err := Run("movingPercentile", s, Options{"percentile": "0.5", "range": "200:208", "years": "3"})
	if err != nil {
		t.Fatal(err)
	}
	// Week 199 (0-based) is week 43 of year 4: the median of weeks 41–45 is 43.
	if len(r.Index) != 9 || r.Index[0] != 199 || r.UpperBound[0] != 43 {
		t.Errorf("index %v, first bound %v", r.Index, r.UpperBound[0])
	}
	for _, bad := range []Options{{"percentil": "0.5"}, {"years": "x"}, {"range": "300:400"}, {"percentile": "2"}} {
		if _, err := Run("movingPercentile", s, bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
