package surveillance

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Options are an algorithm's settings as key=value pairs, the values as
// given on the command line: the keys and value syntax of the reference
// script peer.R (../shared/surveillance/peer.R), whose parse_val reads a
// value as TRUE/FALSE, NULL, an integer range a:b, a comma list or a
// number. The typed getters below parse a value when the algorithm asks
// for it, so that one malformed value is reported with its key.
//
// A value NULL means "not given" (peer.R passes NULL into the control
// list, where the algorithm then takes its default).
//
// The special keys every algorithm accepts, as in peer.R:
//   - freq: periods per year (default: the series' Freq, else 52). It
//     decides cusum's default range (freq+1):n.
//   - start: year,period of the first point. In R it only dates the sts
//     object; no output of earsC or cusum depends on it, so it is
//     checked for form and otherwise ignored.
//   - dates: TRUE makes peer.R build the series from the date column; it
//     requires that column here too and changes nothing else for earsC
//     and cusum (Farrington's reference weeks depend on it).
type Options map[string]string

// specialKeys are the options peer.R handles itself rather than passing
// to the algorithm.
var specialKeys = []string{"freq", "start", "dates"}

// ParseOptions reads key=value arguments. A key given twice is an error
// rather than peer.R's last-one-wins, which would hide a typo.
func ParseOptions(args []string) (Options, error) {
	o := Options{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("surveillance: option %q: want key=value", a)
		}
		if _, dup := o[k]; dup {
			return nil, fmt.Errorf("surveillance: option %s given twice", k)
		}
		o[k] = v
	}
	return o, nil
}

