package synth

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/uscc"
)

// The region's fixed codes, 6 digits as in GB/T 2260. Province code 99 is not
// assigned in GB/T 2260 (the codes in use run 11–82), so no generated code can
// collide with a real division.
const (
	provinceCode = "990000"
	cityCode     = "990100"
	countyCode   = "990121"

	// PayerID is the Organization of the county healthcare security bureau
	// (县医疗保障局), the payer of every insurance claim.
	PayerID = "org-hsa-" + countyCode
	// commissionID is the county health commission (县卫生健康委员会).
	commissionID = "org-hc-" + countyCode
	// distributorID is the pharmaceutical distributor of procurement (plan.go).
	distributorID = "org-distributor"
)

// neighbourCounties are fictional county codes of the same fictional city, where
// residents born elsewhere had their birth registered; neighbourNames names them
// in the region's division CodeSystem, as their codes are in 身份证 numbers.
var (
	neighbourCounties = []string{"990102", "990103", "990122", "990123"}
	neighbourNames    = map[string]string{"990102": "望东区", "990103": "望西区", "990122": "宁澄县", "990123": "岳峰县"}
)

// Place-name syllables: fictional names are drawn from these pairs.
var (
	placeFirst  = []rune("青柳石桃白黄红龙凤金银松梅竹荷兰安平永太长新双三五西东南北上下大小清")
	placeSecond = []rune("河山岭坡湾沟桥坪庄堡营集寨塘峪洼园林泉溪源口滩店石")
	urbanSecond = []rune("园苑华安和兴康城")
)

// refDate is the day residents' ages refer to: the default first day of care.
func refDate() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, cst) }

// newRegion builds the county for a population of about residents people.
func newRegion(seed uint64, residents int) *Region {
	r := rng(seed, "region", 0)
	b := &regionBuilder{r: r, seed: seed, used: map[string]bool{}, licenseSeq: map[string]int{}}
	rg := &Region{
		byKind:   map[FacilityKind][]*Facility{},
		centreOf: map[string]*Facility{},
		clinicOf: map[string]*Facility{},
	}
	b.rg = rg
	rg.Province = &Division{Code: provinceCode, Name: "海岳省", Level: Province}
	rg.City = &Division{Code: cityCode, Name: "望川市", Level: City, Parent: rg.Province}
	rg.County = &Division{Code: countyCode, Name: "安澜县", Level: County, Parent: rg.City}

	// One township per ~32,000 people, at least 3; the county seat has 1–2 街道.
	townships := max(3, int(math.Round(float64(residents)/32000)))
	streets := 1
	if townships >= 10 {
		streets = 2
	}
	// ~1,800 people per village, 3–25 villages per township.
	perTownship := float64(residents) / 1800 / float64(townships)
	streetNames := []string{"城关街道", "东关街道"}
	for i := 0; i < townships; i++ {
		t := &Division{Level: Township, Parent: rg.County}
		if i < streets {
			t.Urban, t.Name = true, streetNames[i]
			t.Code = countyCode + pad(i+1, 3) // 街道 001–099
		} else {
			n := i - streets
			suffix, base := "镇", 101 // 镇 101–199, 乡 201–399
			if n%5 >= 3 {
				suffix, base = "乡", 201
			}
			t.Name = b.uniqueName(placeFirst, placeSecond, suffix)
			t.Code = countyCode + pad(base+n, 3)
		}
		rg.Townships = append(rg.Townships, t)
		nv := int(math.Round(perTownship * (0.8 + 0.4*r.Float64())))
		nv = min(25, max(3, nv))
		for j := 0; j < nv; j++ {
			v := &Division{Level: Village, Parent: t, Urban: t.Urban}
			if t.Urban { // 居委会 001–199
				v.Name = b.uniqueName(placeFirst, urbanSecond, "社区")
				v.Code = t.Code + pad(j+1, 3)
			} else { // 村委会 200–399
				if r.IntN(2) == 0 {
					v.Name = b.uniqueName([]rune(surnameRunes()), []rune("家"), "村")
				} else {
					v.Name = b.uniqueName(placeFirst, placeSecond, "村")
				}
				v.Code = t.Code + pad(200+j+1, 3)
			}
			rg.Villages = append(rg.Villages, v)
		}
	}
	b.facilities(residents)
	rg.uscc = issueUSCC(seed, rg)
	return rg
}

