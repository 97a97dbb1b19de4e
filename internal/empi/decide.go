package empi

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// ReviewItem is a pair waiting in the review queue, with the evidence the
// model saw field by field.
type ReviewItem struct {
	A, B        string // Patient ids
	PersonA     string
	PersonB     string
	Probability float64
	Evidence    []Evidence
}

// Reviews lists the pairs waiting for review, oldest first.
func (ix *Index) Reviews(ctx context.Context, limit int) ([]ReviewItem, error) {
	pairs, err := ix.st.MPIPairs(ctx, store.MPIPairQuery{Status: StatusReview, Limit: limit})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, p := range pairs {
		ids = append(ids, p.A, p.B)
	}
	recs, err := ix.st.MPIRecords(ctx, ids)
	if err != nil {
		return nil, err
	}
	person := map[string]string{}
	for _, r := range recs {
		person[r.Patient] = r.Person
	}
	out := make([]ReviewItem, 0, len(pairs))
	for _, p := range pairs {
		item := ReviewItem{A: p.A, B: p.B, PersonA: person[p.A], PersonB: person[p.B], Probability: p.Probability}
		if len(p.Evidence) > 0 {
			if err := json.Unmarshal(p.Evidence, &item.Evidence); err != nil {
				return nil, fmt.Errorf("empi: evidence of %s, %s: %w", p.A, p.B, err)
			}
		}
		out = append(out, item)
	}
	return out, nil
}

// Decide records a person's decision on a pair of Patients — one resident
// (link) or two (apart) — and applies it: linking joins their persons into
// one; apart separates them if they are one person now (b leaves for a
// person of its own). Later updates and relinks respect the decision.
func (ix *Index) Decide(ctx context.Context, a, b string, link bool, by string) error {
	if a == b {
		return fhir.Errorf(fhir.Invalid, "a pair needs two different patients")
	}
	return ix.st.UpdateMPI(ctx, func(tx store.Tx, w store.MPIWriter) error {
		recs, err := indexed(ctx, w, a, b)
		if err != nil {
			return err
		}
		status := StatusApart
		if link {
			status = StatusLinked
		}
		if err := putDecision(ctx, w, tx, a, b, status, by); err != nil {
			return err
		}
		pa, pb := recs[a].Person, recs[b].Person
		switch {
		case link && pa != pb:
			return ix.mergePersons(ctx, tx, w, pb, pa)
		case !link && pa == pb:
			return ix.moveOut(ctx, tx, w, pa, []string{b})
		}
		return ix.rebuild(ctx, tx, w, pa)
	})
}

// Merge joins person from into person into (both Person ids): every Patient
// of from moves to into, and the decision is kept as confirmed links, so
// that later runs respect it. from's golden record is retired.
func (ix *Index) Merge(ctx context.Context, from, into, by string) error {
	if from == into {
		return fhir.Errorf(fhir.Invalid, "cannot merge a person into itself")
	}
	return ix.st.UpdateMPI(ctx, func(tx store.Tx, w store.MPIWriter) error {
		src, err := w.MPIPerson(ctx, from)
		if err != nil {
			return err
		}
		dst, err := w.MPIPerson(ctx, into)
		if err != nil {
			return err
		}
		if len(src) == 0 || len(dst) == 0 {
			return fhir.Errorf(fhir.NotFound, "person %s or %s has no records in the index", from, into)
		}
		for _, s := range src {
			if err := putDecision(ctx, w, tx, dst[0].Patient, s.Patient, StatusLinked, by); err != nil {
				return err
			}
		}
		return ix.mergePersons(ctx, tx, w, from, into)
	})
}

