package empi

import (
	"fmt"
	"math"
)

// Model holds the Fellegi–Sunter parameters: per comparison and level the
// probability of the level among pairs of one person (M) and among pairs of
// two people (U), and the prior probability that a candidate pair is one
// person (Lambda). Weights are log2(M/U): the bits of evidence a level adds.
type Model struct {
	Lambda      float64           `json:"lambda"`
	Comparisons []ComparisonModel `json:"comparisons"`
	// TermFrequency per comparison name: the share of records with each
	// value, which replaces U at the exact level.
	TermFrequency map[string]map[string]float64 `json:"term_frequency,omitempty"`

	comps []*comparison
	// termFrequency is TermFrequency by comparison index (nil where not used).
	termFrequency []map[string]float64
	weights       [][]float64 // log2(M/U) per comparison and level
	prior         float64     // log2(Lambda/(1-Lambda))
}

// ComparisonModel is the parameters of one comparison.
type ComparisonModel struct {
	Name   string       `json:"name"`
	Levels []LevelModel `json:"levels"`
}

// LevelModel is the parameters of one level.
type LevelModel struct {
	Label string  `json:"label"`
	M     float64 `json:"m"`
	U     float64 `json:"u"`
}

// minU bounds U from below, and with it the weight one agreement can add:
// no random sample proves that two people never share a value.
const minU = 1e-7

func newModel(comps []*comparison) *Model {
	m := &Model{Lambda: 0.01, comps: comps, termFrequency: make([]map[string]float64, len(comps))}
	for _, c := range comps {
		cm := ComparisonModel{Name: c.name}
		n := len(c.levels)
		for l, label := range c.levels {
			// A starting point for EM: agreement likely among matches.
			mp := 0.1 / float64(n-1)
			if l == 0 {
				mp = 0.9
			}
			cm.Levels = append(cm.Levels, LevelModel{Label: label, M: mp, U: 1 / float64(n)})
		}
		m.Comparisons = append(m.Comparisons, cm)
	}
	m.refresh()
	return m
}

// bind attaches a model read from JSON to the configuration's comparisons;
// a model of other comparisons or levels is refused (relink trains anew).
func (m *Model) bind(comps []*comparison) error {
	if len(m.Comparisons) != len(comps) {
		return fmt.Errorf("empi: the model has %d comparisons, the configuration %d", len(m.Comparisons), len(comps))
	}
	for i, c := range comps {
		if m.Comparisons[i].Name != c.name || len(m.Comparisons[i].Levels) != len(c.levels) {
			return fmt.Errorf("empi: the model's comparison %d is %s, the configuration's %s", i, m.Comparisons[i].Name, c.name)
		}
	}
	m.comps = comps
	m.termFrequency = make([]map[string]float64, len(comps))
	for i, c := range comps {
		if c.termFrequency != nil {
			m.termFrequency[i] = m.TermFrequency[c.name]
		}
	}
	m.refresh()
	return nil
}

// refresh recomputes the weights after the parameters changed.
func (m *Model) refresh() {
	m.weights = make([][]float64, len(m.Comparisons))
	for i, c := range m.Comparisons {
		m.weights[i] = make([]float64, len(c.Levels))
		for l, lv := range c.Levels {
			m.weights[i][l] = math.Log2(math.Max(lv.M, minU) / math.Max(lv.U, minU))
		}
	}
	lambda := math.Min(math.Max(m.Lambda, 1e-12), 1-1e-12)
	m.prior = math.Log2(lambda / (1 - lambda))
}

// pattern packs the levels of one pair's comparisons, four bits each
// (15 = null).
type pattern uint64

const nullCode = 15

func (p pattern) level(i int) int {
	l := int(p>>(4*i)) & 15
	if l == nullCode {
		return null
	}
	return l
}

func (m *Model) compare(a, b *prepared) pattern {
	var p pattern
	for i, c := range m.comps {
		l := c.compare(c, a, b)
		if l == null {
			l = nullCode
		}
		p |= pattern(l) << (4 * i)
	}
	return p
}

// weight returns the match weight of a pair: prior plus the weights of its
// levels, the exact name levels adjusted by the frequency of the value.
func (m *Model) weight(p pattern, a *prepared) float64 {
	w := m.prior
	for i := range m.comps {
		l := p.level(i)
		if l == null {
			continue
		}
		if l == 0 && m.termFrequency[i] != nil {
			w += m.tfWeight(i, a)
			continue
		}
		w += m.weights[i][l]
	}
	return w
}

// tfWeight is the weight of exact agreement on a's value of comparison i:
// log2(M / frequency of the value), the value's frequency standing for U.
func (m *Model) tfWeight(i int, a *prepared) float64 {
	exact := m.Comparisons[i].Levels[0]
	u := exact.U
	if f, ok := m.termFrequency[i][m.comps[i].termFrequency(a)]; ok {
		u = f
	}
	return math.Log2(math.Max(exact.M, minU) / math.Max(u, minU))
}

// probability turns a match weight into the probability that the pair is
// one person.
func probability(weight float64) float64 {
	return 1 / (1 + math.Exp2(-weight))
}

// Evidence is what one comparison says about a pair: the level it found, the
// two values compared and the weight in bits (positive for one person).
type Evidence struct {
	Comparison string  `json:"comparison"`
	Level      string  `json:"level"` // "" when a value is missing
	A          string  `json:"a"`
	B          string  `json:"b"`
	Weight     float64 `json:"weight"`
}

func (m *Model) explain(p pattern, a, b *prepared) []Evidence {
	out := make([]Evidence, 0, len(m.comps))
	for i, c := range m.comps {
		e := Evidence{Comparison: c.name, A: a.value(c.name), B: b.value(c.name)}
		if l := p.level(i); l != null {
			e.Level = c.levels[l]
			e.Weight = m.weights[i][l]
			if l == 0 && m.termFrequency[i] != nil {
				e.Weight = m.tfWeight(i, a)
			}
		}
		out = append(out, e)
	}
	return out
}

// value returns the normalised value a comparison read, for explanations.
func (p *prepared) value(comparison string) string {
	switch comparison {
	case "family":
		return p.family
	case "given":
		return p.given
	case "sex":
		if p.sex == 0 {
			return ""
		}
		return string(p.sex)
	case "birth_date":
		return p.birth
	case "id_number":
		return p.idNumber
	case "health_card":
		return p.healthCard
	case "phone":
		return p.phone
	case "address":
		return p.address
	case "division":
		return p.division
	case "postcode":
		return p.postcode
	}
	panic(fmt.Sprintf("empi: unknown comparison %q", comparison))
}
