package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBenchEvaluate runs `hip bench evaluate` on one scenario and replicate
// (docs/surveillance-evaluation.md) and checks its tables and its errors.
func TestBenchEvaluate(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "evaluation.md")
	msg, err := runHip(t, "bench", "evaluate", "--replicates", "1", "--scenarios", "5", "--seed", "3", "--out", out)
	if err != nil {
		t.Fatalf("hip bench evaluate: %v\n%s", err, msg)
	}
	if !strings.Contains(msg, "evaluate: 1/1 replicates") {
		t.Errorf("no progress on stderr: %q", msg)
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"`hip bench evaluate --replicates 1 --scenarios 5 --seed 3 --out ", "1 scenarios × 1 replicates", "| 5 | set 1, trend, m=1 |", "| farringtonFlexible noPeriods=10 pastWeeksNotIncluded=26 thresholdMethod=nbPlugin |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("output lacks %q:\n%s", want, md)
		}
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--scenarios", "0-3"}, `--scenarios: scenarios "0-3": "0-3" is not within 1-42`},
		{[]string{"--r-scenarios", "1,1"}, "scenario 1 given twice"},
		{[]string{"--replicates", "0"}, "--replicates and --r-replicates must be at least 1"},
	} {
		msg, err := runHip(t, append([]string{"bench", "evaluate"}, tc.args...)...)
		if err == nil || !strings.Contains(msg, tc.msg) {
			t.Errorf("hip bench evaluate %s: %v, output %q; want an error with %q", strings.Join(tc.args, " "), err, msg, tc.msg)
		}
	}
}
