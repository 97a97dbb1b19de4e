package synth

import (
	"regexp"
	"sync"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/uscc"
)

var (
	validatorOnce sync.Once
	validator     *validate.Validator
)

// testValidator is HIP's validator over the embedded R4 definitions, built once.
func testValidator(t testing.TB) *validate.Validator {
	validatorOnce.Do(func() {
		defs, err := spec.Load()
		if err != nil {
			t.Fatal(err)
		}
		validator = validate.New(defs)
	})
	return validator
}

var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-\.]{1,64}$`)

// checkResources validates every resource and checks ids are valid and unique.
func checkResources(t *testing.T, res []fhir.Resource) {
	t.Helper()
	v := testValidator(t)
	seen := map[string]bool{}
	for _, r := range res {
		key := r.Type() + "/" + r.ID()
		if !fhirID.MatchString(r.ID()) || seen[key] {
			t.Errorf("%s: invalid or repeated id", key)
		}
		seen[key] = true
		if err := v.Resource(r); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
}

func TestRegionScale(t *testing.T) {
	t.Parallel()
	tests := []struct {
		residents                  int
		minTowns, maxTowns         int
		minVillages, maxVillages   int
		hospitalLevel              string
		minDoctorsPer1000, maxDocs float64
	}{
		{5000, 3, 3, 8, 12, "二级", 1, 12},
		{100000, 3, 3, 40, 75, "二级", 2, 4.5},
		{1000000, 28, 34, 420, 700, "三级", 2, 4},
	}
	for _, tt := range tests {
		rg := newRegion(1, tt.residents)
		if n := len(rg.Townships); n < tt.minTowns || n > tt.maxTowns {
			t.Errorf("%d residents: %d townships, want %d–%d", tt.residents, n, tt.minTowns, tt.maxTowns)
		}
		if n := len(rg.Villages); n < tt.minVillages || n > tt.maxVillages {
			t.Errorf("%d residents: %d villages, want %d–%d", tt.residents, n, tt.minVillages, tt.maxVillages)
		}
		if l := rg.FacilitiesOf(CountyHospital)[0].Level; l != tt.hospitalLevel {
			t.Errorf("%d residents: county hospital level %s, want %s", tt.residents, l, tt.hospitalLevel)
		}
		doctors := 0
		for _, f := range rg.Facilities {
			for _, p := range f.Practitioners {
				if p.Role == "doctor" {
					doctors++
				}
			}
		}
		if per := float64(doctors) * 1000 / float64(tt.residents); per < tt.minDoctorsPer1000 || per > tt.maxDocs {
			t.Errorf("%d residents: %.2f doctors per 1,000, want %.1f–%.1f", tt.residents, per, tt.minDoctorsPer1000, tt.maxDocs)
		}
		if n, want := len(rg.FacilitiesOf(Pharmacy)), max(2, tt.residents/3000); n != want {
			t.Errorf("%d residents: %d pharmacies, want %d", tt.residents, n, want)
		}
		for _, v := range rg.Villages {
			if len(v.Code) != 12 || v.Code[:9] != v.Parent.Code || rg.ClinicOf(v) == nil {
				t.Errorf("village %s %s: bad code or no clinic", v.Code, v.Name)
			}
		}
		for _, tw := range rg.Townships {
			if len(tw.Code) != 9 || tw.Code[:6] != countyCode || rg.CentreOf(tw) == nil {
				t.Errorf("township %s %s: bad code or no centre", tw.Code, tw.Name)
			}
		}
	}
}

func TestRegionResourcesValid(t *testing.T) {
	t.Parallel()
	res := newRegion(7, 50000).resources()
	checkResources(t, res)
	counts := map[string]int{}
	for _, r := range res {
		counts[r.Type()]++
	}
	for _, typ := range []string{"Organization", "Location", "HealthcareService", "Practitioner", "PractitionerRole"} {
		if counts[typ] == 0 {
			t.Errorf("no %s", typ)
		}
	}
	found := false
	for _, r := range res {
		found = found || (r.Type() == "Organization" && r.ID() == PayerID)
	}
	if !found {
		t.Errorf("no payer Organization %s", PayerID)
	}
}

func TestLicenceNumbers(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, f := range newRegion(3, 200000).Facilities {
		for _, p := range f.Practitioners {
			if len(p.LicenseNo) != 15 || p.LicenseNo[5:11] != countyCode || seen[p.LicenseNo] {
				t.Errorf("%s: licence %q malformed or repeated", p.ID, p.LicenseNo)
			}
			seen[p.LicenseNo] = true
		}
	}
}

// Every Organization of even a large region has its own valid 统一社会信用代码
// of the county, with the authority and type of its kind.
func TestUSCCUnique(t *testing.T) {
	t.Parallel()
	rg := newRegion(1, 1000000)
	want := map[string]string{commissionID: "11", PayerID: "11", distributorID: "91"}
	for _, f := range rg.Facilities {
		want[f.ID] = usccKind(f)
	}
	if len(rg.uscc) != len(want) {
		t.Errorf("%d codes issued for %d Organizations", len(rg.uscc), len(want))
	}
	seen := map[string]string{}
	for id, kind := range want {
		code := rg.uscc[id]
		if !uscc.Valid(code) || code[:2] != kind || code[2:8] != countyCode {
			t.Errorf("%s: 统一社会信用代码 %q, want a valid code starting %s%s", id, code, kind, countyCode)
		}
		if other, dup := seen[code]; dup {
			t.Errorf("%s and %s share %s", id, other, code)
		}
		seen[code] = id
	}
}
