package earlywarning

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// SourceModel generates the laboratory, pharmacy and school counts that go
// with a region's diagnosed visits, for evaluating the warnings on a
// synthetic region whose care data hold only the visits. Every illness
// episode (a patient's visits of one syndrome within 14 days) has an onset
// before its first visit; around it, the ill person and others who never
// see a doctor buy medicine and stay off school, and some visits are
// tested. Each source also has counts from causes the platform never
// sees. The figures are modelling assumptions (docs/surveillance.md), not
// measurements: they set how much earlier and how much noisier each source
// is than the diagnoses.
type SourceModel struct {
	// OnsetDelay[d] is the probability that the first visit is d days
	// after onset.
	OnsetDelay []float64

	// PathogenTested of the visits with a notifiable diagnosis that has a
	// pathogen test (influenza, norovirus, shigella, enterovirus) are
	// tested; PathogenSensitivity of those are positive. OtherTested of
	// the other syndromic visits are tested, OtherPositive of those are
	// positive. LabDelay[d]: the result is reported d days after the visit.
	PathogenTested, PathogenSensitivity float64
	OtherTested, OtherPositive          float64
	LabDelay                            []float64

	// Undiagnosed is the mean number of people ill with the same syndrome
	// who see no doctor, per diagnosed episode, of the same age group and
	// township, falling ill up to 3 days around it (the iceberg under the
	// diagnoses; Poisson).
	Undiagnosed float64
	// BuyDiagnosed of the diagnosed buy fever/cold or antidiarrhoeal
	// medicine at a pharmacy between onset and visit; BuyUndiagnosed of
	// the undiagnosed buy it in their first days of illness.
	BuyDiagnosed, BuyUndiagnosed float64
	// PharmacyBackground purchases per 1,000 residents a day and syndrome
	// are not for an illness of the syndrome (stock, other complaints).
	PharmacyBackground float64

	// AbsentDiagnosed, AbsentUndiagnosed: shares of ill pupils (aged 3–15)
	// kept off school from onset; AbsentDays[d-1] the probability of d days.
	AbsentDiagnosed, AbsentUndiagnosed float64
	AbsentDays                         []float64
	// SchoolBackground absences with the syndrome's symptoms per 1,000
	// pupils a school day come from illnesses the platform never sees.
	SchoolBackground float64
}

// DefaultSourceModel returns the model's default assumptions: onset 0–3
// days before the visit (mostly 1); half of the notifiable pathogen
// diagnoses tested at 85 % sensitivity, 5 % of other syndromic visits
// tested and 10 % of those positive, results 1–2 days after the visit; one
// undiagnosed ill person per diagnosed episode; 30 % of the diagnosed and
// half of the undiagnosed buy medicine; 0.3 unrelated purchases per 1,000
// residents a day; 90 % of ill pupils and 50 % of undiagnosed ill pupils
// absent 1–3 days; 1 background absence per 1,000 pupils a school day.
func DefaultSourceModel() SourceModel {
	return SourceModel{
		OnsetDelay:     []float64{0.3, 0.4, 0.2, 0.1},
		PathogenTested: 0.5, PathogenSensitivity: 0.85, OtherTested: 0.05, OtherPositive: 0.1,
		LabDelay:    []float64{0, 0.6, 0.4},
		Undiagnosed: 1, BuyDiagnosed: 0.3, BuyUndiagnosed: 0.5, PharmacyBackground: 0.3,
		AbsentDiagnosed: 0.9, AbsentUndiagnosed: 0.5, AbsentDays: []float64{0.3, 0.4, 0.3},
		SchoolBackground: 1,
	}
}

// pathogenTested are the diagnoses with a routine pathogen test:
// influenza antigen, norovirus nucleic acid, stool culture for shigella,
// enterovirus (EV71/CA16) nucleic acid.
var pathogenTested = map[string]bool{"J10.100": true, "A08.101": true, "A03.900": true, "B08.401": true}

// pharmacySyndromes are the syndromes with medicines sold over the
// counter for them; hand, foot and mouth disease has none of its own.
var pharmacySyndromes = []Syndrome{ILI, Diarrhoea}

