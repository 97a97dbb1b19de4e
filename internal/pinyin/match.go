package pinyin

import (
	"strings"
	"unicode/utf8"
)

// Query is a normalized pinyin search query, prepared once and matched
// against many names.
type Query struct {
	norm string
}

// NewQuery normalizes a user's query (see Normalize).
func NewQuery(query string) Query {
	return Query{norm: Normalize(query)}
}

// Matches reports whether query finds the name with the given syllables; it
// is NewQuery(query).Match(syllables).
func Matches(query string, syllables []string) bool {
	return NewQuery(query).Match(syllables)
}

// Match reports whether the query finds the name with the given syllables
// (lower-case, as produced by Name or Full). The query must spell the first
// k syllables of the name in order (k ≥ 1), each syllable written either in
// full, as its first letter, or as its initial zh, ch or sh. So for 张三
// (zhang san) all of zhangsan, zhang san, ZHANGSAN, zhang, zs, z, zhs,
// zhangs and zsan match, while zhangsi, sz, zha (a partial syllable) and
// san (not the start of the name) do not. Order matters: the surname comes
// first. An empty query matches nothing.
//
// Matching is a dynamic programme over query positions, at most the number
// of syllables times the query length and in practice linear, without
// allocation for queries up to 63 bytes.
func (q Query) Match(syllables []string) bool {
	n := len(q.norm)
	if n == 0 {
		return false
	}
	// reach[p] says the syllables so far can spell q.norm[:p]; next is the
	// same after the current syllable.
	var buf [2 * 64]bool
	var reach, next []bool
	if 2*(n+1) <= len(buf) {
		reach, next = buf[:n+1], buf[n+1:2*(n+1)]
	} else {
		all := make([]bool, 2*(n+1))
		reach, next = all[:n+1], all[n+1:]
	}
	reach[0] = true
	// Reachable positions lie in [lo, hi]; scanning only that window keeps
	// a long name of one-letter words linear. Consumed positions are reset,
	// so the array swapped out is all false again.
	lo, hi := 0, 0
	for _, syl := range syllables {
		if syl == "" {
			continue
		}
		nlo, nhi := n, -1
		for p := lo; p <= hi; p++ {
			if !reach[p] {
				continue
			}
			reach[p] = false
			for _, form := range spellings(syl) {
				if form == "" || !strings.HasPrefix(q.norm[p:], form) {
					continue
				}
				end := p + len(form)
				if end == n {
					return true
				}
				next[end] = true
				nlo, nhi = min(nlo, end), max(nhi, end)
			}
		}
		if nhi < 0 {
			return false
		}
		reach, next = next, reach
		lo, hi = nlo, nhi
	}
	return false
}

// spellings returns the ways a query may write syl: in full, its first
// letter, and its zh/ch/sh initial; forms equal to an earlier one are empty.
func spellings(syl string) [3]string {
	_, n := utf8.DecodeRuneInString(syl)
	forms := [3]string{syl}
	if n < len(syl) {
		forms[1] = syl[:n]
		if len(syl) > 2 && syl[1] == 'h' && (syl[0] == 'z' || syl[0] == 'c' || syl[0] == 's') {
			forms[2] = syl[:2]
		}
	}
	return forms
}