// check reports keys the algorithm does not accept, naming the ones it
// does, and checks the special keys' values.
func (o Options) check(s *Series, accepted ...string) error {
	all := append(slices.Clone(accepted), specialKeys...)
	slices.Sort(all)
	var unknown []string
	for k := range o {
		if !slices.Contains(all, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		return fmt.Errorf("unknown option %s (accepted: %s)", strings.Join(unknown, ", "), strings.Join(all, ", "))
	}
	if _, err := o.freq(s); err != nil {
		return err
	}
	if start, ok, err := o.Floats("start"); err != nil {
		return err
	} else if ok && (len(start) != 2 || start[0] != math.Trunc(start[0]) || start[1] != math.Trunc(start[1]) || start[1] < 1) {
		return fmt.Errorf("option start=%s: want year,period", o["start"])
	}
	dates, err := o.Bool("dates", false)
	if err != nil {
		return err
	}
	if dates && (s == nil || s.LabelName != "date") {
		return fmt.Errorf("option dates=TRUE needs a date column in the series")
	}
	return nil
}

// freq is the series' periods per year: the freq option, else s.Freq,
// else 52 (peer.R's default).
func (o Options) freq(s *Series) (int, error) {
	def := 52
	if s != nil && s.Freq > 0 {
		def = s.Freq
	}
	f, err := o.Int("freq", def)
	if err == nil && f < 1 {
		err = fmt.Errorf("option freq=%s: want a positive integer", o["freq"])
	}
	return f, err
}

// value returns the option's value, and whether it is given (NULL is
// not: peer.R then leaves the algorithm's default).
func (o Options) value(key string) (string, bool) {
	v, ok := o[key]
	if !ok || v == "NULL" {
		return "", false
	}
	return v, true
}

// numberRE is what R's as.numeric accepts of a plain decimal number,
// spaces around it included. R's hexadecimal and Inf forms are left out:
// no setting takes them.
var numberRE = regexp.MustCompile(`^\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*$`)

func parseNumber(v string) (float64, bool) {
	if !numberRE.MatchString(v) {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// Float returns a numeric option, def when it is not given.
func (o Options) Float(key string, def float64) (float64, error) {
	v, ok := o.value(key)
	if !ok {
		return def, nil
	}
	f, ok := parseNumber(v)
	if !ok {
		return 0, fmt.Errorf("option %s=%s: not a number", key, v)
	}
	return f, nil
}

// Int returns an integer option (written as a number with no fraction,
// 7 or 7.0, as R would accept it), def when it is not given.
func (o Options) Int(key string, def int) (int, error) {
	v, ok := o.value(key)
	if !ok {
		return def, nil
	}
	f, ok := parseNumber(v)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
		return 0, fmt.Errorf("option %s=%s: not an integer", key, v)
	}
	return int(f), nil
}

// Bool returns a TRUE/FALSE option, def when it is not given. Other
// spellings are errors: peer.R would read dates=1 or dates=true as
// "not TRUE" without a word.
func (o Options) Bool(key string, def bool) (bool, error) {
	v, ok := o.value(key)
	if !ok {
		return def, nil
	}
	switch v {
	case "TRUE":
		return true, nil
	case "FALSE":
		return false, nil
	}
	return false, fmt.Errorf("option %s=%s: want TRUE or FALSE", key, v)
}

// Choice returns an option that must be one of allowed, def when it is
// not given.
func (o Options) Choice(key, def string, allowed ...string) (string, error) {
	v, ok := o.value(key)
	if !ok {
		return def, nil
	}
	if !slices.Contains(allowed, v) {
		return "", fmt.Errorf("option %s=%s: want one of %s", key, v, strings.Join(allowed, ", "))
	}
	return v, nil
}

// rangeRE is parse_val's integer range.
var rangeRE = regexp.MustCompile(`^(-?[0-9]+):(-?[0-9]+)$`)

// Range returns a range option a:b of 1-based time points, inclusive as
// in R, or a single point n; ok is false when it is not given. Ranges
// must run forward from 1: R's b:a would run backwards, which no
// algorithm here evaluates sensibly.
func (o Options) Range(key string) (from, to int, ok bool, err error) {
	v, given := o.value(key)
	if !given {
		return 0, 0, false, nil
	}
	if m := rangeRE.FindStringSubmatch(v); m != nil {
		a, errA := strconv.Atoi(m[1])
		b, errB := strconv.Atoi(m[2])
		if errA != nil || errB != nil {
			return 0, 0, false, fmt.Errorf("option %s=%s: not an integer range", key, v)
		}
		from, to = a, b
	} else if f, isNum := parseNumber(v); isNum && f == math.Trunc(f) && math.Abs(f) <= 1<<31 {
		from, to = int(f), int(f)
	} else {
		return 0, 0, false, fmt.Errorf("option %s=%s: want a range FROM:TO of time points", key, v)
	}
	if from < 1 || to < from {
		return 0, 0, false, fmt.Errorf("option %s=%s: want 1 <= FROM <= TO", key, v)
	}
	return from, to, true, nil
}

// Floats returns a comma-separated list of numbers (a single number is a
// list of one); ok is false when it is not given.
func (o Options) Floats(key string) (list []float64, ok bool, err error) {
	v, given := o.value(key)
	if !given {
		return nil, false, nil
	}
	for _, p := range strings.Split(v, ",") {
		f, isNum := parseNumber(p)
		if !isNum {
			return nil, false, fmt.Errorf("option %s=%s: want numbers separated by commas", key, v)
		}
		list = append(list, f)
	}
	return list, true, nil
}

// rangeIndex turns an optional range option into 0-based positions of a
// series of n points; def gives the default 1-based range.
func (o Options) rangeIndex(n int, defFrom int) ([]int, error) {
	from, to, ok, err := o.Range("range")
	if err != nil {
		return nil, err
	}
	if !ok {
		if defFrom > n {
			return nil, fmt.Errorf("the series has %d points; the first one evaluated would be %d", n, defFrom)
		}
		from, to = defFrom, n
	}
	if to > n {
		return nil, fmt.Errorf("option range=%s: the series has %d points", o["range"], n)
	}
	idx := make([]int, 0, to-from+1)
	for t := from; t <= to; t++ {
		idx = append(idx, t-1)
	}
	return idx, nil
}
