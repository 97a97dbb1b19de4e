package synth

import (
	"strconv"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

// item is a medical service item (医疗服务项目) with its price by facility tier
// (village/community clinic, township centre, county hospital) and, for some,
// the sex or ages it is restricted to. Codes follow the 9-digit shape of the
// 全国医疗服务价格项目规范; prices are typical county-level figures.
type item struct {
	code, name string
	price      [3]float64
	sex        string // only for this sex
	maxAge     int    // only below this age (0: no limit)
	concept    map[string]any
}

func (it *item) line(tier int, qty float64) line {
	return line{concept: it.concept, qty: qty, price: it.price[tier]}
}

func serviceItems() map[string]*item {
	items := map[string]*item{
		"consult-primary": {code: "110200005", name: "一般诊疗费", price: [3]float64{10, 10, 10}},
		"consult-county":  {code: "110200001", name: "普通门诊诊查费", price: [3]float64{15, 15, 20}},
		"consult-expert":  {code: "110200002", name: "副主任医师及以上门诊诊查费", price: [3]float64{40, 40, 40}},
		"ward-round":      {code: "110300001", name: "住院诊查费", price: [3]float64{10, 10, 15}},
		"bed":             {code: "110900001", name: "普通病房床位费", price: [3]float64{25, 30, 50}},
		"nursing":         {code: "120100002", name: "二级护理", price: [3]float64{15, 15, 25}},
		"infusion":        {code: "120400001", name: "静脉输液", price: [3]float64{8, 8, 12}},
		"monitor":         {code: "310701008", name: "心电监测", price: [3]float64{0, 60, 96}},
		"materials":       {code: "270800001", name: "一次性医用耗材", price: [3]float64{10, 40, 80}},
		"cervical":        {code: "270300001", name: "宫颈细胞学检查", price: [3]float64{60, 60, 80}, sex: "female"},
		"prostate":        {code: "250402002", name: "前列腺液常规检查", price: [3]float64{20, 20, 25}, sex: "male"},
		"paediatric-iv":   {code: "120400006", name: "小儿头皮静脉输液", price: [3]float64{15, 15, 20}, maxAge: 6},
		"newborn-hearing": {code: "311201002", name: "新生儿听力筛查", price: [3]float64{60, 60, 80}, maxAge: 1},
	}
	for _, it := range items {
		it.concept = concept(fhir.SystemMedicalItem, it.code, it.name)
	}
	return items
}

// line is one claim line.
type line struct {
	concept    map[string]any // productOrService
	qty, price float64
}

// mergeLines adds up lines of the same item at the same price, so that an honest
// claim never bills one item twice (a substitute for a short drug can be a drug
// the visit also prescribed); only the duplicate-charge fraud does.
func mergeLines(lines []line) []line {
	out := lines[:0:0]
	for _, l := range lines {
		merged := false
		for i := range out {
			if sameCoding(out[i].concept, l.concept) && out[i].price == l.price {
				out[i].qty += l.qty
				merged = true
				break
			}
		}
		if !merged {
			out = append(out, l)
		}
	}
	return out
}

// sameCoding tells whether two CodeableConcepts carry the same first coding.
func sameCoding(a, b map[string]any) bool {
	ca, _ := a["coding"].([]any)
	cb, _ := b["coding"].([]any)
	if len(ca) == 0 || len(cb) == 0 {
		return false
	}
	x, _ := ca[0].(map[string]any)
	y, _ := cb[0].(map[string]any)
	return x["system"] == y["system"] && x["code"] == y["code"]
}

// bill is what an encounter charges.
type bill struct {
	enc        string
	fi         *facInfo
	start, end time.Time
	c          *condition
	lines      []line
	inpatient  bool
}

// claim writes the Claim of an encounter and returns its id. With the fraud
// scenario on, a small share of claims is falsified; each is recorded in the
// household's truth.
func (g *careGen) claim(b bill) string {
	diag := b.c
	b.lines = mergeLines(b.lines)
	if g.p.cfg.Scenarios.Fraud {
		if id, ok := g.fraudulent(&b); ok {
			return id
		}
	}
	id := g.id("clm")
	g.emit(g.claimResource(id, b, diag))
	return id
}

func (g *careGen) claimResource(id string, b bill, diag *condition) fhir.Resource {
	p := g.p
	typ := p.professional
	if b.inpatient {
		typ = p.institutional
	}
	encRef := []any{ref("Encounter", b.enc)}
	served := date(b.start)
	items := make([]any, len(b.lines))
	total := 0.0
	for i, l := range b.lines {
		net := round2(l.qty * l.price)
		total += net
		items[i] = map[string]any{
			"sequence":         i + 1,
			"productOrService": l.concept,
			"servicedDate":     served,
			"quantity":         map[string]any{"value": l.qty},
			"unitPrice":        money(l.price),
			"net":              money(net),
			"encounter":        encRef,
		}
	}
	return fhir.Resource{
		"resourceType":   "Claim",
		"id":             id,
		"status":         "active",
		"type":           typ,
		"use":            "claim",
		"patient":        g.pat,
		"created":        dateTime(b.end),
		"billablePeriod": map[string]any{"start": dateTime(b.start), "end": dateTime(b.end)},
		"provider":       b.fi.ref,
		"insurer":        p.payer,
		"priority":       p.normal,
		"insurance":      []any{map[string]any{"sequence": 1, "focal": true, "coverage": g.cov}},
		"diagnosis":      []any{map[string]any{"sequence": 1, "diagnosisCodeableConcept": diag.concept}},
		"item":           items,
		"total":          money(total),
	}
}

// Fraud rates per claim (per admission for split-admission): small enough to
// be rare, large enough that a county of 10⁵ residents has dozens of each.
const (
	fraudDuplicate = 0.001
	fraudSex       = 0.0005
	fraudAge       = 0.0005
	fraudUpcode    = 0.002
)

// fraudulent decides, from the fraud stream, whether this claim is falsified and
// if so writes it (or them) and records the case.
func (g *careGen) fraudulent(b *bill) (string, bool) {
	p := g.p
	x := g.fr.Float64()
	fc := FraudCase{Patient: g.res.ID}
	diag := b.c
	var twin bool
	switch {
	case x < fraudDuplicate:
		fc.Pattern = "duplicate-charge"
		k := g.fr.IntN(len(b.lines))
		if g.fr.IntN(2) == 0 {
			b.lines = append(b.lines[:len(b.lines):len(b.lines)], b.lines[k])
			fc.Detail = "同一收费项目重复收费：" + display(b.lines[k].concept)
		} else {
			twin = true
			fc.Detail = "同一就诊重复提交两份相同的结算申请"
		}
	case x < fraudDuplicate+fraudSex:
		fc.Pattern = "sex-restricted"
		it := p.items["cervical"]
		if g.res.Sex == "female" {
			it = p.items["prostate"]
		}
		b.lines = append(b.lines[:len(b.lines):len(b.lines)], it.line(b.fi.tier, 1))
		fc.Detail = "限" + sexName(it.sex) + "项目用于" + sexName(g.res.Sex) + "患者：" + it.name
	case x < fraudDuplicate+fraudSex+fraudAge && ageAt(g.res.BirthDate, b.start) >= 18:
		fc.Pattern = "age-restricted"
		it := p.items["paediatric-iv"]
		if g.fr.IntN(2) == 0 {
			it = p.items["newborn-hearing"]
		}
		b.lines = append(b.lines[:len(b.lines):len(b.lines)], it.line(b.fi.tier, 1))
		fc.Detail = "限" + strconv.Itoa(it.maxAge) + "岁以下项目用于" +
			strconv.Itoa(ageAt(g.res.BirthDate, b.start)) + "岁患者：" + it.name
	case x < fraudDuplicate+fraudSex+fraudAge+fraudUpcode && b.c.upcode != nil:
		fc.Pattern = "upcoding"
		diag = b.c.upcode
		if !b.inpatient {
			b.lines = append([]line{p.items["consult-expert"].line(b.fi.tier, 1)}, b.lines[1:]...)
		}
		fc.Detail = "实际诊断 " + b.c.code + " " + b.c.display + "，结算诊断 " + diag.code + " " + diag.display
	default:
		return "", false
	}
	id := g.id("clm")
	g.emit(g.claimResource(id, *b, diag))
	fc.Claims = []string{id}
	if twin {
		id2 := g.id("clm")
		g.emit(g.claimResource(id2, *b, diag))
		fc.Claims = append(fc.Claims, id2)
	}
	g.truth.Fraud = append(g.truth.Fraud, fc)
	return id, true
}

// splitAdmission writes a second stay at the same hospital for the same
// diagnosis 1–10 days after the first discharge (分解住院), drawing from the
// fraud stream, and records both claims.
func (g *careGen) splitAdmission(c *condition, fi *facInfo, firstEnc, firstClaim string, discharged time.Time) {
	saved := g.r
	g.r = g.fr
	defer func() { g.r = saved }()
	gap := 1 + g.r.IntN(10)
	t := time.Date(discharged.Year(), discharged.Month(), discharged.Day()+gap, 8+g.r.IntN(8), g.r.IntN(60), 0, 0, cst)
	los := 2 + g.r.IntN(4)
	if !g.p.withinPeriod(t.AddDate(0, 0, los+1)) {
		return
	}
	_, claim, end := g.admit(c, fi, t, los)
	g.freeFrom = end.AddDate(0, 0, 30)
	g.truth.Fraud = append(g.truth.Fraud, FraudCase{
		Pattern: "split-admission", Patient: g.res.ID, Claims: []string{firstClaim, claim},
		Detail: "出院" + strconv.Itoa(gap) + "天后再次入住同一医院（" + c.code + " " + c.display + "），首次就诊 " + firstEnc,
	})
}

func display(c map[string]any) string { s, _ := c["text"].(string); return s }

func sexName(s string) string {
	if s == "female" {
		return "女性"
	}
	return "男性"
}
