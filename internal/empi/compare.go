package empi

import "strings"

// null is the level of a comparison that cannot be made because a value is
// missing; it adds no evidence either way.
const null = -1

// comparison scores one aspect of a pair of records with one of a few
// ordered levels, the most similar first and "else" last.
type comparison struct {
	name    string
	levels  []string // labels, for explanations and the model file
	compare func(c *comparison, a, b *prepared) int
	// termFrequency, when set, gives the value whose frequency replaces u at
	// the exact level: two records agreeing on 王 say less than on 佘.
	termFrequency func(p *prepared) string
	thresholds    []float64 // similarity thresholds of the similarity levels
}

// The comparisons, by name. Their order is the order of the model's levels.
var comparisonKinds = []comparison{
	{name: "family", levels: nameLevels, compare: compareFamily, thresholds: []float64{0.92, 0.8},
		termFrequency: func(p *prepared) string { return p.family }},
	{name: "given", levels: nameLevels, compare: compareGiven, thresholds: []float64{0.92, 0.8},
		termFrequency: func(p *prepared) string { return p.given }},
	{name: "sex", levels: []string{"same", "different"}, compare: compareSex},
	{name: "birth_date", levels: []string{"exact", "one typo", "close", "different"}, compare: compareBirth},
	{name: "id_number", levels: []string{"exact", "one typo", "two typos", "conflict", "different"}, compare: compareIDNumber},
	{name: "health_card", levels: []string{"exact", "different"}, compare: compareExact(func(p *prepared) string { return p.healthCard })},
	{name: "phone", levels: []string{"exact", "one typo", "different"}, compare: compareCode(func(p *prepared) string { return p.phone })},
	{name: "address", levels: []string{"exact", "similar", "related", "different"}, compare: compareText(func(p *prepared) string { return p.address }),
		thresholds: []float64{0.9, 0.75}},
	{name: "division", levels: []string{"exact", "same county", "different"}, compare: compareDivision, thresholds: []float64{0.9}},
	{name: "postcode", levels: []string{"exact", "one typo", "different"}, compare: compareCode(func(p *prepared) string { return p.postcode })},
}

var nameLevels = []string{"exact", "same pinyin", "fuzzy pinyin", "one character or similar", "related", "different"}

func compareFamily(c *comparison, a, b *prepared) int {
	if swapped(a, b) {
		return 1
	}
	return compareName(c, a.family, b.family, a.familyPY, b.familyPY, a.familyFZ, b.familyFZ)
}

func compareGiven(c *comparison, a, b *prepared) int {
	if swapped(a, b) {
		return 1
	}
	return compareName(c, a.given, b.given, a.givenPY, b.givenPY, a.givenFZ, b.givenFZ)
}

// swapped reports family and given names written in the other order
// (San Zhang against Zhang San).
func swapped(a, b *prepared) bool {
	return a.familyPY != "" && a.givenPY != "" && a.familyPY != a.givenPY &&
		a.familyPY == b.givenPY && a.givenPY == b.familyPY
}

func compareName(c *comparison, a, b, aPY, bPY, aFZ, bFZ string) int {
	switch {
	case a == "" || b == "":
		return null
	case a == b:
		return 0
	case aPY == bPY:
		return 1 // homophone, or characters against their pinyin
	case aFZ == bFZ:
		return 2
	}
	s := jaroWinkler(aPY, bPY)
	switch {
	case s >= c.thresholds[0] || oneCharacterApart(a, b):
		return 3
	case s >= c.thresholds[1]:
		return 4
	}
	return 5
}

// oneCharacterApart reports two Chinese names of the same length, at least
// two characters, that differ in one character: a look-alike typed for
// another (王 for 玉).
func oneCharacterApart(a, b string) bool {
	if isASCII(a) || isASCII(b) {
		return false
	}
	ra, rb := []rune(a), []rune(b)
	if len(ra) != len(rb) || len(ra) < 2 {
		return false
	}
	diff := 0
	for i := range ra {
		if ra[i] != rb[i] {
			diff++
		}
	}
	return diff == 1
}

