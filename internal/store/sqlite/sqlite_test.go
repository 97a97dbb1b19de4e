package sqlite_test

import (
	"fmt"
	"os"
	"path/filepath"
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
	for _, want := range []int{2, 0} {
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
