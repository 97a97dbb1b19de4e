package surveillance

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseOptions(t *testing.T) {
	tests := []struct {
		args []string
		want Options
		err  string
	}{
		{args: nil, want: Options{}},
		{args: []string{"method=C3", "alpha=0.001", "limit54=5,4", "x="}, want: Options{"method": "C3", "alpha": "0.001", "limit54": "5,4", "x": ""}},
		{args: []string{"a=b=c"}, want: Options{"a": "b=c"}}, // peer.R: the key ends at the first =
		{args: []string{"method"}, err: `option "method": want key=value`},
		{args: []string{"=3"}, err: "want key=value"},
		{args: []string{"k=1", "k=2"}, err: "option k given twice"},
	}
	for _, tt := range tests {
		got, err := ParseOptions(tt.args)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseOptions(%q): error %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseOptions(%q) = %v, %v; want %v", tt.args, got, err, tt.want)
		}
	}
}

func TestOptionGetters(t *testing.T) {
	o := Options{"f": "0.025", "e": "1e-3", "sp": " 7 ", "i": "7.0", "frac": "7.5", "word": "seven",
		"inf": "Inf", "hex": "0x10", "null": "NULL", "T": "TRUE", "F": "FALSE", "one": "1",
		"r": "265:312", "r1": "5", "rback": "9:3", "r0": "0:4", "rneg": "-2:3", "rlist": "1,2,3",
		"list": "5,4", "listbad": "5,x", "m": "C3"}
	num := func(k string, def float64) any { v, err := o.Float(k, def); return []any{v, err == nil} }
	integer := func(k string) any { v, err := o.Int(k, -1); return []any{v, err == nil} }
	boolean := func(k string) any { v, err := o.Bool(k, false); return []any{v, err == nil} }
	rng := func(k string) any { a, b, ok, err := o.Range(k); return []any{a, b, ok, err == nil} }
	list := func(k string) any { l, ok, err := o.Floats(k); return []any{l, ok, err == nil} }
	choice := func(k string) any { v, err := o.Choice(k, "C1", "C1", "C2", "C3"); return []any{v, err == nil} }
	tests := []struct {
		name string
		got  any
		want []any
	}{
		{"float", num("f", 1), []any{0.025, true}},
		{"float exponent", num("e", 1), []any{0.001, true}},
		{"float spaces (as R's as.numeric)", num("sp", 1), []any{7.0, true}},
		{"float absent", num("absent", 1.04), []any{1.04, true}},
		{"float NULL is the default", num("null", 2.26), []any{2.26, true}},
		{"float word", num("word", 1), []any{0.0, false}},
		{"float Inf", num("inf", 1), []any{0.0, false}},
		{"float hex", num("hex", 1), []any{0.0, false}},
		{"int", integer("i"), []any{7, true}},
		{"int fraction", integer("frac"), []any{0, false}},
		{"int absent", integer("absent"), []any{-1, true}},
		{"bool TRUE", boolean("T"), []any{true, true}},
		{"bool FALSE", boolean("F"), []any{false, true}},
		{"bool 1 is not TRUE", boolean("one"), []any{false, false}},
		{"bool absent", boolean("absent"), []any{false, true}},
		{"range", rng("r"), []any{265, 312, true, true}},
		{"range of one", rng("r1"), []any{5, 5, true, true}},
		{"range backwards", rng("rback"), []any{0, 0, false, false}},
		{"range from 0", rng("r0"), []any{0, 0, false, false}},
		{"range negative", rng("rneg"), []any{0, 0, false, false}},
		{"range list", rng("rlist"), []any{0, 0, false, false}},
		{"range absent", rng("absent"), []any{0, 0, false, true}},
		{"list", list("list"), []any{[]float64{5, 4}, true, true}},
		{"list of one", list("f"), []any{[]float64{0.025}, true, true}},
		{"list with a word", list("listbad"), []any{[]float64(nil), false, false}},
		{"choice", choice("m"), []any{"C3", true}},
		{"choice absent", choice("absent"), []any{"C1", true}},
		{"choice other", choice("word"), []any{"", false}},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestOptionsCheck(t *testing.T) {
	weekly := &Series{Observed: []float64{1}, LabelName: "week", Labels: []string{"w"}}
	dated := &Series{Observed: []float64{1}, LabelName: "date", Labels: []string{"2020-01-01"}}
	tests := []struct {
		s    *Series
		o    Options
		want string // "" for no error
	}{
		{weekly, Options{"k": "1", "freq": "12", "start": "2001,1", "dates": "FALSE"}, ""},
		{dated, Options{"dates": "TRUE"}, ""},
		{weekly, Options{"dates": "TRUE"}, "dates=TRUE needs a date column"},
		{weekly, Options{"kk": "1", "alpha": "2"}, "unknown option alpha, kk (accepted: dates, freq, k, start)"},
		{weekly, Options{"reps": "3"}, "unknown option reps"},
		{weekly, Options{"freq": "0"}, "option freq=0"},
		{weekly, Options{"freq": "52.5"}, "option freq=52.5"},
		{weekly, Options{"start": "2001"}, "option start=2001: want year,period"},
		{weekly, Options{"start": "2001,x"}, "option start=2001,x"},
		{weekly, Options{"dates": "yes"}, "option dates=yes: want TRUE or FALSE"},
	}
	for _, tt := range tests {
		err := tt.o.check(tt.s, "k")
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("check(%v) = %v, want %q", tt.o, err, tt.want)
		}
	}
}

// FuzzOptions checks that parsing arguments and every getter never panic
// and that what they accept keeps their promises.
func FuzzOptions(f *testing.F) {
	for _, seed := range []string{"range=265:312", "limit54=5,4", "alpha=1e-3", "dates=TRUE", "k=NULL", "r=-3:-9", "x= 7 ", "r=99999999999:1"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		o, err := ParseOptions(strings.Fields(arg))
		if err != nil {
			return
		}
		for k := range o {
			o.Float(k, 0)
			o.Int(k, 0)
			o.Bool(k, false)
			o.Choice(k, "", "a")
			if l, ok, err := o.Floats(k); err == nil && ok && len(l) == 0 {
				t.Fatalf("%s: empty list accepted", k)
			}
			if a, b, ok, err := o.Range(k); err == nil && ok && (a < 1 || b < a) {
				t.Fatalf("%s: range %d:%d accepted", k, a, b)
			}
			if idx, err := o.rangeIndex(100, 8); err == nil && (len(idx) == 0 || idx[0] < 0 || idx[len(idx)-1] > 99) {
				t.Fatalf("range index %v", idx)
			}
		}
		o.check(&Series{Observed: []float64{1}}, "k")
	})
}
