package synth

import (
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

const ucum = "http://unitsofmeasure.org"

// careGen writes the care of one household. Baseline care, fraud and outbreak
// cases draw from separate streams, so switching a scenario leaves the
// baseline's random draws unchanged.
type careGen struct {
	p     *Plan
	r     *rand.Rand // the stream in use
	fr    *rand.Rand // fraud decisions
	ob    *rand.Rand // outbreak cases
	out   []fhir.Resource
	truth *Truth

	res          *Resident
	seq          int
	pat, cov     map[string]any
	home, centre *facInfo
	freeFrom     time.Time // no natural admission before this day
}

// care writes all care of one household over the care period and returns the
// resources with the household's ground-truth fragment.
func (p *Plan) care(household []*Resident, seed uint64, index int) ([]fhir.Resource, *Truth) {
	i := uint64(index)
	g := &careGen{p: p, r: rng(seed, "care", i), fr: rng(seed, "care/fraud", i), ob: rng(seed, "care/outbreak", i),
		truth: &Truth{}, out: make([]fhir.Resource, 0, 36*len(household)*p.cfg.Years)}
	for _, res := range household {
		g.resident(res)
	}
	return g.out, g.truth
}

func (g *careGen) resident(res *Resident) {
	g.res, g.seq, g.freeFrom = res, 0, time.Time{}
	g.pat = refDisplay("Patient", res.ID, res.Name)
	g.home = g.p.fac[res.Home.ID]
	g.centre = g.home
	if res.Village != nil && res.Village.Parent != nil {
		if c := g.p.rg.CentreOf(res.Village.Parent); c != nil {
			g.centre = g.p.fac[c.ID]
		}
	}
	g.coverage()
	chronic := g.chronic()
	g.familyDoctor(chronic)
	g.immunizations()
	g.acuteVisits()
	g.notifiableCases()
	g.admissions()
	if g.p.cfg.Scenarios.Outbreaks {
		g.outbreakCases()
	}
}

func (g *careGen) emit(r fhir.Resource) { g.out = append(g.out, r) }

// id is a resource id unique in the run: kind, resident, sequence number.
func (g *careGen) id(kind string) string {
	g.seq++
	return kind + "-" + g.res.ID + "-" + strconv.Itoa(g.seq)
}

// ageAt is the age in whole years on day t.
func ageAt(birth, t time.Time) int {
	a := t.Year() - birth.Year()
	if t.Month() < birth.Month() || t.Month() == birth.Month() && t.Day() < birth.Day() {
		a--
	}
	return a
}

// seasonalDay draws a time in the care period whose month follows the
// cumulative monthly weights, during opening hours.
func (g *careGen) seasonalDay(cum []float64) time.Time {
	m := pickCum(g.r, cum) // 0 = January
	base := g.p.cfg.Start.AddDate(g.r.IntN(g.p.cfg.Years), 0, 0)
	off := (m - int(base.Month()-1) + 12) % 12
	from := base.AddDate(0, off, 0)
	n := int(base.AddDate(0, off+1, 0).Sub(from).Hours() / 24)
	d := from.AddDate(0, 0, g.r.IntN(n))
	return time.Date(d.Year(), d.Month(), d.Day(), 8+g.r.IntN(9), g.r.IntN(60), 0, 0, cst)
}

// doctor picks a doctor of the facility (zero staff when it has none).
func (g *careGen) doctor(fi *facInfo) staff {
	if len(fi.doctors) == 0 {
		return staff{}
	}
	return fi.doctors[g.r.IntN(len(fi.doctors))]
}

// outpatientRate is acute visits per person per year by age, calibrated so that
// with chronic follow-ups the total is ≈6 (中国卫生健康统计年鉴: 诊疗人次/人口).
func outpatientRate(age int) float64 {
	switch {
	case age < 5:
		return 7.5
	case age < 15:
		return 3.5
	case age < 45:
		return 3.5
	case age < 65:
		return 5.5
	}
	return 7.5
}

// acuteVisits writes the acute outpatient visits: a Poisson number per year,
// each with a category (respiratory 40%, enteric 10%, other 50%) whose season
// places its date.
func (g *careGen) acuteVisits() {
	age0 := ageAt(g.res.BirthDate, g.p.cfg.Start)
	n := poisson(g.r, outpatientRate(max(age0, 0))*float64(g.p.cfg.Years))
	for range n {
		cat := catOther
		switch x := g.r.IntN(10); {
		case x < 4:
			cat = catResp
		case x < 5:
			cat = catEnteric
		}
		// The season is the category's: every condition of it shares one curve.
		pk := &g.p.conds.outpatient[cat][0]
		t := g.seasonalDay(pk.items[0].cum)
		if t.Before(g.res.BirthDate) {
			continue
		}
		age := ageAt(g.res.BirthDate, t)
		c, ok := g.pickFor(&g.p.conds.outpatient[cat][ageBand(age)], age)
		if !ok {
			continue
		}
		g.visit(c, g.clinic(age), t, nil)
	}
}

// clinic picks where an acute visit happens: mostly the home clinic or the
// township centre, some at the county hospitals (基层首诊).
func (g *careGen) clinic(age int) *facInfo {
	x := g.r.IntN(100)
	switch {
	case x < 50:
		return g.home
	case x < 82 || len(g.p.county) == 0:
		return g.centre
	}
	for _, fi := range g.p.county {
		switch fi.f.Kind {
		case TCMHospital:
			if x < 88 {
				return fi
			}
		case MCHHospital:
			if x < 92 && (age < 14 || g.res.Sex == "female") {
				return fi
			}
		}
	}
	return g.p.county[0]
}

// visit writes one outpatient visit for c at fi at t — encounter, diagnosis,
// tests, prescriptions, claim, and perhaps a referral up to a county hospital —
// and returns the Condition id.
func (g *careGen) visit(c *condition, fi *facInfo, t time.Time, basedOn map[string]any) string {
	p := g.p
	doc := g.doctor(fi)
	enc, cond := g.id("enc"), g.id("cond")
	end := t.Add(time.Duration(10+g.r.IntN(20)) * time.Minute)
	e := g.encounter(enc, p.amb, fi, doc, t, end, cond)
	if basedOn != nil {
		e["basedOn"] = []any{basedOn}
	}
	if fi.tier == 2 && g.r.IntN(10) < 4 {
		e["appointment"] = []any{g.appointment(fi, doc, t)}
	}
	g.emit(e)
	g.emit(g.condition(cond, c, enc, t, doc, false))
	consult := p.items["consult-primary"]
	if fi.tier == 2 {
		consult = p.items["consult-county"]
	}
	lines := []line{consult.line(fi.tier, 1)}
	if fi.tier > 0 && g.r.Float64() < c.lab {
		lines = append(lines, g.labReport(p.panels["cbc"], enc, fi, t, c))
		if c.hepatic {
			lines = append(lines, g.labReport(p.panels["liver"], enc, fi, t, c))
		}
	}
	if fi.tier > 0 && c.img != "" && g.r.Float64() < c.imgProb {
		lines = append(lines, g.imaging(c, enc, fi, t))
	}
	if len(c.drugs) > 0 && g.r.IntN(10) < 7 {
		first := g.r.IntN(len(c.drugs))
		for k := range 1 + g.r.IntN(10)/7 { // one drug, 30% two
			d := c.drugs[(first+k)%len(c.drugs)]
			if k > 0 && d == c.drugs[first] {
				break
			}
			if l, ok := g.prescribe(rx{d, c.rxDays}, enc, fi, doc, t.Add(5*time.Minute)); ok {
				lines = append(lines, l)
			}
		}
	}
	if fi.tier > 0 && c.inflam && g.r.IntN(5) == 0 {
		// Three days of intravenous antibiotics, still common in county care.
		lines = append(lines, p.items["infusion"].line(fi.tier, 3))
		for _, k := range []string{"ceftriaxone", "saline"} {
			if l, ok := g.prescribe(rx{p.drugByKey[k], 3}, enc, fi, doc, t.Add(5*time.Minute)); ok {
				lines = append(lines, l)
			}
		}
	}
	g.claim(bill{enc: enc, fi: fi, start: t, end: end, c: c, lines: lines})
	if fi.tier < 2 && c.refer > 0 && len(p.county) > 0 && g.r.Float64() < c.refer {
		to := p.county[0]
		if when := end.AddDate(0, 0, 1+g.r.IntN(5)); p.withinPeriod(when.AddDate(0, 0, 1)) {
			sr := g.referral(doc, to, c, end, "上转至县级医院进一步诊治")
			g.visit(c, to, when, sr)
		}
	}
	return cond
}

// pickFor draws a diagnosis plausible at age from pk, trying a few times; false
// when none came up (the visit is then left out).
func (g *careGen) pickFor(pk *picker, age int) (*condition, bool) {
	for range 10 {
		if c := pk.pick(g.r); c.plausible(age, g.r) {
			return c, true
		}
	}
	return nil, false
}

// encounter is a finished Encounter with its diagnosis.
func (g *careGen) encounter(id string, class map[string]any, fi *facInfo, doc staff, start, end time.Time, cond ...string) fhir.Resource {
	diag := make([]any, len(cond))
	for i, c := range cond {
		diag[i] = map[string]any{"condition": ref("Condition", c), "rank": i + 1}
	}
	e := fhir.Resource{
		"resourceType":    "Encounter",
		"id":              id,
		"status":          "finished",
		"class":           class,
		"subject":         g.pat,
		"period":          map[string]any{"start": dateTime(start), "end": dateTime(end)},
		"serviceProvider": fi.ref,
		"location":        []any{map[string]any{"location": fi.loc}},
		"diagnosis":       diag,
	}
	if doc.ref != nil {
		e["participant"] = []any{map[string]any{"type": []any{g.p.attender}, "individual": doc.ref}}
	}
	return e
}

// condition is a diagnosis made at an encounter (acute: resolved a few days
// later) or a problem-list entry (chronic).
func (g *careGen) condition(id string, c *condition, enc string, onset time.Time, doc staff, chronic bool) fhir.Resource {
	r := fhir.Resource{
		"resourceType":       "Condition",
		"id":                 id,
		"verificationStatus": g.p.confirmed,
		"code":               c.concept,
		"subject":            g.pat,
		"onsetDateTime":      dateTime(onset),
		"recordedDate":       dateTime(onset),
	}
	if chronic {
		r["clinicalStatus"] = g.p.active
		r["category"] = []any{g.p.problemList}
	} else {
		r["clinicalStatus"] = g.p.resolved
		r["category"] = []any{g.p.encounterDiag}
		r["abatementDateTime"] = date(onset.AddDate(0, 0, 5+g.r.IntN(10)))
	}
	if enc != "" {
		r["encounter"] = ref("Encounter", enc)
	}
	if doc.ref != nil {
		r["asserter"] = doc.ref
	}
	return r
}

// appointment writes a fulfilled 分时段预约 in the half-hour slot of t and
// returns a reference to it.
func (g *careGen) appointment(fi *facInfo, doc staff, t time.Time) map[string]any {
	slot := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute()/30*30, 0, 0, cst)
	id := g.id("appt")
	parts := []any{
		map[string]any{"actor": g.pat, "status": "accepted"},
		map[string]any{"actor": fi.loc, "status": "accepted"},
	}
	if doc.ref != nil {
		parts = append(parts, map[string]any{"actor": doc.ref, "status": "accepted"})
	}
	g.emit(fhir.Resource{
		"resourceType": "Appointment",
		"id":           id,
		"status":       "fulfilled",
		"start":        dateTime(slot),
		"end":          dateTime(slot.Add(30 * time.Minute)),
		"created":      date(slot.AddDate(0, 0, -1-g.r.IntN(6))),
		"participant":  parts,
		"description":  "分时段预约门诊",
	})
	return ref("Appointment", id)
}

