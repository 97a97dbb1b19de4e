package surveillance

import (
	"path/filepath"
	"testing"
)

// BenchmarkEarsC and BenchmarkCusum time one run on campyDE (522 weeks),
// to set beside R's 0.02–0.05 ms (earsC) and 0.005 ms (cusum) per point.
func BenchmarkEarsC(b *testing.B) {
	for _, m := range []string{"C1", "C3"} {
		b.Run(m, func(b *testing.B) { benchmarkRun(b, "earsC", Options{"method": m}) })
	}
}

func BenchmarkCusum(b *testing.B) {
	benchmarkRun(b, "cusum", Options{"trans": "rossi"})
}

func benchmarkRun(b *testing.B, algo string, opts Options) {
	s := readSeriesFile(b, filepath.Join(sharedSurveillance, "data", "campyDE.csv"))
	var points int
	for b.Loop() {
		r, err := Run(algo, s, opts)
		if err != nil {
			b.Fatal(err)
		}
		points = len(r.Index)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*points)/1e6, "ms/point")
}

// BenchmarkFarringtonFlexibleCampyDE times the reference's default
// farringtonFlexible on campyDE (259 points evaluated), the series R's
// timing in docs/surveillance.md was taken on.
func BenchmarkFarringtonFlexibleCampyDE(b *testing.B) {
	benchmarkRun(b, "farringtonFlexible", nil)
}