// usccKind is the registration authority and organisation type (GB 32100
// positions 1–2) of a facility: public hospitals, centres and the CDC are
// 事业单位 (12, registered by 机构编制); village clinics, taken as run by their
// village doctors, 民办非企业单位 (52, 民政); pharmacies enterprises (91, 工商).
func usccKind(f *Facility) string {
	switch f.Kind {
	case VillageClinic:
		return "52"
	case Pharmacy:
		return "91"
	}
	return "12"
}

// issueUSCC gives every Organization of the region a 统一社会信用代码 of the
// county, unique in the region, keyed by Organization id: the health commission
// and the healthcare security bureau are 机关 (11), the distributor an
// enterprise (91). The organisation codes of public bodies are 8 digits as
// assigned before 2015; those of enterprises and 民政 registrations start MA and
// MJ as newly assigned ones do. Its own random stream keeps every other draw of
// the region as it was.
func issueUSCC(seed uint64, rg *Region) map[string]string {
	r := rng(seed, "uscc", 0)
	out := map[string]string{}
	issued := map[string]bool{}
	issue := func(id, kind string) {
		prefix := map[string]string{"91": "MA", "52": "MJ"}[kind]
		for {
			body := []byte(prefix)
			for len(body) < 8 {
				if prefix == "" {
					body = append(body, byte('0'+r.IntN(10)))
				} else {
					body = append(body, uscc.Alphabet[r.IntN(len(uscc.Alphabet))])
				}
			}
			code := uscc.New(kind, countyCode, string(body))
			if !issued[code] {
				issued[code] = true
				out[id] = code
				return
			}
		}
	}
	issue(commissionID, "11")
	issue(PayerID, "11")
	for _, f := range rg.Facilities {
		issue(f.ID, usccKind(f))
	}
	issue(distributorID, "91")
	return out
}

// usccIdentifier is an Organization's 统一社会信用代码 identifier.
func (rg *Region) usccIdentifier(id string) map[string]any {
	code, ok := rg.uscc[id]
	if !ok {
		panic("synth: no 统一社会信用代码 issued to " + id)
	}
	return map[string]any{"use": "official", "system": fhir.SystemUSCC, "value": code}
}

// surnameRunes are the 30 most common surnames, for 王家村-style village names.
func surnameRunes() string {
	s := ""
	for _, x := range surnames[:30] {
		s += x
	}
	return s
}

// villageWeight is the relative population of a village (1,000–2,000 people;
// communities of the county seat 2,000–4,000), a hash of its code so that it
// needs no table and households can pick villages in proportion independently.
func villageWeight(v *Division) int {
	h := uint32(2166136261)
	for i := 0; i < len(v.Code); i++ {
		h = (h ^ uint32(v.Code[i])) * 16777619
	}
	w := 1000 + int(h%1001)
	if v.Urban {
		w *= 2
	}
	return w
}

// maxVillageWeight bounds villageWeight, for rejection sampling.
const maxVillageWeight = 4000

// pickVillage draws a village in proportion to villageWeight.
func pickVillage(rg *Region, r *rand.Rand) *Division {
	for {
		v := rg.Villages[r.IntN(len(rg.Villages))]
		if r.IntN(maxVillageWeight) < villageWeight(v) {
			return v
		}
	}
}

type regionBuilder struct {
	rg         *Region
	r          *rand.Rand
	seed       uint64
	used       map[string]bool
	staff      int
	licenseSeq map[string]int // by type digit + year
}

