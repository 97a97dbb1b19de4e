package synth

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

// Condition categories of outpatient care, each with its own seasonality.
const (
	catResp = iota
	catEnteric
	catOther
	catInpatient
	catNotifiable
	catChronic
)

// Monthly relative weights, January first. Respiratory infections peak in winter
// (Dec–Feb ≈ 2× Jun–Aug), enteric ones in summer; the disease curves follow the
// monthly case counts of the 法定传染病疫情概况 reports.
func seasonFlat() []float64 { return []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1} }
func seasonResp() []float64 {
	return []float64{1.6, 1.4, 1.1, 0.9, 0.8, 0.75, 0.75, 0.75, 0.85, 1.0, 1.2, 1.6}
}
func seasonEnteric() []float64 {
	return []float64{0.7, 0.7, 0.8, 0.9, 1.1, 1.4, 1.6, 1.6, 1.3, 1.0, 0.8, 0.7}
}
func seasonFlu() []float64 { return []float64{3, 2, 0.8, 0.4, 0.3, 0.3, 0.3, 0.3, 0.3, 0.4, 0.8, 2.5} }
func seasonHFMD() []float64 {
	return []float64{0.3, 0.3, 0.6, 1.4, 2.0, 2.0, 1.5, 0.8, 0.9, 1.0, 0.6, 0.4}
}
func seasonNoro() []float64 {
	return []float64{1.5, 1.3, 1.2, 0.9, 0.7, 0.6, 0.6, 0.6, 0.7, 0.9, 1.3, 1.6}
}

// procedure is an ICD-9-CM-3 operation with its service item price.
type procedure struct {
	code, display string
	item          string // service item code
	price         float64
	concept       map[string]any
	itemConcept   map[string]any
}

// condition is a diagnosis with what care for it looks like.
type condition struct {
	code, display string
	cat           int
	season        []float64  // monthly weights
	w             [3]float64 // outpatient weights: child <15, adult 15–64, elderly 65+
	rx            []string   // drug keys, one or two are prescribed
	rxDays        int
	lab           float64 // probability of a blood routine at a township/county visit
	inflam        bool    // raises WBC
	hepatic       bool    // raises ALT/AST
	img           string  // imaging kind
	imgProb       float64
	finding       string // imaging conclusion when the study shows the disease
	refer         float64
	upcodeTo      string
	minAge        int // the age bands are broad: diseases of later life start here
	// inpatient
	los      float64 // mean length of stay, days
	proc     *procedure
	procProb float64
	down     float64 // referral down to primary care after discharge

	concept map[string]any
	upcode  *condition
	drugs   []*drug
	cum     []float64 // cumulative season weights
}

// picker draws a condition by weight.
type picker struct {
	items []*condition
	cum   []float64
}

func (pk *picker) add(c *condition, w float64) {
	if w <= 0 {
		return
	}
	last := 0.0
	if n := len(pk.cum); n > 0 {
		last = pk.cum[n-1]
	}
	pk.items = append(pk.items, c)
	pk.cum = append(pk.cum, last+w)
}

func (pk *picker) pick(r *rand.Rand) *condition {
	return pk.items[pickCum(r, pk.cum)]
}

// pickCum draws an index from cumulative weights.
func pickCum(r *rand.Rand, cum []float64) int {
	x := r.Float64() * cum[len(cum)-1]
	for i, c := range cum {
		if x < c {
			return i
		}
	}
	return len(cum) - 1
}

func cumulative(w []float64) []float64 {
	out := make([]float64, len(w))
	s := 0.0
	for i, x := range w {
		s += x
		out[i] = s
	}
	return out
}

// conditions is the diagnosis catalogue and its pickers.
type conditions struct {
	byCode     map[string]*condition
	outpatient [3][3]picker // category (resp, enteric, other) × age band
	inpatient  [4]picker    // child, adult man, adult woman 15–44, elderly
	htn, dm    *condition
}

