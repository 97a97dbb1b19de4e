package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/surveillance"
)

// EvaluateConfig sets up the evaluation of Noufaily et al. (2013)
// (docs/surveillance-evaluation.md): Replicates replicates of each of
// Scenarios in Go, and, when Peer is set, the first RReplicates replicates
// of RScenarios (null series and outbreak size RK) through R's reference.
type EvaluateConfig struct {
	Scenarios   []int // nil: all 42
	Replicates  int
	Seed        uint64
	Rscript     string // path of Rscript
	Peer        string // path of ../shared/surveillance/peer.R; "" runs no R
	RScenarios  []int
	RReplicates int
	Progress    io.Writer
}

// RK is the outbreak size of the series run through R.
const RK = 5

// EvaluateReport is the evaluation's outcome.
type EvaluateReport struct {
	Eval  *surveillance.Evaluation
	Go    time.Duration // wall time of the Go evaluation
	R     []surveillance.RAgreement
	RTime time.Duration // wall time of the R processes
	RSub  surveillance.RSubset
}

// Evaluate runs the evaluation in Go on every core, then the R subset.
func Evaluate(ctx context.Context, cfg EvaluateConfig) (*EvaluateReport, error) {
	rep := &EvaluateReport{}
	start := time.Now()
	last := start
	progress := func(done, total int) {
		if cfg.Progress == nil || (done < total && time.Since(last) < 30*time.Second) {
			return
		}
		last = time.Now()
		elapsed := time.Since(start)
		left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
		fmt.Fprintf(cfg.Progress, "evaluate: %d/%d replicates, %s, about %s left\n", done, total, elapsed.Round(time.Second), left.Round(time.Second))
	}
	var err error
	rep.Eval, err = surveillance.Evaluate(ctx, surveillance.EvalConfig{Scenarios: cfg.Scenarios, Replicates: cfg.Replicates, Seed: cfg.Seed, Progress: progress})
	if err != nil {
		return nil, err
	}
	rep.Go = time.Since(start)
	if cfg.Peer == "" {
		return rep, nil
	}
	rep.RSub = surveillance.RSubset{Rscript: cfg.Rscript, Peer: cfg.Peer, Scenarios: cfg.RScenarios, Replicates: cfg.RReplicates, Seed: cfg.Seed, K: RK}
	if cfg.Progress != nil {
		fmt.Fprintf(cfg.Progress, "evaluate: R on scenarios %s × %d replicates (null and k=%d series)\n", surveillance.FormatScenarios(cfg.RScenarios), cfg.RReplicates, RK)
	}
	if rep.R, rep.RTime, err = surveillance.CompareWithR(ctx, rep.RSub); err != nil {
		return nil, err
	}
	return rep, nil
}

// podKs are the outbreak sizes of the first-week and timeliness columns.
var podKs = []int{2, 3, 5, 10}

