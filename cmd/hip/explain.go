package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
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
	runs := fs.Int("runs", 0, "also run each search this many times and print its matches and times (the first run warms the cache)")
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
		if *runs > 0 {
			if err := timeSearch(ctx, p.Store, q, *runs, stdout); err != nil {
				return fmt.Errorf("explain %s: %w", arg, err)
			}
		}
	}
	return nil
}

// timeSearch runs q n times and prints the first page's size and the
// fastest, median and slowest run.
func timeSearch(ctx context.Context, st store.Store, q *search.Query, n int, stdout io.Writer) error {
	times := make([]time.Duration, n)
	matches := 0
	for i := range times {
		start := time.Now()
		page, err := st.Search(ctx, q)
		if err != nil {
			return err
		}
		times[i] = time.Since(start)
		matches = len(page.Resources)
	}
	slices.Sort(times)
	fmt.Fprintf(stdout, "    -- %d runs: %d on the first page; fastest %v, median %v, slowest %v\n\n",
		n, matches, times[0], times[n/2], times[n-1])
	return nil
}
