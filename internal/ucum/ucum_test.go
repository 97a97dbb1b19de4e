package ucum

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fhirCore is the unpacked hl7.fhir.r4.core package, beside the repository.
const fhirCore = "../../../shared/fhir/r4-core"

func TestEssenceTable(t *testing.T) {
	tb := essence()
	if got := len(tb.prefixes); got != 24 {
		t.Errorf("%d prefixes, want 24 (20 decimal, 4 binary)", got)
	}
	// ucum-essence.xml 2.2 has 7 base units and 305 units.
	if got := len(tb.atoms); got != 312 {
		t.Errorf("%d atoms, want 312", got)
	}
	for i := 1; i < len(tb.prefixes); i++ {
		if len(tb.prefixes[i]) > len(tb.prefixes[i-1]) {
			t.Fatalf("prefixes not longest first: %q", tb.prefixes)
		}
	}
	for _, p := range []string{"Y", "Z", "E", "P", "T", "G", "M", "k", "h", "da", "d", "c", "m", "u", "n", "p", "f", "a", "z", "y", "Ki", "Mi", "Gi", "Ti"} {
		if !strings.Contains(" "+strings.Join(tb.prefixes, " ")+" ", " "+p+" ") {
			t.Errorf("prefix %q missing", p)
		}
	}
	// Well-known atoms with their metric flag: prefixes may go only on metric ones.
	known := map[string]bool{
		"m": true, "s": true, "g": true, "rad": true, "K": true, "C": true, "cd": true,
		"mol": true, "L": true, "l": true, "Pa": true, "J": true, "W": true, "V": true, "A": true,
		"Hz": true, "N": true, "Cel": true, "eq": true, "osm": true, "kat": true, "U": true,
		"[iU]": true, "[IU]": true, "m[Hg]": true, "m[H2O]": true, "bar": true, "cal": true,
		"B": true, "Np": true, "t": true, "u": true, "eV": true, "g%": true, "By": true, "bit": true,
		"%": false, "10*": false, "10^": false, "[pi]": false, "[ppm]": false, "[ppb]": false,
		"min": false, "h": false, "d": false, "wk": false, "mo": false, "a": false,
		"[degF]": false, "[degR]": false, "[degRe]": false, "[pH]": false, "atm": false,
		"[arb'U]": false, "[USP'U]": false, "[CFU]": false, "[PFU]": false, "[HPF]": false, "[LPF]": false,
		"[lb_av]": false, "[oz_av]": false, "[in_i]": false, "[ft_i]": false, "[gal_us]": false,
		"[in_i'Hg]": false, "[drp]": false, "[MET]": false, "[Cal]": false, "deg": false, "'": false, "''": false,
		"[Ch]": false, "[diop]": false, "[p'diop]": false, "%[slope]": false, "[S]": false,
		"[m/s2/Hz^(1/2)]": false, "[NTU]": false, "[FNU]": false, "B[10.nV]": true, "cal_[15]": true,
		"bit_s": false, "[smoot]": false, "Ao": false,
	}
	for code, metric := range known {
		a, ok := tb.atoms[code]
		switch {
		case !ok:
			t.Errorf("atom %q missing", code)
		case a.metric != metric:
			t.Errorf("atom %q metric = %v, want %v", code, a.metric, metric)
		}
	}
	for _, code := range []string{"IU", "mmHg", "mm[Hg]", "kg", "Torr", "cc", "mcg", "degC"} {
		if _, ok := tb.atoms[code]; ok {
			t.Errorf("%q should not be an atom", code)
		}
	}
	// Every atom, and every prefix on every metric atom, is itself a valid
	// code: the lexer must keep each atom's characters in one symbol.
	for code, a := range tb.atoms {
		if err := Validate(code); err != nil {
			t.Errorf("atom %q: %v", code, err)
		}
		if a.metric {
			for _, p := range tb.prefixes {
				if err := Validate(p + code); err != nil {
					t.Errorf("prefixed atom %q: %v", p+code, err)
				}
			}
		}
	}
}

func TestLookupPrefersAtoms(t *testing.T) {
	tb := essence()
	// These atoms also read as a prefix on a non-metric atom; the atom wins.
	for _, sym := range []string{"cd", "Pa", "Gb", "ph", "mo", "min", "h", "d", "a"} {
		ok, prefix, _ := tb.lookup(sym)
		if !ok || prefix != "" {
			t.Errorf("lookup(%q) = %v, prefix %q; want the atom", sym, ok, prefix)
		}
	}
	for sym, want := range map[string]string{"mg": "m", "dB": "d", "dam": "da", "kg": "k", "ug": "u", "uU": "u", "mm[Hg]": "m", "k[IU]": "k", "GiBy": "Gi", "Kibit": "Ki"} {
		ok, prefix, _ := tb.lookup(sym)
		if !ok || prefix != want {
			t.Errorf("lookup(%q) = %v, prefix %q; want prefix %q", sym, ok, prefix, want)
		}
	}
}

