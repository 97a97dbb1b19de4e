package surveillance

import (
	"fmt"
	"math"
	"slices"
)

// MovingPercentileControl are the settings of the moving percentile method
// of China's infectious disease automated-alert and response system
// (CIDARS): the count of the current period is compared with a percentile
// of the counts of the same and neighbouring periods in past years.
//
// The window implemented (docs/surveillance.md): for a daily series with
// Period 7, the current value at day t is the sum of days t−6…t; the
// baseline holds, for each of the past Years years (t − 365·y by index, as
// the reference's Farrington takes t − 52·y for weeks) the 7-day sums ending
// at that day and at HalfWindow whole periods before and after it: with the
// defaults 3 × 5 = 15 values, the "same period and the two periods on each
// side in the last three years" of CIDARS. A weekly series uses Period 1.
type MovingPercentileControl struct {
	Period     int     // points summed into one observation (7 for daily series, 1 for weekly)
	Years      int     // past years in the baseline
	HalfWindow int     // neighbouring periods on each side of the same period
	Percentile float64 // of the baseline (R's quantile type 7), in (0, 1]
	MinCases   float64 // no alarm while the current count is below this
	// Range lists the 0-based positions to evaluate; nil: every position
	// with a full baseline.
	Range []int
}

// DefaultMovingPercentile returns CIDARS's settings for a series of freq
// periods a year: a 7-day period for daily series, 3 years, 2 neighbouring
// periods each side, the 80th percentile, at least one case.
func DefaultMovingPercentile(freq int) MovingPercentileControl {
	c := MovingPercentileControl{Period: 1, Years: 3, HalfWindow: 2, Percentile: 0.8, MinCases: 1}
	if freq >= 365 {
		c.Period = 7
	}
	return c
}

// MovingPercentile runs the method on s. The upper bound is the percentile
// (an alarm when the current count exceeds it and reaches MinCases);
// diagnostics: current (the period's count) and baseline (how many past
// values the percentile was taken over).
func MovingPercentile(s *Series, c MovingPercentileControl) (*Result, error) {
	freq := s.Freq
	switch {
	case freq <= 0:
		return nil, fmt.Errorf("surveillance: moving percentile: the series has no frequency")
	case c.Period < 1 || c.Years < 1 || c.HalfWindow < 0:
		return nil, fmt.Errorf("surveillance: moving percentile: period %d, years %d, half window %d", c.Period, c.Years, c.HalfWindow)
	case !(c.Percentile > 0 && c.Percentile <= 1):
		return nil, fmt.Errorf("surveillance: moving percentile: percentile %v is not in (0, 1]", c.Percentile)
	case c.HalfWindow*c.Period >= freq:
		return nil, fmt.Errorf("surveillance: moving percentile: %d neighbouring periods of %d reach the next year", c.HalfWindow, c.Period)
	}
	// The first position whose oldest baseline period starts inside the series.
	first := c.Years*freq + c.HalfWindow*c.Period + c.Period - 1
	index := c.Range
	if index == nil {
		for t := first; t < s.Len(); t++ {
			index = append(index, t)
		}
	}
	r := newResult(index, "current", "baseline")
	sum := func(end int) float64 {
		if end-c.Period+1 < 0 || end >= s.Len() {
			return NA
		}
		total := 0.0
		for i := end - c.Period + 1; i <= end; i++ {
			total += s.Observed[i] // NA propagates
		}
		return total
	}
	base := make([]float64, 0, c.Years*(2*c.HalfWindow+1))
	for k, t := range index {
		if t < 0 || t >= s.Len() {
			return nil, fmt.Errorf("surveillance: moving percentile: position %d outside the series of %d", t, s.Len())
		}
		current := sum(t)
		r.Diagnostics["current"][k] = current
		base = base[:0]
		for y := 1; y <= c.Years; y++ {
			for j := -c.HalfWindow; j <= c.HalfWindow; j++ {
				if v := sum(t - y*freq + j*c.Period); !IsNA(v) {
					base = append(base, v)
				}
			}
		}
		r.Diagnostics["baseline"][k] = float64(len(base))
		if len(base) == 0 || IsNA(current) {
			continue
		}
		u := quantile7(base, c.Percentile)
		r.Expected[k] = quantile7(base, 0.5)
		r.UpperBound[k] = u
		r.Alarm[k] = NoAlarm
		if current > u && current >= c.MinCases {
			r.Alarm[k] = Alarm
		}
	}
	return r, nil
}

// quantile7 is R's quantile(x, p, type = 7): linear interpolation between
// order statistics at h = (n−1)p. It sorts x.
func quantile7(x []float64, p float64) float64 {
	slices.Sort(x)
	h := float64(len(x)-1) * p
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(x) {
		return x[len(x)-1]
	}
	return x[i] + (h-lo)*(x[i+1]-x[i])
}

// movingPercentileOptions runs MovingPercentile with hip detect's
// key=value options: period, years, halfWindow, percentile, minCases,
// range (1-based a:b), freq.
func movingPercentileOptions(s *Series, opts Options) (*Result, error) {
	r, err := func() (*Result, error) {
		if err := opts.check(s, "period", "years", "halfWindow", "percentile", "minCases", "range"); err != nil {
			return nil, err
		}
		freq, err := opts.freq(s)
		if err != nil {
			return nil, err
		}
		series := *s
		series.Freq = freq
		c := DefaultMovingPercentile(freq)
		if c.Period, err = opts.Int("period", c.Period); err != nil {
			return nil, err
		}
		if c.Years, err = opts.Int("years", c.Years); err != nil {
			return nil, err
		}
		if c.HalfWindow, err = opts.Int("halfWindow", c.HalfWindow); err != nil {
			return nil, err
		}
		if c.Percentile, err = opts.Float("percentile", c.Percentile); err != nil {
			return nil, err
		}
		if c.MinCases, err = opts.Float("minCases", c.MinCases); err != nil {
			return nil, err
		}
		if _, _, given, err := opts.Range("range"); err != nil {
			return nil, err
		} else if given {
			if c.Range, err = opts.rangeIndex(s.Len(), 1); err != nil {
				return nil, err
			}
		}
		return MovingPercentile(&series, c)
	}()
	if err != nil {
		return nil, fmt.Errorf("surveillance: movingPercentile: %w", err)
	}
	return r, nil
}
