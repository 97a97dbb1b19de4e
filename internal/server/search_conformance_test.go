package server

// TestSearchConformance checks FHIR R4 search (http://hl7.org/fhir/R4/search.html)
// over real HTTP against every backend, with expectations derived by hand from
// the specification, never from this server's output.
//
// The dataset is testdata/search/*.json, one resource per file, PUT to
// /fhir/Type/id so that ids are fixed. It is all synthetic except six official
// R4 examples (Patient example, ch-example (张无忌, name as text only) and f001,
// Organization f001, Observation f001 (an effectivePeriod without end, i.e. an
// ongoing period) and blood-pressure (components, meta.profile vitalsigns)).
//
//	Organization  org-health-commission 示范县卫生健康委员会; org-county-hospital 示范县人民医院 (alias 县医院,
//	              partOf the commission); org-township 青石镇卫生院 (partOf the commission);
//	              org-clinic "Clinique Sainte-Hélène" (alias "Sainte-Hélène, Montréal"); f001 (official)
//	Practitioner  prac-li 李 建国; prac-ouyang 欧阳 华 (two-character surname)
//	Patient       pat-zhangsan 张 三 (male 1980-03-15, ids urn:oid:2.16.156.10011.1.3 typed NI and an MRN typed MR,
//	              tag vip, GP prac-li, org county hospital); pat-shanxiongxin 单 雄信 (surname reads shan; township);
//	              pat-zengxiaoming 曾 小明 (surname reads zeng; 2010-11-20; township; GP prac-ouyang);
//	              pat-wangfang 王 芳 (female, birthDate 1990-05, security R, GP prac-li, county hospital);
//	              pat-lisi {"text":"李四"} (gender unknown, birthDate 1965, identifier without system LOCAL-0001,
//	              no organization); pat-zhangxiaofan 张 小凡 (female 2001-02-03, active false);
//	              pat-dupre Dupré Zoë (accents; loaded last, after a time mark, for _lastUpdated);
//	              pat-nogender 赵 六 (no gender, no birthDate, no organization); example, ch-example, f001 (official)
//	Observation   pat-zhangsan (10): glucose 2339-0 in mg/dL and g/L at second, day, month precision, in UTC
//	              ("2023-12-31T20:00:00Z" is 2024-01-01 in China), molar glucose 15074-8 in mmol/L and µmol/L
//	              (one with an effectivePeriod), hemoglobin 718-7 135 g/L at "2024-03-04T23:30:00Z" (2024-03-05 in
//	              China), a blood-pressure panel with components 150/95, and a cancelled one with no value and no date;
//	              pat-wangfang: hemoglobin 118 g/L (its subject also carries the identifier), 12.5 g/dL, creatinine
//	              5.4 mg/dL; pat-zengxiaoming glucose 85 mg/dL; pat-lisi hemoglobin 150 g/L and a local-code 6.1 mmol/L;
//	              pat-shanxiongxin body temperature; f001 and blood-pressure (official)
//	Encounter     enc-zs-1 (2024-03-05 08:00-11:00, 180 min), enc-zs-2 (inpatient 2024-02-28..03-03, 4 d),
//	              enc-wf-1 (from 2024-04-10, ongoing, no length), enc-sxx-1 (2023-11-01, 30 min)
//	Condition     ICD-10 (HIP's icd-10-cn system): zhangsan E11.9 and I10, shanxiongxin J11.1 resolved with abatement,
//	              wangfang D64.9, lisi I10 without clinicalStatus
//	RiskAssessment ra-1..ra-6 probability 49.5, 50, 50.4, 50.5, 0.25, 100 (number search); ra-7 none
//	Questionnaire q-root, q-phq9, q-gad7 under http://hip.example.cn/fhir/, q-other elsewhere, q-nourl (uri search)
//	List          list-followup: Patient/pat-zhangsan, Patient/pat-lisi, Observation/obs-zs-hb
//
// Semantics used for the expectations: dates without a zone are China Standard
// Time (UTC+8) on both sides; a date value is the range its precision implies
// and a Period without end is open (ongoing). eq: the search range contains the
// target range; ne: not eq; gt: the target ends after the search range; lt: it
// starts before it; ge/le: gt/lt or eq; sa: it starts at or after the search
// range's end; eb: it ends at or before the search range's start. Numbers and
// quantities: eq is the search value's implicit precision range [v-½ulp, v+½ulp)
// against the stored value; gt, lt, ge, le compare the stored value with the
// exact search value; ap is ±10%. A quantity with a UCUM system and code also
// matches values in other units of the same dimension (g/L = 100 mg/dL,
// 1 mmol/L = 1000 µmol/L); one without a unit compares the number as written.
// Strings: starts-with on any part, case- and accent-insensitive. A parameter
// only matches a resource that has a value for it, except with :missing and
// :not (which also matches resources without a value). Dates with ap overlap
// the search range widened by a tenth of its distance from now (at least a
// day); the ap cases stay far from that edge, so they hold for decades.
// HIP-specific (the brief, search/doc.go): name-pinyin; a Chinese name is also
// indexed whole (张 + 三 → 张三) and split (李四 → 李 + 四, for family and given).

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	scIDZhangsan = "110105198003150012"
	scIDWangfang = "110105199005120241"
	scIDSys      = "urn:oid:2.16.156.10011.1.3"
)

func scRefs(typ string, ids ...string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = typ + "/" + id
	}
	return out
}

func scObs(ids ...string) []string  { return scRefs("Observation", ids...) }
func scPat(ids ...string) []string  { return scRefs("Patient", ids...) }
func scOrg(ids ...string) []string  { return scRefs("Organization", ids...) }
func scPrac(ids ...string) []string { return scRefs("Practitioner", ids...) }
func scEnc(ids ...string) []string  { return scRefs("Encounter", ids...) }
func scCond(ids ...string) []string { return scRefs("Condition", ids...) }
func scRA(ids ...string) []string   { return scRefs("RiskAssessment", ids...) }
func scQ(ids ...string) []string    { return scRefs("Questionnaire", ids...) }

func scJoin(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

var (
	scZhangsanObs = scObs("obs-zs-glu-a", "obs-zs-glu-b", "obs-zs-glu-c", "obs-zs-glu-d", "obs-zs-glu-e",
		"obs-zs-hb", "obs-zs-glu-ny", "obs-zs-glu-old", "obs-zs-bp", "obs-zs-cancelled")
	scAllObs = scJoin(scZhangsanObs, scObs("obs-wf-hb", "obs-wf-hb2", "obs-wf-cr", "obs-zxm-glu",
		"obs-lisi-hb", "obs-lisi-poct", "obs-sxx-temp", "f001", "blood-pressure"))
	scAllPatients = scPat("pat-zhangsan", "pat-shanxiongxin", "pat-zengxiaoming", "pat-wangfang", "pat-lisi",
		"pat-zhangxiaofan", "pat-dupre", "pat-nogender", "example", "ch-example", "f001")
	scMalePatients = scPat("pat-zhangsan", "pat-shanxiongxin", "pat-zengxiaoming", "example", "ch-example", "f001")
	scGlucoseMass  = scObs("obs-zs-glu-a", "obs-zs-glu-b", "obs-zs-glu-c", "obs-zs-glu-ny", "obs-zs-glu-old",
		"obs-zxm-glu", "obs-zs-cancelled")
	scHemoglobin  = scObs("obs-zs-hb", "obs-wf-hb", "obs-wf-hb2", "obs-lisi-hb")
	scWangfangObs = scObs("obs-wf-hb", "obs-wf-hb2", "obs-wf-cr")
)

// scCase is a search and the exact set of its entries with search.mode match.
type scCase struct {
	query string
	want  []string
}

// scRunMatches runs each case as a subtest against the server at base.
func scRunMatches(t *testing.T, base string, cases []scCase) {
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			_, all := scSearch(t, base, tc.query, nil)
			scCheckSet(t, "GET "+tc.query, scByMode(all, "match"), tc.want)
		})
	}
}