// uniqueName draws first+second+suffix names until one is new to the region.
func (b *regionBuilder) uniqueName(first, second []rune, suffix string) string {
	for tries := 0; ; tries++ {
		name := string(first[b.r.IntN(len(first))]) + string(second[b.r.IntN(len(second))])
		if tries > 50 { // the syllable space is nearly used up: number the name
			name += strconv.Itoa(tries)
		}
		name += suffix
		if !b.used[name] {
			b.used[name] = true
			return name
		}
	}
}

// department codes and names of 卫医发〔1994〕27号《医疗机构诊疗科目名录》.
var departmentNames = map[string]string{
	"01": "预防保健科", "02": "全科医疗科", "03": "内科", "04": "外科", "05": "妇产科",
	"06": "妇女保健科", "07": "儿科", "09": "儿童保健科", "10": "眼科", "11": "耳鼻咽喉科",
	"12": "口腔科", "13": "皮肤科", "16": "传染科", "20": "急诊医学科", "21": "康复医学科",
	"26": "麻醉科", "28": "重症医学科", "30": "医学检验科", "31": "病理科", "32": "医学影像科",
	"50": "中医科", "52": "中西医结合科",
}

// departmentsOf lists the 诊疗科目 of each kind of facility.
var departmentsOf = map[FacilityKind][]string{
	CountyHospital:  {"03", "04", "05", "07", "10", "11", "12", "13", "16", "20", "21", "26", "28", "30", "31", "32", "50", "01"},
	TCMHospital:     {"50", "52", "03", "04", "21", "20", "30", "32"},
	MCHHospital:     {"05", "06", "07", "09", "30", "32", "01"},
	CDC:             {"01", "30"},
	TownshipCentre:  {"02", "03", "04", "05", "50", "20", "01", "30", "32"},
	CommunityCentre: {"02", "01", "50", "21", "30"},
	VillageClinic:   {"02"},
}

// technical departments are staffed by technicians, not doctors.
func technical(code string) bool { return code == "30" || code == "31" || code == "32" }

// staffing is the staff of a facility per 1,000 people served, with minimums.
type staffing struct {
	doctors, minDoctors float64
	nurses, pharm, tech float64 // per doctor
}

var staffingOf = map[FacilityKind]staffing{
	CountyHospital:  {0.8, 8, 1.3, 0.08, 0.12},
	TCMHospital:     {0.3, 4, 1.0, 0.1, 0.12},
	MCHHospital:     {0.2, 4, 1.2, 0.1, 0.12},
	CDC:             {0.08, 3, 0, 0, 0.5},
	TownshipCentre:  {0.6, 3, 0.8, 0.1, 0.2},
	CommunityCentre: {0.6, 3, 0.8, 0.1, 0.2},
}

