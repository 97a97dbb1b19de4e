package uscc

import (
	"errors"
	"strings"
	"testing"
)

// published is a code widely quoted as an example of the format. Checked by
// hand here:
//
// GB 11714 (positions 9–17, "M000100Y4"): M = 22, Y = 34 (A = 10 … Z = 35),
//
//	3·22 + 7·0 + 9·0 + 10·0 + 5·1 + 8·0 + 4·0 + 2·34 = 66 + 5 + 68 = 139,
//	139 mod 11 = 7, 11 − 7 = 4: check character '4' ✓.
//
// GB 32100 (position 18): values are indices in the alphabet, M = 21, Y = 30,
//
//	9·1 + 1·3 + 3·9 + 5·27 + 0·19 + 1·26 + 0·16 + 0·17 + 21·20 + 0·29 + 0·25
//	+ 0·13 + 1·8 + 0·24 + 0·10 + 30·30 + 4·28
//	= 9 + 3 + 27 + 135 + 26 + 420 + 8 + 900 + 112 = 1640,
//	1640 mod 31 = 28 (31·52 = 1612), 31 − 28 = 3: check character '3' ✓.
const published = "91350100M000100Y43"

// Fictional codes under the unassigned province code 99, computed with the
// reference functions below and by hand for the edge cases:
//
//	1299012140000000X4: body 40000000: 3·4 = 12, 12 mod 11 = 1, 11 − 1 = 10 → 'X'.
//	12990121400000050F: body 40000005: 3·4 + 2·5 = 22, 22 mod 11 = 0, 11 − 0 = 11 → '0'.
//	91990121MA000020X0: body MA000020: 3·22 + 7·10 + 4·2 = 144, 144 mod 11 = 1 → 'X';
//	  the GB 32100 sum is a multiple of 31, 31 − 0 = 31 → 0 → '0'.
const (
	orgCheckX    = "1299012140000000X4"
	orgCheckZero = "12990121400000050F"
	checkZero    = "91990121MA000020X0"
	checkY       = "91990121MA0000330Y"
)

// refCheck computes position 18 from the definition (weights 3^i mod 31,
// c = 31 − sum mod 31, 31 → 0), independently of the package's tables.
func refCheck(first17 string) byte {
	sum, w := 0, 1
	for i := 0; i < 17; i++ {
		sum += strings.IndexByte(Alphabet, first17[i]) * w
		w = w * 3 % 31
	}
	c := 31 - sum%31
	if c == 31 {
		c = 0
	}
	return Alphabet[c]
}

// refOrgCheck computes the GB 11714 check character from its definition.
func refOrgCheck(first8 string) byte {
	w := []int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i := 0; i < 8; i++ {
		v := strings.IndexByte("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", first8[i])
		sum += v * w[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X'
	case 11:
		return '0'
	default:
		return byte('0' + c)
	}
}

func TestReferenceAgreesWithHandChecks(t *testing.T) {
	t.Parallel()
	for _, s := range []string{published, orgCheckX, orgCheckZero, checkZero, checkY} {
		if refOrgCheck(s[8:16]) != s[16] || refCheck(s[:17]) != s[17] {
			t.Errorf("%s: the reference computes %c%c", s, refOrgCheck(s[8:16]), refCheck(s[:17]))
		}
	}
}

func TestCheckChar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		first17 string
		want    byte
		err     bool
	}{
		{published[:17], '3', false},
		{checkZero[:17], '0', false},
		{checkY[:17], 'Y', false},
		{orgCheckX[:17], '4', false},
		{"91350100M000100Y", 0, true},   // 16 characters
		{"91350100M000100Y4X", 0, true}, // 18
		{"91350100m000100Y4", 0, true},  // lower case
		{"91350100I000100Y4", 0, true},  // I is not in the alphabet
		{"91350100M000100Z4", 0, true},  // nor Z
		{"", 0, true},
	}
	// One number per possible check character, so that all 31 are covered.
	seen := map[byte]bool{}
	for n := 0; len(seen) < 31 && n < 100000; n++ {
		s := "91990121MA" + string([]byte{Alphabet[n%31], Alphabet[n/31%31], Alphabet[n/961%31]}) + "0000"
		c := refCheck(s)
		if !seen[c] {
			seen[c] = true
			tests = append(tests, struct {
				first17 string
				want    byte
				err     bool
			}{s, c, false})
		}
	}
	if len(seen) != 31 {
		t.Fatalf("only %d check characters covered", len(seen))
	}
	for _, tt := range tests {
		got, err := CheckChar(tt.first17)
		if (err != nil) != tt.err {
			t.Errorf("CheckChar(%q) error = %v, want error %v", tt.first17, err, tt.err)
			continue
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckChar(%q) error %v does not wrap ErrInvalid", tt.first17, err)
		}
		if got != tt.want {
			t.Errorf("CheckChar(%q) = %c, want %c", tt.first17, got, tt.want)
		}
	}
}