// scMatchCases: the exact set of entries with search.mode match. Queries are
// relative to /fhir; compartment searches are in scCompartmentCases.
var scMatchCases = []scCase{
	// string: starts-with, case and accent folding, :exact, :contains
	{"Patient?name=张", scPat("pat-zhangsan", "pat-zhangxiaofan", "ch-example")},
	{"Patient?name=张三", scPat("pat-zhangsan")},      // HIP indexes family+given whole (search/doc.go)
	{"Patient?name=单雄信", scPat("pat-shanxiongxin")}, // idem
	{"Patient?name=李", scPat("pat-lisi")},           // a name with text only
	{"Patient?family=李", scPat("pat-lisi")},         // text-only Chinese name split into surname …
	{"Patient?given=四", scPat("pat-lisi")},          // … and given name
	{"Patient?given=无忌", scPat("ch-example")},
	{"Patient?name:exact=张三", scPat("pat-zhangsan")},
	{"Patient?name=王", scPat("pat-wangfang")},
	{"Patient?name=PETER", scPat("example")},
	{"Patient?name=pet", scPat("example")},
	{"Patient?name=jim", scPat("example")},
	{"Patient?name=windsor", scPat("example")},
	{"Patient?name=van", scPat("f001")},
	{"Patient?name=heuvel", nil}, // starts-with on the whole part "van de Heuvel", not on words
	{"Patient?name=zoe", scPat("pat-dupre")},
	{"Patient?family=dupre", scPat("pat-dupre")},
	{"Patient?family=DUPRÉ", scPat("pat-dupre")},
	{"Patient?family:exact=Dupré", scPat("pat-dupre")},
	{"Patient?family:exact=dupré", nil},
	{"Patient?family:exact=Dupre", nil},
	{"Patient?family:exact=Dup", nil},
	{"Patient?family:exact=张", scPat("pat-zhangsan", "pat-zhangxiaofan", "ch-example")},
	{"Patient?family:contains=upr", scPat("pat-dupre")},
	{"Patient?family:contains=HEUV", scPat("f001")},
	{"Patient?name:contains=无忌", scPat("ch-example")},
	{"Patient?name:contains=小", scPat("pat-zengxiaoming", "pat-zhangxiaofan")},
	{"Patient?name=chalmers,dupre", scPat("example", "pat-dupre")},
	{"Patient?name=张&gender=female", scPat("pat-zhangxiaofan")},
	{"Patient?name=张&name=小", scPat("pat-zhangxiaofan")},
	{"Patient?address=示范县", scPat("pat-zhangsan", "pat-wangfang")},
	{"Patient?address:contains=幸福路", scPat("pat-zhangsan")},
	{"Patient?address=上海", scPat("ch-example")},
	{"Patient?address-city=pleasantville", scPat("example")},
	{"Practitioner?name=李", scPrac("prac-li")},
	{"Practitioner?family=欧", scPrac("prac-ouyang")},
	{"Organization?name=示范县", scOrg("org-health-commission", "org-county-hospital")},
	{"Organization?name=县医院", scOrg("org-county-hospital")}, // alias
	{"Organization?name:exact=示范县人民医院", scOrg("org-county-hospital")},
	{"Organization?name:contains=医院", scOrg("org-county-hospital")},
	{"Organization?name=burgers", scOrg("f001")},
	{"Organization?name=clinique%20sainte-helene", scOrg("org-clinic")},
	{"Organization?name:contains=HELENE", scOrg("org-clinic")},
	{"Organization?name:exact=Clinique%20Sainte-Helene", nil},
	{"Organization?name=sainte-helene%5C,%20paris", nil},                    // one value with an escaped comma
	{"Organization?name=sainte-helene,%20paris", scOrg("org-clinic")},       // two values
	{"Organization?name=sainte-helene%5C,%20montreal", scOrg("org-clinic")}, // the alias
	{"Patient?name=%25", nil},                                               // % and _ are not wildcards
	{"Patient?name:contains=_", nil},
	{"Patient?family:contains=%25", nil},
	{"Patient?name=%27%20OR%201%3D1%20--", nil},
	{"Patient?name:missing=true", nil},

	// name-pinyin (HIP custom parameter)
	{"Patient?name-pinyin=zhangsan", scPat("pat-zhangsan")},
	{"Patient?name-pinyin=zhang%20san", scPat("pat-zhangsan")},
	{"Patient?name-pinyin=ZhangSan", scPat("pat-zhangsan")},
	{"Patient?name-pinyin=zs", scPat("pat-zhangsan")},
	{"Patient?name-pinyin=zhang", scPat("pat-zhangsan", "pat-zhangxiaofan", "ch-example")},
	{"Patient?name-pinyin=shanxiongxin", scPat("pat-shanxiongxin")},
	{"Patient?name-pinyin=sxx", scPat("pat-shanxiongxin")},
	{"Patient?name-pinyin=shan", scPat("pat-shanxiongxin")},
	{"Patient?name-pinyin=danxiongxin", nil},
	{"Patient?name-pinyin=zengxiaoming", scPat("pat-zengxiaoming")},
	{"Patient?name-pinyin=cengxiaoming", nil},
	{"Patient?name-pinyin=zx", scPat("pat-zengxiaoming", "pat-zhangxiaofan")},
	{"Patient?name-pinyin=lisi", scPat("pat-lisi")},
	{"Patient?name-pinyin=wangfang", scPat("pat-wangfang")},
	{"Practitioner?name-pinyin=ouyang", scPrac("prac-ouyang")},
	{"Practitioner?name-pinyin=oyh", scPrac("prac-ouyang")},
	{"Practitioner?name-pinyin=lijianguo", scPrac("prac-li")},

	// token
	{"Patient?identifier=" + scIDSys + "|" + scIDZhangsan, scPat("pat-zhangsan")},
	{"Patient?identifier=" + scIDZhangsan, scPat("pat-zhangsan")},
	{"Patient?identifier=" + scIDSys + "|", scPat("pat-zhangsan", "pat-shanxiongxin", "pat-zengxiaoming", "pat-wangfang")},
	{"Patient?identifier=|LOCAL-0001", scPat("pat-lisi")},
	{"Patient?identifier=LOCAL-0001", scPat("pat-lisi")},
	{"Patient?identifier=|12345", nil},
	{"Patient?identifier=12345", scPat("example")},
	{"Patient?identifier=http://other.example.org|" + scIDZhangsan, nil},
	{"Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|NI|" + scIDZhangsan, scPat("pat-zhangsan")},
	{"Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|MR0001", scPat("pat-zhangsan")},
	{"Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345", scPat("example")},
	{"Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|" + scIDZhangsan, nil},
	{"Patient?gender=male", scMalePatients},
	{"Patient?gender=male,female", scJoin(scMalePatients, scPat("pat-wangfang", "pat-zhangxiaofan", "pat-dupre"))},
	{"Patient?gender=unknown", scPat("pat-lisi")},
	{"Patient?gender:not=male", scPat("pat-wangfang", "pat-zhangxiaofan", "pat-dupre", "pat-lisi", "pat-nogender")},
	{"Patient?gender:missing=true", scPat("pat-nogender")},
	{"Patient?gender:missing=false", slices.DeleteFunc(slices.Clone(scAllPatients), func(s string) bool { return s == "Patient/pat-nogender" })},
	{"Patient?gender:in=http://hl7.org/fhir/ValueSet/administrative-gender",
		slices.DeleteFunc(slices.Clone(scAllPatients), func(s string) bool { return s == "Patient/pat-nogender" })},
	// "unknown" is also an observation-status code, but of another system.
	{"Patient?gender:in=http://hl7.org/fhir/ValueSet/observation-status", nil},
	{"Patient?gender:not-in=http://hl7.org/fhir/ValueSet/administrative-gender&gender:missing=false", nil},
	{"Patient?gender:not-in=http://hl7.org/fhir/ValueSet/observation-status&gender=female", scPat("pat-wangfang", "pat-zhangxiaofan", "pat-dupre")},
	{"Patient?active=false", scPat("pat-zhangxiaofan")},
	{"Patient?active=true", scPat("pat-zhangsan", "pat-shanxiongxin", "pat-zengxiaoming", "pat-wangfang", "example", "ch-example", "f001")},
	{"Patient?active:missing=true", scPat("pat-lisi", "pat-dupre", "pat-nogender")},
	{"Observation?code=http://loinc.org|2339-0", scGlucoseMass},
	{"Observation?code=2339-0", scGlucoseMass},
	{"Observation?code=|2339-0", nil},
	{"Observation?code=http://snomed.info/sct|2339-0", nil},
	{"Observation?code=http://loinc.org|718-7,http://loinc.org|2160-0", scJoin(scHemoglobin, scObs("obs-wf-cr"))},
	{"Observation?code=http://loinc.org|", slices.DeleteFunc(slices.Clone(scAllObs), func(s string) bool { return s == "Observation/obs-lisi-poct" })},
	{"Observation?patient=pat-zhangsan&code:not=http://loinc.org|2339-0", scObs("obs-zs-glu-d", "obs-zs-glu-e", "obs-zs-hb", "obs-zs-bp")},
	{"Observation?code:text=glucose", scJoin(scGlucoseMass, scObs("obs-zs-glu-d", "obs-zs-glu-e", "f001"))},
	{"Observation?code:text=血红", scObs("obs-zs-hb")},
	{"Observation?code:text=血糖", scObs("obs-lisi-poct")},
	{"Observation?status=preliminary", scObs("obs-zxm-glu")},
	{"Observation?category=vital-signs", scObs("obs-zs-bp", "obs-sxx-temp", "blood-pressure")},
	{"Observation?category=vital-signs&code:not=http://loinc.org|85354-9", scObs("obs-sxx-temp")},
	{"Condition?code=https://hip-platform.github.io/fhir/CodeSystem/icd-10-cn|I10", scCond("cond-zs-htn", "cond-lisi-htn")},
	{"Condition?code:text=原发性", scCond("cond-zs-htn", "cond-lisi-htn")},
	{"Condition?clinical-status=active", scCond("cond-zs-dm", "cond-zs-htn", "cond-wf-anemia")},
	{"Condition?clinical-status=http://terminology.hl7.org/CodeSystem/condition-clinical|resolved", scCond("cond-sxx-flu")},
	{"Condition?clinical-status:in=http://hl7.org/fhir/ValueSet/condition-clinical", scCond("cond-zs-dm", "cond-zs-htn", "cond-sxx-flu", "cond-wf-anemia")},
	{"Condition?clinical-status:not-in=http://hl7.org/fhir/ValueSet/condition-clinical&clinical-status:missing=false", nil},
	{"Condition?clinical-status:missing=true", scCond("cond-lisi-htn")},
	{"Encounter?class=http://terminology.hl7.org/CodeSystem/v3-ActCode|IMP", scEnc("enc-zs-2")},

	// reference
	{"Observation?subject=Patient/pat-zhangsan", scZhangsanObs},
	{"Observation?subject=pat-zhangsan", scZhangsanObs},
	{"Observation?subject:Patient=pat-zhangsan", scZhangsanObs},
	{"Observation?patient=pat-wangfang", scWangfangObs},
	{"Observation?subject=Patient/pat-zhangsan,Patient/pat-lisi", scJoin(scZhangsanObs, scObs("obs-lisi-hb", "obs-lisi-poct"))},
	{"Observation?subject:Group=pat-zhangsan", nil},
	{"Observation?subject=Patient/nobody", nil},
	{"Observation?subject:identifier=" + scIDSys + "|" + scIDWangfang, scObs("obs-wf-hb")}, // Reference.identifier only
	{"Observation?performer=Practitioner/prac-li", scObs("obs-zs-glu-a", "obs-zs-hb")},
	{"Observation?encounter:missing=false", scObs("obs-zs-glu-a", "obs-zs-hb", "obs-sxx-temp")},
	{"Patient?organization=org-township", scPat("pat-shanxiongxin", "pat-zengxiaoming")},
	{"Patient?organization=Organization/1", scPat("example", "ch-example")}, // the target need not exist
	{"Patient?organization:missing=true", scPat("pat-lisi", "pat-nogender")},
	{"Patient?general-practitioner=Practitioner/prac-li", scPat("pat-zhangsan", "pat-wangfang")},
	{"Patient?general-practitioner:missing=false", scPat("pat-zhangsan", "pat-wangfang", "pat-zengxiaoming")},
	{"Encounter?service-provider=Organization/org-township", scEnc("enc-wf-1", "enc-sxx-1")},
	{"Encounter?participant=Practitioner/prac-li", scEnc("enc-zs-1")},
	{"Condition?encounter=Encounter/enc-sxx-1", scCond("cond-sxx-flu")},
	{"Organization?partof=org-health-commission", scOrg("org-county-hospital", "org-township")},

	// date on Observation.effective[x] (one patient's observations)
	{"Observation?patient=pat-zhangsan&date=2024-03-05", scObs("obs-zs-glu-a", "obs-zs-glu-b", "obs-zs-hb")},
	{"Observation?patient=pat-zhangsan&date=eq2024-03-05", scObs("obs-zs-glu-a", "obs-zs-glu-b", "obs-zs-hb")},
	{"Observation?patient=pat-zhangsan&date=2024-03-04", nil}, // 23:30Z on the 4th is the 5th in China
	{"Observation?patient=pat-zhangsan&date=2024-03", scObs("obs-zs-glu-a", "obs-zs-glu-b", "obs-zs-glu-c", "obs-zs-hb")},
	{"Observation?patient=pat-zhangsan&date=2024", scObs("obs-zs-glu-a", "obs-zs-glu-b", "obs-zs-glu-c", "obs-zs-glu-d",
		"obs-zs-glu-e", "obs-zs-hb", "obs-zs-glu-ny", "obs-zs-bp")},
	{"Observation?patient=pat-zhangsan&date=2023", scObs("obs-zs-glu-old")},
	{"Observation?patient=pat-zhangsan&date=2024-03-02", nil}, // the period 02-28..03-02 is not within the day
	{"Observation?patient=pat-zhangsan&date=ne2024-03-05", scObs("obs-zs-glu-c", "obs-zs-glu-d", "obs-zs-glu-e",
		"obs-zs-glu-ny", "obs-zs-glu-old", "obs-zs-bp")},
	{"Observation?patient=pat-zhangsan&date=gt2024-03-05", scObs("obs-zs-glu-c", "obs-zs-glu-d", "obs-zs-bp")},
	{"Observation?patient=pat-zhangsan&date=lt2024-03-05", scObs("obs-zs-glu-c", "obs-zs-glu-d", "obs-zs-glu-e",
		"obs-zs-glu-ny", "obs-zs-glu-old")},
	{"Observation?patient=pat-zhangsan&date=ge2024-03-05", scObs("obs-zs-glu-a", "obs-zs-glu-b", "obs-zs-glu-c",
		"obs-zs-glu-d", "obs-zs-hb", "obs-zs-bp")},
	{"Observation?patient=pat-zhangsan&date=le2024-03-05", scObs("obs-zs-glu-a", "obs-zs-glu-b", "obs-zs-glu-c",
		"obs-zs-glu-d", "obs-zs-glu-e", "obs-zs-hb", "obs-zs-glu-ny", "obs-zs-glu-old")},
	{"Observation?patient=pat-zhangsan&date=sa2024-03-05", scObs("obs-zs-bp")},
	{"Observation?patient=pat-zhangsan&date=eb2024-03-05", scObs("obs-zs-glu-e", "obs-zs-glu-ny", "obs-zs-glu-old")},
	{"Observation?patient=pat-zhangsan&date=2024-03-05T08:30:00%2B08:00", scObs("obs-zs-glu-a")},
	{"Observation?patient=pat-zhangsan&date=2024-03-05T00:30:00Z", scObs("obs-zs-glu-a")},
	{"Observation?patient=pat-zhangsan&date=lt2024-03-05T08:00:00", scObs("obs-zs-glu-b", "obs-zs-glu-c", "obs-zs-glu-d",
		"obs-zs-glu-e", "obs-zs-hb", "obs-zs-glu-ny", "obs-zs-glu-old")},
	{"Observation?patient=pat-zhangsan&date=gt2024-03-05T08:00:00", scObs("obs-zs-glu-a", "obs-zs-glu-b", "obs-zs-glu-c",
		"obs-zs-glu-d", "obs-zs-bp")},
	{"Observation?patient=pat-zhangsan&date=ge2024-03-01&date=lt2024-04-01", scObs("obs-zs-glu-a", "obs-zs-glu-b",
		"obs-zs-glu-c", "obs-zs-glu-d", "obs-zs-glu-e", "obs-zs-hb")},
	{"Observation?code=http://loinc.org|718-7&date=ap2024-03-05", scObs("obs-zs-hb")},
	{"Observation?date=2024-03-05", scObs("obs-zs-glu-a", "obs-zs-glu-b", "obs-zs-hb", "obs-zxm-glu")},
	{"Observation?date=lt2013", scObs("blood-pressure")},
	{"Observation?date=gt2025", scObs("f001")}, // a Period without end is ongoing
	{"Observation?date:missing=true", scObs("obs-zs-cancelled")},
	// date on Patient.birthDate (wangfang: 1990-05, lisi: 1965)
	{"Patient?birthdate=1990", scPat("pat-wangfang")},
	{"Patient?birthdate=1990-05", scPat("pat-wangfang")},
	{"Patient?birthdate=1990-05-20", nil},
	{"Patient?birthdate=1965-06", nil},
	{"Patient?birthdate=1974-12-25", scPat("example", "ch-example")},
	{"Patient?birthdate=lt1966", scPat("pat-lisi", "f001")},
	{"Patient?birthdate=le1965", scPat("pat-lisi", "f001")},
	{"Patient?birthdate=ge2001-02-03", scPat("pat-zhangxiaofan", "pat-zengxiaoming")},
	{"Patient?birthdate=sa1990-05-10", scPat("pat-zhangxiaofan", "pat-zengxiaoming")},
	{"Patient?birthdate=eb1990-05-10", scPat("pat-lisi", "f001", "example", "ch-example", "pat-shanxiongxin", "pat-zhangsan", "pat-dupre")},
	{"Patient?birthdate=gt1990-05-10", scPat("pat-wangfang", "pat-zhangxiaofan", "pat-zengxiaoming")},
	{"Patient?birthdate=lt1990-05-10", scPat("pat-wangfang", "pat-lisi", "f001", "example", "ch-example", "pat-shanxiongxin", "pat-zhangsan", "pat-dupre")},
	{"Patient?birthdate:missing=true", scPat("pat-nogender")},
	{"Patient?birthdate=ap1990-05", scPat("pat-wangfang", "pat-dupre")}, // ±3.6 years today, far from the others
	// date on Encounter.period (enc-wf-1 is ongoing)
	{"Encounter?date=2024-03-05", scEnc("enc-zs-1")},
	{"Encounter?date=2024-03", scEnc("enc-zs-1")},
	{"Encounter?date=2024-04", nil}, // an ongoing period is not within a month
	{"Encounter?date=ge2024-03-01", scEnc("enc-zs-1", "enc-zs-2", "enc-wf-1")},
	{"Encounter?date=lt2024-03-01", scEnc("enc-zs-2", "enc-sxx-1")},
	{"Encounter?date=sa2024-03-04", scEnc("enc-zs-1", "enc-wf-1")},
	{"Encounter?date=eb2024-03-04", scEnc("enc-zs-2", "enc-sxx-1")},
	{"Encounter?date=gt2025", scEnc("enc-wf-1")},
	{"Encounter?date=ne2024-03-05", scEnc("enc-zs-2", "enc-wf-1", "enc-sxx-1")},
	{"Encounter?date=le2024-04-10", scEnc("enc-zs-1", "enc-zs-2", "enc-sxx-1")},
	{"Encounter?date=ge2024-04-10", scEnc("enc-wf-1")},
	{"Condition?onset-date=2020", scCond("cond-zs-dm")},
	{"Condition?onset-date=lt2019", scCond("cond-zs-htn")},
	{"Condition?onset-date=ge2022-08-15", scCond("cond-wf-anemia", "cond-sxx-flu")}, // 2022-08 ends after the 15th
	{"Condition?abatement-date:missing=false", scCond("cond-sxx-flu")},

	// number: RiskAssessment.prediction.probability 49.5, 50, 50.4, 50.5, 0.25, 100 (ra-7: none)
	{"RiskAssessment?probability=50", scRA("ra-1", "ra-2", "ra-3")}, // [49.5, 50.5)
	{"RiskAssessment?probability=50.0", scRA("ra-2")},               // [49.95, 50.05)
	{"RiskAssessment?probability=100", scRA("ra-6")},
	{"RiskAssessment?probability=1e2", scRA("ra-2", "ra-3", "ra-4", "ra-6")}, // [50, 150)
	{"RiskAssessment?probability=gt50", scRA("ra-3", "ra-4", "ra-6")},
	{"RiskAssessment?probability=5e1", scRA("ra-1", "ra-2", "ra-3", "ra-4")}, // [45, 55)
	{"RiskAssessment?probability=ge50", scRA("ra-2", "ra-3", "ra-4", "ra-6")},
	{"RiskAssessment?probability=lt50", scRA("ra-1", "ra-5")},
	{"RiskAssessment?probability=le50", scRA("ra-1", "ra-2", "ra-5")},
	{"RiskAssessment?probability=lt1", scRA("ra-5")},
	{"RiskAssessment?probability=le0.25", scRA("ra-5")},
	{"RiskAssessment?probability=ne50", scRA("ra-4", "ra-5", "ra-6")},
	{"RiskAssessment?probability=ap50", scRA("ra-1", "ra-2", "ra-3", "ra-4")},
	{"RiskAssessment?probability=50,100", scRA("ra-1", "ra-2", "ra-3", "ra-6")},
	{"RiskAssessment?probability=gt40&probability=lt50.2", scRA("ra-1", "ra-2")},
	{"RiskAssessment?probability:missing=true", scRA("ra-7")},

	// quantity
	{"Observation?value-quantity=5.4", scObs("obs-zs-glu-d", "obs-wf-cr")}, // any unit, number as written
	{"Observation?value-quantity=5.4|http://unitsofmeasure.org|mmol/L", scObs("obs-zs-glu-d", "obs-zs-glu-e")},
	{"Observation?value-quantity=5400|http://unitsofmeasure.org|umol/L", scObs("obs-zs-glu-d", "obs-zs-glu-e")},
	{"Observation?value-quantity=0.088|http://unitsofmeasure.org|g/dL", scObs("obs-zs-glu-b")},                                          // 0.88 g/L
	{"Observation?value-quantity=gt0|http://unitsofmeasure.org|mmol/L", scObs("obs-zs-glu-d", "obs-zs-glu-e", "f001", "obs-lisi-poct")}, // not mass concentrations
	{"Observation?value-quantity=gt1|http://unitsofmeasure.org|g/L", scObs("obs-zs-glu-a", "obs-zs-glu-c", "obs-zs-glu-ny",
		"obs-zs-hb", "obs-wf-hb", "obs-wf-hb2", "obs-lisi-hb")},
	{"Observation?code=http://loinc.org|2339-0&value-quantity=ge100|http://unitsofmeasure.org|mg/dL", scObs("obs-zs-glu-a", "obs-zs-glu-c", "obs-zs-glu-ny")},
	{"Observation?code=http://loinc.org|2339-0&value-quantity=lt100|http://unitsofmeasure.org|mg/dL", scObs("obs-zs-glu-b", "obs-zs-glu-old", "obs-zxm-glu")},
	{"Observation?value-quantity=1.2|http://unitsofmeasure.org|g/L", scObs("obs-zs-glu-c")},
	{"Observation?value-quantity=120|http://unitsofmeasure.org|mg/dL", scObs("obs-zs-glu-c")},
	{"Observation?value-quantity=125|http://unitsofmeasure.org|g/L", scObs("obs-wf-hb2")}, // 12.5 g/dL
	{"Observation?value-quantity=135", scObs("obs-zs-hb")},
	{"Observation?value-quantity=ap100|http://unitsofmeasure.org|mg/dL", scObs("obs-zs-glu-ny", "obs-zs-glu-old")},
	{"Observation?value-quantity=gt6|http://unitsofmeasure.org|mmol/L", scObs("f001", "obs-lisi-poct")},
	{"Observation?value-quantity=lt6|http://unitsofmeasure.org|mmol/L", scObs("obs-zs-glu-d", "obs-zs-glu-e")},
	{"Observation?value-quantity=lt6", scObs("obs-zs-glu-b", "obs-zs-glu-c", "obs-zs-glu-d", "obs-wf-cr")},
	{"Observation?value-quantity:missing=true", scObs("obs-zs-bp", "obs-zs-cancelled", "blood-pressure")},
	{"Encounter?length=gt2|http://unitsofmeasure.org|h", scEnc("enc-zs-1", "enc-zs-2")},
	{"Encounter?length=lt1|http://unitsofmeasure.org|h", scEnc("enc-sxx-1")},
	{"Encounter?length:missing=true", scEnc("enc-wf-1")},

	// uri
	{"Questionnaire?url=http://hip.example.cn/fhir/Questionnaire/phq-9", scQ("q-phq9")},
	{"Questionnaire?url=http://hip.example.cn/fhir/Questionnaire/PHQ-9", nil},
	{"Questionnaire?url=http://hip.example.cn/fhir/Questionnaire", scQ("q-root")},
	{"Questionnaire?url:below=http://hip.example.cn/fhir/", scQ("q-root", "q-phq9", "q-gad7")},
	{"Questionnaire?url:above=http://hip.example.cn/fhir/Questionnaire/phq-9/_history/2", scQ("q-root", "q-phq9")},
	{"Questionnaire?url:missing=true", scQ("q-nourl")},

	// composite
	{"Observation?code-value-quantity=http://loinc.org|2339-0$gt100", scObs("obs-zs-glu-a", "obs-zs-glu-ny")},
	{"Observation?code-value-quantity=http://loinc.org|2339-0$gt1|http://unitsofmeasure.org|g/L", scObs("obs-zs-glu-a", "obs-zs-glu-c", "obs-zs-glu-ny")},
	{"Observation?component-code-value-quantity=http://loinc.org|8480-6$gt140", scObs("obs-zs-bp")},
	{"Observation?component-code-value-quantity=http://loinc.org|8462-4$lt70", scObs("blood-pressure")},
	{"Observation?component-code-value-quantity=http://loinc.org|8462-4$gt100", nil}, // 150 is the systolic component

	// chains
	{"Observation?subject:Patient.name=张", scZhangsanObs},
	{"Observation?subject:Patient.name=王", scWangfangObs},
	{"Observation?patient.name=王", scWangfangObs},
	{"Observation?subject:Patient.family:exact=Chalmers", scObs("blood-pressure")},
	{"Observation?subject:Patient._has:Condition:patient:code=I10", scJoin(scZhangsanObs, scObs("obs-lisi-hb", "obs-lisi-poct"))},
	{"Observation?subject:Patient.identifier=" + scIDSys + "|" + scIDWangfang, scWangfangObs},
	{"Observation?subject:Patient.organization.name=青石镇", scObs("obs-sxx-temp", "obs-zxm-glu")},
	{"Encounter?service-provider.name=青石镇", scEnc("enc-wf-1", "enc-sxx-1")},
	{"Patient?organization.name=示范县", scPat("pat-zhangsan", "pat-wangfang", "pat-zhangxiaofan")},
	{"Patient?organization.partof=Organization/org-health-commission", scPat("pat-zhangsan", "pat-wangfang", "pat-zhangxiaofan",
		"pat-shanxiongxin", "pat-zengxiaoming")},
	{"Patient?general-practitioner:Practitioner.name-pinyin=lijianguo", scPat("pat-zhangsan", "pat-wangfang")},

	// _has
	{"Patient?_has:Condition:patient:code=I10", scPat("pat-zhangsan", "pat-lisi")},
	{"Patient?_has:Observation:patient:code=http://loinc.org|718-7", scPat("pat-zhangsan", "pat-wangfang", "pat-lisi")},
	{"Patient?_has:Observation:patient:code=http://loinc.org|8310-5", scPat("pat-shanxiongxin")},
	{"Patient?_has:Condition:patient:clinical-status=active&_has:Observation:patient:code=718-7", scPat("pat-zhangsan", "pat-wangfang")},
	{"Patient?_has:Observation:subject:value-quantity=gt140|http://unitsofmeasure.org|g/L", scPat("pat-lisi")},
	{"Practitioner?_has:Observation:performer:code=718-7", scPrac("prac-li", "prac-ouyang")},
	{"Organization?_has:Patient:organization:_has:Observation:patient:code=718-7", scOrg("org-county-hospital")},

	// common parameters
	{"Patient?_id=pat-zhangsan,pat-lisi", scPat("pat-zhangsan", "pat-lisi")},
	{"Observation?_id=pat-zhangsan", nil},
	{"Patient?_tag=http://hip.example.cn/fhir/CodeSystem/test-tag|vip", scPat("pat-zhangsan")},
	{"Patient?_tag=vip", scPat("pat-zhangsan")},
	{"Patient?_tag:not=http://hip.example.cn/fhir/CodeSystem/test-tag|vip", slices.DeleteFunc(slices.Clone(scAllPatients), func(s string) bool { return s == "Patient/pat-zhangsan" })},
	{"Observation?_profile=http://hl7.org/fhir/StructureDefinition/vitalsigns", scObs("obs-zs-bp", "blood-pressure")},
	{"Patient?_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R", scPat("pat-wangfang")},
	{"Patient?_list=list-followup", scPat("pat-zhangsan", "pat-lisi")},
	{"Observation?_list=list-followup", scObs("obs-zs-hb")},
	{"Patient?_list=no-such-list", nil},
	{"Patient?_lastUpdated=gt2020-01-01", scAllPatients},
	{"Patient?_lastUpdated=lt2020", nil},
	{"?_type=Patient,Practitioner&name=李", scJoin(scPat("pat-lisi"), scPrac("prac-li"))},
	{"?_type=Observation,Condition&_id=obs-zs-hb,cond-zs-dm", scJoin(scObs("obs-zs-hb"), scCond("cond-zs-dm"))},
	{"?_type=Observation,Encounter&date=2024-03-05", scJoin(scObs("obs-zs-glu-a", "obs-zs-glu-b", "obs-zs-hb", "obs-zxm-glu"), scEnc("enc-zs-1"))},
	{"?_id=pat-zhangsan", scPat("pat-zhangsan")},
}

