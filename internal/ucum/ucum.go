// Package ucum validates unit codes of the Unified Code for Units of Measure
// (UCUM, https://ucum.org/ucum) in its case-sensitive form, the one FHIR
// requires in Quantity.code when Quantity.system is http://unitsofmeasure.org.
//
// Validation is syntactic and lexical: the code must follow the UCUM grammar
// and every unit symbol must be a unit atom of ucum-essence.xml, optionally
// with a prefix when the atom is metric. Units are not converted, so nothing
// beyond the grammar is checked of the special units on non-ratio scales
// (Cel, [degF], [pH], …), such as whether they may be multiplied.
package ucum

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/hip-platform/hip/data"
)

// Bounds on the input, so that no code can make validation slow or deep.
const (
	maxLen   = 256 // bytes
	maxDepth = 16  // nested parentheses
)

// Validate reports whether code is a valid case-sensitive UCUM unit code.
// The error, prefixed "ucum:", names the problem and its byte offset, and
// for a few common mistakes (mmHg, IU, degC, μg, …) the code that was likely
// meant. Codes longer than 256 bytes or with parentheses nested deeper than
// 16 are refused.
func Validate(code string) error {
	e := parse(code)
	if e == nil {
		return nil
	}
	if code == "" || len(code) > maxLen {
		return fmt.Errorf("ucum: %s", e.msg)
	}
	if s := suggest(code, e); s != "" {
		return fmt.Errorf("ucum: %s (did you mean %q?)", e.msg, s)
	}
	return fmt.Errorf("ucum: %s", e.msg)
}

// atom is what validation needs to know of a unit atom.
type atom struct {
	metric bool // takes prefixes
}

// table is the parsed form of data.UCUMEssence.
type table struct {
	atoms    map[string]atom
	prefixes []string // longest first, so "da" is tried before "d"
}

var essence = sync.OnceValue(func() *table {
	t, err := parseTable(data.UCUMEssence)
	if err != nil {
		// The table is embedded and checked by the tests: this is a build fault.
		panic(err)
	}
	return t
})

// parseTable reads the tab-separated table written by internal/ucum/gen.
func parseTable(s string) (*table, error) {
	t := &table{atoms: map[string]atom{}}
	for n, line := range strings.Split(s, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 7 || f[1] == "" {
			return nil, fmt.Errorf("ucum: essence line %d: want 7 fields, got %q", n+1, line)
		}
		switch f[0] {
		case "prefix":
			t.prefixes = append(t.prefixes, f[1])
		case "base", "unit":
			if _, dup := t.atoms[f[1]]; dup {
				return nil, fmt.Errorf("ucum: essence line %d: atom %q twice", n+1, f[1])
			}
			t.atoms[f[1]] = atom{metric: f[2] == "yes"}
		default:
			return nil, fmt.Errorf("ucum: essence line %d: unknown kind %q", n+1, f[0])
		}
	}
	if len(t.prefixes) == 0 || len(t.atoms) == 0 {
		return nil, fmt.Errorf("ucum: essence table is empty")
	}
	// Stable longest-first order; ties keep the file's order.
	for i := 1; i < len(t.prefixes); i++ {
		for j := i; j > 0 && len(t.prefixes[j]) > len(t.prefixes[j-1]); j-- {
			t.prefixes[j], t.prefixes[j-1] = t.prefixes[j-1], t.prefixes[j]
		}
	}
	return t, nil
}