// minAge is the youngest age at which a disease of later life is diagnosed here
// (by ICD-10 category): coronary heart disease, stroke, heart failure, COPD and
// knee arthrosis are vanishingly rare in teenagers, whom the 15–64 band
// otherwise gives them.
var minAge = map[string]int{"I25": 35, "I63": 40, "I50": 40, "J44": 40, "M17": 40, "H25": 50, "M51": 20, "K80": 20}

// birthWeight is the relative chance that a woman of age gives birth, from the
// age-specific fertility rates of the 2020 census (per 1,000 women: 15–19 6,
// 20–24 55, 25–29 98, 30–34 66, 35–39 27, 40–44 7), highest band 1.
func birthWeight(age int) float64 {
	rates := []float64{6, 55, 98, 66, 27, 7}
	if age < 15 || age >= 45 {
		return 0
	}
	return rates[(age-15)/5] / 98
}

// plausible tells whether c fits a patient of age: old enough for a disease of
// later life, and for a birth, drawn by the fertility of that age.
func (c *condition) plausible(age int, r *rand.Rand) bool {
	if age < c.minAge {
		return false
	}
	return c.code != "O80.000" || r.Float64() < birthWeight(age)
}

func ageBand(age int) int {
	switch {
	case age < 15:
		return 0
	case age < 65:
		return 1
	}
	return 2
}