// scCompartmentCases are searches in a compartment: the exact match set.
var scCompartmentCases = []scCase{
	{"Patient/pat-zhangsan/Observation", scZhangsanObs},
	{"Patient/pat-zhangsan/Observation?code=718-7", scObs("obs-zs-hb")},
	{"Patient/pat-zhangsan/Observation?date=2024-03-05", scObs("obs-zs-glu-a", "obs-zs-glu-b", "obs-zs-hb")},
	{"Patient/pat-zhangsan/Condition", scCond("cond-zs-dm", "cond-zs-htn")},
	{"Patient/pat-zhangsan/RiskAssessment?probability=gt50", scRA("ra-3", "ra-4", "ra-6")},
	{"Patient/pat-wangfang/Encounter", scEnc("enc-wf-1")},
	{"Patient/pat-lisi/Observation", scObs("obs-lisi-hb", "obs-lisi-poct")},
	{"Practitioner/prac-li/Encounter", scEnc("enc-zs-1")},
}

// scEverythingCases: Patient/$everything returns at least the compartment
// (must) and may add resources those refer to (may); nothing else.
var scEverythingCases = []struct {
	id        string
	must, may []string
}{
	{"pat-shanxiongxin",
		scJoin(scPat("pat-shanxiongxin"), scObs("obs-sxx-temp"), scCond("cond-sxx-flu"), scEnc("enc-sxx-1")),
		scOrg("org-township")},
	{"pat-wangfang",
		scJoin(scPat("pat-wangfang"), scWangfangObs, scCond("cond-wf-anemia"), scEnc("enc-wf-1")),
		scJoin(scOrg("org-county-hospital", "org-township"), scPrac("prac-li"))},
}