// referral writes a completed 双向转诊 ServiceRequest to facility to and
// returns a reference to it.
func (g *careGen) referral(doc staff, to *facInfo, c *condition, t time.Time, note string) map[string]any {
	id := g.id("sr")
	sr := fhir.Resource{
		"resourceType": "ServiceRequest",
		"id":           id,
		"status":       "completed",
		"intent":       "order",
		"category":     []any{g.p.referralCat},
		"code":         map[string]any{"text": note},
		"subject":      g.pat,
		"authoredOn":   dateTime(t),
		"performer":    []any{to.ref},
		"reasonCode":   []any{c.concept},
	}
	if doc.ref != nil {
		sr["requester"] = doc.ref
	}
	g.emit(sr)
	return ref("ServiceRequest", id)
}

// inpatientRate is admissions per person per year by age; with the Chinese age
// structure it gives ≈17–19 per 100 (中国卫生健康统计年鉴 2020: 住院率 19.0%).
func inpatientRate(age int) float64 {
	switch {
	case age < 5:
		return 0.20
	case age < 15:
		return 0.05
	case age < 45:
		return 0.10
	case age < 65:
		return 0.20
	}
	return 0.42
}

// admissions writes the resident's hospital stays, at least 30 days apart.
func (g *careGen) admissions() {
	age0 := max(ageAt(g.res.BirthDate, g.p.cfg.Start), 0)
	n := poisson(g.r, inpatientRate(age0)*float64(g.p.cfg.Years))
	if n == 0 {
		return
	}
	starts := make([]int, n)
	for i := range starts {
		starts[i] = g.r.IntN(g.p.periodDays())
	}
	sort.Ints(starts)
	for _, d := range starts {
		t := g.p.cfg.Start.AddDate(0, 0, d).Add(time.Duration(8*60+g.r.IntN(12*60)) * time.Minute)
		if t.Before(g.res.BirthDate) || t.Before(g.freeFrom) {
			continue
		}
		age := ageAt(g.res.BirthDate, t)
		b := 0
		switch {
		case age >= 65:
			b = 3
		case age >= 15 && g.res.Sex == "female" && age < 45:
			b = 2
		case age >= 15:
			b = 1
		}
		c, ok := g.pickFor(&g.p.conds.inpatient[b], age)
		if !ok {
			continue
		}
		fi := g.ward(c)
		los := max(1, int(math.Round(c.los*(0.6+0.8*g.r.Float64()))))
		if fi.tier == 1 {
			los = max(1, los*3/4)
		}
		if !g.p.withinPeriod(t.AddDate(0, 0, los+1)) {
			continue // discharged after the period: the next period's data
		}
		enc, claim, end := g.admit(c, fi, t, los)
		g.freeFrom = end.AddDate(0, 0, 30)
		if g.p.cfg.Scenarios.Fraud && g.fr.IntN(100) == 0 {
			g.splitAdmission(c, fi, enc, claim, end)
		}
	}
}

