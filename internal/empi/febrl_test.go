package empi

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// febrlMapping maps FEBRL's columns onto the index's (docs/empi.md).
const febrlMapping = "rec_id=id,given_name=given,surname=family,street_number=address,address_1=address," +
	"address_2=address,suburb=division,postcode=postcode,date_of_birth=birth_date,soc_sec_id=id_number"

func febrlDir(t testing.TB) string {
	dir := filepath.Join("..", "..", "..", "shared", "empi", "febrl")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("FEBRL data not found: %v", err)
	}
	return dir
}

func readFebrl(t testing.TB, name, source string) []Record {
	f, err := os.Open(filepath.Join(febrlDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, err := ParseMapping(febrlMapping)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := ReadCSV(f, source, m)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// truthPairs reads a ground-truth file of id pairs.
func truthPairs(t testing.TB, name string) map[[2]string]bool {
	f, err := os.Open(filepath.Join(febrlDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[[2]string]bool{}
	for _, r := range rows[1:] {
		out[pairKey(strings.TrimSpace(r[0]), strings.TrimSpace(r[1]))] = true
	}
	return out
}

func pairKey(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

// accuracy is pairwise precision and recall over the whole pair space: a
// true pair that blocking never proposed counts as missed.
type accuracy struct {
	threshold         float64
	tp, fp, fn        int
	precision, recall float64
	f1                float64
}

func score(pairs []Pair, truth map[[2]string]bool, threshold float64) accuracy {
	a := accuracy{threshold: threshold}
	for _, p := range pairs {
		if p.Probability < threshold {
			continue
		}
		if truth[pairKey(p.A, p.B)] {
			a.tp++
		} else {
			a.fp++
		}
	}
	a.fn = len(truth) - a.tp
	a.precision = float64(a.tp) / float64(max(a.tp+a.fp, 1))
	a.recall = float64(a.tp) / float64(len(truth))
	if a.precision+a.recall > 0 {
		a.f1 = 2 * a.precision * a.recall / (a.precision + a.recall)
	}
	return a
}

func (a accuracy) String() string {
	return fmt.Sprintf("threshold %.2f: TP %d FP %d FN %d precision %.5f recall %.5f F1 %.5f",
		a.threshold, a.tp, a.fp, a.fn, a.precision, a.recall, a.f1)
}

func TestFEBRL4(t *testing.T) {
	t.Parallel()
	recs := append(readFebrl(t, "dataset4a.csv", "a"), readFebrl(t, "dataset4b.csv", "b")...)
	res, err := Link(recs, Config{}, true)
	if err != nil {
		t.Fatal(err)
	}
	truth := truthPairs(t, "truth_pairs_febrl4.csv")
	t.Logf("FEBRL4: %d records, %d candidate pairs, %d skipped blocks\n%s", res.Stats.Records, res.Stats.Candidates, res.Stats.SkippedBlocks, res.Model)
	link := score(res.Pairs, truth, DefaultLinkThreshold)
	review := score(res.Pairs, truth, DefaultReviewThreshold)
	t.Logf("FEBRL4 link   %v", link)
	t.Logf("FEBRL4 review %v (%d pairs to review)", review, res.Stats.Reviews)
	logMisses(t, res.Pairs, truth, recs, DefaultReviewThreshold)
}

func TestFEBRL3(t *testing.T) {
	t.Parallel()
	recs := readFebrl(t, "dataset3.csv", "")
	res, err := Link(recs, Config{}, false)
	if err != nil {
		t.Fatal(err)
	}
	truth := truthPairs(t, "truth_pairs_febrl3.csv")
	t.Logf("FEBRL3: %d records, %d candidate pairs\n%s", res.Stats.Records, res.Stats.Candidates, res.Model)
	t.Logf("FEBRL3 link   %v", score(res.Pairs, truth, DefaultLinkThreshold))
	t.Logf("FEBRL3 review %v (%d pairs to review)", score(res.Pairs, truth, DefaultReviewThreshold), res.Stats.Reviews)
}

func logMisses(t *testing.T, pairs []Pair, truth map[[2]string]bool, recs []Record, threshold float64) {
	byID := map[string]Record{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	found := map[[2]string]bool{}
	n := 0
	for _, p := range pairs {
		k := pairKey(p.A, p.B)
		if p.Probability >= threshold {
			found[k] = true
		}
		if !truth[k] && p.Probability >= threshold && n < 10 {
			n++
			t.Logf("false %.4f\n  %+v\n  %+v", p.Probability, byID[p.A], byID[p.B])
		}
	}
	n = 0
	for k := range truth {
		if !found[k] && n < 10 {
			n++
			t.Logf("missed\n  %+v\n  %+v", byID[k[0]], byID[k[1]])
		}
	}
}
