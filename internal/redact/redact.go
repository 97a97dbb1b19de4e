// Package redact masks personal identifiers in text bound for logs: Chinese
// resident ID numbers (18 and old 15 digits) and mobile phone numbers, the
// identifiers that most often reach a log inside an error message, a search
// parameter or a rejected value.
package redact

import (
	"log/slog"
	"regexp"
	"strings"
)

// Masks keep what an operator needs to tell records apart in a log, the
// region of an ID number and the last digits, and hide the rest:
// 110101********123X, 110101******123, 138****5678.
var (
	residentID = regexp.MustCompile(`(^|[^0-9])([1-9][0-9]{5})([0-9]{8})([0-9]{3}[0-9Xx])($|[^0-9A-Za-z])`)
	oldID      = regexp.MustCompile(`(^|[^0-9])([1-9][0-9]{5})([0-9]{6})([0-9]{3})($|[^0-9])`)
	mobile     = regexp.MustCompile(`(^|[^0-9])(1[3-9][0-9])([0-9]{4})([0-9]{4})($|[^0-9])`)
)

// Text masks the identifiers in s.
func Text(s string) string {
	if !hasDigitRun(s, 11) {
		return s // the common case: nothing long enough to be one
	}
	for _, m := range []struct {
		re    *regexp.Regexp
		stars string
	}{{residentID, "********"}, {oldID, "******"}, {mobile, "****"}} {
		// Twice: adjacent matches share the separator the pattern consumes.
		for range 2 {
			s = m.re.ReplaceAllString(s, "${1}${2}"+m.stars+"${4}${5}")
		}
	}
	return s
}

// hasDigitRun reports whether s holds n digits in a row.
func hasDigitRun(s string, n int) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			if run++; run >= n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// Attr masks the string and error values of a log attribute; it is a
// slog.HandlerOptions.ReplaceAttr.
func Attr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if v := a.Value.String(); hasDigitRun(v, 11) {
			a.Value = slog.StringValue(Text(v))
		}
	case slog.KindAny:
		switch v := a.Value.Any().(type) {
		case error:
			if msg := v.Error(); hasDigitRun(msg, 11) {
				a.Value = slog.StringValue(Text(msg))
			}
		case []string:
			out := make([]string, len(v))
			for i, s := range v {
				out[i] = Text(s)
			}
			a.Value = slog.StringValue(strings.Join(out, ","))
		}
	}
	return a
}