// scErrorCases must be refused with 400 and an OperationOutcome.
var scErrorCases = []string{
	"Patient?colour=blue",
	"Patient?name:foo=x",
	"Patient?gender:exact=male",
	"Patient?birthdate=xx2020",
	"Patient?birthdate=2020-13",
	"Patient?_sort=colour",
	"Patient?_count=-1",
	"Patient?identifier:of-type=NI|" + scIDZhangsan,
	"Observation?value-quantity=abc",
	"RiskAssessment?probability=gt",
	"Observation?subject.name=张", // ambiguous: Patient and Location both have name
	"Observation?subject:Medication=x",
	"Observation?code-value-quantity=http://loinc.org|2339-0",
	"Patient?_include=Observation:subject",
	"Patient?_has:Observation:code:code=x",
	"Patient?_include=Patient:nonsense",
	"Observation?code-value-quantity:missing=true",
	"Patient?_elements=nosuchelement",
	"Observation?code:contains=2339",
}

// scIncludeCases: the match set and the include set.
var scIncludeCases = []struct {
	query          string
	match, include []string
}{
	{"Observation?code=http://loinc.org|718-7&_include=Observation:subject",
		scHemoglobin, scPat("pat-zhangsan", "pat-wangfang", "pat-lisi")},
	{"Observation?code=http://loinc.org|718-7&_include=Observation:subject&_include:iterate=Patient:organization",
		scHemoglobin, scJoin(scPat("pat-zhangsan", "pat-wangfang", "pat-lisi"), scOrg("org-county-hospital"))},
	{"Observation?code=http://loinc.org|718-7&_include=Observation:subject:Group", scHemoglobin, nil},
	{"Observation?_id=obs-zs-hb&_include=*",
		scObs("obs-zs-hb"), scJoin(scPat("pat-zhangsan"), scEnc("enc-zs-1"), scPrac("prac-li"))},
	{"Observation?_id=obs-zs-hb&_include=Observation:*",
		scObs("obs-zs-hb"), scJoin(scPat("pat-zhangsan"), scEnc("enc-zs-1"), scPrac("prac-li"))},
	{"Encounter?_id=enc-zs-1&_include=Encounter:service-provider&_include=Encounter:participant:Practitioner",
		scEnc("enc-zs-1"), scJoin(scOrg("org-county-hospital"), scPrac("prac-li"))},
	{"Patient?_id=example&_include=Patient:organization", scPat("example"), nil}, // Organization/1 is not there
	{"Patient?_id=pat-wangfang&_revinclude=Observation:subject", scPat("pat-wangfang"), scWangfangObs},
	{"Patient?_id=pat-shanxiongxin&_revinclude=Condition:patient&_revinclude=Encounter:subject",
		scPat("pat-shanxiongxin"), scJoin(scCond("cond-sxx-flu"), scEnc("enc-sxx-1"))},
	{"Organization?_id=org-township&_revinclude=Patient:organization&_revinclude:iterate=Observation:subject",
		scOrg("org-township"), scJoin(scPat("pat-shanxiongxin", "pat-zengxiaoming"), scObs("obs-sxx-temp", "obs-zxm-glu"))},
	{"Observation?_id=obs-zxm-glu&_include=Observation:subject&_include:iterate=Patient:organization&_include:iterate=Organization:partof",
		scObs("obs-zxm-glu"), scJoin(scPat("pat-zengxiaoming"), scOrg("org-township", "org-health-commission"))},
	{"Patient?_id=pat-lisi&_revinclude=List:item&_revinclude=Observation:subject",
		scPat("pat-lisi"), scJoin(scRefs("List", "list-followup"), scObs("obs-lisi-hb", "obs-lisi-poct"))},
}