// ward picks the hospital of a stay: surgery at county hospitals, the rest
// there or at the township centre.
func (g *careGen) ward(c *condition) *facInfo {
	if len(g.p.county) == 0 {
		return g.centre
	}
	if c.proc == nil && g.centre.tier == 1 && g.r.IntN(10) < 3 {
		return g.centre
	}
	for _, fi := range g.p.county {
		if fi.f.Kind == MCHHospital && c.code == "O80.000" && g.r.IntN(2) == 0 {
			return fi
		}
		if fi.f.Kind == TCMHospital && c.proc == nil && g.r.IntN(5) == 0 {
			return fi
		}
	}
	return g.p.county[0]
}

// admit writes one hospital stay and returns its encounter and claim ids and
// the discharge time.
func (g *careGen) admit(c *condition, fi *facInfo, t time.Time, los int) (string, string, time.Time) {
	p := g.p
	doc := g.doctor(fi)
	enc, cond := g.id("enc"), g.id("cond")
	end := t.AddDate(0, 0, los)
	end = time.Date(end.Year(), end.Month(), end.Day(), 9+g.r.IntN(3), g.r.IntN(60), 0, 0, cst)
	e := g.encounter(enc, p.imp, fi, doc, t, end, cond)
	e["hospitalization"] = map[string]any{"dischargeDisposition": p.home}
	e["length"] = days(los)
	g.emit(e)
	g.emit(g.condition(cond, c, enc, t, doc, false))
	lines := []line{
		p.items["bed"].line(fi.tier, float64(los)),
		p.items["nursing"].line(fi.tier, float64(los)),
		p.items["ward-round"].line(fi.tier, float64(los)),
		p.items["monitor"].line(fi.tier, float64(los)),
		p.items["materials"].line(fi.tier, float64(los)),
		g.labReport(p.panels["cbc"], enc, fi, t.Add(time.Hour), c),
		g.labReport(p.panels["liver"], enc, fi, t.Add(time.Hour), c),
		g.labReport(p.panels["renal"], enc, fi, t.Add(time.Hour), c),
	}
	if c.img != "" && g.r.Float64() < math.Max(c.imgProb, 0.3) {
		lines = append(lines, g.imaging(c, enc, fi, t.Add(3*time.Hour)))
	}
	if c.proc != nil && fi.tier == 2 && g.r.Float64() < c.procProb {
		lines = append(lines, g.procedure(c.proc, enc, doc, t.AddDate(0, 0, min(1, los-1))))
	}
	for _, d := range c.drugs {
		n := los
		if d.class != "infusion" && d.form != "注射剂" {
			n = max(los, c.rxDays)
		}
		if l, ok := g.prescribe(rx{d, n}, enc, fi, doc, t.Add(2*time.Hour)); ok {
			lines = append(lines, l)
		}
	}
	if !hasDrug(c.drugs, "infusion") {
		lines = append(lines, p.items["infusion"].line(fi.tier, float64(los)))
	}
	claim := g.claim(bill{enc: enc, fi: fi, start: t, end: end, c: c, lines: lines, inpatient: true})
	if fi.tier == 2 && c.down > 0 && g.r.Float64() < c.down {
		if when := end.AddDate(0, 0, 3+g.r.IntN(12)); p.withinPeriod(when.AddDate(0, 0, 1)) {
			sr := g.referral(doc, g.centre, c, end, "下转至基层医疗机构康复治疗")
			g.visit(c, g.centre, when, sr)
		}
	}
	return enc, claim, end
}

