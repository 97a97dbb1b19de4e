// Package synth generates a synthetic Chinese county as FHIR R4 resources:
// divisions, facilities, staff, residents in households, a configurable period of
// care, and injected ground-truth scenarios (duplicate registrations, outbreaks,
// insurance fraud, drug shortages, price anomalies) listed in a manifest.
//
// Generation is deterministic: every household draws from its own random stream,
// seeded by the run's seed and the household's number, so households are built in
// parallel and emitted in order, and the same seed and options give the same bytes.
package synth

import (
	"hash/fnv"
	"math/rand/v2"
	"time"
)

// China Standard Time; China has one time zone and no daylight saving.
var cst = time.FixedZone("CST", 8*3600)

// Config selects what to generate.
type Config struct {
	Seed      uint64
	Residents int       // at least this many residents (whole households)
	Start     time.Time // first day of the care period (default 2025-01-01 CST)
	Years     int       // length of the care period (default 1)
	Scenarios Scenarios
}

// Scenarios switches the injected ground-truth scenarios.
type Scenarios struct {
	Duplicates     bool `json:"duplicates"` // residents registered again at other facilities, with variants
	Outbreaks      bool `json:"outbreaks"`  // disease clusters in chosen townships and weeks
	Fraud          bool `json:"fraud"`      // insurance fraud patterns in claims
	Shortages      bool `json:"shortages"`  // drug shortage episodes
	PriceAnomalies bool `json:"prices"`     // procurement price anomalies
}

// AllScenarios switches every scenario on.
func AllScenarios() Scenarios { return Scenarios{true, true, true, true, true} }

// End is the day after the care period.
func (c Config) End() time.Time { return c.Start.AddDate(c.Years, 0, 0) }

// Division is an administrative division with a GB/T 2260-style code: 6 digits
// for province (990000), city (990100) and county, 9 township, 12
// village/community (statistical codes).
type Division struct {
	Code   string
	Name   string
	Level  DivisionLevel
	Urban  bool // 街道/社区 rather than 乡镇/村
	Parent *Division
}

// DivisionLevel is a level of the administrative hierarchy.
type DivisionLevel int

const (
	Province DivisionLevel = iota
	City
	County
	Township
	Village
)

// FacilityKind is the type of a health facility.
type FacilityKind string

const (
	CountyHospital  FacilityKind = "county-hospital"  // 县人民医院
	TCMHospital     FacilityKind = "tcm-hospital"     // 县中医院
	MCHHospital     FacilityKind = "mch-hospital"     // 县妇幼保健院
	TownshipCentre  FacilityKind = "township-centre"  // 乡镇卫生院
	CommunityCentre FacilityKind = "community-centre" // 社区卫生服务中心
	VillageClinic   FacilityKind = "village-clinic"   // 村卫生室
	Pharmacy        FacilityKind = "pharmacy"         // 零售药店
	CDC             FacilityKind = "cdc"              // 县疾病预防控制中心
)

// Facility is a health facility of the region.
type Facility struct {
	ID            string // Organization id; Location and services derive theirs from it
	Name          string
	Kind          FacilityKind
	Level         string // 三级, 二级, 一级, 未定级
	Division      *Division
	Departments   []Department
	Practitioners []*Practitioner
}

// Department is a clinical department (HealthcareService).
type Department struct {
	ID   string
	Code string // e.g. 内科, 外科, 儿科 as a local code
	Name string
}

// Practitioner is a member of staff.
type Practitioner struct {
	ID         string
	Name       string
	Sex        string // male | female
	BirthDate  time.Time
	Role       string // doctor | nurse | pharmacist | technician
	Specialty  string // department code for doctors
	LicenseNo  string // 执业证书编号
	Facility   *Facility
	Department *Department
}

// Resident is one person of the region.
type Resident struct {
	ID        string // Patient id of the resident's primary record
	Household string
	Relation  string // head | spouse | child | parent | other
	Married   bool
	Name      string
	Sex       string // male | female
	BirthDate time.Time
	IDNumber  string // 18-digit 居民身份证号码
	Phone     string
	Address   string
	Village   *Division
	Home      *Facility // the village clinic or community centre where the resident is registered
}

// Manifest is the ground truth of a generated region, written beside the output.
type Manifest struct {
	Seed       uint64         `json:"seed"`
	Requested  int            `json:"requestedResidents"` // Config.Residents
	Residents  int            `json:"residents"`          // generated: whole households, so a few more
	Households int            `json:"households"`
	Start      string         `json:"start"`
	Years      int            `json:"years"`
	Scenarios  Scenarios      `json:"scenarios"`
	Counts     map[string]int `json:"counts"` // resources per type
	Truth
}

// Truth is what the scenarios injected; households contribute fragments that are
// merged in household order.
type Truth struct {
	Duplicates     []DuplicateSet `json:"duplicates"`
	Outbreaks      []Outbreak     `json:"outbreaks"`
	Fraud          []FraudCase    `json:"fraud"`
	Shortages      []Shortage     `json:"shortages"`
	PriceAnomalies []PriceAnomaly `json:"priceAnomalies"`
}

