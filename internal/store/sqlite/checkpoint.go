package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
)

// checkpointer copies the write-ahead log into the database after commits, on
// a connection of its own, with PASSIVE checkpoints: they never wait for the
// writer or readers, so the copying overlaps the next transactions instead of
// holding the write lock. The log restarts from its beginning only at a write
// that finds all of it copied, which a checkpoint running beside a busy writer
// rarely achieves; so the writer still checkpoints itself when the log passes
// writerCheckpointPages, and then has only the last frames left to copy.
type checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	wake chan struct{}
	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
}

func newCheckpointer(db *sql.DB, log *slog.Logger) *checkpointer {
	c := &checkpointer{db: db, log: log, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	c.done.Go(c.run)
	return c
}

// poke tells the checkpointer that a transaction committed; it never blocks.
func (c *checkpointer) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	for {
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
		if err := c.checkpoint("PASSIVE"); err != nil {
			c.log.Warn("sqlite checkpoint failed", "err", err)
		}
	}
}

// checkpoint runs one checkpoint of the given mode.
func (c *checkpointer) checkpoint(mode string) error {
	if _, err := c.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")"); err != nil {
		return fmt.Errorf("sqlite: checkpoint: %w", err)
	}
	return nil
}

// close stops the checkpointer and, the other connections being closed,
// copies and truncates the whole log so that the database file stands alone.
// That last checkpoint is a courtesy: another process may still be reading
// (it then fails busy), and the log is as safe as the database.
func (c *checkpointer) close() error {
	var err error
	c.once.Do(func() {
		close(c.stop)
		c.done.Wait()
		if cerr := c.checkpoint("TRUNCATE"); cerr != nil {
			c.log.Warn("sqlite: log left beside the database at close", "err", cerr)
		}
		err = c.db.Close()
	})
	return err
}

// writerCheckpointPages is the writer's wal_autocheckpoint: SQLite's default is
// 1,000 pages, at which the writer did all the copying itself.
const writerCheckpointPages = 8192
