package search

import (
	"math"
	"testing"
	"time"
)

func TestNormalizeString(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"Müller", "muller"},
		{"ÅNGSTRÖM", "angstrom"},
		{"ＡＢＣ１", "abc1"},
		{"张三", "张三"},
		{"張三", "張三"}, // no traditional → simplified folding
		{"  a  b ", "a b"},
		{"a\t\nb", "a b"},
		{"张\u3000三", "张 三"}, // ideographic space
		{"Straße", "strasse"},
		{"Æsir Œuvre", "aesir oeuvre"},
		{"Łódź Dvořák", "lodz dvorak"},
		{"Cafe\u0301", "cafe"}, // decomposed accent
		{"2×3", "2×3"},
		{"chalmers", "chalmers"},
		{"", ""},
		{" ", ""},
	}
	for _, tt := range tests {
		if got := NormalizeString(tt.in); got != tt.want {
			t.Errorf("NormalizeString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLatinFoldTable(t *testing.T) {
	t.Parallel()
	if got, want := len(latinFold), 0x17F-0xC0+1; got != want {
		t.Fatalf("latinFold has %d entries, want %d (U+00C0…U+017F)", got, want)
	}
	for _, tt := range []struct {
		r    rune
		want string
	}{{'À', "a"}, {'ÿ', "y"}, {'Ā', "a"}, {'ı', "i"}, {'ķ', "k"}, {'Ł', "l"}, {'ŋ', "n"}, {'Ř', "r"}, {'Ů', "u"}, {'Ž', "z"}, {'ſ', "s"}, {'×', ""}} {
		if got := foldLatin(tt.r); got != tt.want {
			t.Errorf("foldLatin(%q) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestDateRange(t *testing.T) {
	t.Parallel()
	cst := time.FixedZone("CST", 8*3600)
	tests := []struct {
		in       string
		lo, hi   string // RFC 3339; "" when the input is invalid
		wantOpen bool
	}{
		{"1974-12-25", "1974-12-24T16:00:00Z", "1974-12-25T16:00:00Z", false},
		{"2024", "2023-12-31T16:00:00Z", "2024-12-31T16:00:00Z", false},
		{"2024-02", "2024-01-31T16:00:00Z", "2024-02-29T16:00:00Z", false},
		{"2024-02-10T08:30:00Z", "2024-02-10T08:30:00Z", "2024-02-10T08:30:01Z", false},
		{"2024-02-10T08:30:00.5+01:00", "2024-02-10T07:30:00.5Z", "2024-02-10T07:30:00.6Z", false},
		{"2024-02-10T08:30:00.123456Z", "2024-02-10T08:30:00.123Z", "2024-02-10T08:30:00.124Z", false},
		{"2024-02-10T08:30", "2024-02-10T00:30:00Z", "2024-02-10T00:31:00Z", false}, // no zone: CST
		{"2024-02-10T08:30:00-05:00", "2024-02-10T13:30:00Z", "2024-02-10T13:30:01Z", false},
		{"2023-02-30", "", "", false},
		{"January 2012", "", "", false},
		{"2024-02-10T", "", "", false},
		{"2024Z", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		lo, hi, ok := DateRange(tt.in, cst)
		if tt.lo == "" {
			if ok {
				t.Errorf("DateRange(%q) = [%d, %d), want invalid", tt.in, lo, hi)
			}
			continue
		}
		if !ok || lo != ms(tt.lo) || hi != ms(tt.hi) {
			t.Errorf("DateRange(%q) = [%v, %v) %v, want [%s, %s)", tt.in,
				time.UnixMilli(lo).UTC(), time.UnixMilli(hi).UTC(), ok, tt.lo, tt.hi)
		}
	}
}

func TestNumberRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in            string
		v, lo, hi     float64
		wantMalformed bool
	}{
		{"100", 100, 99.5, 100.5, false},
		{"1.50", 1.5, 1.495, 1.505, false},
		{"-1.5", -1.5, -1.55, -1.45, false},
		{"0", 0, -0.5, 0.5, false},
		{"1e2", 100, 50, 150, false},
		{"2.5E-3", 0.0025, 0.00245, 0.00255, false},
		{"0.02", 0.02, 0.015, 0.025, false},
		{"abc", 0, 0, 0, true},
	}
	for _, tt := range tests {
		v, lo, hi, ok := numberRange(tt.in)
		if tt.wantMalformed {
			if ok {
				t.Errorf("numberRange(%q) ok, want malformed", tt.in)
			}
			continue
		}
		// Bounds must be the doubles a query for the same decimal parses to.
		if !ok || v != tt.v || lo != tt.lo || hi != tt.hi {
			t.Errorf("numberRange(%q) = %v [%v, %v) %v, want %v [%v, %v)", tt.in, v, lo, hi, ok, tt.v, tt.lo, tt.hi)
		}
	}
}

func TestCanonicalUnit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code, want string
		factor     float64
	}{
		{"kg", "g", 1000},
		{"mg", "g", 0.001},
		{"[lb_av]", "g", 453.59237},
		{"mL", "L", 0.001},
		{"mg/dL", "g/L", 0.01},
		{"mmol/L", "mol/L", 0.001},
		{"/min", "/min", 1}, // unknown forms stay as they are
		{"{beats}/min", "{beats}/min", 1},
		{"mm[Hg]", "mm[Hg]", 1},
	}
	for _, tt := range tests {
		got, f := CanonicalUnit(tt.code)
		if got != tt.want || math.Abs(f-tt.factor) > 1e-12*tt.factor {
			t.Errorf("CanonicalUnit(%q) = %q × %v, want %q × %v", tt.code, got, f, tt.want, tt.factor)
		}
	}
}
