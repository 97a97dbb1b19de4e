package synth

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

// Plan holds the region-level decisions made once per run: the drug catalogue,
// lab panels, service items, per-facility staff lists, and the scenario plans
// (outbreaks, shortages, price anomalies). Households read it concurrently and
// never write to it.
//
// Codings, references and other nested values it precomputes are shared by
// every resource that uses them: they are read-only.
type Plan struct {
	rg    *Region
	cfg   Config
	payer map[string]any // reference to the insurer, the county 医疗保障局

	drugs     []*drug
	drugByKey map[string]*drug
	items     map[string]*item
	panels    map[string]*panel
	imaging   map[string]*imagingKind
	schedule  []dose
	vaccines  map[string]any // vaccine code → CodeableConcept
	conds     *conditions
	notifiers []notifiable
	fac       map[string]*facInfo // by Organization id
	county    []*facInfo          // county-level hospitals, most used first
	distrib   fhir.Resource       // the pharmaceutical distributor of procurement

	vocab

	outbreaks []*outbreakPlan
	shortages []*shortagePlan
	anomalies []*anomalyPlan
}

// vocab holds the fixed codings care uses, built once.
type vocab struct {
	amb, imp                                     map[string]any // Encounter.class
	attender, home, referralCat                  map[string]any
	confirmed, active, resolved                  map[string]any
	problemList, encounterDiag                   map[string]any
	residentIns, employeeIns, self               map[string]any
	contractType, fdRole, villageRole, nurseRole map[string]any
	labCat, vitalCat, labSection, radSection     map[string]any
	interp                                       map[byte]any // H, L, N
	bpPanel, systolic, diastolic, followUpType   map[string]any
	professional, institutional, normal          map[string]any
}

func newVocab() vocab {
	const tho = "http://terminology.hl7.org/CodeSystem/"
	return vocab{
		amb:           coding(tho+"v3-ActCode", "AMB", "ambulatory"),
		imp:           coding(tho+"v3-ActCode", "IMP", "inpatient encounter"),
		attender:      concept(tho+"v3-ParticipationType", "ATND", "attender"),
		home:          concept(tho+"discharge-disposition", "home", "Home"),
		referralCat:   concept("http://snomed.info/sct", "3457005", "Patient referral"),
		confirmed:     concept(tho+"condition-ver-status", "confirmed", "Confirmed"),
		active:        concept(tho+"condition-clinical", "active", "Active"),
		resolved:      concept(tho+"condition-clinical", "resolved", "Resolved"),
		problemList:   concept(tho+"condition-category", "problem-list-item", "Problem List Item"),
		encounterDiag: concept(tho+"condition-category", "encounter-diagnosis", "Encounter Diagnosis"),
		residentIns:   concept(fhir.SystemInsurance, "resident", "城乡居民基本医疗保险"),
		employeeIns:   concept(fhir.SystemInsurance, "employee", "职工基本医疗保险"),
		self:          concept(tho+"subscriber-relationship", "self", "Self"),
		contractType:  map[string]any{"text": "家庭医生签约服务"},
		fdRole:        map[string]any{"text": "家庭医生"},
		villageRole:   map[string]any{"text": "乡村医生"},
		nurseRole:     map[string]any{"text": "护士"},
		labCat:        concept(tho+"observation-category", "laboratory", "Laboratory"),
		vitalCat:      concept(tho+"observation-category", "vital-signs", "Vital Signs"),
		labSection:    concept(tho+"v2-0074", "LAB", "Laboratory"),
		radSection:    concept(tho+"v2-0074", "RAD", "Radiology"),
		interp: map[byte]any{
			'H': concept(tho+"v3-ObservationInterpretation", "H", "偏高"),
			'L': concept(tho+"v3-ObservationInterpretation", "L", "偏低"),
			'N': concept(tho+"v3-ObservationInterpretation", "N", "正常"),
		},
		bpPanel:       concept("http://loinc.org", "85354-9", "血压"),
		systolic:      concept("http://loinc.org", "8480-6", "收缩压"),
		diastolic:     concept("http://loinc.org", "8462-4", "舒张压"),
		followUpType:  map[string]any{"text": "慢性病患者随访（基本公共卫生服务）"},
		professional:  concept(tho+"claim-type", "professional", "Professional"),
		institutional: concept(tho+"claim-type", "institutional", "Institutional"),
		normal:        concept(tho+"processpriority", "normal", "Normal"),
	}
}

// facInfo is what care needs of a facility, precomputed.
type facInfo struct {
	f           *Facility
	ref, loc    map[string]any
	tier        int // 0 village/community clinic, 1 township centre, 2 county hospital
	doctors     []staff
	pharmacists []staff
	nurses      []staff
}

// staff is a practitioner with a precomputed reference.
type staff struct {
	p   *Practitioner
	ref map[string]any
}

