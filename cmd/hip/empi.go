package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/bench"
	"github.com/hip-platform/hip/internal/empi"
)

const empiUsage = `usage:
  hip empi link    --in FILE [--in FILE] --out FILE [--config FILE] [--map from=to,…]   link CSV files
  hip empi relink  [--db …] [--config FILE]              re-score the whole index and write the persons
  hip empi review  [--db …] [--limit N]                  list the pairs waiting for review, with evidence
  hip empi decide  [--db …] [--by NAME] A B link|apart   decide a pair of Patients
  hip empi merge   [--db …] [--by NAME] FROM INTO        merge person FROM into person INTO
  hip empi unmerge [--db …] [--by NAME] PERSON PATIENT…  move Patients out of a person into a new one`

func empiCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "link":
			return empiLink(args[1:], stdout, stderr)
		case "relink", "review", "decide", "merge", "unmerge":
			return empiIndexCmd(args[0], args[1:], stdout, stderr)
		}
	}
	return errors.New(empiUsage)
}

// readEMPIConfig reads a configuration file; "" gives the built-in one.
func readEMPIConfig(path string) (empi.Config, error) {
	if path == "" {
		return empi.Config{}, nil
	}
	return empi.ReadConfig(path)
}

// openMPI opens the platform's master patient index. A new index scores
// with the shipped default model (trained on a synthetic region) so that
// Patients link from the first write; `hip empi relink` trains on the
// region's own records. A configuration whose comparisons differ from the
// default trains its first model on a synthetic sample instead.
func openMPI(ctx context.Context, configPath string, p *platform, log *slog.Logger) (*empi.Index, error) {
	cfg, err := readEMPIConfig(configPath)
	if err != nil {
		return nil, err
	}
	ix, err := empi.OpenIndex(ctx, p.Store, cfg, log)
	if err != nil || ix.Model() != nil {
		return ix, err
	}
	if err := ix.UseDefaultModel(ctx); err == nil {
		return ix, nil
	}
	recs, _, err := empi.SyntheticRecords(ctx, 1, empi.DefaultModelResidents)
	if err != nil {
		return nil, err
	}
	if err := ix.Train(ctx, recs); err != nil {
		return nil, err
	}
	if log != nil {
		log.Info("empi: trained a first model for the configuration on a synthetic sample; run hip empi relink once the region's records are loaded")
	}
	return ix, nil
}

func empiIndexCmd(sub string, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	var configPath, by string
	limit := 50
	rest, err := parseFlagsArgs("empi "+sub, args, stderr, func(fs *flag.FlagSet) {
		cfg.flags(fs, false)
		fs.StringVar(&configPath, "config", env("EMPI_CONFIG"), "master patient index configuration, JSON (HIP_EMPI_CONFIG); default: built-in")
		fs.StringVar(&by, "by", defaultString(os.Getenv("USER"), "hip"), "who decides, for the record")
		fs.IntVar(&limit, "limit", 50, "pairs to list (review)")
	})
	if err != nil {
		return err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	ctx := context.Background()
	p, err := openPlatform(ctx, cfg.DB, log)
	if err != nil {
		return err
	}
	defer p.Close()
	ecfg, err := readEMPIConfig(configPath)
	if err != nil {
		return err
	}
	ix, err := empi.OpenIndex(ctx, p.Store, ecfg, log)
	if err != nil {
		return err
	}
	switch sub {
	case "relink":
		start := time.Now()
		stats, err := ix.Relink(ctx, func(phase string, done int) { fmt.Fprintf(stderr, "\r%-8s %d", phase, done) })
		fmt.Fprintln(stderr)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "relinked %d records in %s: %d candidate pairs, %d persons (%d golden records written, %d retired), %d pairs to review\n",
			stats.Records, time.Since(start).Round(time.Millisecond), stats.Candidates, stats.Persons, stats.Rebuilt, stats.Retired, stats.Reviews)
		return nil
	case "review":
		items, err := ix.Reviews(ctx, limit)
		if err != nil {
			return err
		}
		printReviews(stdout, items)
		return nil
	case "decide":
		if len(rest) != 3 || rest[2] != "link" && rest[2] != "apart" {
			return errors.New("usage: hip empi decide [--by NAME] PATIENT_A PATIENT_B link|apart")
		}
		if err := ix.Decide(ctx, rest[0], rest[1], rest[2] == "link", by); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Patient/%s and Patient/%s: %s\n", rest[0], rest[1], rest[2])
		return nil
	case "merge":
		if len(rest) != 2 {
			return errors.New("usage: hip empi merge [--by NAME] FROM_PERSON INTO_PERSON")
		}
		if err := ix.Merge(ctx, rest[0], rest[1], by); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Person/%s merged into Person/%s\n", rest[0], rest[1])
		return nil
	case "unmerge":
		if len(rest) < 2 {
			return errors.New("usage: hip empi unmerge [--by NAME] PERSON PATIENT…")
		}
		created, err := ix.Unmerge(ctx, rest[0], rest[1:], by)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "moved %s into Person/%s\n", strings.Join(rest[1:], ", "), created)
		return nil
	}
	return errors.New(empiUsage)
}

