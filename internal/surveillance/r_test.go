package surveillance

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rscript returns the path of Rscript when it and R's surveillance package
// are installed; else the test is skipped, saying so (.ci/run fails a CI
// run in which this happens, since CI installs R).
func rscript(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("Rscript")
	if err != nil {
		t.Skip("Rscript not found on PATH: the comparison with R's surveillance package did not run " +
			"(apt-get install r-base-core r-cran-surveillance, see ../shared/surveillance/README.md)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-e", `quit(status = if (requireNamespace("surveillance", quietly = TRUE)) 0 else 3)`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("Rscript cannot load the R package surveillance: the comparison with R did not run "+
			"(apt-get install r-cran-surveillance, see ../shared/surveillance/README.md): %v\n%s", err, out)
	}
	return path
}

// syntheticCSV writes a weekly series the reference directory does not
// have, generated deterministically: seasonal Poisson counts with the
// cases the algorithms treat specially put in — missing counts, a run of
// equal counts (σ = 0), a run of zeros, an outbreak.
func syntheticCSV(t *testing.T, path string, n int, seed uint64, withDates bool, naFrom int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	poisson := func(mu float64) int { // Knuth's method: fine for small means
		l, k, p := math.Exp(-mu), 0, 1.0
		for {
			p *= rng.Float64()
			if p <= l {
				return k
			}
			k++
		}
	}
	var b strings.Builder
	if withDates {
		b.WriteString("t,date,observed,state\n")
	} else {
		b.WriteString("week,observed\n")
	}
	start := time.Date(2015, 1, 5, 0, 0, 0, 0, time.UTC)
	for i := range n {
		obs := fmt.Sprint(poisson(6 + 4*math.Sin(2*math.Pi*float64(i)/52)))
		state := 0
		switch {
		case i >= naFrom && i%17 == 3, i == naFrom+40:
			obs = "NA"
		case i >= 70 && i < 80: // equal counts: σ = 0 in the windows
			obs = "5"
		case i >= 100 && i < 110:
			obs = "0"
		case i >= 130 && i < 134: // an outbreak
			obs = fmt.Sprint(25 + 5*(i-130))
			state = 1
		}
		if withDates {
			fmt.Fprintf(&b, "%d,%s,%s,%d\n", i+1, start.AddDate(0, 0, 7*i).Format(time.DateOnly), obs, state)
		} else {
			year, week := start.AddDate(0, 0, 7*i).ISOWeek()
			fmt.Fprintf(&b, "%d-W%02d,%s\n", year, week, obs)
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestAgainstR runs peer.R, R's surveillance 1.20.3, on series and settings
// beyond the shipped reference outputs, synthetic series among them, and
// compares our results with R's point by point.
func TestAgainstR(t *testing.T) {
	rs := rscript(t)
	peer := filepath.Join(sharedSurveillance, "peer.R")
	if _, err := os.Stat(peer); err != nil {
		t.Skipf("peer.R not available (../shared/surveillance): %v", err)
	}
	dir := t.TempDir()
	series := map[string]string{
		"salmonella_agona": filepath.Join(sharedSurveillance, "data", "salmonella_agona.csv"),
		"ha_berlin":        filepath.Join(sharedSurveillance, "data", "ha_berlin.csv"),
		"synth_weeks":      filepath.Join(dir, "synth_weeks.csv"), // NA inside the first year
		"synth_dates":      filepath.Join(dir, "synth_dates.csv"), // NA only after it
		"synth_zeros":      filepath.Join(dir, "synth_zeros.csv"),
	}
	syntheticCSV(t, series["synth_weeks"], 200, 1, false, 20)
	syntheticCSV(t, series["synth_dates"], 160, 2, true, 60)
	var zeros strings.Builder // a first year of zeros: m = 0, σ = 0
	zeros.WriteString("observed\n")
	for i := range 90 {
		zeros.WriteString(fmt.Sprintln(max(0, i-60) % 4))
	}
	if err := os.WriteFile(series["synth_zeros"], []byte(zeros.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	type rCase struct {
		series, algo string
		args         []string
	}
	var cases []rCase
	for _, s := range []string{"salmonella_agona", "synth_weeks", "synth_dates", "synth_zeros"} {
		for _, m := range []string{"C1", "C2", "C3"} {
			cases = append(cases, rCase{s, "earsC", []string{"method=" + m}})
		}
		for _, tr := range []string{"standard", "rossi"} {
			cases = append(cases, rCase{s, "cusum", []string{"trans=" + tr}})
		}
	}
	cases = append(cases,
		rCase{"ha_berlin", "earsC", []string{"method=C2", "alpha=0.01", "baseline=10", "minSigma=0.5", "range=30:290"}},
		rCase{"synth_dates", "earsC", []string{"method=C3", "baseline=5", "alpha=0.05", "range=40:150", "dates=TRUE"}},
		rCase{"synth_weeks", "earsC", []string{"method=C1", "minSigma=1", "start=2015,2"}},
		rCase{"synth_dates", "cusum", []string{"trans=rossi", "k=0.5", "h=4", "range=60:150"}},
		rCase{"synth_dates", "cusum", []string{"trans=standard", "freq=12"}},
		rCase{"synth_dates", "cusum", []string{"trans=rossi", "range=1:80"}}, // m from y[1], as R does
		rCase{"salmonella_agona", "cusum", []string{"trans=standard", "m=3.5", "range=100:200"}},
		rCase{"ha_berlin", "cusum", []string{"trans=rossi", "k=0.8", "h=NULL"}},
		// Farrington: the reference's defaults and the options the
		// shipped outputs do not exercise, on fresh series.
		rCase{"salmonella_agona", "farringtonFlexible", nil},
		rCase{"ha_berlin", "farringtonFlexible", []string{"thresholdMethod=muan", "noPeriods=4", "pastWeeksNotIncluded=26"}},
		rCase{"synth_weeks", "farringtonFlexible", []string{"b=2", "thresholdMethod=nbPlugin", "reweight=FALSE"}},
		rCase{"synth_weeks", "farringtonFlexible", []string{"b=2", "powertrans=1/2", "alpha=0.01", "trend=FALSE"}},
		rCase{"salmonella_agona", "farrington", nil},
		rCase{"ha_berlin", "farrington", []string{"b=4", "w=2", "powertrans=none"}},
	)

	// One R process runs peer.R for every case (R and the package take ~2 s
	// to start): driver.R sources peer.R with commandArgs answering each
	// case's arguments. The first case also runs as `Rscript peer.R …`, to
	// show the two give the same file.
	outFile := func(i int) string { return filepath.Join(dir, fmt.Sprint(i), "r.csv") }
	var list strings.Builder
	for i, c := range cases {
		// A directory per case: peer.R appends its timings beside its output.
		if err := os.MkdirAll(filepath.Dir(outFile(i)), 0o755); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&list, strings.Join(append([]string{series[c.series], c.algo, outFile(i)}, c.args...), "\t"))
	}
	casesFile, driver := filepath.Join(dir, "cases.tsv"), filepath.Join(dir, "driver.R")
	if err := os.WriteFile(casesFile, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(driver, []byte(peerBatchDriver), 0o644); err != nil {
		t.Fatal(err)
	}
	runR := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, rs, args...)
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("Rscript %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
	}
	runR(driver, peer, casesFile)
	direct := filepath.Join(dir, "direct.csv")
	runR(append([]string{peer, series[cases[0].series], cases[0].algo, direct}, cases[0].args...)...)
	a, errA := os.ReadFile(direct)
	b, errB := os.ReadFile(outFile(0))
	if errA != nil || errB != nil || !bytes.Equal(a, b) {
		t.Fatalf("Rscript peer.R and driver.R differ on case 0 (%v, %v)", errA, errB)
	}

	for i, c := range cases {
		name := fmt.Sprintf("%02d_%s_%s_%s", i, c.series, c.algo, strings.Join(c.args, "_"))
		t.Run(name, func(t *testing.T) {
			if msg, err := os.ReadFile(outFile(i) + ".err"); err == nil {
				t.Fatalf("peer.R failed: %s", msg)
			}
			s := readSeriesFile(t, series[c.series])
			opts, err := ParseOptions(c.args)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Run(c.algo, s, opts)
			if err != nil {
				t.Fatal(err)
			}
			st := compareWithReference(t, s, outFile(i), got)
			t.Logf("%s %s %s: %s", c.series, c.algo, strings.Join(c.args, " "), st)
		})
	}
}
