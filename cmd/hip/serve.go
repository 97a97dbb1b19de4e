package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/hip-platform/hip/internal/audit"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/server"
)

func serve(args []string, stderr io.Writer) error {
	var cfg Config
	if err := parseFlags("serve", args, stderr, func(fs *flag.FlagSet) { cfg.flags(fs, true) }); err != nil {
		return err
	}
	log, err := cfg.logger(stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p, err := openPlatform(ctx, cfg.DB, log)
	if err != nil {
		return err
	}
	defer p.Close()
	if len(p.Applied) > 0 {
		log.Info("applied migrations", "migrations", p.Applied)
	}
	return runServer(ctx, &cfg, p, log, nil)
}

// newServer builds the FHIR server over p, with the SearchParameters stored
// in it registered.
func newServer(ctx context.Context, cfg *Config, p *platform, sec *server.Security, log *slog.Logger) (*server.Server, error) {
	// Every write parses, validates and indexes resources into short-lived
	// maps: collecting half as often costs a few hundred MiB under load and
	// gave about a tenth more ingest (docs/benchmarks.md).
	defaultGCPercent(200)
	mpi, err := openMPI(ctx, cfg.EMPIConfig, p, log)
	if err != nil {
		return nil, err
	}
	validator := validate.New(p.Defs)
	if len(validator.Problems) > 0 {
		return nil, fmt.Errorf("validation definitions: %w", errors.Join(validator.Problems...))
	}
	policy := cfg.Validation
	if policy == nil {
		policy = validate.DefaultPolicy()
		if cfg.ValidationConfig != "" {
			if policy, err = validator.LoadPolicy(cfg.ValidationConfig); err != nil {
				return nil, err
			}
		}
	}
	srv, err := server.New(server.Config{
		MPI:          mpi,
		Security:     sec,
		Store:        p.Store,
		Definitions:  p.Defs,
		Validator:    validator,
		Validation:   policy,
		Indexer:      p.Indexer,
		Logger:       log,
		Version:      version(),
		BaseURL:      cfg.BaseURL,
		MaxBodyBytes: cfg.MaxBodyBytes,
	})
	if err != nil {
		return nil, err
	}
	if err := srv.LoadSearchParameters(ctx); err != nil {
		return nil, err
	}
	return srv, nil
}

// runServer serves the platform on cfg.Addr until ctx ends, then shuts down
// gracefully. ready, if set, is called once the listener is open.
func runServer(ctx context.Context, cfg *Config, p *platform, log *slog.Logger, ready func(addr net.Addr)) error {
	sec, err := newSecurity(ctx, &cfg.Security, cfg, p, log)
	if err != nil {
		return err
	}
	if sec.security != nil {
		trail := sec.security.Trail
		defer trail.Close() // after the last request is answered
		anchorCtx, stopAnchors := context.WithCancel(ctx)
		defer stopAnchors()
		go trail.Anchors(anchorCtx, time.Minute, func(a audit.Anchor) {
			log.Info("audit anchor: keep it to check the trail later with hip audit verify --anchor", "anchor", a.String())
		})
	}
	if sec.keys != nil {
		keyCtx, stopKeys := context.WithCancel(ctx)
		defer stopKeys()
		go sec.keys.Maintain(keyCtx, func(err error) { log.Error("signing keys", "err", err) })
	}
	srv, err := newServer(ctx, cfg, p, sec.security, log)
	if err != nil {
		return err
	}
	handler := srv.Handler()
	if sec.provider != nil {
		mux := http.NewServeMux()
		mux.Handle("/", handler)
		for _, path := range sec.provider.Paths() {
			mux.Handle(path, sec.provider.Handler())
		}
		handler = mux
	}
	sc := &cfg.Security
	proxies, err := sc.trustedProxies()
	if err != nil {
		return err
	}
	handler = server.Edge(handler, server.EdgeOptions{CORSOrigins: splitList(sc.CORSOrigins), IPRate: sc.IPRate, IPBurst: sc.IPBurst,
		TrustedProxies: proxies})
	if (sc.TLSCert == "") != (sc.TLSKey == "") {
		return errors.New("serve: --tls-cert and --tls-key go together")
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12}}
	errc := make(chan error, 1)
	if sc.TLSCert != "" {
		go func() { errc <- hs.ServeTLS(ln, sc.TLSCert, sc.TLSKey) }()
	} else {
		go func() { errc <- hs.Serve(ln) }()
	}
	log.Info("hip serving", "addr", ln.Addr().String(), "db", redactDSN(cfg.DB), "fhir", "/fhir", "auth", sc.Mode, "tls", sc.TLSCert != "")
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// defaultGCPercent sets the garbage collector's target percentage unless the
// GOGC environment variable sets it.
func defaultGCPercent(percent int) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(percent)
	}
}
