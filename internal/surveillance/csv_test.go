package surveillance

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestReadCSV(t *testing.T) {
	tests := []struct {
		name, in string
		want     *Series // nil: an error containing err
		err      string
	}{
		{name: "observed only", in: "observed\n3\n0\nNA\n\n12\n",
			want: &Series{T: []int{1, 2, 3, 4}, Observed: []float64{3, 0, NA, 12}, Freq: 52}},
		{name: "all columns, peer.R's order", in: "t,week,observed,state\n5,2001-W05,1,0\n6,2001-W06,,1\n",
			want: &Series{T: []int{5, 6}, Observed: []float64{1, NA}, LabelName: "week", Labels: []string{"2001-W05", "2001-W06"}, State: []int{0, 1}, Freq: 52}},
		{name: "other order, spaces, quotes, BOM, extra column", in: "\uFEFFdate, observed ,comment,t\n\"2020-01-06\", 7 ,\"a, b\",1\n2020-01-13,8,,2\n",
			want: &Series{T: []int{1, 2}, Observed: []float64{7, 8}, LabelName: "date", Labels: []string{"2020-01-06", "2020-01-13"}, Freq: 52}},
		{name: "CRLF", in: "observed\r\n1\r\n2\r\n", want: &Series{T: []int{1, 2}, Observed: []float64{1, 2}, Freq: 52}},
		{name: "largest count", in: "observed\n9007199254740992\n", want: &Series{T: []int{1}, Observed: []float64{1 << 53}, Freq: 52}},

		{name: "empty", in: "", err: "empty input"},
		{name: "no observed", in: "t,count\n1,2\n", err: "line 1: no observed column"},
		{name: "header only", in: "observed\n", err: "no rows"},
		{name: "duplicate column", in: "observed,observed\n1,2\n", err: `column "observed" appears twice`},
		{name: "date and week", in: "date,week,observed\n2020-01-06,2020-W02,1\n", err: "both a date and a week"},
		{name: "fraction", in: "observed\n1\n2.5\n", err: `line 3: observed "2.5": want a whole number`},
		{name: "negative", in: "observed\n-1\n", err: `line 2: observed "-1": a count cannot be negative`},
		{name: "word", in: "observed\nmany\n", err: `line 2: observed "many"`},
		{name: "too large", in: "observed\n9007199254740993\n", err: "too large"},
		{name: "t not a number", in: "t,observed\nx,1\n", err: `line 2: t "x"`},
		{name: "t zero", in: "t,observed\n0,1\n", err: `line 2: t "0"`},
		{name: "t gap", in: "t,observed\n1,1\n3,1\n", err: `line 3: t "3": want 2`},
		{name: "t NA", in: "t,observed\nNA,1\n", err: `line 2: t "NA"`},
		{name: "bad date", in: "date,observed\n2020-02-30,1\n", err: `line 2: date "2020-02-30": want YYYY-MM-DD`},
		{name: "short date", in: "date,observed\n2020-2-3,1\n", err: `date "2020-2-3"`},
		{name: "state 2", in: "observed,state\n1,2\n", err: `line 2: state "2": want 0 or 1`},
		{name: "state NA", in: "observed,state\n1,NA\n", err: `state "NA"`},
		{name: "ragged row", in: "t,observed\n1,1\n2\n", err: "line 3"},
		{name: "bad quote", in: "week,observed\n\"a\"b,1\n", err: "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadCSV(strings.NewReader(tt.in))
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.HasPrefix(err.Error(), "surveillance: csv: ") {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !seriesEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// seriesEqual is reflect.DeepEqual with NA equal to NA.
func seriesEqual(a, b *Series) bool {
	if len(a.Observed) != len(b.Observed) {
		return false
	}
	for i := range a.Observed {
		if refRelDiff(a.Observed[i], b.Observed[i]) != 0 {
			return false
		}
	}
	ac, bc := *a, *b
	ac.Observed, bc.Observed = nil, nil
	return reflect.DeepEqual(ac, bc)
}

func TestFormatNumber(t *testing.T) {
	// R: sprintf("%.17g", x), NA as peer.R writes it.
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {math.Copysign(0, -1), "-0"}, {8, "8"}, {123456, "123456"}, {0.5, "0.5"},
		{0.1, "0.10000000000000001"}, {6.8812183340012805, "6.8812183340012805"},
		{1e-5, "1.0000000000000001e-05"}, {1e16, "10000000000000000"}, {1e17, "1e+17"},
		{123456789012345678, "1.2345678901234568e+17"}, {1e20, "1e+20"},
		{NA, "NA"}, {math.Inf(1), "Inf"}, {math.Inf(-1), "-Inf"},
	}
	for _, tt := range tests {
		if got := FormatNumber(tt.v); got != tt.want {
			t.Errorf("FormatNumber(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestWriteCSV(t *testing.T) {
	s := &Series{T: []int{1, 2, 3}, Observed: []float64{4, NA, 0}, LabelName: "week",
		Labels: []string{"2001-W01", "a,b", "2001-W03"}, State: []int{0, 1, 0}, Freq: 52}
	r := newResult([]int{1, 2}, "m", "cusum")
	r.UpperBound[0], r.Alarm[0] = 2.5, NoAlarm
	r.UpperBound[1], r.Alarm[1] = 0.1, Alarm
	r.Diagnostics["m"][0], r.Diagnostics["cusum"][1] = 3, math.Inf(1)
	var b bytes.Buffer
	if err := WriteCSV(&b, s, r); err != nil {
		t.Fatal(err)
	}
	want := "t,week,observed,state,upperbound,alarm,m,cusum\n" +
		"2,\"a,b\",NA,1,2.5,0,3,NA\n" +
		"3,2001-W03,0,0,0.10000000000000001,1,NA,Inf\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}

	// A series without t, labels or state: row numbers, bare columns; NA alarm.
	bare := &Series{Observed: []float64{1, 2}}
	r = newResult([]int{0})
	b.Reset()
	if err := WriteCSV(&b, bare, r); err != nil {
		t.Fatal(err)
	}
	if want := "t,observed,upperbound,alarm\n1,1,NA,NA\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}

	for name, bad := range map[string]*Result{
		"position out of the series": newResult([]int{2}),
		"missing diagnostics":        {Index: []int{0}, UpperBound: []float64{1}, Alarm: []int8{0}, Columns: []string{"m"}},
		"short bounds":               {Index: []int{0, 1}, UpperBound: []float64{1}, Alarm: []int8{0, 0}},
	} {
		if err := WriteCSV(&b, bare, bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// FuzzReadCSV checks that no input makes ReadCSV panic, that what it
// accepts is a consistent series, and that the series survives WriteCSV
// and ReadCSV again (the output carries the input's columns).
func FuzzReadCSV(f *testing.F) {
	for _, seed := range []string{
		"t,week,observed,state\n1,1990-W01,1,0\n2,1990-W02,NA,1\n",
		"date,observed\n2001-01-01,3\n2001-01-08,\n",
		"observed\n0\n5\n",
		"\uFEFFobserved,\"x\"\"y\"\n\"7\",\"a,\nb\"\n",
		"t,observed\n3,1\n4,2\n",
		"week,observed\n\" 1\",2\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ReadCSV(strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "surveillance: csv: ") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		n := s.Len()
		if n == 0 || len(s.T) != n || (s.Labels != nil && len(s.Labels) != n) || (s.State != nil && len(s.State) != n) {
			t.Fatalf("inconsistent series %+v", s)
		}
		for i, y := range s.Observed {
			if !IsNA(y) && (y < 0 || y != math.Trunc(y)) {
				t.Fatalf("count %v", y)
			}
			if i > 0 && s.T[i] != s.T[i-1]+1 {
				t.Fatalf("t %v", s.T)
			}
		}
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		var b bytes.Buffer
		if err := WriteCSV(&b, s, newResult(all)); err != nil {
			t.Fatal(err)
		}
		back, err := ReadCSV(&b)
		if err != nil {
			t.Fatalf("reading our own output: %v\n%s", err, b.String())
		}
		if !seriesEqual(back, s) {
			t.Fatalf("round trip: %+v, want %+v", back, s)
		}
	})
}