// lookup resolves a unit symbol: an atom, or a prefix and a metric atom.
// Atoms come first, because UCUM defines some atoms that also read as a
// prefix and an atom (cd candela, not centi-day; Pa, not peta-annum; ph
// phot, not pico-hour); every prefix is then tried, not only the longest
// that matches, so that "dam" is found as deka-metre however the prefixes
// overlap. nonMetric returns the atom when the symbol is only a prefix on an
// atom that takes none (ma, m[arb'U]), for a clearer error.
func (t *table) lookup(sym string) (ok bool, prefix, nonMetric string) {
	if _, ok := t.atoms[sym]; ok {
		return true, "", ""
	}
	for _, p := range t.prefixes {
		rest, found := strings.CutPrefix(sym, p)
		if !found || rest == "" {
			continue
		}
		a, isAtom := t.atoms[rest]
		if !isAtom {
			continue
		}
		if a.metric {
			return true, p, ""
		}
		if nonMetric == "" {
			prefix, nonMetric = p, rest
		}
	}
	return false, prefix, nonMetric
}

// perr is a parse error: where, and the message without the "ucum:" prefix.
type perr struct {
	pos int
	msg string
}

func errAt(pos int, format string, args ...any) *perr {
	return &perr{pos: pos, msg: fmt.Sprintf(format, args...)}
}

// quoteAt quotes the character at s[i] for a message, or the byte if s is
// not valid UTF-8 there.
func quoteAt(s string, i int) string {
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n <= 1 {
		return strconv.Quote(s[i : i+1]) // "\xff"
	}
	return strconv.Quote(s[i : i+n])
}

// parser is a recursive-descent parser of the UCUM grammar (UCUM §2.1 and
// the formal grammar of its appendix):
//
//	main-term   = "/" term | term
//	term        = component { ("." | "/") component }
//	component   = annotatable [annotation] | annotation | factor [annotation] | "(" term ")" [annotation]
//	annotatable = simple-unit [exponent]
//	simple-unit = atom | prefix metric-atom
//	exponent    = ["+" | "-"] digits
//	factor      = digits
//	annotation  = "{" printable ASCII except braces "}"
//
// An annotation after a factor (%/100{WBC}) or after parentheses
// (g/(8.h){shift}) is outside the strict grammar, but FHIR's own UCUM value
// sets use both and the reference implementations accept them, so this
// parser does too.
type parser struct {
	s     string
	i     int
	depth int
	t     *table
}

func parse(code string) *perr {
	switch {
	case code == "":
		return errAt(0, "empty code")
	case len(code) > maxLen:
		return errAt(0, "code is %d bytes long, longer than %d", len(code), maxLen)
	}
	p := &parser{s: code, t: essence()}
	if code[0] == '/' {
		p.i++
	}
	if e := p.term(); e != nil {
		return e
	}
	if p.i < len(p.s) {
		// term stops early only at a ")" that it did not open.
		return errAt(p.i, `unmatched ")" at %d`, p.i)
	}
	return nil
}

// term parses components joined by "." and "/"; it stops at the end of the
// code or at ")", which the caller checks.
func (p *parser) term() *perr {
	for {
		if e := p.component(); e != nil {
			return e
		}
		if p.i == len(p.s) {
			return nil
		}
		switch p.s[p.i] {
		case '.', '/':
			p.i++
		case ')':
			return nil
		default:
			return p.expected(`"." or "/"`)
		}
	}
}

// expected reports what stands at p.i where want was needed.
func (p *parser) expected(want string) *perr {
	if p.i == len(p.s) {
		return errAt(p.i, "expected %s at %d, found end of code", want, p.i)
	}
	return errAt(p.i, "expected %s at %d, found %s", want, p.i, quoteAt(p.s, p.i))
}

func (p *parser) component() *perr {
	if p.i == len(p.s) {
		return p.expected("a unit")
	}
	switch c := p.s[p.i]; {
	case c == '(':
		open := p.i
		p.depth++
		if p.depth > maxDepth {
			return errAt(open, "parentheses nested deeper than %d at %d", maxDepth, open)
		}
		p.i++
		if e := p.term(); e != nil {
			return e
		}
		if p.i == len(p.s) {
			return errAt(open, `unclosed "(" at %d`, open)
		}
		p.i++ // term stopped at ")"
		p.depth--
		if p.i < len(p.s) && p.s[p.i] == '{' {
			return p.annotation()
		}
		return nil
	case c == '{':
		return p.annotation()
	case c == '+' || c == '-':
		return errAt(p.i, "sign %q with no unit before it at %d", string(c), p.i)
	case isDigit(c) || isSymbolChar(c) || c == '[':
		return p.unit()
	case c == ')' || c == '.' || c == '/':
		return p.expected("a unit")
	}
	return errAt(p.i, "unexpected character %s at %d", quoteAt(p.s, p.i), p.i)
}

