package synth

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/fhir/validate"
)

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, k := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			if a, ok := v.([]any); ok && len(a) > 0 {
				mm, _ = a[0].(map[string]any)
			}
		}
		v = mm[k]
	}
	if a, ok := v.([]any); ok && len(a) > 0 {
		v = a[0]
	}
	s, _ := v.(string)
	return s
}

func code(cc any) string {
	m, _ := cc.(map[string]any)
	return str(m, "coding", "code")
}

func refID(r any) string {
	m, _ := r.(map[string]any)
	s := str(m, "reference")
	return s[strings.IndexByte(s, '/')+1:]
}

func day(s string) time.Time {
	t, err := time.ParseInLocation(time.DateOnly, s[:10], cst)
	if err != nil {
		panic(err)
	}
	return t
}

func TestCareValidDeterministic(t *testing.T) {
	t.Parallel()
	a, b := runCare(t, 7, 2000), runCare(t, 7, 2000)
	defs, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	v := validate.New(defs)
	if len(a.resources) != len(b.resources) {
		t.Fatalf("same seed: %d vs %d resources", len(a.resources), len(b.resources))
	}
	bad := 0
	for i, r := range a.resources {
		ja, _ := json.Marshal(r)
		jb, _ := json.Marshal(b.resources[i])
		if !bytes.Equal(ja, jb) {
			t.Fatalf("resource %d differs:\n%s\n%s", i, ja, jb)
		}
		if err := v.Resource(r); err != nil && bad < 10 {
			bad++
			t.Errorf("%s/%s invalid: %v\n%s", r.Type(), r.ID(), err, ja)
		}
		if id := r.ID(); len(id) > 64 {
			t.Errorf("id too long: %s", id)
		}
	}
	ta, _ := json.Marshal(a.truth)
	tb, _ := json.Marshal(b.truth)
	if !bytes.Equal(ta, tb) {
		t.Error("same seed, different truth")
	}
}

// TestCareRates checks the epidemiology of a 20,000-resident county against
// the published figures, with the tolerances of docs/synth-care.md.
func TestCareRates(t *testing.T) {
	t.Parallel()
	run := runCare(t, 11, 20000)
	start := run.plan.cfg.Start
	adults, htn, dm := 0, map[string]bool{}, map[string]bool{}
	for _, r := range run.residents {
		if ageAt(r.BirthDate, start) >= 18 {
			adults++
		}
	}
	amb, imp, winter, summer := 0, 0, 0, 0
	followUps := map[string]int{} // patient → follow-up encounters
	chronicOnset := map[string]time.Time{}
	encCond := map[string]string{}
	for _, r := range run.resources {
		switch r.Type() {
		case "Condition":
			pat := refID(r["subject"])
			switch code(r["code"]) {
			case "I10.x00":
				htn[pat] = true
			case "E11.900":
				dm[pat] = true
			}
			if c := code(r["code"]); c == "I10.x00" || c == "E11.900" {
				on := day(r["onsetDateTime"].(string))
				if o, ok := chronicOnset[pat]; !ok || on.Before(o) {
					chronicOnset[pat] = on
				}
			}
			if e, ok := r["encounter"]; ok {
				encCond[refID(e)] = code(r["code"])
			}
		}
	}
	for _, r := range run.resources {
		if r.Type() != "Encounter" {
			continue
		}
		class := r["class"].(map[string]any)["code"]
		if class == "IMP" {
			imp++
			continue
		}
		amb++
		if _, ok := r["type"]; ok {
			followUps[refID(r["subject"])]++
		}
		c := encCond[r.ID()]
		if !strings.HasPrefix(c, "J") {
			continue
		}
		switch day(str(r, "period", "start")).Month() {
		case time.December, time.January, time.February:
			winter++
		case time.June, time.July, time.August:
			summer++
		}
	}
	adultRate := func(m map[string]bool) float64 {
		n := 0
		for id := range m {
			if ageAt(run.residents[id].BirthDate, start) >= 18 {
				n++
			}
		}
		return float64(n) / float64(adults)
	}
	people := float64(run.people)
	tests := []struct {
		name     string
		got      float64
		min, max float64
	}{
		{"adult hypertension prevalence", adultRate(htn), 0.25, 0.30},
		{"adult diabetes prevalence", adultRate(dm), 0.10, 0.12},
		{"admissions per 100 per year", 100 * float64(imp) / people, 12, 24},
		{"outpatient visits per person per year", float64(amb) / people, 4, 8},
		{"respiratory Dec–Feb / Jun–Aug", float64(winter) / float64(summer), 1.5, 3},
	}
	for _, tc := range tests {
		if tc.got < tc.min || tc.got > tc.max {
			t.Errorf("%s = %.3f, want %.2f–%.2f", tc.name, tc.got, tc.min, tc.max)
		} else {
			t.Logf("%s = %.3f", tc.name, tc.got)
		}
	}
	// Quarterly follow-ups: a patient diagnosed before the period has one each
	// quarter.
	for pat, on := range chronicOnset {
		if on.Before(start) && followUps[pat] != 4 {
			t.Errorf("%s: %d follow-ups, want 4", pat, followUps[pat])
			break
		}
	}
}

