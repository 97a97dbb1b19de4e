// Package pgtest gives tests of any package an isolated PostgreSQL store: a
// fresh schema per test, dropped when the test ends, so tests run in parallel
// and repeatedly against one server.
package pgtest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/postgres"
)

// URL returns $HIP_TEST_POSTGRES_URL, skipping the test when it is not set.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("HIP_TEST_POSTGRES_URL")
	if u == "" {
		t.Skip("HIP_TEST_POSTGRES_URL not set: PostgreSQL tests skipped")
	}
	return u
}

// Schema creates schema t_<random> in the database at baseURL (a postgres://
// URL), drops it in t.Cleanup, and returns baseURL with search_path set to it.
func Schema(t testing.TB, baseURL string) string {
	t.Helper()
	ctx := context.Background()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatalf("pgtest: parse %q: %v", baseURL, err)
	}
	// Lower-case base32: a valid identifier that search_path needs no quotes for.
	schema := "t_" + strings.ToLower(rand.Text()[:16])
	admin, err := pgx.Connect(ctx, baseURL)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open opens a store in a fresh schema (see Schema), closed in t.Cleanup.
func Open(t testing.TB, baseURL string, opts store.Options) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), Schema(t, baseURL), opts)
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("pgtest: close: %v", err)
		}
	})
	return db
}
