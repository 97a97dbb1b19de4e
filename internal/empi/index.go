package empi

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/hip-platform/hip/data"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// Pair statuses kept in the index.
const (
	StatusReview = "review" // uncertain: waiting for a person
	StatusLinked = "linked" // a person said: one resident
	StatusApart  = "apart"  // a person said: two residents
)

// modelState names the trained model in the index's state.
const modelState = "model"

// ErrNoModel is returned by the operations that score records when the
// index has no trained model yet (hip empi relink trains one).
var ErrNoModel = errors.New("empi: the index has no trained model; run hip empi relink")

// Index is the persistent master patient index over a store: each indexed
// Patient belongs to exactly one person, whose golden record is a FHIR
// Person resource linking every Patient of the resident. New and changed
// Patients are linked one at a time (Update) with the stored model; Relink
// trains the model on every Patient and links the whole index anew.
type Index struct {
	st  store.Store
	cc  *compiled
	log *slog.Logger

	mu    sync.RWMutex
	model *Model
}

// OpenIndex opens the index of st with the configuration cfg and the model
// stored with it, if any and if it fits cfg.
func OpenIndex(ctx context.Context, st store.Store, cfg Config, log *slog.Logger) (*Index, error) {
	cc, err := cfg.compile()
	if err != nil {
		return nil, fmt.Errorf("empi: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	ix := &Index{st: st, cc: cc, log: log}
	body, err := st.MPIState(ctx, modelState)
	switch {
	case isCode(err, fhir.NotFound):
	case err != nil:
		return nil, err
	default:
		var m Model
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("empi: stored model: %w", err)
		}
		if err := m.bind(cc.comps); err != nil {
			log.Warn("empi: the stored model does not fit the configuration; relink to train a new one", "err", err)
		} else {
			ix.model = &m
		}
	}
	return ix, nil
}

// Model returns the model the index scores with, nil before one is trained.
func (ix *Index) Model() *Model {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.model
}

func (ix *Index) setModel(m *Model) {
	ix.mu.Lock()
	ix.model = m
	ix.mu.Unlock()
}

// DefaultModelResidents is the size of the synthetic region the shipped
// default model was trained on (data/empi-model.json).
const DefaultModelResidents = 20000

// TrainModel trains a model on records without linking them.
func TrainModel(records []Record, cfg Config) (*Model, error) {
	cc, err := cfg.compile()
	if err != nil {
		return nil, fmt.Errorf("empi: %w", err)
	}
	recs, sources := prepareAll(records)
	if len(recs) < 2 {
		return nil, fmt.Errorf("empi: train on %d records: need more", len(recs))
	}
	m, _, _ := train(cc, recs, sources, false)
	return m, nil
}

// UseDefaultModel stores and scores with the shipped default model (trained
// on a synthetic region with the default configuration), so that Patients
// link from the first write; Relink trains on the region's own records
// later. It fails when the configuration's comparisons differ from the
// default ones: Train such an index instead.
func (ix *Index) UseDefaultModel(ctx context.Context) error {
	var m Model
	if err := json.Unmarshal([]byte(data.EMPIDefaultModel), &m); err != nil {
		return fmt.Errorf("empi: default model: %w", err)
	}
	if err := m.bind(ix.cc.comps); err != nil {
		return err
	}
	return ix.storeModel(ctx, &m)
}

func (ix *Index) storeModel(ctx context.Context, m *Model) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("empi: encode model: %w", err)
	}
	err = ix.st.UpdateMPI(ctx, func(_ store.Tx, w store.MPIWriter) error { return w.PutMPIState(ctx, modelState, body) })
	if err != nil {
		return err
	}
	ix.setModel(m)
	return nil
}

// Train trains a model on records (a region's own, or a synthetic sample
// before the region has enough of its own), stores it and scores with it
// from now on. Records already linked keep their persons until Relink.
func (ix *Index) Train(ctx context.Context, records []Record) error {
	m, err := TrainModel(records, ix.cc.Config)
	if err != nil {
		return err
	}
	return ix.storeModel(ctx, m)
}

// keys returns a prepared record's blocking keys under the configured rules.
func (ix *Index) keys(p *prepared) []store.MPIKey {
	var out []store.MPIKey
	for _, r := range ix.cc.rules {
		if h := keyHash(r.key(p)); h != 0 {
			out = append(out, store.MPIKey{Rule: ruleNumber(r.name), Hash: h})
		}
	}
	return out
}

// entry is an index entry decoded.
type entry struct {
	store.MPIRecord
	rec Record
	p   prepared
}

func decodeEntry(r store.MPIRecord) (entry, error) {
	e := entry{MPIRecord: r}
	if err := json.Unmarshal(r.Body, &e.rec); err != nil {
		return e, fmt.Errorf("empi: index entry of %s: %w", r.Patient, err)
	}
	e.p = prepare(&e.rec)
	return e, nil
}