func TestImmunizationSchedule(t *testing.T) {
	t.Parallel()
	cfg := Config{Seed: 3, Residents: 10, Years: 2}.withDefaults()
	rg := newRegion(3, 10)
	p := newPlan(rg, cfg)
	hh := newHousehold(rg, 3, 0)
	baby := *hh[0]
	baby.ID = "pat-newborn"
	baby.BirthDate = time.Date(2025, 1, 10, 0, 0, 0, 0, cst)
	res, _ := p.care([]*Resident{&baby}, 3, 0)
	type key struct {
		code string
		n    int
	}
	given := map[key]time.Time{}
	for _, r := range res {
		if r.Type() != "Immunization" {
			continue
		}
		n := int(r["protocolApplied"].([]any)[0].(map[string]any)["doseNumberPositiveInt"].(int))
		given[key{code(r["vaccineCode"]), n}] = day(r["occurrenceDateTime"].(string))
	}
	want := 0
	for _, d := range schedule() {
		due := baby.BirthDate.AddDate(0, d.months, 0)
		if !due.Before(cfg.End().AddDate(0, 0, -15)) {
			continue
		}
		want++
		got, ok := given[key{d.code, d.number}]
		if !ok {
			t.Errorf("%s dose %d (due %s) missing", d.name, d.number, due.Format(time.DateOnly))
			continue
		}
		if got.Before(due) || got.After(due.AddDate(0, 0, 14)) {
			t.Errorf("%s dose %d given %s, due %s", d.name, d.number, got.Format(time.DateOnly), due.Format(time.DateOnly))
		}
	}
	if want != 17 || len(given) != want {
		t.Errorf("%d doses given, %d due in the first two years less a fortnight (want 17)", len(given), want)
	}
}

