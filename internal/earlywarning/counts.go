// Package earlywarning raises multi-source early warnings of outbreaks
// (智慧化预警多点触发): each source — syndromic diagnoses, laboratory
// positives, pharmacy sales of fever and diarrhoea medicines, school
// absenteeism — is a count series per syndrome, township and day; each
// series is scanned by a detection algorithm of package surveillance and
// raises signals on its own; an early-warning event fires in a township
// when a configured rule holds, listing the signals that made it
// (docs/surveillance.md, "Multi-source early warning").
package earlywarning

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// Source is where a count comes from.
type Source string

// The sources of the signal model.
const (
	Diagnosis Source = "diagnosis" // 门急诊症候群诊断: visits with a diagnosis of the syndrome
	Lab       Source = "lab"       // 病原学检测阳性: positive pathogen tests, by report day
	Pharmacy  Source = "pharmacy"  // 药店监测: sales of fever/cold or antidiarrhoeal medicines
	School    Source = "school"    // 因病缺课: pupils absent with the syndrome, school days only
)

// Sources lists the sources in a fixed order.
var Sources = []Source{Diagnosis, Lab, Pharmacy, School}

// Syndrome is a group of illnesses the sources report together.
type Syndrome string

// The syndromes monitored.
const (
	ILI       Syndrome = "ili"       // 流感样病例: fever with cough or sore throat
	Diarrhoea Syndrome = "diarrhoea" // 腹泻
	HFMD      Syndrome = "hfmd"      // 发热伴皮疹 (手足口病)
)

// Syndromes lists the syndromes in a fixed order.
var Syndromes = []Syndrome{ILI, Diarrhoea, HFMD}

// syndromeCodes maps ICD-10 国家临床版 codes to their syndrome: the acute
// respiratory infections with fever, the infectious and presumed
// infectious diarrhoeas, and hand, foot and mouth disease.
var syndromeCodes = map[string]Syndrome{
	"J10.100": ILI, "J11.100": ILI, "J06.900": ILI, "J02.900": ILI, "J03.900": ILI, "R50.900": ILI,
	"A09.900": Diarrhoea, "A08.101": Diarrhoea, "A03.900": Diarrhoea, "K52.900": Diarrhoea, "K59.100": Diarrhoea,
	"B08.401": HFMD,
}

// SyndromeOf returns the syndrome an ICD-10 code belongs to.
func SyndromeOf(icd string) (Syndrome, bool) {
	s, ok := syndromeCodes[icd]
	return s, ok
}

// Key names one count series.
type Key struct {
	Source   Source
	Syndrome Syndrome
	Area     string // township (乡镇/街道) division code
}

func (k Key) String() string { return fmt.Sprintf("%s/%s/%s", k.Source, k.Syndrome, k.Area) }

func compareKeys(a, b Key) int {
	return cmp.Or(cmp.Compare(a.Area, b.Area), cmp.Compare(a.Syndrome, b.Syndrome), cmp.Compare(a.Source, b.Source))
}

// Counts holds daily count series from Start for Days days.
type Counts struct {
	Start  time.Time // midnight of the first day
	Days   int
	series map[Key][]float64
}

// NewCounts makes empty series from the day of start for days days.
func NewCounts(start time.Time, days int) *Counts {
	y, m, d := start.Date()
	return &Counts{Start: time.Date(y, m, d, 0, 0, 0, 0, start.Location()), Days: days, series: map[Key][]float64{}}
}

// DayIndex returns the 0-based day of t, and false outside the series.
func (c *Counts) DayIndex(t time.Time) (int, bool) {
	y, m, d := t.In(c.Start.Location()).Date()
	day := time.Date(y, m, d, 0, 0, 0, 0, c.Start.Location())
	i := int(math.Round(day.Sub(c.Start).Hours() / 24))
	return i, i >= 0 && i < c.Days
}

// Day returns the date of day i.
func (c *Counts) Day(i int) time.Time { return c.Start.AddDate(0, 0, i) }

// Add adds n to the series k on day i (ignored outside the series).
func (c *Counts) Add(k Key, i int, n float64) {
	if i < 0 || i >= c.Days {
		return
	}
	s := c.series[k]
	if s == nil {
		s = make([]float64, c.Days)
		c.series[k] = s
	}
	s[i] += n
}

// Ensure makes the series k exist (all zero) so that an area and
// syndrome with no count yet is still scanned.
func (c *Counts) Ensure(k Key) {
	if c.series[k] == nil {
		c.series[k] = make([]float64, c.Days)
	}
}

// Series returns the counts of k (nil when it has none).
func (c *Counts) Series(k Key) []float64 { return c.series[k] }

// Keys returns the series' keys, ordered by area, syndrome and source.
func (c *Counts) Keys() []Key {
	return slices.SortedFunc(maps.Keys(c.series), compareKeys)
}

// Merge returns series spanning every part's days, the counts summed:
// diagnoses counted from the store and feeds read from files become one
// set of series. Nil parts are skipped; with none it returns nil.
func Merge(parts ...*Counts) *Counts {
	var first, end time.Time
	for _, p := range parts {
		if p == nil {
			continue
		}
		if first.IsZero() || p.Start.Before(first) {
			first = p.Start
		}
		if e := p.Day(p.Days); e.After(end) {
			end = e
		}
	}
	if first.IsZero() {
		return nil
	}
	out := NewCounts(first, int(math.Round(end.Sub(first).Hours()/24)))
	for _, p := range parts {
		if p == nil {
			continue
		}
		offset, _ := out.DayIndex(p.Start)
		for k, s := range p.series {
			out.Ensure(k)
			for i, v := range s {
				out.series[k][offset+i] += v
			}
		}
	}
	return out
}
