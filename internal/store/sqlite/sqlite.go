// Package sqlite is the embedded resource store: the shared SQL engine
// (package sqlstore) over SQLite in WAL mode through modernc.org/sqlite.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

//go:embed audit/*.sql
var auditMigrations embed.FS

// DB is a resource store in one SQLite file.
type DB struct {
	*sqlstore.Store
}

var _ store.Store = (*DB)(nil)

// Open opens (creating it and its directory if needed) the database at path and
// applies pending migrations; AppliedMigrations tells which.
func Open(ctx context.Context, path string, opts store.Options) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Pragmas go in the DSN so that every pooled connection gets them. FULL
	// makes each commit durable in WAL mode (NORMAL may lose the last commits
	// on power loss). busy_timeout covers writers of other processes, e.g. a
	// concurrent `hip migrate`; within this process writers queue on the write
	// pool's single connection instead. Statement journals stay in memory
	// (temp_store): on disk they doubled the writes of a bulk load. The one
	// writer gets the larger page cache, since index inserts touch pages all
	// over a large database.
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(ON)", "busy_timeout(10000)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	// A checkpointer copies the log into the database beside the writer.
	writeQ := url.Values{"_pragma": append(slices.Clone(q["_pragma"]), "cache_size(-262144)",
		fmt.Sprintf("wal_autocheckpoint(%d)", writerCheckpointPages))}
	write, err := openPool(path, writeQ, "immediate", 1)
	if err != nil {
		return nil, err
	}
	ckptDB, err := openPool(path, url.Values{"_pragma": slices.Clone(q["_pragma"])}, "deferred", 1)
	if err != nil {
		return nil, errors.Join(err, write.Close())
	}
	q.Add("_pragma", "cache_size(-65536)")
	q.Add("_pragma", "query_only(ON)")
	// Readers map the first 2 GiB of the file (the most this build allows):
	// a page there is read in place, without the page cache, whose one
	// mutex all connections share (16 clients, a village's register of a
	// diagnosis: 371-396 → 474-476 searches a second). The cost SQLite
	// names: an I/O error on a mapped page is a crash, not an error.
	q.Add("_pragma", "mmap_size(2147418112)")
	// As many readers as cores: a search on a cached database is all CPU, and
	// more connections split the CPU and the page caches among more searches
	// at once, each taking longer (16 clients on 2 cores: 2 connections
	// answered 475-515 two-name searches a second, 3 or 4 385-420). A long
	// search holds one of them, as on PostgreSQL's pool.
	readConns := max(2, runtime.GOMAXPROCS(0))
	read, err := openPool(path, q, "deferred", readConns)
	if err != nil {
		return nil, errors.Join(err, write.Close(), ckptDB.Close())
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	readers := pool{read: read, readSlots: make(chan struct{}, readConns), write: write, ckpt: newCheckpointer(ckptDB, logger)}
	s, err := sqlstore.Open(ctx, readers, &sqlstore.Dialect{
		// BEGIN IMMEDIATE already holds the database's write lock: LockRows is empty.
		NextSeq: "SELECT coalesce(max(seq), 0) + 1 FROM resource_versions",
		// A sample of each index is enough to choose between them, and keeps
		// ANALYZE of a large database to seconds.
		Analyze:    []string{"PRAGMA analysis_limit = 2000", "ANALYZE"},
		Explain:    "EXPLAIN QUERY PLAN ",
		RowKeys:    true,
		BatchLocks: true,
		// OR FAIL needs no statement journal (it was a tenth of an ingest's writes).
		Insert:         "INSERT OR FAIL INTO",
		ExplainColumns: 4,
		Migrations:     migrations,
	}, opts)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	ap, err := auditPool(AuditPath(path))
	if err == nil {
		err = s.UseAuditPool(ctx, ap, auditMigrations, "audit")
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlite: open %s: %w", AuditPath(path), err), s.Close())
	}
	return &DB{s}, nil
}

