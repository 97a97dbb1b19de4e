package synth

import (
	"strconv"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

// drug is one entry of the region's drug catalogue.
type drug struct {
	key    string  // stable short name used by the tables
	atc    string  // ATC level 4, the classification segment of the code
	form   string  // 剂型
	name   string  // 通用名 + 剂型
	spec   string  // 规格
	unit   string  // dispensing unit
	price  float64 // regional reference price per unit, CNY
	perDay float64 // units per day at the usual dose
	sig    string  // 用法用量
	class  string  // therapeutic class: drugs of one class substitute for each other
	tcm    bool    // 中成药

	index   int
	code    string
	ref     map[string]any
	concept map[string]any
}

// formCodes are the dosage-form segment of the drug code.
func formCode(form string) string {
	switch form {
	case "片剂":
		return "A001"
	case "缓释片":
		return "A002"
	case "肠溶片":
		return "A003"
	case "分散片":
		return "A004"
	case "胶囊":
		return "B001"
	case "肠溶胶囊":
		return "B002"
	case "缓释胶囊":
		return "B003"
	case "注射剂":
		return "C001"
	case "散剂":
		return "D001"
	case "气雾剂":
		return "E001"
	}
	return "F001"
}

// finish derives the code and the shared codings. The code follows the shape of
// the 国家医保药品分类与代码 (23 characters: X 西药 / Z 中成药, the ATC level-4
// class, A + a 3-digit name number, a 4-character dosage form, and the
// specification, package and manufacturer segments); the values are fictional.
func (d *drug) finish(i int) {
	d.index = i
	kind := "X"
	if d.tcm {
		kind = "Z"
	}
	n := strconv.Itoa(101 + i)
	d.code = kind + d.atc + "A" + n + formCode(d.form) + "010100001"
	d.ref = refDisplay("Medication", "med-"+d.key, d.name)
	d.concept = concept(fhir.SystemDrug, d.code, d.name)
}

func (d *drug) medication() fhir.Resource {
	return fhir.Resource{
		"resourceType": "Medication",
		"id":           "med-" + d.key,
		"status":       "active",
		"code":         d.concept,
		"form":         map[string]any{"text": d.form},
		"extension": []any{map[string]any{
			"url":        fhir.NS + "StructureDefinition/unit-price",
			"valueMoney": money(d.price),
		}},
	}
}

// drugCatalogue is ~45 drugs of the national essential drug list commonly used in
// county hospitals and primary care, with prices near the 2023–2024 volume-based
// procurement (集采) results.
func drugCatalogue() []*drug {
	return []*drug{
		{key: "amlodipine", atc: "C08CA", form: "片剂", name: "苯磺酸氨氯地平片", spec: "5mg", unit: "片", price: 0.15, perDay: 1, sig: "每次5mg，每日1次，口服", class: "ccb"},
		{key: "nifedipine", atc: "C08CA", form: "缓释片", name: "硝苯地平控释片", spec: "30mg", unit: "片", price: 1.80, perDay: 1, sig: "每次30mg，每日1次，口服", class: "ccb"},
		{key: "irbesartan", atc: "C09CA", form: "片剂", name: "厄贝沙坦片", spec: "150mg", unit: "片", price: 0.30, perDay: 1, sig: "每次150mg，每日1次，口服", class: "arb"},
		{key: "valsartan", atc: "C09CA", form: "胶囊", name: "缬沙坦胶囊", spec: "80mg", unit: "粒", price: 0.45, perDay: 1, sig: "每次80mg，每日1次，口服", class: "arb"},
		{key: "losartan", atc: "C09CA", form: "片剂", name: "氯沙坦钾片", spec: "50mg", unit: "片", price: 0.40, perDay: 1, sig: "每次50mg，每日1次，口服", class: "arb"},
		{key: "enalapril", atc: "C09AA", form: "片剂", name: "马来酸依那普利片", spec: "10mg", unit: "片", price: 0.20, perDay: 1, sig: "每次10mg，每日1次，口服", class: "acei"},
		{key: "metoprolol", atc: "C07AB", form: "缓释片", name: "琥珀酸美托洛尔缓释片", spec: "47.5mg", unit: "片", price: 1.20, perDay: 1, sig: "每次47.5mg，每日1次，口服", class: "bb"},
		{key: "hctz", atc: "C03AA", form: "片剂", name: "氢氯噻嗪片", spec: "25mg", unit: "片", price: 0.05, perDay: 1, sig: "每次25mg，每日1次，口服", class: "diuretic"},
		{key: "metformin", atc: "A10BA", form: "片剂", name: "盐酸二甲双胍片", spec: "0.5g", unit: "片", price: 0.10, perDay: 3, sig: "每次0.5g，每日3次，餐中口服", class: "biguanide"},
		{key: "glimepiride", atc: "A10BB", form: "片剂", name: "格列美脲片", spec: "2mg", unit: "片", price: 0.30, perDay: 1, sig: "每次2mg，每日1次，早餐前口服", class: "sulfonylurea"},
		{key: "gliclazide", atc: "A10BB", form: "缓释片", name: "格列齐特缓释片", spec: "30mg", unit: "片", price: 0.40, perDay: 1, sig: "每次30mg，每日1次，早餐时口服", class: "sulfonylurea"},
		{key: "acarbose", atc: "A10BF", form: "片剂", name: "阿卡波糖片", spec: "50mg", unit: "片", price: 0.60, perDay: 3, sig: "每次50mg，每日3次，与第一口饭同嚼服", class: "agi"},
		{key: "glargine", atc: "A10AE", form: "注射剂", name: "甘精胰岛素注射液", spec: "3ml:300单位", unit: "支", price: 70, perDay: 0.07, sig: "每次10单位，每日1次，睡前皮下注射", class: "insulin"},
		{key: "atorvastatin", atc: "C10AA", form: "片剂", name: "阿托伐他汀钙片", spec: "20mg", unit: "片", price: 0.20, perDay: 1, sig: "每次20mg，每晚1次，口服", class: "statin"},
		{key: "rosuvastatin", atc: "C10AA", form: "片剂", name: "瑞舒伐他汀钙片", spec: "10mg", unit: "片", price: 0.20, perDay: 1, sig: "每次10mg，每晚1次，口服", class: "statin"},
		{key: "aspirin", atc: "B01AC", form: "肠溶片", name: "阿司匹林肠溶片", spec: "100mg", unit: "片", price: 0.10, perDay: 1, sig: "每次100mg，每日1次，口服", class: "antiplatelet"},
		{key: "clopidogrel", atc: "B01AC", form: "片剂", name: "硫酸氢氯吡格雷片", spec: "75mg", unit: "片", price: 1.00, perDay: 1, sig: "每次75mg，每日1次，口服", class: "antiplatelet"},
		{key: "amoxicillin", atc: "J01CA", form: "胶囊", name: "阿莫西林胶囊", spec: "0.25g", unit: "粒", price: 0.20, perDay: 6, sig: "每次0.5g，每日3次，口服", class: "penicillin"},
		{key: "amoxiclav", atc: "J01CR", form: "片剂", name: "阿莫西林克拉维酸钾片", spec: "0.375g", unit: "片", price: 1.10, perDay: 3, sig: "每次0.375g，每日3次，口服", class: "penicillin"},
		{key: "cefuroxime-oral", atc: "J01DC", form: "片剂", name: "头孢呋辛酯片", spec: "0.25g", unit: "片", price: 1.20, perDay: 2, sig: "每次0.25g，每日2次，餐后口服", class: "cephalosporin"},
		{key: "cefixime", atc: "J01DD", form: "胶囊", name: "头孢克肟胶囊", spec: "0.1g", unit: "粒", price: 1.50, perDay: 2, sig: "每次0.1g，每日2次，口服", class: "cephalosporin"},
		{key: "azithromycin", atc: "J01FA", form: "片剂", name: "阿奇霉素片", spec: "0.25g", unit: "片", price: 1.50, perDay: 2, sig: "每次0.5g，每日1次，口服", class: "macrolide"},
		{key: "levofloxacin", atc: "J01MA", form: "片剂", name: "左氧氟沙星片", spec: "0.5g", unit: "片", price: 1.00, perDay: 1, sig: "每次0.5g，每日1次，口服", class: "quinolone"},
		{key: "ceftriaxone", atc: "J01DD", form: "注射剂", name: "注射用头孢曲松钠", spec: "1.0g", unit: "支", price: 8.00, perDay: 2, sig: "每次2g，每日1次，静脉滴注", class: "cephalosporin-iv"},
		{key: "cefuroxime-iv", atc: "J01DC", form: "注射剂", name: "注射用头孢呋辛钠", spec: "1.5g", unit: "支", price: 12.00, perDay: 2, sig: "每次1.5g，每日2次，静脉滴注", class: "cephalosporin-iv"},
		{key: "ibuprofen", atc: "M01AE", form: "缓释胶囊", name: "布洛芬缓释胶囊", spec: "0.3g", unit: "粒", price: 0.50, perDay: 2, sig: "每次0.3g，每日2次，口服", class: "nsaid"},
		{key: "diclofenac", atc: "M01AB", form: "缓释片", name: "双氯芬酸钠缓释片", spec: "75mg", unit: "片", price: 0.60, perDay: 1, sig: "每次75mg，每日1次，口服", class: "nsaid"},
		{key: "paracetamol", atc: "N02BE", form: "片剂", name: "对乙酰氨基酚片", spec: "0.5g", unit: "片", price: 0.10, perDay: 3, sig: "每次0.5g，发热时服，每日不超过4次", class: "antipyretic"},
		{key: "omeprazole", atc: "A02BC", form: "肠溶胶囊", name: "奥美拉唑肠溶胶囊", spec: "20mg", unit: "粒", price: 0.30, perDay: 2, sig: "每次20mg，每日2次，餐前口服", class: "ppi"},
		{key: "rabeprazole", atc: "A02BC", form: "肠溶片", name: "雷贝拉唑钠肠溶片", spec: "10mg", unit: "片", price: 1.00, perDay: 2, sig: "每次10mg，每日2次，餐前口服", class: "ppi"},
		{key: "omeprazole-iv", atc: "A02BC", form: "注射剂", name: "注射用奥美拉唑钠", spec: "40mg", unit: "支", price: 6.00, perDay: 2, sig: "每次40mg，每日2次，静脉滴注", class: "ppi-iv"},
		{key: "montmorillonite", atc: "A07BC", form: "散剂", name: "蒙脱石散", spec: "3g", unit: "袋", price: 0.80, perDay: 3, sig: "每次3g，每日3次，温水冲服", class: "antidiarrhoeal"},
		{key: "berberine", atc: "A07AX", form: "片剂", name: "盐酸小檗碱片", spec: "0.1g", unit: "片", price: 0.10, perDay: 9, sig: "每次0.3g，每日3次，口服", class: "antidiarrhoeal"},
		{key: "ors", atc: "A07CA", form: "散剂", name: "口服补液盐散(Ⅲ)", spec: "5.125g", unit: "袋", price: 0.60, perDay: 3, sig: "每袋溶于250ml温水，随时口服", class: "ors"},
		{key: "loratadine", atc: "R06AX", form: "片剂", name: "氯雷他定片", spec: "10mg", unit: "片", price: 0.50, perDay: 1, sig: "每次10mg，每日1次，口服", class: "antihistamine"},
		{key: "ambroxol", atc: "R05CB", form: "片剂", name: "盐酸氨溴索片", spec: "30mg", unit: "片", price: 0.30, perDay: 3, sig: "每次30mg，每日3次，口服", class: "mucolytic"},
		{key: "glycyrrhiza", atc: "R05CA", form: "片剂", name: "复方甘草片", spec: "0.25g", unit: "片", price: 0.05, perDay: 9, sig: "每次3片，每日3次，含化", class: "antitussive"},
		{key: "oseltamivir", atc: "J05AH", form: "胶囊", name: "磷酸奥司他韦胶囊", spec: "75mg", unit: "粒", price: 6.00, perDay: 2, sig: "每次75mg，每日2次，口服", class: "neuraminidase"},
		{key: "salbutamol", atc: "R03AC", form: "气雾剂", name: "硫酸沙丁胺醇吸入气雾剂", spec: "100μg×200揿", unit: "支", price: 20, perDay: 0.1, sig: "每次1～2揿，喘息时吸入", class: "bronchodilator"},
		{key: "saline", atc: "B05XA", form: "注射剂", name: "0.9%氯化钠注射液", spec: "250ml", unit: "袋", price: 3.00, perDay: 2, sig: "每次250ml，每日2次，静脉滴注(溶媒)", class: "infusion"},
		{key: "glucose", atc: "B05BA", form: "注射剂", name: "5%葡萄糖注射液", spec: "250ml", unit: "袋", price: 3.00, perDay: 1, sig: "每次250ml，每日1次，静脉滴注(溶媒)", class: "infusion"},
		{key: "metronidazole", atc: "P01AB", form: "片剂", name: "甲硝唑片", spec: "0.2g", unit: "片", price: 0.05, perDay: 6, sig: "每次0.4g，每日3次，口服", class: "nitroimidazole"},
		{key: "entecavir", atc: "J05AF", form: "分散片", name: "恩替卡韦分散片", spec: "0.5mg", unit: "片", price: 0.30, perDay: 1, sig: "每次0.5mg，每日1次，空腹口服", class: "antiviral-hbv"},
		{key: "hrze", atc: "J04AM", form: "片剂", name: "异福酰胺片(四联抗结核)", spec: "固定剂量复合制剂", unit: "片", price: 0.90, perDay: 4, sig: "每次4片，每日1次，空腹顿服", class: "anti-tb"},
		{key: "lianhua", atc: "A01AA", form: "胶囊", name: "连花清瘟胶囊", spec: "0.35g", unit: "粒", price: 0.50, perDay: 12, sig: "每次4粒，每日3次，口服", class: "tcm-resp", tcm: true},
		{key: "huoxiang", atc: "A04AA", form: "合剂", name: "藿香正气口服液", spec: "10ml", unit: "支", price: 1.50, perDay: 4, sig: "每次10～20ml，每日2次，口服", class: "tcm-gi", tcm: true},
	}
}

// rx is a prescription template: a drug for some days.
type rx struct {
	drug *drug
	days int
}

// dispensedQty is the quantity of d for days: its daily dose, at least one
// ampoule, rounded up to whole units.
func dispensedQty(d *drug, days int) float64 {
	qty := d.perDay * float64(days)
	if d.unit == "支" && qty < 1 {
		qty = 1
	}
	return roundUp(qty)
}

// substitute is another drug of the same class, or nil.
func (p *Plan) substitute(d *drug, f string, t time.Time) *drug {
	for _, o := range p.drugs {
		if o != d && o.class == d.class && !p.shortageAt(o, f, t) {
			return o
		}
	}
	return nil
}

// prescribe writes a MedicationRequest for x at encounter enc and, unless the
// drug is short at the facility, a MedicationDispense by its pharmacy — of a
// same-class substitute when one is in stock. It returns the claim line of what
// was dispensed (ok false when nothing was).
func (g *careGen) prescribe(x rx, enc string, fi *facInfo, doc staff, t time.Time) (line, bool) {
	d := x.drug
	qty := dispensedQty(d, x.days)
	mr := g.id("mr")
	req := fhir.Resource{
		"resourceType":        "MedicationRequest",
		"id":                  mr,
		"status":              "completed",
		"intent":              "order",
		"medicationReference": d.ref,
		"subject":             g.pat,
		"encounter":           ref("Encounter", enc),
		"authoredOn":          dateTime(t),
		"dosageInstruction":   []any{map[string]any{"text": d.sig}},
		"dispenseRequest": map[string]any{
			"quantity":               map[string]any{"value": qty, "unit": d.unit},
			"expectedSupplyDuration": days(x.days),
		},
	}
	if doc.ref != nil {
		req["requester"] = doc.ref
	}
	g.emit(req)
	given := d
	if g.p.shortageAt(d, fi.f.ID, t) {
		given = g.p.substitute(d, fi.f.ID, t)
		if given == nil || g.r.IntN(10) < 4 {
			req["status"] = "active"
			req["note"] = []any{map[string]any{"text": "药房缺货，未能调配：" + d.name}}
			return line{}, false
		}
	}
	disp := fhir.Resource{
		"resourceType":            "MedicationDispense",
		"id":                      g.id("md"),
		"status":                  "completed",
		"medicationReference":     given.ref,
		"subject":                 g.pat,
		"context":                 ref("Encounter", enc),
		"authorizingPrescription": []any{ref("MedicationRequest", mr)},
		"quantity":                map[string]any{"value": dispensedQty(given, x.days), "unit": given.unit},
		"daysSupply":              days(x.days),
		"whenHandedOver":          dateTime(t.Add(10 * time.Minute)),
		"dosageInstruction":       []any{map[string]any{"text": given.sig}},
	}
	if len(fi.pharmacists) > 0 {
		disp["performer"] = []any{map[string]any{"actor": fi.pharmacists[g.r.IntN(len(fi.pharmacists))].ref}}
	}
	if given != d {
		disp["substitution"] = map[string]any{
			"wasSubstituted": true,
			"type":           concept("http://terminology.hl7.org/CodeSystem/v3-substanceAdminSubstitution", "TE", "therapeutic alternative"),
			"reason":         []any{concept("http://terminology.hl7.org/CodeSystem/v3-ActReason", "OS", "out of stock")},
		}
	}
	g.emit(disp)
	return line{concept: given.concept, qty: dispensedQty(given, x.days), price: g.p.price(given, fi.f.ID, t)}, true
}

// days is a duration in days (UCUM).
func days(n int) map[string]any {
	return map[string]any{"value": n, "unit": "天", "system": ucum, "code": "d"}
}