func hasDrug(ds []*drug, class string) bool {
	for _, d := range ds {
		if d.class == class {
			return true
		}
	}
	return false
}

// procedure writes an operation and returns its claim line.
func (g *careGen) procedure(pr *procedure, enc string, doc staff, t time.Time) line {
	r := fhir.Resource{
		"resourceType":      "Procedure",
		"id":                g.id("proc"),
		"status":            "completed",
		"code":              pr.concept,
		"subject":           g.pat,
		"encounter":         ref("Encounter", enc),
		"performedDateTime": dateTime(t),
	}
	if doc.ref != nil {
		r["performer"] = []any{map[string]any{"actor": doc.ref}}
	}
	g.emit(r)
	return line{concept: pr.itemConcept, qty: 1, price: pr.price}
}

// coverage writes the resident's insurance: 城乡居民基本医疗保险 for most,
// 职工基本医疗保险 for a fifth of working-age adults.
func (g *careGen) coverage() {
	typ := g.p.residentIns
	if a := ageAt(g.res.BirthDate, g.p.cfg.Start); a >= 18 && a < 60 && g.r.IntN(5) == 0 {
		typ = g.p.employeeIns
	}
	id := "cov-" + g.res.ID
	g.cov = ref("Coverage", id)
	g.emit(fhir.Resource{
		"resourceType": "Coverage",
		"id":           id,
		"status":       "active",
		"type":         typ,
		"beneficiary":  g.pat,
		"relationship": g.p.self,
		"payor":        []any{g.p.payer},
		"period":       map[string]any{"start": date(latest(g.p.cfg.Start, g.res.BirthDate))},
	})
}

