package search

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// NormalizeString folds text for string search, the form stored in
// Entry.String and applied by the query side to the search value: lower case,
// Latin diacritics removed (Müller → muller, ß → ss, Æ → ae), full-width ASCII
// and the ideographic space to half-width (ＡＢＣ１ → abc1), runs of white space
// collapsed to one space and trimmed. Chinese text is kept as written:
// traditional characters are not folded to simplified ones, because 张 and 張
// may be different persons' names in a register and folding is the caller's
// choice.
func NormalizeString(s string) string {
	if isNormal(s) {
		return s // the common case (codes, ASCII lower case) allocates nothing
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false // a space is pending: written before the next non-space
	for _, r := range s {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII forms
			r -= 0xFEE0
		case r == 0x3000: // ideographic space
			r = ' '
		case r >= 0x0300 && r <= 0x036F: // combining diacritical marks (decomposed input)
			continue
		}
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			b.WriteByte(byte(r))
			continue
		}
		if f := foldLatin(r); f != "" {
			b.WriteString(f)
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// isNormal reports whether NormalizeString would return s unchanged, checking
// only the cheap ASCII case.
func isNormal(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' ||
			c == ' ' && (i == 0 || i == len(s)-1 || s[i+1] == ' ') {
			return false
		}
	}
	return true
}

// latinFold gives the base letter of U+00C0…U+017F (Latin-1 Supplement letters
// and Latin Extended-A), lower case; '.' keeps the character (× and ÷), '*'
// marks the ligatures that foldLatin spells out.
const latinFold = "" +
	"aaaaaa*ceeeeiiii" + // U+00C0 À…Ï
	"dnooooo.ouuuuy**" + // U+00D0 Ð…ß
	"aaaaaa*ceeeeiiii" + // U+00E0 à…ï
	"dnooooo.ouuuuy*y" + // U+00F0 ð…ÿ
	"aaaaaacccccccc" + "dddd" + "eeeeeeeeee" + "gggggggg" + "hhhh" + "iiiiiiiiii" + // U+0100 Ā…ı
	"**" + "jj" + "kkk" + "llllllllll" + "nnnnnnnnn" + "oooooo" + "**" + "rrrrrr" + // U+0132 Ĳ…ř
	"ssssssss" + "tttttt" + "uuuuuuuuuuuu" + "ww" + "yyy" + "zzzzzz" + "s" // U+015A Ś…ſ

// foldLatin returns the ASCII spelling of an accented Latin letter, or "" when
// r is not one.
func foldLatin(r rune) string {
	if r < 0xC0 || r > 0x17F {
		return ""
	}
	switch c := latinFold[r-0xC0]; c {
	case '.':
		return ""
	case '*':
		switch r {
		case 'Æ', 'æ':
			return "ae"
		case 'Þ', 'þ':
			return "th"
		case 'ß':
			return "ss"
		case 'Ĳ', 'ĳ':
			return "ij"
		case 'Œ', 'œ':
			return "oe"
		}
		return ""
	default:
		return latinFold[r-0xC0 : r-0xC0+1]
	}
}

// Open ends of date ranges: a Period without start begins at MinTime, one
// without end ends at MaxTime.
const (
	MinTime int64 = math.MinInt64
	MaxTime int64 = math.MaxInt64
)

// DateRange returns the half-open range [lo, hi) of UTC milliseconds that a
// FHIR date, dateTime or instant covers at the precision it is written with:
// 2024 is the whole year, 2024-02 the month, 2024-02-10T08:30 the minute,
// 08:30:15.5 the tenth of a second. Values without a zone (every date, and
// dateTimes written without one) are read in zone. It parses by hand rather
// than with time.Parse because the precision is part of the result and a
// layout per precision would mean trying up to eight layouts per value.
func DateRange(s string, zone *time.Location) (lo, hi int64, ok bool) {
	var f [6]int // year, month, day, hour, minute, second
	f[1], f[2] = 1, 1
	widths := [6]int{4, 2, 2, 2, 2, 2}
	seps := [6]byte{0, '-', '-', 'T', ':', ':'}
	prec := 0
	i := 0
	for prec < 6 {
		if prec > 0 {
			if i >= len(s) || s[i] != seps[prec] {
				break
			}
			i++
			if prec == 3 && i == len(s) { // "2024-02-10T" with nothing after
				return 0, 0, false
			}
		}
		n, ok := digits(s[i:], widths[prec])
		if !ok {
			return 0, 0, false
		}
		f[prec] = n
		i += widths[prec]
		prec++
	}
	if prec == 0 || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 || f[5] > 60 {
		return 0, 0, false
	}
	nanos, fracDigits := 0, 0
	if prec == 6 && i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			if fracDigits < 9 {
				nanos = nanos*10 + int(s[i]-'0')
				fracDigits++
			}
			i++
		}
		if fracDigits == 0 {
			return 0, 0, false
		}
		for k := fracDigits; k < 9; k++ {
			nanos *= 10
		}
	}
	loc := zone
	switch rest := s[i:]; {
	case rest == "":
	case prec < 4: // a zone needs a time
		return 0, 0, false
	case rest == "Z":
		loc = time.UTC
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		h, ok1 := digits(rest[1:], 2)
		m, ok2 := digits(rest[4:], 2)
		if !ok1 || !ok2 {
			return 0, 0, false
		}
		off := (h*60 + m) * 60
		if rest[0] == '-' {
			off = -off
		}
		if off == 0 {
			loc = time.UTC
		} else {
			loc = time.FixedZone("", off)
		}
	default:
		return 0, 0, false
	}
	start := time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], nanos, loc)
	if start.Day() != f[2] { // 2023-02-30 rolled over
		return 0, 0, false
	}
	var end time.Time
	switch prec {
	case 1:
		end = start.AddDate(1, 0, 0)
	case 2:
		end = start.AddDate(0, 1, 0)
	case 3:
		end = start.AddDate(0, 0, 1)
	case 4:
		end = start.Add(time.Hour)
	case 5:
		end = start.Add(time.Minute)
	default:
		step := time.Second
		for k := 0; k < fracDigits; k++ {
			step /= 10
		}
		end = start.Add(max(step, time.Millisecond))
	}
	lo, hi = start.UnixMilli(), end.UnixMilli()
	if hi == lo { // sub-millisecond precision still covers the millisecond
		hi++
	}
	return lo, hi, true
}

