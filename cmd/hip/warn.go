package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/hip-platform/hip/internal/bulk"
	"github.com/hip-platform/hip/internal/earlywarning"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
)

const warnUsage = `usage: hip warn [--db PATH|postgres://… [--from DAY] [--to DAY] | --ndjson DIR] [--counts COUNTS.csv]
                [--config CONFIG.json] [--out EVENTS.json]
       hip warn --print-config

Multi-source early warning (多点触发, docs/surveillance.md): scans every
count series per source, syndrome and township with its source's detector
and writes the events the configured rules raise, each with the signals
that made it.
  --db DSN       the platform's database: the diagnosis source, from the
                 syndromic Conditions with onset from --from (default: a
                 year before --to) to --to (exclusive; default: tomorrow)
  --ndjson DIR   Patient.ndjson and Condition.ndjson (a bulk export or hip
                 synth's output) instead of the database
  --counts FILE  date,source,syndrome,area,count rows (pharmacy sales,
                 school absenteeism, lab positives or diagnoses from feeds)
  --config FILE  detectors and rules (hip warn --print-config prints the
                 default one to start from)`

// warnCmd runs `hip warn`.
func warnCmd(args []string, stdout, stderr io.Writer) error {
	var db, fromDay, toDay, ndjson, countsPath, configPath, out string
	var printConfig bool
	err := parseFlags("warn", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&db, "db", "", "database (SQLite path or postgres:// URL) to read the diagnoses from")
		fs.StringVar(&fromDay, "from", "", "first day of the diagnoses read from --db, YYYY-MM-DD")
		fs.StringVar(&toDay, "to", "", "day after the last of the diagnoses read from --db, YYYY-MM-DD")
		fs.StringVar(&ndjson, "ndjson", "", "directory with Patient.ndjson and Condition.ndjson")
		fs.StringVar(&countsPath, "counts", "", "count series CSV")
		fs.StringVar(&configPath, "config", "", "detectors and rules JSON (default: the evaluated configuration)")
		fs.StringVar(&out, "out", "-", "events JSON to write (- for standard output)")
		fs.BoolVar(&printConfig, "print-config", false, "print the default configuration and exit")
		fs.Usage = func() { fmt.Fprintln(fs.Output(), warnUsage) }
	})
	if err != nil {
		return err
	}
	if printConfig {
		return earlywarning.WriteConfig(stdout, earlywarning.DefaultConfig())
	}
	switch {
	case db == "" && ndjson == "" && countsPath == "":
		return errors.New("warn: --db, --ndjson or --counts is required\n" + warnUsage)
	case db != "" && ndjson != "":
		return errors.New("warn: --db and --ndjson both give the diagnoses: use one")
	case db == "" && (fromDay != "" || toDay != ""):
		return errors.New("warn: --from and --to go with --db")
	}
	cfg := earlywarning.DefaultConfig()
	if configPath != "" {
		if err := readWith(configPath, func(r io.Reader) (err error) { cfg, err = earlywarning.ReadConfig(r); return }); err != nil {
			return fmt.Errorf("warn: %w", err)
		}
	}
	start := time.Now()
	var diagnoses, feeds *earlywarning.Counts
	switch {
	case ndjson != "":
		if diagnoses, err = ndjsonDiagnoses(ndjson); err != nil {
			return fmt.Errorf("warn: %w", err)
		}
	case db != "":
		if diagnoses, err = storeDiagnoses(db, fromDay, toDay); err != nil {
			return fmt.Errorf("warn: %w", err)
		}
	}
	if countsPath != "" {
		if err := readWith(countsPath, func(r io.Reader) (err error) { feeds, err = earlywarning.ReadCounts(r); return }); err != nil {
			return fmt.Errorf("warn: %w", err)
		}
	}
	counts := earlywarning.Merge(diagnoses, feeds)
	signals, err := earlywarning.Detect(counts, cfg.Detectors)
	if err != nil {
		return fmt.Errorf("warn: %w", err)
	}
	var events []earlywarning.Event
	for _, r := range cfg.Rules {
		events = append(events, earlywarning.Fuse(signals, r)...)
	}
	if err := writeTo(out, stdout, func(w io.Writer) error { return earlywarning.WriteEvents(w, events) }); err != nil {
		return fmt.Errorf("warn: %s: %w", out, err)
	}
	fmt.Fprintf(stderr, "%d series over %d days from %s: %d signals, %d events, in %s\n", len(counts.Keys()), counts.Days,
		counts.Start.Format(time.DateOnly), len(signals), len(events), time.Since(start).Round(time.Millisecond))
	return nil
}

