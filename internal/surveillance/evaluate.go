package surveillance

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The evaluation of Noufaily et al. (2013, Stat Med 32:1206–1222): 42
// scenarios of weekly counts, outbreaks injected into simulated replicates,
// every algorithm run on the current period, and the false positive rate,
// probability of detection and timeliness per algorithm and outbreak size
// (docs/surveillance-evaluation.md).

// The design's weeks (1-based, inclusive): weeks before BaselineFrom are
// history only, BaselineFrom…CurrentFrom−1 get four baseline outbreaks,
// CurrentFrom…EvalWeeks (49 weeks) is the current period, evaluated.
const (
	EvalWeeks    = 624
	BaselineFrom = 313
	CurrentFrom  = 576
	// CurrentWeeks is the length of the current period.
	CurrentWeeks = EvalWeeks - CurrentFrom + 1
	// MaxK is the largest current outbreak: k = 1…MaxK standard deviations.
	MaxK = 10
	// maxDelay is lognormDiscrete's Dmax: a case falls 0…maxDelay−1 weeks
	// after its outbreak's start.
	maxDelay = 20
)

// baselineOutbreakK are the sizes, in standard deviations, of the four
// baseline outbreaks, one drawn at random for each.
var baselineOutbreakK = [...]int{2, 3, 5, 10}

// NoufailyScenario is one of the 42 scenarios of Noufaily et al. (2013).
type NoufailyScenario struct {
	Number    int // 1…42
	Set       int // parameter set 1…7
	Trend     bool
	Harmonics int // m: 0 (no seasonality), 1 or 2 harmonics
	Scenario
}

// Label describes the scenario in a table.
func (n NoufailyScenario) Label() string {
	trend := "no trend"
	if n.Trend {
		trend = "trend"
	}
	return fmt.Sprintf("set %d, %s, m=%d", n.Set, trend, n.Harmonics)
}

// noufailySets are the parameter sets (θ, β, γ₁, γ₂, φ) of Noufaily et
// al.'s Table I; each gives six scenarios.
var noufailySets = [7][5]float64{
	{0.1, 0.0025, 0.6, 0.6, 1.5},
	{-2, 0.005, 0.1, 0.3, 2},
	{1.5, 0.003, 0.2, -0.4, 1},
	{0.5, 0.002, 0.5, 0.5, 5},
	{2.5, 0.001, 1, 0.1, 3},
	{3.75, 0.001, 0.1, -0.1, 1.1},
	{5, 0.0001, 0.05, 0.01, 1.2},
}

// NoufailyScenarios returns the 42 scenarios in their order: for each
// parameter set, no trend with m = 0, 1, 2, then the trend with m = 0, 1,
// 2. With m = 2 both harmonics take the same γ₁, γ₂, as R's sts_creation
// and Noufaily et al. do.
func NoufailyScenarios() []NoufailyScenario {
	var out []NoufailyScenario
	for i, p := range noufailySets {
		for _, trend := range []bool{false, true} {
			for m := range 3 {
				sc := Scenario{Theta: p[0], Phi: p[4]}
				if trend {
					sc.Beta = p[1]
				}
				for range m {
					sc.Cos = append(sc.Cos, p[2])
					sc.Sin = append(sc.Sin, p[3])
				}
				out = append(out, NoufailyScenario{Number: len(out) + 1, Set: i + 1, Trend: trend, Harmonics: m, Scenario: sc})
			}
		}
	}
	return out
}

// ParseScenarios reads a list of scenario numbers such as "1-42" or
// "1,9,17-20": numbers and ranges separated by commas, each 1…42, in the
// order given, each once.
func ParseScenarios(s string) ([]int, error) {
	var out []int
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		lo, hi, isRange := strings.Cut(item, "-")
		if !isRange {
			hi = lo
		}
		from, errFrom := strconv.Atoi(strings.TrimSpace(lo))
		to, errTo := strconv.Atoi(strings.TrimSpace(hi))
		switch {
		case errFrom != nil || errTo != nil:
			return nil, fmt.Errorf("scenarios %q: %q is not a number or a range FROM-TO", s, item)
		case from < 1 || to > len(noufailySets)*6 || from > to:
			return nil, fmt.Errorf("scenarios %q: %q is not within 1-%d", s, item, len(noufailySets)*6)
		}
		for n := from; n <= to; n++ {
			if slices.Contains(out, n) {
				return nil, fmt.Errorf("scenarios %q: scenario %d given twice", s, n)
			}
			out = append(out, n)
		}
	}
	return out, nil
}

