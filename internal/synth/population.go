package synth

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/idcard"
)

// ageBands is the age structure of China's rural population in the 2020 census,
// in 5-year bands (%; the last band is 85–100); docs/synth.md gives the sources
// and how the bands were derived. Households are composed so that, together,
// their members follow it.
var ageBands = [18]float64{5.6, 6.9, 6.5, 5.4, 4.2, 4.6, 6.0, 5.6, 5.4, 7.8, 9.0, 9.19,
	6.09, 7.0, 4.9, 3.1, 1.7, 1.02}

// drawAge draws an age in [lo, hi] following ageBands.
func drawAge(r *rand.Rand, lo, hi int) int {
	total := 0.0
	for a := lo; a <= hi; a++ {
		total += ageBands[min(a/5, 17)] / bandWidth(a)
	}
	x := r.Float64() * total
	for a := lo; a <= hi; a++ {
		x -= ageBands[min(a/5, 17)] / bandWidth(a)
		if x < 0 {
			return a
		}
	}
	return hi
}

func bandWidth(a int) float64 {
	if a >= 85 {
		return 16
	}
	return 5
}

// member is a household member being composed.
type member struct {
	relation, sex, surname string
	age                    int
}

// Household types and their shares, tuned so that the members' ages and sexes
// follow ageBands and a sex ratio of about 105 (tests check it).
const (
	hhElderSingle = iota
	hhElderCouple
	hhSkipGeneration // grandparents with grandchildren left behind (留守儿童)
	hhNuclear
	hhThreeGeneration
	hhCouple
	hhSingle
)

var householdShares = []float64{0.09, 0.15, 0.09, 0.32, 0.15, 0.12, 0.08}

func pickShare(r *rand.Rand, shares []float64) int {
	x := r.Float64()
	for i, s := range shares {
		x -= s
		if x < 0 {
			return i
		}
	}
	return len(shares) - 1
}

// childSex draws a sex at the birth sex ratio of about 111.
func childSex(r *rand.Rand) string {
	if r.Float64() < 111.0/211 {
		return "male"
	}
	return "female"
}

// compose draws the members of one household.
func compose(r *rand.Rand) []member {
	var ms []member
	couple := func(lo, hi int) (husband, wife int) {
		h := drawAge(r, lo, hi)
		w := max(lo-3, h-r.IntN(6)+1) // wife up to 4 years younger, or 1 older
		if w > h+5 {
			w = h + 5
		}
		ms = append(ms, member{"head", "male", pickSurname(r), h}, member{"spouse", "female", pickSurname(r), w})
		return h, w
	}
	children := func(relation string, mother, n, maxAge int) {
		used := map[int]bool{}
		for i := 0; i < n; i++ {
			a := mother - 20 - r.IntN(21) // born when the mother was 20–40
			if a < 0 || a > maxAge || used[a] {
				continue
			}
			used[a] = true
			surname := ms[0].surname
			if r.Float64() < 0.08 { // some children take the mother's surname
				surname = ms[1].surname
			}
			ms = append(ms, member{relation, childSex(r), surname, a})
		}
	}
	switch pickShare(r, householdShares) {
	case hhElderSingle:
		sex := "female" // most old people living alone are widows
		if r.Float64() < 0.45 {
			sex = "male"
		}
		ms = append(ms, member{"head", sex, pickSurname(r), drawAge(r, 62, 100)})
	case hhElderCouple:
		couple(60, 92)
	case hhSkipGeneration:
		_, w := couple(52, 75)
		// Grandchildren: the generation between works in the cities.
		for i := 0; i < 1+r.IntN(2); i++ {
			a := r.IntN(15)
			if w-a < 40 {
				continue
			}
			dup := false
			for _, m := range ms[2:] {
				dup = dup || m.age == a
			}
			if !dup {
				ms = append(ms, member{"other", childSex(r), ms[0].surname, a})
			}
		}
	case hhNuclear:
		_, w := couple(24, 52)
		children("child", w, 1+r.IntN(3), 30)
	case hhThreeGeneration:
		h, w := couple(24, 50)
		children("child", w, 1+r.IntN(2), 25)
		d := 20 + r.IntN(16) // the head's mother was 20–35 at his birth
		if h+d <= 100 {
			ms = append(ms, member{"parent", "female", pickSurname(r), h + d})
		}
		if f := h + min(35, d+r.IntN(5)); r.Float64() < 0.6 && f <= 100 {
			ms = append(ms, member{"parent", "male", ms[0].surname, f})
		}
	case hhCouple:
		couple(40, 66)
	default:
		sex := "male" // rural single adults are mostly men
		if r.Float64() < 0.2 {
			sex = "female"
		}
		ms = append(ms, member{"head", sex, pickSurname(r), drawAge(r, 22, 59)})
	}
	return ms
}

// mobilePrefixes are real Chinese mobile number prefixes; the rest of each
// number is random, so numbers are synthetic.
var mobilePrefixes = []string{"130", "131", "132", "133", "135", "136", "137", "138", "139",
	"150", "151", "152", "155", "156", "157", "158", "159", "180", "181", "182", "183", "186",
	"187", "188", "189", "191", "193", "195", "198", "199"}

func mobile(r *rand.Rand) string {
	b := make([]byte, 0, 11)
	b = append(b, mobilePrefixes[r.IntN(len(mobilePrefixes))]...)
	n := r.Uint32N(100000000)
	for d := 10000000; d > 0; d /= 10 {
		b = append(b, byte('0'+n/uint32(d)%10))
	}
	return string(b)
}

