// Package uscc reads, checks and builds 18-character 统一社会信用代码 (unified
// social credit codes of legal persons and other organisations) as defined by
// GB 32100-2015: position 1 the registration authority (1 机构编制, 5 民政,
// 9 工商, …), 2 the organisation type under it, 3–8 the GB/T 2260 division
// code of the registering authority, 9–17 the 组织机构代码 (GB 11714, its 9th
// character a check character of its own), and 18 a check character over
// positions 1–17. Every character is from a 31-character alphabet: the digits
// and the capital letters without I, O, Z, S and V, which are easily misread.
package uscc

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every error Parse, CheckChar and OrgCheckChar
// return, so callers can tell bad input from other failures with errors.Is.
var ErrInvalid = errors.New("uscc: invalid 统一社会信用代码")

// Alphabet is the GB 32100 character set; a character's value in the check
// character computation is its index here.
const Alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// weights are the GB 32100 weights 3^i mod 31 for positions 1–17.
var weights = [17]int{1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28}

// orgWeights are the GB 11714 weights of the organisation code's 8 body characters.
var orgWeights = [8]int{3, 7, 9, 10, 5, 8, 4, 2}

// Code is the content of a valid code.
type Code struct {
	Authority string // registration authority (登记管理部门), 1 character
	Type      string // organisation type (机构类别), 1 character
	Division  string // 6-digit GB/T 2260 division code
	OrgCode   string // 9-character 组织机构代码, check character included
}

// value is c's index in Alphabet, -1 when c is not in it (lower case included).
func value(c byte) int { return strings.IndexByte(Alphabet, c) }

// CheckChar returns the GB 32100 check character (position 18) for the first
// 17 characters: c = 31 − (Σ value·weight mod 31), 31 counting as 0.
func CheckChar(first17 string) (byte, error) {
	if len(first17) != 17 {
		return 0, fmt.Errorf("%w: check character needs 17 characters, got %d", ErrInvalid, len(first17))
	}
	sum := 0
	for i := 0; i < 17; i++ {
		v := value(first17[i])
		if v < 0 {
			return 0, fmt.Errorf("%w: character %d (%q) is not in the GB 32100 alphabet", ErrInvalid, i+1, first17[i])
		}
		sum += v * weights[i]
	}
	return Alphabet[(31-sum%31)%31], nil
}

// OrgCheckChar returns the GB 11714 check character (the 9th) of a 组织机构代码
// for its first 8 characters: c = 11 − (Σ value·weight mod 11), 10 written
// 'X' and 11 written '0'. GB 11714 values letters A=10 … Z=35 (not their
// index in the GB 32100 alphabet); letters GB 32100 excludes are refused, as
// they cannot occur in a 统一社会信用代码.
func OrgCheckChar(first8 string) (byte, error) {
	if len(first8) != 8 {
		return 0, fmt.Errorf("%w: organisation code check needs 8 characters, got %d", ErrInvalid, len(first8))
	}
	sum := 0
	for i := 0; i < 8; i++ {
		c := first8[i]
		if value(c) < 0 {
			return 0, fmt.Errorf("%w: organisation code character %d (%q) is not in the GB 32100 alphabet", ErrInvalid, i+1, c)
		}
		v := int(c - '0')
		if c >= 'A' {
			v = int(c-'A') + 10
		}
		sum += v * orgWeights[i]
	}
	switch c := 11 - sum%11; c {
	case 10:
		return 'X', nil
	case 11:
		return '0', nil
	default:
		return byte('0' + c), nil
	}
}

// Valid reports whether s is a valid code (see Parse).
func Valid(s string) bool {
	_, err := Parse(s)
	return err == nil
}

// Parse checks a code and returns its content. It checks the length, that
// every character is in the alphabet (so lower case is refused: the standard
// writes codes in capitals), that positions 3–8 are digits, the embedded
// GB 11714 check character (position 17) and the GB 32100 check character
// (position 18). Registration authority and type codes are not checked
// against a list, as the authorities have added codes since 2015.
func Parse(s string) (Code, error) {
	if len(s) != 18 {
		return Code{}, fmt.Errorf("%w: %q: want 18 characters, got %d", ErrInvalid, s, len(s))
	}
	want, err := CheckChar(s[:17])
	if err != nil {
		return Code{}, fmt.Errorf("%q: %w", s, err)
	}
	if value(s[17]) < 0 {
		return Code{}, fmt.Errorf("%w: %q: character 18 (%q) is not in the GB 32100 alphabet", ErrInvalid, s, s[17])
	}
	for i := 2; i < 8; i++ {
		if s[i] < '0' || s[i] > '9' {
			return Code{}, fmt.Errorf("%w: %q: division code (positions 3–8) is not 6 digits", ErrInvalid, s)
		}
	}
	org, _ := OrgCheckChar(s[8:16]) // in the alphabet: checked above
	if s[16] != org {
		return Code{}, fmt.Errorf("%w: %q: organisation code check character is %c, want %c", ErrInvalid, s, s[16], org)
	}
	if s[17] != want {
		return Code{}, fmt.Errorf("%w: %q: check character is %c, want %c", ErrInvalid, s, s[17], want)
	}
	return Code{Authority: s[:1], Type: s[1:2], Division: s[2:8], OrgCode: s[8:17]}, nil
}

// New builds a valid code from the 2-character registration authority and
// type, the 6-digit division code and the 8-character body of the 组织机构代码,
// appending both check characters. Bad arguments are a programming error, not
// bad input: New panics on them.
func New(authorityType, division, orgBody string) string {
	if len(authorityType) != 2 || value(authorityType[0]) < 0 || value(authorityType[1]) < 0 {
		panic("uscc.New: authority and type must be 2 characters of the alphabet")
	}
	if len(division) != 6 || strings.IndexFunc(division, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		panic("uscc.New: division must be 6 digits")
	}
	org, err := OrgCheckChar(orgBody)
	if err != nil {
		panic("uscc.New: " + err.Error())
	}
	first17 := authorityType + division + orgBody + string(org)
	c, _ := CheckChar(first17) // in the alphabet by construction
	return first17 + string(c)
}