// familyDoctor writes the 家庭医生签约 contracts: signed each year by ~40% of
// residents, more for the elderly, young children and chronic patients.
func (g *careGen) familyDoctor(chronic bool) {
	age := ageAt(g.res.BirthDate, g.p.cfg.Start)
	prob := 0.25
	switch {
	case age >= 65:
		prob = 0.75
	case chronic:
		prob = 0.65
	case age < 7:
		prob = 0.5
	}
	if age < 0 || g.r.Float64() >= prob {
		return
	}
	fi := g.centre
	doc := g.doctor(fi)
	if doc.ref == nil {
		return
	}
	for y := range g.p.cfg.Years {
		start := g.p.cfg.Start.AddDate(y, 0, g.r.IntN(90))
		end := start.AddDate(1, 0, -1)
		status, teamStatus := "finished", "inactive"
		if !end.Before(g.p.cfg.End()) {
			status, teamStatus = "active", "active"
		}
		period := map[string]any{"start": date(start), "end": date(end)}
		team := g.id("ct")
		members := []any{map[string]any{"role": []any{g.p.fdRole}, "member": doc.ref}}
		if hd := g.doctor(g.home); g.home != fi && hd.ref != nil {
			members = append(members, map[string]any{"role": []any{g.p.villageRole}, "member": hd.ref})
		}
		if len(fi.nurses) > 0 {
			members = append(members, map[string]any{"role": []any{g.p.nurseRole},
				"member": fi.nurses[g.r.IntN(len(fi.nurses))].ref})
		}
		g.emit(fhir.Resource{
			"resourceType":         "CareTeam",
			"id":                   team,
			"status":               teamStatus,
			"name":                 doc.p.Name + "家庭医生团队",
			"subject":              g.pat,
			"period":               period,
			"participant":          members,
			"managingOrganization": []any{fi.ref},
		})
		g.emit(fhir.Resource{
			"resourceType":         "EpisodeOfCare",
			"id":                   g.id("eoc"),
			"status":               status,
			"type":                 []any{g.p.contractType},
			"patient":              g.pat,
			"managingOrganization": fi.ref,
			"period":               period,
			"careManager":          doc.ref,
			"team":                 []any{ref("CareTeam", team)},
		})
	}
}

// Shared building blocks.

func money(v float64) map[string]any { return map[string]any{"value": round2(v), "currency": "CNY"} }

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// roundUp rounds a dispensed quantity up to a whole unit.
func roundUp(v float64) float64 { return math.Ceil(v - 1e-9) }

// dateTime renders t in China Standard Time; with its offset it is also a valid instant.
func dateTime(t time.Time) string { return t.In(cst).Format("2006-01-02T15:04:05+08:00") }

func date(t time.Time) string { return t.In(cst).Format(time.DateOnly) }