// conditionTable is the diagnosis catalogue (ICD-10 国家临床版 2.0-style codes).
// Outpatient weights reflect the leading causes of primary-care visits in the
// 国家卫生服务调查; inpatient ones the leading discharge diagnoses of county
// hospitals in the 中国卫生健康统计年鉴.
func conditionTable() []*condition {
	return []*condition{
		// respiratory
		{code: "J06.900", display: "急性上呼吸道感染", cat: catResp, w: [3]float64{50, 50, 40}, rx: []string{"lianhua", "paracetamol", "ibuprofen", "amoxicillin", "ambroxol"}, rxDays: 3, lab: 0.3, inflam: true, upcodeTo: "J18.900"},
		{code: "J20.900", display: "急性支气管炎", cat: catResp, w: [3]float64{20, 18, 25}, rx: []string{"ambroxol", "glycyrrhiza", "cefuroxime-oral", "azithromycin"}, rxDays: 5, lab: 0.4, inflam: true, img: "xr-chest", imgProb: 0.2, refer: 0.01, upcodeTo: "J18.900", los: 6},
		{code: "J02.900", display: "急性咽炎", cat: catResp, w: [3]float64{12, 15, 10}, rx: []string{"amoxicillin", "lianhua", "glycyrrhiza"}, rxDays: 3, lab: 0.2, inflam: true, upcodeTo: "J18.900"},
		{code: "J03.900", display: "急性扁桃体炎", cat: catResp, w: [3]float64{10, 5, 2}, rx: []string{"amoxicillin", "cefixime", "paracetamol"}, rxDays: 5, lab: 0.4, inflam: true},
		{code: "J18.900", display: "肺炎", cat: catResp, w: [3]float64{4, 3, 8}, rx: []string{"levofloxacin", "cefuroxime-oral", "azithromycin", "ambroxol"}, rxDays: 7, lab: 0.8, inflam: true, img: "xr-chest", imgProb: 0.8, finding: "右下肺斑片状模糊影，考虑肺炎。", refer: 0.08, los: 7.5, down: 0.05},
		{code: "J45.900", display: "支气管哮喘", cat: catResp, w: [3]float64{3, 2, 2}, rx: []string{"salbutamol"}, rxDays: 30, lab: 0.1},
		{code: "J44.100", display: "慢性阻塞性肺疾病伴急性加重", cat: catResp, w: [3]float64{0, 1, 8}, rx: []string{"salbutamol", "ambroxol", "levofloxacin"}, rxDays: 7, lab: 0.5, inflam: true, img: "xr-chest", imgProb: 0.4, finding: "双肺透亮度增高，肺纹理紊乱，符合慢性阻塞性肺疾病表现。", refer: 0.05, los: 9, down: 0.3},
		// enteric
		{code: "K52.900", display: "急性胃肠炎", cat: catEnteric, w: [3]float64{70, 70, 70}, rx: []string{"montmorillonite", "ors", "berberine", "huoxiang"}, rxDays: 3, lab: 0.3, inflam: true, upcodeTo: "A09.900", los: 4},
		{code: "K59.100", display: "功能性腹泻", cat: catEnteric, w: [3]float64{30, 30, 30}, rx: []string{"montmorillonite", "berberine"}, rxDays: 3, lab: 0.1},
		// other
		{code: "K29.700", display: "胃炎", cat: catOther, w: [3]float64{3, 15, 15}, rx: []string{"omeprazole", "rabeprazole"}, rxDays: 14, lab: 0.1, img: "us-abd", imgProb: 0.1, upcodeTo: "K25.900", los: 5},
		{code: "M54.500", display: "腰痛", cat: catOther, w: [3]float64{0, 12, 12}, rx: []string{"diclofenac", "ibuprofen"}, rxDays: 7, upcodeTo: "M51.202"},
		{code: "M17.900", display: "膝关节病", cat: catOther, w: [3]float64{0, 5, 12}, rx: []string{"diclofenac", "ibuprofen"}, rxDays: 14},
		{code: "L30.900", display: "皮炎", cat: catOther, w: [3]float64{12, 8, 6}, rx: []string{"loratadine"}, rxDays: 7},
		{code: "H10.900", display: "结膜炎", cat: catOther, w: [3]float64{6, 4, 4}, rx: []string{"loratadine"}, rxDays: 5},
		{code: "K02.900", display: "龋病", cat: catOther, w: [3]float64{10, 4, 2}},
		{code: "R51.x00", display: "头痛", cat: catOther, w: [3]float64{2, 6, 5}, rx: []string{"ibuprofen", "paracetamol"}, rxDays: 3, img: "ct-head", imgProb: 0.05},
		{code: "N39.000", display: "泌尿道感染", cat: catOther, w: [3]float64{2, 6, 6}, rx: []string{"levofloxacin", "cefuroxime-oral"}, rxDays: 5, lab: 0.5, inflam: true, los: 5},
		{code: "T14.000", display: "浅表损伤", cat: catOther, w: [3]float64{12, 8, 5}, rx: []string{"ibuprofen"}, rxDays: 3},
		{code: "R50.900", display: "发热", cat: catOther, w: [3]float64{10, 4, 3}, rx: []string{"paracetamol", "ibuprofen"}, rxDays: 3, lab: 0.6, inflam: true},
		{code: "M79.100", display: "肌痛", cat: catOther, w: [3]float64{0, 5, 5}, rx: []string{"diclofenac"}, rxDays: 5},
		{code: "I25.100", display: "冠状动脉粥样硬化性心脏病", cat: catOther, w: [3]float64{0, 2, 8}, rx: []string{"aspirin", "atorvastatin", "clopidogrel"}, rxDays: 30, lab: 0.3, refer: 0.05, los: 8, proc: &procedure{code: "36.0700", display: "药物洗脱冠状动脉支架置入", item: "330803017", price: 6500}, procProb: 0.35, down: 0.2},
		// billed-only diagnoses (upcoding targets)
		{code: "K25.900", display: "胃溃疡", cat: catInpatient, rx: []string{"rabeprazole"}, rxDays: 28},
		{code: "M51.202", display: "腰椎间盘突出", cat: catInpatient, rx: []string{"diclofenac"}, rxDays: 14, los: 10, proc: &procedure{code: "80.5100", display: "椎间盘切除术", item: "331503009", price: 4500}, procProb: 0.2},
		{code: "A09.900", display: "感染性腹泻", cat: catNotifiable, season: seasonEnteric(), rx: []string{"montmorillonite", "ors"}, rxDays: 3, lab: 0.6, inflam: true, los: 4},
		// inpatient-only diagnoses
		{code: "I63.900", display: "脑梗死", cat: catInpatient, rx: []string{"aspirin", "atorvastatin"}, rxDays: 30, img: "ct-head", imgProb: 0.95, finding: "左侧基底节区低密度灶，考虑脑梗死。", los: 11, down: 0.4},
		{code: "I50.900", display: "心力衰竭", cat: catInpatient, rx: []string{"hctz", "metoprolol"}, rxDays: 30, img: "xr-chest", imgProb: 0.8, finding: "心影增大，双肺淤血。", los: 9, down: 0.3},
		{code: "K35.800", display: "急性阑尾炎", cat: catInpatient, rx: []string{"ceftriaxone", "metronidazole"}, inflam: true, img: "us-abd", imgProb: 0.8, finding: "右下腹阑尾增粗，考虑急性阑尾炎。", los: 6, proc: &procedure{code: "47.0100", display: "腹腔镜下阑尾切除术", item: "331003004", price: 2200}, procProb: 0.95},
		{code: "K80.100", display: "胆囊结石伴胆囊炎", cat: catInpatient, rx: []string{"cefuroxime-iv", "omeprazole-iv"}, inflam: true, hepatic: true, img: "us-abd", imgProb: 0.95, finding: "胆囊结石伴胆囊炎。", los: 7, proc: &procedure{code: "51.2300", display: "腹腔镜下胆囊切除术", item: "331005009", price: 2800}, procProb: 0.85},
		{code: "N20.000", display: "肾结石", cat: catInpatient, rx: []string{"diclofenac", "saline"}, img: "us-abd", imgProb: 0.95, finding: "左肾结石。", los: 5, proc: &procedure{code: "98.5100", display: "体外冲击波碎石术", item: "310905012", price: 1500}, procProb: 0.7},
		{code: "H25.900", display: "老年性白内障", cat: catInpatient, los: 3, proc: &procedure{code: "13.4100", display: "白内障超声乳化抽吸术", item: "330404012", price: 3000}, procProb: 1},
		{code: "S72.000", display: "股骨颈骨折", cat: catInpatient, rx: []string{"cefuroxime-iv", "saline"}, los: 14, proc: &procedure{code: "81.5200", display: "髋关节部分置换术", item: "331501036", price: 8000}, procProb: 0.8, down: 0.5},
		{code: "S82.200", display: "胫骨骨折", cat: catInpatient, rx: []string{"cefuroxime-iv", "saline"}, los: 10, proc: &procedure{code: "79.3600", display: "胫腓骨骨折切开复位内固定术", item: "331506013", price: 4500}, procProb: 0.85, down: 0.3},
		{code: "O80.000", display: "单胎顺产", cat: catInpatient, rx: []string{"glucose"}, los: 3, proc: &procedure{code: "73.5900", display: "手法助产", item: "331303001", price: 800}, procProb: 1},
		{code: "S06.000", display: "脑震荡", cat: catInpatient, img: "ct-head", imgProb: 1, finding: "颅内未见明显异常密度影。", los: 5},
		// notifiable infectious diseases
		{code: "B08.401", display: "手足口病", cat: catNotifiable, season: seasonHFMD(), rx: []string{"paracetamol"}, rxDays: 5, lab: 0.6},
		{code: "J10.100", display: "流行性感冒", cat: catNotifiable, season: seasonFlu(), rx: []string{"oseltamivir", "paracetamol", "lianhua"}, rxDays: 5, lab: 0.5},
		{code: "A08.101", display: "诺如病毒性肠炎", cat: catNotifiable, season: seasonNoro(), rx: []string{"ors", "montmorillonite"}, rxDays: 3, lab: 0.3},
		{code: "A03.900", display: "细菌性痢疾", cat: catNotifiable, season: seasonEnteric(), rx: []string{"levofloxacin", "ors"}, rxDays: 5, lab: 0.8, inflam: true},
		{code: "A15.000", display: "肺结核", cat: catNotifiable, season: seasonFlat(), rx: []string{"hrze"}, rxDays: 30, lab: 0.9, img: "ct-chest", imgProb: 0.9, finding: "右上肺斑片状及条索状影，考虑继发性肺结核。"},
		{code: "B18.100", display: "慢性乙型病毒性肝炎", cat: catNotifiable, season: seasonFlat(), rx: []string{"entecavir"}, rxDays: 30, lab: 1, hepatic: true, img: "us-abd", imgProb: 0.5, finding: "肝实质回声增粗。"},
		// chronic cohorts
		{code: "I10.x00", display: "原发性高血压", cat: catChronic},
		{code: "E11.900", display: "2型糖尿病", cat: catChronic},
	}
}

