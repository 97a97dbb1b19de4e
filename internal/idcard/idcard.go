// Package idcard reads, checks and builds 18-digit 居民身份证号码 (citizen
// identity numbers) as defined by GB 11643-1999: a 6-digit GB/T 2260 division
// code, an 8-digit birth date (YYYYMMDD), a 3-digit order code whose parity gives
// the sex (odd male, even female), and an ISO 7064 MOD 11-2 check character
// ('0'–'9' or 'X' for 10).
package idcard

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every error Parse, CheckDigit and Upgrade15 return, so
// callers can tell bad input from other failures with errors.Is.
var ErrInvalid = errors.New("idcard: invalid 居民身份证号码")

// ID is the content of a valid 18-digit number.
type ID struct {
	Division  string    // 6-digit GB/T 2260 code of the registering county
	BirthDate time.Time // midnight UTC of the birth date
	Sex       string    // male | female
	Sequence  string    // 3-digit order code
}

// weights are the ISO 7064 MOD 11-2 weights 2^(17-i) mod 11 for positions 0–16.
var weights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// checkChars maps the weighted sum mod 11 to the check character.
const checkChars = "10X98765432"

// CheckDigit returns the check character for the first 17 digits.
func CheckDigit(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, fmt.Errorf("%w: check digit needs 17 digits, got %d characters", ErrInvalid, len(first17))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		c := first17[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: character %d is not a digit", ErrInvalid, i+1)
		}
		sum += int(c-'0') * weights[i]
	}
	return checkChars[sum%11], nil
}

// Valid reports whether s is a valid 18-digit number (see Parse).
func Valid(s string) bool {
	_, err := Parse(s)
	return err == nil
}

// Parse checks an 18-digit number and returns its content. It checks the length,
// that the first 17 characters are digits, that the division code does not start
// with 0, that the birth date is a calendar date from 1900-01-01 up to today
// (China Standard Time), and the check character. A lower-case 'x' is accepted as
// 'X', as data entry commonly produces it. Error messages show the number masked.
func Parse(s string) (ID, error) {
	if len(s) != 18 {
		return ID{}, fmt.Errorf("%w: %s: want 18 characters, got %d", ErrInvalid, Mask(s), len(s))
	}
	want, err := CheckDigit(s[:17])
	if err != nil {
		return ID{}, fmt.Errorf("%s: %w", Mask(s), err)
	}
	if s[0] == '0' {
		return ID{}, fmt.Errorf("%w: %s: division code cannot start with 0", ErrInvalid, Mask(s))
	}
	birth, err := parseDate(s[6:14])
	if err != nil {
		return ID{}, fmt.Errorf("%w: %s: %v", ErrInvalid, Mask(s), err)
	}
	got := s[17]
	if got == 'x' {
		got = 'X'
	}
	if got != want {
		return ID{}, fmt.Errorf("%w: %s: check character is %c, want %c", ErrInvalid, Mask(s), s[17], want)
	}
	sex := "female"
	if (s[16]-'0')%2 == 1 {
		sex = "male"
	}
	return ID{Division: s[:6], BirthDate: birth, Sex: sex, Sequence: s[14:17]}, nil
}

// parseDate reads YYYYMMDD (already known to be digits) and checks its range.
func parseDate(d string) (time.Time, error) {
	y, _ := strconv.Atoi(d[:4])
	m, _ := strconv.Atoi(d[4:6])
	day, _ := strconv.Atoi(d[6:8])
	t := time.Date(y, time.Month(m), day, 0, 0, 0, 0, time.UTC)
	if m < 1 || m > 12 || day < 1 || t.Day() != day {
		return time.Time{}, fmt.Errorf("birth date %s is not a calendar date", d)
	}
	if y < 1900 {
		return time.Time{}, fmt.Errorf("birth date %s is before 1900", d)
	}
	// Birth dates are civil dates in China: compare with today there.
	now := time.Now().In(time.FixedZone("CST", 8*3600))
	if t.After(time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)) {
		return time.Time{}, fmt.Errorf("birth date %s is in the future", d)
	}
	return t, nil
}

// Upgrade15 converts a first-generation 15-digit number (6 division, YYMMDD,
// 3 order code; issued before 1999 to people born in the 1900s) to its 18-digit
// form by inserting the century "19" and appending the check character.
func Upgrade15(s string) (string, error) {
	if len(s) != 15 {
		return "", fmt.Errorf("%w: %s: want 15 digits, got %d characters", ErrInvalid, Mask(s), len(s))
	}
	for i := 0; i < 15; i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", fmt.Errorf("%w: %s: character %d is not a digit", ErrInvalid, Mask(s), i+1)
		}
	}
	first17 := s[:6] + "19" + s[6:]
	c, _ := CheckDigit(first17) // 17 digits by construction
	full := first17 + string(c)
	if _, err := Parse(full); err != nil {
		return "", fmt.Errorf("upgrade 15-digit number: %w", err)
	}
	return full, nil
}

// New builds a valid number. seq (taken modulo 500) numbers the people of one
// sex born on one day in one division: the order code is 2·seq+1 for male (odd)
// and 2·seq for female (even). division must be 6 digits and birth's calendar
// date (in its own location) is used; New panics otherwise, as that is a
// programming error, not bad input.
func New(division string, birth time.Time, sex string, seq int) string {
	if len(division) != 6 || strings.IndexFunc(division, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		panic("idcard.New: division must be 6 digits")
	}
	y, m, d := birth.Date()
	if y < 1000 || y > 9999 {
		panic("idcard.New: birth year out of range")
	}
	seq %= 500
	if seq < 0 {
		seq += 500
	}
	order := 2 * seq
	if sex == "male" {
		order++
	}
	b := make([]byte, 0, 18)
	b = append(b, division...)
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, byte('0'+int(m)/10), byte('0'+int(m)%10), byte('0'+d/10), byte('0'+d%10))
	b = append(b, byte('0'+order/100), byte('0'+order/10%10), byte('0'+order%10))
	c, _ := CheckDigit(string(b)) // 17 digits by construction
	return string(append(b, c))
}

// Mask hides the middle of a number for display and export, keeping the first 6
// and the last 4 characters (110105********1234). Strings of 10 characters or
// fewer are masked entirely, as showing 10 of them would reveal too much.
func Mask(s string) string {
	r := []rune(s)
	if len(r) <= 10 {
		return strings.Repeat("*", len(r))
	}
	return string(r[:6]) + strings.Repeat("*", len(r)-10) + string(r[len(r)-4:])
}
