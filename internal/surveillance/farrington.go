package surveillance

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// FarringtonControl holds the settings of FarringtonFlexible (R's
// farringtonFlexible) and of Farrington (R's algo.farrington, the 1996
// algorithm). Field names follow R's control list.
type FarringtonControl struct {
	// Range lists the time points to evaluate as 1-based row numbers of
	// the series (R's control$range). Empty: FarringtonFlexible takes
	// freq·B + W + 1 … n, Farrington freq·B − W … n (R's defaults).
	Range []int
	// B is the number of past years in the baseline, W the half-width of
	// the window around each reference week.
	B, W int
	// Reweight down-weights past outbreaks by their Anscombe residuals:
	// residuals above WeightsThreshold get weight ∝ s⁻² (Farrington 1996
	// uses 1, Noufaily et al. 2.58).
	Reweight         bool
	WeightsThreshold float64
	// Alpha: FarringtonFlexible's bound is the one-sided (1 − Alpha)
	// quantile; Farrington's is two-sided, z = qnorm(1 − Alpha/2).
	Alpha float64
	// Trend fits a linear time trend, kept only if its p-value is below
	// PThresholdTrend, B ≥ 3 and the prediction does not exceed the
	// largest baseline count.
	Trend           bool
	PThresholdTrend float64
	// Limit54 = {cases, weeks}: no bound (FarringtonFlexible: NA,
	// Farrington: 0) and no alarm unless the last weeks, the current one
	// included, hold at least cases counts.
	Limit54 [2]int
	// PowerTrans is the transformation of the delta threshold: "2/3",
	// "1/2" or "none".
	PowerTrans string
	// NoPeriods > 1 adds a factor splitting each year between the
	// windows into NoPeriods − 1 periods, so that all past weeks enter
	// the baseline (Noufaily et al. use 10). FarringtonFlexible only.
	NoPeriods int
	// PastWeeksNotIncluded leaves the weeks k − PastWeeksNotIncluded … k
	// out of the baseline; negative means W (R's NULL default).
	// FarringtonFlexible only.
	PastWeeksNotIncluded int
	// ThresholdMethod is "delta" (Farrington's power-transformed normal
	// approximation), "muan" (negative binomial quantile at the upper
	// quantile of the mean) or "nbPlugin" (at the mean itself).
	// FarringtonFlexible only; Farrington always uses delta.
	ThresholdMethod string
	// Dispersion: "reference" (default) reproduces the R package, where
	// the trend p-value and se(η̂₀) use D = Σωᵢ((yᵢ−μᵢ)/μᵢ)²/(n−p)
	// because the working weights have been overwritten by the
	// reweighting weights ω; "textbook" uses the dispersion φ for both.
	// FarringtonFlexible only.
	Dispersion string
	// Dates takes reference weeks by calendar, as R does for an sts with
	// epochAsDate = TRUE: the same date 1…B years back, moved to the
	// nearest same weekday for weekly series. The series needs date
	// labels (YYYY-MM-DD). False: by index, t − freq·i.
	Dates bool
}

// DefaultFarringtonFlexible returns R's farringtonFlexible defaults.
func DefaultFarringtonFlexible() FarringtonControl {
	return FarringtonControl{B: 5, W: 3, Reweight: true, WeightsThreshold: 2.58, Alpha: 0.05,
		Trend: true, PThresholdTrend: 0.05, Limit54: [2]int{5, 4}, PowerTrans: "2/3",
		NoPeriods: 1, PastWeeksNotIncluded: -1, ThresholdMethod: "delta", Dispersion: "reference"}
}

// DefaultFarrington returns R's algo.farrington defaults (whose weights
// threshold 1 and trend p-value 0.05 R hard-codes).
func DefaultFarrington() FarringtonControl {
	return FarringtonControl{B: 5, W: 3, Reweight: true, WeightsThreshold: 1, Alpha: 0.05,
		Trend: true, PThresholdTrend: 0.05, Limit54: [2]int{5, 4}, PowerTrans: "2/3",
		NoPeriods: 1, PastWeeksNotIncluded: -1, ThresholdMethod: "delta", Dispersion: "reference"}
}

