package surveillance

import (
	"math"
	"testing"
)

// TestSimulate checks the simulated counts' mean and variance against the
// scenario's, and that a seed gives the same series.
func TestSimulate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sc   Scenario
	}{
		{"poisson", Scenario{Theta: 1.5, Phi: 1}},
		{"negative binomial", Scenario{Theta: 2.5, Phi: 3}},
		{"small mean, overdispersed", Scenario{Theta: -1, Phi: 2}},
		{"large mean", Scenario{Theta: 7, Phi: 1.5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const n = 100000
			s := tc.sc.Simulate(n, 7)
			mean, m2 := 0.0, 0.0
			for i, y := range s.Observed {
				d := y - mean
				mean += d / float64(i+1)
				m2 += d * (y - mean)
			}
			variance := m2 / (n - 1)
			mu := tc.sc.Mean(1)
			if math.Abs(mean-mu)/mu > 0.02 {
				t.Errorf("mean %v, want %v", mean, mu)
			}
			if want := tc.sc.Phi * mu; math.Abs(variance-want)/want > 0.05 {
				t.Errorf("variance %v, want %v", variance, want)
			}
			again := tc.sc.Simulate(100, 7)
			for i := range again.Observed {
				if again.Observed[i] != s.Observed[i] {
					t.Fatalf("seed 7 differs at week %d", i+1)
				}
			}
		})
	}
	// Trend and seasonality shape the mean.
	sc := Scenario{Theta: 1, Beta: 0.01, Cos: []float64{0.5}, Sin: []float64{0.2}}
	if got, want := sc.Mean(13), math.Exp(1+0.13+0.5*math.Cos(math.Pi/2)+0.2*math.Sin(math.Pi/2)); math.Abs(got-want) > 1e-12 {
		t.Errorf("Mean(13) = %v, want %v", got, want)
	}
}
