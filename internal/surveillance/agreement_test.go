package surveillance

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// sharedSurveillance holds the reference data (its README): the series and
// the outputs of R's surveillance 1.20.3, written by peer.R.
const sharedSurveillance = "../../../shared/surveillance"

// referenceTolerance bounds |ours − R's| / max(1, |R's|) for every bound
// and diagnostic: spec_check.R's measure, under which a value near zero
// is compared absolutely.
const referenceTolerance = 1e-9

// referenceStats is what compareWithReference found over one output file.
type referenceStats struct {
	Points          int     // time points compared
	MaxRelDiff      float64 // of the upper bound, as referenceTolerance measures it
	BoundNAMismatch int     // points where one bound is NA and the other not
	AlarmMismatches int     // points whose alarms (0, 1, NA) differ
	// Alarms, NAAlarms and NABounds count the reference's alarms, NA
	// alarms and NA bounds: how much of the special cases a file tests.
	Alarms, NAAlarms, NABounds int
	// DiagMaxRelDiff and DiagNAMismatch are per diagnostics column.
	DiagMaxRelDiff map[string]float64
	DiagNAMismatch map[string]int
}

func (st referenceStats) String() string {
	var diag []string
	for _, c := range slices.Sorted(maps.Keys(st.DiagMaxRelDiff)) {
		diag = append(diag, fmt.Sprintf("%s %.3g/%d NA", c, st.DiagMaxRelDiff[c], st.DiagNAMismatch[c]))
	}
	s := fmt.Sprintf("%4d points (%d alarms, %d NA alarms, %d NA bounds), max rel diff of the bound %.3g, NA mismatches %d, mismatching alarms %d",
		st.Points, st.Alarms, st.NAAlarms, st.NABounds, st.MaxRelDiff, st.BoundNAMismatch, st.AlarmMismatches)
	if len(diag) > 0 {
		s += "; diagnostics: " + strings.Join(diag, ", ")
	}
	return s
}

// refRelDiff is |a − b| / max(1, |b|); 0 when both are NA or the same
// infinity, +Inf when only one is NA.
func refRelDiff(a, b float64) float64 {
	switch {
	case math.IsNaN(a) && math.IsNaN(b):
		return 0
	case math.IsNaN(a) || math.IsNaN(b):
		return math.Inf(1)
	case a == b:
		return 0
	}
	return math.Abs(a-b) / math.Max(1, math.Abs(b))
}