// FormatScenarios writes scenario numbers as ParseScenarios reads them,
// runs of consecutive numbers as ranges: "1-42", "1,9,17-20".
func FormatScenarios(numbers []int) string {
	var items []string
	for i := 0; i < len(numbers); {
		j := i
		for j+1 < len(numbers) && numbers[j+1] == numbers[j]+1 {
			j++
		}
		item := strconv.Itoa(numbers[i])
		if j > i {
			item += "-" + strconv.Itoa(numbers[j])
		}
		items = append(items, item)
		i = j + 1
	}
	return strings.Join(items, ",")
}

// delayCDF is the cumulative distribution of a case's delay d = 0…19
// weeks after its outbreak's start: R's surveillance:::lognormDiscrete
// (Dmax = 20, logmu = 0, sigma = 0.5), P(d) = (F(d+1) − F(d)) / F(20) with
// F the lognormal distribution function.
var delayCDF = func() [maxDelay]float64 {
	F := func(x float64) float64 { return 0.5 * math.Erfc(-math.Log(x)/(0.5*math.Sqrt2)) }
	var c [maxDelay]float64
	for d := range c {
		c[d] = F(float64(d+1)) / F(maxDelay)
	}
	c[maxDelay-1] = 1 // no draw may fall beyond the table by rounding
	return c
}()

// drawDelay draws a case's delay by inversion.
func drawDelay(r *rand.Rand) int {
	u := r.Float64()
	d := 0
	for u >= delayCDF[d] {
		d++
	}
	return d
}

// outbreak is an injected outbreak.
type outbreak struct {
	Start int // the week drawn for it (1-based)
	K     int // its size in standard deviations of the baseline count at Start
	// Cases holds the cases per week from Start on, up to week EvalWeeks;
	// Dropped counts those that fell after it.
	Cases   []int
	Dropped int
}

// add places n more cases at delays drawn from r.
func (o *outbreak) add(r *rand.Rand, n int) {
	for range n {
		d := drawDelay(r)
		if o.Start+d > EvalWeeks {
			o.Dropped++
			continue
		}
		if d >= len(o.Cases) {
			o.Cases = append(o.Cases, make([]int, d+1-len(o.Cases))...)
		}
		o.Cases[d]++
	}
}

// clone copies the outbreak, so that adding cases leaves o alone.
func (o outbreak) clone() outbreak {
	o.Cases = slices.Clone(o.Cases)
	return o
}

// replicate is one simulated replicate of a scenario: a baseline with four
// baseline outbreaks (the null series, no outbreak in the current period)
// and the current outbreaks of k = 1…MaxK, each added to that same null
// series.
type replicate struct {
	Null     []float64 // weeks 1…EvalWeeks
	Baseline [4]outbreak
	Current  [MaxK]outbreak // Current[k−1] has size k
}

