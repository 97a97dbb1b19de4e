package validate

import (
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/hip-platform/hip/internal/fhir/spec"
)

// jsonType is the JSON representation of a primitive type.
type jsonType uint8

const (
	jsonString jsonType = iota
	jsonBool
	jsonNumber
)

// primitive checks the values of one primitive type.
type primitive struct {
	name string
	json jsonType
	re   *regexp.Regexp // nil: no published pattern (xhtml)
	// match is a hand-written equivalent of re for the frequent types, several
	// times faster; primitive_test.go checks it agrees with re.
	match    func(string) bool
	integer  bool
	min, max int64 // bounds of integer types
	calendar bool  // date, dateTime, instant: the day must exist
}

func newPrimitive(t *spec.TypeDef) *primitive {
	p := &primitive{name: t.Name}
	if t.Regex != "" {
		p.re = anchored(t.Regex)
		p.match = fastMatchers(t.Name)
		if p.match == nil {
			p.match = p.re.MatchString
		}
	}
	switch t.Name {
	case "boolean":
		p.json = jsonBool
	case "decimal":
		p.json = jsonNumber
	case "integer", "positiveInt", "unsignedInt":
		// All three are 32-bit signed in FHIR, whatever their patterns allow.
		p.json, p.integer, p.min, p.max = jsonNumber, true, math.MinInt32, math.MaxInt32
		switch t.Name {
		case "positiveInt":
			p.min = 1
		case "unsignedInt":
			p.min = 0
		}
	case "date", "dateTime", "instant":
		p.calendar = true
	}
	return p
}

// checkNumber returns why the JSON number text s is not a valid value, or "".
func (p *primitive) checkNumber(s string) string {
	if p.match != nil && !p.match(s) {
		if p.integer {
			return "not an integer in the allowed range"
		}
		return "not a decimal number"
	}
	if p.integer {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < p.min || n > p.max {
			return "out of range " + strconv.FormatInt(p.min, 10) + ".." + strconv.FormatInt(p.max, 10)
		}
	}
	return ""
}

// checkString returns why s is not a valid value, or "".
func (p *primitive) checkString(s string) string {
	if p.match != nil && !p.match(s) {
		return "does not match the " + p.name + " format"
	}
	if p.calendar && !validDay(s) {
		return "no such day"
	}
	return ""
}

// validDay reports whether the day of a date that matched the FHIR pattern
// (YYYY, YYYY-MM or YYYY-MM-DD…) exists: the pattern lets 2023-02-30 through.
func validDay(s string) bool {
	if len(s) < 10 {
		return true
	}
	year, _ := strconv.Atoi(s[0:4])
	month, _ := strconv.Atoi(s[5:7])
	day, _ := strconv.Atoi(s[8:10])
	return day <= daysIn(year, month)
}

func daysIn(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// fastMatchers returns the hand-written matcher of a primitive type, or nil to use
// its regex.
func fastMatchers(name string) func(string) bool {
	switch name {
	case "string", "markdown":
		// [ \r\n\t\S]+ : RE2's \s is [\t\n\f\r ], so only form feed is excluded.
		return func(s string) bool { return s != "" && strings.IndexByte(s, '\f') < 0 }
	case "uri", "url", "canonical":
		return func(s string) bool { return strings.IndexAny(s, " \t\n\f\r") < 0 }
	case "code":
		return matchCode
	case "id":
		return matchID
	case "date":
		return func(s string) bool { return matchDateTime(s, false, false) }
	case "dateTime":
		return func(s string) bool { return matchDateTime(s, true, false) }
	case "instant":
		return func(s string) bool { return matchDateTime(s, true, true) }
	case "time":
		return func(s string) bool { rest, ok := cutClock(s); return ok && rest == "" }
	case "decimal":
		return matchDecimal
	case "integer":
		return func(s string) bool { return matchUnsigned(strings.TrimPrefix(s, "-")) }
	case "unsignedInt":
		return matchUnsigned
	case "positiveInt":
		return func(s string) bool { return matchUnsigned(s) && s != "0" }
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// matchCode: [^\s]+(\s[^\s]+)* — no leading, trailing or doubled whitespace.
func matchCode(s string) bool {
	if s == "" || isSpace(s[0]) || isSpace(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if isSpace(s[i]) && isSpace(s[i-1]) {
			return false
		}
	}
	return true
}

// matchID: [A-Za-z0-9\-\.]{1,64}
func matchID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// matchUnsigned: 0|[1-9][0-9]*
func matchUnsigned(s string) bool {
	if s == "" || s[0] == '0' && len(s) > 1 {
		return false
	}
	return digits(s) == len(s)
}

// digits returns the length of the leading run of digits.
func digits(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}

// matchDecimal: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func matchDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	n := digits(s)
	if n == 0 || s[0] == '0' && n > 1 {
		return false
	}
	s = s[n:]
	if strings.HasPrefix(s, ".") {
		n = digits(s[1:])
		if n == 0 {
			return false
		}
		s = s[1+n:]
	}
	if s != "" && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s != "" && (s[0] == '+' || s[0] == '-') {
			s = s[1:]
		}
		n = digits(s)
		if n == 0 {
			return false
		}
		s = s[n:]
	}
	return s == ""
}

// matchDateTime matches the FHIR date (withTime false), dateTime (withTime) and
// instant (withTime, full) patterns: a year other than 0000, then optionally -MM and
// -DD, then (dateTime, after a full date) Thh:mm:ss(.s+)? and a zone Z or ±hh:mm up
// to ±14:00; instant requires all of it.
func matchDateTime(s string, withTime, full bool) bool {
	if len(s) < 4 || digits(s[:4]) != 4 || s[:4] == "0000" {
		return false
	}
	s = s[4:]
	for _, max := range [2]string{"12", "31"} { // -MM, -DD
		if s == "" {
			return !full
		}
		if len(s) < 3 || s[0] != '-' || digits(s[1:3]) != 2 || s[1:3] == "00" || s[1:3] > max {
			return false
		}
		s = s[3:]
	}
	if s == "" {
		return !full
	}
	if !withTime || s[0] != 'T' {
		return false
	}
	s, ok := cutClock(s[1:])
	if !ok {
		return false
	}
	switch {
	case s == "Z":
		return true
	case len(s) == 6 && (s[0] == '+' || s[0] == '-') && digits(s[1:3]) == 2 && s[3] == ':' && digits(s[4:6]) == 2:
		return s[1:3] <= "13" && s[4] <= '5' || s[1:] == "14:00"
	}
	return false
}

// cutClock matches hh:mm:ss(.s+)? at the start of s (hours 00–23, seconds to 60 for
// leap seconds) and returns the rest.
func cutClock(s string) (string, bool) {
	if len(s) < 8 || digits(s[0:2]) != 2 || s[2] != ':' || digits(s[3:5]) != 2 || s[5] != ':' || digits(s[6:8]) != 2 {
		return s, false
	}
	if s[0:2] > "23" || s[3] > '5' || s[6:8] > "60" {
		return s, false
	}
	s = s[8:]
	if strings.HasPrefix(s, ".") {
		n := digits(s[1:])
		if n == 0 {
			return s, false
		}
		s = s[1+n:]
	}
	return s, true
}
