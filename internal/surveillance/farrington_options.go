package surveillance

import (
	"fmt"
	"math"
)

// farringtonOptions reads peer.R's control options for farringtonFlexible
// and farrington into c, from c's defaults; dispersion=textbook is HIP's
// named option for the textbook dispersion (docs/surveillance.md).
func farringtonOptions(s *Series, opts Options, c FarringtonControl, flexible bool) (FarringtonControl, error) {
	keys := []string{"b", "w", "reweight", "alpha", "trend", "limit54", "powertrans", "range"}
	if flexible {
		keys = append(keys, "weightsThreshold", "pThresholdTrend", "noPeriods", "pastWeeksNotIncluded", "thresholdMethod", "dispersion")
	}
	if err := opts.check(s, keys...); err != nil {
		return c, err
	}
	var err error
	ints := []struct {
		key string
		to  *int
	}{{"b", &c.B}, {"w", &c.W}}
	if flexible {
		ints = append(ints, struct {
			key string
			to  *int
		}{"noPeriods", &c.NoPeriods})
	}
	for _, o := range ints {
		if *o.to, err = opts.Int(o.key, *o.to); err != nil {
			return c, err
		}
	}
	if c.Reweight, err = opts.Bool("reweight", c.Reweight); err != nil {
		return c, err
	}
	if c.Trend, err = opts.Bool("trend", c.Trend); err != nil {
		return c, err
	}
	if c.Alpha, err = opts.Float("alpha", c.Alpha); err != nil {
		return c, err
	}
	if c.PowerTrans, err = opts.Choice("powertrans", c.PowerTrans, "2/3", "1/2", "none"); err != nil {
		return c, err
	}
	if l, ok, err := opts.Floats("limit54"); err != nil {
		return c, err
	} else if ok {
		if len(l) != 2 || l[0] != math.Trunc(l[0]) || l[1] != math.Trunc(l[1]) {
			return c, fmt.Errorf("option limit54=%s: want cases,weeks", opts["limit54"])
		}
		c.Limit54 = [2]int{int(l[0]), int(l[1])}
	}
	if from, to, ok, err := opts.Range("range"); err != nil {
		return c, err
	} else if ok {
		c.Range = nil
		for t := from; t <= to; t++ {
			c.Range = append(c.Range, t)
		}
	}
	if c.Dates, err = opts.Bool("dates", false); err != nil {
		return c, err
	}
	if !flexible {
		return c, nil
	}
	if c.WeightsThreshold, err = opts.Float("weightsThreshold", c.WeightsThreshold); err != nil {
		return c, err
	}
	if c.PThresholdTrend, err = opts.Float("pThresholdTrend", c.PThresholdTrend); err != nil {
		return c, err
	}
	if _, given := opts.value("pastWeeksNotIncluded"); given {
		if c.PastWeeksNotIncluded, err = opts.Int("pastWeeksNotIncluded", c.PastWeeksNotIncluded); err != nil {
			return c, err
		}
	}
	if c.ThresholdMethod, err = opts.Choice("thresholdMethod", c.ThresholdMethod, "delta", "muan", "nbPlugin"); err != nil {
		return c, err
	}
	if c.Dispersion, err = opts.Choice("dispersion", c.Dispersion, "reference", "textbook"); err != nil {
		return c, err
	}
	return c, nil
}

// farringtonFlexibleOptions runs FarringtonFlexible with hip detect's options.
func farringtonFlexibleOptions(s *Series, opts Options) (*Result, error) {
	c, err := farringtonOptions(s, opts, DefaultFarringtonFlexible(), true)
	if err != nil {
		return nil, fmt.Errorf("surveillance: farringtonFlexible: %w", err)
	}
	if s, err = withFreq(s, opts); err != nil {
		return nil, fmt.Errorf("surveillance: farringtonFlexible: %w", err)
	}
	return FarringtonFlexible(s, c)
}

// farrington1996Options runs Farrington with hip detect's options.
func farrington1996Options(s *Series, opts Options) (*Result, error) {
	c, err := farringtonOptions(s, opts, DefaultFarrington(), false)
	if err != nil {
		return nil, fmt.Errorf("surveillance: farrington: %w", err)
	}
	if s, err = withFreq(s, opts); err != nil {
		return nil, fmt.Errorf("surveillance: farrington: %w", err)
	}
	if c.Range == nil {
		// peer.R's default, which the package's wrapper needs: the points
		// with b whole years and w weeks of history.
		for t := s.Freq*c.B + c.W + 1; t <= s.Len(); t++ {
			c.Range = append(c.Range, t)
		}
	}
	return Farrington(s, c)
}

// withFreq returns s with the freq option applied.
func withFreq(s *Series, opts Options) (*Series, error) {
	freq, err := opts.freq(s)
	if err != nil {
		return nil, err
	}
	c := *s
	c.Freq = freq
	return &c, nil
}