// facilities adds the facilities and their staff.
func (b *regionBuilder) facilities(residents int) {
	rg := b.rg
	seat := rg.Townships[0]
	hospitalLevel := "二级"
	if residents >= 600000 {
		hospitalLevel = "三级"
	}
	b.add(&Facility{ID: "org-hosp-1", Name: rg.County.Name + "人民医院", Kind: CountyHospital, Level: hospitalLevel, Division: seat}, float64(residents))
	b.add(&Facility{ID: "org-tcm-1", Name: rg.County.Name + "中医医院", Kind: TCMHospital, Level: "二级", Division: seat}, float64(residents))
	b.add(&Facility{ID: "org-mch-1", Name: rg.County.Name + "妇幼保健院", Kind: MCHHospital, Level: "二级", Division: seat}, float64(residents))
	b.add(&Facility{ID: "org-cdc-1", Name: rg.County.Name + "疾病预防控制中心", Kind: CDC, Level: "未定级", Division: seat}, float64(residents))

	// Population served by each township, from the village weights.
	total := 0
	served := map[*Division]int{}
	for _, v := range rg.Villages {
		total += villageWeight(v)
		served[v.Parent] += villageWeight(v)
	}
	share := func(w int) float64 { return float64(residents) * float64(w) / float64(total) }
	for _, t := range rg.Townships {
		var f *Facility
		if t.Urban {
			f = &Facility{ID: "org-chc-" + t.Code, Name: t.Name + "社区卫生服务中心", Kind: CommunityCentre, Level: "一级", Division: t}
		} else {
			f = &Facility{ID: "org-thc-" + t.Code, Name: t.Name + "卫生院", Kind: TownshipCentre, Level: "一级", Division: t}
		}
		b.add(f, share(served[t]))
		rg.centreOf[t.Code] = f
	}
	for _, v := range rg.Villages {
		if v.Urban {
			rg.clinicOf[v.Code] = rg.centreOf[v.Parent.Code]
			continue
		}
		f := &Facility{ID: "org-vc-" + v.Code, Name: v.Name + "卫生室", Kind: VillageClinic, Level: "未定级", Division: v}
		b.add(f, 0)
		rg.clinicOf[v.Code] = f
	}
	brands := []string{"仁和", "同仁", "康宁", "百姓", "益民", "惠民", "福寿", "济生"}
	pharmacies := max(2, residents/3000)
	for i := 0; i < pharmacies; i++ {
		// Half the pharmacies are in the county seat, the rest spread over townships.
		t := seat
		if i%2 == 1 {
			t = rg.Townships[b.r.IntN(len(rg.Townships))]
		}
		name := brands[i%len(brands)] + "大药房" + string([]rune(t.Name)[:2]) + strconv.Itoa(i/len(brands)+1) + "店"
		b.add(&Facility{ID: "org-ph-" + pad(i+1, 4), Name: name, Kind: Pharmacy, Level: "未定级", Division: t}, 0)
	}
}

// add registers f with its departments and the staff for a population served.
func (b *regionBuilder) add(f *Facility, served float64) {
	rg := b.rg
	for _, code := range departmentsOf[f.Kind] {
		f.Departments = append(f.Departments, Department{ID: "hs-" + f.ID[len("org-"):] + "-" + code, Code: code, Name: departmentNames[code]})
	}
	rg.Facilities = append(rg.Facilities, f)
	rg.byKind[f.Kind] = append(rg.byKind[f.Kind], f)

	switch f.Kind {
	case VillageClinic: // 1–2 village doctors
		for i := 0; i < 1+b.r.IntN(2); i++ {
			b.hire(f, "doctor", &f.Departments[0])
		}
		return
	case Pharmacy: // 1–2 licensed pharmacists
		for i := 0; i < 1+b.r.IntN(2); i++ {
			b.hire(f, "pharmacist", nil)
		}
		return
	}
	s := staffingOf[f.Kind]
	doctors := int(math.Max(s.minDoctors, math.Round(served*s.doctors/1000)))
	var clinical, tech []*Department
	for i := range f.Departments {
		if technical(f.Departments[i].Code) {
			tech = append(tech, &f.Departments[i])
		} else {
			clinical = append(clinical, &f.Departments[i])
		}
	}
	for i := 0; i < doctors; i++ {
		b.hire(f, "doctor", clinical[i%len(clinical)])
	}
	for i := 0; i < int(math.Round(float64(doctors)*s.nurses)); i++ {
		b.hire(f, "nurse", clinical[i%len(clinical)])
	}
	for i := 0; i < max(1, int(math.Round(float64(doctors)*s.pharm))) && s.pharm > 0; i++ {
		b.hire(f, "pharmacist", nil)
	}
	for i := 0; i < max(1, int(math.Round(float64(doctors)*s.tech))) && len(tech) > 0; i++ {
		b.hire(f, "technician", tech[i%len(tech)])
	}
}

// licenseType is the first digit of a licence number (see docs/synth.md).
func licenseType(f *Facility, role string) byte {
	switch {
	case f.Kind == VillageClinic:
		return '5' // 乡村医生执业证书
	case role == "doctor":
		return '1'
	case role == "nurse":
		return '2'
	case role == "pharmacist":
		return '3'
	}
	return '4'
}

