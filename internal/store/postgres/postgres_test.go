package postgres_test

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/postgres"
	"github.com/hip-platform/hip/internal/store/postgres/pgtest"
	"github.com/hip-platform/hip/internal/store/storetest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	base := pgtest.URL(t)
	storetest.Run(t, func(t *testing.T) store.Store { return pgtest.Open(t, base, storetest.Options(t)) })
}

// TestConcurrentOpen opens one fresh schema from several processes' worth of
// stores at once: the migration lock lets exactly one apply each migration.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	url := pgtest.Schema(t, pgtest.URL(t))
	dbs := make([]*postgres.DB, 4)
	errs := make([]error, len(dbs))
	var wg sync.WaitGroup
	for i := range dbs {
		wg.Go(func() { dbs[i], errs[i] = postgres.Open(t.Context(), url, storetest.Options(t)) })
	}
	wg.Wait()
	var applied []string
	for i, db := range dbs {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		applied = append(applied, db.AppliedMigrations()...)
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	}
	slices.Sort(applied) // each Open may have applied some
	want, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(want) == 0 {
		t.Fatalf("migrations: %v %v", want, err)
	}
	for i := range want {
		want[i] = filepath.Base(want[i])
	}
	if !slices.Equal(applied, want) {
		t.Errorf("applied %v in all, want %v once", applied, want)
	}
}

func BenchmarkPut(b *testing.B) {
	storetest.BenchPut(b, pgtest.Open(b, pgtest.URL(b), storetest.Options(b)))
}
func BenchmarkTxBatch(b *testing.B) {
	storetest.BenchTxBatch(b, pgtest.Open(b, pgtest.URL(b), storetest.Options(b)))
}
