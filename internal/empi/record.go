// Package empi is the master patient index (居民主索引): it decides which
// patient records, registered under different local numbers at different
// facilities, belong to one resident.
//
// Records are normalised (width, traditional characters, pinyin, 身份证
// numbers, phones, dates), paired by several blocking keys so that one
// corrupted field cannot hide a match, and scored with a Fellegi–Sunter model
// whose m and u probabilities are estimated from the data (u from random
// pairs, m by expectation–maximisation on blocked pairs), with term-frequency
// adjustment of name agreement. A pair above the link threshold is linked,
// one between the thresholds goes to human review, one below is left apart.
package empi

import (
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/hip-platform/hip/internal/hanzi"
	"github.com/hip-platform/hip/internal/idcard"
	"github.com/hip-platform/hip/internal/pinyin"
)

// Record is one patient record as a source gives it; the index normalises it.
// Name is the full name as one text (张三, Zhang San) and is used when Family
// and Given are empty; Pinyin is the name in pinyin when the source keeps one
// beside the characters.
type Record struct {
	ID         string
	Source     string // the file or facility the record comes from
	Name       string
	Family     string
	Given      string
	Pinyin     string
	Sex        string // male/female, 男/女, M/F, 1/2 (GB/T 2261.1)
	BirthDate  string // 2006-01-02, 20060102, 2006/1/2, 2006年1月2日 …
	IDNumber   string // 居民身份证号码, 18 or 15 digits (or any national number)
	HealthCard string
	Phone      string
	Address    string
	Division   string // GB/T 2260 code or the name of the area
	Postcode   string
	// Updated is when the source last changed the record (a FHIR instant:
	// Patient.meta.lastUpdated); the golden record prefers the latest.
	Updated string `json:",omitempty"`
}

// prepared is a normalised record: what comparisons and blocking keys read.
type prepared struct {
	family, given     string // folded text: simplified characters, or lower-case letters
	familyPY, givenPY string // pinyin keys (letters for names written in letters)
	familyFZ, givenFZ string // fuzzy-pinyin keys
	sex               byte   // 'M', 'F' or 0
	birth             string // YYYYMMDD, or ""
	idNumber          string // 18 digits when it was a valid or upgradable 身份证 number
	idValid           bool   // a valid 18-digit 身份证 number (GB 11643 check digit)
	healthCard        string
	phone             string
	address           string
	division          string
	postcode          string
}

func prepare(r *Record) prepared {
	var p prepared
	p.family, p.given = names(r)
	if p.family != "" {
		syl := pinyin.Name(p.family, "")
		p.familyPY, p.familyFZ = pinyin.Key(syl), pinyin.FuzzyKey(syl)
	}
	if p.given != "" {
		syl := pinyin.Given(p.given)
		p.givenPY, p.givenFZ = pinyin.Key(syl), pinyin.FuzzyKey(syl)
	}
	p.sex = sex(r.Sex)
	p.birth = date(r.BirthDate)
	p.idNumber, p.idValid = idNumber(r.IDNumber)
	p.healthCard = code(r.HealthCard)
	p.phone = phone(r.Phone)
	p.address = text(r.Address)
	p.division = text(r.Division)
	p.postcode = code(r.Postcode)
	return p
}

// names returns the folded family and given names. A full name in Chinese is
// split at the surname; one written in letters (Zhang San, San Zhang) takes
// the word that reads as a Chinese surname as the family name, else the
// first word. The pinyin column is used when the record has no name.
func names(r *Record) (family, given string) {
	family, given = text(r.Family), text(r.Given)
	if family != "" || given != "" {
		return family, given
	}
	full := text(r.Name)
	if full == "" {
		full = text(r.Pinyin)
	}
	if full == "" {
		return "", ""
	}
	if f, g := pinyin.SplitSurname(full); f != "" {
		return f, strings.ReplaceAll(g, " ", "")
	}
	words := strings.Fields(full)
	if len(words) < 2 {
		return "", full
	}
	first, last := words[0], words[len(words)-1]
	if !pinyin.IsSurname(first) && pinyin.IsSurname(last) {
		return last, strings.Join(words[:len(words)-1], "")
	}
	return first, strings.Join(words[1:], "")
}

// text folds width and traditional characters, lower-cases letters and
// collapses runs of spaces and punctuation to one space.
func text(s string) string {
	s = hanzi.Fold(s)
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(unicode.ToLower(r))
		case r == '\'' || r == '’':
		default:
			space = true
		}
	}
	return b.String()
}

// code keeps the letters and digits of an identifier, upper-cased.
func code(s string) string {
	s = hanzi.FoldWidth(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		}
	}
	return b.String()
}

// idNumber normalises a 身份证 number: a 15-digit first-generation number is
// upgraded to 18 digits, an x check character upper-cased. Other values
// (foreign numbers, typos) are kept as their letters and digits.
func idNumber(s string) (string, bool) {
	c := code(s)
	if len(c) == 15 {
		if up, err := idcard.Upgrade15(c); err == nil {
			return up, true
		}
	}
	return c, len(c) == 18 && idcard.Valid(c)
}

// phone keeps the digits of a phone number without the country code: +86,
// 0086 or 86 before an 11-digit mobile number.
func phone(s string) string {
	c := code(s)
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, c)
	for _, prefix := range []string{"0086", "86"} {
		if rest, ok := strings.CutPrefix(digits, prefix); ok && len(rest) == 11 && rest[0] == '1' {
			return rest
		}
	}
	return digits
}

// sex reads the usual codings of sex: FHIR gender, GB/T 2261.1 (1 male,
// 2 female), Chinese characters and letters.
func sex(s string) byte {
	switch strings.ToLower(strings.TrimSpace(hanzi.FoldWidth(s))) {
	case "male", "m", "1", "男", "男性":
		return 'M'
	case "female", "f", "2", "女", "女性":
		return 'F'
	}
	return 0
}

// date reads a birth date in the forms sources use and returns YYYYMMDD, or
// "" when it is not a date: 2006-01-02, 2006/1/2, 2006.1.2, 20060102,
// 2006年1月2日. A date-time keeps its date.
func date(s string) string {
	s = strings.TrimSpace(hanzi.FoldWidth(s))
	if t := strings.IndexAny(s, "T "); t > 0 {
		s = s[:t]
	}
	var parts []string
	if len(s) == 8 && isDigits(s) {
		parts = []string{s[:4], s[4:6], s[6:]}
	} else {
		parts = strings.FieldsFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	}
	if len(parts) != 3 || len(parts[0]) != 4 {
		return ""
	}
	y, _ := strconv.Atoi(parts[0])
	m, _ := strconv.Atoi(parts[1])
	d, _ := strconv.Atoi(parts[2])
	// time.Date normalises 1990-02-30 to March: a date that changes is not one.
	if y < 1850 || y > 2200 || m < 1 || m > 12 || d < 1 || time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Day() != d {
		return ""
	}
	return strconv.Itoa(y*10000 + m*100 + d)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