// Unmerge moves patients out of person into one new person of their own,
// keeping the decision (apart from each remaining record) so that later
// runs respect it. It returns the new person's id.
func (ix *Index) Unmerge(ctx context.Context, person string, patients []string, by string) (string, error) {
	if len(patients) == 0 {
		return "", fhir.Errorf(fhir.Invalid, "name the patients to move out")
	}
	var created string
	err := ix.st.UpdateMPI(ctx, func(tx store.Tx, w store.MPIWriter) error {
		members, err := w.MPIPerson(ctx, person)
		if err != nil {
			return err
		}
		var stay []string
		for _, m := range members {
			if !slices.Contains(patients, m.Patient) {
				stay = append(stay, m.Patient)
			}
		}
		if len(stay) == len(members) {
			return fhir.Errorf(fhir.Invalid, "none of the patients belongs to person %s", person)
		}
		if len(stay) == 0 {
			return fhir.Errorf(fhir.Invalid, "every record of person %s would move: nothing to unmerge", person)
		}
		for _, moved := range patients {
			for _, s := range stay {
				if err := putDecision(ctx, w, tx, moved, s, StatusApart, by); err != nil {
					return err
				}
			}
		}
		if err := ix.moveOut(ctx, tx, w, person, patients); err != nil {
			return err
		}
		recs, err := w.MPIRecords(ctx, patients[:1])
		if err != nil || len(recs) == 0 {
			return err
		}
		created = recs[0].Person
		return nil
	})
	return created, err
}

// indexed returns the index entries of patients, each required.
func indexed(ctx context.Context, r store.MPIReader, patients ...string) (map[string]store.MPIRecord, error) {
	recs, err := r.MPIRecords(ctx, patients)
	if err != nil {
		return nil, err
	}
	out := map[string]store.MPIRecord{}
	for _, rec := range recs {
		out[rec.Patient] = rec
	}
	for _, p := range patients {
		if _, ok := out[p]; !ok {
			return nil, fhir.Errorf(fhir.NotFound, "Patient/%s is not in the master patient index", p)
		}
	}
	return out, nil
}

func putDecision(ctx context.Context, w store.MPIWriter, tx store.Tx, a, b, status, by string) error {
	if b < a {
		a, b = b, a
	}
	return w.PutMPIPair(ctx, store.MPIPair{A: a, B: b, Status: status, Evidence: []byte("[]"), DecidedBy: by, Decided: tx.Now()})
}

// mergePersons moves every record of from into into and retires from.
func (ix *Index) mergePersons(ctx context.Context, tx store.Tx, w store.MPIWriter, from, into string) error {
	members, err := w.MPIPerson(ctx, from)
	if err != nil {
		return err
	}
	if err := ix.setPerson(ctx, w, members, into); err != nil {
		return err
	}
	if err := ix.rebuild(ctx, tx, w, into); err != nil {
		return err
	}
	// The retired Person points at the one that absorbed it, for clients
	// that kept its id.
	retired := fhir.Resource{"resourceType": "Person", "id": from, "active": false,
		"link": []any{map[string]any{"target": map[string]any{"reference": "Person/" + into}, "assurance": "level4"}}}
	if _, _, err := tx.Put(ctx, retired, store.Precondition{}); err != nil {
		return fmt.Errorf("empi: retire person %s: %w", from, err)
	}
	return nil
}

// moveOut moves patients of person into one new person named after the
// first, and rebuilds both.
func (ix *Index) moveOut(ctx context.Context, tx store.Tx, w store.MPIWriter, person string, patients []string) error {
	recs, err := w.MPIRecords(ctx, patients)
	if err != nil {
		return err
	}
	recs = slices.DeleteFunc(recs, func(r store.MPIRecord) bool { return r.Person != person })
	if len(recs) == 0 {
		return nil
	}
	slices.SortFunc(recs, func(a, b store.MPIRecord) int {
		return slices.Index(patients, a.Patient) - slices.Index(patients, b.Patient)
	})
	created, err := ix.newPersonID(ctx, tx, w, recs[0].Patient)
	if err != nil {
		return err
	}
	if err := ix.setPerson(ctx, w, recs, created); err != nil {
		return err
	}
	return ix.rebuild(ctx, tx, w, person, created)
}

// setPerson assigns records to person, keeping their bodies and keys.
func (ix *Index) setPerson(ctx context.Context, w store.MPIWriter, recs []store.MPIRecord, person string) error {
	for _, r := range recs {
		e, err := decodeEntry(r)
		if err != nil {
			return err
		}
		r.Person = person
		if err := w.PutMPIRecord(ctx, r, ix.keys(&e.p)); err != nil {
			return err
		}
	}
	return nil
}