// hire adds one member of staff, drawn from the "practitioner" stream.
func (b *regionBuilder) hire(f *Facility, role string, dept *Department) {
	b.staff++
	n := b.staff
	r := rng(b.seed, "practitioner", uint64(n))
	sex := "male"
	switch {
	case role == "nurse":
		if r.Float64() < 0.97 {
			sex = "female"
		}
	case f.Kind == VillageClinic:
		if r.Float64() < 0.3 {
			sex = "female"
		}
	case r.Float64() < 0.5:
		sex = "female"
	}
	minAge, maxAge := 24, 60
	if f.Kind == VillageClinic {
		minAge, maxAge = 32, 72
	}
	age := minAge + r.IntN(maxAge-minAge)
	birth := refDate().AddDate(-age-1, 0, 1+r.IntN(365))
	p := &Practitioner{
		ID:         "prac-" + pad(n, 6),
		Name:       pickSurname(r) + pickGivenName(r, sex, birth.Year()),
		Sex:        sex,
		BirthDate:  birth,
		Role:       role,
		Facility:   f,
		Department: dept,
	}
	if role == "doctor" && dept != nil {
		p.Specialty = dept.Code
	}
	typ := licenseType(f, role)
	year := min(2024, birth.Year()+23+r.IntN(5))
	key := string(typ) + strconv.Itoa(year)
	b.licenseSeq[key]++
	p.LicenseNo = string(typ) + strconv.Itoa(year) + countyCode + pad(b.licenseSeq[key], 4)
	f.Practitioners = append(f.Practitioners, p)
}

// pad writes n in decimal with leading zeros to width digits.
func pad(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return s
}

// FHIR element helpers.

func ref(typ, id string) map[string]any { return map[string]any{"reference": typ + "/" + id} }

func refDisplay(typ, id, display string) map[string]any {
	return map[string]any{"reference": typ + "/" + id, "display": display}
}

func coding(system, code, display string) map[string]any {
	return map[string]any{"system": system, "code": code, "display": display}
}

func concept(system, code, display string) map[string]any {
	return map[string]any{"coding": []any{coding(system, code, display)}, "text": display}
}

// divisionAddress is an Address in division d (a township or a village): the
// province, city and county in state/city/district, the rest in line, and the
// division's code in an extension so that it can be searched and aggregated.
func divisionAddress(rg *Region, d *Division, line ...string) map[string]any {
	text := rg.Province.Name + rg.City.Name + rg.County.Name
	lines := make([]any, 0, 3)
	var parts []*Division
	for x := d; x != nil && x.Level > County; x = x.Parent {
		parts = append(parts, x)
	}
	for i := len(parts) - 1; i >= 0; i-- {
		text += parts[i].Name
		lines = append(lines, parts[i].Name)
	}
	for _, l := range line {
		text += l
		lines = append(lines, l)
	}
	return map[string]any{
		"extension": []any{map[string]any{"url": fhir.ExtDivision,
			"valueCoding": coding(fhir.SystemDivision, d.Code, d.Name)}},
		"use": "work", "type": "physical", "text": text, "line": lines,
		"district": rg.County.Name, "city": rg.City.Name, "state": rg.Province.Name, "country": "CN",
	}
}

// levelCoding is a facility's grade: 三级乙等/二级甲等 for the county hospital,
// the plain level elsewhere.
func levelCoding(f *Facility) map[string]any {
	switch {
	case f.Kind == CountyHospital && f.Level == "三级":
		return coding(fhir.SystemFacilityLevel, "3B", "三级乙等")
	case f.Kind == CountyHospital:
		return coding(fhir.SystemFacilityLevel, "2A", "二级甲等")
	case f.Level == "二级":
		return coding(fhir.SystemFacilityLevel, "2", "二级")
	case f.Level == "一级":
		return coding(fhir.SystemFacilityLevel, "1", "一级")
	}
	return coding(fhir.SystemFacilityLevel, "unrated", "未定级")
}

var kindNames = map[FacilityKind]string{
	CountyHospital: "县级综合医院", TCMHospital: "中医医院", MCHHospital: "妇幼保健院", TownshipCentre: "乡镇卫生院",
	CommunityCentre: "社区卫生服务中心", VillageClinic: "村卫生室", Pharmacy: "零售药店", CDC: "疾病预防控制中心",
}