func (t *Truth) merge(o *Truth) {
	t.Duplicates = append(t.Duplicates, o.Duplicates...)
	t.Fraud = append(t.Fraud, o.Fraud...)
	t.Shortages = append(t.Shortages, o.Shortages...)
	t.PriceAnomalies = append(t.PriceAnomalies, o.PriceAnomalies...)
	for _, ob := range o.Outbreaks {
		t.addOutbreakCases(ob)
	}
}

// addOutbreakCases appends cases to the outbreak of the same ID, or adds it.
func (t *Truth) addOutbreakCases(ob Outbreak) {
	for i := range t.Outbreaks {
		if t.Outbreaks[i].ID == ob.ID {
			t.Outbreaks[i].Cases = append(t.Outbreaks[i].Cases, ob.Cases...)
			return
		}
	}
	t.Outbreaks = append(t.Outbreaks, ob)
}

// DuplicateSet is one resident with several Patient records.
type DuplicateSet struct {
	Person  string            `json:"person"` // the primary Patient id
	Records []DuplicateRecord `json:"records"`
}

// DuplicateRecord is one extra registration and how it differs.
type DuplicateRecord struct {
	Patient  string   `json:"patient"`
	Facility string   `json:"facility"` // Organization id
	Variants []string `json:"variants"` // e.g. typo, homophone, pinyin, id-digit-swap, id-missing, traditional, id-15-digit, phone-changed
}

// Outbreak is an injected disease cluster.
type Outbreak struct {
	ID        string   `json:"id"`
	Disease   string   `json:"disease"` // ICD-10 code
	Name      string   `json:"name"`
	Townships []string `json:"townships"` // division codes
	Start     string   `json:"start"`     // first day, 2006-01-02
	End       string   `json:"end"`       // last day
	Cases     []string `json:"cases"`     // Condition ids of the injected (extra) cases
}

// FraudCase is one injected insurance fraud pattern.
type FraudCase struct {
	Pattern string   `json:"pattern"` // split-admission | duplicate-charge | sex-restricted | age-restricted | upcoding
	Patient string   `json:"patient"`
	Claims  []string `json:"claims"` // Claim ids
	Detail  string   `json:"detail"`
}

// Shortage is a drug shortage episode.
type Shortage struct {
	Drug       string   `json:"drug"` // national insurance drug code
	Name       string   `json:"name"`
	Facilities []string `json:"facilities"`
	Start      string   `json:"start"`
	End        string   `json:"end"`
}

// PriceAnomaly is a procurement price anomaly.
type PriceAnomaly struct {
	Drug      string   `json:"drug"`
	Name      string   `json:"name"`
	Facility  string   `json:"facility"`
	Normal    float64  `json:"normalPrice"`
	Anomalous float64  `json:"anomalousPrice"`
	Start     string   `json:"start"`
	End       string   `json:"end"`
	Resources []string `json:"resources"` // ids of the resources that carry the anomalous price
}

// rng returns the random stream named stream for item index of a run: a PCG
// seeded from the run's seed and a hash of the stream name, so streams are
// independent of each other and of generation order.
func rng(seed uint64, stream string, index uint64) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return rand.New(rand.NewPCG(seed^h.Sum64(), index*0x9E3779B97F4A7C15+1))
}

// Region is the generated county: its divisions, facilities and staff.
type Region struct {
	Province, City, County *Division
	Townships              []*Division // 乡镇 and 街道
	Villages               []*Division // 村 and 社区, in township order
	Facilities             []*Facility // every facility, in a fixed order
	byKind                 map[FacilityKind][]*Facility
	uscc                   map[string]string    // Organization id → 统一社会信用代码
	centreOf               map[string]*Facility // township code → its township or community centre
	clinicOf               map[string]*Facility // village code → its village clinic or community centre
}

// FacilitiesOf lists the facilities of one kind.
func (rg *Region) FacilitiesOf(kind FacilityKind) []*Facility { return rg.byKind[kind] }

// CentreOf is the township health centre (or community health centre) serving a township.
func (rg *Region) CentreOf(township *Division) *Facility { return rg.centreOf[township.Code] }

// ClinicOf is the village clinic (or community health centre) serving a village.
func (rg *Region) ClinicOf(village *Division) *Facility { return rg.clinicOf[village.Code] }

// DuplicatePairs lists every pair of Patient ids that are one resident: the
// resident's own record with each extra registration, and the extra ones
// with each other. It is the ground truth of record linkage.
func (t *Truth) DuplicatePairs() [][2]string {
	var out [][2]string
	for _, set := range t.Duplicates {
		ids := []string{set.Person}
		for _, r := range set.Records {
			ids = append(ids, r.Patient)
		}
		for i := range ids {
			for j := i + 1; j < len(ids); j++ {
				out = append(out, [2]string{ids[i], ids[j]})
			}
		}
	}
	return out
}