// scSortCases: the exact order of the matches.
var scSortCases = []struct {
	query string
	want  []string
}{
	{"Observation?_id=obs-zs-glu-a,obs-zs-hb,obs-zs-glu-ny,obs-zs-bp,obs-zxm-glu&_sort=date,_id",
		scObs("obs-zs-glu-ny", "obs-zs-hb", "obs-zs-glu-a", "obs-zxm-glu", "obs-zs-bp")},
	{"Observation?_id=obs-zs-glu-a,obs-zs-hb,obs-zs-glu-ny,obs-zs-bp,obs-zxm-glu&_sort=-date,_id",
		scObs("obs-zs-bp", "obs-zs-glu-a", "obs-zxm-glu", "obs-zs-hb", "obs-zs-glu-ny")},
	{"Observation?_id=obs-zs-glu-a,obs-zs-hb,obs-zs-glu-ny,obs-zs-bp,obs-zxm-glu&_sort=-date,-_id",
		scObs("obs-zs-bp", "obs-zxm-glu", "obs-zs-glu-a", "obs-zs-hb", "obs-zs-glu-ny")},
	{"Patient?_id=pat-zhangsan,pat-zhangxiaofan,pat-dupre,f001&_sort=family,given",
		scPat("pat-dupre", "f001", "pat-zhangsan", "pat-zhangxiaofan")},
	{"Patient?_id=pat-zhangsan,pat-zhangxiaofan,pat-dupre,f001&_sort=-family,given",
		scPat("pat-zhangsan", "pat-zhangxiaofan", "f001", "pat-dupre")},
	{"Patient?_id=pat-zhangsan,pat-shanxiongxin,pat-zengxiaoming,f001&_sort=birthdate",
		scPat("f001", "pat-shanxiongxin", "pat-zhangsan", "pat-zengxiaoming")},
	{"Patient?_id=pat-zhangsan,pat-shanxiongxin,pat-zengxiaoming,f001&_sort=-birthdate",
		scPat("pat-zengxiaoming", "pat-zhangsan", "pat-shanxiongxin", "f001")},
	{"RiskAssessment?probability:missing=false&_sort=-probability", scRA("ra-6", "ra-4", "ra-3", "ra-2", "ra-1", "ra-5")},
	{"RiskAssessment?probability:missing=false&_sort=probability", scRA("ra-5", "ra-1", "ra-2", "ra-3", "ra-4", "ra-6")},
	{"Organization?_sort=_id", scOrg("f001", "org-clinic", "org-county-hospital", "org-health-commission", "org-township")},
	{"Encounter?_sort=date", scEnc("enc-sxx-1", "enc-zs-2", "enc-zs-1", "enc-wf-1")},
	{"Encounter?_sort=-date", scEnc("enc-wf-1", "enc-zs-1", "enc-zs-2", "enc-sxx-1")},
	{"Questionnaire?url:missing=false&_sort=url", scQ("q-root", "q-gad7", "q-phq9", "q-other")},
}

