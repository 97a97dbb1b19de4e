package synth

import (
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

// hypertensionRate is the prevalence of hypertension by age: the age gradient of
// the China Hypertension Survey 2012–2015 (Wang Z et al., Circulation 2018),
// scaled so that the synthetic county's adults (older than the national
// average, as rural counties are) come to ≈27.5% (中国居民营养与慢性病状况报告
// 2020).
func hypertensionRate(age int) float64 {
	switch {
	case age < 18:
		return 0
	case age < 35:
		return 0.055
	case age < 45:
		return 0.135
	case age < 55:
		return 0.27
	case age < 65:
		return 0.40
	case age < 75:
		return 0.50
	}
	return 0.56
}

// diabetesRate is the prevalence of diabetes by age: the age gradient of Li Y et
// al., BMJ 2020;369:m997, scaled to its 11.2% overall (WHO criteria) for the
// synthetic county's adults.
func diabetesRate(age int) float64 {
	switch {
	case age < 18:
		return 0
	case age < 35:
		return 0.045
	case age < 45:
		return 0.072
	case age < 55:
		return 0.11
	case age < 65:
		return 0.155
	}
	return 0.18
}

// chronic writes the resident's hypertension and diabetes, if any, and their
// 基本公共卫生 management: quarterly follow-ups at the home clinic with blood
// pressure, fasting glucose and (twice a year) HbA1c, and a 12-week prescription
// of the resident's regimen each time. It reports whether the resident has
// either disease.
func (g *careGen) chronic() bool {
	p := g.p
	age := ageAt(g.res.BirthDate, p.cfg.Start)
	htn := g.r.Float64() < hypertensionRate(age)
	dm := g.r.Float64() < diabetesRate(age)
	if !htn && !dm {
		return false
	}
	doc := g.doctor(g.home)
	var conds []string
	var regimen []*drug
	onset := p.cfg.End()
	var first *condition
	for _, c := range []*condition{p.conds.htn, p.conds.dm} {
		if c == p.conds.htn && !htn || c == p.conds.dm && !dm {
			continue
		}
		// One in ten is diagnosed during the period; the rest up to 15 years before
		// (not before 18).
		var t time.Time
		if g.r.IntN(10) == 0 {
			t = p.cfg.Start.AddDate(0, 0, g.r.IntN(p.periodDays()))
		} else {
			adult := g.res.BirthDate.AddDate(18, 0, 0)
			t = p.cfg.Start.AddDate(0, 0, -1-g.r.IntN(max(1, min(365*15, int(p.cfg.Start.Sub(adult).Hours()/24)))))
		}
		t = time.Date(t.Year(), t.Month(), t.Day(), 9, 0, 0, 0, cst)
		id := g.id("cond")
		g.emit(g.condition(id, c, "", t, doc, true))
		conds = append(conds, id)
		if first == nil {
			first = c
		}
		onset = minTime(onset, t)
		regimen = append(regimen, g.regimen(c == p.conds.dm)...)
	}
	for q := range 4 * p.cfg.Years {
		t := p.cfg.Start.AddDate(0, 3*q, g.r.IntN(60))
		t = time.Date(t.Year(), t.Month(), t.Day(), 8+g.r.IntN(9), g.r.IntN(60), 0, 0, cst)
		if t.Before(onset) || !t.Before(p.cfg.End()) {
			continue
		}
		g.followUp(first, conds, regimen, dm, q%2 == 1, doc, t)
	}
	return true
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// regimen picks a patient's long-term drugs: for hypertension a calcium-channel
// blocker or an ARB, sometimes with a second drug; for diabetes metformin,
// sometimes with a sulfonylurea, an α-glucosidase inhibitor or insulin.
func (g *careGen) regimen(diabetes bool) []*drug {
	d := g.p.drugByKey
	if diabetes {
		out := []*drug{d["metformin"]}
		switch g.r.IntN(10) {
		case 0:
			out = append(out, d["glargine"])
		case 1, 2:
			out = append(out, d["glimepiride"])
		case 3:
			out = append(out, d["gliclazide"])
		case 4:
			out = append(out, d["acarbose"])
		}
		return out
	}
	first := []string{"amlodipine", "amlodipine", "amlodipine", "nifedipine", "irbesartan", "irbesartan", "valsartan", "losartan", "enalapril", "metoprolol"}
	out := []*drug{d[first[g.r.IntN(len(first))]]}
	if g.r.IntN(10) < 3 {
		second := d["hctz"]
		if out[0].class != "ccb" {
			second = d["amlodipine"]
		}
		out = append(out, second)
	}
	return out
}

// followUp writes one quarterly chronic-disease follow-up visit.
func (g *careGen) followUp(c *condition, conds []string, regimen []*drug, dm, hba1c bool, doc staff, t time.Time) {
	p := g.p
	fi := g.home
	enc := g.id("enc")
	e := g.encounter(enc, p.amb, fi, doc, t, t.Add(20*time.Minute), conds...)
	e["type"] = []any{p.followUpType}
	g.emit(e)
	g.bloodPressure(enc, t)
	lines := []line{p.items["consult-primary"].line(fi.tier, 1)}
	if dm {
		lines = append(lines, g.labReport(p.panels["glucose"], enc, fi, t, p.conds.dm))
		if hba1c {
			lines = append(lines, g.labReport(p.panels["hba1c"], enc, fi, t, p.conds.dm))
		}
	}
	for _, d := range regimen {
		if l, ok := g.prescribe(rx{d, 84}, enc, fi, doc, t.Add(10*time.Minute)); ok {
			lines = append(lines, l)
		}
	}
	g.claim(bill{enc: enc, fi: fi, start: t, end: t.Add(20 * time.Minute), c: c, lines: lines})
}

// bloodPressure writes a blood pressure panel (LOINC 85354-9); treated
// hypertensives are controlled about half of the time.
func (g *careGen) bloodPressure(enc string, t time.Time) {
	p := g.p
	sys := 132 + 12*g.r.NormFloat64()
	dia := 82 + 8*g.r.NormFloat64()
	g.emit(fhir.Resource{
		"resourceType":      "Observation",
		"id":                g.id("obs"),
		"status":            "final",
		"category":          []any{p.vitalCat},
		"code":              p.bpPanel,
		"subject":           g.pat,
		"encounter":         ref("Encounter", enc),
		"effectiveDateTime": dateTime(t),
		"component": []any{
			p.bpComponent(p.systolic, sys, 140),
			p.bpComponent(p.diastolic, dia, 90),
		},
	})
}

func (p *Plan) bpComponent(code map[string]any, v, limit float64) map[string]any {
	flag := byte('N')
	if v >= limit {
		flag = 'H'
	}
	return map[string]any{
		"code":           code,
		"valueQuantity":  map[string]any{"value": float64(int(v + 0.5)), "unit": "mmHg", "system": ucum, "code": "mm[Hg]"},
		"interpretation": []any{p.interp[flag]},
	}
}