// Simulate adds the Lab, Pharmacy and School counts of the visits (in time
// order, as Register.Visits gives them) and of the background to c;
// deterministic for a seed.
func (m SourceModel) Simulate(c *Counts, visits []Visit, pops map[string]Population, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 0xea51))
	for _, area := range sortedAreas(pops) {
		for _, syn := range Syndromes {
			c.Ensure(Key{Lab, syn, area})
			c.Ensure(Key{School, syn, area})
		}
		for _, syn := range pharmacySyndromes {
			c.Ensure(Key{Pharmacy, syn, area})
		}
	}
	lastEpisode := map[episodeKey]time.Time{}
	for _, v := range visits {
		visitDay, ok := c.DayIndex(v.Time)
		if !ok {
			continue
		}
		m.labResult(c, r, v, visitDay)
		ek := episodeKey{v.Patient, v.Syndrome}
		if last, seen := lastEpisode[ek]; seen && v.Time.Sub(last) < 14*24*time.Hour {
			continue // a return or referral visit of the same episode
		}
		lastEpisode[ek] = v.Time
		onset := visitDay - draw(r, m.OnsetDelay)
		pupil := v.Age >= 3 && v.Age <= 15
		if r.Float64() < m.BuyDiagnosed {
			m.buy(c, v, onset+r.IntN(visitDay-onset+1))
		}
		if pupil && r.Float64() < m.AbsentDiagnosed {
			m.absent(c, r, v, onset)
		}
		for range poisson(r, m.Undiagnosed) {
			their := onset + r.IntN(7) - 3
			if r.Float64() < m.BuyUndiagnosed {
				m.buy(c, v, their+r.IntN(2))
			}
			if pupil && r.Float64() < m.AbsentUndiagnosed {
				m.absent(c, r, v, their)
			}
		}
	}
	for _, area := range sortedAreas(pops) {
		p := pops[area]
		for i := range c.Days {
			for _, syn := range pharmacySyndromes {
				c.Add(Key{Pharmacy, syn, area}, i, float64(poisson(r, m.PharmacyBackground*float64(p.Residents)/1000)))
			}
			if SchoolDay(c.Day(i)) {
				for _, syn := range Syndromes {
					c.Add(Key{School, syn, area}, i, float64(poisson(r, m.SchoolBackground*float64(p.Pupils)/1000)))
				}
			}
		}
	}
}

type episodeKey struct {
	patient  string
	syndrome Syndrome
}

func (m SourceModel) labResult(c *Counts, r *rand.Rand, v Visit, visitDay int) {
	tested, positive := m.OtherTested, m.OtherPositive
	if pathogenTested[v.Code] {
		tested, positive = m.PathogenTested, m.PathogenSensitivity
	}
	if r.Float64() < tested && r.Float64() < positive {
		c.Add(Key{Lab, v.Syndrome, v.Area}, visitDay+draw(r, m.LabDelay), 1)
	}
}

func (m SourceModel) buy(c *Counts, v Visit, day int) {
	if v.Syndrome == ILI || v.Syndrome == Diarrhoea {
		c.Add(Key{Pharmacy, v.Syndrome, v.Area}, day, 1)
	}
}

// absent counts an ill pupil off school on the school days from onset.
func (m SourceModel) absent(c *Counts, r *rand.Rand, v Visit, onset int) {
	days := 1 + draw(r, m.AbsentDays)
	for i := onset; i < onset+days; i++ {
		if i >= 0 && i < c.Days && SchoolDay(c.Day(i)) {
			c.Add(Key{School, v.Syndrome, v.Area}, i, 1)
		}
	}
}

// SchoolDay tells whether schools are open on day: Monday to Friday outside
// the New Year, winter (around the Spring Festival: 18 January – 22
// February), Labour Day (1–5 May), summer (10 July – 31 August) and
// National Day (1–7 October) holidays — a fixed approximation of the
// calendar, whose winter break moves with the lunar new year.
func SchoolDay(day time.Time) bool {
	if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	md := int(day.Month())*100 + day.Day()
	switch {
	case md == 101, md >= 118 && md <= 222, md >= 501 && md <= 505, md >= 710 && md <= 831, md >= 1001 && md <= 1007:
		return false
	}
	return true
}

// draw returns d with probability p[d].
func draw(r *rand.Rand, p []float64) int {
	x := r.Float64()
	for d, q := range p {
		if x < q {
			return d
		}
		x -= q
	}
	return len(p) - 1
}

// poisson draws a Poisson count by inversion (the means here are small).
func poisson(r *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	k, p := 0, math.Exp(-mean)
	u, cdf := r.Float64(), p
	for u > cdf && p > 0 {
		k++
		p *= mean / float64(k)
		cdf += p
	}
	return k
}

func sortedAreas(pops map[string]Population) []string {
	return slices.Sorted(maps.Keys(pops))
}