// scPagingCases: following next links from paged gives every match of all
// (the same search without paging) exactly once.
var scPagingCases = []struct {
	paged, all string
	pageSize   int
}{
	{"Observation?_count=2", "Observation?_count=100", 2},
	{"Patient?_count=3&_sort=birthdate,_id", "Patient?_count=100", 3},
	{"Observation?patient=pat-zhangsan&_count=4&_sort=-date,_id", "Observation?patient=pat-zhangsan&_count=100", 4},
	{"Observation?code=http://loinc.org|2339-0&_count=2", "Observation?code=http://loinc.org|2339-0&_count=100", 2},
	{"Patient?name=张&_count=1", "Patient?name=张", 1},
	{"Patient/pat-zhangsan/Observation?_count=3", "Patient/pat-zhangsan/Observation?_count=100", 3},
	{"Observation?code=http://loinc.org|718-7&_include=Observation:subject&_count=2",
		"Observation?code=http://loinc.org|718-7&_include=Observation:subject", 2},
}

// scTotalCases: Bundle.total and the number of match entries.
var scTotalCases = []struct {
	query          string
	total, entries int
}{
	{"Patient?_summary=count", 11, 0},
	{"Observation?code=http://loinc.org|2339-0&_summary=count", 7, 0},
	{"Observation?date=2024-03-05&_summary=count", 4, 0},
	{"Patient?name=张&_total=accurate&_count=1", 3, 1},
	{"Observation?patient=pat-zhangsan&_total=accurate&_count=2", 10, 2},
	{"RiskAssessment?_total=accurate", 7, 7},
	{"Patient/pat-zhangsan/Observation?_summary=count", 10, 0},
	{"?_type=Patient,Practitioner&_summary=count", 13, 0},
}