func TestValid(t *testing.T) {
	for _, code := range []string{
		// Lab and vital-sign units.
		"mm[Hg]", "[IU]", "[iU]", "[IU]/L", "[iU]/L", "m[IU]/mL", "[pH]", "%", "10*9/L", "10*12/L",
		"10*3/uL", "10^3", "10*-3", "10*+3", "/min", "mL/min/{1.73_m2}", "mL/min/(173.10*-2.m2)",
		"umol/L", "mmol/L", "mmol/l", "mmol/mol", "mg/dL", "g/dL", "g/L", "ng/mL", "pg/mL", "fL",
		"pmol/L", "nmol/L", "ueq/L", "meq/L", "mosm/kg", "U/L", "kU/L", "mU/L", "[arb'U]", "[arb'U]/mL",
		"kg/m2", "kg", "g", "cm", "m", "[in_i]", "[lb_av]", "[ft_i]", "Cel", "[degF]", "K",
		"s", "a", "mo", "wk", "d", "h", "min", "ms", "{beats}/min", "/[HPF]", "/[LPF]",
		"%{HemoglobinA1C}", "%{Negative Control}", "mm/h", "cm[H2O]", "L/min", "mL/kg/h", "kcal",
		"[CFU]/mL", "[pptr]", "[ppm]", "mg%", "g%", "cd", "Pa", "kPa", "dB", "B[SPL]", "[m/s2/Hz^(1/2)]",
		// Grammar corners.
		"1", "100", "10*", "{cells}", "{}", "{RBC}/[HPF]", "/{tot}", "10*3{cells}/uL", "%/100{WBC}",
		"/(12.h)", "kg.m/s2", "kg.m.s-2", "m+2", "s-1", "m2.s-2", "((m))", "(kg.m)/s2", "4.[pi].10*-7.N/A2",
		"''", "'", "deg/s", "cal_[15]", "B[10.nV]", "%[slope]", "[in_i'H2O]", "mo_s", "a_j", "GiBy", "Kibit/s",
		"m[Hg].s/mL", "g/(8.h){shift}",
	} {
		if err := Validate(code); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", code, err)
		}
	}
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct{ code, err string }{
		{"", "ucum: empty code"},
		{"mmHg", `ucum: unknown unit "mmHg" at 0 (did you mean "mm[Hg]"?)`},
		{"IU/L", `ucum: unknown unit "IU" at 0 (did you mean "[IU]/L"?)`},
		{"mIU/mL", `ucum: unknown unit "mIU" at 0 (did you mean "m[IU]/mL"?)`},
		{"cmH2O", `ucum: unknown unit "cmH" at 0 (did you mean "cm[H2O]"?)`},
		{"mcg", `ucum: unknown unit "mcg" at 0 (did you mean "ug"?)`},
		{"cc", `ucum: unknown unit "cc" at 0 (did you mean "mL"?)`},
		{"degC", `ucum: unknown unit "degC" at 0 (did you mean "Cel"?)`},
		{"℃", `ucum: unexpected character "℃" at 0 (did you mean "Cel"?)`},
		{"°F", `ucum: unexpected character "°" at 0 (did you mean "[degF]"?)`},
		{"μg", `ucum: unexpected character "μ" at 0 (did you mean "ug"?)`},
		{"µmol/L", `ucum: unexpected character "µ" at 0 (did you mean "umol/L"?)`},
		{"ng/μL", `ucum: unexpected character "μ" at 3 (did you mean "ng/uL"?)`},
		{"次/分", `ucum: unexpected character "次" at 0 (did you mean "/min"?)`},
		{"bpm", `ucum: unknown unit "bpm" at 0 (did you mean "/min"?)`},
		{"mEq/L", `ucum: unknown unit "mEq" at 0 (did you mean "meq/L"?)`},
		{"mg / dL", `ucum: expected "." or "/" at 2, found " " (did you mean "mg/dL"?)`},
		{"mmHg/IU", `ucum: unknown unit "mmHg" at 0 (did you mean "mm[Hg]/[IU]"?)`},
		{"hr", `ucum: unknown unit "hr" at 0 (did you mean "h"?)`},
		{"kg/", "ucum: expected a unit at 3, found end of code"},
		{"()", `ucum: expected a unit at 1, found ")"`},
		{"m2/", "ucum: expected a unit at 3, found end of code"},
		{"g.", "ucum: expected a unit at 2, found end of code"},
		{"/", "ucum: expected a unit at 1, found end of code"},
		{"//min", `ucum: expected a unit at 1, found "/"`},
		{"kg(", `ucum: expected "." or "/" at 2, found "("`},
		{"kg)", `ucum: unmatched ")" at 2`},
		{"((m)", `ucum: unclosed "(" at 0`},
		{"(m.s)2", `ucum: expected "." or "/" at 5, found "2"`},
		{"{unclosed", "ucum: unclosed annotation at 0"},
		{"g{a{b}}", `ucum: "{" inside annotation at 3`},
		{"g{é}", `ucum: annotation character "é" at 2 is not printable ASCII`},
		{"g{\t}", `ucum: annotation character "\t" at 2 is not printable ASCII`},
		{"[in_i", `ucum: unclosed "[" at 0`},
		{"[a[b]]", `ucum: "[" inside square brackets at 2`},
		{"m-", `ucum: sign "-" not followed by digits at 1`},
		{"m+", `ucum: sign "+" not followed by digits at 1`},
		{"-1", `ucum: sign "-" with no unit before it at 0`},
		{"10-3", `ucum: expected "." or "/" at 2, found "-"`},
		{"10L", `ucum: unknown unit "10L" at 0`},
		{"ma", `ucum: prefix "m" on non-metric unit "a" at 0`},
		{"k[arb'U]", `ucum: prefix "k" on non-metric unit "[arb'U]" at 0`},
		{"kmin", `ucum: prefix "k" on non-metric unit "min" at 0`},
		{"mkg", `ucum: unknown unit "mkg" at 0`},
		{"KG", `ucum: unknown unit "KG" at 0`},
		{"L{a}{b}", `ucum: expected "." or "/" at 4, found "{"`},
		{"m=2", `ucum: expected "." or "/" at 1, found "="`},
		{"\xff", `ucum: unexpected character "\xff" at 0`},
		{"]", `ucum: unexpected character "]" at 0`},
		{strings.Repeat("m.", 128) + "m", "ucum: code is 257 bytes long, longer than 256"},
		{strings.Repeat("(", 17) + "m" + strings.Repeat(")", 17), "ucum: parentheses nested deeper than 16 at 16"},
	} {
		err := Validate(tc.code)
		if err == nil {
			t.Errorf("Validate(%q) = nil, want %q", tc.code, tc.err)
			continue
		}
		if err.Error() != tc.err {
			t.Errorf("Validate(%q)\n got %q\nwant %q", tc.code, err.Error(), tc.err)
		}
	}
}

