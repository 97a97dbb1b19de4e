package surveillance

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ReadCSV reads a count series in the input format of the reference script
// peer.R: a header row, then one row per time point. Columns:
//
//   - observed (required): a whole number of cases, or NA (or empty) where
//     the count is missing;
//   - t (optional): the 1-based time index, else the row number; copied to
//     the output, and it must count up by one from row to row (a gap would
//     be a missing week: give it as a row with observed NA);
//   - date (YYYY-MM-DD) or week (any label, e.g. 1990-W01), optional,
//     copied to the output; not both;
//   - state (optional): the outbreak label, 0 or 1, copied to the output.
//
// Other columns are ignored, as R does. Errors name the line. The series'
// Freq is 52 (peer.R's default; the freq option overrides it).
//
// Deliberately stricter than R's read.csv, which would take these in
// silently and then compute with them: negative or fractional counts,
// an NA t or state, a t that is not consecutive, a malformed date.
func ReadCSV(r io.Reader) (*Series, error) {
	s, err := readCSV(r)
	if err != nil {
		return nil, fmt.Errorf("surveillance: csv: %w", err)
	}
	return s, nil
}

// labelColumns are the label columns peer.R copies to its output.
var labelColumns = []string{"date", "week"}

var (
	countRE = regexp.MustCompile(`^[0-9]+$`)
	intRE   = regexp.MustCompile(`^[+-]?[0-9]+$`)
	dateRE  = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
)

// maxCount keeps counts exact in a float64.
const maxCount = 1 << 53

func readCSV(r io.Reader) (*Series, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("empty input: want a header row with an observed column")
	}
	if err != nil {
		return nil, err
	}
	col := map[string]int{}
	for i, name := range header {
		if i == 0 {
			name = strings.TrimPrefix(name, "\uFEFF") // a UTF-8 byte order mark
		}
		name = strings.TrimSpace(name)
		if _, dup := col[name]; dup && name != "" {
			return nil, fmt.Errorf("line 1: column %q appears twice", name)
		}
		col[name] = i
	}
	obsCol, ok := col["observed"]
	if !ok {
		return nil, fmt.Errorf("line 1: no observed column in the header %q", strings.Join(header, ","))
	}
	s := &Series{Freq: 52}
	labelCol := -1
	for _, name := range labelColumns {
		if i, ok := col[name]; ok {
			if labelCol >= 0 {
				return nil, fmt.Errorf("line 1: both a date and a week column: give one label column")
			}
			labelCol, s.LabelName = i, name
		}
	}
	tCol, hasT := col["t"]
	stateCol, hasState := col["state"]

	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		field := func(i int) string { return strings.TrimSpace(rec[i]) }
		bad := func(name string, i int, why string) error {
			return fmt.Errorf("line %d: %s %q: %s", line, name, rec[i], why)
		}

		y := NA
		switch v := field(obsCol); {
		case v == "" || v == "NA":
		case countRE.MatchString(v):
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n > maxCount {
				return nil, bad("observed", obsCol, "too large a count")
			}
			y = float64(n)
		case intRE.MatchString(v):
			return nil, bad("observed", obsCol, "a count cannot be negative")
		default:
			return nil, bad("observed", obsCol, "want a whole number of cases or NA")
		}
		s.Observed = append(s.Observed, y)

		t := len(s.Observed)
		if hasT {
			v := field(tCol)
			n, err := strconv.Atoi(v)
			if !intRE.MatchString(v) || err != nil || n < 1 || n > math.MaxInt32 {
				return nil, bad("t", tCol, "want a 1-based time index")
			}
			if len(s.T) > 0 && n != s.T[len(s.T)-1]+1 {
				return nil, bad("t", tCol, fmt.Sprintf("want %d, one after the previous row's (a missing week is a row with observed NA)", s.T[len(s.T)-1]+1))
			}
			t = n
		}
		s.T = append(s.T, t)

		if labelCol >= 0 {
			v := rec[labelCol]
			if s.LabelName == "date" {
				if _, err := time.Parse(time.DateOnly, v); err != nil || !dateRE.MatchString(v) {
					return nil, bad("date", labelCol, "want YYYY-MM-DD")
				}
			}
			s.Labels = append(s.Labels, v)
		}
		if hasState {
			switch field(stateCol) {
			case "0":
				s.State = append(s.State, 0)
			case "1":
				s.State = append(s.State, 1)
			default:
				return nil, bad("state", stateCol, "want 0 or 1")
			}
		}
	}
	if s.Len() == 0 {
		return nil, errors.New("no rows after the header")
	}
	return s, nil
}

