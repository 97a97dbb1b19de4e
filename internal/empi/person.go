package empi

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/idcard"
	"github.com/hip-platform/hip/internal/store"
)

// rebuild writes the golden Person records of persons from their members
// now; a person without members is deleted (its history stays).
func (ix *Index) rebuild(ctx context.Context, tx store.Tx, w store.MPIWriter, persons ...string) error {
	return ix.rebuildWith(ctx, tx, w, nil, persons...)
}

// rebuildWith is rebuild with the patients a person confirmed known
// (confirmed nil: read for each member).
func (ix *Index) rebuildWith(ctx context.Context, tx store.Tx, w store.MPIWriter, confirmed map[string]bool, persons ...string) error {
	for _, person := range persons {
		if person == "" {
			continue
		}
		members, err := w.MPIPerson(ctx, person)
		if err != nil {
			return err
		}
		if len(members) == 0 {
			if _, err := tx.Delete(ctx, "Person", person, store.Precondition{}); err != nil {
				return fmt.Errorf("empi: retire person %s: %w", person, err)
			}
			continue
		}
		es, err := decodeEntries(members)
		if err != nil {
			return err
		}
		known := confirmed
		if known == nil {
			known = map[string]bool{}
			for _, e := range es {
				pairs, err := w.MPIPairs(ctx, store.MPIPairQuery{Patient: e.Patient, Status: StatusLinked})
				if err != nil {
					return err
				}
				known[e.Patient] = len(pairs) > 0
			}
		}
		if _, _, err := tx.Put(ctx, golden(person, es, known), store.Precondition{}); err != nil {
			return fmt.Errorf("empi: write person %s: %w", person, err)
		}
	}
	return nil
}

// golden builds a person's golden record by the survivorship rules
// (docs/empi.md): the 身份证 number and health card most members carry; sex
// and birth date from that 身份证 number when it is valid, else the most
// common; the name of the latest member written in Chinese characters; the
// latest phone and address; a link to every member, at assurance level4 when
// a person confirmed it, level3 when the index linked it. Ties go to the
// latest record, then the smallest id, so the record is the same however
// often it is rebuilt.
func golden(person string, es []entry, confirmed map[string]bool) fhir.Resource {
	// Latest first: by when the source last updated the record, then by
	// when the index took it.
	es = slices.Clone(es)
	slices.SortFunc(es, func(a, b entry) int {
		if c := cmp.Compare(b.rec.Updated, a.rec.Updated); c != 0 {
			return c
		}
		if c := b.Updated.Compare(a.Updated); c != 0 {
			return c
		}
		return cmp.Compare(a.Patient, b.Patient)
	})
	res := fhir.Resource{"resourceType": "Person", "id": person, "active": true}
	var ids []any
	id := mostCommon(es, func(e entry) string {
		if e.p.idValid {
			return e.p.idNumber
		}
		return ""
	})
	if id != "" {
		ids = append(ids, map[string]any{"use": "official", "system": fhir.SystemResidentID, "value": id})
	}
	if card := mostCommon(es, func(e entry) string { return e.p.healthCard }); card != "" {
		ids = append(ids, map[string]any{"system": fhir.SystemHealthCard, "value": card})
	}
	if len(ids) > 0 {
		res["identifier"] = ids
	}
	if n := nameOf(es); n != nil {
		res["name"] = []any{n}
	}
	sex := mostCommon(es, func(e entry) string { return sexCode(e.p.sex) })
	birth := mostCommon(es, func(e entry) string { return e.p.birth })
	if parsed, err := idcard.Parse(id); err == nil {
		sex, birth = parsed.Sex, parsed.BirthDate.Format("20060102")
	}
	if sex != "" {
		res["gender"] = sex
	}
	if birth != "" {
		res["birthDate"] = birth[:4] + "-" + birth[4:6] + "-" + birth[6:]
	}
	for _, e := range es {
		if e.rec.Phone != "" {
			res["telecom"] = []any{map[string]any{"system": "phone", "value": e.rec.Phone, "use": "mobile"}}
			break
		}
	}
	for _, e := range es {
		if e.rec.Address == "" && e.rec.Division == "" {
			continue
		}
		a := map[string]any{"use": "home"}
		if e.rec.Address != "" {
			a["text"] = e.rec.Address
		}
		if e.rec.Postcode != "" {
			a["postalCode"] = e.rec.Postcode
		}
		if isDigits(e.rec.Division) {
			a["extension"] = []any{map[string]any{"url": fhir.ExtDivision,
				"valueCoding": map[string]any{"system": fhir.SystemDivision, "code": e.rec.Division}}}
		}
		res["address"] = []any{a}
		break
	}
	// Links in patient order, so that the record does not change with the
	// members' updates alone.
	byID := slices.Clone(es)
	slices.SortFunc(byID, func(a, b entry) int { return cmp.Compare(a.Patient, b.Patient) })
	links := make([]any, 0, len(byID))
	for _, e := range byID {
		level := "level3"
		if confirmed[e.Patient] {
			level = "level4"
		}
		links = append(links, map[string]any{"target": map[string]any{"reference": "Patient/" + e.Patient}, "assurance": level})
	}
	res["link"] = links
	return res
}

// mostCommon returns the value most entries have ("" values aside); ties go
// to the first entry's (es is latest first).
func mostCommon(es []entry, value func(entry) string) string {
	counts := map[string]int{}
	best, bestN := "", 0
	for _, e := range es {
		v := value(e)
		if v == "" {
			continue
		}
		counts[v]++
		if counts[v] > bestN {
			best, bestN = v, counts[v]
		}
	}
	return best
}

func sexCode(s byte) string {
	switch s {
	case 'M':
		return "male"
	case 'F':
		return "female"
	}
	return ""
}

// nameOf is the name of the latest member written in Chinese characters,
// else of the latest with a name, as a HumanName.
func nameOf(es []entry) map[string]any {
	pick := -1
	for i, e := range es {
		if e.p.family == "" && e.p.given == "" {
			continue
		}
		if pick < 0 {
			pick = i
		}
		if !isASCII(e.p.family + e.p.given) {
			pick = i
			break
		}
	}
	if pick < 0 {
		return nil
	}
	r := es[pick].rec
	family, given := strings.TrimSpace(r.Family), strings.TrimSpace(r.Given)
	text := strings.TrimSpace(r.Name)
	if family == "" && given == "" {
		family, given = es[pick].p.family, es[pick].p.given
	}
	if text == "" {
		sep := ""
		if isASCII(family + given) {
			sep = " "
		}
		text = strings.TrimSpace(family + sep + given)
	}
	n := map[string]any{"use": "official", "text": text}
	if family != "" {
		n["family"] = family
	}
	if given != "" {
		n["given"] = []any{given}
	}
	return n
}