func TestBounds(t *testing.T) {
	long := strings.Repeat("m.", 127) + "mm" // 256 bytes
	if len(long) != maxLen {
		t.Fatalf("len %d", len(long))
	}
	if err := Validate(long); err != nil {
		t.Errorf("256-byte code: %v", err)
	}
	deep := strings.Repeat("(", maxDepth) + "m" + strings.Repeat(")", maxDepth)
	if err := Validate(deep); err != nil {
		t.Errorf("depth %d: %v", maxDepth, err)
	}
	// Siblings do not add up to depth.
	wide := strings.Repeat("(((m))).", 20) + "m"
	if err := Validate(wide); err != nil {
		t.Errorf("wide: %v", err)
	}
}

// TestFHIRUnits checks that every code listed by FHIR R4's UCUM value sets
// (common units, which HL7 drew from lab and clinical use, vital signs, body
// length, temperature and weight) is valid.
func TestFHIRUnits(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fhirCore, "ValueSet-ucum-*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(fhirCore, "ValueSet-ucum-common.json")); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("FHIR R4 core package not found at %s", fhirCore)
	}
	n := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var vs struct {
			Compose struct {
				Include []struct {
					System  string `json:"system"`
					Concept []struct {
						Code string `json:"code"`
					} `json:"concept"`
				} `json:"include"`
			} `json:"compose"`
		}
		if err := json.Unmarshal(b, &vs); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, inc := range vs.Compose.Include {
			if inc.System != "http://unitsofmeasure.org" {
				continue
			}
			for _, c := range inc.Concept {
				n++
				if err := Validate(c.Code); err != nil {
					t.Errorf("%s: %q: %v", filepath.Base(file), c.Code, err)
				}
			}
		}
	}
	// ucum-common alone lists 1364 codes.
	if n < 1364 {
		t.Errorf("only %d UCUM codes in the value sets, want at least 1364", n)
	}
}

var suggestion = regexp.MustCompile(`\(did you mean "(.*)"\?\)$`)

func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		"mm[Hg]", "10*9/L", "mL/min/{1.73_m2}", "/min", "%{Negative Control}", "[m/s2/Hz^(1/2)]",
		"((kg.m)/s2)", "mmHg", "μg", "次/分", "{", "[", "(", "10*-3", "m+2", "B[10.nV]", "''",
		strings.Repeat("(", 20) + "m", strings.Repeat("m.", 130), "mg / dL", "\xff\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, code string) {
		start := time.Now()
		err := Validate(code)
		if d := time.Since(start); d > time.Second {
			t.Errorf("Validate(%q) took %v", code, d)
		}
		if err == nil {
			if len(code) > maxLen {
				t.Fatalf("accepted %d bytes", len(code))
			}
			// A valid code stays valid as a factor of a product.
			if len(code)+2 <= maxLen {
				if err := Validate(code + ".m"); err != nil {
					t.Fatalf("Validate(%q) = nil but Validate(%q) = %v", code, code+".m", err)
				}
			}
			return
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "ucum: ") || strings.Contains(msg, "\n") {
			t.Fatalf("bad error message %q", msg)
		}
		if m := suggestion.FindStringSubmatch(msg); m != nil {
			// The suggestion is quoted with %q; a valid code never needs
			// escaping, so the submatch is the code itself.
			if err := Validate(m[1]); err != nil {
				t.Fatalf("Validate(%q) suggests %q, which is invalid: %v", code, m[1], err)
			}
		}
	})
}
