package empi

import (
	"hash/fnv"
	"slices"
	"strings"
)

// blockingRule pairs the records that share a key. Several rules together
// make the candidate pairs, so that one corrupted field (a mistyped ID, a
// birth date with day and month swapped, a name in pinyin) cannot hide a
// match: the pair is still found through another key.
type blockingRule struct {
	name  string
	key   func(p *prepared) string // "" when the record has no key
	fixes []string                 // comparisons whose agreement the key implies
}

var blockingKinds = []blockingRule{
	{name: "id_number", fixes: []string{"id_number"}, key: func(p *prepared) string {
		if len(p.idNumber) < 6 {
			return ""
		}
		return p.idNumber
	}},
	{name: "health_card", fixes: []string{"health_card"}, key: func(p *prepared) string { return p.healthCard }},
	{name: "phone", fixes: []string{"phone"}, key: func(p *prepared) string {
		if len(p.phone) < 7 {
			return ""
		}
		return p.phone
	}},
	{name: "birth_date", fixes: []string{"birth_date"}, key: func(p *prepared) string { return p.birth }},
	// The fuzzy keys of both names in either order, and the year of birth:
	// homophones, pinyin and swapped names meet here when the ID is wrong.
	{name: "name_birth_year", fixes: []string{"family", "given", "birth_date"}, key: func(p *prepared) string {
		if p.familyFZ == "" || p.givenFZ == "" || p.birth == "" {
			return ""
		}
		a, b := p.familyFZ, p.givenFZ
		if b < a {
			a, b = b, a
		}
		return a + "|" + b + "|" + p.birth[:4]
	}},
	// Family name, the given name's initial and the postcode: for records
	// whose birth date and ID are both wrong.
	{name: "name_postcode", fixes: []string{"family", "postcode"}, key: func(p *prepared) string {
		if p.familyFZ == "" || p.givenFZ == "" || p.postcode == "" {
			return ""
		}
		return p.familyFZ + "|" + p.givenFZ[:1] + "|" + p.postcode
	}},
	// The given name and the postcode, for a family name mistyped too.
	{name: "given_postcode", fixes: []string{"given", "postcode"}, key: func(p *prepared) string {
		if p.givenFZ == "" || p.postcode == "" {
			return ""
		}
		return p.givenFZ + "|" + p.postcode
	}},
	// The start of the address: the house and street of an address written
	// in words, the whole of one written in Chinese (no spaces).
	{name: "address", fixes: []string{"address"}, key: func(p *prepared) string {
		words := strings.Fields(p.address)
		if len(words) > 3 {
			words = words[:3]
		}
		if len(words) == 1 && isDigits(words[0]) {
			return ""
		}
		return strings.Join(words, " ")
	}},
	{name: "name_division", fixes: []string{"family", "given", "division"}, key: func(p *prepared) string {
		if p.familyFZ == "" || p.givenFZ == "" || p.division == "" {
			return ""
		}
		return p.familyFZ + "|" + p.givenFZ + "|" + p.division
	}},
}

// ruleNumber is a rule's stable number in the persistent index: its place
// in blockingKinds, from 1. New rules are added at the end.
func ruleNumber(name string) int {
	for i, r := range blockingKinds {
		if r.name == name {
			return i + 1
		}
	}
	panic("empi: unknown blocking rule " + name)
}

// keyHash hashes a blocking key; 0 stands for no key.
func keyHash(key string) uint64 {
	if key == "" {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	if s := h.Sum64(); s != 0 {
		return s
	}
	return 1
}

// candidate is a pair of records (indexes) found by blocking.
type candidate struct {
	a, b int32
	p    pattern
}

// blocks holds every record's key hash under each rule.
type blocks struct {
	rules []blockingRule
	keys  [][]uint64 // [rule][record]
}

func newBlocks(rules []blockingRule, recs []prepared) *blocks {
	b := &blocks{rules: rules, keys: make([][]uint64, len(rules))}
	for r, rule := range rules {
		keys := make([]uint64, len(recs))
		for i := range recs {
			keys[i] = keyHash(rule.key(&recs[i]))
		}
		b.keys[r] = keys
	}
	return b
}

// shares reports whether records i and j share rule r's key.
func (b *blocks) shares(r int, i, j int32) bool {
	k := b.keys[r][i]
	return k != 0 && k == b.keys[r][j]
}

// pairs calls emit for every pair of records sharing a key under some rule,
// once (under the first rule that pairs them). Blocks larger than maxBlock
// are skipped and counted: a key that many records share (a placeholder ID,
// a facility's phone) says nothing. With cross set, only pairs of records
// from different sources are made.
func (b *blocks) pairs(sources []int32, cross bool, maxBlock int, emit func(i, j int32)) (skipped int) {
	n := len(b.keys[0])
	type entry struct {
		key uint64
		rec int32
	}
	entries := make([]entry, 0, n)
	for r := range b.rules {
		entries = entries[:0]
		for i, k := range b.keys[r] {
			if k != 0 {
				entries = append(entries, entry{k, int32(i)})
			}
		}
		slices.SortFunc(entries, func(x, y entry) int {
			if x.key != y.key {
				if x.key < y.key {
					return -1
				}
				return 1
			}
			return int(x.rec - y.rec)
		})
		for start := 0; start < len(entries); {
			end := start + 1
			for end < len(entries) && entries[end].key == entries[start].key {
				end++
			}
			if end-start > maxBlock {
				skipped++
				for _, e := range entries[start:end] {
					b.keys[r][e.rec] = 0 // so that later rules do not count it as paired
				}
				start = end
				continue
			}
			for x := start; x < end; x++ {
				for y := x + 1; y < end; y++ {
					i, j := entries[x].rec, entries[y].rec
					if cross && sources[i] == sources[j] {
						continue
					}
					if b.pairedBefore(r, i, j) {
						continue
					}
					emit(i, j)
				}
			}
			start = end
		}
	}
	return skipped
}

func (b *blocks) pairedBefore(r int, i, j int32) bool {
	for earlier := range r {
		if b.shares(earlier, i, j) {
			return true
		}
	}
	return false
}