// locationID is the id of a facility's Location.
func locationID(f *Facility) string { return f.ID + "-loc" }

// resources are the region's division CodeSystem (first, so that an import
// has the codes before the addresses that use them), Organizations,
// Locations, HealthcareServices, Practitioners and PractitionerRoles, in a
// fixed order.
func (rg *Region) resources() []fhir.Resource {
	govt := "http://terminology.hl7.org/CodeSystem/organization-type"
	out := []fhir.Resource{
		rg.divisionCodeSystem(),
		{"resourceType": "Organization", "id": commissionID, "active": true,
			"identifier": []any{rg.usccIdentifier(commissionID)},
			"type":       []any{concept(govt, "govt", "Government")},
			"name":       rg.County.Name + "卫生健康委员会", "address": []any{divisionAddress(rg, rg.Townships[0])}},
		{"resourceType": "Organization", "id": PayerID, "active": true,
			"identifier": []any{rg.usccIdentifier(PayerID)},
			"type":       []any{concept(govt, "pay", "Payer")},
			"name":       rg.County.Name + "医疗保障局", "address": []any{divisionAddress(rg, rg.Townships[0])}},
	}
	for i, f := range rg.Facilities {
		org := fhir.Resource{"resourceType": "Organization", "id": f.ID, "active": true, "name": f.Name,
			"identifier": []any{rg.usccIdentifier(f.ID), map[string]any{"system": fhir.SystemOrgCode, "value": orgCode(i)}},
			"type": []any{
				map[string]any{"coding": []any{coding(fhir.SystemFacilityKind, string(f.Kind), kindNames[f.Kind]), levelCoding(f)},
					"text": kindNames[f.Kind]},
			},
			"address": []any{divisionAddress(rg, f.Division, strconv.Itoa(1+i%97)+"号")},
			"partOf":  refDisplay("Organization", commissionID, rg.County.Name+"卫生健康委员会"),
		}
		out = append(out, org, fhir.Resource{"resourceType": "Location", "id": locationID(f), "status": "active",
			"name": f.Name, "mode": "instance",
			"physicalType":         concept("http://terminology.hl7.org/CodeSystem/location-physical-type", "bu", "Building"),
			"address":              divisionAddress(rg, f.Division, strconv.Itoa(1+i%97)+"号"),
			"managingOrganization": refDisplay("Organization", f.ID, f.Name)})
		for _, d := range f.Departments {
			c := concept(fhir.SystemDepartment, d.Code, d.Name)
			out = append(out, fhir.Resource{"resourceType": "HealthcareService", "id": d.ID, "active": true,
				"providedBy": refDisplay("Organization", f.ID, f.Name),
				"location":   []any{ref("Location", locationID(f))},
				"type":       []any{c}, "specialty": []any{c}, "name": f.Name + d.Name})
		}
	}
	for _, f := range rg.Facilities {
		for _, p := range f.Practitioners {
			out = append(out, p.resource(), p.role())
		}
	}
	return out
}

