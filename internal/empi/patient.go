package empi

import (
	"slices"
	"strings"

	"github.com/hip-platform/hip/internal/fhir"
)

// Identifier systems read as a 身份证 number or a health card: HIP's own and
// the national OIDs (WS 363 / 卫生信息数据元).
var (
	residentIDSystems = []string{fhir.SystemResidentID, "urn:oid:2.16.156.10011.1.3"}
	healthCardSystems = []string{fhir.SystemHealthCard, "urn:oid:2.16.156.10011.1.19"}
)

// FromPatient reads the fields the index compares from a FHIR Patient: the
// official (else first) name, gender, birth date, 身份证 and health card
// identifiers, the first phone, and the home (else first) address with its
// GB/T 2260 division code and postcode. Source is the managing organization.
func FromPatient(p fhir.Resource) Record {
	r := Record{ID: p.ID(), Sex: str(p["gender"]), BirthDate: str(p["birthDate"])}
	if meta, ok := p["meta"].(map[string]any); ok {
		r.Updated = str(meta["lastUpdated"])
	}
	if org, ok := p["managingOrganization"].(map[string]any); ok {
		r.Source = strings.TrimPrefix(str(org["reference"]), "Organization/")
	}
	if n := pick(p["name"], "use", "official"); n != nil {
		r.Family = str(n["family"])
		if given, ok := n["given"].([]any); ok {
			parts := make([]string, 0, len(given))
			for _, g := range given {
				if s := str(g); s != "" {
					parts = append(parts, s)
				}
			}
			r.Given = strings.Join(parts, " ")
		}
		if r.Family == "" && r.Given == "" {
			r.Name = str(n["text"])
		}
	}
	ids, _ := p["identifier"].([]any)
	for _, x := range ids {
		id, _ := x.(map[string]any)
		system, value := str(id["system"]), str(id["value"])
		switch {
		case value == "":
		case r.IDNumber == "" && slices.Contains(residentIDSystems, system):
			r.IDNumber = value
		case r.HealthCard == "" && slices.Contains(healthCardSystems, system):
			r.HealthCard = value
		}
	}
	if t := pick(p["telecom"], "system", "phone"); t != nil && str(t["system"]) == "phone" {
		r.Phone = str(t["value"])
	}
	if a := pick(p["address"], "use", "home"); a != nil {
		r.Address = str(a["text"])
		if r.Address == "" {
			var parts []string
			for _, k := range []string{"state", "city", "district"} {
				parts = append(parts, str(a[k]))
			}
			if lines, ok := a["line"].([]any); ok {
				for _, l := range lines {
					parts = append(parts, str(l))
				}
			}
			r.Address = strings.Join(parts, "")
		}
		r.Postcode = str(a["postalCode"])
		exts, _ := a["extension"].([]any)
		for _, x := range exts {
			ext, _ := x.(map[string]any)
			if str(ext["url"]) != fhir.ExtDivision {
				continue
			}
			if c, ok := ext["valueCoding"].(map[string]any); ok {
				r.Division = str(c["code"])
			}
			if r.Division == "" {
				r.Division = str(ext["valueCode"])
			}
		}
	}
	return r
}

// pick returns the first element of a list whose key has the value wanted,
// else the first element.
func pick(list any, key, want string) map[string]any {
	items, _ := list.([]any)
	var first map[string]any
	for _, x := range items {
		m, ok := x.(map[string]any)
		if !ok {
			continue
		}
		if str(m[key]) == want {
			return m
		}
		if first == nil {
			first = m
		}
	}
	return first
}

func str(v any) string {
	s, _ := v.(string)
	return strings.TrimSpace(s)
}