// simulateReplicate draws replicate rep of scenario number sc. Each
// (scenario, replicate) has its own PCG stream, so a replicate is the same
// whichever others are run, in whatever order. The current outbreaks are
// nested, common random numbers: outbreak k is outbreak k−1 plus
// Poisson(SD) more cases (a Poisson(k·SD) count in all), so a larger
// outbreak differs from a smaller one only by its extra cases.
func simulateReplicate(seed uint64, sc NoufailyScenario, rep int) *replicate {
	r := rand.New(rand.NewPCG(seed, uint64(sc.Number)<<32|uint64(rep)))
	x := &replicate{Null: sc.draw(r, EvalWeeks)}
	sd := func(t int) float64 { return math.Sqrt(sc.Phi * sc.Mean(t)) }
	var starts []int
	for i := range x.Baseline {
		t0 := BaselineFrom + r.IntN(CurrentFrom-BaselineFrom)
		for slices.Contains(starts, t0) {
			t0 = BaselineFrom + r.IntN(CurrentFrom-BaselineFrom)
		}
		starts = append(starts, t0)
		o := outbreak{Start: t0, K: baselineOutbreakK[r.IntN(len(baselineOutbreakK))]}
		o.add(r, poisson(r, float64(o.K)*sd(t0)))
		for d, n := range o.Cases {
			x.Null[t0-1+d] += float64(n)
		}
		x.Baseline[i] = o
	}
	o := outbreak{Start: CurrentFrom + r.IntN(CurrentWeeks)}
	for k := 1; k <= MaxK; k++ {
		o = o.clone()
		o.K = k
		o.add(r, poisson(r, sd(o.Start)))
		x.Current[k-1] = o
	}
	return x
}

// series returns the replicate's series with the current outbreak of size
// k, or the null series for k = 0.
func (x *replicate) series(k int) *Series {
	y := slices.Clone(x.Null)
	if k > 0 {
		o := x.Current[k-1]
		for d, n := range o.Cases {
			y[o.Start-1+d] += float64(n)
		}
	}
	return weeklySeries(y)
}

// currentCases returns the current outbreak of size k as cases per week
// of the current period.
func (x *replicate) currentCases(k int) []int {
	c := make([]int, CurrentWeeks)
	o := x.Current[k-1]
	copy(c[o.Start-CurrentFrom:], o.Cases)
	return c
}

// EvalAlgorithm is an algorithm with its settings as evaluated, in peer.R's
// names and key=value options (the range is the current period).
type EvalAlgorithm struct {
	Label   string // short name in the tables
	Algo    string
	Options []string
	InR     bool // peer.R runs it
}

// Name is the algorithm as hip detect and peer.R are told it.
func (a EvalAlgorithm) Name() string {
	return strings.TrimSpace(a.Algo + " " + strings.Join(a.Options, " "))
}

// EvalAlgorithms are the algorithms evaluated, each with the package's
// defaults unless its options say otherwise. Adding one is one line.
var EvalAlgorithms = []EvalAlgorithm{
	{"C1", "earsC", []string{"method=C1"}, true},
	{"C2", "earsC", []string{"method=C2"}, true},
	{"C3", "earsC", []string{"method=C3"}, true},
	{"CUSUM", "cusum", []string{"trans=standard"}, true},
	{"FF", "farringtonFlexible", nil, true},
	// Noufaily et al.'s improved settings.
	{"FF improved", "farringtonFlexible", []string{"noPeriods=10", "pastWeeksNotIncluded=26", "thresholdMethod=nbPlugin"}, true},
	{"Farrington", "farrington", nil, true},
	{"moving pct", "movingPercentile", nil, false},
}

// currentRange is the range option of every evaluated run.
var currentRange = fmt.Sprintf("range=%d:%d", CurrentFrom, EvalWeeks)

// options returns the algorithm's options with the current period as range.
func (a EvalAlgorithm) options() (Options, error) {
	return ParseOptions(append(slices.Clone(a.Options), currentRange))
}

// alarmsOf returns the result's alarms over the current period, AlarmNA
// where a point is not evaluated.
func alarmsOf(r *Result) []int8 {
	a := make([]int8, CurrentWeeks)
	for i := range a {
		a[i] = AlarmNA
	}
	for i, p := range r.Index {
		if w := p - (CurrentFrom - 1); w >= 0 && w < CurrentWeeks {
			a[w] = r.Alarm[i]
		}
	}
	return a
}

// Tally holds what one algorithm did on a scenario's replicates, from
// which the measures follow.
type Tally struct {
	NullAlarms, NullWeeks int // current weeks of the null series with an alarm, with a non-NA alarm
	Outbreak              [MaxK]OutbreakTally
}