// FarringtonFlexible runs R's farringtonFlexible (surveillance 1.20.3–
// 1.26.0) on s. At each evaluated point k a quasi-Poisson GLM is fitted
// to the baseline (windows of ±W weeks around k − freq·i, i = 1…B, and
// k − W … k, less the last PastWeeksNotIncluded weeks), with a time
// trend where significant and past outbreaks down-weighted; the bound is
// the upper prediction limit. Diagnostics, as the reference writes them:
// expected, score, pvalue, phi, mu0, trend, trendCoef. Where R stops with
// an error inside a time point (a GLM without valid coefficients), that
// point gets NA.
func FarringtonFlexible(s *Series, c FarringtonControl) (*Result, error) {
	e, err := newFarrEnv(s, &c, "farringtonFlexible")
	if err != nil {
		return nil, err
	}
	switch c.ThresholdMethod {
	case "delta", "muan", "nbPlugin":
	default:
		return nil, e.errorf("thresholdMethod %q: want delta, nbPlugin or muan", c.ThresholdMethod)
	}
	switch c.Dispersion {
	case "", "reference", "textbook":
	default:
		return nil, e.errorf("dispersion %q: want reference or textbook", c.Dispersion)
	}
	if c.NoPeriods < 1 {
		return nil, e.errorf("noPeriods %d: want ≥ 1", c.NoPeriods)
	}
	pwni := c.PastWeeksNotIncluded
	if pwni < 0 {
		pwni = c.W
	}
	rng, index, err := e.evaluated(c.Range, e.freq*c.B+c.W+1)
	if err != nil {
		return nil, err
	}
	res := newResult(index, "expected", "score", "pvalue", "phi", "mu0", "trend", "trendCoef")
	d := res.Diagnostics
	for i, k := range rng {
		if k-pwni < 0 {
			return nil, e.errorf("time point %d: pastWeeksNotIncluded %d reaches before the series", k, pwni)
		}
		b, err := e.flexBaseline(k, pwni)
		if err != nil {
			return nil, err
		}
		m := e.flexModel(b, k)
		if m == nil {
			// R keeps expected at its initial 0 here; all else NA.
			d["expected"][i] = 0
			continue
		}
		y := e.obs[k-1]
		// m.fit is on the response scale for delta, the link scale else,
		// as R predicts it.
		res.Expected[i] = m.fit
		if c.ThresholdMethod != "delta" {
			res.Expected[i] = math.Exp(m.fit)
		}
		var upper, score, prob float64
		if c.ThresholdMethod == "delta" {
			upper, score, prob = e.deltaThreshold(m.fit, m.se, m.phi, y, false)
		} else {
			upper, score, prob = noufailyThreshold(m.fit, m.se, m.phi, y, c.Alpha, c.ThresholdMethod)
		}
		enough, enoughNA := e.enoughCases(k)
		if !enoughNA && enough {
			res.UpperBound[i] = upper
		}
		res.Alarm[i] = NoAlarm
		if !enoughNA && enough && !math.IsNaN(score) && score > 1 && y != 0 {
			res.Alarm[i] = Alarm
		}
		switch {
		case math.IsNaN(upper) || enoughNA || !enough:
			d["expected"][i] = NA
		case c.ThresholdMethod == "delta":
			d["expected"][i] = m.fit
		default:
			d["expected"][i] = math.Exp(m.fit)
		}
		if c.ThresholdMethod == "nbPlugin" {
			d["mu0"][i] = math.Exp(m.fit)
		} else {
			// For delta this is exp of the upper quantile of the
			// response-scale prediction: the reference's definition.
			d["mu0"][i] = math.Exp(qnorm(1-c.Alpha, m.fit, m.se))
		}
		d["phi"][i] = m.phi
		d["score"][i] = score
		d["pvalue"][i] = prob
		d["trend"][i] = 0
		if m.doTrend {
			d["trend"][i] = 1
			d["trendCoef"][i] = m.trendCoef
		}
	}
	return res, nil
}