// birthDate is a day of year, from Jan 2 to Dec 31 so that the member has their
// age on the reference day. ID numbers drawn from it can repeat between
// households; Generate makes them unique in household order (idRegistry).
func birthDate(r *rand.Rand, year int) time.Time {
	return time.Date(year, 1, 1, 0, 0, 0, 0, cst).AddDate(0, 0, 1+r.IntN(364))
}

// householdID is the 户号 of household index: the county code and 8 digits.
func householdID(index int) string { return countyCode + pad(index, 8) }

// newHousehold builds household number index from stream ("household", index).
func newHousehold(rg *Region, seed uint64, index int) []*Resident {
	r := rng(seed, "household", uint64(index))
	village := pickVillage(rg, r)
	home := rg.ClinicOf(village)
	ms := compose(r)
	hh := householdID(index)
	house := strconv.Itoa(1+r.IntN(300)) + "号"
	ref := refDate()
	out := make([]*Resident, len(ms))
	for i, m := range ms {
		birth := birthDate(r, ref.Year()-1-m.age)
		division := countyCode
		if r.Float64() < 0.1 {
			division = neighbourCounties[r.IntN(len(neighbourCounties))]
		}
		res := &Resident{
			ID:        "pat-" + pad(index, 7) + "-" + strconv.Itoa(i+1),
			Household: hh,
			Relation:  m.relation,
			Name:      m.surname + pickGivenName(r, m.sex, birth.Year()),
			Sex:       m.sex,
			BirthDate: birth,
			IDNumber:  idcard.New(division, birth, m.sex, index%500),
			Address:   rg.Province.Name + rg.City.Name + rg.County.Name + village.Parent.Name + village.Name + house,
			Village:   village,
			Home:      home,
		}
		if m.age >= 12 {
			res.Phone = mobile(r)
		}
		out[i] = res
	}
	// Spouses and the head's parents are married (or widowed: not told apart),
	// and so is a head living with a spouse.
	for _, m := range out {
		if m.Relation == "spouse" {
			out[0].Married = true // members are composed head first
		}
		if m.Relation == "spouse" || m.Relation == "parent" {
			m.Married = true
		}
	}
	return out
}

var maritalStatus = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"

// patient is the resident's primary Patient record, at the home facility.
func (r *Resident) patient() fhir.Resource {
	return r.record(r.ID, r.Home)
}

// record is a Patient record of the resident with id at facility f.
func (r *Resident) record(id string, f *Facility) fhir.Resource {
	family, given := splitName(r.Name)
	town := r.Village.Parent
	county := town.Parent
	ids := []any{residentIdentifier(r.IDNumber), healthCardIdentifier(r.healthCard()),
		mrnIdentifier(f, r.mrn()), map[string]any{"system": fhir.SystemHousehold, "value": r.Household}}
	p := fhir.Resource{"resourceType": "Patient", "id": id, "active": true,
		"identifier": ids,
		"name":       []any{map[string]any{"use": "official", "text": r.Name, "family": family, "given": []any{given}}},
		"gender":     r.Sex,
		"birthDate":  r.BirthDate.Format(time.DateOnly),
		"address": []any{map[string]any{
			"extension": []any{map[string]any{"url": fhir.ExtDivision,
				"valueCoding": coding(fhir.SystemDivision, r.Village.Code, r.Village.Name)}},
			"use": "home", "type": "physical", "text": r.Address,
			"line":     []any{town.Name, r.Village.Name, r.house()},
			"district": county.Name, "city": county.Parent.Name, "state": county.Parent.Parent.Name, "country": "CN"}},
		"managingOrganization": refDisplay("Organization", f.ID, f.Name),
	}
	if r.Phone != "" {
		p["telecom"] = []any{map[string]any{"system": "phone", "value": r.Phone, "use": "mobile"}}
	}
	if r.Married {
		p["maritalStatus"] = concept(maritalStatus, "M", "Married")
	}
	return p
}

func residentIdentifier(value string) map[string]any {
	return map[string]any{"use": "official", "system": fhir.SystemResidentID, "value": value,
		"type": map[string]any{"coding": []any{coding(v2IdentifierType, "NI", "National unique individual identifier")}, "text": "居民身份证"}}
}

func healthCardIdentifier(value string) map[string]any {
	return map[string]any{"system": fhir.SystemHealthCard, "value": value,
		"type": map[string]any{"coding": []any{coding(v2IdentifierType, "HC", "Health Card Number")}, "text": "居民电子健康卡"}}
}

func mrnIdentifier(f *Facility, value string) map[string]any {
	return map[string]any{"use": "usual", "system": fhir.SystemMRNPrefix + f.ID, "value": value,
		"type": map[string]any{"coding": []any{coding(v2IdentifierType, "MR", "Medical record number")}, "text": "病案号"}}
}

const v2IdentifierType = "http://terminology.hl7.org/CodeSystem/v2-0203"

// house is the house number, the part of the address after the village name.
func (r *Resident) house() string {
	i := strings.LastIndex(r.Address, r.Village.Name)
	return r.Address[i+len(r.Village.Name):]
}

// mrn is the resident's local record number at a facility: household and member
// digits, unique within each facility.
func (r *Resident) mrn() string {
	b := make([]byte, 0, 9)
	for i := len("pat-"); i < len(r.ID); i++ {
		if c := r.ID[i]; c >= '0' && c <= '9' {
			b = append(b, c)
		}
	}
	return string(b)
}

// healthCard is the 电子健康卡 number: "E", the county code, and the MRN digits.
func (r *Resident) healthCard() string { return "E" + countyCode + r.mrn() }
