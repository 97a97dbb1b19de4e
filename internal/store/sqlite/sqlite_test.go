package sqlite_test

import (
	"path/filepath"
	"testing"

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