func TestOrgCheckChar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		first8 string
		want   byte
		err    bool
	}{
		{"M000100Y", '4', false},
		{"40000000", 'X', false}, // 10
		{"40000005", '0', false}, // 11
		{"MA000020", 'X', false},
		{"40000001", '8', false}, // 3·4 + 2·1 = 14, 14 mod 11 = 3, 11 − 3 = 8
		{"4000000", 0, true},
		{"400000001", 0, true},
		{"4000000O", 0, true}, // O is not in the GB 32100 alphabet
		{"4000000a", 0, true},
	}
	for _, tt := range tests {
		got, err := OrgCheckChar(tt.first8)
		if (err != nil) != tt.err || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("OrgCheckChar(%q) error = %v, want error %v", tt.first8, err, tt.err)
			continue
		}
		if got != tt.want {
			t.Errorf("OrgCheckChar(%q) = %c, want %c", tt.first8, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	// wrongAt replaces the character at i (0-based) by the next one of the alphabet.
	wrongAt := func(s string, i int) string {
		b := []byte(s)
		b[i] = Alphabet[(strings.IndexByte(Alphabet, b[i])+1)%31]
		return string(b)
	}
	// withChecks recomputes both check characters, so that only the tested
	// fault remains.
	withChecks := func(first16 string) string {
		first17 := first16 + string(refOrgCheck(first16[8:16]))
		return first17 + string(refCheck(first17))
	}
	tests := []struct {
		name    string
		in      string
		want    Code
		invalid bool
	}{
		{"published", published, Code{"9", "1", "350100", "M000100Y4"}, false},
		{"organisation check X", orgCheckX, Code{"1", "2", "990121", "40000000X"}, false},
		{"organisation check 0", orgCheckZero, Code{"1", "2", "990121", "400000050"}, false},
		{"check 0", checkZero, Code{"9", "1", "990121", "MA000020X"}, false},
		{"check Y", checkY, Code{"9", "1", "990121", "MA0000330"}, false},
		{"wrong check character", wrongAt(published, 17), Code{}, true},
		{"wrong organisation check character", published[:16] + "5" + string(refCheck(published[:16]+"5")), Code{}, true},
		{"swapped characters", "91350100M000100Y34", Code{}, true},
		{"one character changed", wrongAt(published, 4), Code{}, true},
		{"lower case", strings.ToLower(checkY), Code{}, true},
		{"lower-case letter inside", "91350100m000100Y43", Code{}, true},
		{"forbidden letter I", withChecks("91350100MI00100Y"), Code{}, true},
		{"forbidden letter O", "91350100O000100Y43", Code{}, true},
		{"forbidden letter Z", "91350100Z000100Y43", Code{}, true},
		{"forbidden letter S", "S1350100M000100Y43", Code{}, true},
		{"forbidden letter V as check", published[:17] + "V", Code{}, true},
		{"letter in the division code", withChecks("9135A100M000100Y"), Code{}, true},
		{"too short", published[:17], Code{}, true},
		{"too long", published + "0", Code{}, true},
		{"full-width digit", "９1350100M000100Y4", Code{}, true},
		{"with a space", "91350100 M000100Y43", Code{}, true},
		{"empty", "", Code{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			if tt.invalid {
				if err == nil || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Parse(%q) = %v, %v; want an ErrInvalid error", tt.in, got, err)
				}
				if Valid(tt.in) {
					t.Errorf("Valid(%q) = true", tt.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if !Valid(tt.in) {
				t.Errorf("Valid(%q) = false", tt.in)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct{ at, division, body, want string }{
		{"91", "350100", "M000100Y", published},
		{"12", "990121", "40000000", orgCheckX},
		{"12", "990121", "40000005", orgCheckZero},
		{"91", "990121", "MA000020", checkZero},
	}
	for _, tt := range tests {
		if got := New(tt.at, tt.division, tt.body); got != tt.want {
			t.Errorf("New(%q, %q, %q) = %s, want %s", tt.at, tt.division, tt.body, got, tt.want)
		}
	}
	for _, bad := range [][3]string{
		{"9", "990121", "40000000"}, {"9I", "990121", "40000000"}, {"12", "99012", "40000000"},
		{"12", "99012A", "40000000"}, {"12", "990121", "4000000"}, {"12", "990121", "4000000O"},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New%q did not panic", bad)
				}
			}()
			New(bad[0], bad[1], bad[2])
		}()
	}
}

// FuzzParse checks Parse against the reference definitions on any input, and
// that a valid code round-trips through New.
func FuzzParse(f *testing.F) {
	for _, s := range []string{published, orgCheckX, orgCheckZero, checkZero, checkY, "", "91350100M000100Y44", strings.ToLower(published)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		code, err := Parse(s)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Parse(%q): %v does not wrap ErrInvalid", s, err)
		}
		if (err == nil) != Valid(s) {
			t.Fatalf("Parse and Valid disagree on %q", s)
		}
		want := len(s) == 18
		for i := 0; want && i < 18; i++ {
			want = strings.IndexByte(Alphabet, s[i]) >= 0 && (i < 2 || i > 7 || s[i] >= '0' && s[i] <= '9')
		}
		want = want && refOrgCheck(s[8:16]) == s[16] && refCheck(s[:17]) == s[17]
		if want != (err == nil) {
			t.Fatalf("Parse(%q) error = %v, the reference says valid = %v", s, err, want)
		}
		if err == nil {
			if got := New(code.Authority+code.Type, code.Division, code.OrgCode[:8]); got != s {
				t.Fatalf("New(Parse(%q)) = %q", s, got)
			}
		}
		// Any 17 characters of the alphabet have the reference's check character.
		if len(s) >= 17 && strings.Trim(s[:17], Alphabet) == "" {
			c, err := CheckChar(s[:17])
			if err != nil || c != refCheck(s[:17]) {
				t.Fatalf("CheckChar(%q) = %c, %v; reference %c", s[:17], c, err, refCheck(s[:17]))
			}
		}
	})
}
