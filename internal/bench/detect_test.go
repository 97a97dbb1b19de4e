package bench

import (
	"strings"
	"testing"
)

// TestDetect runs the detection benchmark on a few short series without
// R: every algorithm evaluates points and the table lists each.
func TestDetect(t *testing.T) {
	t.Parallel()
	rows, err := Detect(t.Context(), DetectConfig{Series: 3, Years: 7, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(detectAlgorithms) {
		t.Fatalf("%d rows, want %d", len(rows), len(detectAlgorithms))
	}
	for _, r := range rows {
		if r.Points == 0 || r.RSeries != 0 {
			t.Errorf("%s %v: %d points, %d R series", r.Algo, r.Options, r.Points, r.RSeries)
		}
	}
	md := DetectMarkdown(rows, 3)
	for _, want := range []string{"| farringtonFlexible thresholdMethod=muan |", "| movingPercentile |", "3 series."} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
}
