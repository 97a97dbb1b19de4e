package auth

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

// A regulator without a stated purpose reads patient data de-identified
// (pseudonymised): resource ids stay, so records of one patient can be
// linked and counted, but what names a person is removed — names,
// identifiers (ID numbers, health card and record numbers), contact details,
// street address, photo, narrative and free text, the day and month of
// birth — and no search may ask by them.

// identifyingParams are the search parameters that find a person by what
// names them; a de-identified search may not use them, directly or in a
// chain.
var identifyingParams = []string{
	"name", "family", "given", "name-pinyin", "phonetic", "identifier", "telecom", "phone", "email",
	"address", "address-postalcode", "birthdate", "death-date", "link", "_text", "_content",
}

// checkDeidentifiedQuery refuses a search that names an identifying
// parameter anywhere (a chain into Patient included).
func checkDeidentifiedQuery(q *search.Query) error {
	var check func(c *search.Condition) error
	check = func(c *search.Condition) error {
		switch {
		case c.Chain != nil:
			return check(&c.Chain.Condition)
		case c.Has != nil:
			return check(&c.Has.Condition)
		case c.Param != nil && slices.Contains(identifyingParams, c.Param.Code):
			return forbidden("a de-identified search may not ask by %s: state a purpose of use (%s) to search identified data",
				c.Param.Code, headerPurposeName)
		}
		return nil
	}
	for _, cl := range q.Clauses {
		for i := range cl.Conditions {
			if err := check(&cl.Conditions[i]); err != nil {
				return err
			}
		}
	}
	for _, k := range q.Sort {
		if slices.Contains(identifyingParams, k.Param.Code) {
			return forbidden("a de-identified search may not sort by %s", k.Param.Code)
		}
	}
	return nil
}

// personTypes are the resources about a person whose own fields name them.
var personTypes = []string{"Patient", "RelatedPerson", "Person"}

// deidentify rewrites a stored resource's body without what names a person.
// Directory resources are returned as they are.
func deidentify(res *store.Resource) error {
	if res.Body == nil || IsDirectory(res.Type) {
		return nil
	}
	doc, err := fhir.Parse(res.Body)
	if err != nil {
		return fmt.Errorf("auth: de-identify %s/%s: %w", res.Type, res.ID, err)
	}
	scrub(doc, slices.Contains(personTypes, res.Type))
	if slices.Contains(personTypes, res.Type) {
		for _, f := range []string{"birthDate", "deceasedDateTime"} {
			if v, ok := doc[f].(string); ok && len(v) >= 4 {
				doc[f] = v[:4] // the year alone
			}
		}
		if addrs, ok := doc["address"].([]any); ok {
			for _, a := range addrs {
				if m, ok := a.(map[string]any); ok {
					for _, f := range []string{"line", "text", "postalCode"} {
						delete(m, f)
					}
				}
			}
		}
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("auth: de-identify %s/%s: %w", res.Type, res.ID, err)
	}
	res.Body = body
	return nil
}

// removed are the fields dropped from every resource: narrative and free
// text that may name anyone, identifiers, contained resources.
var removed = []string{"text", "identifier", "contained", "note", "photo", "telecom", "name", "contact", "link"}

// scrub removes identifying fields throughout a resource: at its top those
// of removed (names, telecom, photo, contact and link only on persons), and
// at any depth the display texts of references to persons.
func scrub(m map[string]any, person bool) {
	for _, f := range removed {
		switch f {
		case "name", "telecom", "photo", "contact", "link":
			if !person {
				continue
			}
		}
		delete(m, f)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["reference"].(string); ok {
				for _, t := range personTypes {
					if strings.HasPrefix(ref, t+"/") || strings.Contains(ref, "/"+t+"/") {
						delete(x, "display")
						delete(x, "identifier")
					}
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(m)
}
