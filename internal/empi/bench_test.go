package empi

import (
	"os"
	"strconv"
	"testing"
)

// BenchmarkLink links a synthetic region's registrations in one batch
// (HIP_EMPI_BENCH_RESIDENTS residents, default 100,000; docs/benchmarks.md).
func BenchmarkLink(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("HIP_EMPI_BENCH_RESIDENTS")); err == nil && v > 0 {
		n = v
	}
	recs, _ := registrations(b, n)
	b.ReportMetric(float64(len(recs)), "records")
	b.ResetTimer()
	for b.Loop() {
		res, err := Link(recs, Config{}, false)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.Stats.Candidates), "candidates")
	}
}