// Markdown renders the report's tables for docs/surveillance-evaluation.md.
func (rep *EvaluateReport) Markdown() string {
	e := rep.Eval
	var b strings.Builder
	fmt.Fprintf(&b, "%d scenarios × %d replicates; %d time points evaluated in %s.\n\n", len(e.Scenarios), e.Replicates, e.Points, rep.Go.Round(time.Second))

	fmt.Fprintf(&b, "Mean over the scenarios: false positive rate and probability of detection by outbreak size k (%%):\n\n| algorithm | FPR |")
	for k := 1; k <= surveillance.MaxK; k++ {
		fmt.Fprintf(&b, " POD k=%d |", k)
	}
	b.WriteString("\n| --- | ---: |" + strings.Repeat(" ---: |", surveillance.MaxK) + "\n")
	for j, a := range e.Algorithms {
		fmt.Fprintf(&b, "| %s | %s |", a.Name(), pct(e.Mean(j, (*surveillance.Tally).FPR), 2))
		for k := 1; k <= surveillance.MaxK; k++ {
			fmt.Fprintf(&b, " %s |", pct(e.Mean(j, func(t *surveillance.Tally) float64 { return t.POD(k) }), 1))
		}
		b.WriteString("\n")
	}

	b.WriteString("\nMean over the scenarios: probability of an alarm in the outbreak's first week (%) and timeliness (0 best, 1 undetected):\n\n| algorithm |")
	for _, k := range podKs {
		fmt.Fprintf(&b, " 1st week k=%d |", k)
	}
	for _, k := range podKs {
		fmt.Fprintf(&b, " timeliness k=%d |", k)
	}
	b.WriteString("\n| --- |" + strings.Repeat(" ---: |", 2*len(podKs)) + "\n")
	for j, a := range e.Algorithms {
		fmt.Fprintf(&b, "| %s |", a.Name())
		for _, k := range podKs {
			fmt.Fprintf(&b, " %s |", pct(e.Mean(j, func(t *surveillance.Tally) float64 { return t.PODFirstWeek(k) }), 1))
		}
		for _, k := range podKs {
			fmt.Fprintf(&b, " %s |", decimal(e.Mean(j, func(t *surveillance.Tally) float64 { return t.Timeliness(k) }), 3))
		}
		b.WriteString("\n")
	}

	// How many outbreaks had no case in the series depends on the data
	// only, the same for every algorithm.
	b.WriteString("\nCurrent outbreaks without a case in the series, left out of POD and timeliness (all scenarios):")
	for k := 1; k <= surveillance.MaxK; k++ {
		empty := 0
		for i := range e.Tallies {
			empty += e.Tallies[i][0].Outbreak[k-1].Empty
		}
		fmt.Fprintf(&b, " k=%d: %d;", k, empty)
	}
	fmt.Fprintf(&b, " of %d each.\n", len(e.Scenarios)*e.Replicates)

	b.WriteString("\nPer scenario: FPR / POD k=3 / POD k=5 (%):\n\n| # | scenario | mean count |")
	for _, a := range e.Algorithms {
		fmt.Fprintf(&b, " %s |", a.Label)
	}
	b.WriteString("\n| ---: | --- | ---: |" + strings.Repeat(" ---: |", len(e.Algorithms)) + "\n")
	for i, sc := range e.Scenarios {
		mean := 0.0
		for t := surveillance.CurrentFrom; t <= surveillance.EvalWeeks; t++ {
			mean += sc.Mean(t)
		}
		fmt.Fprintf(&b, "| %d | %s | %.3g |", sc.Number, sc.Label(), mean/surveillance.CurrentWeeks)
		for j := range e.Algorithms {
			t := &e.Tallies[i][j]
			fmt.Fprintf(&b, " %s / %s / %s |", pct(t.FPR(), 1), pct(t.POD(3), 0), pct(t.POD(5), 0))
		}
		b.WriteString("\n")
	}

	if rep.R != nil {
		fmt.Fprintf(&b, "\nR's surveillance (peer.R) against HIP on scenarios %s × %d replicates, the null and the k=%d series; R took %s:\n\n",
			surveillance.FormatScenarios(rep.RSub.Scenarios), rep.RSub.Replicates, rep.RSub.K, rep.RTime.Round(time.Second))
		b.WriteString("| algorithm | series | points | alarms differing | FPR HIP / R | POD HIP / R | 1st week HIP / R | timeliness HIP / R |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		k := rep.RSub.K
		for _, r := range rep.R {
			fmt.Fprintf(&b, "| %s | %d | %d | %d | %s / %s | %s / %s | %s / %s | %s / %s |\n", r.Algorithm.Name(), r.Series, r.Points, r.Differing,
				pct(r.Go.FPR(), 2), pct(r.R.FPR(), 2), pct(r.Go.POD(k), 1), pct(r.R.POD(k), 1),
				pct(r.Go.PODFirstWeek(k), 1), pct(r.R.PODFirstWeek(k), 1), decimal(r.Go.Timeliness(k), 3), decimal(r.R.Timeliness(k), 3))
		}
	}
	return b.String()
}

// pct prints a share as a percentage; NaN as a dash.
func pct(v float64, decimals int) string { return decimal(100*v, decimals) }

func decimal(v float64, decimals int) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.*f", decimals, v)
}
