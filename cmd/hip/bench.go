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
	"runtime/pprof"
	"syscall"

	"github.com/hip-platform/hip/internal/bench"
	"github.com/hip-platform/hip/internal/synth"
)

func benchCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "ingest":
			return benchIngest(args[1:], stdout, stderr)
		case "synth":
			return benchSynth(args[1:], stdout, stderr)
		}
	}
	return errors.New("usage: hip bench ingest|synth [flags]")
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
	var url, cpuProfile string
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
	})
	if err != nil {
		return err
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
		st, _, defs, err := openPlatform(ctx, cfg.DB)
		if err != nil {
			return err
		}
		defer st.Close()
		srv, err := newServer(&cfg, st, defs, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		hs := &http.Server{Handler: srv.Handler()}
		go hs.Serve(ln)
		defer hs.Close()
		url = "http://" + ln.Addr().String() + "/fhir"
		fmt.Fprintf(stdout, "in-process server on %s over %s\n", url, redactDSN(cfg.DB))
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