// scEntry is one entry of a search Bundle.
type scEntry struct {
	ref      string // Type/id
	mode     string
	resource map[string]any
}

// scBundle is one page of a search result.
type scBundle struct {
	total   int // -1 when absent
	entries []scEntry
	next    string
}

func scEscape(query string) string {
	var b strings.Builder
	for i := 0; i < len(query); i++ {
		c := query[i]
		if c >= 0x80 || c == ' ' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// scGet fetches one page; query is relative to /fhir (or an absolute URL).
func scGet(t *testing.T, base, query string, header map[string]string) (int, []byte) {
	t.Helper()
	u := query
	if !strings.HasPrefix(query, "http") {
		u = base + "/fhir"
		if !strings.HasPrefix(query, "?") {
			u += "/"
		}
		u += scEscape(query)
	}
	status, _, body := call(t, "GET", u, header, nil)
	return status, body
}

func scParse(t *testing.T, body []byte) scBundle {
	t.Helper()
	m := decode(t, body)
	if m["resourceType"] != "Bundle" || m["type"] != "searchset" {
		t.Fatalf("not a searchset Bundle: %.300s", body)
	}
	b := scBundle{total: -1}
	if n, ok := m["total"].(json.Number); ok {
		v, err := n.Int64()
		if err != nil {
			t.Fatalf("total %v", n)
		}
		b.total = int(v)
	}
	links, _ := m["link"].([]any)
	for _, l := range links {
		lm, _ := l.(map[string]any)
		if lm["relation"] == "next" {
			b.next, _ = lm["url"].(string)
		}
	}
	es, _ := m["entry"].([]any)
	for _, e := range es {
		em, _ := e.(map[string]any)
		res, _ := em["resource"].(map[string]any)
		mode := ""
		if s, ok := em["search"].(map[string]any); ok {
			mode, _ = s["mode"].(string)
		}
		typ, _ := res["resourceType"].(string)
		id, _ := res["id"].(string)
		b.entries = append(b.entries, scEntry{ref: typ + "/" + id, mode: mode, resource: res})
	}
	return b
}

// scSearch runs a search and follows next links, failing the test on any
// status but 200. It returns the entries of every page in order.
func scSearch(t *testing.T, base, query string, header map[string]string) (first scBundle, all []scEntry) {
	t.Helper()
	u := query
	for page := 0; ; page++ {
		status, body := scGet(t, base, u, header)
		if status != 200 {
			t.Fatalf("GET %s: status %d: %.600s", u, status, body)
		}
		b := scParse(t, body)
		if page == 0 {
			first = b
		}
		all = append(all, b.entries...)
		if b.next == "" {
			return first, all
		}
		if page > 200 {
			t.Fatalf("GET %s: more than 200 pages", query)
		}
		u = b.next
	}
}

func scByMode(entries []scEntry, mode string) []string {
	var out []string
	for _, e := range entries {
		if e.mode == mode {
			out = append(out, e.ref)
		}
	}
	return out
}

// scSameSet compares as sets, reporting duplicates in got.
func scSameSet(got, want []string) (missing, extra, dup []string) {
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
		if seen[g] == 2 {
			dup = append(dup, g)
		}
	}
	w := map[string]bool{}
	for _, x := range want {
		w[x] = true
		if seen[x] == 0 {
			missing = append(missing, x)
		}
	}
	for g := range seen {
		if !w[g] {
			extra = append(extra, g)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	return missing, extra, dup
}

func scCheckSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	missing, extra, dup := scSameSet(got, want)
	if len(missing)+len(extra)+len(dup) > 0 {
		g, w := slices.Clone(got), slices.Clone(want)
		slices.Sort(g)
		slices.Sort(w)
		t.Errorf("%s:\n got  %v\n want %v\n missing %v, unexpected %v, duplicated %v", what, g, w, missing, extra, dup)
	}
}

// scLoad PUTs the dataset, pat-dupre last after a pause, and returns an
// instant between the two: every resource but pat-dupre was updated before it.
func scLoad(t *testing.T, base string) time.Time {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "search", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("dataset: %v (%d files)", err, len(files))
	}
	slices.Sort(files)
	last := filepath.Join("testdata", "search", "Patient-pat-dupre.json")
	i := slices.Index(files, last)
	if i < 0 {
		t.Fatalf("dataset has no %s", last)
	}
	files = append(slices.Delete(files, i, i+1), last)
	var mark time.Time
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var head struct{ ResourceType, ID string }
		if err := json.Unmarshal(body, &head); err != nil || head.ResourceType == "" || head.ID == "" {
			t.Fatalf("%s: no resourceType or id (%v)", f, err)
		}
		if f == last {
			time.Sleep(100 * time.Millisecond)
			mark = time.Now()
			time.Sleep(100 * time.Millisecond)
		}
		status, _, resp := call(t, "PUT", base+"/fhir/"+head.ResourceType+"/"+head.ID, nil, body)
		if status != 200 && status != 201 {
			t.Fatalf("PUT %s/%s: %d %.600s", head.ResourceType, head.ID, status, resp)
		}
	}
	return mark
}

