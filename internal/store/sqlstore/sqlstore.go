// Package sqlstore is the SQL engine behind both resource store backends. It
// implements store.Store once over a small connection abstraction (Pool, Conn,
// Rows); the sqlite and postgres packages supply a Pool, a Dialect for the few
// places where the engines differ, and their numbered migrations.
package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// Conn runs statements on one connection, inside or outside a transaction.
type Conn interface {
	Exec(ctx context.Context, query string, args ...any) error
	Query(ctx context.Context, query string, args ...any) (Rows, error)
}

// Rows is a result set; *sql.Rows satisfies it.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// Copier is a Tx that can bulk-load rows faster than INSERT (PostgreSQL's
// COPY). Rows are loaded as they are: no conflict handling.
type Copier interface {
	CopyFrom(ctx context.Context, table string, cols []string, rows [][]any) error
}

// Pool hands out connections of one database.
type Pool interface {
	// Read runs fn on a connection outside any transaction.
	Read(ctx context.Context, fn func(Conn) error) error
	// Begin starts a write transaction on a connection that the transaction
	// holds until it ends.
	Begin(ctx context.Context) (Tx, error)
	Close() error
}

// Tx is a transaction begun by Pool.Begin.
type Tx interface {
	Conn
	Commit(ctx context.Context) error
	// Rollback ends the transaction; it reports no error when the transaction
	// has already ended (a cancelled context rolls back on its own).
	Rollback(ctx context.Context) error
}

// Dialect is what differs between SQL engines. Queries are written with ?
// placeholders; everything else (upsert, IN lists, LIMIT/OFFSET) is common SQL.
type Dialect struct {
	// Numbered rewrites ? placeholders as $1, $2, … (PostgreSQL).
	Numbered bool
	// LockRows ends the SELECT of head rows that a write transaction reads
	// before it writes them, to lock them until commit ("FOR UPDATE"); empty
	// where the transaction holds the database's write lock already (SQLite).
	LockRows string
	// BatchLocks makes Tx.Lock read heads ahead, many in one statement (SQLite,
	// where a statement costs more than the lookup). Without it heads are read
	// one by one as they are written: PostgreSQL, with statistics that lag a
	// growing table, answered type = ? AND id IN (…) through the index of the
	// type's instants, reading every head of the type.
	BatchLocks bool
	// NextSeq returns the first of SeqBlock consecutive numbers of the
	// store-wide write order reserved for one transaction. SeqBlock 0 means
	// unlimited: writers are serialised (SQLite), so NextSeq can be max(seq)+1
	// and no other writer can take the numbers that follow.
	NextSeq  string
	SeqBlock int64
	// KeyLock, if set, takes a lock held until commit on the key given as its one
	// parameter (Tx.Serialize); empty where writers are serialised anyway (SQLite).
	KeyLock string
	// MigrationLock, if set, is run first in every migration transaction so that
	// concurrent Opens apply each migration once.
	MigrationLock string
	// Retryable reports whether a transaction that failed with err may succeed
	// when run again (serialisation failures, deadlocks, a concurrent create of
	// the same id). Nil: never.
	Retryable func(err error) bool
	// Estimate, if set, prefixes a query to get its plan as JSON whose first
	// node's "Plan Rows" estimates its rows (_total=estimate); without it an
	// estimate is an exact count.
	Estimate string
	// Analyze are the statements that refresh the planner's statistics.
	Analyze []string
	// Explain prefixes a query to get its plan, one line per row whose last
	// of ExplainColumns columns is the text.
	Explain        string
	ExplainColumns int
	// RowKeys: the index tables have no seq column but a key k = seq <<
	// rowKeyBits | n, their rowid (SQLite). A resource's rows are a range of
	// k, and value indexes, whose entries end in the rowid, yield seqs.
	RowKeys bool
	// Insert begins the multi-row INSERTs of a write: where the engine would
	// keep a statement journal to undo a failed statement alone (SQLite), one
	// that needs none, since a failed write rolls back its whole transaction.
	// Empty: INSERT INTO.
	Insert string
	// Migrations holds the engine's numbered migrations/*.sql files, applied in
	// name order.
	Migrations fs.FS
}

// Store implements store.Store over a Pool.
type Store struct {
	reader
	pool Pool
	d    *Dialect
	ix   store.Indexer
	// indexSlots bounds the background evaluations of search parameters of
	// all transactions to the cores there are.
	indexSlots chan struct{}
	log        *slog.Logger
	applied    []string
	// audit is the pool of the audit trail: the main pool, or a database of
	// its own (UseAuditPool).
	audit Pool
}

