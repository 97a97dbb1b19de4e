package synth

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/idcard"
)

// population generates households until there are at least n residents.
// population builds households as Generate does, ID numbers made unique in order.
func population(rg *Region, seed uint64, n int) [][]*Resident {
	var hhs [][]*Resident
	ids := idRegistry{}
	for i, total := 0, 0; total < n; i++ {
		hh := newHousehold(rg, seed, i)
		for _, r := range hh {
			ids.assign(r)
		}
		hhs = append(hhs, hh)
		total += len(hh)
	}
	return hhs
}

func age(r *Resident) int {
	ref := refDate()
	a := ref.Year() - r.BirthDate.Year()
	if ref.YearDay() < r.BirthDate.YearDay() {
		a--
	}
	return a
}

func TestPyramidAndSexRatio(t *testing.T) {
	t.Parallel()
	rg := newRegion(11, 20000)
	var n, men int
	bands := map[string]float64{}
	for _, hh := range population(rg, 11, 20000) {
		for _, r := range hh {
			n++
			if r.Sex == "male" {
				men++
			}
			switch a := age(r); {
			case a < 15:
				bands["0-14"]++
			case a < 60:
				bands["15-59"]++
			default:
				bands["60+"]++
				if a >= 65 {
					bands["65+"]++
				}
			}
		}
	}
	// 2020 census, rural population (docs/synth.md).
	want := map[string]float64{"0-14": 19.0, "15-59": 57.19, "60+": 23.81, "65+": 17.72}
	for band, w := range want {
		if got := bands[band] * 100 / float64(n); got < w-3 || got > w+3 {
			t.Errorf("age %s: %.1f%%, want %.1f ± 3", band, got, w)
		}
	}
	if ratio := float64(men) * 100 / float64(n-men); ratio < 100 || ratio > 110 {
		t.Errorf("sex ratio %.1f, want 100–110", ratio)
	}
}

func TestResidentsCoherent(t *testing.T) {
	t.Parallel()
	rg := newRegion(5, 20000)
	counties := append([]string{countyCode}, neighbourCounties...)
	ids := map[string]bool{}
	single, people := 0, 0
	for _, hh := range population(rg, 5, 20000) {
		head := hh[0]
		if head.Relation != "head" {
			t.Fatalf("%s: first member is %s", head.ID, head.Relation)
		}
		var spouse *Resident
		for _, r := range hh {
			people++
			id, err := idcard.Parse(r.IDNumber)
			if err != nil {
				t.Fatalf("%s: %v", r.ID, err)
			}
			if id.Sex != r.Sex || id.BirthDate.Format(time.DateOnly) != r.BirthDate.Format(time.DateOnly) || !slices.Contains(counties, id.Division) {
				t.Errorf("%s: ID %s does not match sex %s, birth %s", r.ID, idcard.Mask(r.IDNumber), r.Sex, r.BirthDate.Format(time.DateOnly))
			}
			if ids[r.IDNumber] {
				t.Errorf("%s: ID number repeated within the sample", r.ID)
			}
			ids[r.IDNumber] = true
			_, given := splitName(r.Name)
			if len([]rune(given)) == 1 {
				single++
			}
			if (age(r) < 12) != (r.Phone == "") || (r.Phone != "" && len(r.Phone) != 11) {
				t.Errorf("%s aged %d: phone %q", r.ID, age(r), r.Phone)
			}
			if r.Home != rg.ClinicOf(r.Village) {
				t.Errorf("%s: home is not the village's clinic", r.ID)
			}
			switch r.Relation {
			case "spouse":
				spouse = r
				if d := age(r) - age(head); r.Sex == head.Sex || d < -5 || d > 5 {
					t.Errorf("%s: spouse %s aged %d, head %s aged %d", r.ID, r.Sex, age(r), head.Sex, age(head))
				}
			case "parent":
				if d := age(r) - age(head); d < 20 || d > 35 {
					t.Errorf("%s: parent %d years older than head", r.ID, d)
				}
			}
		}
		for _, r := range hh {
			if r.Relation == "child" {
				mother := spouse
				if head.Sex == "female" {
					mother = head
				}
				if d := age(mother) - age(r); d < 20 || d > 41 || age(head) <= age(r) {
					t.Errorf("%s: child aged %d, mother %d", r.ID, age(r), age(mother))
				}
			}
		}
	}
	if share := float64(single) / float64(people); share < 0.18 || share > 0.32 {
		t.Errorf("%.0f%% one-character given names, want about 25%%", share*100)
	}
}

func TestPatientsValid(t *testing.T) {
	t.Parallel()
	rg := newRegion(9, 5000)
	var res []fhir.Resource
	for _, hh := range population(rg, 9, 3000) {
		for _, r := range hh {
			res = append(res, r.patient())
		}
	}
	checkResources(t, res)
}

func TestDeterminism(t *testing.T) {
	t.Parallel()
	dump := func(seed uint64) string {
		rg := newRegion(seed, 5000)
		all := rg.resources()
		for _, hh := range population(rg, seed, 2000) {
			for _, r := range hh {
				all = append(all, r.patient())
				extra, _ := duplicates(rg, seed, r)
				all = append(all, extra...)
			}
		}
		b, err := json.Marshal(all)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	a, b, c := dump(42), dump(42), dump(43)
	if a != b {
		t.Error("the same seed gave different resources")
	}
	if a == c {
		t.Error("different seeds gave the same resources")
	}
}

func TestNameTablesRomanise(t *testing.T) {
	t.Parallel()
	if len(surnames) != 100 {
		t.Errorf("%d surnames, want 100", len(surnames))
	}
	var names []string
	names = append(names, surnames...)
	for _, e := range eras {
		for _, l := range [][]string{e.male1, e.male2, e.female1, e.female2} {
			names = append(names, l...)
		}
	}
	for _, n := range names {
		for _, c := range n {
			if _, ok := pinyin[c]; !ok {
				t.Errorf("no pinyin for %c", c)
			}
		}
	}
	for c, g := range homophones {
		for _, o := range g {
			if pinyin[o] != pinyin[c] || pinyin[c] == "" {
				t.Errorf("homophones %c (%s) and %c (%s) differ", c, pinyin[c], o, pinyin[o])
			}
		}
	}
	if got, _ := romanise("王晓明"); got != "Wang Xiaoming" {
		t.Errorf("romanise(王晓明) = %q", got)
	}
}

func BenchmarkHousehold(b *testing.B) {
	rg := newRegion(1, 1000000)
	resources := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, r := range newHousehold(rg, 1, i) {
			_ = r.patient()
			resources++
		}
	}
	b.ReportMetric(float64(resources)/b.Elapsed().Seconds(), "patients/s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "households/s")
}