// OutbreakTally is the tally of the current outbreaks of one size.
type OutbreakTally struct {
	Empty     int     // outbreaks without a case in the series: left out below
	N         int     // outbreaks with at least one case
	Detected  int     // with an alarm in one of the outbreak's weeks
	FirstWeek int     // with an alarm in the outbreak's first week
	Late      float64 // the sum of the outbreaks' timeliness
}

// AddNull counts the alarms of a null series over the current period.
func (t *Tally) AddNull(alarms []int8) {
	for _, a := range alarms {
		if a != AlarmNA {
			t.NullWeeks++
		}
		if a == Alarm {
			t.NullAlarms++
		}
	}
}

// AddOutbreak scores the alarms of a series with the outbreak of size k,
// cases and alarms aligned week by week. The outbreak's weeks are those
// with a case; it is detected by an alarm in one of them, and its
// timeliness is (first such alarm − first week) / (last week − first week
// + 1), 1 when not detected (Salmon et al. 2016): 0 is best.
func (t *Tally) AddOutbreak(k int, cases []int, alarms []int8) {
	o := &t.Outbreak[k-1]
	first, last := -1, -1
	for w, n := range cases {
		if n > 0 {
			if first < 0 {
				first = w
			}
			last = w
		}
	}
	if first < 0 {
		o.Empty++
		return
	}
	o.N++
	late := 1.0
	for w := first; w <= last; w++ {
		if cases[w] > 0 && alarms[w] == Alarm {
			o.Detected++
			if w == first {
				o.FirstWeek++
			}
			late = float64(w-first) / float64(last-first+1)
			break
		}
	}
	o.Late += late
}

// Add adds u's counts to t.
func (t *Tally) Add(u *Tally) {
	t.NullAlarms += u.NullAlarms
	t.NullWeeks += u.NullWeeks
	for i := range t.Outbreak {
		o, p := &t.Outbreak[i], &u.Outbreak[i]
		o.Empty += p.Empty
		o.N += p.N
		o.Detected += p.Detected
		o.FirstWeek += p.FirstWeek
		o.Late += p.Late
	}
}

// FPR is the false positive rate: the share of the null series' current
// weeks with an alarm. NaN without any.
func (t *Tally) FPR() float64 { return ratio(t.NullAlarms, t.NullWeeks) }

// POD is the probability of detecting an outbreak of size k. NaN without
// any outbreak with a case.
func (t *Tally) POD(k int) float64 {
	o := t.Outbreak[k-1]
	return ratio(o.Detected, o.N)
}

// PODFirstWeek is the probability of an alarm in the first week of an
// outbreak of size k.
func (t *Tally) PODFirstWeek(k int) float64 {
	o := t.Outbreak[k-1]
	return ratio(o.FirstWeek, o.N)
}

// Timeliness is the mean timeliness of the outbreaks of size k.
func (t *Tally) Timeliness(k int) float64 {
	o := t.Outbreak[k-1]
	if o.N == 0 {
		return NA
	}
	return o.Late / float64(o.N)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return NA
	}
	return float64(a) / float64(b)
}

// EvalConfig sets up an evaluation.
type EvalConfig struct {
	Scenarios  []int // scenario numbers; nil: all 42
	Replicates int
	Seed       uint64
	// Algorithms evaluated; nil: EvalAlgorithms.
	Algorithms []EvalAlgorithm
	// Workers run replicates at once; 0: GOMAXPROCS. The results do not
	// depend on it.
	Workers int
	// Progress, when set, is called after each replicate, from one
	// goroutine.
	Progress func(done, total int)
}

// Evaluation is the outcome: Tallies[i][j] is algorithm j on scenario i.
type Evaluation struct {
	Scenarios  []NoufailyScenario
	Algorithms []EvalAlgorithm
	Replicates int
	Tallies    [][]Tally
	Points     int // time points evaluated, all algorithms and series
}

