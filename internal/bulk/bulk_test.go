package bulk

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/postgres/pgtest"
	"github.com/hip-platform/hip/internal/store/sqlite"
	"github.com/hip-platform/hip/internal/store/storetest"
)

var loadDefs = sync.OnceValues(spec.Load)

func backends() []struct {
	name string
	open func(t *testing.T) store.Store
} {
	return []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"sqlite", func(t *testing.T) store.Store {
			db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hip.db"), storetest.Options(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}},
		{"postgres", func(t *testing.T) store.Store { return pgtest.Open(t, pgtest.URL(t), storetest.Options(t)) }},
	}
}

func importer(t *testing.T, st store.Store) *Importer {
	defs, err := loadDefs()
	if err != nil {
		t.Fatal(err)
	}
	return &Importer{Store: st, Validator: validate.New(defs), Batch: 7}
}

func TestNDJSONRoundTrip(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			w, err := NewNDJSONWriter(dir)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				id := "p" + string(rune('a'+i))
				w.Write(fhir.Resource{"resourceType": "Patient", "id": id, "gender": "female"})
				w.Write(fhir.Resource{"resourceType": "Observation", "id": "o" + id, "status": "final",
					"code": map[string]any{"text": "体重"}, "subject": map[string]any{"reference": "Patient/" + id}})
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if w.Counts()["Patient"] != 20 || w.Counts()["Observation"] != 20 {
				t.Fatalf("counts %v", w.Counts())
			}
			// One bad line among good ones is refused with its place; the rest loads.
			f, _ := os.OpenFile(filepath.Join(dir, "Patient.ndjson"), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString(`{"resourceType":"Patient","id":"bad","birthDate":"1990-02-30"}` + "\n" + `{not json` + "\n")
			f.Close()
			st := b.open(t)
			sum, err := importer(t, st).Files(t.Context(), []string{dir})
			if err != nil {
				t.Fatal(err)
			}
			if sum.Resources != 40 || sum.Failed != 2 || sum.ByType["Patient"] != 20 {
				t.Fatalf("summary %+v", sum)
			}
			if !strings.Contains(strings.Join(sum.Errors, "\n"), "Patient.ndjson:21") || !strings.Contains(sum.String(), "Observation") {
				t.Errorf("errors %v", sum.Errors)
			}
			got, err := st.Read(t.Context(), "Observation", "opa")
			if err != nil || !strings.Contains(string(got.Body), `"reference":"Patient/pa"`) {
				t.Errorf("read back: %v %s", err, got.Body)
			}
		})
	}
}

func TestBundleFiles(t *testing.T) {
	files, _ := filepath.Glob("../../../shared/synthea/bundle-00*.json")
	if len(files) == 0 {
		t.Skip("../shared/synthea not found: test data of ../shared absent")
	}
	st := backends()[0].open(t)
	sum, err := importer(t, st).Files(t.Context(), files)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Failed != 0 || sum.Resources == 0 {
		t.Fatalf("summary %s", sum)
	}
	page, err := st.Search(t.Context(), &search.Query{Types: []string{"Encounter"}, Count: 1, Total: search.TotalNone})
	if err != nil || len(page.Resources) != 1 {
		t.Fatalf("search: %v", err)
	}
	if body := string(page.Resources[0].Body); strings.Contains(body, "urn:uuid:") {
		t.Errorf("unresolved urn:uuid in %s", body)
	}
}

func TestStreamStopsOnProducerError(t *testing.T) {
	st := backends()[0].open(t)
	_, err := importer(t, st).Stream(t.Context(), func(ctx context.Context, emit Emit) error {
		emit(fhir.Resource{"resourceType": "Patient", "id": "x"})
		return os.ErrDeadlineExceeded
	})
	if err == nil {
		t.Fatal("producer error not returned")
	}
}

// Bundles written by BundleWriter import back, and post to the server as
// transactions (they are valid transaction Bundles).
func TestBundleWriterRoundTrip(t *testing.T) {
	dir := t.TempDir()
	w, err := NewBundleWriter(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		w.Write(fhir.Resource{"resourceType": "Patient", "id": "bw" + string(rune('a'+i))})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "bundle-*.json"))
	if len(files) != 3 {
		t.Fatalf("%d bundle files, want 3", len(files))
	}
	defs, _ := loadDefs()
	v := validate.New(defs)
	for _, f := range files {
		data, _ := os.ReadFile(f)
		b, err := fhir.Parse(data)
		if err != nil || v.Resource(b) != nil {
			t.Errorf("%s is not a valid Bundle: %v %v", f, err, v.Resource(b))
		}
	}
	st := backends()[0].open(t)
	sum, err := importer(t, st).Files(t.Context(), []string{dir})
	if err != nil || sum.Resources != 7 || sum.Failed != 0 {
		t.Fatalf("import: %v %s", err, sum)
	}
	if _, err := st.Read(t.Context(), "Patient", "bwg"); err != nil {
		t.Errorf("read back: %v", err)
	}
}

// A bad file is reported as itself, and what was read before it is stored.
func TestImportReportsTheBadFile(t *testing.T) {
	dir := t.TempDir()
	w, _ := NewNDJSONWriter(dir)
	for i := range 18 {
		w.Write(fhir.Resource{"resourceType": "Organization", "id": "o" + string(rune('a'+i))})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "zz.json"), []byte(`{"resourceType":"Patient","id":"x1"}`), 0o644)
	st := backends()[0].open(t)
	sum, err := importer(t, st).Files(t.Context(), []string{dir})
	if err == nil || !strings.Contains(err.Error(), "zz.json is a Patient, not a Bundle") {
		t.Fatalf("error %v, want the bad file named", err)
	}
	if sum.Resources != 18 {
		t.Errorf("%d resources stored before the bad file, want 18", sum.Resources)
	}
}

// A new export into a folder leaves no file of an earlier, larger one.
func TestExportReplacesEarlierExport(t *testing.T) {
	dir := t.TempDir()
	w, _ := NewNDJSONWriter(dir)
	w.Write(fhir.Resource{"resourceType": "Patient", "id": "a"})
	w.Write(fhir.Resource{"resourceType": "Procedure", "id": "b"})
	w.Close()
	os.WriteFile(filepath.Join(dir, "manifest.json"), []byte("{}"), 0o644)
	w, _ = NewNDJSONWriter(dir)
	w.Write(fhir.Resource{"resourceType": "Patient", "id": "c"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 1 || filepath.Base(files[0]) != "Patient.ndjson" {
		t.Errorf("files after the second export: %v", files)
	}
}
