// Package hanzi folds the ways one Chinese text can be written into one form,
// so that records typed on different systems compare equal: full-width
// letters, digits and punctuation become ASCII (Ｚｈａｎｇ → Zhang, １２３ →
// 123, the ideographic space → space), and traditional characters become
// simplified ones (張偉華 → 张伟华) by OpenCC's character table.
//
// The character table maps one character at a time. Where OpenCC lists a
// character among its own simplified forms (乾 → 干 乾, 著 → 着 著), the
// character is itself in use in simplified text, above all in names, and is
// kept.
package hanzi

import (
	"strings"
	"unicode/utf8"

	"github.com/hip-platform/hip/data"
)

// toSimplified maps a traditional character to its simplified form; read-only
// after initialisation.
var toSimplified = parseTable(data.OpenCCTraditionalToSimplified)

func parseTable(table string) map[rune]rune {
	m := make(map[rune]rune, 4200)
	for line := range strings.Lines(table) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || line[0] == '#' {
			continue
		}
		key, values, ok := strings.Cut(line, "\t")
		from, n := utf8.DecodeRuneInString(key)
		if !ok || n != len(key) {
			panic("hanzi: malformed OpenCC line " + line)
		}
		forms := strings.Fields(values)
		if len(forms) == 0 || strings.Contains(values, key) {
			continue
		}
		to, n := utf8.DecodeRuneInString(forms[0])
		if n != len(forms[0]) {
			continue // a form of several characters: not a character mapping
		}
		m[from] = to
	}
	// Follow chains (薴 → 苧 → 苎) so that folding twice changes nothing.
	for from, to := range m {
		for steps := 0; steps < 4; steps++ {
			next, ok := m[to]
			if !ok {
				break
			}
			to = next
		}
		m[from] = to
	}
	return m
}

// Simplify returns s with traditional characters replaced by simplified ones.
func Simplify(s string) string {
	return mapRunes(s, simplifyRune)
}

func simplifyRune(r rune) rune {
	if to, ok := toSimplified[r]; ok {
		return to
	}
	return r
}

// FoldWidth returns s with full-width ASCII forms (U+FF01–U+FF5E) and the
// ideographic space (U+3000) replaced by their ASCII equivalents.
func FoldWidth(s string) string {
	return mapRunes(s, foldWidthRune)
}

func foldWidthRune(r rune) rune {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E:
		return r - 0xFEE0
	case r == 0x3000:
		return ' '
	}
	return r
}

// Fold applies FoldWidth and Simplify.
func Fold(s string) string {
	return mapRunes(s, func(r rune) rune { return simplifyRune(foldWidthRune(r)) })
}

// mapRunes is strings.Map that returns s itself, without allocating, when no
// rune changes: most text is already folded.
func mapRunes(s string, f func(rune) rune) string {
	for i, r := range s {
		if f(r) != r {
			return s[:i] + strings.Map(f, s[i:])
		}
	}
	return s
}
