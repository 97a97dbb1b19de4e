package synth

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

// duplicateRate is the share of residents registered again at other facilities.
const duplicateRate = 0.08

// Variant names recorded in DuplicateRecord.Variants.
const (
	varTypo        = "typo"           // a given-name character replaced by a look-alike
	varHomophone   = "homophone"      // a given-name character replaced by a same-pinyin one
	varPinyin      = "pinyin"         // the name written in pinyin
	varTraditional = "traditional"    // the name in traditional characters
	varIDSwap      = "id-digit-swap"  // two adjacent ID digits swapped
	varIDMissing   = "id-missing"     // no ID number recorded
	varID15        = "id-15-digit"    // the first-generation 15-digit number
	varPhone       = "phone-changed"  // another mobile number
	varBirthTypo   = "birthdate-typo" // day and month swapped, or a day off
)

// variantNames lists every variant; at most one name variant and one ID variant
// apply to a record.
var variantNames = []string{varTypo, varHomophone, varPinyin, varTraditional, varIDSwap, varIDMissing, varID15, varPhone, varBirthTypo}

// duplicates registers a deterministic ~8% of residents (stream "duplicates",
// by their record number) again at 1–3 other facilities, each record with 0–3
// variants. It returns nil, nil for residents not chosen.
func duplicates(rg *Region, seed uint64, r *Resident) ([]fhir.Resource, *DuplicateSet) {
	n, _ := strconv.ParseUint(r.mrn(), 10, 64)
	rr := rng(seed, "duplicates", n)
	if rr.Float64() >= duplicateRate {
		return nil, nil
	}
	set := &DuplicateSet{Person: r.ID}
	var out []fhir.Resource
	for k, f := range otherFacilities(rg, rr, r) {
		id := r.ID + "-d" + strconv.Itoa(k+1)
		want := pickShare(rr, []float64{0.3, 0.35, 0.25, 0.1})
		res, variants := variant(rr, r, id, f, want)
		out = append(out, res)
		set.Records = append(set.Records, DuplicateRecord{Patient: id, Facility: f.ID, Variants: variants})
	}
	return out, set
}

// otherFacilities picks 1–3 distinct facilities other than the resident's home:
// county hospitals, the township centre, pharmacies.
func otherFacilities(rg *Region, rr *rand.Rand, r *Resident) []*Facility {
	var cands []*Facility
	for _, k := range []FacilityKind{CountyHospital, TCMHospital, MCHHospital} {
		cands = append(cands, rg.FacilitiesOf(k)...)
	}
	if c := rg.CentreOf(r.Village.Parent); c != r.Home {
		cands = append(cands, c)
	}
	ph := rg.FacilitiesOf(Pharmacy)
	cands = append(cands, ph[rr.IntN(len(ph))])
	rr.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
	return cands[:1+rr.IntN(3)]
}

// variant builds one extra record with up to want variants.
func variant(rr *rand.Rand, r *Resident, id string, f *Facility, want int) (fhir.Resource, []string) {
	c := *r
	var variants []string
	var pinyinName string
	nameDone, idDone := false, false
	for _, i := range rr.Perm(len(variantNames)) {
		if len(variants) == want {
			break
		}
		v := variantNames[i]
		ok := false
		switch v {
		case varTypo, varHomophone, varTraditional:
			if !nameDone {
				c.Name, ok = changeName(rr, c.Name, v)
			}
		case varPinyin:
			if !nameDone {
				pinyinName, ok = romanise(c.Name)
			}
		case varIDSwap, varIDMissing:
			ok = !idDone
		case varID15:
			y := c.BirthDate.Year()
			ok = !idDone && y >= 1900 && y <= 1999
		case varPhone:
			if c.Phone != "" {
				for c.Phone == r.Phone {
					c.Phone = mobile(rr)
				}
				ok = true
			}
		case varBirthTypo:
			c.BirthDate, ok = birthTypo(rr, c), true
		}
		if !ok {
			continue
		}
		switch v {
		case varTypo, varHomophone, varTraditional, varPinyin:
			nameDone = true
		case varIDSwap, varIDMissing, varID15:
			idDone = true
		}
		variants = append(variants, v)
	}
	res := c.record(id, f)
	idValue := c.IDNumber
	ids := []any{}
	for _, v := range variants {
		switch v {
		case varPinyin:
			sp := strings.IndexByte(pinyinName, ' ')
			res["name"] = []any{map[string]any{"use": "official", "text": pinyinName,
				"family": pinyinName[:sp], "given": []any{pinyinName[sp+1:]}}}
		case varIDMissing:
			idValue = ""
		case varIDSwap:
			idValue = swapDigits(rr, idValue)
		case varID15:
			idValue = idValue[:6] + idValue[8:17]
		}
	}
	if idValue != "" {
		ids = append(ids, residentIdentifier(idValue))
	}
	// Another facility does not know the household number; only exact copies
	// were registered with the health card.
	if len(variants) == 0 {
		ids = append(ids, healthCardIdentifier(c.healthCard()))
	}
	res["identifier"] = append(ids, mrnIdentifier(f, c.mrn()))
	return res, variants
}

// changeName applies a name variant to one character of the given name.
func changeName(rr *rand.Rand, name, v string) (string, bool) {
	family, given := splitName(name)
	rs := []rune(given)
	if v == varTraditional {
		changed := false
		var out []rune
		for _, c := range []rune(name) {
			if t, ok := traditional[c]; ok {
				out = append(out, []rune(t)...)
				changed = true
			} else {
				out = append(out, c)
			}
		}
		return string(out), changed
	}
	start := rr.IntN(len(rs))
	for k := range rs {
		i := (start + k) % len(rs)
		switch v {
		case varTypo:
			if t, ok := lookalikes[rs[i]]; ok {
				rs[i] = []rune(t)[0]
				return family + string(rs), true
			}
		case varHomophone:
			if g, ok := homophones[rs[i]]; ok {
				for {
					if c := g[rr.IntN(len(g))]; c != rs[i] {
						rs[i] = c
						return family + string(rs), true
					}
				}
			}
		}
	}
	return name, false
}

// swapDigits swaps two adjacent, different digits among the first 17.
func swapDigits(rr *rand.Rand, s string) string {
	b := []byte(s)
	start := rr.IntN(16)
	for k := 0; k < 16; k++ {
		i := (start + k) % 16
		if b[i] != b[i+1] {
			b[i], b[i+1] = b[i+1], b[i]
			return string(b)
		}
	}
	return s // all 17 digits equal: cannot happen for a valid number
}

// birthTypo swaps day and month when that gives another date, else moves the
// date by one day.
func birthTypo(rr *rand.Rand, r Resident) time.Time {
	y, m, d := r.BirthDate.Date()
	if d <= 12 && d != int(m) && rr.IntN(2) == 0 {
		return time.Date(y, time.Month(d), int(m), 0, 0, 0, 0, r.BirthDate.Location())
	}
	if rr.IntN(2) == 0 {
		return r.BirthDate.AddDate(0, 0, 1)
	}
	return r.BirthDate.AddDate(0, 0, -1)
}