// outbreakPlan is a planned cluster: extra cases among the eligible residents of
// the townships in the window, at an attack rate over the whole window.
type outbreakPlan struct {
	Outbreak
	cond       *condition
	townships  map[string]bool
	start, end time.Time // end is the day after the last day
	attack     float64
	minAge     int
	maxAge     int // exclusive
	expected   int // planned number of extra cases, from the region's size
}

// shortagePlan is a drug missing at some facilities for some weeks.
type shortagePlan struct {
	drug       *drug
	facilities map[string]bool
	start, end time.Time
}

// anomalyPlan is a facility procuring a drug above the regional price.
type anomalyPlan struct {
	drug       *drug
	facility   string
	factor     float64
	start, end time.Time
}

// withinPeriod tells whether t falls before the end of the care period.
func (p *Plan) withinPeriod(t time.Time) bool { return t.Before(p.cfg.End()) }

// latest is the later of two times.
func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func newPlan(rg *Region, cfg Config) *Plan {
	p := &Plan{rg: rg, cfg: cfg, payer: ref("Organization", PayerID)}
	p.vocab = newVocab()
	p.drugs = drugCatalogue()
	p.drugByKey = make(map[string]*drug, len(p.drugs))
	for i, d := range p.drugs {
		d.finish(i)
		p.drugByKey[d.key] = d
	}
	p.items = serviceItems()
	p.panels = labPanels()
	p.imaging = imagingKinds()
	p.schedule = schedule()
	p.vaccines = map[string]any{}
	for _, d := range p.schedule {
		p.vaccines[d.code] = concept(fhir.SystemVaccine, d.code, d.name)
	}
	p.conds = newConditions(p)
	p.notifiers = notifiables(p.conds)
	p.fac = make(map[string]*facInfo, len(rg.Facilities))
	for _, f := range rg.Facilities {
		fi := &facInfo{f: f, ref: refDisplay("Organization", f.ID, f.Name),
			loc: refDisplay("Location", locationID(f), f.Name)}
		switch f.Kind {
		case CountyHospital, TCMHospital, MCHHospital:
			fi.tier = 2
		case TownshipCentre:
			fi.tier = 1
		}
		for _, pr := range f.Practitioners {
			s := staff{p: pr, ref: refDisplay("Practitioner", pr.ID, pr.Name)}
			switch pr.Role {
			case "doctor":
				fi.doctors = append(fi.doctors, s)
			case "pharmacist":
				fi.pharmacists = append(fi.pharmacists, s)
			case "nurse":
				fi.nurses = append(fi.nurses, s)
			}
		}
		p.fac[f.ID] = fi
	}
	for _, k := range []FacilityKind{CountyHospital, TCMHospital, MCHHospital} {
		for _, f := range rg.FacilitiesOf(k) {
			p.county = append(p.county, p.fac[f.ID])
		}
	}
	p.distrib = fhir.Resource{
		"resourceType": "Organization",
		"id":           distributorID,
		"active":       true,
		"identifier":   []any{rg.usccIdentifier(distributorID)},
		"type": []any{concept("http://terminology.hl7.org/CodeSystem/organization-type", "bus",
			"Non-Healthcare Business or Corporation")},
		"name": countyName(rg) + "医药配送有限公司",
	}
	sc := cfg.Scenarios
	if sc.Outbreaks {
		p.planOutbreaks()
	}
	if sc.Shortages {
		p.planShortages()
	}
	if sc.PriceAnomalies {
		p.planAnomalies()
	}
	return p
}

func countyName(rg *Region) string {
	if rg.County != nil {
		return rg.County.Name
	}
	return ""
}

// procuring lists the facilities that buy drugs from the distributor: county
// hospitals and township/community centres. Village clinics draw on their
// township centre's pharmacy (乡村一体化管理).
func (p *Plan) procuring() []*facInfo {
	var out []*facInfo
	out = append(out, p.county...)
	for _, k := range []FacilityKind{TownshipCentre, CommunityCentre} {
		for _, f := range p.rg.FacilitiesOf(k) {
			out = append(out, p.fac[f.ID])
		}
	}
	return out
}

// periodDays is the length of the care period in days.
func (p *Plan) periodDays() int { return int(p.cfg.End().Sub(p.cfg.Start).Hours() / 24) }

// window picks a run of weeks starting on a Monday in one of the given calendar
// months of the first year of the period (any month when none fits).
func (p *Plan) window(r *rand.Rand, months []time.Month, weeks int) (time.Time, time.Time) {
	var starts []time.Time
	last := p.cfg.Start.AddDate(1, 0, 0).AddDate(0, 0, -7*weeks)
	for d := p.cfg.Start; !d.After(last); d = d.AddDate(0, 0, 1) {
		if d.Weekday() != time.Monday {
			continue
		}
		for _, m := range months {
			if d.Month() == m {
				starts = append(starts, d)
			}
		}
	}
	if len(starts) == 0 {
		d := p.cfg.Start.AddDate(0, 0, r.IntN(max(1, p.periodDays()-7*weeks)))
		return d, d.AddDate(0, 0, 7*weeks)
	}
	s := starts[r.IntN(len(starts))]
	return s, s.AddDate(0, 0, 7*weeks)
}

