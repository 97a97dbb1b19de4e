package storetest

import (
	"slices"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

const facilitySystem = "urn:test:facility"

// testAccess checks that a search's Access limits everything it reads: the
// matches, chain targets, _has referrers and included resources, on the
// data of two facilities, A and B.
func testAccess(t *testing.T, s store.Store) {
	tagged := func(res fhir.Resource, facility string) fhir.Resource {
		res["meta"] = map[string]any{"tag": []any{map[string]any{"system": facilitySystem, "code": facility}}}
		return res
	}
	obs := func(id, patient, facility string) fhir.Resource {
		return tagged(fhir.Resource{"resourceType": "Observation", "id": id, "status": "final",
			"code":    map[string]any{"coding": []any{map[string]any{"system": "urn:test", "code": "x"}}},
			"subject": map[string]any{"reference": "Patient/" + patient}}, facility)
	}
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		for _, res := range []fhir.Resource{
			tagged(fhir.Resource{"resourceType": "Patient", "id": "acc-p1", "name": []any{map[string]any{"family": "Alpha"}}}, "A"),
			tagged(fhir.Resource{"resourceType": "Patient", "id": "acc-p2", "name": []any{map[string]any{"family": "Beta"}}}, "B"),
			obs("acc-o1", "acc-p1", "A"),
			obs("acc-o2", "acc-p2", "B"),
			obs("acc-o3", "acc-p2", "A"), // facility A saw patient 2 once
		} {
			if _, _, err := tx.Put(t.Context(), res, store.Precondition{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	clauses := func(typ, params string) []search.Clause { return Query(t, typ, params).Clauses }
	facilityA := &search.Access{Others: true, Default: clauses("Observation", "_tag="+facilitySystem+"|A")}
	observationsOnly := &search.Access{Types: map[string][]search.Clause{"Observation": facilityA.Default}}
	patient1 := &search.Access{Types: map[string][]search.Clause{
		"Patient":     clauses("Patient", "_id=acc-p1"),
		"Observation": clauses("Observation", "patient=Patient/acc-p1"),
	}}
	// Consent: patient 1's records are withheld from B, but for what B wrote.
	withheld := func(typ, who string) []search.Clause {
		return []search.Clause{{Conditions: []search.Condition{{None: append(clauses(typ, who),
			clauses(typ, "_tag:not="+facilitySystem+"|B")...)}}}}
	}
	consentB := &search.Access{Types: map[string][]search.Clause{
		"Observation": withheld("Observation", "patient=Patient/acc-p1"),
		"Patient":     withheld("Patient", "_id=acc-p1"),
	}}
	for _, tc := range []struct {
		name         string
		access       *search.Access
		typ, params  string
		want, incl   []string
		forbidden    bool
		total, count int
	}{
		{"matches", facilityA, "Observation", "code=urn:test|x", []string{"Observation/acc-o1", "Observation/acc-o3"}, nil, false, 0, 0},
		{"total", facilityA, "Observation", "code=urn:test|x&_total=accurate", []string{"Observation/acc-o1", "Observation/acc-o3"}, nil, false, 2, 0},
		{"chain to a readable target", facilityA, "Observation", "subject:Patient.name=Alpha", []string{"Observation/acc-o1"}, nil, false, 0, 0},
		// Patient 2 is B's: a chain through them must not tell that o3's
		// subject is called Beta.
		{"chain to a hidden target", facilityA, "Observation", "subject:Patient.name=Beta", nil, nil, false, 0, 0},
		{"chain probed", facilityA, "Observation", "_id=acc-o3&subject:Patient.name=Beta", nil, nil, false, 0, 0},
		{"_has probed", &search.Access{Others: true, Default: clauses("Patient", "_tag="+facilitySystem+"|B")}, "Patient",
			"_id=acc-p2&_has:Observation:subject:code=urn:test|x", []string{"Patient/acc-p2"}, nil, false, 0, 0},
		{"_has probed through a hidden referrer", facilityA, "Patient", "_id=acc-p1&_has:Observation:subject:code=urn:test|x",
			[]string{"Patient/acc-p1"}, nil, false, 0, 0},
		{"chain driving", facilityA, "Observation", "subject:Patient.name=Beta&_sort=_id", nil, nil, false, 0, 0},
		{"_has through a hidden referrer", facilityA, "Patient", "_has:Observation:subject:code=urn:test|x", []string{"Patient/acc-p1"}, nil, false, 0, 0},
		{"_has over B's patient", &search.Access{Others: true, Default: clauses("Patient", "_tag="+facilitySystem+"|B")}, "Patient",
			"_has:Observation:subject:code=urn:test|x", []string{"Patient/acc-p2"}, nil, false, 0, 0},
		{"include", facilityA, "Observation", "code=urn:test|x&_include=Observation:subject",
			[]string{"Observation/acc-o1", "Observation/acc-o3"}, []string{"Patient/acc-p1"}, false, 0, 0},
		{"revinclude", facilityA, "Patient", "_revinclude=Observation:subject", []string{"Patient/acc-p1"}, []string{"Observation/acc-o1"}, false, 0, 0},
		{"wildcard revinclude", facilityA, "Patient", "_revinclude=*", []string{"Patient/acc-p1"}, []string{"Observation/acc-o1"}, false, 0, 0},
		{"system search", facilityA, "", "_type=Patient,Observation&_sort=_id",
			[]string{"Observation/acc-o1", "Observation/acc-o3", "Patient/acc-p1"}, nil, false, 0, 0},
		{"all types, some limited", &search.Access{Types: map[string][]search.Clause{"Patient": patient1.Types["Patient"]},
			Others: true, Default: facilityA.Default}, "", "_sort=_id&_total=accurate",
			[]string{"Observation/acc-o1", "Observation/acc-o3", "Patient/acc-p1"}, nil, false, 3, 0},
		{"consent withholds", consentB, "Observation", "_sort=_id", []string{"Observation/acc-o2", "Observation/acc-o3"}, nil, false, 0, 0},
		{"consent withholds the patient", consentB, "Patient", "_revinclude=Observation:subject", []string{"Patient/acc-p2"},
			[]string{"Observation/acc-o2", "Observation/acc-o3"}, false, 0, 0},
		{"consent in a chain", consentB, "Observation", "subject:Patient.name=Alpha", nil, nil, false, 0, 0},
		{"unreadable type", observationsOnly, "Patient", "", nil, nil, true, 0, 0},
		{"chain into an unreadable type", observationsOnly, "Observation", "subject:Patient.name=Alpha", nil, nil, true, 0, 0},
		{"_has from an unreadable type", &search.Access{Types: map[string][]search.Clause{"Patient": nil}}, "Patient",
			"_has:Observation:subject:code=urn:test|x", nil, nil, true, 0, 0},
		{"include of an unreadable type", observationsOnly, "Observation", "_include=Observation:subject",
			[]string{"Observation/acc-o1", "Observation/acc-o3"}, nil, false, 0, 0},
		{"per-type limits", patient1, "Observation", "_include=Observation:subject",
			[]string{"Observation/acc-o1"}, []string{"Patient/acc-p1"}, false, 0, 0},
		{"per-type limits revinclude", patient1, "Patient", "_revinclude=Observation:subject",
			[]string{"Patient/acc-p1"}, []string{"Observation/acc-o1"}, false, 0, 0},
		{"types with different limits together", patient1, "", "_type=Patient,Observation&_total=accurate",
			[]string{"Observation/acc-o1", "Patient/acc-p1"}, nil, false, 2, 0},
		{"every readable type", patient1, "", "_sort=_id", []string{"Observation/acc-o1", "Patient/acc-p1"}, nil, false, 0, 0},
		{"every type, some limited", &search.Access{Types: map[string][]search.Clause{"Patient": patient1.Types["Patient"]},
			Others: true, Default: facilityA.Default}, "", "_type=Patient,Observation&_sort=_id",
			[]string{"Observation/acc-o1", "Observation/acc-o3", "Patient/acc-p1"}, nil, false, 0, 0},
		{"system search narrowed to readable types", observationsOnly, "", "_sort=_id", []string{"Observation/acc-o1", "Observation/acc-o3"}, nil, false, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := Query(t, tc.typ, tc.params)
			q.Access = tc.access
			page, err := s.Search(t.Context(), q)
			if tc.forbidden {
				wantCode(t, err, fhir.Forbidden)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := keys(page)
			var incl []string
			for _, r := range page.Included {
				incl = append(incl, r.Type+"/"+r.ID)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) || !slices.Equal(incl, tc.incl) {
				t.Errorf("matches %v included %v, want %v and %v", got, incl, tc.want, tc.incl)
			}
			if tc.total > 0 && page.Total != tc.total {
				t.Errorf("total %d, want %d", page.Total, tc.total)
			}
		})
	}
}
