package bench

import (
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/surveillance"
)

// TestEvaluate runs the evaluation on a small design without R and checks
// that the tables list every algorithm and scenario.
func TestEvaluate(t *testing.T) {
	t.Parallel()
	var progress strings.Builder
	rep, err := Evaluate(t.Context(), EvaluateConfig{Scenarios: []int{3, 40}, Replicates: 2, Seed: 1, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if rep.R != nil {
		t.Error("R ran without --peer")
	}
	md := rep.Markdown()
	want := []string{
		"2 scenarios × 2 replicates; 17248 time points evaluated",
		"| algorithm | FPR | POD k=1 |",
		"| timeliness k=10 |",
		"of 4 each.",
		"| 3 | set 1, no trend, m=2 |",
		"| 40 | set 7, trend, m=0 |",
		"| FF improved |",
	}
	for _, a := range surveillance.EvalAlgorithms {
		want = append(want, "| "+a.Name()+" |")
	}
	for _, w := range want {
		if !strings.Contains(md, w) {
			t.Errorf("tables lack %q:\n%s", w, md)
		}
	}
	if strings.Contains(md, "R's surveillance") {
		t.Error("an R table without R")
	}
	if !strings.Contains(progress.String(), "evaluate: 4/4 replicates") {
		t.Errorf("progress %q", progress.String())
	}
}

// TestEvaluateMarkdownR renders an R comparison, with measures R and Go
// could not compute (no outbreak with a case) as dashes.
func TestEvaluateMarkdownR(t *testing.T) {
	t.Parallel()
	rep := &EvaluateReport{
		Eval: &surveillance.Evaluation{Replicates: 1},
		R: []surveillance.RAgreement{{Algorithm: surveillance.EvalAlgorithms[0], Series: 2, Points: 98,
			Go: surveillance.Tally{NullAlarms: 1, NullWeeks: 49}, R: surveillance.Tally{NullAlarms: 1, NullWeeks: 49}}},
		RSub: surveillance.RSubset{Scenarios: []int{1, 2, 3, 9}, Replicates: 1, K: RK},
	}
	md := rep.Markdown()
	for _, w := range []string{"on scenarios 1-3,9 × 1 replicates, the null and the k=5 series", "| earsC method=C1 | 2 | 98 | 0 | 2.04 / 2.04 | — / — | — / — | — / — |"} {
		if !strings.Contains(md, w) {
			t.Errorf("tables lack %q:\n%s", w, md)
		}
	}
}
