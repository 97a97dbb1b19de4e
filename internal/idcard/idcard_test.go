package idcard

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

// refCheck computes the check character from the definition of ISO 7064 MOD 11-2
// (weights 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11), independently of
// the tables in the package.
func refCheck(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		w := 1
		for j := 0; j < 17-i; j++ {
			w = w * 2 % 11
		}
		sum += int(first17[i]-'0') * w
	}
	c := (12 - sum%11) % 11
	if c == 10 {
		return 'X'
	}
	return byte('0' + c)
}

// withCheck appends the reference check character: fictional numbers under the
// unused province code 99.
func withCheck(first17 string) string { return first17 + string(refCheck(first17)) }

func TestCheckDigit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		first17 string
		want    byte
		err     bool
	}{
		{"99012119800101001", refCheck("99012119800101001"), false},
		{"99012120150630024", refCheck("99012120150630024"), false},
		{"9901211980010100", 0, true},
		{"9901211980010100A", 0, true},
	}
	// Find one number per possible check character, so 'X' is covered too.
	seen := map[byte]bool{}
	for n := 0; len(seen) < 11 && n < 1000; n++ {
		s := "990121197001010" + strconv.Itoa(10+n%90)
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
	if !seen['X'] {
		t.Fatal("no test number with check character X")
	}
	for _, tt := range tests {
		got, err := CheckDigit(tt.first17)
		if (err != nil) != tt.err {
			t.Errorf("CheckDigit(%q) error = %v, want error %v", tt.first17, err, tt.err)
			continue
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("CheckDigit(%q) error %v does not wrap ErrInvalid", tt.first17, err)
		}
		if got != tt.want {
			t.Errorf("CheckDigit(%q) = %c, want %c", tt.first17, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	male := withCheck("99012119800229001")   // leap day, order 001: male
	female := withCheck("99010219991231124") // order 124: female
	future := withCheck("990121" + time.Now().AddDate(1, 0, 0).Format("20060102") + "001")
	wrong := male[:17] + string("0123456789X"[(indexOf("0123456789X", male[17])+1)%11])
	tests := []struct {
		name    string
		in      string
		want    ID
		invalid bool
	}{
		{"male", male, ID{"990121", time.Date(1980, 2, 29, 0, 0, 0, 0, time.UTC), "male", "001"}, false},
		{"female", female, ID{"990102", time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), "female", "124"}, false},
		{"too short", male[:17], ID{}, true},
		{"too long", male + "1", ID{}, true},
		{"letter inside", "99012119800229A01" + "1", ID{}, true},
		{"full-width digit", "９9012119800229001", ID{}, true},
		{"division starts with 0", withCheck("09012119800101001"), ID{}, true},
		{"month 13", withCheck("99012119801301001"), ID{}, true},
		{"day 0", withCheck("99012119800100001"), ID{}, true},
		{"not a leap year", withCheck("99012119810229001"), ID{}, true},
		{"before 1900", withCheck("99012118991231001"), ID{}, true},
		{"future", future, ID{}, true},
		{"wrong check digit", wrong, ID{}, true},
		{"empty", "", ID{}, true},
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

func indexOf(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func TestParseLowerX(t *testing.T) {
	t.Parallel()
	for n := 0; n < 1000; n++ {
		s := New("990121", time.Date(1975, 5, 1, 0, 0, 0, 0, time.UTC), "female", n)
		if s[17] == 'X' {
			lower := s[:17] + "x"
			if !Valid(lower) {
				t.Fatalf("Valid(%q) = false; lower-case x should be accepted", lower)
			}
			return
		}
	}
	t.Fatal("no number with check character X found")
}

func TestUpgrade15(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		invalid  bool
	}{
		{"990121800229001", withCheck("99012119800229001"), false},
		{"990102651231124", withCheck("99010219651231124"), false},
		{"990121810229001", "", true}, // 1981 is not a leap year
		{"99012180022900", "", true},
		{"99012180022900A", "", true},
		{withCheck("99012119800229001"), "", true},
	}
	for _, tt := range tests {
		got, err := Upgrade15(tt.in)
		if tt.invalid {
			if err == nil || !errors.Is(err, ErrInvalid) {
				t.Errorf("Upgrade15(%q) = %q, %v; want an ErrInvalid error", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Upgrade15(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	birth := time.Date(2012, 7, 9, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for _, sex := range []string{"male", "female"} {
		seen := map[string]bool{}
		for seq := 0; seq < 500; seq++ {
			s := New("990121", birth, sex, seq)
			id, err := Parse(s)
			if err != nil {
				t.Fatalf("New(%s, %d) = %q: %v", sex, seq, s, err)
			}
			if id.Sex != sex || id.Division != "990121" || id.BirthDate.Format("20060102") != "20120709" {
				t.Fatalf("New(%s, %d) = %q parses as %+v", sex, seq, s, id)
			}
			if seen[s] {
				t.Fatalf("New(%s, %d) = %q repeats an earlier number", sex, seq, s)
			}
			seen[s] = true
		}
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"99012119800229001X", "990121********001X"},
		{"990121800229001", "990121*****9001"},
		{"12345678901", "123456*8901"},
		{"1234567890", "**********"},
		{"", ""},
		{"居民身份证号码一二三四", "居民身份证号*一二三四"},
	}
	for _, tt := range tests {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(withCheck("99012119800229001"))
	f.Add("990121800229001")
	f.Add("99012119800229001x")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		// A valid number is rebuilt exactly (up to the case of x) from its content.
		order, _ := strconv.Atoi(id.Sequence)
		rebuilt := New(id.Division, id.BirthDate, id.Sex, order/2)
		want := s
		if want[17] == 'x' {
			want = want[:17] + "X"
		}
		if rebuilt != want {
			t.Fatalf("Parse(%q) = %+v; New rebuilds %q", s, id, rebuilt)
		}
		if refCheck(s[:17]) != want[17] {
			t.Fatalf("Parse accepted %q with a wrong check character", s)
		}
	})
}