func decodeEntries(rs []store.MPIRecord) ([]entry, error) {
	out := make([]entry, 0, len(rs))
	for _, r := range rs {
		e, err := decodeEntry(r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Outcome is what Update did with a Patient.
type Outcome struct {
	Patient   string
	Person    string
	NewPerson bool   // the Patient founded a person
	Moved     string // the person the Patient left, if it changed persons
	Links     []Pair // the records it was linked with (best first)
	Reviews   []Pair // the uncertain pairs it sent to review
}

// scored is a candidate with its score against the record being linked.
type scored struct {
	entry
	pair Pair
	pat  pattern
}

// Update links a new or changed Patient: it scores the Patient against the
// records sharing a blocking key and against those a person linked it with,
// joins the best person it links with (never two: the other persons it
// would link with go to review, so that no record merges two persons
// unseen), sends uncertain pairs to review, or founds a person. Decisions
// people made are respected. The golden records of the persons concerned are
// rebuilt in the same transaction.
func (ix *Index) Update(ctx context.Context, patient fhir.Resource) (*Outcome, error) {
	m := ix.Model()
	if m == nil {
		return nil, ErrNoModel
	}
	rec := FromPatient(patient)
	if rec.ID == "" {
		return nil, fmt.Errorf("empi: a Patient without id")
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("empi: encode record: %w", err)
	}
	p := prepare(&rec)
	keys := ix.keys(&p)
	var out *Outcome
	err = ix.st.UpdateMPI(ctx, func(tx store.Tx, w store.MPIWriter) error {
		out = &Outcome{Patient: rec.ID}
		prev, err := w.MPIRecords(ctx, []string{rec.ID})
		if err != nil {
			return err
		}
		prevPerson := ""
		if len(prev) == 1 {
			prevPerson = prev[0].Person
		}
		cands, decided, err := ix.candidates(ctx, w, rec.ID, keys)
		if err != nil {
			return err
		}
		ranked := ix.score(m, &p, rec.ID, cands, decided)
		target, err := ix.choosePerson(ctx, w, &p, ranked, decided)
		if err != nil {
			return err
		}
		var reviews []Pair
		for _, s := range ranked {
			switch {
			case target != "" && s.Person == target:
				// One person now: nothing to review between them.
				if s.pair.Decision == DecideLink {
					out.Links = append(out.Links, s.pair)
				}
			case s.pair.Decision != "" && decided[s.Patient] == "":
				// Uncertain, or a link to a second person: a person decides.
				s.pair.Decision = DecideReview
				reviews = append(reviews, s.pair)
			}
		}
		person := target
		if person == "" {
			alone := false
			if prevPerson != "" {
				members, err := w.MPIPerson(ctx, prevPerson)
				if err != nil {
					return err
				}
				alone = len(members) == 1 && members[0].Patient == rec.ID
			}
			if alone {
				person = prevPerson
			} else if person, err = ix.newPersonID(ctx, tx, w, rec.ID); err != nil {
				return err
			} else {
				out.NewPerson = true
			}
		}
		out.Person = person
		if prevPerson != "" && prevPerson != person {
			out.Moved = prevPerson
		}
		if err := w.DeleteMPIReviews(ctx, rec.ID); err != nil {
			return err
		}
		for _, r := range reviews {
			if err := putReview(ctx, w, r); err != nil {
				return err
			}
		}
		out.Reviews = reviews
		if err := w.PutMPIRecord(ctx, store.MPIRecord{Patient: rec.ID, Person: person, Body: body}, keys); err != nil {
			return err
		}
		return ix.rebuild(ctx, tx, w, person, out.Moved)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// candidates returns the entries sharing a key with the record being linked
// and those a person linked it with, and the decisions people made about
// its pairs (other patient → linked or apart).
func (ix *Index) candidates(ctx context.Context, r store.MPIReader, id string, keys []store.MPIKey) ([]entry, map[string]string, error) {
	found, err := r.MPICandidates(ctx, keys, ix.cc.MaxBlock)
	if err != nil {
		return nil, nil, err
	}
	var pairs []store.MPIPair
	if id != "" { // a record not stored ($match) has no decisions
		if pairs, err = r.MPIPairs(ctx, store.MPIPairQuery{Patient: id}); err != nil {
			return nil, nil, err
		}
	}
	decided := map[string]string{}
	var linked []string
	for _, pr := range pairs {
		if pr.Status == StatusReview {
			continue
		}
		other := pr.A
		if other == id {
			other = pr.B
		}
		decided[other] = pr.Status
		if pr.Status == StatusLinked && !slices.ContainsFunc(found, func(c store.MPIRecord) bool { return c.Patient == other }) {
			linked = append(linked, other)
		}
	}
	if len(linked) > 0 {
		more, err := r.MPIRecords(ctx, linked)
		if err != nil {
			return nil, nil, err
		}
		found = append(found, more...)
	}
	found = slices.DeleteFunc(found, func(c store.MPIRecord) bool { return c.Patient == id })
	entries, err := decodeEntries(found)
	return entries, decided, err
}

// score scores the candidates against p, best first, with people's
// decisions applied: linked pairs link, apart pairs do not pair at all.
func (ix *Index) score(m *Model, p *prepared, id string, cands []entry, decided map[string]string) []scored {
	out := make([]scored, 0, len(cands))
	for _, c := range cands {
		pat := m.compare(p, &c.p)
		w := m.weight(pat, p)
		prob := probability(w)
		d := ix.cc.classify(prob, pat)
		switch decided[c.Patient] {
		case StatusLinked:
			d = DecideLink
		case StatusApart:
			d = ""
		}
		a, b := id, c.Patient
		if b < a {
			a, b = b, a
		}
		out = append(out, scored{entry: c, pat: pat, pair: Pair{A: a, B: b, Probability: prob, Weight: w, Decision: d,
			Evidence: m.explain(pat, p, &c.p)}})
	}
	slices.SortStableFunc(out, func(x, y scored) int {
		if c := cmp.Compare(y.pair.Probability, x.pair.Probability); c != 0 {
			return c
		}
		return cmp.Compare(x.Patient, y.Patient)
	})
	return out
}

// choosePerson picks the person the record joins: the one with a pair a
// person linked, else the one with the best link, provided no member of it
// was decided apart from the record and its valid 身份证 numbers do not
// conflict with the record's. "" when there is none.
func (ix *Index) choosePerson(ctx context.Context, r store.MPIReader, p *prepared, ranked []scored, decided map[string]string) (string, error) {
	var order []string
	for _, forced := range []bool{true, false} {
		for _, s := range ranked {
			if s.pair.Decision == DecideLink && (decided[s.Patient] == StatusLinked) == forced && !slices.Contains(order, s.Person) {
				order = append(order, s.Person)
			}
		}
	}
	for i, person := range order {
		members, err := r.MPIPerson(ctx, person)
		if err != nil {
			return "", err
		}
		forced := false
		ok := true
		for _, mem := range members {
			switch decided[mem.Patient] {
			case StatusApart:
				ok = false
			case StatusLinked:
				forced = true
			}
		}
		if ok && !forced && p.idValid {
			es, err := decodeEntries(members)
			if err != nil {
				return "", err
			}
			for _, e := range es {
				if e.p.idValid && e.p.idNumber != p.idNumber {
					ok = false // the person has another valid 身份证 number
				}
			}
		}
		if ok || forced && i == 0 {
			return person, nil
		}
	}
	return "", nil
}

func putReview(ctx context.Context, w store.MPIWriter, pr Pair) error {
	if pr.B < pr.A {
		pr.A, pr.B = pr.B, pr.A
	}
	ev, err := json.Marshal(pr.Evidence)
	if err != nil {
		return fmt.Errorf("empi: encode evidence: %w", err)
	}
	return w.PutMPIPair(ctx, store.MPIPair{A: pr.A, B: pr.B, Status: StatusReview, Probability: pr.Probability, Evidence: ev})
}

// newPersonID names a new person after the Patient that founds it, so that
// relinking from scratch gives the same ids; a name in use gets a number.
func (ix *Index) newPersonID(ctx context.Context, tx store.Tx, w store.MPIWriter, patient string) (string, error) {
	base := "p-" + patient
	if len(base) > 60 {
		base = base[:60]
	}
	for n := 1; ; n++ {
		id := base
		if n > 1 {
			id = fmt.Sprintf("%s-%d", base, n)
		}
		members, err := w.MPIPerson(ctx, id)
		if err != nil {
			return "", err
		}
		if len(members) > 0 {
			continue
		}
		_, err = tx.Read(ctx, "Person", id)
		switch {
		case isCode(err, fhir.NotFound):
			return id, nil
		case err != nil && !isCode(err, fhir.Gone):
			return "", err
		}
	}
}

// Remove takes a deleted Patient out of the index; its person's golden
// record is rebuilt without it (deleted with its last record).
func (ix *Index) Remove(ctx context.Context, patient string) error {
	return ix.st.UpdateMPI(ctx, func(tx store.Tx, w store.MPIWriter) error {
		prev, err := w.MPIRecords(ctx, []string{patient})
		if err != nil || len(prev) == 0 {
			return err
		}
		if err := w.DeleteMPIRecord(ctx, patient); err != nil {
			return err
		}
		if err := w.DeleteMPIReviews(ctx, patient); err != nil {
			return err
		}
		return ix.rebuild(ctx, tx, w, prev[0].Person)
	})
}

func isCode(err error, code fhir.Code) bool {
	return err != nil && fhir.ErrorCode(err) == code
}