// Farrington runs R's algo.farrington (the method of Farrington et al.
// 1996) on s: the baseline is the ±W windows around k − freq·i, i = 1…B
// (not the current year); the GLM, reweighting and trend as in
// FarringtonFlexible, the bound the upper limit of the two-sided
// (1 − Alpha) delta interval, 0 (not NA) without enough cases. It uses
// Range, B, W, Reweight, WeightsThreshold, Alpha, Trend, PThresholdTrend,
// Limit54, PowerTrans and Dates. Diagnostics as the reference writes
// them: pd_prob (P(Y ≤ y) on the transformed scale), mu0 (the predicted
// mean), trend (the Trend setting, which is what R's control$trend holds;
// not whether the trend was kept). Missing baseline counts are left out
// (R stops on them).
func Farrington(s *Series, c FarringtonControl) (*Result, error) {
	e, err := newFarrEnv(s, &c, "farrington")
	if err != nil {
		return nil, err
	}
	rng, index, err := e.evaluated(c.Range, max(1, e.freq*c.B-c.W))
	if err != nil {
		return nil, err
	}
	res := newResult(index, "pd_prob", "mu0", "trend")
	d := res.Diagnostics
	for i, k := range rng {
		if c.Trend {
			d["trend"][i] = 1
		} else {
			d["trend"][i] = 0
		}
		b, err := e.farrington96Baseline(k)
		if err != nil {
			return nil, err
		}
		fit, se, phi, ok := e.farrington96Model(b, k)
		if !ok {
			continue
		}
		y := e.obs[k-1]
		res.Expected[i] = fit
		upper, _, _ := e.deltaThreshold(fit, se, phi, y, true)
		ex := powerExponent(c.PowerTrans)
		seT := farrSE(fit, se, phi, c.PowerTrans)
		d["pd_prob"][i] = pnorm(math.Pow(y, ex), math.Pow(fit, ex), seT, true)
		d["mu0"][i] = math.Pow(qnorm(0.5, math.Pow(fit, ex), seT), 1/ex)
		enough, enoughNA := e.enoughCases(k)
		switch {
		case enoughNA:
			// NA bound and alarm, as R's ifelse(NA, …).
		case !enough:
			res.UpperBound[i] = 0
			res.Alarm[i] = NoAlarm
		default:
			res.UpperBound[i] = upper
			x := (y - fit) / (upper - fit)
			switch {
			case math.IsNaN(x):
			case x > 1:
				res.Alarm[i] = Alarm
			default:
				res.Alarm[i] = NoAlarm
			}
		}
	}
	return res, nil
}

// farrEnv is what every time point of one run shares.
type farrEnv struct {
	c    *FarringtonControl
	name string
	obs  []float64
	n    int
	freq int
	// days holds each point's date as days since 1970-01-01 when Dates.
	days   []int
	dayIdx map[int]int // day → 1-based row
	// blk, blkID are flexBaseline's scratch vectors.
	blk, blkID rVec
}

func (e *farrEnv) errorf(format string, a ...any) error {
	return fmt.Errorf("surveillance: %s: "+format, append([]any{e.name}, a...)...)
}

func newFarrEnv(s *Series, c *FarringtonControl, name string) (*farrEnv, error) {
	e := &farrEnv{c: c, name: name}
	if s == nil {
		return nil, e.errorf("no series")
	}
	e.obs, e.n, e.freq = s.Observed, s.Len(), s.Freq
	if e.freq == 0 {
		e.freq = 52
	}
	switch {
	case c.B < 1:
		return nil, e.errorf("b %d: want ≥ 1", c.B)
	case c.W < 0:
		return nil, e.errorf("w %d: want ≥ 0", c.W)
	case c.Limit54[0] < 0 || c.Limit54[1] <= 0:
		return nil, e.errorf("limit54 %v out of bounds: cases ≥ 0 and period > 0", c.Limit54)
	case !(c.Alpha > 0 && c.Alpha < 1):
		return nil, e.errorf("alpha %v: want 0 < alpha < 1", c.Alpha)
	}
	switch c.PowerTrans {
	case "2/3", "1/2", "none":
	default:
		return nil, e.errorf("powertrans %q: want 2/3, 1/2 or none", c.PowerTrans)
	}
	if c.Dates {
		if s.LabelName != "date" || len(s.Labels) != e.n {
			return nil, e.errorf("dates: the series has no date labels")
		}
		e.days = make([]int, e.n)
		e.dayIdx = make(map[int]int, e.n)
		for i, l := range s.Labels {
			t, err := time.Parse(time.DateOnly, l)
			if err != nil {
				return nil, e.errorf("dates: row %d: %v", i+1, err)
			}
			e.days[i] = int(t.Unix() / 86400)
			if _, dup := e.dayIdx[e.days[i]]; !dup {
				e.dayIdx[e.days[i]] = i + 1
			}
		}
		if e.n < 2 {
			return nil, e.errorf("dates: need at least 2 time points")
		}
	}
	return e, nil
}