// TestGroundTruth checks that every manifest entry is in the output and shows
// its pattern.
func TestGroundTruth(t *testing.T) {
	t.Parallel()
	run := runCare(t, 5, 20000)
	get := func(typ, id string) fhir.Resource {
		r := run.byID[typ+"/"+id]
		if r == nil {
			t.Fatalf("%s/%s in the manifest is not in the output", typ, id)
		}
		return r
	}
	encDiag := func(claim fhir.Resource) (fhir.Resource, string) {
		item := claim["item"].([]any)[0].(map[string]any)
		enc := get("Encounter", refID(item["encounter"].([]any)[0]))
		cond := get("Condition", refID(enc["diagnosis"].([]any)[0].(map[string]any)["condition"]))
		return enc, code(cond["code"])
	}
	itemCodes := func(claim fhir.Resource) []string {
		var out []string
		for _, it := range claim["item"].([]any) {
			out = append(out, code(it.(map[string]any)["productOrService"]))
		}
		return out
	}
	restricted := map[string]*item{}
	for _, it := range run.plan.items {
		restricted[it.code] = it
	}
	patterns := map[string]int{}
	for _, fc := range run.truth.Fraud {
		patterns[fc.Pattern]++
		pat := run.residents[fc.Patient]
		c0 := get("Claim", fc.Claims[0])
		if refID(c0["patient"]) != fc.Patient {
			t.Errorf("%s: claim of another patient", fc.Pattern)
		}
		switch fc.Pattern {
		case "split-admission":
			c1 := get("Claim", fc.Claims[1])
			e0, d0 := encDiag(c0)
			e1, d1 := encDiag(c1)
			gap := day(str(e1, "period", "start")).Sub(day(str(e0, "period", "end")))
			if d0 != d1 || refID(e0["serviceProvider"]) != refID(e1["serviceProvider"]) || gap > 15*24*time.Hour || gap < 0 {
				t.Errorf("split-admission %v: %s/%s, gap %v", fc.Claims, d0, d1, gap)
			}
		case "duplicate-charge":
			codes := itemCodes(c0)
			dup := false
			seen := map[string]bool{}
			for _, c := range codes {
				dup = dup || seen[c]
				seen[c] = true
			}
			if len(fc.Claims) == 2 {
				a, _ := json.Marshal(c0["item"])
				b, _ := json.Marshal(get("Claim", fc.Claims[1])["item"])
				dup = bytes.Equal(a, b)
			}
			if !dup {
				t.Errorf("duplicate-charge %v: no duplicate", fc.Claims)
			}
		case "sex-restricted", "age-restricted":
			ok := false
			for _, c := range itemCodes(c0) {
				it := restricted[c]
				if it == nil {
					continue
				}
				ok = ok || it.sex != "" && it.sex != pat.Sex ||
					it.maxAge > 0 && ageAt(pat.BirthDate, day(c0["created"].(string))) >= it.maxAge
			}
			if !ok {
				t.Errorf("%s %v: no restricted item misused", fc.Pattern, fc.Claims)
			}
		case "upcoding":
			_, real := encDiag(c0)
			if billed := code(c0["diagnosis"].([]any)[0].(map[string]any)["diagnosisCodeableConcept"]); billed == real {
				t.Errorf("upcoding %v: billed %s = encounter diagnosis", fc.Claims, billed)
			}
		default:
			t.Errorf("unknown pattern %q", fc.Pattern)
		}
	}
	for _, p := range []string{"split-admission", "duplicate-charge", "sex-restricted", "age-restricted", "upcoding"} {
		if patterns[p] == 0 {
			t.Errorf("no %s case in 20,000 residents", p)
		}
	}
	t.Logf("fraud cases: %v", patterns)

	// Outbreaks: every case is a Condition of the disease, of a resident of a
	// planned township, with onset in the window; and the window's count in the
	// townships clearly exceeds the background there in the rest of the year.
	if len(run.truth.Outbreaks) != 2 {
		t.Fatalf("%d outbreaks, want 2", len(run.truth.Outbreaks))
	}
	for _, ob := range run.truth.Outbreaks {
		towns := map[string]bool{}
		for _, c := range ob.Townships {
			towns[c] = true
		}
		from, to := day(ob.Start), day(ob.End).AddDate(0, 0, 1)
		injected := map[string]bool{}
		for _, id := range ob.Cases {
			injected[id] = true
			c := get("Condition", id)
			on := day(c["onsetDateTime"].(string))
			pat := run.residents[refID(c["subject"])]
			if code(c["code"]) != ob.Disease || !towns[pat.Village.Parent.Code] || on.Before(from) || !on.Before(to) {
				t.Errorf("%s case %s: %s in %s on %s", ob.ID, id, code(c["code"]), pat.Village.Parent.Code, on)
			}
		}
		inWindow, outside := 0, 0
		for _, r := range run.resources {
			if r.Type() != "Condition" || code(r["code"]) != ob.Disease || !towns[run.residents[refID(r["subject"])].Village.Parent.Code] {
				continue
			}
			if on := day(r["onsetDateTime"].(string)); !on.Before(from) && on.Before(to) {
				inWindow++
			} else {
				outside++
			}
		}
		weeks := to.Sub(from).Hours() / 24 / 7
		baseline := float64(outside) / (52 - weeks) * weeks
		if len(ob.Cases) < 5 || float64(inWindow) < 3*(baseline+1) {
			t.Errorf("%s (%s): %d cases in window (%d injected), background %.1f", ob.ID, ob.Disease, inWindow, len(ob.Cases), baseline)
		}
		t.Logf("%s %s %s–%s: %d in window, %d injected, background %.1f", ob.ID, ob.Disease, ob.Start, ob.End, inWindow, len(ob.Cases), baseline)
	}
	// Price anomalies: the listed deliveries carry the anomalous price.
	for _, a := range run.truth.PriceAnomalies {
		if len(a.Resources) == 0 {
			t.Errorf("price anomaly %s at %s: no deliveries", a.Name, a.Facility)
		}
		for _, id := range a.Resources {
			sd := get("SupplyDelivery", id)
			price := sd["extension"].([]any)[0].(map[string]any)["valueMoney"].(map[string]any)["value"].(float64)
			if price != a.Anomalous || a.Anomalous < 1.5*a.Normal-0.01 {
				t.Errorf("delivery %s: price %v, anomaly %v (normal %v)", id, price, a.Anomalous, a.Normal)
			}
		}
	}
	if len(run.truth.Shortages) == 0 {
		t.Error("no shortage planned")
	}
}

func BenchmarkCare(b *testing.B) {
	cfg := Config{Seed: 1, Residents: 100000, Years: 1, Scenarios: AllScenarios()}.withDefaults()
	rg := newRegion(1, 100000)
	p := newPlan(rg, cfg)
	hhs := make([][]*Resident, 256)
	for i := range hhs {
		hhs[i] = newHousehold(rg, 1, i)
	}
	b.ResetTimer()
	n := 0
	for i := 0; b.Loop(); i++ {
		res, _ := p.care(hhs[i%len(hhs)], 1, i)
		n += len(res)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "resources/s")
}