// planOutbreaks chooses two clusters of different diseases, each in one or two
// townships over two to four weeks of the disease's season.
func (p *Plan) planOutbreaks() {
	r := rng(p.cfg.Seed, "plan/outbreaks", 0)
	kinds := outbreakKinds()
	r.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	perTownship := float64(p.cfg.Residents) / float64(max(1, len(p.rg.Townships)))
	for i, k := range kinds[:2] {
		if len(p.rg.Townships) == 0 {
			return
		}
		ob := &outbreakPlan{cond: p.conds.byCode[k.code], townships: map[string]bool{},
			attack: k.attack, minAge: k.minAge, maxAge: k.maxAge}
		n := 1 + r.IntN(2)
		var names string
		for _, j := range r.Perm(len(p.rg.Townships))[:min(n, len(p.rg.Townships))] {
			t := p.rg.Townships[j]
			ob.townships[t.Code] = true
			ob.Townships = append(ob.Townships, t.Code)
			names += t.Name
		}
		ob.start, ob.end = p.window(r, k.months, 2+r.IntN(3))
		ob.ID = "outbreak-" + strconv.Itoa(i+1)
		ob.Disease = ob.cond.code
		ob.Name = names + ob.cond.display + "聚集性疫情"
		ob.Start = ob.start.Format(time.DateOnly)
		ob.End = ob.end.AddDate(0, 0, -1).Format(time.DateOnly)
		ob.expected = int(math.Round(perTownship * float64(len(ob.Townships)) * k.share * k.attack))
		p.outbreaks = append(p.outbreaks, ob)
	}
}

// planShortages chooses one to three commonly prescribed drugs, each missing at
// one or two township centres (and so at their village clinics) or a county
// hospital for four to ten weeks.
func (p *Plan) planShortages() {
	r := rng(p.cfg.Seed, "plan/shortages", 0)
	keys := []string{"amlodipine", "metformin", "amoxicillin", "omeprazole", "irbesartan", "montmorillonite"}
	r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	centres := p.rg.FacilitiesOf(TownshipCentre)
	for _, k := range keys[:1+r.IntN(3)] {
		sp := &shortagePlan{drug: p.drugByKey[k], facilities: map[string]bool{}}
		if len(centres) > 0 && r.IntN(4) > 0 {
			for _, j := range r.Perm(len(centres))[:min(1+r.IntN(2), len(centres))] {
				c := centres[j]
				sp.facilities[c.ID] = true
				for _, v := range p.rg.Villages {
					if v.Parent == c.Division {
						if cl := p.rg.ClinicOf(v); cl != nil {
							sp.facilities[cl.ID] = true
						}
					}
				}
			}
		} else if len(p.county) > 0 {
			sp.facilities[p.county[0].f.ID] = true
		}
		weeks := 4 + r.IntN(7)
		d := p.cfg.Start.AddDate(0, 0, r.IntN(max(1, p.periodDays()-7*weeks)))
		sp.start, sp.end = d, d.AddDate(0, 0, 7*weeks)
		p.shortages = append(p.shortages, sp)
	}
}

// planAnomalies chooses one or two procuring facilities that buy one drug at
// 1.5–3× the regional price for two to four months.
func (p *Plan) planAnomalies() {
	r := rng(p.cfg.Seed, "plan/anomalies", 0)
	buyers := p.procuring()
	if len(buyers) == 0 {
		return
	}
	for range 1 + r.IntN(2) {
		months := 2 + r.IntN(3)
		first := r.IntN(max(1, 12*p.cfg.Years-months))
		start := p.cfg.Start.AddDate(0, first, 0)
		p.anomalies = append(p.anomalies, &anomalyPlan{
			drug:     p.drugs[r.IntN(len(p.drugs))],
			facility: buyers[r.IntN(len(buyers))].f.ID,
			factor:   1.5 + 1.5*r.Float64(),
			start:    start, end: start.AddDate(0, months, 0),
		})
	}
}

// shortageAt reports whether d is unavailable at facility f on day t.
func (p *Plan) shortageAt(d *drug, f string, t time.Time) bool {
	for _, s := range p.shortages {
		if s.drug == d && s.facilities[f] && !t.Before(s.start) && t.Before(s.end) {
			return true
		}
	}
	return false
}

