package earlywarning

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/surveillance"
)

// Config is what a region configures: how each source is scanned and the
// rules that make events. Its JSON form:
//
//	{"detectors": [{"source": "school", "algo": "earsC", "options": ["method=C2", "baseline=28"],
//	                "high": ["method=C2", "baseline=28", "alpha=0.00001"], "minCount": 3, "schoolDays": true}],
//	 "rules": [{"name": "…", "minSources": 2, "windowDays": 3, "highAlone": true, "sources": ["lab", "diagnosis"]}]}
type Config struct {
	Detectors []Detector
	Rules     []Rule
}

// DefaultConfig is the configuration evaluated in docs/surveillance.md:
// the default detectors at α = 0.01 and the multi-source rule with the
// high threshold.
func DefaultConfig() Config {
	rules := DefaultRules()
	return Config{Detectors: DefaultDetectors(0.01), Rules: rules[len(rules)-1:]}
}

type detectorJSON struct {
	Source     Source   `json:"source"`
	Algo       string   `json:"algo"`
	Options    []string `json:"options"`
	High       []string `json:"high,omitempty"`
	MinCount   float64  `json:"minCount"`
	SchoolDays bool     `json:"schoolDays,omitempty"`
}

type ruleJSON struct {
	Name       string   `json:"name"`
	MinSources int      `json:"minSources"`
	WindowDays int      `json:"windowDays"`
	HighAlone  bool     `json:"highAlone,omitempty"`
	Sources    []Source `json:"sources,omitempty"`
}

type configJSON struct {
	Detectors []detectorJSON `json:"detectors"`
	Rules     []ruleJSON     `json:"rules"`
}

// ReadConfig reads and checks a configuration: known sources and
// algorithms, options the algorithm accepts, one detector per source, at
// least one rule, each with a name, a window of at least one day and a
// number of sources it can reach.
func ReadConfig(r io.Reader) (Config, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var cj configJSON
	if err := dec.Decode(&cj); err != nil {
		return Config{}, fmt.Errorf("earlywarning: config: %w", err)
	}
	var c Config
	for i, d := range cj.Detectors {
		if !slices.Contains(Sources, d.Source) {
			return Config{}, fmt.Errorf("earlywarning: config: detector %d: unknown source %q (known: %s)", i+1, d.Source, sourceNames())
		}
		if slices.ContainsFunc(c.Detectors, func(o Detector) bool { return o.Source == d.Source }) {
			return Config{}, fmt.Errorf("earlywarning: config: two detectors for source %s", d.Source)
		}
		det := Detector{Source: d.Source, Algo: d.Algo, Options: d.Options, High: d.High, MinCount: d.MinCount}
		if d.SchoolDays {
			det.Days = SchoolDay
		}
		if err := det.check(); err != nil {
			return Config{}, fmt.Errorf("earlywarning: config: detector %s: %w", d.Source, err)
		}
		c.Detectors = append(c.Detectors, det)
	}
	if len(cj.Rules) == 0 {
		return Config{}, errors.New("earlywarning: config: no rules")
	}
	for i, r := range cj.Rules {
		rule := Rule(r)
		if err := rule.check(); err != nil {
			return Config{}, fmt.Errorf("earlywarning: config: rule %d (%s): %w", i+1, r.Name, err)
		}
		c.Rules = append(c.Rules, rule)
	}
	return c, nil
}

