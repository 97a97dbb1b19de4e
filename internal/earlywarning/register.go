package earlywarning

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

// Visit is one diagnosis of a syndrome: a Condition whose ICD-10 code
// belongs to a syndrome, placed in its patient's home township.
type Visit struct {
	Patient  string
	Code     string
	Syndrome Syndrome
	Area     string
	Time     time.Time // onset as recorded (the visit), else the recorded date
	Age      int       // whole years at Time
}

type resident struct {
	area  string
	birth time.Time
}

// Register collects what the sources need from FHIR resources — Patients
// (home township, birth date) and Conditions of syndromic codes — in any
// order, as a nightly scan of the store or an import stream gives them.
type Register struct {
	residents map[string]resident
	pending   []Visit // placed once every patient is known
}

// NewRegister makes an empty register.
func NewRegister() *Register { return &Register{residents: map[string]resident{}} }

// Add reads one resource; resources other than Patient and Condition,
// and Conditions of other codes, are ignored.
func (r *Register) Add(res fhir.Resource) error {
	switch res.Type() {
	case "Patient":
		area := homeTownship(res)
		if area == "" {
			return nil
		}
		var birth time.Time
		if b, _ := res["birthDate"].(string); b != "" {
			t, err := time.ParseInLocation(time.DateOnly, b[:min(len(b), 10)], cst)
			if err == nil {
				birth = t
			}
		}
		r.residents[res.ID()] = resident{area: area, birth: birth}
	case "Condition":
		v, ok, err := syndromicVisit(res)
		if err != nil || !ok {
			return err
		}
		r.pending = append(r.pending, v)
	}
	return nil
}

// cst is China Standard Time: days are counted in it.
var cst = time.FixedZone("CST", 8*3600)

// ParseDay reads a YYYY-MM-DD day as midnight China Standard Time, the
// days the series count.
func ParseDay(s string) (time.Time, error) { return time.ParseInLocation(time.DateOnly, s, cst) }

// homeTownship is the township (9-digit division code) of the patient's
// first address that carries a GB/T 2260 division.
func homeTownship(p fhir.Resource) string {
	addrs, _ := p["address"].([]any)
	for _, a := range addrs {
		am, _ := a.(map[string]any)
		exts, _ := am["extension"].([]any)
		for _, e := range exts {
			em, _ := e.(map[string]any)
			if em["url"] != fhir.ExtDivision {
				continue
			}
			vc, _ := em["valueCoding"].(map[string]any)
			if code, _ := vc["code"].(string); len(code) >= 9 {
				return code[:9]
			}
		}
	}
	return ""
}

// syndromicVisit reads a Condition coded in ICD-10 with a syndrome's code;
// refuted and entered-in-error diagnoses are not visits of the syndrome.
func syndromicVisit(c fhir.Resource) (Visit, bool, error) {
	if vs, _ := c["verificationStatus"].(map[string]any); vs != nil {
		for _, cd := range codings(vs) {
			if cd["code"] == "refuted" || cd["code"] == "entered-in-error" {
				return Visit{}, false, nil
			}
		}
	}
	code, _ := c["code"].(map[string]any)
	var v Visit
	for _, cd := range codings(code) {
		if cd["system"] != fhir.SystemICD10 {
			continue
		}
		s, _ := cd["code"].(string)
		if syn, ok := SyndromeOf(s); ok {
			v.Code, v.Syndrome = s, syn
			break
		}
	}
	if v.Code == "" {
		return Visit{}, false, nil
	}
	subj, _ := c["subject"].(map[string]any)
	ref, _ := subj["reference"].(string)
	id, ok := strings.CutPrefix(ref, "Patient/")
	if !ok {
		return Visit{}, false, nil
	}
	v.Patient = id
	when, _ := c["onsetDateTime"].(string)
	if when == "" {
		when, _ = c["recordedDate"].(string)
	}
	t, err := parseDay(when)
	if err != nil {
		return Visit{}, false, fmt.Errorf("earlywarning: Condition/%s: %w", c.ID(), err)
	}
	v.Time = t
	return v, true, nil
}

func codings(concept map[string]any) []map[string]any {
	cs, _ := concept["coding"].([]any)
	out := make([]map[string]any, 0, len(cs))
	for _, c := range cs {
		if m, ok := c.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// parseDay reads a FHIR date or dateTime.
func parseDay(s string) (time.Time, error) {
	switch {
	case s == "":
		return time.Time{}, fmt.Errorf("no onset or recorded date")
	case len(s) == 10:
		return ParseDay(s)
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("date %q: %w", s, err)
	}
	return t.In(cst), nil
}

// Visits returns the syndromic visits of patients with a home township,
// in time order (then by patient), and how many were left out for want
// of one.
func (r *Register) Visits() ([]Visit, int) {
	out := make([]Visit, 0, len(r.pending))
	unplaced := 0
	for _, v := range r.pending {
		res, ok := r.residents[v.Patient]
		if !ok {
			unplaced++
			continue
		}
		v.Area = res.area
		if !res.birth.IsZero() {
			v.Age = age(res.birth, v.Time)
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b Visit) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Patient, b.Patient)
	})
	return out, unplaced
}

// Population is an area's residents by what the sources need.
type Population struct {
	Residents int
	Pupils    int // aged 3–15 at the given day: 托幼机构 and compulsory schooling
}

// Populations returns each township's residents and pupils on day.
func (r *Register) Populations(day time.Time) map[string]Population {
	out := map[string]Population{}
	for _, res := range r.residents {
		p := out[res.area]
		p.Residents++
		if a := age(res.birth, day); !res.birth.IsZero() && a >= 3 && a <= 15 {
			p.Pupils++
		}
		out[res.area] = p
	}
	return out
}

func age(birth, t time.Time) int {
	a := t.Year() - birth.Year()
	if t.Month() < birth.Month() || t.Month() == birth.Month() && t.Day() < birth.Day() {
		a--
	}
	return a
}

// CountDiagnoses adds the visits to the Diagnosis source, one per visit on
// its day, and makes every area's series of every syndrome exist.
func CountDiagnoses(c *Counts, visits []Visit, areas []string) {
	for _, a := range areas {
		for _, s := range Syndromes {
			c.Ensure(Key{Diagnosis, s, a})
		}
	}
	for _, v := range visits {
		if i, ok := c.DayIndex(v.Time); ok {
			c.Add(Key{Diagnosis, v.Syndrome, v.Area}, i, 1)
		}
	}
}
