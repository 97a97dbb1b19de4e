// Package postgres is the production resource store: the shared SQL engine
// (package sqlstore) over PostgreSQL 15+ through pgx v5.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a resource store in one PostgreSQL database (the schema named by the
// URL's search_path, public by default).
type DB struct {
	*sqlstore.Store
}

var _ store.Store = (*DB)(nil)

// seqBlock is resource_seq's INCREMENT (migrations/0001_resources.sql): each
// nextval reserves that many numbers for one transaction.
const seqBlock = 64

// migrationLockKey is the advisory lock that serialises migrations of
// concurrent Opens ("hipmigr" in ASCII).
const migrationLockKey = 0x6869706d69677200

// Open connects to the database at url (postgres://…; libpq parameters such as
// sslmode and search_path go in the query) and applies pending migrations;
// AppliedMigrations tells which.
func Open(ctx context.Context, url string, opts store.Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	p, err := newPool(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s, err := sqlstore.Open(ctx, p, &sqlstore.Dialect{
		Numbered: true,
		// Read committed: FOR UPDATE waits for a concurrent writer of the row and
		// then sees its committed version, so version numbers and If-Match are
		// checked against the latest head. A missing row locks nothing; two
		// creates of one id collide on resource_versions' key and are retried.
		LockRows: " FOR UPDATE",
		// One nextval per seqBlock writes instead of one per write.
		NextSeq:       "SELECT nextval('resource_seq')",
		SeqBlock:      seqBlock,
		MigrationLock: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLockKey),
		// hashtext maps the key to the lock space; a collision only serialises
		// two unrelated transactions.
		KeyLock:        "SELECT pg_advisory_xact_lock(hashtext(?))",
		Retryable:      retryable,
		Analyze:        []string{"ANALYZE"},
		Estimate:       "EXPLAIN (FORMAT JSON) ",
		Explain:        "EXPLAIN (COSTS OFF) ",
		ExplainColumns: 1,
		Migrations:     migrations,
	}, opts)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("postgres: open %s@%s/%s: %w", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	return &DB{s}, nil
}

// retryable: serialisation failure, deadlock, and a unique violation, which only
// the engine's inserts can raise and only when another transaction created the
// same version first.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40001", "40P01", "23505":
		return true
	}
	return false
}
