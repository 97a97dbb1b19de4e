package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hip-platform/hip/internal/audit"
	"github.com/hip-platform/hip/internal/auth"
	"github.com/hip-platform/hip/internal/bench"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/server"
	"github.com/hip-platform/hip/internal/surveillance"
	"github.com/hip-platform/hip/internal/synth"
)

func benchCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "ingest":
			return benchIngest(args[1:], stdout, stderr)
		case "synth":
			return benchSynth(args[1:], stdout, stderr)
		case "search":
			return benchSearch(args[1:], stdout, stderr)
		case "empi":
			return benchEMPI(args[1:], stdout, stderr)
		case "detect":
			return benchDetect(args[1:], stdout, stderr)
		case "evaluate":
			return benchEvaluate(args[1:], stdout, stderr)
		case "warning":
			return benchWarning(args[1:], stdout, stderr)
		}
	}
	return errors.New("usage: hip bench ingest|synth|search|empi|detect|evaluate|warning [flags]")
}

// profile starts a CPU profile into path (none when empty); stop ends it.
func profile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func benchIngest(args []string, stdout, stderr io.Writer) error {
	var cfg Config
	var bc bench.IngestConfig
	var url, cpuProfile, mode string
	var secure, cnProfiles bool
	err := parseFlags("bench ingest", args, stderr, func(fs *flag.FlagSet) {
		// Never the platform's own database by default: the run loads hundreds of
		// thousands of resources.
		fs.StringVar(&cfg.DB, "db", "", "database of the in-process server: a SQLite path or postgres:// URL (default: a new temporary SQLite file)")
		synthFlags(fs, &bc.Synth, 0)
		fs.StringVar(&url, "url", "", "FHIR base URL of a running server; empty: start one in-process on --db")
		fs.StringVar(&bc.BundlesDir, "bundles", "", "repeat the transaction bundles (*.json) in this directory, e.g. ../shared/synthea; empty: post a generated region")
		fs.IntVar(&bc.BundleSize, "bundle-size", 500, "entries per generated transaction bundle")
		fs.IntVar(&bc.Resources, "resources", 200000, "post until at least this many resources are in")
		fs.IntVar(&bc.Clients, "clients", 4, "concurrent clients")
		fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
		fs.BoolVar(&secure, "auth", false, "the in-process server authenticates, authorises and audits, the bundles are posted by a facility system")
		fs.StringVar(&bc.Token, "token", "", "bearer token for --url")
		fs.StringVar(&mode, "validation", "strict", "validation mode of the in-process server: strict, lenient or structural (docs/validation.md)")
		fs.BoolVar(&cnProfiles, "cn-profiles", false, "the in-process server checks every resource against the China core profiles of its type")
	})
	if err != nil {
		return err
	}
	cfg.Validation = &validate.Policy{Default: validate.Rules{Mode: validate.Mode(mode)}}
	switch cfg.Validation.Default.Mode {
	case validate.Strict, validate.Lenient, validate.Structural:
	default:
		return fmt.Errorf("--validation %q: want strict, lenient or structural", mode)
	}
	if cnProfiles {
		cfg.Validation.Default.Profiles = validate.CNProfiles
	}
	stopProfile, err := profile(cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	cfg.MaxBodyBytes = 64 << 20
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if url == "" {
		if cfg.DB == "" {
			tmp, err := os.MkdirTemp("", "hip-bench-ingest-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			cfg.DB = filepath.Join(tmp, "hip.db")
		}
		p, err := openPlatform(ctx, cfg.DB, nil)
		if err != nil {
			return err
		}
		defer p.Close()
		srv, token, done, err := benchServer(ctx, &cfg, p, secure, auth.RoleFacility)
		if err != nil {
			return err
		}
		defer done()
		bc.Token = token
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: srv.Handler()}
		go hs.Serve(ln)
		defer hs.Close()
		url = "http://" + ln.Addr().String() + "/fhir"
		fmt.Fprintf(stdout, "in-process server on %s over %s (authentication and audit: %v; validation: %s, China core profiles: %v)\n", url, redactDSN(cfg.DB), secure, mode, cnProfiles)
	}
	bc.BaseURL = url
	bc.Progress = stderr
	res, err := bench.Ingest(ctx, bc)
	fmt.Fprintln(stdout, res.String())
	return err
}

// benchSynth measures the generator writing NDJSON.
func benchSynth(args []string, stdout, stderr io.Writer) error {
	var sc synth.Config
	var out, cpuProfile string
	err := parseFlags("bench synth", args, stderr, func(fs *flag.FlagSet) {
		synthFlags(fs, &sc, 1000000)
		fs.StringVar(&out, "out", "", "output directory (default: a temporary one, removed afterwards)")
		fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	})
	if err != nil {
		return err
	}
	if out == "" {
		if out, err = os.MkdirTemp("", "hip-bench-synth-"); err != nil {
			return err
		}
		defer os.RemoveAll(out)
	}
	stopProfile, err := profile(cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := writeRegion(ctx, sc, regionOutput{dir: out})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res)
	return nil
}

// benchSearch measures search latency over a generated region, see
// docs/search-benchmark.md.
func benchSearch(args []string, stdout, stderr io.Writer) error {
	var cfg Config
	var sc synth.Config
	var bc bench.SearchConfig
	var url, clients, queries, cpuProfile string
	var load, loadOnly, list, secure bool
	err := parseFlags("bench search", args, stderr, func(fs *flag.FlagSet) {
		// No default database: the region takes minutes to load and is kept
		// for the next run, so where it lives is the caller's choice.
		fs.StringVar(&cfg.DB, "db", "", "database holding the region (a SQLite path or postgres:// URL); required without --url")
		synthFlags(fs, &sc, 100000)
		fs.BoolVar(&load, "load", false, "generate and import the region when the database is empty")
		fs.BoolVar(&loadOnly, "load-only", false, "like --load, then exit without measuring (e.g. to ANALYZE first)")
		fs.StringVar(&url, "url", "", "FHIR base URL of a running server holding the data; empty: serve --db in-process")
		fs.StringVar(&clients, "clients", "1,16", "concurrent clients: a comma list, one run per count")
		fs.IntVar(&bc.Requests, "requests", 500, "measured requests per query and client count")
		fs.DurationVar(&bc.Duration, "duration", time.Minute, "end a query's run after this long even if fewer requests were answered (0: no limit)")
		fs.IntVar(&bc.Warmup, "warmup", 10, "unmeasured requests before each run")
		fs.IntVar(&bc.Samples, "samples", 50, "values sampled from the data per sample pool")
		fs.IntVar(&bc.Verify, "verify", 5, "samples per query whose answer is checked (200, at least one match) before the runs")
		fs.StringVar(&queries, "queries", "", "run only these queries of the mix (comma list; see --list)")
		fs.BoolVar(&list, "list", false, "print the query mix and exit")
		fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
		fs.BoolVar(&secure, "auth", false, "the in-process server authenticates, authorises and audits; the queries are an administrator's")
		fs.StringVar(&bc.Token, "token", "", "bearer token for --url")
	})
	if err != nil {
		return err
	}
	mix := bench.SearchMix()
	if list {
		for _, q := range mix {
			fmt.Fprintf(stdout, "%-32s %s\n%-32s   %s\n", q.Name, q.Template, "", q.Description)
		}
		return nil
	}
	if bc.Queries, err = bench.SelectQueries(mix, splitList(queries)); err != nil {
		return err
	}
	for _, s := range splitList(clients) {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return fmt.Errorf("--clients: %q is not a positive number", s)
		}
		bc.Clients = append(bc.Clients, n)
	}
	load = load || loadOnly
	if load && url != "" {
		return errors.New("bench search: --load writes the database directly: use --db, not --url")
	}
	bc.Seed = sc.Seed
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if url == "" {
		if cfg.DB == "" {
			return errors.New("bench search: --db is required (or --url of a running server)")
		}
		// Index failures of single parameters would make queries miss data:
		// show them rather than measure over an incomplete index.
		p, err := openPlatform(ctx, cfg.DB, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			return err
		}
		defer p.Close()
		m, sum, err := bench.LoadRegion(ctx, p, newImporter(p, stderr), sc, load)
		if sum != nil {
			fmt.Fprint(stdout, sum)
		}
		if err != nil {
			return fmt.Errorf("bench search: %s: %w", redactDSN(cfg.DB), err)
		}
		total := 0
		for _, n := range m.Counts {
			total += n
		}
		fmt.Fprintf(stdout, "region: seed %d, %d residents, %d resources in %s\n", m.Seed, m.Residents, total, redactDSN(cfg.DB))
		if loadOnly {
			return nil
		}
		srv, token, done, err := benchServer(ctx, &cfg, p, secure, auth.RoleAdmin)
		if err != nil {
			return err
		}
		defer done()
		bc.Token = token
		base, closeServer, err := bench.Loopback(srv.Handler())
		if err != nil {
			return err
		}
		defer closeServer()
		url = base
	}
	bc.BaseURL = url
	bc.Progress = stderr
	stopProfile, err := profile(cpuProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	// What docs/benchmarks.md asks each table to record: the build and the machine.
	fmt.Fprintf(stdout, "hip %s, %s, %d CPUs; %d queries against %s, clients %v, %d requests each (at most %s), seed %d\n\n",
		version(), runtime.Version(), runtime.NumCPU(), len(bc.Queries), url, bc.Clients, bc.Requests, bc.Duration, bc.Seed)
	res, err := bench.Search(ctx, bc)
	if res != nil {
		fmt.Fprint(stdout, res.Markdown())
	}
	if err != nil {
		return err
	}
	if n := res.Errors(); n > 0 {
		return fmt.Errorf("bench search: %d runs had errors", n)
	}
	return nil
}

// splitList splits a comma list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// benchServer builds the in-process server of a benchmark, with
// authentication and audit when secure, and a token for its clients; done
// writes the audit records still in flight.
func benchServer(ctx context.Context, cfg *Config, p *platform, secure bool, role auth.Role) (srv *server.Server, token string, done func(), err error) {
	sec, token, err := benchSecurity(ctx, p, secure, role)
	if err != nil {
		return nil, "", nil, err
	}
	done = func() {}
	if sec != nil {
		done = sec.Trail.Close
	}
	srv, err = newServer(ctx, cfg, p, sec, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		done()
		return nil, "", nil, err
	}
	return srv, token, done, nil
}

// benchSecurity builds what the in-process server of a benchmark needs to
// authenticate, authorise and audit as hip serve does (without rate limits),
// and a token of a principal of the role: a facility system of the region's
// first facility (ingest), an administrator (search). nil without secure.
func benchSecurity(ctx context.Context, p *platform, secure bool, role auth.Role) (*server.Security, string, error) {
	if !secure {
		return nil, "", nil
	}
	keys, err := auth.NewKeyRing(ctx, p.Store, 0)
	if err != nil {
		return nil, "", err
	}
	const issuer, audience = "http://127.0.0.1/auth", "http://127.0.0.1/fhir"
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	prov, err := auth.NewProvider(auth.ProviderConfig{Issuer: issuer, Audience: audience, Accounts: p.Store, Keys: keys,
		AccessTTL: 12 * time.Hour, Logger: discard})
	if err != nil {
		return nil, "", err
	}
	hash, err := auth.HashPassword("Bench-" + auth.NewSecret())
	if err != nil {
		return nil, "", err
	}
	dir := prov.Directory()
	var tok *auth.TokenResponse
	if role == auth.RoleFacility {
		c, err := dir.Client(ctx, "bench-his")
		if err != nil {
			c = &auth.Client{ID: "bench-his", SecretHash: hash, Role: role, Facility: "bench-facility"}
			if err := dir.AddClient(ctx, *c); err != nil {
				return nil, "", err
			}
		}
		tok, err = prov.IssueForClient(ctx, c, "")
		if err != nil {
			return nil, "", err
		}
	} else {
		u, err := dir.User(ctx, "bench-"+string(role))
		if err != nil {
			u = &auth.User{Name: "bench-" + string(role), PasswordHash: hash, Role: role}
			if err := dir.AddUser(ctx, *u); err != nil {
				return nil, "", err
			}
		}
		if tok, err = prov.IssueForUser(ctx, u, nil, ""); err != nil {
			return nil, "", err
		}
	}
	sec := &server.Security{Authenticator: prov, Policy: auth.NewPolicy(p.Defs, p.Indexer), Trail: audit.NewTrail(p.Store, discard),
		SMART: prov.Configuration()}
	return sec, tok.AccessToken, nil
}

// benchDetect measures the outbreak detection algorithms on simulated
// weekly series, in Go and, on a sample, through R's reference.
func benchDetect(args []string, stdout, stderr io.Writer) error {
	cfg := bench.DetectConfig{Progress: stderr}
	err := parseFlags("bench detect", args, stderr, func(fs *flag.FlagSet) {
		fs.IntVar(&cfg.Series, "series", 10000, "weekly series to simulate")
		fs.IntVar(&cfg.Years, "years", 10, "years per series")
		fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the first series")
		fs.StringVar(&cfg.Peer, "peer", "", "path of ../shared/surveillance/peer.R: also time R on a sample (needs Rscript and the surveillance package)")
		fs.IntVar(&cfg.RSample, "r-sample", 10, "series run through R, per algorithm")
	})
	if err != nil {
		return err
	}
	if cfg.Series < 1 || cfg.Years < 7 {
		return errors.New("bench detect: --series ≥ 1 and --years ≥ 7 (Farrington needs 5 years of history)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rows, err := bench.Detect(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, bench.DetectMarkdown(rows, cfg.Series))
	return nil
}

// benchEvaluate runs the evaluation of Noufaily et al. (2013) of the
// outbreak detection algorithms, and a subset of it through R's reference
// (docs/surveillance-evaluation.md).
func benchEvaluate(args []string, stdout, stderr io.Writer) error {
	cfg := bench.EvaluateConfig{Progress: stderr}
	var scenarios, rScenarios, out string
	err := parseFlags("bench evaluate", args, stderr, func(fs *flag.FlagSet) {
		fs.IntVar(&cfg.Replicates, "replicates", 100, "replicates per scenario")
		fs.StringVar(&scenarios, "scenarios", "1-42", "scenarios to run: numbers and ranges, e.g. 1-42 or 1,9,17-20")
		fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the simulation")
		fs.StringVar(&cfg.Peer, "peer", "", "path of ../shared/surveillance/peer.R: also run a subset through R (needs Rscript and the surveillance package)")
		fs.StringVar(&cfg.Rscript, "rscript", "Rscript", "the Rscript to run peer.R with")
		fs.StringVar(&rScenarios, "r-scenarios", "1,9,17,25,33,41", "scenarios of the R subset")
		fs.IntVar(&cfg.RReplicates, "r-replicates", 5, "replicates per scenario of the R subset (the first ones)")
		fs.StringVar(&out, "out", "", "write the markdown tables to this file (default: standard output)")
	})
	if err != nil {
		return err
	}
	if cfg.Scenarios, err = surveillance.ParseScenarios(scenarios); err != nil {
		return fmt.Errorf("bench evaluate: --scenarios: %w", err)
	}
	if cfg.RScenarios, err = surveillance.ParseScenarios(rScenarios); err != nil {
		return fmt.Errorf("bench evaluate: --r-scenarios: %w", err)
	}
	if cfg.Replicates < 1 || cfg.RReplicates < 1 {
		return errors.New("bench evaluate: --replicates and --r-replicates must be at least 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	rep, err := bench.Evaluate(ctx, cfg)
	if err != nil {
		return err
	}
	// What docs/benchmarks.md asks each table to record: the command, the
	// build, the machine, the time.
	md := fmt.Sprintf("`hip bench evaluate %s`: hip %s, %s, %d CPUs, %s; wall time %s.\n\n%s",
		strings.Join(args, " "), version(), runtime.Version(), runtime.NumCPU(), start.Format(time.DateOnly), time.Since(start).Round(time.Second), rep.Markdown())
	if out == "" {
		_, err = io.WriteString(stdout, md)
		return err
	}
	return os.WriteFile(out, []byte(md), 0o644)
}
