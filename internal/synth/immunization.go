package synth

import (
	"strconv"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

// dose is one dose of the national immunisation schedule: vaccine, dose number
// and the age it is due at, in months.
type dose struct {
	code, name string
	number     int
	months     int
}

// schedule is the 国家免疫规划疫苗儿童免疫程序（2021年版）.
func schedule() []dose {
	return []dose{
		{"HepB", "乙肝疫苗", 1, 0}, {"BCG", "卡介苗", 1, 0}, {"HepB", "乙肝疫苗", 2, 1},
		{"IPV", "脊灰灭活疫苗", 1, 2}, {"IPV", "脊灰灭活疫苗", 2, 3}, {"DTaP", "百白破疫苗", 1, 3},
		{"bOPV", "脊灰减毒活疫苗", 3, 4}, {"DTaP", "百白破疫苗", 2, 4}, {"DTaP", "百白破疫苗", 3, 5},
		{"HepB", "乙肝疫苗", 3, 6}, {"MPSV-A", "A群流脑多糖疫苗", 1, 6}, {"MMR", "麻腮风疫苗", 1, 8},
		{"JE-L", "乙脑减毒活疫苗", 1, 8}, {"MPSV-A", "A群流脑多糖疫苗", 2, 9}, {"DTaP", "百白破疫苗", 4, 18},
		{"MMR", "麻腮风疫苗", 2, 18}, {"HepA-L", "甲肝减毒活疫苗", 1, 18}, {"JE-L", "乙脑减毒活疫苗", 2, 24},
		{"MPSV-AC", "A群C群流脑多糖疫苗", 1, 36}, {"bOPV", "脊灰减毒活疫苗", 4, 48},
		{"MPSV-AC", "A群C群流脑多糖疫苗", 2, 72}, {"DT", "白破疫苗", 1, 72},
	}
}

// immunizations writes the doses of the schedule that fall in the care period:
// birth doses at the county hospital where children are born, the rest at the
// township centre's vaccination clinic within a fortnight of the due date.
func (g *careGen) immunizations() {
	p := g.p
	birth := g.res.BirthDate
	if !birth.After(p.cfg.Start.AddDate(-7, 0, 0)) {
		return
	}
	for _, d := range p.schedule {
		due := birth.AddDate(0, d.months, 0)
		fi, delay := g.centre, g.r.IntN(15)
		if d.months == 0 {
			delay = 0
			if len(p.county) > 0 {
				fi = p.county[len(p.county)-1] // the MCH hospital, listed last
			}
		}
		t := due.AddDate(0, 0, delay)
		t = time.Date(t.Year(), t.Month(), t.Day(), 9+g.r.IntN(7), g.r.IntN(60), 0, 0, cst)
		if t.Before(p.cfg.Start) || !t.Before(p.cfg.End()) {
			continue
		}
		r := fhir.Resource{
			"resourceType":       "Immunization",
			"id":                 g.id("imm"),
			"status":             "completed",
			"vaccineCode":        p.vaccines[d.code],
			"patient":            g.pat,
			"occurrenceDateTime": dateTime(t),
			"primarySource":      true,
			"location":           fi.loc,
			"lotNumber":          d.code + strconv.Itoa(t.Year()) + strconv.Itoa(100+g.r.IntN(900)),
			"protocolApplied": []any{map[string]any{
				"series": "国家免疫规划", "doseNumberPositiveInt": d.number,
			}},
		}
		if len(fi.nurses) > 0 {
			r["performer"] = []any{map[string]any{"actor": fi.nurses[g.r.IntN(len(fi.nurses))].ref}}
		}
		g.emit(r)
	}
}