// printReviews writes the review queue for a person at a terminal: each
// pair with its probability and the evidence, comparison by comparison.
func printReviews(w io.Writer, items []empi.ReviewItem) {
	if len(items) == 0 {
		fmt.Fprintln(w, "待审核 no pairs waiting for review")
		return
	}
	for _, it := range items {
		fmt.Fprintf(w, "Patient/%s (Person/%s)  ↔  Patient/%s (Person/%s)   probability %.4f\n", it.A, it.PersonA, it.B, it.PersonB, it.Probability)
		for _, e := range it.Evidence {
			level := e.Level
			if level == "" {
				level = "(missing)"
			}
			fmt.Fprintf(w, "    %-12s %-26s %+6.1f   %s | %s\n", e.Comparison, level, e.Weight, e.A, e.B)
		}
		fmt.Fprintf(w, "    → hip empi decide %s %s link|apart\n\n", it.A, it.B)
	}
}

func empiLink(args []string, stdout, stderr io.Writer) error {
	var ins stringList
	var out, configPath, mapping string
	err := parseFlags("empi link", args, stderr, func(fs *flag.FlagSet) {
		fs.Var(&ins, "in", "CSV file of patient records with a header (repeat for a second file: only pairs across files)")
		fs.StringVar(&out, "out", "", "CSV file of pairs to write: id1,id2,score,decision (- for standard output)")
		fs.StringVar(&configPath, "config", "", "linkage configuration (JSON, docs/empi.md); default: built-in")
		fs.StringVar(&mapping, "map", "", "column renames from=to,… onto "+strings.Join(empi.Columns, ", "))
	})
	if err != nil {
		return err
	}
	if len(ins) == 0 || out == "" {
		return errors.New("empi link: --in and --out are required")
	}
	cfg, err := readEMPIConfig(configPath)
	if err != nil {
		return err
	}
	m, err := empi.ParseMapping(mapping)
	if err != nil {
		return err
	}
	start := time.Now()
	var recs []empi.Record
	for i, path := range ins {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("empi link: %w", err)
		}
		rs, err := empi.ReadCSV(f, "", m)
		f.Close()
		if err != nil {
			return fmt.Errorf("empi link: %s: %w", filepath.Base(path), err)
		}
		if len(ins) > 1 {
			// Files, not source columns, decide which pairs cross.
			for k := range rs {
				rs[k].Source = strconv.Itoa(i)
			}
		}
		recs = append(recs, rs...)
	}
	res, err := empi.Link(recs, cfg, len(ins) > 1)
	if err != nil {
		return err
	}
	w := stdout
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return fmt.Errorf("empi link: %w", err)
		}
		defer f.Close()
		w = f
	}
	if err := empi.WritePairs(w, res.Pairs); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d records, %d candidate pairs, %d links, %d to review, in %s\n%s",
		res.Stats.Records, res.Stats.Candidates, res.Stats.Links, res.Stats.Reviews, time.Since(start).Round(time.Millisecond), res.Model)
	return nil
}

func benchEMPI(args []string, stdout, stderr io.Writer) error {
	var bc bench.EMPIConfig
	var configPath, cpuProfile, db, clients string
	var load bool
	var requests, queries int
	err := parseFlags("bench empi", args, stderr, func(fs *flag.FlagSet) {
		fs.Uint64Var(&bc.Synth.Seed, "seed", 1, "random seed of the synthetic region")
		fs.IntVar(&bc.Synth.Residents, "residents", 100_000, "residents; about 8% are registered again at 1–3 other facilities")
		fs.StringVar(&configPath, "config", "", "linkage configuration (JSON); default: built-in")
		fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
		fs.StringVar(&db, "db", "", "measure Patient/$match over this database's index (SQLite path or postgres:// URL) instead of batch linkage")
		fs.BoolVar(&load, "load", false, "with --db: import and relink the registrations into the empty database first")
		fs.StringVar(&clients, "clients", "1,16", "with --db: concurrent clients, a comma list")
		fs.IntVar(&requests, "requests", 2000, "with --db: measured requests per client count")
		fs.IntVar(&queries, "queries", 1000, "with --db: distinct Patients asked about")
	})
	if err != nil {
		return err
	}
	if bc.Link, err = readEMPIConfig(configPath); err != nil {
		return err
	}
	stop, err := profile(cpuProfile)
	if err != nil {
		return err
	}
	defer stop()
	ctx := context.Background()
	if db == "" {
		rep, err := bench.EMPI(ctx, bc)
		if err != nil {
			return err
		}
		rep.Print(stdout)
		return nil
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := openPlatform(ctx, db, log)
	if err != nil {
		return err
	}
	defer p.Close()
	ix, err := openMPI(ctx, configPath, p, log)
	if err != nil {
		return err
	}
	mc := bench.EMPIMatchConfig{Store: p.Store, Index: ix, Importer: newImporter(p, stderr), Synth: bc.Synth, Load: load,
		Requests: requests, Queries: queries, Progress: stderr}
	for _, s := range splitList(clients) {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("--clients: %q is not a positive number", s)
		}
		mc.Clients = append(mc.Clients, n)
	}
	cfg := Config{DB: db, EMPIConfig: configPath, MaxBodyBytes: 16 << 20}
	mc.Serve = func() (http.Handler, error) {
		srv, err := newServer(ctx, &cfg, p, nil, log)
		if err != nil {
			return nil, err
		}
		return srv.Handler(), nil
	}
	rep, err := bench.EMPIMatch(ctx, mc)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, rep.Markdown())
	return nil
}
