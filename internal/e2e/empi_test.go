package e2e

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
)

// TestEMPILinkFEBRL links FEBRL 4 through the command line as docs/empi.md
// shows, and checks the output file's format and accuracy.
func TestEMPILinkFEBRL(t *testing.T) {
	t.Parallel()
	febrl, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "empi", "febrl"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(febrl); err != nil {
		t.Skipf("FEBRL data not found: %v", err)
	}
	config, err := filepath.Abs(filepath.Join("..", "empi", "testdata", "febrl.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "pairs.csv")
	msg, err := runHip(t, "empi", "link", "--in", filepath.Join(febrl, "dataset4a.csv"), "--in", filepath.Join(febrl, "dataset4b.csv"),
		"--out", out, "--config", config, "--map",
		"rec_id=id,given_name=given,surname=family,street_number=address,address_1=address,address_2=address,suburb=division,postcode=postcode,date_of_birth=birth_date,soc_sec_id=id_number")
	if err != nil {
		t.Fatalf("hip empi link: %v\n%s", err, msg)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rows[0], ",") != "id1,id2,score,decision" {
		t.Fatalf("header %v", rows[0])
	}
	tp, fp := 0, 0
	for _, r := range rows[1:] {
		if r[3] != "link" && r[3] != "review" {
			t.Fatalf("decision %q", r[3])
		}
		if r[3] != "link" {
			continue
		}
		// rec-N-org (first file) against rec-N-dup-0 (second): only pairs across the files.
		a, b := strings.TrimSuffix(r[0], "-org"), strings.TrimSuffix(r[1], "-dup-0")
		if !strings.HasSuffix(r[0], "-org") || !strings.HasSuffix(r[1], "-dup-0") {
			t.Fatalf("a pair within one file, or out of order: %v", r)
		}
		if a == b {
			tp++
		} else {
			fp++
		}
	}
	precision, recall := float64(tp)/float64(tp+fp), float64(tp)/5000
	if f1 := 2 * precision * recall / (precision + recall); f1 < 0.999 || precision < 0.999 {
		t.Errorf("FEBRL 4 from the command line: precision %.5f recall %.5f F1 %.5f", precision, recall, f1)
	}
}

// TestEMPIReviewCommands imports Patients, relinks them and works the review
// queue from the command line, on each backend.
func TestEMPIReviewCommands(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, db string) {
		patient := func(id, name, sex, idNumber string) map[string]any {
			p := map[string]any{"resourceType": "Patient", "id": id,
				"name":      []any{map[string]any{"text": name, "family": name[:3], "given": []any{name[3:]}}},
				"gender":    sex,
				"birthDate": "1980-03-15",
				"telecom":   []any{map[string]any{"system": "phone", "value": "13800138000"}},
				"address":   []any{map[string]any{"use": "home", "text": "北京市朝阳区幸福里3号"}},
			}
			if idNumber != "" {
				p["identifier"] = []any{map[string]any{"system": fhir.SystemResidentID, "value": idNumber}}
			}
			return p
		}
		var lines []string
		for _, p := range []map[string]any{
			patient("zw-1", "张伟", "male", "110105198003151239"),
			patient("zw-2", "张伟", "male", "110105198003151239"),
			patient("zw-f", "张伟", "female", ""), // a contradiction: to review
		} {
			b, _ := json.Marshal(p)
			lines = append(lines, string(b))
		}
		file := filepath.Join(t.TempDir(), "patients.ndjson")
		if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if msg, err := runHip(t, "import", "--db", db, file); err != nil {
			t.Fatalf("import: %v\n%s", err, msg)
		}
		msg, err := runHip(t, "empi", "relink", "--db", db)
		if err != nil || !strings.Contains(msg, "relinked 3 records") || !strings.Contains(msg, "2 persons") {
			t.Fatalf("relink: %v\n%s", err, msg)
		}
		msg, err = runHip(t, "empi", "review", "--db", db)
		if err != nil || !strings.Contains(msg, "Patient/zw-f") || !strings.Contains(msg, "sex") {
			t.Fatalf("review: %v\n%s", err, msg)
		}
		other := "zw-1"
		if strings.Contains(msg, "Patient/zw-2 (") && !strings.Contains(msg, "Patient/zw-1 (") {
			other = "zw-2"
		}
		if msg, err := runHip(t, "empi", "decide", "--db", db, "--by", "reviewer", other, "zw-f", "apart"); err != nil {
			t.Fatalf("decide: %v\n%s", err, msg)
		}
		msg, err = runHip(t, "empi", "relink", "--db", db)
		if err != nil || !strings.Contains(msg, "2 persons") {
			t.Fatalf("relink after the decision: %v\n%s", err, msg)
		}
		if msg, err := runHip(t, "empi", "decide", "--db", db, "zw-1", "nobody", "link"); err == nil {
			t.Errorf("deciding on an unknown patient succeeded:\n%s", msg)
		}
	})
}