func digits(s string, n int) (int, bool) {
	if len(s) < n {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[:n]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// numberRange parses a FHIR decimal or integer as written and returns its
// value and the range its precision implies, half a unit in the last written
// place either side: 100 → [99.5, 100.5), 1.50 → [1.495, 1.505), 1e2 →
// [50, 150). The bounds are computed as (10·m ∓ 5) / 10^(p+1) from the integer
// digits m, which floating point divides exactly rounded, so 1.495 is the
// same double a query for 1.495 parses to.
func numberRange(s string) (v, lo, hi float64, ok bool) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, 0, 0, false
	}
	mant, exp := s, 0
	if e := strings.IndexAny(s, "eE"); e >= 0 {
		mant = s[:e]
		if exp, err = strconv.Atoi(s[e+1:]); err != nil {
			return 0, 0, 0, false
		}
	}
	neg := strings.HasPrefix(mant, "-")
	mant = strings.TrimLeft(mant, "+-")
	scale := 0
	if dot := strings.IndexByte(mant, '.'); dot >= 0 {
		scale = len(mant) - dot - 1
		mant = mant[:dot] + mant[dot+1:]
	}
	m, err := strconv.ParseUint(mant, 10, 64)
	p := scale - exp // the value is m·10^-p
	const exact = 1 << 53
	if err != nil || m >= exact/10 || p > 22 || p < -22 {
		half := 0.5 * math.Pow(10, float64(-p))
		return v, v - half, v + half, true
	}
	a, b := float64(10*m)-5, float64(10*m)+5 // exact: 10·m < 2^53
	if p+1 >= 0 {
		d := math.Pow(10, float64(p+1)) // exact up to 10^22
		a, b = a/d, b/d
	} else {
		d := math.Pow(10, float64(-p-1))
		a, b = a*d, b*d
	}
	if neg {
		a, b = -b, -a
	}
	return v, a, b, true
}

// ucumBase maps the UCUM units common in clinical data to the base unit of
// their dimension and the factor to it, so that 1 kg and 1000 g index to the
// same canonical value. fhirpath has a similar table for its comparisons but
// does not export it.
func ucumBase(code string) (base string, factor float64, ok bool) {
	switch code {
	case "g":
		return "g", 1, true
	case "kg":
		return "g", 1e3, true
	case "mg":
		return "g", 1e-3, true
	case "ug", "mcg":
		return "g", 1e-6, true
	case "ng":
		return "g", 1e-9, true
	case "[lb_av]":
		return "g", 453.59237, true
	case "[oz_av]":
		return "g", 28.349523125, true
	case "m":
		return "m", 1, true
	case "km":
		return "m", 1e3, true
	case "cm":
		return "m", 1e-2, true
	case "mm":
		return "m", 1e-3, true
	case "um":
		return "m", 1e-6, true
	case "[in_i]":
		return "m", 0.0254, true
	case "[ft_i]":
		return "m", 0.3048, true
	case "L", "l":
		return "L", 1, true
	case "dL", "dl":
		return "L", 1e-1, true
	case "mL", "ml":
		return "L", 1e-3, true
	case "uL", "ul":
		return "L", 1e-6, true
	case "fL":
		return "L", 1e-15, true
	case "s":
		return "s", 1, true
	case "ms":
		return "s", 1e-3, true
	case "min":
		return "s", 60, true
	case "h":
		return "s", 3600, true
	case "d":
		return "s", 86400, true
	case "wk":
		return "s", 604800, true
	case "mo":
		return "s", 2629800, true
	case "a":
		return "s", 31557600, true
	case "mol":
		return "mol", 1, true
	case "mmol":
		return "mol", 1e-3, true
	case "umol":
		return "mol", 1e-6, true
	case "nmol":
		return "mol", 1e-9, true
	case "mm[Hg]":
		return "mm[Hg]", 1, true
	case "kPa":
		return "mm[Hg]", 7.50061683, true
	case "%":
		return "1", 1e-2, true
	case "1":
		return "1", 1, true
	}
	return "", 0, false
}

// CanonicalUnit converts a UCUM unit code to its canonical form: a unit from
// ucumBase, or a ratio of two (mg/dL → g/L × 10, mmol/L stays mol/L × 0.001).
// Units it does not know are returned unchanged with factor 1, so that the
// canonical columns still match a search in the same unit.
func CanonicalUnit(code string) (string, float64) {
	if base, f, ok := ucumBase(code); ok {
		return base, f
	}
	if num, den, ok := strings.Cut(code, "/"); ok && !strings.Contains(den, "/") {
		nb, nf, ok1 := ucumBase(num)
		db, df, ok2 := ucumBase(den)
		if ok1 && ok2 {
			return nb + "/" + db, nf / df
		}
	}
	return code, 1
}
