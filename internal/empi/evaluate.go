package empi

import "fmt"

// Accuracy is pairwise precision and recall against known true pairs, over
// the whole pair space: a true pair that blocking never proposed counts as
// missed.
type Accuracy struct {
	TruePositives  int
	FalsePositives int
	FalseNegatives int
	Precision      float64
	Recall         float64
	F1             float64
}

// Truth is a set of true pairs of record ids, each with the smaller id first.
type Truth map[[2]string]bool

// Add records a true pair.
func (t Truth) Add(a, b string) { t[PairKey(a, b)] = true }

// PairKey orders two ids.
func PairKey(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

// Evaluate scores the pairs counted as predicted matches: links alone, or
// links and reviews together (withReview, the reach of the review queue).
func Evaluate(pairs []Pair, truth Truth, withReview bool) Accuracy {
	var a Accuracy
	for _, p := range pairs {
		if p.Decision != DecideLink && !withReview {
			continue
		}
		if truth[PairKey(p.A, p.B)] {
			a.TruePositives++
		} else {
			a.FalsePositives++
		}
	}
	a.FalseNegatives = len(truth) - a.TruePositives
	if n := a.TruePositives + a.FalsePositives; n > 0 {
		a.Precision = float64(a.TruePositives) / float64(n)
	}
	if len(truth) > 0 {
		a.Recall = float64(a.TruePositives) / float64(len(truth))
	}
	if a.Precision+a.Recall > 0 {
		a.F1 = 2 * a.Precision * a.Recall / (a.Precision + a.Recall)
	}
	return a
}

func (a Accuracy) String() string {
	return fmt.Sprintf("TP %d FP %d FN %d precision %.5f recall %.5f F1 %.5f",
		a.TruePositives, a.FalsePositives, a.FalseNegatives, a.Precision, a.Recall, a.F1)
}
