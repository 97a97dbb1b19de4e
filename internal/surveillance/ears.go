package surveillance

import (
	"errors"
	"fmt"
	"math"
)

// EarsC runs the CDC's Early Aberration Reporting System methods C1, C2
// and C3 as R's surveillance 1.20.3 earsC does (docs/surveillance.md; the
// formulas in ../shared/surveillance/README.md).
//
// Options (peer.R's names): method C1|C2|C3 (C1); alpha (0.001 for C1
// and C2, 0.025 for C3); baseline, the number of past points in the
// window (7, at least 3); minSigma, a floor under the window's standard
// deviation (0); range a:b of 1-based points to evaluate (from the first
// point with a full window — 8, 10, 12 with baseline 7 — to the end).
//
// R's arithmetic is kept, NA and NaN included: a missing count in a
// window makes the bound NA and the alarm NA; with σ = 0 C1 and C2 give
// U = μ, while C3 divides by σ and mostly gets a NaN bound (NA alarm).
// One deliberate difference: R fails on a C3 range of a single point
// (a matrix it builds collapses to a vector); the bound is computed here
// as for any longer range.
func EarsC(s *Series, opts Options) (*Result, error) {
	r, err := earsC(s, opts)
	if err != nil {
		return nil, fmt.Errorf("surveillance: earsC: %w", err)
	}
	return r, nil
}

func earsC(s *Series, opts Options) (*Result, error) {
	if s == nil || s.Len() == 0 {
		return nil, errors.New("empty series")
	}
	if err := opts.check(s, "method", "alpha", "baseline", "minSigma", "range"); err != nil {
		return nil, err
	}
	method, err := opts.Choice("method", "C1", "C1", "C2", "C3")
	if err != nil {
		return nil, err
	}
	alpha := 0.001
	if method == "C3" {
		alpha = 0.025
	}
	if alpha, err = opts.Float("alpha", alpha); err != nil {
		return nil, err
	}
	if !(alpha > 0 && alpha < 1) {
		return nil, fmt.Errorf("option alpha=%v: want 0 < alpha < 1", alpha)
	}
	baseline, err := opts.Int("baseline", 7)
	if err != nil {
		return nil, err
	}
	if baseline < 3 {
		return nil, fmt.Errorf("option baseline=%d: the minimum baseline is 3", baseline)
	}
	minSigma, err := opts.Float("minSigma", 0)
	if err != nil {
		return nil, err
	}
	if minSigma < 0 {
		return nil, fmt.Errorf("option minSigma=%v: must not be negative", minSigma)
	}

	// C2 and C3 leave out the two points before t from the window; C3
	// also needs the C2 statistic of t−1 and t−2.
	gap, lead := 0, 0
	switch method {
	case "C2":
		gap = 2
	case "C3":
		gap, lead = 2, 2
	}
	maxLag := baseline + gap + lead
	n := s.Len()
	idx, err := opts.rangeIndex(n, maxLag+1)
	if err != nil {
		return nil, err
	}
	if idx[0]-maxLag < 0 {
		return nil, fmt.Errorf("method %s with baseline %d needs %d points before the first one evaluated; range starts at %d",
			method, baseline, maxLag, idx[0]+1)
	}

	z := qnorm(1-alpha, 0, 1)
	y := s.Observed
	// μ and σ of the window of each position from the first whose C2
	// statistic C3 needs, computed once.
	lo := idx[0] - lead
	mu := make([]float64, len(y))
	sigma := make([]float64, len(y))
	ld := newLDCalc()
	for p := lo; p <= idx[len(idx)-1]; p++ {
		window := y[p-gap-baseline : p-gap]
		m, v := ld.meanVar(window)
		mu[p], sigma[p] = m, pmaxR(math.Sqrt(v), minSigma)
	}

	r := newResult(idx)
	for i, p := range idx {
		var ub float64
		if method == "C3" {
			c2 := func(q int) float64 { return (y[q] - mu[q]) / sigma[q] }
			lag2 := pmaxR(0, c2(p-2)-1)
			lag1 := pmaxR(0, c2(p-1)-1)
			// float64() keeps the product rounded on its own, as in R:
			// Go may otherwise fuse a multiply-add on some processors.
			ub = pmaxR(0, y[p]+float64(sigma[p]*(z-(lag2+lag1))))
		} else {
			ub = mu[p] + float64(z*sigma[p])
		}
		r.UpperBound[i] = ub
		r.Alarm[i] = exceeds(y[p], ub)
		r.Expected[i] = mu[p]
	}
	return r, nil
}

// exceeds is R's alarm observed > upperbound: NA when either is.
func exceeds(y, ub float64) int8 {
	switch {
	case math.IsNaN(y) || math.IsNaN(ub):
		return AlarmNA
	case y > ub:
		return Alarm
	}
	return NoAlarm
}