func TestSearchConformance(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ts := newTestServer(t, b.open(t), 0)
			mark := scLoad(t, ts.URL)
			base := ts.URL

			t.Run("match", func(t *testing.T) {
				scRunMatches(t, base, scMatchCases)
			})

			t.Run("lastUpdated", func(t *testing.T) {
				cst := time.FixedZone("CST", 8*3600)
				instant := mark.UTC().Format("2006-01-02T15:04:05.000Z")
				scRunMatches(t, base, []scCase{
					{"Patient?_lastUpdated=ge" + instant, scPat("pat-dupre")},
					{"Patient?_lastUpdated=gt" + instant, scPat("pat-dupre")},
					{"Patient?_lastUpdated=lt" + instant, slices.DeleteFunc(slices.Clone(scAllPatients), func(s string) bool { return s == "Patient/pat-dupre" })},
					{"Patient?_lastUpdated=sa" + instant, scPat("pat-dupre")},
					{"Patient?_lastUpdated=eb" + instant, slices.DeleteFunc(slices.Clone(scAllPatients), func(s string) bool { return s == "Patient/pat-dupre" })},
					{"Patient?_lastUpdated=ap" + time.Now().In(cst).Format("2006-01-02"), scAllPatients},
				})
			})

			t.Run("compartment", func(t *testing.T) {
				scRunMatches(t, base, scCompartmentCases)
			})

			t.Run("everything", func(t *testing.T) {
				for _, tc := range scEverythingCases {
					q := "Patient/" + tc.id + "/$everything"
					t.Run(q, func(t *testing.T) {
						_, all := scSearch(t, base, q, nil)
						var got []string
						for _, e := range all {
							if e.mode != "outcome" {
								got = append(got, e.ref)
							}
						}
						missing, _, dup := scSameSet(got, tc.must)
						var extra []string
						for _, g := range got {
							if !slices.Contains(tc.must, g) && !slices.Contains(tc.may, g) {
								extra = append(extra, g)
							}
						}
						if len(missing)+len(extra)+len(dup) > 0 {
							t.Errorf("GET %s:\n got %v\n must have %v, may have %v\n missing %v, unexpected %v, duplicated %v",
								q, got, tc.must, tc.may, missing, extra, dup)
						}
					})
				}
			})

			t.Run("error", func(t *testing.T) {
				for _, q := range scErrorCases {
					t.Run(q, func(t *testing.T) {
						status, body := scGet(t, base, q, nil)
						if status != 400 {
							t.Fatalf("GET %s: status %d, want 400: %.300s", q, status, body)
						}
						if m := decode(t, body); m["resourceType"] != "OperationOutcome" {
							t.Errorf("GET %s: body is not an OperationOutcome: %.300s", q, body)
						}
					})
				}
			})

			t.Run("lenient", func(t *testing.T) {
				q := "Patient?name=张&colour=blue"
				_, all := scSearch(t, base, q, map[string]string{"Prefer": "handling=lenient"})
				scCheckSet(t, "GET "+q, scByMode(all, "match"), scPat("pat-zhangsan", "pat-zhangxiaofan", "ch-example"))
				var outcomes int
				for _, e := range all {
					if e.mode == "outcome" {
						outcomes++
						if e.resource["resourceType"] != "OperationOutcome" {
							t.Errorf("outcome entry is a %v", e.resource["resourceType"])
						}
					}
				}
				if outcomes != 1 {
					t.Errorf("GET %s (lenient): %d entries with search.mode outcome, want 1", q, outcomes)
				}
			})

			t.Run("post", func(t *testing.T) {
				// POST [base]/[type]/_search with the parameters as a form.
				form := "name=" + scEscape("张") + "&gender=female"
				status, _, body := call(t, "POST", base+"/fhir/Patient/_search",
					map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, []byte(form))
				if status != 200 {
					t.Fatalf("POST Patient/_search %s: status %d: %.600s", form, status, body)
				}
				scCheckSet(t, "POST Patient/_search "+form, scByMode(scParse(t, body).entries, "match"), scPat("pat-zhangxiaofan"))
			})

			t.Run("include", func(t *testing.T) {
				for _, tc := range scIncludeCases {
					t.Run(tc.query, func(t *testing.T) {
						_, all := scSearch(t, base, tc.query, nil)
						scCheckSet(t, "match of "+tc.query, scByMode(all, "match"), tc.match)
						scCheckSet(t, "include of "+tc.query, scByMode(all, "include"), tc.include)
					})
				}
			})

			t.Run("sort", func(t *testing.T) {
				for _, tc := range scSortCases {
					t.Run(tc.query, func(t *testing.T) {
						_, all := scSearch(t, base, tc.query, nil)
						if got := scByMode(all, "match"); !slices.Equal(got, tc.want) {
							t.Errorf("GET %s:\n got  %v\n want %v", tc.query, got, tc.want)
						}
					})
				}
			})

			t.Run("paging", func(t *testing.T) {
				for _, tc := range scPagingCases {
					t.Run(tc.paged, func(t *testing.T) {
						_, all := scSearch(t, base, tc.all, nil)
						want := scByMode(all, "match")
						if len(want) <= tc.pageSize {
							t.Fatalf("GET %s: %d matches, too few to page by %d", tc.all, len(want), tc.pageSize)
						}
						first, paged := scSearch(t, base, tc.paged, nil)
						if n := len(scByMode(first.entries, "match")); n != tc.pageSize || first.next == "" {
							t.Errorf("GET %s: first page has %d matches and next %q, want %d and a next link", tc.paged, n, first.next, tc.pageSize)
						}
						scCheckSet(t, "pages of "+tc.paged, scByMode(paged, "match"), want)
					})
				}
			})

			t.Run("total", func(t *testing.T) {
				for _, tc := range scTotalCases {
					t.Run(tc.query, func(t *testing.T) {
						status, body := scGet(t, base, tc.query, nil)
						if status != 200 {
							t.Fatalf("GET %s: status %d: %.600s", tc.query, status, body)
						}
						b := scParse(t, body)
						if b.total != tc.total {
							t.Errorf("GET %s: total %d, want %d", tc.query, b.total, tc.total)
						}
						if n := len(scByMode(b.entries, "match")); n != tc.entries {
							t.Errorf("GET %s: %d match entries, want %d", tc.query, n, tc.entries)
						}
					})
				}
			})

			t.Run("elements", func(t *testing.T) {
				q := "Patient?_id=pat-zhangsan&_elements=name,gender"
				_, all := scSearch(t, base, q, nil)
				if got := scByMode(all, "match"); !slices.Equal(got, scPat("pat-zhangsan")) {
					t.Fatalf("GET %s: matches %v", q, got)
				}
				res := all[slices.IndexFunc(all, func(e scEntry) bool { return e.mode == "match" })].resource
				for _, k := range []string{"resourceType", "id", "name", "gender"} {
					if _, ok := res[k]; !ok {
						t.Errorf("GET %s: element %s missing from %v", q, k, res)
					}
				}
				for _, k := range []string{"birthDate", "identifier", "address", "managingOrganization", "generalPractitioner", "active"} {
					if _, ok := res[k]; ok {
						t.Errorf("GET %s: element %s present, _elements did not ask for it", q, k)
					}
				}
			})
		})
	}
}
