package synth

import (
	"strings"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/idcard"
)

func TestDuplicates(t *testing.T) {
	t.Parallel()
	rg := newRegion(21, 20000)
	people, chosen, exact := 0, 0, 0
	byVariant := map[string]int{}
	var res []fhir.Resource
	for _, hh := range population(rg, 21, 20000) {
		for _, r := range hh {
			people++
			extra, set := duplicates(rg, 21, r)
			if set == nil {
				if extra != nil {
					t.Fatalf("%s: resources without a set", r.ID)
				}
				continue
			}
			chosen++
			if len(set.Records) != len(extra) || len(extra) < 1 || len(extra) > 3 {
				t.Fatalf("%s: %d records, %d resources", r.ID, len(set.Records), len(extra))
			}
			res = append(res, extra...)
			for i, rec := range set.Records {
				if rec.Facility == r.Home.ID {
					t.Errorf("%s: duplicate at the home facility", rec.Patient)
				}
				if len(rec.Variants) == 0 {
					exact++
				}
				for _, v := range rec.Variants {
					byVariant[v]++
				}
				checkVariants(t, r, extra[i], rec)
			}
		}
	}
	if rate := float64(chosen) / float64(people); rate < 0.065 || rate > 0.095 {
		t.Errorf("%.1f%% of residents have duplicates, want 8 ± 1.5", rate*100)
	}
	for _, v := range variantNames {
		if byVariant[v] == 0 {
			t.Errorf("variant %s never occurs", v)
		}
	}
	if exact == 0 {
		t.Error("no exact copies")
	}
	checkResources(t, res)
}

// checkVariants checks that a record differs from the resident as it says.
func checkVariants(t *testing.T, r *Resident, res fhir.Resource, rec DuplicateRecord) {
	t.Helper()
	has := map[string]bool{}
	for _, v := range rec.Variants {
		has[v] = true
	}
	name := res["name"].([]any)[0].(map[string]any)["text"].(string)
	idValue := ""
	for _, x := range res["identifier"].([]any) {
		if m := x.(map[string]any); m["system"] == fhir.SystemResidentID {
			idValue = m["value"].(string)
		}
	}
	phone := ""
	if tel, ok := res["telecom"].([]any); ok {
		phone = tel[0].(map[string]any)["value"].(string)
	}
	if res["gender"] != r.Sex {
		t.Errorf("%s: sex changed", rec.Patient)
	}
	nameVariant := has[varTypo] || has[varHomophone] || has[varPinyin] || has[varTraditional]
	if (name != r.Name) != nameVariant {
		t.Errorf("%s: name %q vs %q with variants %v", rec.Patient, name, r.Name, rec.Variants)
	}
	switch {
	case has[varPinyin]:
		if p, _ := romanise(r.Name); name != p {
			t.Errorf("%s: pinyin name %q, want %q", rec.Patient, name, p)
		}
	case has[varTypo], has[varHomophone]:
		a, b := []rune(name), []rune(r.Name)
		diff := 0
		for i := range b {
			if i < len(a) && a[i] != b[i] {
				diff++
				if has[varHomophone] && pinyin[a[i]] != pinyin[b[i]] {
					t.Errorf("%s: %c is not a homophone of %c", rec.Patient, a[i], b[i])
				}
			}
		}
		if len(a) != len(b) || diff != 1 || a[0] != b[0] {
			t.Errorf("%s: %q is not %q with one given-name character changed", rec.Patient, name, r.Name)
		}
	}
	switch {
	case has[varIDMissing]:
		if idValue != "" {
			t.Errorf("%s: ID present", rec.Patient)
		}
	case has[varID15]:
		if up, err := idcard.Upgrade15(idValue); err != nil || up != r.IDNumber {
			t.Errorf("%s: 15-digit ID does not upgrade to the resident's", rec.Patient)
		}
	case has[varIDSwap]:
		if idValue == r.IDNumber || len(idValue) != 18 || idValue[17] != r.IDNumber[17] || strings.Count(diffMask(idValue, r.IDNumber), "x") != 2 {
			t.Errorf("%s: ID is not the resident's with two adjacent digits swapped", rec.Patient)
		}
	default:
		if idValue != r.IDNumber {
			t.Errorf("%s: ID differs without a variant", rec.Patient)
		}
	}
	if (phone != r.Phone) != has[varPhone] {
		t.Errorf("%s: phone changed = %v, variants %v", rec.Patient, phone != r.Phone, rec.Variants)
	}
	birth, _ := time.Parse(time.DateOnly, res["birthDate"].(string))
	if (birth.Format(time.DateOnly) != r.BirthDate.Format(time.DateOnly)) != has[varBirthTypo] {
		t.Errorf("%s: birth date %s vs %s, variants %v", rec.Patient, res["birthDate"], r.BirthDate.Format(time.DateOnly), rec.Variants)
	}
}

// diffMask marks the positions where a and b differ with x.
func diffMask(a, b string) string {
	m := []byte(strings.Repeat(".", len(a)))
	for i := range m {
		if a[i] != b[i] {
			m[i] = 'x'
		}
	}
	return string(m)
}
