// Package pinyin turns personal names into pinyin keys for name search and
// record linkage: the FHIR search parameter name-pinyin (张三 found by
// "zhangsan", "zhang san" or "zs") and the blocking and comparison of names
// in the master patient index. Name, Full and SplitSurname produce
// syllables; Key, Initials and Query (Matches) serve search; Fuzzy and
// FuzzyKey give the blocking keys; Normalize folds user input.
//
// Character readings come from go-pinyin (github.com/mozillazg/go-pinyin),
// which reads one character at a time and takes its most frequent reading.
// That is wrong for many surnames (单 is dan, not the surname shan), so the
// first character(s) of a name are read through a surname table first:
// two-character surnames (欧阳, 尉迟, 万俟 …) before one-character ones (单,
// 曾, 解, 区 …). The surname readings follow 《百家姓》 and 《现代汉语词典》.
// A short table fixes given-name characters whose name reading differs from
// the dictionary default (长 chang, 晟 sheng, 莞 wan).
//
// Syllables are lower-case ASCII without tones; ü is written v (吕 → lv,
// 女 → nv) as in go-pinyin and pinyin input methods, while ju/qu/xu/yu keep
// u as in standard spelling. Text that is not Chinese (Latin names, digits)
// passes through folded the same way, one syllable per word; spaces and
// punctuation such as the middle dot of 买买提·艾力 separate words,
// apostrophes are dropped (O'Brien → obrien). A Chinese character without a
// reading stays as itself so that two names differing only in it still
// differ.
package pinyin

import (
	"strings"
	"unicode"
	"unicode/utf8"

	gopinyin "github.com/mozillazg/go-pinyin"
)

// Name returns the syllables of a person's name, the family name read with
// the surname table. Every Chinese character of family is read as a surname
// character, so a double-barrelled family name (张李) works too. With an
// empty family, given is treated as the full name text (see Full).
func Name(family, given string) []string {
	if family == "" {
		return Full(given)
	}
	return syllables(family, given)
}

// Full returns the syllables of a full name written as one text, surname
// first as is usual in Chinese: SplitSurname decides where the surname ends.
func Full(text string) []string {
	return syllables(SplitSurname(text))
}

// Given returns the syllables of a given name alone, every character read
// as in a given name (单 dan, not the surname reading shan).
func Given(text string) []string {
	return appendSyllables(nil, text, false)
}

// IsSurname reports whether a word written in letters (zhang, ouyang) reads
// as a common Chinese surname.
func IsSurname(word string) bool {
	return surnameReadings[Normalize(word)]
}

// SplitSurname splits a full Chinese name into surname and given name: a
// two-character surname from the compound table if the text starts with
// one, otherwise the first character. Text that does not start with a
// Chinese character has no recognisable surname and is returned whole as
// given.
func SplitSurname(text string) (family, given string) {
	text = strings.TrimLeftFunc(text, unicode.IsSpace)
	r1, n1 := utf8.DecodeRuneInString(text)
	if !isHan(r1) {
		return "", text
	}
	_, n2 := utf8.DecodeRuneInString(text[n1:])
	if _, ok := compoundSurnames[text[:n1+n2]]; ok {
		n1 += n2
	}
	return text[:n1], strings.TrimLeftFunc(text[n1:], unicode.IsSpace)
}

// Key joins syllables into the lower-case search key: "zhangsan".
func Key(syllables []string) string {
	return strings.ToLower(strings.Join(syllables, ""))
}

