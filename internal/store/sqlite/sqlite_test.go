package sqlite_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"

	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/sqlite"
	"github.com/hip-platform/hip/internal/store/storetest"
)

func open(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "data", "hip.db"), storetest.Options(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestMigrations(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hip.db")
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v %v", files, err)
	}
	audit, err := filepath.Glob("audit/*.sql")
	if err != nil || len(audit) == 0 {
		t.Fatalf("audit migrations: %v %v", audit, err)
	}
	files = append(files, audit...)
	for _, want := range []int{len(files), 0} {
		db, err := sqlite.Open(t.Context(), path, storetest.Options(t))
		if err != nil {
			t.Fatal(err)
		}
		if got := db.AppliedMigrations(); len(got) != want {
			t.Errorf("AppliedMigrations() = %v, want %d", got, want)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkPut(b *testing.B)     { storetest.BenchPut(b, open(b)) }
func BenchmarkTxBatch(b *testing.B) { storetest.BenchTxBatch(b, open(b)) }

// TestCheckpoints writes several times the writer's checkpoint threshold and
// checks that the log kept restarting (the checkpointer and the writer copied
// it into the database) and that Close leaves the database file standing alone.
func TestCheckpoints(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hip.db")
	db, err := sqlite.Open(t.Context(), path, storetest.Options(t))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("体检记录 checkup note ", 500) // ~12 KB a resource
	const txs, perTx = 60, 100                        // ~72 MB, over twice the threshold of 32 MiB
	var maxLog int64
	for i := range txs {
		err := db.Tx(t.Context(), func(tx store.Tx) error {
			for j := range perTx {
				res := fhir.Resource{"resourceType": "Basic", "id": fmt.Sprintf("b%d-%d", i, j), "code": map[string]any{"text": text}}
				if _, _, err := tx.Put(t.Context(), res, store.Precondition{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path + "-wal"); err == nil {
			maxLog = max(maxLog, fi.Size())
		}
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() < 50<<20 {
		t.Fatalf("database file: %v, %v: the log was not copied into it", fi, err)
	}
	if maxLog > 48<<20 {
		t.Errorf("the log grew to %d bytes: it did not restart", maxLog)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		t.Errorf("after Close the log holds %d bytes, want none", fi.Size())
	}
	db, err = sqlite.Open(t.Context(), path, storetest.Options(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Read(t.Context(), "Basic", fmt.Sprintf("b%d-%d", txs-1, perTx-1)); err != nil {
		t.Errorf("last resource after reopening: %v", err)
	}
}

// TestRowKeysMigration builds a database as migration 0002 left it (index rows
// keyed by a seq column) from the rows a current store writes, and checks that
// opening it renumbers them into exactly those rows, which search then finds.
func TestRowKeysMigration(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	current := filepath.Join(dir, "current.db")
	db, err := sqlite.Open(ctx, current, storetest.Options(t))
	if err != nil {
		t.Fatal(err)
	}
	var resources []fhir.Resource
	for _, js := range []string{
		`{"resourceType": "Patient", "id": "p1", "name": [{"text": "张三"}], "birthDate": "1980-02-03",
		  "identifier": [{"system": "urn:oid:2.16.156.10011.1.3", "value": "99010119800203001X"}]}`,
		`{"resourceType": "Observation", "id": "o1", "status": "final", "subject": {"reference": "Patient/p1"},
		  "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
		  "effectiveDateTime": "2025-03-04T08:00:00+08:00",
		  "component": [{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
		    "valueQuantity": {"value": 150, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}]}`,
	} {
		r, err := fhir.Parse([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		resources = append(resources, r)
	}
	err = db.Tx(ctx, func(tx store.Tx) error {
		for _, r := range resources {
			if _, _, err := tx.Put(ctx, r, store.Precondition{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	tables := map[string]string{
		"idx_string":    "value, exact",
		"idx_token":     "system, code, text, type_system, type_code",
		"idx_reference": "ref_type, ref_id, url, ident_system, ident_value",
		"idx_date":      "lo, hi",
		"idx_number":    "value, lo, hi",
		"idx_quantity":  "system, code, value, canon_code, canon_value",
		"idx_uri":       "uri",
	}
	old := filepath.Join(dir, "old.db")
	raw, err := sql.Open("sqlite", old)
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	script := []string{"CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied BIGINT NOT NULL)"}
	for _, name := range []string{"0001_resources.sql", "0002_search.sql"} {
		b, err := os.ReadFile(filepath.Join("migrations", name))
		if err != nil {
			t.Fatal(err)
		}
		script = append(script, string(b), "INSERT INTO schema_migrations VALUES ('"+name+"', 0)")
	}
	script = append(script, "ATTACH '"+current+"' AS c",
		"INSERT INTO resource_versions SELECT * FROM c.resource_versions",
		"INSERT INTO resources SELECT * FROM c.resources")
	for table, cols := range tables {
		script = append(script, fmt.Sprintf("INSERT INTO %s (seq, type, param, grp, %s) SELECT k >> 20, type, param, grp, %s FROM c.%[1]s ORDER BY k", table, cols, cols))
	}
	for _, q := range append(script, "DETACH c") {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%.80s: %v", q, err)
		}
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	migrated, err := sqlite.Open(ctx, old, storetest.Options(t))
	if err != nil {
		t.Fatal(err)
	}
	defer migrated.Close()
	if got := migrated.AppliedMigrations(); len(got) < 2 || !slices.Equal(got[:2], []string{"0003_row_keys.sql", "0004_type_seq.sql"}) {
		t.Fatalf("AppliedMigrations() = %v", got)
	}
	dump := func(path string) map[string][]string {
		c, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		out := map[string][]string{}
		for table, cols := range tables {
			rows, err := c.QueryContext(ctx, fmt.Sprintf("SELECT quote(k) || '|' || type || '|' || param || '|' || grp || '|' || concat_ws('|', %s) FROM %s ORDER BY k", cols, table))
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					t.Fatal(err)
				}
				out[table] = append(out[table], s)
			}
			rows.Close()
		}
		return out
	}
	want, got := dump(current), dump(old)
	for table := range tables {
		if !slices.Equal(got[table], want[table]) {
			t.Errorf("%s after the migration:\n%s\nwant:\n%s", table, strings.Join(got[table], "\n"), strings.Join(want[table], "\n"))
		}
	}
	if len(want["idx_quantity"]) == 0 || len(want["idx_string"]) == 0 {
		t.Fatalf("the fixture wrote no quantity or string rows: the comparison proves little: %v", want)
	}
	for _, q := range []struct{ typ, params, want string }{
		{"Patient", "name=张", "p1"},
		{"Observation", "patient=p1&code=http://loinc.org|85354-9&date=2025-03", "o1"},
		{"Observation", "component-code-value-quantity=http://loinc.org|8480-6$gt140", "o1"},
		{"Observation", "subject:Patient.identifier=99010119800203001X", "o1"},
	} {
		page, err := migrated.Search(ctx, storetest.Query(t, q.typ, q.params))
		if err != nil {
			t.Fatalf("%s?%s: %v", q.typ, q.params, err)
		}
		if len(page.Resources) != 1 || page.Resources[0].ID != q.want {
			t.Errorf("%s?%s = %v, want %s", q.typ, q.params, page.Resources, q.want)
		}
	}
}