func sourceNames() string {
	names := make([]string, len(Sources))
	for i, s := range Sources {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// check runs the detector on a short series so that an unknown algorithm
// or option is reported when the configuration is read, not at night.
func (d Detector) check() error {
	s := &surveillance.Series{Freq: 365}
	for i := range 60 {
		s.T = append(s.T, i+1)
		s.Observed = append(s.Observed, float64(i%5))
	}
	levels := [][]string{d.Options}
	if d.High != nil {
		levels = append(levels, d.High)
	}
	for _, opts := range levels {
		o, err := surveillance.ParseOptions(opts)
		if err != nil {
			return err
		}
		if _, err := surveillance.Run(d.Algo, s, o); err != nil {
			return err
		}
	}
	if d.MinCount < 0 {
		return fmt.Errorf("minCount %v is negative", d.MinCount)
	}
	return nil
}

func (r Rule) check() error {
	switch {
	case r.Name == "":
		return errors.New("no name")
	case r.WindowDays < 1:
		return fmt.Errorf("windowDays %d: at least 1", r.WindowDays)
	case r.MinSources < 1 && !r.HighAlone:
		return fmt.Errorf("minSources %d: at least 1", r.MinSources)
	}
	reach := len(Sources)
	if r.Sources != nil {
		for _, s := range r.Sources {
			if !slices.Contains(Sources, s) {
				return fmt.Errorf("unknown source %q (known: %s)", s, sourceNames())
			}
		}
		reach = len(r.Sources)
	}
	if r.MinSources > reach {
		return fmt.Errorf("minSources %d: only %d sources can signal", r.MinSources, reach)
	}
	return nil
}

// countsHeader is the CSV form of count series: one row per day, source,
// syndrome and township with a count; missing rows are zero.
var countsHeader = []string{"date", "source", "syndrome", "area", "count"}

// ReadCounts reads count series from CSV (date as YYYY-MM-DD, source,
// syndrome, area as a township code, count a whole number ≥ 0), as feeds
// of pharmacy sales or school absenteeism deliver them. The series run
// from the first to the last date present.
func ReadCounts(r io.Reader) (*Counts, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(countsHeader)
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("earlywarning: counts: header: %w", err)
	}
	if !slices.Equal(head, countsHeader) {
		return nil, fmt.Errorf("earlywarning: counts: header %q, want %q", strings.Join(head, ","), strings.Join(countsHeader, ","))
	}
	type row struct {
		k   Key
		day time.Time
		n   float64
	}
	var rows []row
	var first, last time.Time
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("earlywarning: counts: %w", err)
		}
		day, err := ParseDay(rec[0])
		if err != nil {
			return nil, fmt.Errorf("earlywarning: counts: line %d: date %q: want YYYY-MM-DD", line, rec[0])
		}
		k := Key{Source(rec[1]), Syndrome(rec[2]), rec[3]}
		if !slices.Contains(Sources, k.Source) {
			return nil, fmt.Errorf("earlywarning: counts: line %d: unknown source %q (known: %s)", line, rec[1], sourceNames())
		}
		if !slices.Contains(Syndromes, k.Syndrome) {
			return nil, fmt.Errorf("earlywarning: counts: line %d: unknown syndrome %q", line, rec[2])
		}
		if k.Area == "" {
			return nil, fmt.Errorf("earlywarning: counts: line %d: no area", line)
		}
		n, err := strconv.ParseUint(rec[4], 10, 31)
		if err != nil {
			return nil, fmt.Errorf("earlywarning: counts: line %d: count %q: want a whole number ≥ 0", line, rec[4])
		}
		if first.IsZero() || day.Before(first) {
			first = day
		}
		if day.After(last) {
			last = day
		}
		rows = append(rows, row{k, day, float64(n)})
	}
	if len(rows) == 0 {
		return nil, errors.New("earlywarning: counts: no rows")
	}
	days := int(last.Sub(first).Hours()/24) + 1
	if days > 20*366 {
		return nil, fmt.Errorf("earlywarning: counts: %s to %s is more than 20 years", first.Format(time.DateOnly), last.Format(time.DateOnly))
	}
	c := NewCounts(first, days)
	for _, r := range rows {
		i, _ := c.DayIndex(r.day)
		c.Add(r.k, i, r.n)
	}
	return c, nil
}

// WriteCounts writes the series as ReadCounts reads them, zero days left out.
func WriteCounts(w io.Writer, c *Counts) error {
	cw := csv.NewWriter(w)
	cw.Write(countsHeader)
	for _, k := range c.Keys() {
		for i, n := range c.Series(k) {
			if n != 0 {
				cw.Write([]string{c.Day(i).Format(time.DateOnly), string(k.Source), string(k.Syndrome), k.Area, strconv.FormatFloat(n, 'f', -1, 64)})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteConfig writes the configuration as ReadConfig reads it.
func WriteConfig(w io.Writer, c Config) error {
	var cj configJSON
	for _, d := range c.Detectors {
		cj.Detectors = append(cj.Detectors, detectorJSON{Source: d.Source, Algo: d.Algo, Options: d.Options, High: d.High,
			MinCount: d.MinCount, SchoolDays: d.Days != nil})
	}
	for _, r := range c.Rules {
		cj.Rules = append(cj.Rules, ruleJSON(r))
	}
	return writeJSON(w, cj)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// eventJSON is an event as hip warn writes it.
type eventJSON struct {
	Rule     string       `json:"rule"`
	Area     string       `json:"area"`
	Syndrome Syndrome     `json:"syndrome"`
	Start    string       `json:"start"`
	Sources  []Source     `json:"sources"`
	Signals  []signalJSON `json:"signals"`
}

type signalJSON struct {
	Day      string   `json:"day"`
	Source   Source   `json:"source"`
	Observed float64  `json:"observed"`
	Expected *float64 `json:"expected,omitempty"`
	Bound    float64  `json:"upperbound"`
	High     bool     `json:"high,omitempty"`
}

// WriteEvents writes events as a JSON array, each with its contributing
// signals.
func WriteEvents(w io.Writer, events []Event) error {
	out := make([]eventJSON, 0, len(events))
	for _, e := range events {
		ej := eventJSON{Rule: e.Rule, Area: e.Area, Syndrome: e.Syndrome, Start: e.Start.Format(time.DateOnly), Sources: e.Sources()}
		for _, s := range e.Signals {
			sj := signalJSON{Day: s.Day.Format(time.DateOnly), Source: s.Source, Observed: s.Observed, Bound: s.Bound, High: s.High}
			if !math.IsNaN(s.Expected) {
				sj.Expected = &s.Expected
			}
			ej.Signals = append(ej.Signals, sj)
		}
		out = append(out, ej)
	}
	return writeJSON(w, out)
}