// inpatientWeights are the admission diagnoses per band: child, adult man,
// adult woman (deliveries), elderly.
func inpatientWeights() map[string][4]float64 {
	return map[string][4]float64{
		"J18.900": {55, 8, 6, 16}, "J20.900": {20, 3, 3, 4}, "K52.900": {10, 4, 4, 3},
		"K35.800": {5, 9, 7, 2}, "S06.000": {5, 3, 2, 1}, "K80.100": {0, 8, 8, 5},
		"I63.900": {0, 10, 6, 20}, "I25.100": {0, 9, 5, 13}, "N20.000": {0, 7, 4, 2},
		"S82.200": {0, 7, 4, 2}, "K29.700": {0, 5, 5, 3}, "M51.202": {0, 8, 6, 3},
		"J44.100": {0, 2, 1, 14}, "I50.900": {0, 2, 1, 9}, "H25.900": {0, 1, 1, 8},
		"S72.000": {0, 1, 1, 5}, "N39.000": {0, 2, 5, 3}, "O80.000": {0, 0, 90, 0}, // birthWeight keeps about half the draws: ~5.5 births per 1,000 a year
	}
}

func newConditions(p *Plan) *conditions {
	cs := &conditions{byCode: map[string]*condition{}}
	all := conditionTable()
	for _, c := range all {
		c.concept = concept(fhir.SystemICD10, c.code, c.display)
		if c.season == nil {
			switch c.cat {
			case catResp:
				c.season = seasonResp()
			case catEnteric:
				c.season = seasonEnteric()
			default:
				c.season = seasonFlat()
			}
		}
		c.cum = cumulative(c.season)
		c.minAge = minAge[c.code[:3]]
		for _, k := range c.rx {
			c.drugs = append(c.drugs, p.drugByKey[k])
		}
		if c.rxDays == 0 {
			c.rxDays = 5
		}
		if pr := c.proc; pr != nil {
			pr.concept = concept(fhir.SystemICD9CM3, pr.code, pr.display)
			pr.itemConcept = concept(fhir.SystemMedicalItem, pr.item, pr.display)
		}
		cs.byCode[c.code] = c
	}
	for _, c := range all {
		if c.upcodeTo != "" {
			c.upcode = cs.byCode[c.upcodeTo]
		}
		if c.cat <= catOther {
			for b := range 3 {
				cs.outpatient[c.cat][b].add(c, c.w[b])
			}
		}
	}
	for _, c := range all { // table order keeps the pickers deterministic
		if w, ok := inpatientWeights()[c.code]; ok {
			for b := range 4 {
				cs.inpatient[b].add(c, w[b])
			}
		}
	}
	cs.htn, cs.dm = cs.byCode["I10.x00"], cs.byCode["E11.900"]
	return cs
}