// Mean averages a measure of algorithm j over the scenarios, leaving out
// those where it is NaN (no outbreak with a case).
func (e *Evaluation) Mean(j int, measure func(*Tally) float64) float64 {
	sum, n := 0.0, 0
	for i := range e.Tallies {
		if v := measure(&e.Tallies[i][j]); !IsNA(v) {
			sum += v
			n++
		}
	}
	if n == 0 {
		return NA
	}
	return sum / float64(n)
}

// Evaluate runs the evaluation: for each scenario and replicate the null
// series and the series with the current outbreaks of k = 1…MaxK, every
// algorithm on the current period of each. Replicates run in parallel;
// each is tallied on its own and the tallies are added in order, so the
// results are the same for any number of workers.
func Evaluate(ctx context.Context, cfg EvalConfig) (*Evaluation, error) {
	all := NoufailyScenarios()
	e := &Evaluation{Algorithms: cfg.Algorithms, Replicates: cfg.Replicates}
	if e.Algorithms == nil {
		e.Algorithms = EvalAlgorithms
	}
	if cfg.Scenarios == nil {
		e.Scenarios = all
	}
	for _, n := range cfg.Scenarios {
		if n < 1 || n > len(all) {
			return nil, fmt.Errorf("surveillance: evaluate: no scenario %d (1-%d)", n, len(all))
		}
		e.Scenarios = append(e.Scenarios, all[n-1])
	}
	if cfg.Replicates < 1 {
		return nil, fmt.Errorf("surveillance: evaluate: %d replicates", cfg.Replicates)
	}
	opts := make([]Options, len(e.Algorithms))
	for j, a := range e.Algorithms {
		var err error
		if opts[j], err = a.options(); err != nil {
			return nil, fmt.Errorf("surveillance: evaluate: %s: %w", a.Name(), err)
		}
	}

	type job struct {
		tallies []Tally
		points  int
		err     error
	}
	jobs := make([]job, len(e.Scenarios)*cfg.Replicates)
	workers := cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next, done := make(chan int), make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				sc, rep := e.Scenarios[i/cfg.Replicates], i%cfg.Replicates
				jobs[i].tallies, jobs[i].points, jobs[i].err = evaluateReplicate(simulateReplicate(cfg.Seed, sc, rep), e.Algorithms, opts)
				if jobs[i].err != nil {
					jobs[i].err = fmt.Errorf("surveillance: evaluate: scenario %d, replicate %d: %w", sc.Number, rep+1, jobs[i].err)
					cancel()
				}
				done <- i
			}
		})
	}
	go func() {
		defer close(next)
		for i := range jobs {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(done) }()
	finished := 0
	for range done {
		finished++
		if cfg.Progress != nil {
			cfg.Progress(finished, len(jobs))
		}
	}
	for i := range jobs {
		if jobs[i].err != nil {
			return nil, jobs[i].err
		}
	}
	if err := ctx.Err(); err != nil && finished < len(jobs) {
		return nil, err
	}

	e.Tallies = make([][]Tally, len(e.Scenarios))
	for i := range e.Scenarios {
		e.Tallies[i] = make([]Tally, len(e.Algorithms))
		for rep := range cfg.Replicates {
			jb := &jobs[i*cfg.Replicates+rep]
			for j := range e.Algorithms {
				e.Tallies[i][j].Add(&jb.tallies[j])
			}
			e.Points += jb.points
		}
	}
	return e, nil
}

// evaluateReplicate runs every algorithm on the replicate's null series
// and its series with the current outbreaks, and tallies the alarms.
func evaluateReplicate(x *replicate, algos []EvalAlgorithm, opts []Options) ([]Tally, int, error) {
	tallies := make([]Tally, len(algos))
	points := 0
	for k := 0; k <= MaxK; k++ {
		s := x.series(k)
		for j, a := range algos {
			r, err := Run(a.Algo, s, opts[j])
			if err != nil {
				return nil, 0, fmt.Errorf("k=%d: %w", k, err)
			}
			points += len(r.Index)
			if k == 0 {
				tallies[j].AddNull(alarmsOf(r))
			} else {
				tallies[j].AddOutbreak(k, x.currentCases(k), alarmsOf(r))
			}
		}
	}
	return tallies, points, nil
}