// WriteCSV writes the result of an algorithm on s in the format of
// peer.R's output: t, the label column (date or week) when s has one,
// observed, state when s has it, upperbound, alarm (0, 1 or NA), then the
// result's diagnostics columns; one row per evaluated point. Numbers are
// printed as R's sprintf("%.17g") does them (NA, Inf and -Inf as R
// writes them), so that equal values give equal files. Unlike peer.R's
// write.csv(quote = FALSE), a label holding a comma or a quote is quoted,
// so the file stays valid CSV.
func WriteCSV(w io.Writer, s *Series, r *Result) error {
	if err := checkResult(s, r); err != nil {
		return fmt.Errorf("surveillance: csv: %w", err)
	}
	header := outputColumns(s, r)

	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("surveillance: csv: %w", err)
	}
	row := make([]string, 0, len(header))
	for i, p := range r.Index {
		t := p + 1
		if s.T != nil {
			t = s.T[p]
		}
		row = append(row[:0], strconv.Itoa(t))
		if s.Labels != nil {
			row = append(row, s.Labels[p])
		}
		row = append(row, FormatNumber(s.Observed[p]))
		if s.State != nil {
			row = append(row, strconv.Itoa(s.State[p]))
		}
		row = append(row, FormatNumber(r.UpperBound[i]), formatAlarm(r.Alarm[i]))
		for _, c := range r.Columns {
			row = append(row, FormatNumber(r.Diagnostics[c][i]))
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("surveillance: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("surveillance: csv: %w", err)
	}
	return nil
}

// checkResult reports a result that does not fit its series.
func checkResult(s *Series, r *Result) error {
	n := s.Len()
	switch {
	case s.T != nil && len(s.T) != n,
		s.Labels != nil && len(s.Labels) != n,
		s.State != nil && len(s.State) != n:
		return fmt.Errorf("series of %d counts with %d t, %d labels, %d states", n, len(s.T), len(s.Labels), len(s.State))
	case len(r.UpperBound) != len(r.Index) || len(r.Alarm) != len(r.Index):
		return fmt.Errorf("result of %d points with %d bounds and %d alarms", len(r.Index), len(r.UpperBound), len(r.Alarm))
	}
	for _, p := range r.Index {
		if p < 0 || p >= n {
			return fmt.Errorf("result evaluates position %d of a series of %d", p, n)
		}
	}
	for _, c := range r.Columns {
		if len(r.Diagnostics[c]) != len(r.Index) {
			return fmt.Errorf("diagnostic %s has %d values for %d points", c, len(r.Diagnostics[c]), len(r.Index))
		}
	}
	return nil
}

// FormatNumber prints v as R's sprintf("%.17g", v) in peer.R: 17
// significant digits, NA for a missing value, Inf and -Inf. Counts come
// out as plain integers, as R prints them.
func FormatNumber(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NA"
	case math.IsInf(v, 1):
		return "Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', 17, 64)
}

func formatAlarm(a int8) string {
	switch a {
	case Alarm:
		return "1"
	case NoAlarm:
		return "0"
	}
	return "NA"
}

// outputColumns are peer.R's output columns for a series and a result:
// t, the label, observed, state when the input has it, upperbound, alarm,
// the diagnostics.
func outputColumns(s *Series, r *Result) []string {
	cols := []string{"t"}
	if s.Labels != nil {
		cols = append(cols, s.LabelName)
	}
	cols = append(cols, "observed")
	if s.State != nil {
		cols = append(cols, "state")
	}
	cols = append(cols, "upperbound", "alarm")
	return append(cols, r.Columns...)
}