// notifiable is a 法定传染病 at its national incidence (2019, the last year before
// COVID-19 changed reporting), with age multipliers: <5, 5–14, 15–64, 65+.
type notifiable struct {
	cond    *condition
	per100k float64
	mult    [4]float64
	county  float64 // share diagnosed at county hospitals rather than township centres
}

func notifiables(cs *conditions) []notifiable {
	return []notifiable{
		{cs.byCode["B08.401"], 137.0, [4]float64{16, 1.2, 0.02, 0.02}, 0.4},
		{cs.byCode["J10.100"], 253.6, [4]float64{2.5, 2.5, 0.6, 0.8}, 0.4},
		{cs.byCode["A09.900"], 92.7, [4]float64{8, 0.6, 0.6, 0.6}, 0.4},
		{cs.byCode["A15.000"], 55.4, [4]float64{0.1, 0.1, 1, 2}, 1},
		{cs.byCode["B18.100"], 71.6, [4]float64{0.05, 0.05, 1.2, 1.1}, 0.7},
		{cs.byCode["A03.900"], 5.8, [4]float64{2, 1, 1, 1}, 0.5},
		{cs.byCode["A08.101"], 10, [4]float64{2, 2, 1, 1}, 0.4},
	}
}

func band4(age int) int {
	switch {
	case age < 5:
		return 0
	case age < 15:
		return 1
	case age < 65:
		return 2
	}
	return 3
}

