package synth

import (
	"math"
	"math/big"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

// analyte is one laboratory test with its reference range (adult; Hb by sex)
// and the distribution of values in people without the relevant disease.
type analyte struct {
	loinc, name, unit, ucumCode string
	low, high                   float64
	lowF, highF                 float64 // women's range when it differs
	mean, sd                    float64
	decimals                    int

	concept        map[string]any
	rangeM, rangeF []any
}

// panel is a group of tests reported together, billed as one service item.
type panel struct {
	loinc, name string
	analytes    []*analyte
	item        *item
	concept     map[string]any
}

// labPanels are the routine panels of county and township laboratories, with
// the reference intervals of WS/T 405-2012 (blood cell analysis) and WS/T
// 404-2012 (clinical chemistry).
func labPanels() map[string]*panel {
	ps := map[string]*panel{
		"cbc": {loinc: "58410-2", name: "血常规", item: &item{code: "250101015", name: "血细胞分析", price: [3]float64{15, 15, 20}},
			analytes: []*analyte{
				{loinc: "6690-2", name: "白细胞计数", unit: "10^9/L", ucumCode: "10*9/L", low: 3.5, high: 9.5, mean: 6.5, sd: 1.6, decimals: 2},
				{loinc: "718-7", name: "血红蛋白", unit: "g/L", ucumCode: "g/L", low: 130, high: 175, lowF: 115, highF: 150, mean: 138, sd: 14},
				{loinc: "777-3", name: "血小板计数", unit: "10^9/L", ucumCode: "10*9/L", low: 125, high: 350, mean: 230, sd: 55},
				{loinc: "770-8", name: "中性粒细胞百分比", unit: "%", ucumCode: "%", low: 40, high: 75, mean: 60, sd: 8, decimals: 1},
			}},
		"liver": {loinc: "24325-3", name: "肝功能", item: &item{code: "250305001", name: "肝功能检查", price: [3]float64{50, 50, 60}},
			analytes: []*analyte{
				{loinc: "1742-6", name: "丙氨酸氨基转移酶", unit: "U/L", ucumCode: "U/L", low: 9, high: 50, mean: 24, sd: 10},
				{loinc: "1920-8", name: "天门冬氨酸氨基转移酶", unit: "U/L", ucumCode: "U/L", low: 15, high: 40, mean: 24, sd: 7},
				{loinc: "1975-2", name: "总胆红素", unit: "μmol/L", ucumCode: "umol/L", low: 0, high: 26, mean: 12, sd: 5, decimals: 1},
				{loinc: "1751-7", name: "白蛋白", unit: "g/L", ucumCode: "g/L", low: 40, high: 55, mean: 45, sd: 3.5, decimals: 1},
			}},
		"renal": {loinc: "24362-6", name: "肾功能", item: &item{code: "250307001", name: "肾功能检查", price: [3]float64{30, 30, 40}},
			analytes: []*analyte{
				{loinc: "14682-9", name: "肌酐", unit: "μmol/L", ucumCode: "umol/L", low: 57, high: 111, lowF: 41, highF: 81, mean: 72, sd: 14},
				{loinc: "22664-7", name: "尿素", unit: "mmol/L", ucumCode: "mmol/L", low: 3.1, high: 8.0, mean: 5.2, sd: 1.2, decimals: 1},
				{loinc: "14933-6", name: "尿酸", unit: "μmol/L", ucumCode: "umol/L", low: 208, high: 428, lowF: 155, highF: 357, mean: 320, sd: 70},
			}},
		"glucose": {loinc: "14771-0", name: "空腹血糖", item: &item{code: "250302001", name: "葡萄糖测定", price: [3]float64{5, 5, 6}},
			analytes: []*analyte{
				{loinc: "14771-0", name: "空腹血糖", unit: "mmol/L", ucumCode: "mmol/L", low: 3.9, high: 6.1, mean: 5.0, sd: 0.5, decimals: 1},
			}},
		"hba1c": {loinc: "4548-4", name: "糖化血红蛋白", item: &item{code: "250302003", name: "糖化血红蛋白测定", price: [3]float64{40, 40, 50}},
			analytes: []*analyte{
				{loinc: "4548-4", name: "糖化血红蛋白", unit: "%", ucumCode: "%", low: 4, high: 6, mean: 5.4, sd: 0.4, decimals: 1},
			}},
	}
	for _, p := range ps {
		p.concept = concept("http://loinc.org", p.loinc, p.name)
		p.item.concept = concept(fhir.SystemMedicalItem, p.item.code, p.item.name)
		for _, a := range p.analytes {
			a.concept = concept("http://loinc.org", a.loinc, a.name)
			a.rangeM = []any{map[string]any{"low": a.quantity(a.low), "high": a.quantity(a.high)}}
			a.rangeF = a.rangeM
			if a.lowF != 0 {
				a.rangeF = []any{map[string]any{"low": a.quantity(a.lowF), "high": a.quantity(a.highF)}}
			}
		}
	}
	return ps
}

func (a *analyte) quantity(v float64) map[string]any {
	return map[string]any{"value": v, "unit": a.unit, "system": ucum, "code": a.ucumCode}
}

// shift is how far a disease moves an analyte's mean, in units of its sd.
func shift(a *analyte, c *condition) float64 {
	switch {
	case c == nil:
		return 0
	case c.inflam && (a.loinc == "6690-2" || a.loinc == "770-8"):
		return 2.5
	case c.hepatic && (a.loinc == "1742-6" || a.loinc == "1920-8"):
		return 4
	case c.cat == catChronic && c.code == "E11.900" && (a.loinc == "14771-0" || a.loinc == "4548-4"):
		return 5
	}
	return 0
}

// labReport writes the panel's Observations and a DiagnosticReport grouping them
// and returns the claim line.
func (g *careGen) labReport(pn *panel, enc string, fi *facInfo, t time.Time, c *condition) line {
	results := make([]any, len(pn.analytes))
	for i, a := range pn.analytes {
		v := a.mean + a.sd*(g.r.NormFloat64()+shift(a, c))
		v = math.Max(v, a.mean*0.2)
		id := g.id("obs")
		g.emit(g.observation(id, a, v, enc, t))
		results[i] = ref("Observation", id)
	}
	g.emit(fhir.Resource{
		"resourceType":      "DiagnosticReport",
		"id":                g.id("dr"),
		"status":            "final",
		"category":          []any{g.p.labSection},
		"code":              pn.concept,
		"subject":           g.pat,
		"encounter":         ref("Encounter", enc),
		"effectiveDateTime": dateTime(t),
		"issued":            dateTime(t.Add(2 * time.Hour)),
		"performer":         []any{fi.ref},
		"result":            results,
	})
	return pn.item.line(fi.tier, 1)
}

// observation is one laboratory result with its range and interpretation.
func (g *careGen) observation(id string, a *analyte, v float64, enc string, t time.Time) fhir.Resource {
	p := math.Pow(10, float64(a.decimals))
	v = math.Round(v*p) / p
	low, high, rr := a.low, a.high, a.rangeM
	if g.res.Sex == "female" && a.lowF != 0 {
		low, high, rr = a.lowF, a.highF, a.rangeF
	}
	flag := byte('N')
	if v < low {
		flag = 'L'
	} else if v > high {
		flag = 'H'
	}
	return fhir.Resource{
		"resourceType":      "Observation",
		"id":                id,
		"status":            "final",
		"category":          []any{g.p.labCat},
		"code":              a.concept,
		"subject":           g.pat,
		"encounter":         ref("Encounter", enc),
		"effectiveDateTime": dateTime(t),
		"valueQuantity":     a.quantity(v),
		"referenceRange":    rr,
		"interpretation":    []any{g.p.interp[flag]},
	}
}

// imagingKind is a study type with its DICOM modality and LOINC report code.
type imagingKind struct {
	modality, modName string
	loinc, name       string
	item              string // service item code
	price             float64
	normal            string

	mod, concept, itemConcept map[string]any
}

func imagingKinds() map[string]*imagingKind {
	ks := map[string]*imagingKind{
		"xr-chest": {modality: "CR", modName: "Computed Radiography", loinc: "36643-5", name: "胸部X线摄影", item: "210102015", price: 80, normal: "双肺纹理清晰，心膈未见异常。"},
		"ct-chest": {modality: "CT", modName: "Computed Tomography", loinc: "24627-2", name: "胸部CT平扫", item: "210300001", price: 260, normal: "双肺未见明显异常。"},
		"ct-head":  {modality: "CT", modName: "Computed Tomography", loinc: "24725-4", name: "头颅CT平扫", item: "210300002", price: 200, normal: "颅内未见明显异常。"},
		"us-abd":   {modality: "US", modName: "Ultrasound", loinc: "24558-9", name: "腹部超声", item: "220201001", price: 100, normal: "肝胆胰脾未见明显异常。"},
	}
	for _, k := range ks {
		k.mod = coding("http://dicom.nema.org/resources/ontology/DCM", k.modality, k.modName)
		k.concept = concept("http://loinc.org", k.loinc, k.name)
		k.itemConcept = concept(fhir.SystemMedicalItem, k.item, k.name)
	}
	return ks
}

// imaging writes an ImagingStudy and its DiagnosticReport and returns the claim
// line. The study uid is a UUID-derived OID (2.25.<decimal>).
func (g *careGen) imaging(c *condition, enc string, fi *facInfo, t time.Time) line {
	k := g.p.imaging[c.img]
	hi := g.r.Uint64()&^(0xF<<12) | 4<<12
	lo := g.r.Uint64()&^(3<<62) | 2<<62
	n := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
	uid := "2.25." + n.Or(n, new(big.Int).SetUint64(lo)).String()
	mod := k.mod
	instances := 1 + g.r.IntN(3)
	if k.modality == "CT" {
		instances = 120 + g.r.IntN(200)
	}
	study := g.id("img")
	g.emit(fhir.Resource{
		"resourceType":      "ImagingStudy",
		"id":                study,
		"status":            "available",
		"identifier":        []any{map[string]any{"system": "urn:dicom:uid", "value": "urn:oid:" + uid}},
		"modality":          []any{mod},
		"subject":           g.pat,
		"encounter":         ref("Encounter", enc),
		"started":           dateTime(t),
		"numberOfSeries":    1,
		"numberOfInstances": instances,
		"description":       k.name,
		"location":          fi.loc,
		"series": []any{map[string]any{
			"uid": uid + ".1", "number": 1, "modality": mod, "numberOfInstances": instances, "description": k.name,
		}},
	})
	conclusion := k.normal
	if c.finding != "" && g.r.IntN(10) < 8 {
		conclusion = c.finding
	}
	g.emit(fhir.Resource{
		"resourceType":      "DiagnosticReport",
		"id":                g.id("dr"),
		"status":            "final",
		"category":          []any{g.p.radSection},
		"code":              k.concept,
		"subject":           g.pat,
		"encounter":         ref("Encounter", enc),
		"effectiveDateTime": dateTime(t),
		"issued":            dateTime(t.Add(time.Duration(1+g.r.IntN(4)) * time.Hour)),
		"performer":         []any{fi.ref},
		"imagingStudy":      []any{ref("ImagingStudy", study)},
		"conclusion":        conclusion,
	})
	return line{concept: k.itemConcept, qty: 1, price: k.price * priceTier(fi.tier)}
}

// priceTier scales county prices down at township centres.
func priceTier(tier int) float64 {
	if tier == 2 {
		return 1
	}
	return 0.8
}
