package bench

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/surveillance"
)

// DetectConfig sets up the detection benchmark: Series weekly series of
// Years years simulated from a Noufaily-style scenario, every algorithm run
// on all of them in Go, and on the first RSample of them through R's
// reference (Rscript Peer) when Peer is set.
type DetectConfig struct {
	Series, Years int
	Seed          uint64
	Peer          string // path of ../shared/surveillance/peer.R; "" runs no R
	RSample       int
	Progress      io.Writer
}

// DetectRow is one algorithm's figures.
type DetectRow struct {
	Algo     string
	Options  []string
	Points   int           // evaluated in Go, over every series
	Go       time.Duration // Go, one goroutine, every series
	RSeries  int           // series run through R
	RPoints  int
	R        time.Duration // R's own timing of the algorithm call (peer.R), summed
	Mismatch int           // alarms that differ between Go and R on the sample
}

// detectAlgorithms are the settings measured: peer.R's names and options.
var detectAlgorithms = []struct {
	algo string
	opts []string
	inR  bool
}{
	{"earsC", []string{"method=C1"}, true},
	{"earsC", []string{"method=C2"}, true},
	{"earsC", []string{"method=C3"}, true},
	{"cusum", []string{"trans=standard"}, true},
	{"cusum", []string{"trans=rossi"}, true},
	{"farringtonFlexible", nil, true},
	{"farringtonFlexible", []string{"thresholdMethod=muan"}, true},
	{"farrington", nil, true},
	{"movingPercentile", nil, false},
}

// detectScenario is the simulated baseline: a mean of e^2.5 ≈ 12 cases a
// week with a slight upward trend, yearly seasonality and overdispersion
// (φ = 2), as in the middle of Noufaily et al.'s (2013) scenarios.
var detectScenario = surveillance.Scenario{Theta: 2.5, Beta: 0.0005, Cos: []float64{0.3}, Sin: []float64{-0.2}, Phi: 2}

// Detect runs the benchmark.
func Detect(ctx context.Context, cfg DetectConfig) ([]DetectRow, error) {
	weeks := cfg.Years * 52
	series := make([]*surveillance.Series, cfg.Series)
	for i := range series {
		series[i] = detectScenario.Simulate(weeks, cfg.Seed+uint64(i))
	}
	dir, err := os.MkdirTemp("", "hip-bench-detect-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	var rows []DetectRow
	for _, a := range detectAlgorithms {
		opts, err := surveillance.ParseOptions(a.opts)
		if err != nil {
			return nil, err
		}
		row := DetectRow{Algo: a.algo, Options: a.opts}
		results := make([]*surveillance.Result, len(series))
		start := time.Now()
		for i, s := range series {
			if results[i], err = surveillance.Run(a.algo, s, opts); err != nil {
				return nil, fmt.Errorf("bench: detect: %s series %d: %w", a.algo, i, err)
			}
			row.Points += len(results[i].Index)
		}
		row.Go = time.Since(start)
		if cfg.Peer != "" && a.inR {
			for i := 0; i < cfg.RSample && i < len(series); i++ {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				d, mismatch, err := runPeer(ctx, cfg.Peer, dir, series[i], results[i], a.algo, a.opts)
				if err != nil {
					return nil, err
				}
				row.RSeries++
				row.RPoints += len(results[i].Index)
				row.R += d
				row.Mismatch += mismatch
			}
		}
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "%s %s: Go %s over %d points; R %s over %d points\n",
				a.algo, strings.Join(a.opts, " "), row.Go.Round(time.Millisecond), row.Points, row.R.Round(time.Millisecond), row.RPoints)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// runPeer runs the algorithm on one series through peer.R and returns R's
// own timing of the call and how many alarms differ from ours.
func runPeer(ctx context.Context, peer, dir string, s *surveillance.Series, ours *surveillance.Result, algo string, opts []string) (time.Duration, int, error) {
	in, out, timings := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.csv"), filepath.Join(dir, "timings.csv")
	os.Remove(timings)
	var b strings.Builder
	b.WriteString("t,observed\n")
	for i, y := range s.Observed {
		fmt.Fprintf(&b, "%d,%d\n", s.T[i], int(y))
	}
	if err := os.WriteFile(in, []byte(b.String()), 0o644); err != nil {
		return 0, 0, err
	}
	args := append([]string{peer, in, algo, out}, opts...)
	args = append(args, "timings="+timings)
	cmd := exec.CommandContext(ctx, "Rscript", args...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return 0, 0, fmt.Errorf("bench: detect: Rscript %s: %w: %s", strings.Join(args, " "), err, msg)
	}
	median, err := csvColumn(timings, "median_s")
	if err != nil {
		return 0, 0, err
	}
	secs, err := strconv.ParseFloat(median, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("bench: detect: R timing %q: %w", median, err)
	}
	alarms, err := csvColumnAll(out, "alarm")
	if err != nil {
		return 0, 0, err
	}
	mismatch := 0
	for i, a := range alarms {
		want := "NA"
		if i < len(ours.Alarm) && ours.Alarm[i] != surveillance.AlarmNA {
			want = strconv.Itoa(int(ours.Alarm[i]))
		}
		if a != want {
			mismatch++
		}
	}
	if len(alarms) != len(ours.Alarm) {
		mismatch += max(len(alarms), len(ours.Alarm)) - min(len(alarms), len(ours.Alarm))
	}
	return time.Duration(secs * float64(time.Second)), mismatch, nil
}

func csvColumn(path, name string) (string, error) {
	vals, err := csvColumnAll(path, name)
	if err != nil || len(vals) == 0 {
		return "", fmt.Errorf("bench: detect: %s: no %s: %v", path, name, err)
	}
	return vals[len(vals)-1], nil
}

func csvColumnAll(path, name string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("bench: detect: %s: %v", path, err)
	}
	col := -1
	for i, h := range rows[0] {
		if h == name {
			col = i
		}
	}
	if col < 0 {
		return nil, fmt.Errorf("bench: detect: %s has no column %s", path, name)
	}
	var out []string
	for _, r := range rows[1:] {
		out = append(out, r[col])
	}
	return out, nil
}

// DetectMarkdown renders the rows as a table for docs/surveillance.md.
func DetectMarkdown(rows []DetectRow, series int) string {
	var b strings.Builder
	b.WriteString("| algorithm | points (all series) | HIP, one core | HIP per point | R per point (sample) | R series | ratio | alarms differing |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		name := strings.TrimSpace(r.Algo + " " + strings.Join(r.Options, " "))
		goPer := r.Go.Seconds() * 1000 / float64(r.Points)
		rPer, ratio := "—", "—"
		if r.RPoints > 0 {
			rp := r.R.Seconds() * 1000 / float64(r.RPoints)
			rPer = fmt.Sprintf("%.4f ms", rp)
			ratio = fmt.Sprintf("%.0f×", rp/goPer)
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f s | %.5f ms | %s | %d | %s | %d |\n", name, r.Points, r.Go.Seconds(), goPer, rPer, r.RSeries, ratio, r.Mismatch)
	}
	fmt.Fprintf(&b, "\n%d series.\n", series)
	return b.String()
}