// ndjsonDiagnoses counts the syndromic diagnoses of dir's Patients and
// Conditions per home township and day, over the days they span.
func ndjsonDiagnoses(dir string) (*earlywarning.Counts, error) {
	reg := earlywarning.NewRegister()
	for _, typ := range []string{"Patient", "Condition"} {
		if err := readNDJSON(filepath.Join(dir, typ+".ndjson"), reg.Add); err != nil {
			return nil, err
		}
	}
	visits, unplaced := reg.Visits()
	if len(visits) == 0 {
		return nil, fmt.Errorf("%s: no syndromic diagnoses of residents with a home township (%d without one)", dir, unplaced)
	}
	first, last := visits[0].Time, visits[len(visits)-1].Time
	return countDiagnoses(reg, visits, first, int(last.Sub(first).Hours()/24)+2), nil
}

// storeDiagnoses counts the syndromic diagnoses in the database from the
// day from to the day to (exclusive).
func storeDiagnoses(dsn, fromDay, toDay string) (*earlywarning.Counts, error) {
	today, err := earlywarning.ParseDay(time.Now().In(time.FixedZone("CST", 8*3600)).Format(time.DateOnly))
	if err != nil {
		return nil, err
	}
	to := today.AddDate(0, 0, 1)
	if toDay != "" {
		t, err := earlywarning.ParseDay(toDay)
		if err != nil {
			return nil, fmt.Errorf("--to %q: want YYYY-MM-DD", toDay)
		}
		to = t
	}
	from := to.AddDate(-1, 0, 0)
	if fromDay != "" {
		t, err := earlywarning.ParseDay(fromDay)
		if err != nil {
			return nil, fmt.Errorf("--from %q: want YYYY-MM-DD", fromDay)
		}
		from = t
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("--from %s is not before --to %s", from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := openPlatform(ctx, dsn, nil)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	parser := search.NewParser(p.Defs, search.NormalizeString).WithParams(p.Indexer.Param)
	reg := earlywarning.NewRegister()
	if _, err := reg.Load(ctx, p.Store, parser, from, to); err != nil {
		return nil, err
	}
	visits, _ := reg.Visits()
	return countDiagnoses(reg, visits, from, int(to.Sub(from).Hours()/24+0.5)), nil
}

// countDiagnoses makes the diagnosis series of every township of the
// register's patients over days days from first.
func countDiagnoses(reg *earlywarning.Register, visits []earlywarning.Visit, first time.Time, days int) *earlywarning.Counts {
	counts := earlywarning.NewCounts(first, days)
	earlywarning.CountDiagnoses(counts, visits, slices.Sorted(maps.Keys(reg.Populations(first))))
	return counts
}

// readNDJSON calls add with each resource of an NDJSON file.
func readNDJSON(path string, add func(fhir.Resource) error) error {
	return bulk.EachNDJSONLine(path, func(line int, raw []byte) error {
		r, err := fhir.Parse(raw)
		if err == nil {
			err = add(r)
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		return nil
	})
}

// readWith opens path for read; its errors name the file.
func readWith(path string, read func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := read(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeTo writes to path, or to stdout when path is "-".
func writeTo(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		return write(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