// evaluated returns the 1-based points to evaluate (rng, else from from to
// the end), checked, and their 0-based positions.
func (e *farrEnv) evaluated(rng []int, from int) ([]int, []int, error) {
	if len(rng) == 0 {
		for k := from; k <= e.n; k++ {
			rng = append(rng, k)
		}
	}
	if err := e.checkRange(rng); err != nil {
		return nil, nil, err
	}
	index := make([]int, len(rng))
	for i, k := range rng {
		index[i] = k - 1
	}
	return rng, index, nil
}

func (e *farrEnv) checkRange(rng []int) error {
	for _, k := range rng {
		if k < 1 || k > e.n {
			return e.errorf("range value %d out of bounds 1…%d", k, e.n)
		}
		if k < e.c.Limit54[1] {
			return e.errorf("range value %d: limit54 needs %d weeks up to it", k, e.c.Limit54[1])
		}
	}
	return nil
}

// enoughCases reports whether the last Limit54[1] counts up to k reach
// Limit54[0]; na when one of them is missing.
func (e *farrEnv) enoughCases(k int) (enough, na bool) {
	sum := 0.0
	for t := k - e.c.Limit54[1] + 1; t <= k; t++ {
		sum += e.obs[t-1]
	}
	if math.IsNaN(sum) {
		return false, true
	}
	return sum >= float64(e.c.Limit54[0]), false
}

// date helpers: R's seq(d, by = "-1 year") normalises Feb 29 to Mar 1,
// as time.Date does.
func dayTime(day int) time.Time { return time.Unix(int64(day)*86400, 0).UTC() }
func timeDay(t time.Time) int   { return int(t.Unix() / 86400) }
func yearsBack(day, i int) int {
	t := dayTime(day)
	return timeDay(time.Date(t.Year()-i, t.Month(), t.Day(), 0, 0, 0, 0, time.UTC))
}
func weekday(day int) int { return int(dayTime(day).Weekday()) }

