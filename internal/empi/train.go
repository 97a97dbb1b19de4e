package empi

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Training: U from random pairs (nearly all of two people), M by
// expectation–maximisation on the candidate pairs of each training rule with
// the comparisons that rule fixes left out (its pairs agree on them by
// construction), averaged over the rules; then Lambda over all candidates.

// estimateU counts the levels of n random pairs (from different sources when
// cross is set), with one pseudo-count per level.
func (m *Model) estimateU(recs []prepared, sources []int32, cross bool, n int, seed uint64) {
	counts := make([][]float64, len(m.comps))
	for i, c := range m.comps {
		counts[i] = make([]float64, len(c.levels))
		for l := range counts[i] {
			counts[i][l] = 1
		}
	}
	if len(recs) >= 2 {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		for k, tries := 0, 0; k < n && tries < 4*n; tries++ {
			i, j := rng.IntN(len(recs)), rng.IntN(len(recs))
			if i == j || cross && sources[i] == sources[j] {
				continue
			}
			k++
			p := m.compare(&recs[i], &recs[j])
			for c := range m.comps {
				if l := p.level(c); l != null {
					counts[c][l]++
				}
			}
		}
	}
	for c := range m.comps {
		total := 0.0
		for _, v := range counts[c] {
			total += v
		}
		for l, v := range counts[c] {
			m.Comparisons[c].Levels[l].U = v / total
		}
	}
}

// patternCounts tallies how many pairs share each pattern: EM runs over the
// distinct patterns, a few thousand however many pairs there are.
type patternCount struct {
	p     pattern
	count float64
}

func tally(cands []candidate, keep func(c *candidate) bool) []patternCount {
	counts := map[pattern]float64{}
	for i := range cands {
		if keep == nil || keep(&cands[i]) {
			counts[cands[i].p]++
		}
	}
	out := make([]patternCount, 0, len(counts))
	for p, n := range counts {
		out = append(out, patternCount{p, n})
	}
	slices.SortFunc(out, func(a, b patternCount) int {
		switch {
		case a.p < b.p:
			return -1
		case a.p > b.p:
			return 1
		}
		return 0
	})
	return out
}

// em estimates M for the comparisons marked in estimate, and the share of
// one-person pairs among the counted pairs, which it returns. Comparisons
// not marked are left out of the likelihood.
func (m *Model) em(counts []patternCount, estimate []bool, iterations int) float64 {
	lambda := 0.1
	n := len(m.comps)
	sums := make([][]float64, n)
	for c := range sums {
		sums[c] = make([]float64, len(m.comps[c].levels))
	}
	for range iterations {
		for c := range sums {
			clear(sums[c])
		}
		matched, total := 0.0, 0.0
		for _, pc := range counts {
			lm, lu := math.Log(lambda), math.Log(1-lambda)
			for c := range n {
				if !estimate[c] {
					continue
				}
				if l := pc.p.level(c); l != null {
					lv := m.Comparisons[c].Levels[l]
					lm += math.Log(math.Max(lv.M, 1e-300))
					lu += math.Log(math.Max(lv.U, minU))
				}
			}
			post := 1 / (1 + math.Exp(lu-lm))
			w := pc.count * post
			matched += w
			total += pc.count
			for c := range n {
				if l := pc.p.level(c); estimate[c] && l != null {
					sums[c][l] += w
				}
			}
		}
		if total == 0 || matched == 0 {
			return 0
		}
		lambda = math.Min(math.Max(matched/total, 1e-9), 1-1e-9)
		for c := range n {
			if !estimate[c] {
				continue
			}
			// One pseudo-pair distributed as U keeps a level never seen
			// among matches from becoming impossible, and gives a level
			// seen in neither sample a weight against, never for.
			s := 1.0
			for _, v := range sums[c] {
				s += v
			}
			for l := range sums[c] {
				m.Comparisons[c].Levels[l].M = (sums[c][l] + m.Comparisons[c].Levels[l].U) / s
			}
		}
	}
	return lambda
}

// estimateM runs one EM session per training rule and averages M over the
// sessions that estimated it.
func (m *Model) estimateM(b *blocks, training []int, cands []candidate, iterations int) {
	n := len(m.comps)
	sum := make([][]float64, n)
	sessions := make([]int, n)
	for c := range sum {
		sum[c] = make([]float64, len(m.comps[c].levels))
	}
	start := m.snapshotM()
	for _, r := range training {
		m.restoreM(start)
		estimate := make([]bool, n)
		for c := range estimate {
			estimate[c] = !slices.Contains(b.rules[r].fixes, m.comps[c].name)
		}
		counts := tally(cands, func(c *candidate) bool { return b.shares(r, c.a, c.b) })
		if len(counts) == 0 {
			continue
		}
		m.em(counts, estimate, iterations)
		for c := range n {
			if !estimate[c] {
				continue
			}
			sessions[c]++
			for l := range sum[c] {
				sum[c][l] += m.Comparisons[c].Levels[l].M
			}
		}
	}
	m.restoreM(start)
	for c := range n {
		if sessions[c] == 0 {
			continue // left at its starting value
		}
		for l := range sum[c] {
			m.Comparisons[c].Levels[l].M = sum[c][l] / float64(sessions[c])
		}
	}
}

func (m *Model) snapshotM() [][]float64 {
	out := make([][]float64, len(m.Comparisons))
	for c, cm := range m.Comparisons {
		for _, lv := range cm.Levels {
			out[c] = append(out[c], lv.M)
		}
	}
	return out
}

func (m *Model) restoreM(s [][]float64) {
	for c := range m.Comparisons {
		for l := range m.Comparisons[c].Levels {
			m.Comparisons[c].Levels[l].M = s[c][l]
		}
	}
}

// estimateLambda finds the share of one-person pairs among the candidates
// with M and U fixed.
func (m *Model) estimateLambda(cands []candidate, iterations int) {
	counts := tally(cands, nil)
	lambda := 0.1
	for range iterations {
		matched, total := 0.0, 0.0
		for _, pc := range counts {
			lm, lu := math.Log(lambda), math.Log(1-lambda)
			for c := range m.comps {
				if l := pc.p.level(c); l != null {
					lv := m.Comparisons[c].Levels[l]
					lm += math.Log(math.Max(lv.M, 1e-300))
					lu += math.Log(math.Max(lv.U, minU))
				}
			}
			matched += pc.count / (1 + math.Exp(lu-lm))
			total += pc.count
		}
		if total == 0 {
			return
		}
		lambda = math.Min(math.Max(matched/total, 1e-9), 1-1e-9)
	}
	m.Lambda = lambda
}

// countTermFrequencies records the share of records with each value of the
// comparisons that adjust for term frequency.
func (m *Model) countTermFrequencies(recs []prepared) {
	m.TermFrequency = map[string]map[string]float64{}
	for i, c := range m.comps {
		if c.termFrequency == nil {
			m.termFrequency[i] = nil
			continue
		}
		counts := map[string]float64{}
		total := 0.0
		for k := range recs {
			if v := c.termFrequency(&recs[k]); v != "" {
				counts[v]++
				total++
			}
		}
		for v := range counts {
			counts[v] /= total
		}
		m.termFrequency[i] = counts
		m.TermFrequency[c.name] = counts
	}
}
