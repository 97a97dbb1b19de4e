package empi

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// Config is the linkage configuration: thresholds, comparisons, blocking and
// training. The zero value of each field takes its default; a JSON file of
// this shape (see docs/empi.md) overrides any of them.
type Config struct {
	// Match probabilities: at or above LinkThreshold a pair is linked, at or
	// above ReviewThreshold it goes to review.
	LinkThreshold   float64 `json:"link_threshold,omitempty"`
	ReviewThreshold float64 `json:"review_threshold,omitempty"`
	// Comparisons to score, with their similarity thresholds; empty: all.
	Comparisons []ComparisonConfig `json:"comparisons,omitempty"`
	// Blocking rules by name (see docs/empi.md); empty: all.
	Blocking []string `json:"blocking,omitempty"`
	// Training rules: the blocking rules whose pairs train M by EM.
	Training []string `json:"training,omitempty"`
	// Contradictions are comparison levels, written comparison:level, that
	// keep a pair from linking on its own however high its score: it goes to
	// review instead, unless an identifier agrees (身份证 number exact or one
	// typo apart, or the same health card). Two valid 身份证 numbers that
	// differ (id_number:conflict) never link on their own.
	Contradictions []string `json:"contradictions,omitempty"`
	// MaxBlock skips keys shared by more records than this.
	MaxBlock int `json:"max_block,omitempty"`
	// SamplePairs random pairs estimate U.
	SamplePairs int `json:"sample_pairs,omitempty"`
	// Iterations of EM.
	Iterations int `json:"iterations,omitempty"`
	// Seed of the random pairs.
	Seed uint64 `json:"seed,omitempty"`
}

// ComparisonConfig names one comparison and optionally its similarity
// thresholds (Jaro–Winkler on pinyin for names, on the text for addresses)
// and whether exact agreement is weighed by the value's frequency.
type ComparisonConfig struct {
	Name          string    `json:"name"`
	Thresholds    []float64 `json:"thresholds,omitempty"`
	TermFrequency *bool     `json:"term_frequency,omitempty"`
}

// Defaults.
const (
	DefaultLinkThreshold   = 0.99
	DefaultReviewThreshold = 0.5
	defaultMaxBlock        = 2000
	defaultSamplePairs     = 1_000_000
	defaultIterations      = 25
)

var defaultTraining = []string{"birth_date", "name_birth_year", "id_number"}

// defaultContradictions: household members share a family name, an address,
// a phone and often a given name's character; their birth dates and sexes
// tell them apart, and those agreements do not add up to one person.
// "given:different" (the twin rule) is left out by default: a look-alike
// typo in a one-character given name is "different" too, and with the ID
// missing as well such a pair would only reach review (docs/empi.md).
var defaultContradictions = []string{"birth_date:different", "sex:different"}

// ReadConfig reads a configuration file.
func ReadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("empi: read config: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("empi: config %s: %w", path, err)
	}
	if _, err := c.compile(); err != nil {
		return c, fmt.Errorf("empi: config %s: %w", path, err)
	}
	return c, nil
}

// compiled is a configuration with its defaults and names resolved.
type compiled struct {
	Config
	comps    []*comparison
	rules    []blockingRule
	training []int // indexes into rules
	// contradiction[c][l] marks level l of comparison c.
	contradiction [][]bool
}

func (c Config) compile() (*compiled, error) {
	out := &compiled{Config: c}
	if out.LinkThreshold == 0 {
		out.LinkThreshold = DefaultLinkThreshold
	}
	if out.ReviewThreshold == 0 {
		out.ReviewThreshold = DefaultReviewThreshold
	}
	if out.ReviewThreshold <= 0 || out.ReviewThreshold > out.LinkThreshold || out.LinkThreshold >= 1 {
		return nil, fmt.Errorf("thresholds: want 0 < review (%g) ≤ link (%g) < 1", out.ReviewThreshold, out.LinkThreshold)
	}
	if out.MaxBlock == 0 {
		out.MaxBlock = defaultMaxBlock
	}
	if out.SamplePairs == 0 {
		out.SamplePairs = defaultSamplePairs
	}
	if out.Iterations == 0 {
		out.Iterations = defaultIterations
	}
	if out.MaxBlock < 2 || out.SamplePairs < 1 || out.Iterations < 1 {
		return nil, fmt.Errorf("max_block, sample_pairs and iterations must be positive")
	}
	want := c.Comparisons
	if len(want) == 0 {
		for _, k := range comparisonKinds {
			want = append(want, ComparisonConfig{Name: k.name})
		}
	}
	for _, cc := range want {
		i := slices.IndexFunc(comparisonKinds, func(k comparison) bool { return k.name == cc.Name })
		if i < 0 {
			return nil, fmt.Errorf("unknown comparison %q", cc.Name)
		}
		if slices.ContainsFunc(out.comps, func(k *comparison) bool { return k.name == cc.Name }) {
			return nil, fmt.Errorf("comparison %q named twice", cc.Name)
		}
		k := comparisonKinds[i]
		if cc.Thresholds != nil {
			if len(cc.Thresholds) != len(k.thresholds) {
				return nil, fmt.Errorf("comparison %q takes %d thresholds, not %d", cc.Name, len(k.thresholds), len(cc.Thresholds))
			}
			k.thresholds = cc.Thresholds
		}
		if cc.TermFrequency != nil && !*cc.TermFrequency {
			k.termFrequency = nil
		}
		out.comps = append(out.comps, &k)
	}
	if len(out.comps) > 15 {
		return nil, fmt.Errorf("at most 15 comparisons")
	}
	out.contradiction = make([][]bool, len(out.comps))
	for i, k := range out.comps {
		out.contradiction[i] = make([]bool, len(k.levels))
	}
	contradictions := c.Contradictions
	if contradictions == nil {
		contradictions = defaultContradictions
	}
	for _, cl := range contradictions {
		name, label, _ := strings.Cut(cl, ":")
		i := slices.IndexFunc(out.comps, func(k *comparison) bool { return k.name == name })
		if i < 0 {
			return nil, fmt.Errorf("contradiction %q: no comparison %q", cl, name)
		}
		l := slices.Index(out.comps[i].levels, label)
		if l < 0 {
			return nil, fmt.Errorf("contradiction %q: comparison %s has levels %s", cl, name, strings.Join(out.comps[i].levels, ", "))
		}
		out.contradiction[i][l] = true
	}
	names := c.Blocking
	if len(names) == 0 {
		for _, r := range blockingKinds {
			names = append(names, r.name)
		}
	}
	for _, name := range names {
		i := slices.IndexFunc(blockingKinds, func(r blockingRule) bool { return r.name == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown blocking rule %q", name)
		}
		out.rules = append(out.rules, blockingKinds[i])
	}
	training := c.Training
	if len(training) == 0 {
		training = defaultTraining
	}
	for _, name := range training {
		i := slices.IndexFunc(out.rules, func(r blockingRule) bool { return r.name == name })
		if i < 0 {
			if len(c.Training) == 0 {
				continue // a default training rule whose blocking rule is off
			}
			return nil, fmt.Errorf("training rule %q is not among the blocking rules", name)
		}
		out.training = append(out.training, i)
	}
	if len(out.training) == 0 {
		return nil, fmt.Errorf("no training rule")
	}
	return out, nil
}