// outbreakKind is a disease that can be planned as a cluster: its season, the
// attack rate among eligible residents over the window, and their share of the
// population (for the planned number of cases).
type outbreakKind struct {
	code           string
	months         []time.Month
	attack         float64
	minAge, maxAge int
	share          float64
}

func outbreakKinds() []outbreakKind {
	return []outbreakKind{
		{"B08.401", []time.Month{time.April, time.May, time.June, time.July}, 0.04, 0, 6, 0.06},
		{"A08.101", []time.Month{time.November, time.December, time.January, time.February, time.March}, 0.004, 0, 120, 1},
		{"J10.100", []time.Month{time.December, time.January, time.February}, 0.006, 0, 120, 1},
		{"A03.900", []time.Month{time.July, time.August, time.September}, 0.002, 0, 120, 1},
	}
}

// notifiableCases writes the background cases of the notifiable diseases.
func (g *careGen) notifiableCases() {
	for range g.p.cfg.Years {
		for _, n := range g.p.notifiers {
			x := g.r.Float64()
			t := g.seasonalDay(n.cond.cum)
			age := ageAt(g.res.BirthDate, t)
			if t.Before(g.res.BirthDate) || x >= n.per100k/1e5*n.mult[band4(age)] {
				continue
			}
			fi := g.centre
			if g.r.Float64() < n.county && len(g.p.county) > 0 {
				fi = g.p.county[0]
			}
			g.visit(n.cond, fi, t, nil)
		}
	}
}

// outbreakCases writes the injected extra cases of the planned outbreaks and
// records their Condition ids. It draws from its own stream so the baseline is
// the same with the scenario on or off.
func (g *careGen) outbreakCases() {
	town := g.res.Village.Parent
	for _, ob := range g.p.outbreaks {
		if town == nil || !ob.townships[town.Code] {
			continue
		}
		saved := g.r
		g.r = g.ob // the visit draws from the outbreak stream too
		x := g.r.Float64()
		// A triangular epidemic curve over the window.
		span := ob.end.Sub(ob.start)
		t := ob.start.Add(time.Duration((g.r.Float64() + g.r.Float64()) / 2 * float64(span)))
		t = time.Date(t.Year(), t.Month(), t.Day(), 8+g.r.IntN(10), g.r.IntN(60), 0, 0, cst)
		age := ageAt(g.res.BirthDate, t)
		if x < ob.attack && age >= ob.minAge && age < ob.maxAge && !t.Before(g.res.BirthDate) {
			fi := g.centre
			if g.r.IntN(4) == 0 && len(g.p.county) > 0 {
				fi = g.p.county[0]
			}
			frag := ob.Outbreak
			frag.Cases = []string{g.visit(ob.cond, fi, t, nil)}
			g.truth.addOutbreakCases(frag)
		}
		g.r = saved
	}
}

// poisson draws a Poisson count (Knuth; λ is small here).
func poisson(r *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}