// parseRefNumber reads a number as peer.R prints it (%.17g, NA, Inf).
func parseRefNumber(v string) (float64, error) {
	switch v {
	case "NA", "NaN":
		return NA, nil
	case "Inf":
		return math.Inf(1), nil
	case "-Inf":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(v, 64)
}

// compareWithReference compares got, an algorithm's result on s, with
// refFile, peer.R's output for the same series and settings, at every
// time point: the same points (t, label, observed, state), upper bounds
// within referenceTolerance with NA at the same points, the same alarms
// (0, 1, NA), and every diagnostics column the same way — the reference
// must have exactly got.Columns after alarm. Differences are test errors
// (the first few of each kind printed); the figures are returned.
func compareWithReference(t *testing.T, s *Series, refFile string, got *Result) referenceStats {
	t.Helper()
	st := referenceStats{DiagMaxRelDiff: map[string]float64{}, DiagNAMismatch: map[string]int{}}
	f, err := os.Open(refFile)
	if err != nil {
		t.Errorf("reference %s: %v", refFile, err)
		return st
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) == 0 {
		t.Errorf("reference %s: %v (%d rows)", refFile, err, len(rows))
		return st
	}
	name := filepath.Base(refFile)
	header := rows[0]
	want := outputColumns(s, got)
	if !slices.Equal(header, want) {
		t.Errorf("%s: columns %v, ours %v", name, header, want)
		return st
	}
	if len(rows)-1 != len(got.Index) {
		t.Errorf("%s: %d points, ours %d", name, len(rows)-1, len(got.Index))
		return st
	}
	reported := map[string]int{}
	report := func(kind string, format string, a ...any) {
		t.Helper()
		if reported[kind]++; reported[kind] <= 5 {
			t.Errorf("%s: "+format, append([]any{name}, a...)...)
		}
	}
	number := func(row []string, j int) float64 {
		v, err := parseRefNumber(row[j])
		if err != nil {
			report("number", "t=%s: %s %q: %v", row[0], header[j], row[j], err)
		}
		return v
	}
	for i, row := range rows[1:] {
		p := got.Index[i]
		st.Points++
		j := 0
		if tt := strconv.Itoa(s.T[p]); row[j] != tt {
			report("t", "row %d: t %s, ours %s", i+1, row[j], tt)
		}
		j++
		if s.Labels != nil {
			if row[j] != s.Labels[p] {
				report("label", "t=%s: %s %q, ours %q", row[0], s.LabelName, row[j], s.Labels[p])
			}
			j++
		}
		if y := number(row, j); refRelDiff(y, s.Observed[p]) != 0 {
			report("observed", "t=%s: observed %s, ours %v", row[0], row[j], s.Observed[p])
		}
		j++
		if s.State != nil {
			if row[j] != strconv.Itoa(s.State[p]) {
				report("state", "t=%s: state %s, ours %d", row[0], row[j], s.State[p])
			}
			j++
		}
		ref := number(row, j)
		if math.IsNaN(ref) {
			st.NABounds++
		}
		d := refRelDiff(got.UpperBound[i], ref)
		switch {
		case math.IsNaN(ref) != math.IsNaN(got.UpperBound[i]):
			st.BoundNAMismatch++
			report("boundNA", "t=%s: upperbound %s, ours %s", row[0], row[j], FormatNumber(got.UpperBound[i]))
		case d > referenceTolerance:
			report("bound", "t=%s: upperbound %s, ours %s (rel diff %.3g)", row[0], row[j], FormatNumber(got.UpperBound[i]), d)
		}
		if !math.IsInf(d, 1) {
			st.MaxRelDiff = math.Max(st.MaxRelDiff, d)
		}
		j++
		switch row[j] {
		case "1":
			st.Alarms++
		case "NA":
			st.NAAlarms++
		}
		if a := formatAlarm(got.Alarm[i]); row[j] != a {
			st.AlarmMismatches++
			report("alarm", "t=%s: alarm %s, ours %s (observed %s, upperbound %s, ours %s)",
				row[0], row[j], a, FormatNumber(s.Observed[p]), row[j-1], FormatNumber(got.UpperBound[i]))
		}
		j++
		for _, c := range got.Columns {
			ref, ours := number(row, j), got.Diagnostics[c][i]
			d := refRelDiff(ours, ref)
			switch {
			case math.IsNaN(ref) != math.IsNaN(ours):
				st.DiagNAMismatch[c]++
				report("diagNA"+c, "t=%s: %s %s, ours %s", row[0], c, row[j], FormatNumber(ours))
			case d > referenceTolerance:
				report("diag"+c, "t=%s: %s %s, ours %s (rel diff %.3g)", row[0], c, row[j], FormatNumber(ours), d)
			}
			if !math.IsInf(d, 1) {
				st.DiagMaxRelDiff[c] = math.Max(st.DiagMaxRelDiff[c], d)
			} else if _, ok := st.DiagMaxRelDiff[c]; !ok {
				st.DiagMaxRelDiff[c] = 0
			}
			j++
		}
	}
	for kind, n := range reported {
		if n > 5 {
			t.Errorf("%s: %d more differences of kind %s", name, n-5, kind)
		}
	}
	return st
}

// referenceSettings are the reference outputs this package reproduces,
// by the suffix of their file name (out/<series>__<suffix>.csv), with the
// settings peer.R ran: the defaults but for the method or transformation
// (and cusum's range (freq+1):n, which peer.R sets when none is given).
var referenceSettings = map[string]struct {
	algo string
	opts Options
}{
	"earsC_C1":       {"earsC", Options{"method": "C1"}},
	"earsC_C2":       {"earsC", Options{"method": "C2"}},
	"earsC_C3":       {"earsC", Options{"method": "C3"}},
	"cusum_standard": {"cusum", Options{"trans": "standard"}},
	"cusum_rossi":    {"cusum", Options{"trans": "rossi"}},
}

// readSeriesFile reads a series with ReadCSV.
func readSeriesFile(t testing.TB, path string) *Series {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := ReadCSV(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return s
}

// TestAgreementWithReference runs every series of the reference data with
// the settings of every earsC and cusum output there and compares point by
// point; it also checks that our CSV output is byte for byte peer.R's
// where the numbers are bit for bit the same.
func TestAgreementWithReference(t *testing.T) {
	outDir := filepath.Join(sharedSurveillance, "out")
	entries, err := os.ReadDir(outDir)
	if err != nil {
		t.Skipf("reference outputs not available (../shared/surveillance/out): %v", err)
	}
	type line struct {
		file string
		st   referenceStats
		same bool
	}
	var lines []line
	for _, e := range entries {
		series, suffix, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".csv"), "__")
		set, known := referenceSettings[suffix]
		if !ok || !known {
			continue
		}
		t.Run(series+"/"+suffix, func(t *testing.T) {
			s := readSeriesFile(t, filepath.Join(sharedSurveillance, "data", series+".csv"))
			got, err := Run(set.algo, s, set.opts)
			if err != nil {
				t.Fatal(err)
			}
			ref := filepath.Join(outDir, e.Name())
			st := compareWithReference(t, s, ref, got)
			var buf bytes.Buffer
			if err := WriteCSV(&buf, s, got); err != nil {
				t.Fatal(err)
			}
			want, _ := os.ReadFile(ref)
			same := bytes.Equal(buf.Bytes(), want)
			t.Logf("%-40s %s; CSV byte-identical: %v", e.Name(), st, same)
			lines = append(lines, line{e.Name(), st, same})
		})
	}
	if len(lines) < 20 {
		t.Errorf("compared %d reference outputs, want the 20 of 4 series × 5 settings", len(lines))
	}
	points, alarms, identical, maxRel := 0, 0, 0, 0.0
	for _, l := range lines {
		points += l.st.Points
		alarms += l.st.AlarmMismatches
		maxRel = math.Max(maxRel, l.st.MaxRelDiff)
		for _, d := range l.st.DiagMaxRelDiff {
			maxRel = math.Max(maxRel, d)
		}
		if l.same {
			identical++
		}
	}
	t.Logf("summary: %d reference outputs, %d points, max rel diff (bounds and diagnostics) %.3g, mismatching alarms %d, byte-identical files %d",
		len(lines), points, maxRel, alarms, identical)
}
