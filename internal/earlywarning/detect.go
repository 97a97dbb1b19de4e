package earlywarning

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/hip-platform/hip/internal/surveillance"
)

// Detector scans every series of one source with a surveillance
// algorithm, at a normal and optionally a high threshold.
type Detector struct {
	Source  Source
	Algo    string   // one of surveillance.Algorithms()
	Options []string // key=value at the normal threshold
	High    []string // key=value at the high threshold; nil: the source has none
	// MinCount is the least count that can signal: on sparse daily series
	// one or two cases otherwise exceed a bound of zero.
	MinCount float64
	// Days tells the days the source reports (school days for
	// absenteeism); nil: every day. Other days are left out of the series
	// the algorithm sees, so a weekend's zero is not a drop.
	Days func(time.Time) bool
}

// Signal is one series' alarm on one day.
type Signal struct {
	Key
	Day      time.Time
	Observed float64
	Expected float64 // the count expected without an outbreak (the algorithm's)
	Bound    float64
	High     bool // the count also exceeds the high threshold
}

// DefaultDetectors are the detectors of the signal model at a per-series
// false alarm probability alpha: EARS C2 (the CDC's method for daily
// syndromic counts, lagged 2 days) over a 28-day baseline, as 7 days
// estimate σ too roughly for daily counts (with 7, C2 at α = 0.001 alarms
// on about 1.4 % of quiet days, as a t with 6 degrees of freedom), with a
// floor of 1 under σ so that a quiet stretch of zeros does not make one
// case an alarm, signalling from 3 cases; the high threshold is
// α = 0.00001 (z ≈ 4.26).
func DefaultDetectors(alpha float64) []Detector {
	a := "alpha=" + strconv.FormatFloat(alpha, 'g', -1, 64)
	ds := make([]Detector, 0, len(Sources))
	for _, s := range Sources {
		d := Detector{Source: s, Algo: "earsC", Options: []string{"method=C2", "baseline=28", "minSigma=1", a},
			High: []string{"method=C2", "baseline=28", "minSigma=1", "alpha=0.00001"}, MinCount: 3}
		if s == School {
			d.Days = SchoolDay
		}
		ds = append(ds, d)
	}
	return ds
}

// Detect runs the detectors over every series of their source and returns
// the signals in day order.
func Detect(c *Counts, detectors []Detector) ([]Signal, error) {
	var out []Signal
	for _, d := range detectors {
		normal, err := surveillance.ParseOptions(d.Options)
		if err != nil {
			return nil, fmt.Errorf("earlywarning: %s detector: %w", d.Source, err)
		}
		var high surveillance.Options
		if d.High != nil {
			if high, err = surveillance.ParseOptions(d.High); err != nil {
				return nil, fmt.Errorf("earlywarning: %s detector (high): %w", d.Source, err)
			}
		}
		days := c.reportingDays(d.Days)
		for _, k := range c.Keys() {
			if k.Source != d.Source {
				continue
			}
			sigs, err := d.scan(c, k, days, normal, high)
			if err != nil {
				return nil, err
			}
			out = append(out, sigs...)
		}
	}
	slices.SortStableFunc(out, func(a, b Signal) int {
		if c := a.Day.Compare(b.Day); c != 0 {
			return c
		}
		return compareKeys(a.Key, b.Key)
	})
	return out, nil
}

// reportingDays lists the day indexes on which a source reports.
func (c *Counts) reportingDays(reports func(time.Time) bool) []int {
	days := make([]int, 0, c.Days)
	for i := range c.Days {
		if reports == nil || reports(c.Day(i)) {
			days = append(days, i)
		}
	}
	return days
}

// scan runs the detector on the series k restricted to days.
func (d Detector) scan(c *Counts, k Key, days []int, normal, high surveillance.Options) ([]Signal, error) {
	counts := c.Series(k)
	s := &surveillance.Series{Freq: 365}
	for j, i := range days {
		s.T = append(s.T, j+1)
		s.Observed = append(s.Observed, counts[i])
	}
	if s.Len() == 0 {
		return nil, nil
	}
	res, err := surveillance.Run(d.Algo, s, normal)
	if err != nil {
		return nil, fmt.Errorf("earlywarning: scan %s: %w", k, err)
	}
	highAlarm := map[int]bool{}
	if high != nil {
		hr, err := surveillance.Run(d.Algo, s, high)
		if err != nil {
			return nil, fmt.Errorf("earlywarning: scan %s (high): %w", k, err)
		}
		for j, pos := range hr.Index {
			highAlarm[pos] = hr.Alarm[j] == surveillance.Alarm
		}
	}
	var out []Signal
	for j, pos := range res.Index {
		if res.Alarm[j] != surveillance.Alarm || s.Observed[pos] < d.MinCount {
			continue
		}
		out = append(out, Signal{Key: k, Day: c.Day(days[pos]), Observed: s.Observed[pos],
			Expected: res.Expected[j], Bound: res.UpperBound[j], High: highAlarm[pos]})
	}
	return out, nil
}
