package pinyin

import "strings"

// Fuzzy returns the fuzzy-pinyin key of one syllable (as produced by Name,
// Full or Normalize): two syllables that differ only in the confusions of
// southern Mandarin and dialect speakers, or in the typos those cause, get
// the same key. This is the blocking key of the master patient index.
//
// Exactly two rewrites are applied, the initial first, then the final:
//
//  1. initial: zh → z, ch → c, sh → s; else n → l (not in the syllable ng);
//     else h → f. So zhang ≡ zang, nan ≡ lan, hu ≡ fu, hang ≡ fang. The h/f
//     merge is the input-method one and touches the initial only: huang
//     becomes fuang, not fang, so fang ≢ huang.
//  2. final: a trailing ang → an, eng → en, ing → in (also inside iang and
//     uang: jiang ≡ jian, guang ≡ guan). ong has no -n partner and is kept.
//
// Nothing else is merged: l/r, an/en, in/un and the like stay distinct.
// Text that is not pinyin goes through the same rewrites, which keeps keys
// comparable without claiming anything about them.
func Fuzzy(syllable string) string {
	s := syllable
	initial := ""
	switch {
	case len(s) >= 2 && s[1] == 'h' && (s[0] == 'z' || s[0] == 'c' || s[0] == 's'):
		initial, s = s[:1], s[2:]
	case len(s) >= 2 && s[0] == 'n' && s[1] != 'g':
		initial, s = "l", s[1:]
	case len(s) >= 1 && s[0] == 'h':
		initial, s = "f", s[1:]
	}
	if strings.HasSuffix(s, "ang") || strings.HasSuffix(s, "eng") || strings.HasSuffix(s, "ing") {
		s = s[:len(s)-1]
	}
	if initial == "" {
		return s
	}
	return initial + s
}

// FuzzyKey joins the fuzzy keys of a name's syllables: the MPI blocking key
// of a whole name, equal for 张林 (zhang lin) and 臧琳 (zang lin).
func FuzzyKey(syllables []string) string {
	var b strings.Builder
	for _, s := range syllables {
		b.WriteString(Fuzzy(s))
	}
	return b.String()
}