// anomalyAt is the price anomaly for d at facility f on day t, or nil.
func (p *Plan) anomalyAt(d *drug, f string, t time.Time) *anomalyPlan {
	for _, a := range p.anomalies {
		if a.drug == d && a.facility == f && !t.Before(a.start) && t.Before(a.end) {
			return a
		}
	}
	return nil
}

// price is what facility f charges for one unit of d on day t: under the zero
// mark-up policy (药品零差率) the procurement price, anomalous or not.
func (p *Plan) price(d *drug, f string, t time.Time) float64 {
	if a := p.anomalyAt(d, f, t); a != nil {
		return round2(d.price * a.factor)
	}
	return d.price
}

// delivery is one monthly procurement of drug number i by facility fi in month
// m of the period, or ok false when a shortage stops it.
func (p *Plan) delivery(fi *facInfo, i, m int) (id string, t time.Time, qty, price float64, ok bool) {
	d := p.drugs[i]
	r := rng(p.cfg.Seed, "plan/procurement/"+fi.f.ID, uint64(i*1200+m))
	t = p.cfg.Start.AddDate(0, m, 2+r.IntN(5)).Add(time.Duration(9+r.IntN(8)) * time.Hour)
	if p.shortageAt(d, fi.f.ID, t) {
		return "", t, 0, 0, false
	}
	volume := 300.0
	if fi.tier == 2 {
		volume = 2000
	}
	qty = math.Round(volume * (0.7 + 0.6*r.Float64()))
	price = round2(d.price * (0.97 + 0.06*r.Float64()))
	if a := p.anomalyAt(d, fi.f.ID, t); a != nil {
		price = round2(d.price * a.factor)
	}
	return "sd-" + fi.f.ID + "-" + strconv.Itoa(i) + "-" + t.Format("200601"), t, qty, price, true
}

// resources returns the region-level resources: the distributor, the drug
// catalogue, and monthly procurement (SupplyDelivery) of every drug by every
// procuring facility, carrying the unit price. A facility short of a drug
// receives no delivery of it in the months the shortage covers.
func (p *Plan) resources() []fhir.Resource {
	out := []fhir.Resource{p.distrib}
	for _, d := range p.drugs {
		out = append(out, d.medication())
	}
	supplier := ref("Organization", p.distrib.ID())
	typ := concept("http://terminology.hl7.org/CodeSystem/supply-item-type", "medication", "Medication")
	for _, fi := range p.procuring() {
		for i, d := range p.drugs {
			for m := range 12 * p.cfg.Years {
				id, t, qty, price, ok := p.delivery(fi, i, m)
				if !ok {
					continue
				}
				out = append(out, fhir.Resource{
					"resourceType": "SupplyDelivery",
					"id":           id,
					"status":       "completed",
					"type":         typ,
					"suppliedItem": map[string]any{
						"quantity":      map[string]any{"value": qty, "unit": d.unit},
						"itemReference": d.ref,
					},
					"occurrenceDateTime": dateTime(t),
					"supplier":           supplier,
					"destination":        fi.loc,
					"extension": []any{map[string]any{
						"url":        fhir.NS + "StructureDefinition/unit-price",
						"valueMoney": money(price),
					}},
				})
			}
		}
	}
	return out
}

// truth returns the planned scenarios; outbreak cases are added by households.
func (p *Plan) truth() *Truth {
	t := &Truth{Outbreaks: []Outbreak{}, Shortages: []Shortage{}, PriceAnomalies: []PriceAnomaly{}}
	for _, ob := range p.outbreaks {
		o := ob.Outbreak
		o.Cases = []string{}
		t.Outbreaks = append(t.Outbreaks, o)
	}
	for _, s := range p.shortages {
		sh := Shortage{Drug: s.drug.code, Name: s.drug.name,
			Start: s.start.Format(time.DateOnly), End: s.end.AddDate(0, 0, -1).Format(time.DateOnly)}
		for _, f := range p.rg.Facilities {
			if s.facilities[f.ID] {
				sh.Facilities = append(sh.Facilities, f.ID)
			}
		}
		t.Shortages = append(t.Shortages, sh)
	}
	for _, a := range p.anomalies {
		ids := []string{}
		for _, fi := range p.procuring() {
			if fi.f.ID != a.facility {
				continue
			}
			for m := range 12 * p.cfg.Years {
				if id, t, _, _, ok := p.delivery(fi, a.drug.index, m); ok && p.anomalyAt(a.drug, a.facility, t) == a {
					ids = append(ids, id)
				}
			}
		}
		t.PriceAnomalies = append(t.PriceAnomalies, PriceAnomaly{
			Drug: a.drug.code, Name: a.drug.name, Facility: a.facility,
			Normal: a.drug.price, Anomalous: round2(a.drug.price * a.factor),
			Start: a.start.Format(time.DateOnly), End: a.end.AddDate(0, 0, -1).Format(time.DateOnly),
			Resources: ids,
		})
	}
	return t
}
