package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hip-platform/hip/internal/store/sqlstore"
)

// pool adapts pgxpool to sqlstore.Pool. pgx caches prepared statements per
// connection, so repeated queries skip parsing and planning.
type pool struct{ p *pgxpool.Pool }

func newPool(ctx context.Context, cfg *pgxpool.Config) (pool, error) {
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return pool{}, fmt.Errorf("postgres: connect: %w", err)
	}
	return pool{p}, nil
}

// Read runs fn on one connection, so that its queries see one session.
func (p pool) Read(ctx context.Context, fn func(sqlstore.Conn) error) error {
	c, err := p.p.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: acquire: %w", err)
	}
	defer c.Release()
	return fn(conn{c})
}

func (p pool) Begin(ctx context.Context) (sqlstore.Tx, error) {
	tx, err := p.p.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &pgTx{conn: conn{tx}, tx: tx}, nil
}

func (p pool) Close() error {
	p.p.Close()
	return nil
}

// pgTx adapts pgx.Tx to sqlstore.Tx; ending it returns its connection to the pool.
type pgTx struct {
	conn
	tx pgx.Tx
}

func (t *pgTx) Commit(ctx context.Context) error { return t.tx.Commit(ctx) }

// CopyFrom loads rows with COPY, several times faster than multi-row INSERTs
// for the search index rows of a bulk write.
func (t *pgTx) CopyFrom(ctx context.Context, table string, cols []string, rows [][]any) error {
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
	return err
}

func (t *pgTx) Rollback(ctx context.Context) error {
	if err := t.tx.Rollback(ctx); !errors.Is(err, pgx.ErrTxClosed) {
		return err
	}
	return nil
}

// conn adapts pgx connections and transactions to sqlstore.Conn.
type conn struct {
	c interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	}
}

func (c conn) Exec(ctx context.Context, query string, args ...any) error {
	_, err := c.c.Exec(ctx, query, args...)
	return err
}

func (c conn) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	r, err := c.c.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

// rows adapts pgx.Rows, whose Close reports nothing, to sqlstore.Rows.
type rows struct{ pgx.Rows }

func (r rows) Close() error {
	r.Rows.Close()
	return r.Rows.Err()
}
