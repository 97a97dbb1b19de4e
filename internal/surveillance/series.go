// Package surveillance detects aberrations in count series: the established
// outbreak detection algorithms (EARS C1–C3, CUSUM, Farrington and Farrington
// flexible, the CIDARS moving percentile method) giving exactly the answers
// of the reference implementation, the R package surveillance (docs/surveillance.md).
package surveillance

import "math"

// NA marks a missing count, bound or diagnostic value.
var NA = math.NaN()

// IsNA reports whether v is missing.
func IsNA(v float64) bool { return math.IsNaN(v) }

// Series is one count series: weekly or daily counts in time order.
type Series struct {
	// T is the 1-based time index of each count (the input's t column, else
	// the row number).
	T []int
	// Observed are the counts; NA where missing.
	Observed []float64
	// Labels are copied through to the output: week (e.g. 1990-W01) or date
	// (YYYY-MM-DD), whichever the input has; nil when it has none.
	LabelName string
	Labels    []string
	// State is the outbreak label (0/1) where the input has one; nil else.
	State []int
	// Freq is the number of periods in a year: 52 for weekly series, 365
	// for daily ones.
	Freq int
}

// Len returns the number of time points.
func (s *Series) Len() int { return len(s.Observed) }

// Alarm values of a Result.
const (
	AlarmNA int8 = -1
	NoAlarm int8 = 0
	Alarm   int8 = 1
)

// Result is what an algorithm says at each time point it evaluates.
type Result struct {
	// Index holds the 0-based positions in the series evaluated, in order.
	Index []int
	// UpperBound is the threshold at each evaluated point; NA where the
	// algorithm gives none.
	UpperBound []float64
	// Alarm is Alarm, NoAlarm or AlarmNA at each evaluated point.
	Alarm []int8
	// Expected is the count expected at each evaluated point when there is
	// no outbreak, NA where the algorithm has none: EARS the window's
	// mean, CUSUM its reference mean m, the Farrington algorithms the
	// model's prediction (also where limit54 withholds the bound), the
	// moving percentile the baseline's median. The reference script does
	// not write it (peer.R's columns are kept), so it is HIP's own.
	Expected []float64
	// Columns names the diagnostics in the order the reference script
	// writes them (peer.R: cusum m, cusum, ctm1; farringtonFlexible
	// expected, score, pvalue, phi, mu0, trend, trendCoef); Diagnostics
	// holds one value per evaluated point for each.
	Columns     []string
	Diagnostics map[string][]float64
}

// newResult makes a result for the evaluated positions with diagnostics
// columns, every value NA until set.
func newResult(index []int, columns ...string) *Result {
	r := &Result{Index: index, UpperBound: make([]float64, len(index)), Alarm: make([]int8, len(index)),
		Expected: make([]float64, len(index)), Columns: columns, Diagnostics: map[string][]float64{}}
	for i := range r.UpperBound {
		r.UpperBound[i] = NA
		r.Alarm[i] = AlarmNA
		r.Expected[i] = NA
	}
	for _, c := range columns {
		v := make([]float64, len(index))
		for i := range v {
			v[i] = NA
		}
		r.Diagnostics[c] = v
	}
	return r
}