var _ store.Store = (*Store)(nil)

// maxAttempts bounds how often Tx runs fn when the dialect reports a retryable
// failure; beyond it the failure is reported as a conflict.
const maxAttempts = 5

// Open migrates the database behind pool and returns the store. The pool is
// closed by Store.Close, or by Open when it fails.
func Open(ctx context.Context, pool Pool, d *Dialect, opts store.Options) (*Store, error) {
	if opts.Indexer == nil {
		return nil, errors.Join(errors.New("store: open: an Indexer is required"), pool.Close())
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Store{pool: pool, d: d, ix: opts.Indexer, log: opts.Logger, indexSlots: make(chan struct{}, runtime.GOMAXPROCS(0))}
	s.reader = reader{d: d, run: pool.Read}
	if ps, ok := opts.Indexer.(interface {
		Param(typ, code string) *spec.SearchParam
	}); ok {
		s.reader.params = ps.Param
	}
	s.audit = pool
	applied, err := s.migrate(ctx, pool, d.Migrations, "migrations")
	if err != nil {
		return nil, errors.Join(err, pool.Close())
	}
	s.applied = applied
	return s, nil
}

// AppliedMigrations names the migrations Open applied, in order; empty when the
// schema was already current.
func (s *Store) AppliedMigrations() []string { return s.applied }

// UseAuditPool keeps the audit trail in the database behind p, migrated with
// dir/*.sql of fsys, instead of the main one. The store closes p.
func (s *Store) UseAuditPool(ctx context.Context, p Pool, fsys fs.FS, dir string) error {
	applied, err := s.migrate(ctx, p, fsys, dir)
	if err != nil {
		return errors.Join(fmt.Errorf("store: audit database: %w", err), p.Close())
	}
	for _, name := range applied {
		s.applied = append(s.applied, "audit/"+name)
	}
	s.audit = p
	return nil
}

// Close closes the pools.
func (s *Store) Close() error {
	err := s.pool.Close()
	if s.audit != s.pool {
		err = errors.Join(err, s.audit.Close())
	}
	return err
}

// Ping runs a trivial query.
func (s *Store) Ping(ctx context.Context) error {
	err := s.pool.Read(ctx, func(c Conn) error { return c.Exec(ctx, "SELECT 1") })
	if err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Analyze runs the dialect's Analyze statements in a transaction.
func (s *Store) Analyze(ctx context.Context) error {
	err := s.inTx(ctx, func(c Conn) error {
		for _, stmt := range s.d.Analyze {
			if err := c.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: analyze: %w", err)
	}
	return nil
}

// Tx runs fn in one transaction. When the dialect reports a retryable database
// failure (only PostgreSQL does: a deadlock, or two transactions creating the
// same id), the whole transaction is rolled back and fn runs again with a fresh
// clock, so fn must have no effects outside tx.
func (s *Store) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	for attempt := 1; ; attempt++ {
		var t *tx
		err := s.inTx(ctx, func(c Conn) error {
			t = newTx(s, c)
			if err := fn(t); err != nil {
				return err
			}
			return t.flush(ctx)
		})
		if err == nil {
			return nil
		}
		dbErr := err
		if t != nil && t.dbErr != nil {
			dbErr = t.dbErr
		}
		if s.d.Retryable == nil || !s.d.Retryable(dbErr) {
			return err
		}
		if attempt == maxAttempts {
			return &fhir.Error{Code: fhir.Conflict, Message: "concurrent writes to the same resources; try again", Err: err}
		}
		// Jitter so that the transactions that collided do not collide again.
		delay := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// inTx runs fn in a transaction and commits it when fn returns nil. It returns
// fn's error unchanged.
func (s *Store) inTx(ctx context.Context, fn func(Conn) error) error {
	return inTx(ctx, s.pool, fn)
}

// inTx runs fn in a transaction on p; see Store.inTx.
func inTx(ctx context.Context, p Pool, fn func(Conn) error) error {
	tx, err := p.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		if rbErr := tx.Rollback(ctx); rbErr != nil {
			return errors.Join(err, fmt.Errorf("store: rollback: %w", rbErr))
		}
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// rebind rewrites ? placeholders for the dialect.
func (d *Dialect) rebind(q string) string {
	if !d.Numbered {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

func (d *Dialect) insert() string {
	if d.Insert != "" {
		return d.Insert
	}
	return "INSERT INTO"
}