// RSubset is a part of the design run through R's reference as well:
// the null series and the series with the outbreak of size K of the first
// Replicates replicates of each of Scenarios, every algorithm peer.R knows.
type RSubset struct {
	Rscript string // path of Rscript
	Peer    string // path of ../shared/surveillance/peer.R
	// Scenarios, Replicates and Seed pick the series: the same as an
	// Evaluate with the same seed.
	Scenarios  []int
	Replicates int
	Seed       uint64
	K          int
	// Procs are the R processes run at once; 0: GOMAXPROCS.
	Procs int
	// Algorithms; nil: those of EvalAlgorithms R runs.
	Algorithms []EvalAlgorithm
}

// RAgreement is one algorithm's comparison with R on a subset.
type RAgreement struct {
	Algorithm EvalAlgorithm
	Series    int // run through both
	Points    int // time points compared
	Differing int // points where the alarms differ (or one side has none)
	Go, R     Tally
}

// CompareWithR runs the subset through peer.R, in one R process per
// share of the series (R takes ~2 s to start), compares R's alarms with
// ours point by point and tallies both. It returns the time R took.
func CompareWithR(ctx context.Context, sub RSubset) ([]RAgreement, time.Duration, error) {
	algos := sub.Algorithms
	if algos == nil {
		for _, a := range EvalAlgorithms {
			if a.InR {
				algos = append(algos, a)
			}
		}
	}
	all := NoufailyScenarios()
	if sub.K < 1 || sub.K > MaxK || sub.Replicates < 1 {
		return nil, 0, fmt.Errorf("surveillance: R subset: k=%d, %d replicates", sub.K, sub.Replicates)
	}
	dir, err := os.MkdirTemp("", "hip-evaluate-r-")
	if err != nil {
		return nil, 0, err
	}
	defer os.RemoveAll(dir)

	// One case per series and algorithm: its series, whether it has the
	// outbreak, and the files peer.R reads and writes.
	type rCase struct {
		x       *replicate
		k, algo int
		in, out string
	}
	var cases []rCase
	for _, n := range sub.Scenarios {
		if n < 1 || n > len(all) {
			return nil, 0, fmt.Errorf("surveillance: R subset: no scenario %d", n)
		}
		for rep := range sub.Replicates {
			x := simulateReplicate(sub.Seed, all[n-1], rep)
			for _, k := range []int{0, sub.K} {
				in := filepath.Join(dir, fmt.Sprintf("s%02d_r%03d_k%02d.csv", n, rep+1, k))
				if err := writeSeriesCSV(in, x.series(k)); err != nil {
					return nil, 0, err
				}
				for j := range algos {
					cases = append(cases, rCase{x, k, j, in, strings.TrimSuffix(in, ".csv") + fmt.Sprintf("_a%d.out.csv", j)})
				}
			}
		}
	}
	procs := sub.Procs
	if procs <= 0 {
		procs = runtime.GOMAXPROCS(0)
	}
	lists := make([]strings.Builder, min(procs, len(cases)))
	for i, c := range cases {
		a := algos[c.algo]
		args := append([]string{c.in, a.Algo, c.out}, a.Options...)
		args = append(args, currentRange, "timings="+filepath.Join(dir, fmt.Sprintf("timings%d.csv", i%len(lists))))
		fmt.Fprintln(&lists[i%len(lists)], strings.Join(args, "\t"))
	}
	driver := filepath.Join(dir, "driver.R")
	if err := os.WriteFile(driver, []byte(peerBatchDriver), 0o644); err != nil {
		return nil, 0, err
	}
	start := time.Now()
	errs := make([]error, len(lists))
	var wg sync.WaitGroup
	for p := range lists {
		list := filepath.Join(dir, fmt.Sprintf("cases%d.tsv", p))
		if err := os.WriteFile(list, []byte(lists[p].String()), 0o644); err != nil {
			return nil, 0, err
		}
		wg.Go(func() {
			var stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, sub.Rscript, driver, sub.Peer, list)
			cmd.Stderr = &stderr
			if err := cmd.Run(); err != nil {
				errs[p] = fmt.Errorf("surveillance: R subset: %s %s %s %s: %w\n%s", sub.Rscript, driver, sub.Peer, list, err, stderr.String())
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return nil, took, err
	}

	out := make([]RAgreement, len(algos))
	for j, a := range algos {
		out[j].Algorithm = a
	}
	for _, c := range cases {
		a := algos[c.algo]
		if msg, err := os.ReadFile(c.out + ".err"); err == nil {
			return nil, took, fmt.Errorf("surveillance: R subset: peer.R %s %s: %s", filepath.Base(c.in), a.Name(), strings.TrimSpace(string(msg)))
		}
		opts, err := a.options()
		if err != nil {
			return nil, took, err
		}
		ours, err := Run(a.Algo, c.x.series(c.k), opts)
		if err != nil {
			return nil, took, fmt.Errorf("surveillance: R subset: %s %s: %w", filepath.Base(c.in), a.Name(), err)
		}
		theirs, err := readPeerAlarms(c.out)
		if err != nil {
			return nil, took, err
		}
		goAlarms, rAlarms := alarmsOf(ours), alarmsOf(theirs)
		ag := &out[c.algo]
		ag.Series++
		ag.Points += max(len(ours.Index), len(theirs.Index))
		for w := range goAlarms {
			if goAlarms[w] != rAlarms[w] {
				ag.Differing++
			}
		}
		if c.k == 0 {
			ag.Go.AddNull(goAlarms)
			ag.R.AddNull(rAlarms)
		} else {
			cases := c.x.currentCases(c.k)
			ag.Go.AddOutbreak(c.k, cases, goAlarms)
			ag.R.AddOutbreak(c.k, cases, rAlarms)
		}
	}
	return out, took, nil
}

// writeSeriesCSV writes a series as peer.R reads it.
func writeSeriesCSV(path string, s *Series) error {
	var b strings.Builder
	b.WriteString("t,observed\n")
	for i, y := range s.Observed {
		fmt.Fprintf(&b, "%d,%s\n", s.T[i], FormatNumber(y))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// readPeerAlarms reads the t and alarm columns of peer.R's output as a
// result (without bounds).
func readPeerAlarms(path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("surveillance: R output: %w", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) == 0 {
		return nil, fmt.Errorf("surveillance: R output %s: no rows (%v)", path, err)
	}
	tCol, alarmCol := slices.Index(rows[0], "t"), slices.Index(rows[0], "alarm")
	if tCol < 0 || alarmCol < 0 {
		return nil, fmt.Errorf("surveillance: R output %s: no t or alarm column in %q", path, rows[0])
	}
	r := &Result{}
	for i, row := range rows[1:] {
		t, err := strconv.Atoi(row[tCol])
		a, ok := map[string]int8{"0": NoAlarm, "1": Alarm, "NA": AlarmNA}[row[alarmCol]]
		if err != nil || !ok {
			return nil, fmt.Errorf("surveillance: R output %s line %d: t %q, alarm %q", path, i+2, row[tCol], row[alarmCol])
		}
		r.Index = append(r.Index, t-1)
		r.Alarm = append(r.Alarm, a)
	}
	return r, nil
}

// peerBatchDriver runs peer.R (its first argument) once per line of a
// tab-separated file of peer.R arguments, in one R process; a case that
// fails leaves its message in OUTPUT.csv.err.
const peerBatchDriver = `suppressPackageStartupMessages(library(surveillance))
driver <- commandArgs(trailingOnly = TRUE)
peer <- driver[1]
for (line in readLines(driver[2])) {
  a <- strsplit(line, "\t", fixed = TRUE)[[1]]
  e <- new.env()
  e$commandArgs <- function(trailingOnly = FALSE)
    if (trailingOnly) a else c("R", paste0("--file=", peer), "--args", a)
  msg <- tryCatch({ source(peer, local = e); NULL }, error = function(err) conditionMessage(err))
  if (!is.null(msg)) writeLines(msg, paste0(a[3], ".err"))
}
`