// AuditPath is the file of the audit trail of the database at path, beside
// it: hip.db → hip-audit.db. Back up both.
func AuditPath(path string) string {
	return strings.TrimSuffix(path, filepath.Ext(path)) + "-audit" + filepath.Ext(path)
}

// auditPool opens the audit trail's database: one writer, whose group
// commits append a batch of records at a time, and two readers. SQLite's
// own checkpoints keep its log short: no reader competes with its writer.
func auditPool(path string) (sqlstore.Pool, error) {
	pragmas := []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)"}
	write, err := openPool(path, url.Values{"_pragma": pragmas}, "immediate", 1)
	if err != nil {
		return nil, err
	}
	read, err := openPool(path, url.Values{"_pragma": append(slices.Clone(pragmas), "query_only(ON)")}, "deferred", 2)
	if err != nil {
		return nil, errors.Join(err, write.Close())
	}
	return pool{read: read, readSlots: make(chan struct{}, 2), write: write}, nil
}

// openPool opens a connection pool on path. BEGIN IMMEDIATE (txlock) takes the
// write lock when a write transaction starts rather than upgrading a read lock
// midway, which SQLite cannot wait for and fails with SQLITE_BUSY.
func openPool(path string, q url.Values, txlock string, conns int) (*sql.DB, error) {
	q.Set("_txlock", txlock)
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, nil
}

// pool is the sqlstore.Pool of a WAL database: readers run concurrently on their
// own connections, writers queue for the one write connection, since SQLite
// admits one writer at a time anyway.
type pool struct {
	read, write *sql.DB
	// readSlots admits as many readers as read has connections, in the order
	// they came: database/sql hands a freed connection to a random waiter,
	// and under load some searches waited many times as long as others.
	readSlots chan struct{}
	ckpt      *checkpointer
}

// Read runs fn on one read connection.
func (p pool) Read(ctx context.Context, fn func(sqlstore.Conn) error) error {
	select {
	case p.readSlots <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("sqlite: waiting for a read connection: %w", ctx.Err())
	}
	defer func() { <-p.readSlots }()
	c, err := p.read.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: read connection: %w", err)
	}
	defer c.Close()
	return fn(conn{c})
}

func (p pool) Begin(ctx context.Context) (sqlstore.Tx, error) {
	tx, err := p.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	return &sqlTx{conn: conn{tx}, tx: tx, stmts: map[string]*sql.Stmt{}, ckpt: p.ckpt}, nil
}

// sqlTx adapts *sql.Tx to sqlstore.Tx. It keeps the statements it executes
// prepared until it ends: a bulk write runs the same few multi-row INSERTs
// many times, and parsing them again each time costs as much as running them.
type sqlTx struct {
	conn
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	ckpt  *checkpointer
}

func (t *sqlTx) Exec(ctx context.Context, query string, args ...any) error {
	st := t.stmts[query]
	if st == nil {
		var err error
		if st, err = t.tx.PrepareContext(ctx, query); err != nil {
			return err
		}
		t.stmts[query] = st
	}
	_, err := st.ExecContext(ctx, args...)
	return err
}

// Commit and Rollback also close the prepared statements.
func (t *sqlTx) Commit(context.Context) error {
	if err := t.tx.Commit(); err != nil {
		return err
	}
	if t.ckpt != nil {
		t.ckpt.poke()
	}
	return nil
}

func (t *sqlTx) Rollback(context.Context) error {
	if err := t.tx.Rollback(); !errors.Is(err, sql.ErrTxDone) {
		return err
	}
	return nil
}

// Close closes the connections, the checkpointer's last: it empties the log.
func (p pool) Close() error {
	err := errors.Join(p.read.Close(), p.write.Close())
	if p.ckpt != nil {
		err = errors.Join(err, p.ckpt.close())
	}
	return err
}

// conn adapts *sql.Conn and *sql.Tx to sqlstore.Conn.
type conn struct {
	c interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	}
}

func (c conn) Exec(ctx context.Context, query string, args ...any) error {
	_, err := c.c.ExecContext(ctx, query, args...)
	return err
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	return c.c.QueryContext(ctx, query, args...)
}
