package empi

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// Decision is what the index does with a scored pair.
type Decision string

const (
	DecideLink   Decision = "link"   // one person
	DecideReview Decision = "review" // uncertain: a person decides
)

// Pair is a linked or uncertain pair of records.
type Pair struct {
	A, B        string // record ids, A < B in input order
	Probability float64
	Weight      float64 // bits of evidence, prior included
	Decision    Decision
	Evidence    []Evidence
}

// Result is the outcome of a batch linkage.
type Result struct {
	Pairs []Pair // by A, then B, in input order
	Model *Model
	Stats Stats
}

// Stats describes a batch linkage.
type Stats struct {
	Records       int
	Candidates    int // pairs found by blocking
	SkippedBlocks int // keys shared by more than max_block records
	Links         int
	Reviews       int
}

// Link links records in one batch: it trains the model on them, scores every
// candidate pair and returns those at or above the review threshold. With
// crossSource set, only pairs of records from different sources are made
// (linking one list against another); otherwise all pairs (deduplication).
func Link(records []Record, cfg Config, crossSource bool) (*Result, error) {
	cc, err := cfg.compile()
	if err != nil {
		return nil, fmt.Errorf("empi: %w", err)
	}
	seen := make(map[string]struct{}, len(records))
	for _, r := range records {
		if r.ID == "" {
			return nil, fmt.Errorf("empi: a record without id")
		}
		if _, dup := seen[r.ID]; dup {
			return nil, fmt.Errorf("empi: record id %q appears twice", r.ID)
		}
		seen[r.ID] = struct{}{}
	}
	recs, sources := prepareAll(records)
	res := &Result{Stats: Stats{Records: len(records)}}
	if len(recs) < 2 {
		res.Model = newModel(cc.comps)
		return res, nil
	}

	m, cands, skipped := train(cc, recs, sources, crossSource)
	res.Model, res.Stats.Candidates, res.Stats.SkippedBlocks = m, len(cands), skipped
	res.Pairs = m.decide(cc, recs, records, cands)
	for _, p := range res.Pairs {
		if p.Decision == DecideLink {
			res.Stats.Links++
		} else {
			res.Stats.Reviews++
		}
	}
	return res, nil
}

// linkWithModel links records in one batch with a model trained before.
func linkWithModel(cc *compiled, m *Model, records []Record) (*Result, error) {
	recs, sources := prepareAll(records)
	res := &Result{Model: m, Stats: Stats{Records: len(records)}}
	b := newBlocks(cc.rules, recs)
	var cands []candidate
	res.Stats.SkippedBlocks = b.pairs(sources, false, cc.MaxBlock, func(i, j int32) {
		cands = append(cands, candidate{a: i, b: j})
	})
	res.Stats.Candidates = len(cands)
	m.compareAll(recs, cands)
	res.Pairs = m.decide(cc, recs, records, cands)
	return res, nil
}

// compareAll compares every candidate pair, on every core.
func (m *Model) compareAll(recs []prepared, cands []candidate) {
	parallel(len(cands), func(lo, hi int) {
		for k := lo; k < hi; k++ {
			c := &cands[k]
			c.p = m.compare(&recs[c.a], &recs[c.b])
		}
	})
}

// train blocks the records, compares the candidate pairs and estimates the
// model on them.
func train(cc *compiled, recs []prepared, sources []int32, crossSource bool) (*Model, []candidate, int) {
	b := newBlocks(cc.rules, recs)
	var cands []candidate
	skipped := b.pairs(sources, crossSource, cc.MaxBlock, func(i, j int32) {
		cands = append(cands, candidate{a: i, b: j})
	})
	m := newModel(cc.comps)
	m.compareAll(recs, cands)
	m.estimateU(recs, sources, crossSource, cc.SamplePairs, cc.Seed)
	m.estimateM(b, cc.training, cands, cc.Iterations)
	m.estimateLambda(cands, cc.Iterations)
	m.countTermFrequencies(recs)
	m.refresh()
	return m, cands, skipped
}

// decide scores the candidates and keeps those at or above the review
// threshold; a contradicted pair goes to review at most.
func (m *Model) decide(cc *compiled, recs []prepared, records []Record, cands []candidate) []Pair {
	var mu sync.Mutex
	var out []Pair
	parallel(len(cands), func(lo, hi int) {
		var mine []Pair
		for k := lo; k < hi; k++ {
			c := &cands[k]
			w := m.weight(c.p, &recs[c.a])
			p := probability(w)
			d := cc.classify(p, c.p)
			if d == "" {
				continue
			}
			mine = append(mine, Pair{A: records[c.a].ID, B: records[c.b].ID, Probability: p, Weight: w, Decision: d,
				Evidence: m.explain(c.p, &recs[c.a], &recs[c.b])})
		}
		mu.Lock()
		out = append(out, mine...)
		mu.Unlock()
	})
	order := make(map[string]int, len(records))
	for i, r := range records {
		order[r.ID] = i
	}
	slices.SortFunc(out, func(x, y Pair) int {
		if d := order[x.A] - order[y.A]; d != 0 {
			return d
		}
		return order[x.B] - order[y.B]
	})
	return out
}

// prepareAll normalises records in parallel and numbers their sources.
func prepareAll(records []Record) ([]prepared, []int32) {
	recs := make([]prepared, len(records))
	parallel(len(records), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			recs[i] = prepare(&records[i])
		}
	})
	sources := make([]int32, len(records))
	ids := map[string]int32{}
	for i, r := range records {
		s, ok := ids[r.Source]
		if !ok {
			s = int32(len(ids))
			ids[r.Source] = s
		}
		sources[i] = s
	}
	return recs, sources
}

// parallel splits [0, n) into chunks run on every core.
func parallel(n int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < 1024 || workers == 1 {
		f(0, n)
		return
	}
	chunk := (n + workers*8 - 1) / (workers * 8)
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for lo := range next {
				f(lo, min(lo+chunk, n))
			}
		})
	}
	for lo := 0; lo < n; lo += chunk {
		next <- lo
	}
	close(next)
	wg.Wait()
}

// String summarises a model for logs and the CLI: each comparison's weights.
func (m *Model) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lambda %.3g\n", m.Lambda)
	for i, c := range m.Comparisons {
		fmt.Fprintf(&b, "%-12s", c.Name)
		for l, lv := range c.Levels {
			fmt.Fprintf(&b, "  %s %+.1f", lv.Label, m.weights[i][l])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// classify decides a scored pair: link, review, or "" below the review
// threshold; a contradicted pair goes to review at most.
func (cc *compiled) classify(p float64, pat pattern) Decision {
	switch {
	case p < cc.ReviewThreshold:
		return ""
	case p >= cc.LinkThreshold && !cc.contradicted(pat):
		return DecideLink
	}
	return DecideReview
}

// contradicted reports a pattern that must not link on its own (see
// Config.Contradictions).
func (cc *compiled) contradicted(p pattern) bool {
	identifier, contradiction := false, false
	for i, c := range cc.comps {
		l := p.level(i)
		if l == null {
			continue
		}
		switch {
		case c.name == "id_number" && c.levels[l] == "conflict":
			return true
		case c.name == "id_number" && l <= 1, c.name == "health_card" && l == 0:
			identifier = true
		case cc.contradiction[i][l]:
			contradiction = true
		}
	}
	return contradiction && !identifier
}