// unit parses a factor, or a simple unit with its exponent, each with an
// optional annotation. The symbol is the longest run of symbol characters,
// as in the UCUM reference implementation: outside square brackets digits
// end it (m2 is m with exponent 2) unless it began with digits, so that 10*3
// is the atom 10* with exponent 3, and digits alone are a factor.
func (p *parser) unit() *perr {
	start := p.i
	digitsOnly := true
scan:
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '[':
			if e := p.brackets(); e != nil {
				return e
			}
			digitsOnly = false
			continue
		case isDigit(c):
			if !digitsOnly {
				break scan
			}
		case isSymbolChar(c):
			digitsOnly = false
		default:
			break scan
		}
		p.i++
	}
	if !digitsOnly {
		sym := p.s[start:p.i]
		ok, prefix, nonMetric := p.t.lookup(sym)
		switch {
		case !ok && nonMetric != "":
			return errAt(start, "prefix %q on non-metric unit %q at %d", prefix, nonMetric, start)
		case !ok:
			return errAt(start, "unknown unit %q at %d", sym, start)
		}
		if e := p.exponent(); e != nil {
			return e
		}
	}
	if p.i < len(p.s) && p.s[p.i] == '{' {
		return p.annotation()
	}
	return nil
}

// brackets consumes a square-bracketed part of a symbol, such as the [Hg] of
// mm[Hg]. Inside, any printable ASCII but brackets and braces is symbol text
// ([m/s2/Hz^(1/2)] is an atom).
func (p *parser) brackets() *perr {
	open := p.i
	for p.i++; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == ']':
			p.i++
			return nil
		case c == '[':
			return errAt(p.i, `"[" inside square brackets at %d`, p.i)
		case c == '{' || c == '}' || c < 0x21 || c > 0x7e:
			return errAt(p.i, "unexpected character %s inside square brackets at %d", quoteAt(p.s, p.i), p.i)
		}
	}
	return errAt(open, `unclosed "[" at %d`, open)
}

// exponent consumes an optional signed integer after a simple unit.
func (p *parser) exponent() *perr {
	if p.i == len(p.s) {
		return nil
	}
	if c := p.s[p.i]; c == '+' || c == '-' {
		if p.i+1 == len(p.s) || !isDigit(p.s[p.i+1]) {
			return errAt(p.i, "sign %q not followed by digits at %d", string(c), p.i)
		}
		p.i++
	}
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		p.i++
	}
	return nil
}

// annotation consumes "{...}". UCUM allows printable ASCII in it; the space
// counts as printable because FHIR's own UCUM value sets use it
// (%{Negative Control}).
func (p *parser) annotation() *perr {
	open := p.i
	for p.i++; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; {
		case c == '}':
			p.i++
			return nil
		case c == '{':
			return errAt(p.i, `"{" inside annotation at %d`, p.i)
		case c < 0x20 || c > 0x7e:
			return errAt(p.i, "annotation character %s at %d is not printable ASCII", quoteAt(p.s, p.i), p.i)
		}
	}
	return errAt(open, "unclosed annotation at %d", open)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isSymbolChar reports whether c may be part of a unit symbol outside square
// brackets: printable ASCII but the characters UCUM reserves for its syntax
// (UCUM §2.1: " ( ) + - . / = [ ] { }) and digits, which end a symbol.
func isSymbolChar(c byte) bool {
	if c < 0x21 || c > 0x7e || isDigit(c) {
		return false
	}
	return !strings.ContainsRune(`"()+-./=[]{}`, rune(c))
}