// referencePoints returns the rows of k and of its B reference points,
// latest first (R's algo.farrington.referencetimepoints and blocks()).
func (e *farrEnv) referencePoints(k int) ([]int, error) {
	b := e.c.B
	if !e.c.Dates {
		refs := make([]int, b+1)
		for i := range refs {
			refs[i] = k - e.freq*i
			if refs[i] < 1 {
				return nil, e.errorf("time point %d: some reference time points did not exist; decrease b or postpone range", k)
			}
		}
		return refs, nil
	}
	d0 := e.days[k-1]
	rows := make([]int, 0, b+1)
	for i := 0; i <= b; i++ {
		ref := yearsBack(d0, i)
		if e.freq == 52 {
			// the same weekday as d0, in ref's week or the one beside it,
			// whichever is nearer (ties: the first)
			a := ref - (weekday(ref) - weekday(d0))
			bb := a + 7
			if a > ref {
				bb = a - 7
			}
			if abs(a-ref) > abs(bb-ref) {
				a = bb
			}
			ref = a
		}
		r, ok := e.dayIdx[ref]
		if !ok {
			return nil, e.errorf("time point %d: some reference time points did not exist; decrease b or postpone range", k)
		}
		rows = append(rows, r)
	}
	slices.Sort(rows)
	slices.Reverse(rows)
	return rows, nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// rVec emulates the R vector blocks() fills: 1-based, growing on
// assignment past its end, NaN for NA.
type rVec []float64

// assign is v[from:to] <- val with R's colon (descending when from >
// to); index 0 is dropped, negative ones are an error (R would refuse
// to mix them with positive ones).
func (v *rVec) assign(from, to int, val float64) error {
	step := 1
	if from > to {
		step = -1
	}
	for i := from; ; i += step {
		switch {
		case i < 0:
			return errors.New("window reaches before the start of the series")
		case i > 0:
			for len(*v) < i {
				*v = append(*v, math.NaN())
			}
			(*v)[i-1] = val
		}
		if i == to {
			return nil
		}
	}
}

// baseline is the data of one GLM: counts, time covariate and (with
// NoPeriods > 1) the period factor, plus the covariate values to
// predict at.
type baseline struct {
	y, wtime []float64
	group    []float64 // factor value of each row
	levels   []float64 // sorted levels of the factor (R's as.factor)
	wtime0   float64   // wtime of k
}

// flexBaseline builds farringtonFlexible's GLM data for time point k
// (algo.farrington.data.glm with blocks()).
func (e *farrEnv) flexBaseline(k, pwni int) (*baseline, error) {
	c := e.c
	refs, err := e.referencePoints(k)
	if err != nil {
		return nil, err
	}
	p, w := c.NoPeriods, c.W
	// the buffers are reused across time points: a fresh n-vector each
	// time was most of the run's allocation
	v := e.blk[:0]
	for range e.n {
		v = append(v, math.NaN())
	}
	wrap := func(err error) error {
		if err != nil {
			return e.errorf("time point %d: %v", k, err)
		}
		return nil
	}
	if err := wrap(v.assign(k-w, k, float64(p))); err != nil {
		return nil, err
	}
	for i := 1; i <= c.B; i++ {
		ref := refs[i]
		if err := wrap(v.assign(ref-w, ref+w, float64(p))); err != nil {
			return nil, err
		}
		if p == 1 {
			continue
		}
		period := refs[i-1] - 2*w - 1 - ref
		if period < p-(2*w+1) {
			return nil, e.errorf("time point %d: number of factors too big", k)
		}
		// R: %/% and %% floor; the remainder goes to the first blocks
		lengthOf := floorDiv(period, p-1)
		rest := period - lengthOf*(p-1)
		cum := 0
		for j := 1; j <= p-1; j++ {
			l := lengthOf
			if j <= rest {
				l++
			}
			from := ref + w + 1 + cum
			cum += l
			if err := wrap(v.assign(from, ref+w+1+cum-1, float64(j))); err != nil {
				return nil, err
			}
		}
	}
	id := append(e.blkID[:0], v...)
	if err := wrap(id.assign(k-pwni, k, math.NaN())); err != nil {
		return nil, err
	}
	e.blk, e.blkID = v, id
	nrows := 0
	for _, g := range id {
		if !math.IsNaN(g) {
			nrows++
		}
	}
	rows := make([]int, 0, nrows) // 1-based, ascending
	for i, g := range id {
		if !math.IsNaN(g) {
			rows = append(rows, i+1)
		}
	}
	b := &baseline{y: make([]float64, 0, nrows), wtime: make([]float64, 0, nrows), group: make([]float64, 0, nrows)}
	var step float64
	if c.Dates {
		step = float64(e.days[1] - e.days[0])
	}
	for _, r := range rows {
		g := v[r-1]
		if !slices.Contains(b.levels, g) {
			b.levels = append(b.levels, g)
		}
		if r > e.n || math.IsNaN(e.obs[r-1]) {
			continue
		}
		b.y = append(b.y, e.obs[r-1])
		b.group = append(b.group, g)
		if c.Dates {
			b.wtime = append(b.wtime, float64(e.days[r-1]-e.days[rows[0]-1])/step)
		} else {
			b.wtime = append(b.wtime, float64(r))
		}
	}
	slices.Sort(b.levels)
	if len(b.y) == 0 {
		return b, nil
	}
	if c.Dates {
		// R predicts relative to the first row left after dropping
		// missing counts, the fit relative to the first row before.
		first := 0
		for _, r := range rows {
			if r <= e.n && !math.IsNaN(e.obs[r-1]) {
				first = r
				break
			}
		}
		b.wtime0 = float64(e.days[k-1]-e.days[first-1]) / step
	} else {
		b.wtime0 = float64(k)
	}
	return b, nil
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// design returns the model matrix rows (intercept, wtime if trend, then
// treatment dummies for every level but the first when factors are on)
// and the row to predict at, k in the period NoPeriods.
func (e *farrEnv) design(b *baseline, trend, factors bool) (X [][]float64, x0 []float64) {
	p := 1
	if trend {
		p++
	}
	if factors {
		p += len(b.levels) - 1
	}
	flat := make([]float64, len(b.y)*p)
	X = make([][]float64, len(b.y))
	row := func(dst []float64, wtime, g float64) {
		dst[0] = 1
		j := 1
		if trend {
			dst[1] = wtime
			j = 2
		}
		if factors {
			for _, l := range b.levels[1:] {
				if g == l {
					dst[j] = 1
				}
				j++
			}
		}
	}
	for i := range b.y {
		X[i] = flat[i*p : (i+1)*p]
		g := 0.0
		if factors {
			g = b.group[i]
		}
		row(X[i], b.wtime[i], g)
	}
	x0 = make([]float64, p)
	row(x0, b.wtime0, float64(e.c.NoPeriods))
	return X, x0
}

// flexFit is algo.farrington.fitGLM.flexible's result.
type flexFit struct {
	fit    *glmFit
	x0     []float64
	trend  bool      // wtime is in the model
	phi    float64   // max(1, dispersion of the final fit)
	weight []float64 // what the glm object's $weights hold afterwards
}

// fitFlexible fits the GLM with or without trend, retrying without trend
// when it does not converge, then reweights (algo.farrington.fitGLM.flexible).
// nil when no model converges.
func (e *farrEnv) fitFlexible(b *baseline, trend bool) *flexFit {
	factors := e.c.NoPeriods != 1
	if factors && (len(b.levels) < 2 || !slices.Contains(b.levels, float64(e.c.NoPeriods))) {
		// R stops: contrasts need 2 or more levels, and predicting at a
		// level the fit has not seen fails.
		return nil
	}
	X, x0 := e.design(b, trend, factors)
	f, err := fitQuasiPoisson(X, b.y, nil)
	if err != nil || !f.converged {
		if !trend {
			return nil
		}
		trend = false
		X, x0 = e.design(b, false, factors)
		f, err = fitQuasiPoisson(X, b.y, nil)
		if err != nil || !f.converged {
			return nil
		}
	}
	phi := math.Max(f.dispersion(f.wt), 1)
	if math.IsNaN(f.dispersion(f.wt)) {
		phi = math.NaN() // R's max(NaN, 1)
	}
	weight := f.wt
	if e.c.Reweight {
		omega, ok := farringtonWeights(anscombe(f, phi), e.c.WeightsThreshold)
		if !ok {
			return nil
		}
		// R does not check this fit's convergence.
		if f, err = fitQuasiPoisson(X, b.y, omega); err != nil {
			return nil
		}
		disp := f.dispersion(f.wt)
		phi = math.Max(disp, 1)
		if math.IsNaN(disp) {
			phi = math.NaN()
		}
		weight = omega
	}
	return &flexFit{fit: f, x0: x0, trend: trend, phi: phi, weight: weight}
}

// anscombe returns the standardised Anscombe residuals
// 1.5(y^⅔μ^(−⅙) − μ^½)/√(φ(1 − h)) (anscombe.residuals).
func anscombe(f *glmFit, phi float64) []float64 {
	h := f.hat()
	s := make([]float64, len(f.y))
	for i, y := range f.y {
		mu := f.mu[i]
		a := 3.0 / 2 * (math.Pow(y, 2.0/3)*math.Pow(mu, -1.0/6) - math.Pow(mu, 0.5))
		s[i] = a / math.Sqrt(phi*(1-h[i]))
	}
	return s
}

// farringtonWeights is algo.farrington.assign.weights: γ/sᵢ² above the
// threshold, γ below, γ making the weights average 1. false where R
// fails (a missing residual).
func farringtonWeights(s []float64, thr float64) ([]float64, bool) {
	sum := 0.0
	for _, v := range s {
		if math.IsNaN(v) {
			return nil, false
		}
		if v > thr {
			sum += math.Pow(v, -2)
		} else {
			sum++
		}
	}
	gamma := float64(len(s)) / sum
	omega := make([]float64, len(s))
	for i, v := range s {
		if v > thr {
			omega[i] = gamma * math.Pow(v, -2)
		} else {
			omega[i] = gamma
		}
	}
	return omega, true
}

// flexPred is algo.farrington.glm's result: the prediction at k on the
// scale the threshold wants, and the trend decision.
type flexPred struct {
	fit, se   float64 // response scale for delta, link scale otherwise
	phi       float64
	doTrend   bool
	trendCoef float64
}

// disp is the dispersion summary.glm and predict.glm use for the trend
// p-value and se(η̂₀).
func (e *farrEnv) disp(m *flexFit) float64 {
	if e.c.Dispersion == "textbook" {
		return m.phi
	}
	return m.fit.dispersion(m.weight)
}

// trendPValue is summary.glm's two-sided t-test p-value of wtime.
func (e *farrEnv) trendPValue(m *flexFit) float64 {
	f := m.fit
	if f.dfResid <= 0 || math.IsNaN(f.coef[1]) {
		return math.NaN()
	}
	se := math.Sqrt(e.disp(m) * f.coefVar(1))
	return 2 * pt(-math.Abs(f.coef[1]/se), float64(f.dfResid), true)
}

// flexModel fits the model at k and predicts (algo.farrington.glm); nil
// where R gives no result (or would stop).
func (e *farrEnv) flexModel(b *baseline, k int) *flexPred {
	c := e.c
	if len(b.y) == 0 {
		return nil
	}
	m := e.fitFlexible(b, c.Trend)
	if m == nil {
		return nil
	}
	doTrend := false
	if m.trend {
		if math.IsNaN(m.fit.coef[1]) {
			return nil // R: subscript out of bounds on the aliased wtime
		}
		muK := math.Max(math.Exp(m.fit.linPred(m.x0)), dblEpsilon)
		p := e.trendPValue(m)
		doTrend = c.B >= 3 && p < c.PThresholdTrend && muK <= slices.Max(b.y)
		if !doTrend {
			if m = e.fitFlexible(b, false); m == nil {
				return nil
			}
		}
	}
	eta0 := m.fit.linPred(m.x0)
	seEta := math.Sqrt(e.disp(m) * m.fit.xVar(m.x0))
	r := &flexPred{fit: eta0, se: seEta, phi: m.phi, doTrend: doTrend, trendCoef: math.NaN()}
	if c.ThresholdMethod == "delta" { // predict.glm type "response"
		muEta := math.Max(math.Exp(eta0), dblEpsilon)
		r.fit, r.se = muEta, seEta*muEta
	}
	if doTrend {
		r.trendCoef = m.fit.coef[1]
	}
	return r
}

// powerExponent is the exponent of a PowerTrans setting.
func powerExponent(powertrans string) float64 {
	switch powertrans {
	case "none":
		return 1
	case "1/2":
		return 1.0 / 2
	}
	return 2.0 / 3
}

// farrSE is the standard deviation of the transformed prediction
// h(Y₀) − h(μ₀) (algo.farrington.threshold).
func farrSE(mu0, seFit, phi float64, powertrans string) float64 {
	tau := phi + seFit*seFit/mu0
	switch powertrans {
	case "none":
		return math.Sqrt(mu0 * tau)
	case "1/2":
		return math.Sqrt(1.0 / 4 * tau)
	}
	return math.Sqrt(4.0 / 9 * math.Pow(mu0, 1.0/3) * tau)
}

// deltaThreshold is algo.farrington.threshold.farrington (twoSided:
// algo.farrington.threshold with z = qnorm(1 − α/2)): the upper bound,
// the score (y − μ₀)/(U − μ₀) and P(Y ≥ y) on the transformed scale.
func (e *farrEnv) deltaThreshold(mu0, seFit, phi, y float64, twoSided bool) (upper, score, prob float64) {
	c := e.c
	ex := powerExponent(c.PowerTrans)
	se := farrSE(mu0, seFit, phi, c.PowerTrans)
	z := qnorm(1-c.Alpha, 0, 1)
	if twoSided {
		z = qnorm(1-c.Alpha/2, 0, 1)
	}
	m := math.Pow(mu0, ex)
	lo := math.Pow(m+(-z)*se, 1/ex)
	hi := math.Pow(m+z*se, 1/ex)
	// R: sort(c(lo, hi), na.last = FALSE)[2]
	switch {
	case math.IsNaN(hi):
		upper = lo
	case math.IsNaN(lo):
		upper = hi
	default:
		upper = math.Max(lo, hi)
	}
	prob = pnorm(math.Pow(y, ex), m, se, false)
	score = NA
	if !math.IsNaN(upper) {
		score = (y - mu0) / (upper - mu0)
	}
	return upper, score, prob
}

// noufailyThreshold is algo.farrington.threshold.noufaily: the (1 − α)
// quantile of a negative binomial (Poisson when φ = 1) with mean at the
// upper quantile of exp(η̂₀) (muan) or at exp(η̂₀) (nbPlugin).
func noufailyThreshold(eta0, seEta, phi, y, alpha float64, method string) (upper, score, prob float64) {
	mq := math.Exp(eta0)
	if method != "nbPlugin" {
		mq = math.Exp(qnorm(1-alpha, eta0, seEta))
	}
	upper, prob = NA, NA
	if !math.IsInf(mq, 1) && !math.IsNaN(mq) && !math.IsNaN(phi) {
		if phi > 1 {
			upper = qnbinom(1-alpha, mq/(phi-1), 1/phi)
		} else {
			upper = qpois(1-alpha, mq)
		}
		if phi != 1 {
			prob = pnbinom(y-1, mq/(phi-1), 1/phi, false)
		} else {
			prob = ppois(y-1, mq, false)
		}
	}
	score = NA
	if !math.IsNaN(upper) {
		score = (y - eta0) / (upper - eta0)
	}
	return upper, score, prob
}

// farrington96Baseline returns the reference rows of algo.farrington:
// k − freq·i − W … k − freq·i + W for i = B…1 (by calendar with Dates:
// refvalIdxByDate), rows before the series left out.
func (e *farrEnv) farrington96Baseline(k int) (*baseline, error) {
	c := e.c
	var rows []int
	if !c.Dates {
		for i := c.B; i >= 1; i-- {
			for t := k - e.freq*i - c.W; t <= k-e.freq*i+c.W; t++ {
				if t > 0 {
					rows = append(rows, t)
				}
			}
		}
	} else {
		d0 := e.days[k-1]
		for i := 1; i <= c.B; i++ {
			ref := yearsBack(d0, i)
			for j := -c.W; j <= c.W; j++ {
				var d int
				switch e.freq {
				case 52:
					d = ref + 7*j
					// to the nearest day with d0's weekday
					fwd := mod(weekday(d0)-weekday(d), 7)
					bwd := mod(weekday(d)-weekday(d0), 7)
					if fwd < bwd {
						d += fwd
					} else {
						d -= bwd
					}
				case 12:
					t := dayTime(ref)
					t = time.Date(t.Year(), t.Month()+time.Month(j), t.Day(), 0, 0, 0, 0, time.UTC)
					d = timeDay(t) - (t.Day() - dayTime(d0).Day())
				default:
					d = ref + j
				}
				if r, ok := e.dayIdx[d]; ok {
					rows = append(rows, r)
				}
			}
		}
	}
	b := &baseline{wtime0: float64(k)}
	for _, r := range rows {
		if math.IsNaN(e.obs[r-1]) {
			continue
		}
		b.y = append(b.y, e.obs[r-1])
		b.wtime = append(b.wtime, float64(r))
	}
	return b, nil
}

func mod(a, m int) int { return ((a % m) + m) % m }

// fit96 is algo.farrington.fitGLM.fast: glm.fit with trend, without
// when that does not converge (and on regardless), then reweighting.
func (e *farrEnv) fit96(b *baseline, trend bool) (*glmFit, []float64, float64, bool) {
	X, x0 := e.design(b, trend, false)
	f, err := fitQuasiPoisson(X, b.y, nil)
	if (err != nil || !f.converged) && trend {
		X, x0 = e.design(b, false, false)
		f, err = fitQuasiPoisson(X, b.y, nil)
	}
	if err != nil {
		return nil, nil, 0, false
	}
	phi := rMax1(f.dispersion(f.wt))
	if e.c.Reweight {
		omega, ok := farringtonWeights(anscombe(f, phi), e.c.WeightsThreshold)
		if !ok {
			return nil, nil, 0, false
		}
		if f, err = fitQuasiPoisson(X, b.y, omega); err != nil {
			return nil, nil, 0, false
		}
		phi = rMax1(f.dispersion(f.wt))
	}
	return f, x0, phi, true
}

// rMax1 is R's max(d, 1), NaN staying NaN.
func rMax1(d float64) float64 {
	if math.IsNaN(d) {
		return d
	}
	return math.Max(d, 1)
}

// farrington96Model fits algo.farrington's model at k and returns the
// response-scale prediction, its standard error (with dispersion φ) and φ.
func (e *farrEnv) farrington96Model(b *baseline, k int) (fit, se, phi float64, ok bool) {
	c := e.c
	if len(b.y) == 0 {
		return 0, 0, 0, false
	}
	f, x0, phi, ok := e.fit96(b, c.Trend)
	if !ok {
		return 0, 0, 0, false
	}
	if len(x0) == 2 { // wtime in the model
		p := math.NaN()
		if f.dfResid > 0 && !math.IsNaN(f.coef[1]) {
			s := math.Sqrt(f.dispersion(f.wt) * f.coefVar(1))
			p = 2 * pt(-math.Abs(f.coef[1]/s), float64(f.dfResid), true)
		}
		muK := math.Max(math.Exp(f.linPred(x0)), dblEpsilon)
		if !(c.B >= 3 && p < c.PThresholdTrend && muK <= slices.Max(b.y)) {
			if f, x0, phi, ok = e.fit96(b, false); !ok {
				return 0, 0, 0, false
			}
		}
	}
	eta0 := f.linPred(x0)
	muEta := math.Max(math.Exp(eta0), dblEpsilon)
	return muEta, math.Sqrt(phi*f.xVar(x0)) * muEta, phi, true
}
