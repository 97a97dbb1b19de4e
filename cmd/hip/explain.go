package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store/sqlstore"
)

// explainer is a store that can show the plan of a search (both backends).
type explainer interface {
	Explain(ctx context.Context, q *search.Query) (string, []any, []string, error)
}

var _ explainer = (*sqlstore.Store)(nil)

// explain prints the SQL and the database's plan of searches given as
// Type?params (or ?params for a system search), as docs/search.md shows them.
func explain(args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.flags(fs, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("explain: give one or more searches, e.g. 'Observation?patient=p1&code=718-7'")
	}
	ctx := context.Background()
	p, err := openPlatform(ctx, cfg.DB, nil)
	if err != nil {
		return err
	}
	defer p.Close()
	e, ok := p.Store.(explainer)
	if !ok {
		return fmt.Errorf("explain: the %T store cannot explain searches", p.Store)
	}
	parser := search.NewParser(p.Defs, search.NormalizeString).WithParams(p.Indexer.Param)
	for _, arg := range fs.Args() {
		typ, query, _ := strings.Cut(arg, "?")
		values, err := url.ParseQuery(query)
		if err != nil {
			return fmt.Errorf("explain %s: %w", arg, err)
		}
		var types []string
		if typ != "" {
			types = []string{typ}
		}
		q, _, err := parser.Parse(types, values, true)
		if err != nil {
			return fmt.Errorf("explain %s: %w", arg, err)
		}
		sql, sqlArgs, plan, err := e.Explain(ctx, q)
		if err != nil {
			return fmt.Errorf("explain %s: %w", arg, err)
		}
		fmt.Fprintf(stdout, "%s\n\n    %s\n    -- %v\n\n", arg, sql, sqlArgs)
		for _, line := range plan {
			fmt.Fprintf(stdout, "    %s\n", line)
		}
		fmt.Fprintln(stdout)
	}
	return nil
}
