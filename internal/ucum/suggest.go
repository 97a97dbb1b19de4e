package ucum

import "strings"

// A fix rewrites a common mistake where a parse error points.
type fix struct {
	from, to string
	// token: from must be a whole unit symbol, not the start of a longer
	// one ("in" is inch, "ind" is not).
	token bool
	// prefixed: from may carry a UCUM prefix, kept in the repair
	// (mIU → m[IU], mmHg → mm[Hg]).
	prefixed bool
}

// fixes are the mistakes seen in lab and device feeds, longest first so
// that "次/分钟" wins over "次/".
var fixes = sortFixes([]fix{
	// Unit symbols from print or other code systems.
	{from: "mHg", to: "m[Hg]", token: true, prefixed: true},
	{from: "mH2O", to: "m[H2O]", token: true, prefixed: true},
	{from: "inHg", to: "[in_i'Hg]", token: true},
	{from: "IU", to: "[IU]", token: true, prefixed: true},
	{from: "Eq", to: "eq", token: true, prefixed: true},
	{from: "degC", to: "Cel", token: true},
	{from: "degF", to: "[degF]", token: true},
	{from: "bpm", to: "/min", token: true},
	{from: "mcg", to: "ug", token: true},
	{from: "cc", to: "mL", token: true},
	{from: "hr", to: "h", token: true},
	{from: "hrs", to: "h", token: true},
	{from: "sec", to: "s", token: true},
	{from: "mins", to: "min", token: true},
	{from: "yr", to: "a", token: true},
	{from: "yrs", to: "a", token: true},
	{from: "gm", to: "g", token: true},
	{from: "pH", to: "[pH]", token: true},
	{from: "ppm", to: "[ppm]", token: true},
	{from: "ppb", to: "[ppb]", token: true},
	{from: "lb", to: "[lb_av]", token: true},
	{from: "lbs", to: "[lb_av]", token: true},
	{from: "oz", to: "[oz_av]", token: true},
	{from: "in", to: "[in_i]", token: true},
	{from: "ft", to: "[ft_i]", token: true},
	// Characters outside ASCII, which UCUM does not use.
	{from: "μ", to: "u"}, // Greek small letter mu
	{from: "µ", to: "u"}, // micro sign
	{from: "°C", to: "Cel"},
	{from: "℃", to: "Cel"},
	{from: "°F", to: "[degF]"},
	{from: "℉", to: "[degF]"},
	{from: "Ω", to: "Ohm"},
	{from: "‰", to: "[ppth]"},
	{from: "％", to: "%"},
	{from: "²", to: "2"},
	{from: "³", to: "3"},
	{from: "·", to: "."},
	{from: "次/分钟", to: "/min"},
	{from: "次/分", to: "/min"},
	{from: "次/", to: "/"},
	{from: " ", to: ""},
})

func sortFixes(f []fix) []fix {
	for i := 1; i < len(f); i++ {
		for j := i; j > 0 && len(f[j].from) > len(f[j-1].from); j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
	return f
}

// maxRepairs bounds the repairs of one code (mmHg/IU takes two).
const maxRepairs = 4

// suggest returns the code that was likely meant, or "" when no known
// mistake explains the error or its repair is still not valid UCUM.
func suggest(code string, e *perr) string {
	for range maxRepairs {
		if e == nil {
			return ""
		}
		fixed, ok := repair(code, e.pos)
		if !ok {
			return ""
		}
		code = fixed
		if e = parse(code); e == nil {
			return code
		}
	}
	return ""
}

// repair applies the first fix that matches at code[pos:].
func repair(code string, pos int) (string, bool) {
	rest := code[pos:]
	for _, f := range fixes {
		prefixes := []string{""}
		if f.prefixed {
			prefixes = append(prefixes, essence().prefixes...)
		}
		for _, p := range prefixes {
			if !strings.HasPrefix(rest, p+f.from) {
				continue
			}
			end := pos + len(p) + len(f.from)
			if f.token && end < len(code) && (isSymbolChar(code[end]) || code[end] == '[') {
				continue
			}
			return code[:pos] + p + f.to + code[end:], true
		}
	}
	return "", false
}