func compareSex(_ *comparison, a, b *prepared) int {
	switch {
	case a.sex == 0 || b.sex == 0:
		return null
	case a.sex == b.sex:
		return 0
	}
	return 1
}

// compareBirth: one typo is one edited or transposed digit, day and month
// swapped, or a day apart; close is two edits or the same month.
var compareBirth = byValue(func(p *prepared) string { return p.birth }, func(_ *comparison, x, y string) int {
	d := editDistance(x, y, 2)
	if d <= 1 || x[:4] == y[:4] && x[4:6] == y[6:] && x[6:] == y[4:6] || dayNumber(x)-dayNumber(y) == 1 || dayNumber(y)-dayNumber(x) == 1 {
		return 1
	}
	if d == 2 || x[:6] == y[:6] {
		return 2
	}
	return 3
})

// dayNumber counts days from a fixed epoch for a YYYYMMDD date (proleptic
// Gregorian), to tell dates a day apart across month ends.
func dayNumber(s string) int {
	y := int(s[0]-'0')*1000 + int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
	m := int(s[4]-'0')*10 + int(s[5]-'0')
	d := int(s[6]-'0')*10 + int(s[7]-'0')
	if m <= 2 {
		y--
		m += 12
	}
	return 365*y + y/4 - y/100 + y/400 + (153*(m-3)+2)/5 + d
}

// compareIDNumber: two valid 身份证 numbers that differ are a conflict,
// strong evidence of two people, however few digits apart: the check digit
// catches every single typo and transposition, so two valid numbers are two
// numbers (siblings' differ in the birth date and the order code).
func compareIDNumber(_ *comparison, a, b *prepared) int {
	x, y := a.idNumber, b.idNumber
	switch {
	case x == "" || y == "":
		return null
	case x == y:
		return 0
	case a.idValid && b.idValid:
		return 3
	}
	switch editDistance(x, y, 2) {
	case 1:
		return 1
	case 2:
		return 2
	}
	return 4
}

// byValue builds the comparison of one field: a value missing on either
// side is null, equal values are level 0, and differ places the rest.
func byValue(field func(*prepared) string, differ func(c *comparison, x, y string) int) func(*comparison, *prepared, *prepared) int {
	return func(c *comparison, a, b *prepared) int {
		x, y := field(a), field(b)
		switch {
		case x == "" || y == "":
			return null
		case x == y:
			return 0
		}
		return differ(c, x, y)
	}
}

// compareExact: exact, different.
func compareExact(field func(*prepared) string) func(*comparison, *prepared, *prepared) int {
	return byValue(field, func(*comparison, string, string) int { return 1 })
}

// compareCode: exact, one edit or transposition, different.
func compareCode(field func(*prepared) string) func(*comparison, *prepared, *prepared) int {
	return byValue(field, func(_ *comparison, x, y string) int {
		if editDistance(x, y, 1) <= 1 {
			return 1
		}
		return 2
	})
}

// compareText: exact, then two Jaro–Winkler thresholds, different.
func compareText(field func(*prepared) string) func(*comparison, *prepared, *prepared) int {
	return byValue(field, func(c *comparison, x, y string) int {
		s := jaroWinkler(x, y)
		switch {
		case s >= c.thresholds[0]:
			return 1
		case s >= c.thresholds[1]:
			return 2
		}
		return 3
	})
}

// compareDivision: GB/T 2260 codes in the same county (first six digits), or
// area names that are nearly the same. Agreement on a code says nothing more
// when the addresses agree: a Chinese address names its division, and
// counting both would count one fact twice.
func compareDivision(c *comparison, a, b *prepared) int {
	x, y := a.division, b.division
	codes := len(x) >= 6 && len(y) >= 6 && isDigits(x) && isDigits(y)
	switch {
	case x == "" || y == "":
		return null
	case codes && x == y && a.address != "" && a.address == b.address:
		return null
	case x == y:
		return 0
	case codes:
		if x[:6] == y[:6] {
			return 1
		}
		return 2
	case !isDigits(x) && !isDigits(y) && (jaroWinkler(x, y) >= c.thresholds[0] || strings.HasPrefix(x, y) || strings.HasPrefix(y, x)):
		return 1
	}
	return 2
}