// Initials returns the first letter of every syllable: "zs" for 张三.
func Initials(syllables []string) string {
	var b strings.Builder
	for _, s := range syllables {
		if r, _ := utf8.DecodeRuneInString(s); s != "" {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// Normalize folds user input to the form of Key: lower case; full-width
// letters and digits to ASCII; tone marks removed (ā → a, also as combining
// marks); ü, u: and ü with a combining diaeresis to v (lü, lu:, lv all give
// lv for 吕), except after j, q, x, y where standard spelling has u; spaces,
// apostrophes, hyphens and other punctuation removed. Chinese characters are
// converted as by Full, so "张san" normalizes to "zhangsan".
func Normalize(s string) string {
	return strings.Join(Full(s), "")
}

// syllables reads family with the surname tables and given with the
// given-name table.
func syllables(family, given string) []string {
	out := make([]string, 0, utf8.RuneCountInString(family)+utf8.RuneCountInString(given))
	out = appendSyllables(out, family, true)
	return appendSyllables(out, given, false)
}

// appendSyllables appends the syllables of text to dst: one per Chinese
// character (surname readings first when surname is set) and one per word of
// other text.
func appendSyllables(dst []string, text string, surname bool) []string {
	var word []byte
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		if !isHan(r) {
			var sep bool
			if word, sep = foldRune(word, r); sep && len(word) > 0 {
				dst = append(dst, string(word))
				word = word[:0]
			}
			i += n
			continue
		}
		if len(word) > 0 {
			dst = append(dst, string(word))
			word = word[:0]
		}
		if surname {
			_, n2 := utf8.DecodeRuneInString(text[i+n:])
			if c, ok := compoundSurnames[text[i:i+n+n2]]; ok {
				dst = append(dst, c[0], c[1])
				i += n + n2
				continue
			}
		}
		dst = append(dst, readHan(r, surname))
		i += n
	}
	if len(word) > 0 {
		dst = append(dst, string(word))
	}
	return dst
}

// readHan returns the reading of one Chinese character in surname or given
// name position.
func readHan(r rune, surname bool) string {
	table := givenNameReadings
	if surname {
		table = singleSurnames
	}
	if s, ok := table[r]; ok {
		return s
	}
	reading, ok := gopinyin.PinyinDict[int(r)]
	if !ok {
		return string(r)
	}
	if i := strings.IndexByte(reading, ','); i >= 0 {
		reading = reading[:i]
	}
	var buf [16]byte
	b := buf[:0]
	for _, c := range reading {
		b, _ = foldRune(b, c)
	}
	return string(b)
}

func isHan(r rune) bool {
	return r >= 0x2E80 && unicode.Is(unicode.Han, r)
}

// foldRune appends the folded form of r to word (see Normalize) and reports
// whether r separates words instead.
func foldRune(word []byte, r rune) ([]byte, bool) {
	switch {
	case r >= 0xFF01 && r <= 0xFF5E: // full-width ASCII block
		r -= 0xFEE0
	case r == 0x3000: // ideographic space
		return word, true
	}
	if r < utf8.RuneSelf {
		switch {
		case 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
			return append(word, byte(r)), false
		case 'A' <= r && r <= 'Z':
			return append(word, byte(r)+'a'-'A'), false
		case r == '\'' || r == '`':
			return word, false
		case r == ':' && endsWith(word, 'u'):
			return umlaut(word[:len(word)-1]), false
		}
		return word, true
	}
	r = unicode.ToLower(r)
	if b, ok := toneFolds[r]; ok {
		if b == 'v' {
			return umlaut(word), false
		}
		return append(word, b), false
	}
	switch {
	case r == '\u2018' || r == '\u2019' || r == '\u02BC': // typographic apostrophes
		return word, false
	case r == '\u0308' && endsWith(word, 'u'): // combining diaeresis: u + ¨ = ü
		return umlaut(word[:len(word)-1]), false
	case unicode.Is(unicode.Mn, r): // combining tone marks
		return word, false
	case unicode.IsLetter(r) || unicode.IsDigit(r):
		return utf8.AppendRune(word, r), false
	}
	return word, true
}

// umlaut appends ü to word: v, or u after j, q, x and y, where pinyin writes
// ü as u (ju, qu, xu, yu).
func umlaut(word []byte) []byte {
	if n := len(word); n > 0 {
		switch word[n-1] {
		case 'j', 'q', 'x', 'y':
			return append(word, 'u')
		}
	}
	return append(word, 'v')
}

func endsWith(word []byte, c byte) bool {
	return len(word) > 0 && word[len(word)-1] == c
}
