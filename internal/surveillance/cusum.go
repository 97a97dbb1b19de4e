package surveillance

import (
	"errors"
	"fmt"
	"math"
)

// Cusum runs the CUSUM of R's surveillance 1.20.3 (cusum, algo.cusum) on
// Poisson counts standardised by a fixed reference mean m
// (docs/surveillance.md; ../shared/surveillance/README.md):
//
//	S_t = max(0, S_{t−1} + (z_t − k)), S starting at 0, alarm when S_t ≥ h,
//
// with z_t = (x − m)/√m (trans=standard) or (x − 3m + 2√(xm))/(2√m)
// (trans=rossi), and the upper bound the count that would bring S_t to h.
//
// Options: k (1.04), h (2.26), trans standard|rossi (standard), range a:b
// ((freq+1):n, as peer.R sets it: the first year estimates m), m (the mean
// of the points before the range; a number fixes it instead). R's other
// transformations and m=glm are not provided.
//
// The diagnostics are peer.R's: m, cusum (S_t) and ctm1 (S_{t−1}).
//
// As in R: a missing count makes S, and every S after it, NA (alarm NA,
// bound 0 from the next point on, since R sets NA bounds to 0); a missing
// count before the range makes m NA, and so every S and alarm (bounds 0);
// a range starting at 1 takes m from the first count (R's 1:0 indexes
// y[1]).
func Cusum(s *Series, opts Options) (*Result, error) {
	r, err := cusum(s, opts)
	if err != nil {
		return nil, fmt.Errorf("surveillance: cusum: %w", err)
	}
	return r, nil
}

func cusum(s *Series, opts Options) (*Result, error) {
	if s == nil || s.Len() == 0 {
		return nil, errors.New("empty series")
	}
	if err := opts.check(s, "k", "h", "trans", "range", "m"); err != nil {
		return nil, err
	}
	k, err := opts.Float("k", 1.04)
	if err != nil {
		return nil, err
	}
	h, err := opts.Float("h", 2.26)
	if err != nil {
		return nil, err
	}
	trans, err := opts.Choice("trans", "standard", "standard", "rossi")
	if err != nil {
		return nil, err
	}
	freq, err := opts.freq(s)
	if err != nil {
		return nil, err
	}
	idx, err := opts.rangeIndex(s.Len(), freq+1)
	if err != nil {
		return nil, err
	}
	y := s.Observed
	m, fixed, err := opts.Floats("m")
	var mean float64
	switch {
	case err != nil:
		return nil, err
	case fixed && len(m) != 1:
		return nil, fmt.Errorf("option m=%s: want one number", opts["m"])
	case fixed:
		mean = m[0]
	case idx[0] == 0:
		mean = rMean(y[:1]) // R: observed[1:0] is observed[1]
	default:
		mean = rMean(y[:idx[0]])
	}

	r := newResult(idx, "m", "cusum", "ctm1")
	sqrtM := math.Sqrt(mean)
	// R writes m^(1/2) and m^(3/2) in the rossi bound, powl on x86-64:
	// see powThreeHalvesLD.
	powHalf, powThreeHalves := rPow(mean, 0.5), rPow(mean, 1.5)
	prev := 0.0 // S_{t−1}
	for i, p := range idx {
		x := y[p]
		// The float64() conversions keep each product rounded on its own
		// as in R, where Go may otherwise fuse a multiply-add.
		var z, ub float64
		c := h + k - prev
		if trans == "rossi" {
			z = (x - float64(3*mean) + float64(2*math.Sqrt(x*mean))) / float64(2*sqrtM)
			inner := float64(4*float64(mean*mean)) + float64(2*powThreeHalves*h) + float64(2*powThreeHalves*k) - float64(2*powThreeHalves*prev)
			ub = float64(2*h*powHalf) + float64(2*k*powHalf) - float64(2*prev*powHalf) + float64(5*mean) - float64(2*rPow(inner, 0.5))
		} else {
			z = (x - mean) / sqrtM
			ub = math.Ceil(float64(sqrtM*c) + mean)
		}
		if math.IsNaN(ub) || ub < 0 {
			ub = 0
		}
		cur := maxR(0, prev+(z-k))
		r.UpperBound[i] = ub
		switch {
		case math.IsNaN(cur):
			r.Alarm[i] = AlarmNA
		case cur >= h:
			r.Alarm[i] = Alarm
		default:
			r.Alarm[i] = NoAlarm
		}
		r.Diagnostics["m"][i] = mean
		r.Expected[i] = mean
		r.Diagnostics["cusum"][i] = cur
		r.Diagnostics["ctm1"][i] = prev
		prev = cur
	}
	return r, nil
}

// maxR is R's max(a, b): NA or NaN in either gives NaN.
func maxR(a, b float64) float64 {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.NaN()
	}
	if b > a {
		return b
	}
	return a
}

// rPow is R's x^y for the exponents 1/2 and 3/2 the rossi bound uses
// (R_pow: 1 when x is 1, 0 when x is 0, NaN below 0).
func rPow(x, y float64) float64 {
	switch {
	case math.IsNaN(x):
		return x
	case x == 1:
		return 1
	case x == 0:
		return 0
	case x < 0:
		return math.NaN()
	case math.IsInf(x, 1):
		return x
	case y == 0.5:
		return math.Sqrt(x)
	}
	return powThreeHalvesLD(x)
}
