package empi

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

// RelinkStats describes a relink.
type RelinkStats struct {
	Records    int
	Candidates int
	Persons    int // persons after the relink
	Rebuilt    int // golden records written (membership changed)
	Retired    int // persons that no longer have records
	Reviews    int // pairs waiting for review
}

// MinTrainingRecords is the fewest records Relink trains a model on; with
// fewer it links with the model the index has.
const MinTrainingRecords = 2000

// relinkBatch bounds the index entries written in one transaction.
const relinkBatch = 2000

// Relink re-scores the whole index: it reads every Patient of the store,
// trains the model on them (from MinTrainingRecords records on), links them
// in one batch and writes the persons.
// Decisions people made are respected; a person keeps its id when most of
// its records stay together; two valid 身份证 numbers never meet in one
// person unless a person linked them. progress, if set, hears each phase.
//
// The index is written in batches: while a relink runs, golden records may
// lag the entries; run it again after an interruption.
func (ix *Index) Relink(ctx context.Context, progress func(phase string, done int)) (*RelinkStats, error) {
	if progress == nil {
		progress = func(string, int) {}
	}
	records, err := ix.allPatients(ctx, progress)
	if err != nil {
		return nil, err
	}
	var res *Result
	if len(records) < MinTrainingRecords {
		// Too few records to estimate a model from: link with the one the
		// index has (the shipped default model for a new index).
		if ix.Model() == nil {
			if err := ix.UseDefaultModel(ctx); err != nil {
				return nil, fmt.Errorf("empi: %d records are too few to train a model, and %w", len(records), err)
			}
		}
		res, err = linkWithModel(ix.cc, ix.Model(), records)
	} else {
		res, err = Link(records, ix.cc.Config, false)
	}
	if err != nil {
		return nil, err
	}
	stats := &RelinkStats{Records: len(records), Candidates: res.Stats.Candidates}
	progress("linked", len(records))

	decisions, err := ix.st.MPIPairs(ctx, store.MPIPairQuery{})
	if err != nil {
		return nil, err
	}
	c := newClusters(records)
	reviews := c.build(res.Pairs, decisions)
	previous := map[string]string{} // patient → person
	err = ix.st.ScanMPI(ctx, func(r *store.MPIRecord) error {
		previous[r.Patient] = r.Person
		return nil
	})
	if err != nil {
		return nil, err
	}
	person := c.assign(previous)
	stats.Persons = len(c.roots())

	// Phase 1: the entries, in batches.
	stale := map[string]bool{}
	for p := range previous {
		stale[p] = true
	}
	for start := 0; start < len(records); start += relinkBatch {
		batch := records[start:min(start+relinkBatch, len(records))]
		err := ix.st.UpdateMPI(ctx, func(_ store.Tx, w store.MPIWriter) error {
			for i := range batch {
				r := &batch[i]
				body, err := json.Marshal(r)
				if err != nil {
					return err
				}
				p := prepare(r)
				if err := w.PutMPIRecord(ctx, store.MPIRecord{Patient: r.ID, Person: person[r.ID], Body: body}, ix.keys(&p)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		for _, r := range batch {
			delete(stale, r.ID)
		}
		progress("indexed", start+len(batch))
	}
	// Phase 2: reviews and the model, with the entries of Patients gone.
	err = ix.st.UpdateMPI(ctx, func(_ store.Tx, w store.MPIWriter) error {
		for p := range stale {
			if err := w.DeleteMPIRecord(ctx, p); err != nil {
				return err
			}
		}
		if err := w.DeleteMPIReviews(ctx, ""); err != nil {
			return err
		}
		for _, pr := range reviews {
			if err := putReview(ctx, w, pr); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = ix.storeModel(ctx, res.Model)
	}
	if err != nil {
		return nil, err
	}
	stats.Reviews = len(reviews)

	// Phase 3: the golden records of the persons whose records changed, and
	// the persons left without records.
	before := map[string][]string{}
	for pat, per := range previous {
		before[per] = append(before[per], pat)
	}
	after := map[string][]string{}
	for _, r := range records {
		after[person[r.ID]] = append(after[person[r.ID]], r.ID)
	}
	var changed, retired []string
	for per, pats := range after {
		slices.Sort(pats)
		old := before[per]
		slices.Sort(old)
		if !slices.Equal(pats, old) {
			changed = append(changed, per)
		}
	}
	for per := range before {
		if _, ok := after[per]; !ok {
			retired = append(retired, per)
		}
	}
	slices.Sort(changed)
	slices.Sort(retired)
	confirmed := map[string]bool{}
	for _, d := range decisions {
		if d.Status == StatusLinked {
			confirmed[d.A], confirmed[d.B] = true, true
		}
	}
	for start := 0; start < len(changed); start += relinkBatch / 4 {
		batch := changed[start:min(start+relinkBatch/4, len(changed))]
		err := ix.st.UpdateMPI(ctx, func(tx store.Tx, w store.MPIWriter) error {
			return ix.rebuildWith(ctx, tx, w, confirmed, batch...)
		})
		if err != nil {
			return nil, err
		}
		progress("persons", start+len(batch))
	}
	err = ix.st.UpdateMPI(ctx, func(tx store.Tx, w store.MPIWriter) error {
		for _, per := range retired {
			// Point the retired record at the person that holds most of
			// its records now, if any remain.
			into := ""
			for _, pat := range before[per] {
				if p, ok := person[pat]; ok && (into == "" || p < into) {
					into = p
				}
			}
			if into == "" {
				if _, err := tx.Delete(ctx, "Person", per, store.Precondition{}); err != nil {
					return err
				}
				continue
			}
			retiredPerson := fhir.Resource{"resourceType": "Person", "id": per, "active": false,
				"link": []any{map[string]any{"target": map[string]any{"reference": "Person/" + into}, "assurance": "level3"}}}
			if _, _, err := tx.Put(ctx, retiredPerson, store.Precondition{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	stats.Rebuilt, stats.Retired = len(changed), len(retired)
	return stats, nil
}

// allPatients reads every current Patient of the store as index records.
func (ix *Index) allPatients(ctx context.Context, progress func(string, int)) ([]Record, error) {
	var out []Record
	q := &search.Query{Types: []string{"Patient"}, Count: 1000, Total: search.TotalNone}
	for {
		page, err := ix.st.Search(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("empi: read patients: %w", err)
		}
		for _, r := range page.Resources {
			res, err := fhir.Parse(r.Body)
			if err != nil {
				return nil, fmt.Errorf("empi: Patient/%s: %w", r.ID, err)
			}
			out = append(out, FromPatient(res))
		}
		progress("read", len(out))
		if !page.More || page.Next == "" {
			return out, nil
		}
		q.Cursor = page.Next
	}
}

// clusters groups records into persons with a union–find that keeps the
// invariants: no person holds two valid 身份证 numbers, nor two records a
// person decided apart, unless a person linked them.
type clusters struct {
	ids    []string
	index  map[string]int
	parent []int
	// members of each root; validID of each root: "" none, else the one
	// valid number, "*" several (only after confirmed links).
	members [][]int
	validID []string
	apart   map[int][]int
}

func newClusters(records []Record) *clusters {
	c := &clusters{index: map[string]int{}, apart: map[int][]int{}}
	for i, r := range records {
		c.ids = append(c.ids, r.ID)
		c.index[r.ID] = i
		c.parent = append(c.parent, i)
		c.members = append(c.members, []int{i})
		id, valid := idNumber(r.IDNumber)
		if !valid {
			id = ""
		}
		c.validID = append(c.validID, id)
	}
	return c
}

func (c *clusters) find(i int) int {
	for c.parent[i] != i {
		c.parent[i] = c.parent[c.parent[i]]
		i = c.parent[i]
	}
	return i
}

// union joins the clusters of a and b; unless forced, only if the
// invariants hold. It reports whether they are one cluster now.
func (c *clusters) union(a, b int, forced bool) bool {
	ra, rb := c.find(a), c.find(b)
	if ra == rb {
		return true
	}
	if !forced {
		va, vb := c.validID[ra], c.validID[rb]
		if va != "" && vb != "" && (va != vb || va == "*") {
			return false
		}
		small, other := ra, rb
		if len(c.members[small]) > len(c.members[other]) {
			small, other = other, small
		}
		for _, m := range c.members[small] {
			for _, x := range c.apart[m] {
				if c.find(x) == other {
					return false
				}
			}
		}
	}
	if len(c.members[ra]) < len(c.members[rb]) {
		ra, rb = rb, ra
	}
	c.parent[rb] = ra
	c.members[ra] = append(c.members[ra], c.members[rb]...)
	c.members[rb] = nil
	switch va, vb := c.validID[ra], c.validID[rb]; {
	case va == "":
		c.validID[ra] = vb
	case vb != "" && vb != va:
		c.validID[ra] = "*"
	}
	return true
}

// build applies the decisions (confirmed links first), then the links best
// first; it returns the pairs for review: the uncertain pairs and the links
// the invariants refused, except those that ended in one person or that a
// person decided.
func (c *clusters) build(pairs []Pair, decisions []store.MPIPair) []Pair {
	decided := map[[2]string]bool{}
	for _, d := range decisions {
		ia, okA := c.index[d.A]
		ib, okB := c.index[d.B]
		if d.Status == StatusReview || !okA || !okB {
			continue
		}
		decided[PairKey(d.A, d.B)] = true
		if d.Status == StatusApart {
			c.apart[ia] = append(c.apart[ia], ib)
			c.apart[ib] = append(c.apart[ib], ia)
		}
	}
	for _, d := range decisions {
		if d.Status == StatusLinked {
			if ia, ok := c.index[d.A]; ok {
				if ib, ok := c.index[d.B]; ok {
					c.union(ia, ib, true)
				}
			}
		}
	}
	sorted := slices.Clone(pairs)
	slices.SortStableFunc(sorted, func(x, y Pair) int { return cmp.Compare(y.Probability, x.Probability) })
	var review []Pair
	for _, p := range sorted {
		if decided[PairKey(p.A, p.B)] {
			continue
		}
		if p.Decision != DecideLink || !c.union(c.index[p.A], c.index[p.B], false) {
			review = append(review, p)
		}
	}
	return slices.DeleteFunc(review, func(p Pair) bool { return c.find(c.index[p.A]) == c.find(c.index[p.B]) })
}

func (c *clusters) roots() []int {
	var out []int
	for i := range c.parent {
		if c.find(i) == i {
			out = append(out, i)
		}
	}
	return out
}

// assign names each cluster: the person id most of its records had before
// (each id to one cluster, larger clusters first), else a new id after its
// smallest patient id. It returns patient → person.
func (c *clusters) assign(previous map[string]string) map[string]string {
	roots := c.roots()
	slices.SortFunc(roots, func(a, b int) int {
		if d := len(c.members[b]) - len(c.members[a]); d != 0 {
			return d
		}
		return cmp.Compare(c.smallest(a), c.smallest(b))
	})
	taken := map[string]bool{}
	for _, per := range previous {
		taken[per] = true
	}
	used := map[string]bool{}
	out := make(map[string]string, len(c.ids))
	for _, r := range roots {
		counts := map[string]int{}
		for _, m := range c.members[r] {
			if per, ok := previous[c.ids[m]]; ok {
				counts[per]++
			}
		}
		name, best := "", 0
		for per, n := range counts {
			if !used[per] && (n > best || n == best && per < name) {
				name, best = per, n
			}
		}
		if name == "" {
			base := "p-" + c.smallest(r)
			if len(base) > 60 {
				base = base[:60]
			}
			name = base
			for n := 2; taken[name] || used[name]; n++ {
				name = fmt.Sprintf("%s-%d", base, n)
			}
		}
		used[name] = true
		for _, m := range c.members[r] {
			out[c.ids[m]] = name
		}
	}
	return out
}

func (c *clusters) smallest(root int) string {
	s := ""
	for _, m := range c.members[root] {
		if s == "" || c.ids[m] < s {
			s = c.ids[m]
		}
	}
	return s
}
