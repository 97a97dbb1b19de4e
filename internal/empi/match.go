package empi

import (
	"context"

	"github.com/hip-platform/hip/internal/fhir"
)

// Match grades, as FHIR's match-grade extension names them.
const (
	GradeCertain  = "certain"  // the index would link the two
	GradeProbable = "probable" // the index would send the pair to review
	GradePossible = "possible" // some evidence for one person
)

// possibleThreshold is the match probability from which $match reports a
// record at all.
const possibleThreshold = 0.1

// Match is one indexed record found for a Patient.
type Match struct {
	Patient     string
	Person      string
	Probability float64
	Grade       string
	Evidence    []Evidence
}

// Match finds the indexed records that may be the Patient described (for
// Patient/$match): best first, at most count (all when 0), only certain
// ones when onlyCertain. The Patient need not be stored.
func (ix *Index) Match(ctx context.Context, patient fhir.Resource, count int, onlyCertain bool) ([]Match, error) {
	m := ix.Model()
	if m == nil {
		return nil, ErrNoModel
	}
	rec := FromPatient(patient)
	p := prepare(&rec)
	cands, decided, err := ix.candidates(ctx, ix.st, rec.ID, ix.keys(&p))
	if err != nil {
		return nil, err
	}
	var out []Match
	for _, s := range ix.score(m, &p, rec.ID, cands, decided) {
		grade := ""
		switch {
		case s.pair.Decision == DecideLink:
			grade = GradeCertain
		case s.pair.Decision == DecideReview:
			grade = GradeProbable
		case s.pair.Probability >= possibleThreshold && decided[s.Patient] != StatusApart:
			grade = GradePossible
		}
		if grade == "" || onlyCertain && grade != GradeCertain {
			continue
		}
		out = append(out, Match{Patient: s.Patient, Person: s.Person, Probability: s.pair.Probability, Grade: grade, Evidence: s.pair.Evidence})
		if count > 0 && len(out) == count {
			break
		}
	}
	return out, nil
}
