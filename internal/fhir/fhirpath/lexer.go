package fhirpath

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokenKind classifies a lexical token.
type tokenKind uint8

const (
	tokEOF      tokenKind = iota
	tokIdent              // identifier or keyword; delimited identifiers have quoted set
	tokString             // 'text', already unescaped
	tokNumber             // 12 or 12.50, text kept so decimals keep their precision
	tokDateTime           // @2014-01-25T14:30, text without the '@'
	tokTime               // @T14:30, text without the "@T"
	tokVariable           // %name, %`name` or %'name'; text is the name
	tokSpecial            // $this, $index, $total; text without '$'
	tokOp                 // punctuation and symbolic operators
)

// token is one lexical token. pos is the byte offset in the expression, for errors.
type token struct {
	kind   tokenKind
	text   string
	pos    int
	quoted bool // a `delimited` identifier, never a keyword
}

// SyntaxError is a parse failure at a byte offset of the expression.
type SyntaxError struct {
	Expr string
	Pos  int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("fhirpath: syntax error at offset %d in %q: %s", e.Pos, e.Expr, e.Msg)
}

// lex splits expr into tokens, dropping whitespace and comments.
func lex(expr string) ([]token, error) {
	var toks []token
	fail := func(pos int, format string, args ...any) ([]token, error) {
		return nil, &SyntaxError{Expr: expr, Pos: pos, Msg: fmt.Sprintf(format, args...)}
	}
	i := 0
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f':
			i++
		case strings.HasPrefix(expr[i:], "//"):
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case strings.HasPrefix(expr[i:], "/*"):
			end := strings.Index(expr[i+2:], "*/")
			if end < 0 {
				return fail(i, "unterminated comment")
			}
			i += end + 4
		case isIdentStart(c):
			j := i + 1
			for j < len(expr) && isIdentPart(expr[j]) {
				j++
			}
			toks = append(toks, token{kind: tokIdent, text: expr[i:j], pos: i})
			i = j
		case c == '`' || c == '\'':
			s, n, err := lexQuoted(expr, i)
			if err != nil {
				return nil, err
			}
			if c == '`' {
				toks = append(toks, token{kind: tokIdent, text: s, pos: i, quoted: true})
			} else {
				toks = append(toks, token{kind: tokString, text: s, pos: i})
			}
			i += n
		case c >= '0' && c <= '9':
			j := i
			for j < len(expr) && isDigit(expr[j]) {
				j++
			}
			// A '.' makes a decimal only when digits follow: 1.abs() is a call on 1.
			if j+1 < len(expr) && expr[j] == '.' && isDigit(expr[j+1]) {
				j++
				for j < len(expr) && isDigit(expr[j]) {
					j++
				}
			}
			toks = append(toks, token{kind: tokNumber, text: expr[i:j], pos: i})
			i = j
		case c == '@':
			n := lexDateTime(expr[i+1:])
			if n == 0 {
				return fail(i, "malformed date/time literal")
			}
			text := expr[i+1 : i+1+n]
			if text[0] == 'T' {
				toks = append(toks, token{kind: tokTime, text: text[1:], pos: i})
			} else {
				toks = append(toks, token{kind: tokDateTime, text: text, pos: i})
			}
			i += 1 + n
		case c == '%':
			if i+1 < len(expr) && (expr[i+1] == '`' || expr[i+1] == '\'') {
				s, n, err := lexQuoted(expr, i+1)
				if err != nil {
					return nil, err
				}
				toks = append(toks, token{kind: tokVariable, text: s, pos: i})
				i += 1 + n
				continue
			}
			j := i + 1
			for j < len(expr) && (isIdentPart(expr[j]) || expr[j] == '-') {
				j++
			}
			if j == i+1 {
				return fail(i, "'%%' must be followed by a name")
			}
			toks = append(toks, token{kind: tokVariable, text: expr[i+1 : j], pos: i})
			i = j
		case c == '$':
			j := i + 1
			for j < len(expr) && isIdentPart(expr[j]) {
				j++
			}
			name := expr[i+1 : j]
			if name != "this" && name != "index" && name != "total" {
				return fail(i, "unknown special variable $%s", name)
			}
			toks = append(toks, token{kind: tokSpecial, text: name, pos: i})
			i = j
		default:
			op := ""
			for _, o := range [...]string{"<=", ">=", "!=", "!~"} {
				if strings.HasPrefix(expr[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				if !strings.ContainsRune(".[](){},+-*/&|=~<>", rune(c)) {
					r, _ := utf8.DecodeRuneInString(expr[i:])
					return fail(i, "unexpected character %q", r)
				}
				op = expr[i : i+1]
			}
			toks = append(toks, token{kind: tokOp, text: op, pos: i})
			i += len(op)
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(expr)}), nil
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isIdentPart(c byte) bool  { return isIdentStart(c) || isDigit(c) }

// lexQuoted reads a '…' or `…` literal starting at expr[i] and returns its
// unescaped text and its length in bytes including the quotes.
func lexQuoted(expr string, i int) (string, int, error) {
	q := expr[i]
	var b strings.Builder
	j := i + 1
	for j < len(expr) {
		c := expr[j]
		switch {
		case c == q:
			return b.String(), j + 1 - i, nil
		case c == '\\':
			if j+1 >= len(expr) {
				return "", 0, &SyntaxError{Expr: expr, Pos: j, Msg: "unterminated escape"}
			}
			e := expr[j+1]
			j += 2
			switch e {
			case '\'', '"', '`', '\\', '/':
				b.WriteByte(e)
			case 'r':
				b.WriteByte('\r')
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'f':
				b.WriteByte('\f')
			case 'u':
				if j+4 > len(expr) {
					return "", 0, &SyntaxError{Expr: expr, Pos: j - 2, Msg: "short \\u escape"}
				}
				r, err := strconv.ParseUint(expr[j:j+4], 16, 32)
				if err != nil {
					return "", 0, &SyntaxError{Expr: expr, Pos: j - 2, Msg: "bad \\u escape"}
				}
				b.WriteRune(rune(r))
				j += 4
			default:
				return "", 0, &SyntaxError{Expr: expr, Pos: j - 2, Msg: fmt.Sprintf("unknown escape \\%c", e)}
			}
		default:
			b.WriteByte(c)
			j++
		}
	}
	return "", 0, &SyntaxError{Expr: expr, Pos: i, Msg: "unterminated quoted text"}
}

// lexDateTime returns the length of the date, dateTime or time literal at the
// start of s (after '@'), or 0 when there is none. The grammar is
// YYYY(-MM(-DD)?)?(T time?)? or T time, time = hh(:mm(:ss(.f+)?)?)? (Z|±hh:mm)?.
func lexDateTime(s string) int {
	digits := func(at, n int) bool {
		if at+n > len(s) {
			return false
		}
		for k := at; k < at+n; k++ {
			if !isDigit(s[k]) {
				return false
			}
		}
		return true
	}
	i := 0
	isTime := len(s) > 0 && s[0] == 'T'
	if !isTime {
		if !digits(0, 4) {
			return 0
		}
		i = 4
		if i < len(s) && s[i] == '-' && digits(i+1, 2) {
			i += 3
			if i < len(s) && s[i] == '-' && digits(i+1, 2) {
				i += 3
			}
		}
		if i >= len(s) || s[i] != 'T' {
			return i
		}
	}
	i++ // 'T'
	if !digits(i, 2) {
		if isTime {
			return 0
		}
		return i
	}
	i += 2
	if i < len(s) && s[i] == ':' && digits(i+1, 2) {
		i += 3
		if i < len(s) && s[i] == ':' && digits(i+1, 2) {
			i += 3
			if i+1 < len(s) && s[i] == '.' && isDigit(s[i+1]) {
				i++
				for i < len(s) && isDigit(s[i]) {
					i++
				}
			}
		}
	}
	if isTime {
		return i
	}
	if i < len(s) && s[i] == 'Z' {
		return i + 1
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') && digits(i+1, 2) && i+3 < len(s) && s[i+3] == ':' && digits(i+4, 2) {
		return i + 6
	}
	return i
}