// divisionCodeSystem is the region's GB/T 2260 table: the province, its city,
// the county and its neighbours (whose codes are in 身份证 numbers), and the
// county's townships and villages with their statistical codes, nested as in
// the shipped CodeSystem-gb-t-2260.json. It has the shipped table's url: a
// region publishes its province this way, and a stored CodeSystem takes
// precedence over the shipped one.
func (rg *Region) divisionCodeSystem() fhir.Resource {
	node := func(d *Division, children []any) map[string]any {
		c := map[string]any{"code": d.Code, "display": d.Name}
		if len(children) > 0 {
			c["concept"] = children
		}
		return c
	}
	villagesOf := map[*Division][]any{}
	for _, v := range rg.Villages {
		villagesOf[v.Parent] = append(villagesOf[v.Parent], node(v, nil))
	}
	// Townships in code order (乡 and 镇 codes interleave as they are drawn).
	towns := slices.SortedFunc(slices.Values(rg.Townships), func(a, b *Division) int { return strings.Compare(a.Code, b.Code) })
	var townships []any
	for _, t := range towns {
		townships = append(townships, node(t, villagesOf[t]))
	}
	counties := []any{node(rg.County, townships)}
	for _, code := range neighbourCounties {
		counties = append(counties, map[string]any{"code": code, "display": neighbourNames[code]})
	}
	slices.SortFunc(counties, func(a, b any) int {
		return strings.Compare(a.(map[string]any)["code"].(string), b.(map[string]any)["code"].(string))
	})
	return fhir.Resource{
		"resourceType":     "CodeSystem",
		"id":               "gb-t-2260-" + provinceCode,
		"url":              fhir.SystemDivision,
		"name":             "GBT2260DivisionSynthetic",
		"title":            "GB/T 2260 行政区划代码：" + rg.Province.Name + "（合成数据）",
		"status":           "active",
		"experimental":     true,
		"content":          "fragment", // the url is all of China's divisions: a code not here is unknown, not wrong
		"caseSensitive":    true,
		"hierarchyMeaning": "part-of",
		"description": "合成区域" + rg.Province.Name + "的行政区划代码：省、市、县为 GB/T 2260 六位代码，乡镇、街道为 9 位，村、社区为 12 位统计用区划代码。" +
			"Generated by HIP's synthetic region generator: province code 99 is not assigned in GB/T 2260, so every code and name here is fictional. " +
			"Stored, it takes the place of the shipped GB/T 2260 table (Beijing) for this region.",
		"concept": []any{node(rg.Province, []any{node(rg.City, counties)})},
	}
}

// orgCode is a fictional 医疗机构执业许可证登记号-like code: the county code, a
// facility number and a fixed suffix.
func orgCode(i int) string { return "PDY" + pad(i+1, 5) + "-" + countyCode + "-A" }

var qualifications = map[byte]string{'1': "执业医师", '2': "注册护士", '3': "执业药师", '4': "卫生技术人员", '5': "乡村医生"}

var roleCodes = map[string][2]string{
	"doctor": {"doctor", "Doctor"}, "nurse": {"nurse", "Nurse"}, "pharmacist": {"pharmacist", "Pharmacist"},
}

func (p *Practitioner) resource() fhir.Resource {
	family, given := splitName(p.Name)
	return fhir.Resource{"resourceType": "Practitioner", "id": p.ID, "active": true,
		"identifier": []any{map[string]any{"system": fhir.SystemLicense, "value": p.LicenseNo}},
		"name":       []any{map[string]any{"use": "official", "text": p.Name, "family": family, "given": []any{given}}},
		"gender":     p.Sex, "birthDate": p.BirthDate.Format(time.DateOnly),
		"qualification": []any{map[string]any{
			"identifier": []any{map[string]any{"system": fhir.SystemLicense, "value": p.LicenseNo}},
			"code":       map[string]any{"text": qualifications[p.LicenseNo[0]]},
		}},
	}
}

func (p *Practitioner) role() fhir.Resource {
	res := fhir.Resource{"resourceType": "PractitionerRole", "id": "role-" + p.ID[len("prac-"):], "active": true,
		"practitioner": refDisplay("Practitioner", p.ID, p.Name),
		"organization": refDisplay("Organization", p.Facility.ID, p.Facility.Name),
		"location":     []any{ref("Location", locationID(p.Facility))},
	}
	if c, ok := roleCodes[p.Role]; ok {
		res["code"] = []any{concept("http://terminology.hl7.org/CodeSystem/practitioner-role", c[0], c[1])}
	} else {
		res["code"] = []any{map[string]any{"text": "医技人员"}}
	}
	if d := p.Department; d != nil {
		res["specialty"] = []any{concept(fhir.SystemDepartment, d.Code, d.Name)}
		res["healthcareService"] = []any{ref("HealthcareService", d.ID)}
	}
	return res
}
