package surveillance

import (
	"math"
	"math/rand/v2"
)

// Scenario is a baseline of weekly counts as Noufaily et al. (2013) simulate
// them: negative binomial with mean μ(t) = exp(θ + βt + Σⱼ γ₁ⱼ cos(2πjt/52)
// + γ₂ⱼ sin(2πjt/52)) and variance φμ (Poisson when φ = 1).
type Scenario struct {
	Theta, Beta float64
	// Cos and Sin are the γ coefficients of the harmonics 1, 2, …
	Cos, Sin []float64
	Phi      float64
}

// Mean returns μ(t) at week t (1-based).
func (sc Scenario) Mean(t int) float64 {
	eta := sc.Theta + sc.Beta*float64(t)
	for j, g := range sc.Cos {
		eta += g * math.Cos(2*math.Pi*float64(j+1)*float64(t)/52)
	}
	for j, g := range sc.Sin {
		eta += g * math.Sin(2*math.Pi*float64(j+1)*float64(t)/52)
	}
	return math.Exp(eta)
}

// Simulate draws weeks counts of the scenario, deterministic for a seed.
func (sc Scenario) Simulate(weeks int, seed uint64) *Series {
	return weeklySeries(sc.draw(rand.New(rand.NewPCG(seed, 0x5eed)), weeks))
}

// draw draws the counts of weeks 1…weeks from r.
func (sc Scenario) draw(r *rand.Rand, weeks int) []float64 {
	counts := make([]float64, weeks)
	for t := 1; t <= weeks; t++ {
		mu := sc.Mean(t)
		if sc.Phi > 1 {
			// Negative binomial as a gamma mixture of Poissons: shape
			// μ/(φ−1), scale φ−1 gives mean μ and variance φμ.
			mu = gamma(r, mu/(sc.Phi-1)) * (sc.Phi - 1)
		}
		counts[t-1] = float64(poisson(r, mu))
	}
	return counts
}

// weeklySeries wraps counts of weeks 1, 2, … as a weekly series.
func weeklySeries(counts []float64) *Series {
	s := &Series{Observed: counts, T: make([]int, len(counts)), Freq: 52}
	for i := range s.T {
		s.T[i] = i + 1
	}
	return s
}

// gamma draws from Gamma(shape, 1) (Marsaglia and Tsang 2000; shape < 1
// by the boost U^(1/shape)).
func gamma(r *rand.Rand, shape float64) float64 {
	if shape <= 0 {
		return 0
	}
	if shape < 1 {
		return gamma(r, shape+1) * math.Pow(r.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// poisson draws from Poisson(mean): by inversion for small means, and as
// the sum of draws of half the mean above 500, where inversion would
// underflow exp(−mean).
func poisson(r *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 500 {
		return poisson(r, mean/2) + poisson(r, mean/2)
	}
	k, p := 0, math.Exp(-mean)
	u, cdf := r.Float64(), p
	for u > cdf {
		k++
		p *= mean / float64(k)
		cdf += p
		if p == 0 {
			break
		}
	}
	return k
}
