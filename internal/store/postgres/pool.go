package postgres

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/hip-platform/hip/internal/store/sqlstore"
)

// pool is a bounded pool of pgx connections implementing sqlstore.Pool. (pgxpool
// would do, but it needs github.com/jackc/puddle/v2, which go.sum does not
// list yet; the engine needs no more than this.) Each connection caches its
// prepared statements, so repeated queries skip parsing and planning.
type pool struct {
	cfg   *pgx.ConnConfig
	slots chan struct{}  // one token per open or opening connection
	idle  chan *pgx.Conn // connections ready for use

	mu     sync.Mutex
	closed bool
}

func newPool(cfg *pgx.ConnConfig) *pool {
	n := max(4, runtime.GOMAXPROCS(0))
	return &pool{cfg: cfg, slots: make(chan struct{}, n), idle: make(chan *pgx.Conn, n)}
}

// acquire returns an idle connection or opens one, waiting while all are in use.
func (p *pool) acquire(ctx context.Context) (*pgx.Conn, error) {
	select {
	case p.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	for {
		select {
		case c := <-p.idle:
			if c.IsClosed() {
				continue
			}
			return c, nil
		default:
		}
		c, err := pgx.ConnectConfig(ctx, p.cfg)
		if err != nil {
			<-p.slots
			return nil, fmt.Errorf("postgres: connect: %w", err)
		}
		return c, nil
	}
}

// release returns c to the pool, or closes it when it is broken, still in a
// transaction, or the pool is closed.
func (p *pool) release(c *pgx.Conn) {
	p.mu.Lock()
	keep := !p.closed && !c.IsClosed() && c.PgConn().TxStatus() == 'I'
	if keep {
		p.idle <- c // never blocks: idle holds at most one per slot
	}
	p.mu.Unlock()
	if !keep {
		_ = c.Close(context.Background()) // the connection is discarded either way
	}
	<-p.slots
}

func (p *pool) Read(ctx context.Context, fn func(sqlstore.Conn) error) error {
	c, err := p.acquire(ctx)
	if err != nil {
		return err
	}
	defer p.release(c)
	return fn(conn{c})
}

func (p *pool) Begin(ctx context.Context) (sqlstore.Tx, error) {
	c, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	tx, err := c.Begin(ctx)
	if err != nil {
		p.release(c)
		return nil, err
	}
	return &pgTx{conn: conn{tx}, tx: tx, release: func() { p.release(c) }}, nil
}

// pgTx adapts pgx.Tx to sqlstore.Tx and returns its connection to the pool
// when it ends.
type pgTx struct {
	conn
	tx      pgx.Tx
	release func()
}

func (t *pgTx) Commit(ctx context.Context) error {
	defer t.release()
	return t.tx.Commit(ctx)
}

func (t *pgTx) Rollback(ctx context.Context) error {
	defer t.release()
	if err := t.tx.Rollback(ctx); !errors.Is(err, pgx.ErrTxClosed) {
		return err
	}
	return nil
}

// Close closes the idle connections; connections in use close when released.
func (p *pool) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	var errs []error
	for {
		select {
		case c := <-p.idle:
			errs = append(errs, c.Close(context.Background()))
		default:
			return errors.Join(errs...)
		}
	}
}

// conn adapts *pgx.Conn and pgx.Tx to sqlstore.Conn.
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
