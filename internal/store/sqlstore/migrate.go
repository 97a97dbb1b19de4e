package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"time"
)

// migrate applies the migrations dir/*.sql of fsys that schema_migrations of
// the database behind p does not list, each in its own transaction together
// with its schema_migrations row, and returns the names it applied.
func (s *Store) migrate(ctx context.Context, p Pool, fsys fs.FS, dir string) ([]string, error) {
	paths, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, fmt.Errorf("store: list migrations: %w", err)
	}
	slices.Sort(paths)
	err = s.migrationTx(ctx, p, func(c Conn) error {
		return c.Exec(ctx, "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied BIGINT NOT NULL)")
	})
	if err != nil {
		return nil, fmt.Errorf("store: create schema_migrations: %w", err)
	}
	var applied []string
	for _, file := range paths {
		name := path.Base(file)
		script, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return applied, fmt.Errorf("store: migration %s: %w", name, err)
		}
		done := false
		err = s.migrationTx(ctx, p, func(c Conn) error {
			var n int
			err := queryConn(ctx, c, s.d.rebind("SELECT count(*) FROM schema_migrations WHERE name = ?"), []any{name},
				func(rows Rows) error { return rows.Scan(&n) })
			if err != nil || n > 0 {
				return err
			}
			if err := c.Exec(ctx, string(script)); err != nil {
				return err
			}
			done = true
			return c.Exec(ctx, s.d.rebind("INSERT INTO schema_migrations (name, applied) VALUES (?, ?)"), name, time.Now().UnixMilli())
		})
		if err != nil {
			return applied, fmt.Errorf("store: migration %s: %w", name, err)
		}
		if done {
			applied = append(applied, name)
		}
	}
	return applied, nil
}

// migrationTx runs fn in a transaction on p that holds the dialect's
// migration lock.
func (s *Store) migrationTx(ctx context.Context, p Pool, fn func(Conn) error) error {
	return inTx(ctx, p, func(c Conn) error {
		if s.d.MigrationLock != "" {
			if err := c.Exec(ctx, s.d.MigrationLock); err != nil {
				return err
			}
		}
		return fn(c)
	})
}
