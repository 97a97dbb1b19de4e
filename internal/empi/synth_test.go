package empi

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/synth"
)

// registrations generates a synthetic region's Patient records with the
// duplicate registrations scenario, as index records, with the ground truth.
func registrations(t testing.TB, residents int) ([]Record, *synth.Manifest) {
	recs, m, err := SyntheticRecords(context.Background(), 7, residents)
	if err != nil {
		t.Fatal(err)
	}
	return recs, m
}

// variantTruth lists the true pairs of a manifest and, per record, its
// variants ("exact" for an unchanged copy).
func variantTruth(m *synth.Manifest) (Truth, map[string][]string) {
	truth := Truth{}
	for _, p := range m.Truth.DuplicatePairs() {
		truth.Add(p[0], p[1])
	}
	variants := map[string][]string{}
	for _, set := range m.Truth.Duplicates {
		for _, r := range set.Records {
			variants[r.Patient] = r.Variants
			if len(r.Variants) == 0 {
				variants[r.Patient] = []string{"exact"}
			}
		}
	}
	return truth, variants
}

// variantReport is recall and precision per variant: over the true pairs
// with a record carrying the variant, and over the linked pairs with one.
type variantReport struct {
	variant          string
	truePairs, found int
	linked, wrong    int
}

func reportByVariant(pairs []Pair, truth Truth, variants map[string][]string) []variantReport {
	by := map[string]*variantReport{}
	get := func(v string) *variantReport {
		if by[v] == nil {
			by[v] = &variantReport{variant: v}
		}
		return by[v]
	}
	pairVariants := func(k [2]string) []string {
		var out []string
		for _, id := range k {
			for _, v := range variants[id] {
				if !slices.Contains(out, v) {
					out = append(out, v)
				}
			}
		}
		return out
	}
	for k := range truth {
		for _, v := range pairVariants(k) {
			get(v).truePairs++
		}
	}
	for _, p := range pairs {
		if p.Decision != DecideLink {
			continue
		}
		k := PairKey(p.A, p.B)
		for _, v := range pairVariants(k) {
			r := get(v)
			r.linked++
			if truth[k] {
				r.found++
			} else {
				r.wrong++
			}
		}
	}
	out := make([]variantReport, 0, len(by))
	for _, r := range by {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].variant < out[j].variant })
	return out
}

func (r variantReport) recall() float64 { return float64(r.found) / float64(max(r.truePairs, 1)) }

func (r variantReport) precision() float64 {
	return float64(r.linked-r.wrong) / float64(max(r.linked, 1))
}

func (r variantReport) String() string {
	return fmt.Sprintf("%-16s true pairs %5d  recall %.4f  precision %.4f", r.variant, r.truePairs, r.recall(), r.precision())
}

// TestSyntheticRegion links a synthetic region's registrations (duplicates
// with Chinese-specific variants) with the default configuration and holds
// the goals: precision ≥ 0.999 and recall ≥ 0.98, overall and per
// variant.
func TestSyntheticRegion(t *testing.T) {
	t.Parallel()
	residents := 20000
	if v, err := strconv.Atoi(os.Getenv("HIP_EMPI_TEST_RESIDENTS")); err == nil && v > 0 {
		residents = v // larger regions by hand
	}
	recs, m := registrations(t, residents)
	res, err := Link(recs, Config{}, false)
	if err != nil {
		t.Fatal(err)
	}
	truth, variants := variantTruth(m)
	link, review := Evaluate(res.Pairs, truth, false), Evaluate(res.Pairs, truth, true)
	var lines []string
	for _, r := range reportByVariant(res.Pairs, truth, variants) {
		lines = append(lines, r.String())
		if r.recall() < 0.98 || r.precision() < 0.999 {
			t.Errorf("variant %s: recall %.4f precision %.4f, want ≥ 0.98 and ≥ 0.999", r.variant, r.recall(), r.precision())
		}
	}
	t.Logf("synthetic region: %d records, %d true pairs, %d candidates\n  link   %v\n  review %v (%d pairs to review)\n%s\nmodel:\n%s",
		len(recs), len(truth), res.Stats.Candidates, link, review, res.Stats.Reviews, strings.Join(lines, "\n"), res.Model)
	if link.Precision < 0.999 || link.Recall < 0.98 {
		t.Errorf("link: precision %.5f recall %.5f, want ≥ 0.999 and ≥ 0.98", link.Precision, link.Recall)
		logMisses(t, res.Pairs, truth, recs)
	}
}
