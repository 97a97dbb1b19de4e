// Command hip runs HIP, the regional health information platform (区域全民健康信息平台).
// It only parses configuration and wires packages together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/redact"
	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/postgres"
	"github.com/hip-platform/hip/internal/store/sqlite"
)

const usage = `hip — 区域全民健康信息平台 (regional health information platform)

Usage:
  hip demo    [--dir DIR] [--residents N] [--addr HOST:PORT]  run the platform on a generated demo region
  hip serve   [--addr HOST:PORT] [--db PATH|postgres://…]    run the platform
  hip migrate [--db PATH|postgres://…]                        apply database migrations
  hip synth   --out DIR [--seed N] [--residents N] [--years N] generate a synthetic region as FHIR NDJSON
  hip import  [--db …] FILE|DIR…                               bulk-load NDJSON or Bundle files
  hip bench   ingest|synth|search|empi|detect|evaluate|warning measure ingest, generation, search, linkage, outbreak detection
  hip empi    link|relink|review|decide|merge|unmerge          the master patient index: link CSV files, relink, review pairs
  hip detect  --algo ALGO --in FILE --out FILE [key=value …]   detect outbreaks in a count series (EARS, CUSUM, Farrington, CIDARS)
  hip warn    [--ndjson DIR] [--counts FILE] [--config FILE]   multi-source early warning: events from diagnoses, lab, pharmacy, school
  hip explain [--db …] 'Type?params'…                          show the SQL and the database's plan of searches
  hip users   add|list|disable|enable|passwd [flags]           manage the built-in provider's users
  hip clients add|list|disable|enable [flags]                  manage OAuth clients (facility systems, apps)
  hip token   --user NAME|--client ID [--scope …]              issue an access token for scripts
  hip keys    rotate|jwks|new-kek                              rotate the signing key, print the JWKS, make a key-encryption key
  hip audit   [--patient P] [--agent A] | verify               list the audit trail, or verify its hash chain
  hip version                                                  print the version

Environment: HIP_ADDR, HIP_DATABASE_URL (or HIP_DATABASE_URL_FILE), HIP_BASE_URL,
HIP_MAX_BODY_BYTES, HIP_LOG_LEVEL (debug|info|warn|error), HIP_AUTH (builtin|oidc|none),
HIP_ISSUER, HIP_AUDIENCE, HIP_TOKEN_TTL, HIP_KEY_ROTATION, HIP_OIDC_ISSUER, HIP_OIDC_AUDIENCE,
HIP_KEY_ENCRYPTION_KEY_FILE, HIP_TLS_CERT, HIP_TLS_KEY, HIP_CORS_ORIGINS, HIP_TRUSTED_PROXIES,
HIP_RATE_LIMIT, HIP_IP_RATE_LIMIT, HIP_EMPI_CONFIG.
Run 'hip COMMAND --help' for a command's flags.
`

// Config is every setting of the binary, from flags over HIP_* environment.
type Config struct {
	Addr         string
	DB           string
	BaseURL      string
	MaxBodyBytes int64
	LogLevel     string
	Security     SecurityConfig
	EMPIConfig   string // the master patient index's configuration file
	// ValidationConfig is the validation policy file (modes and profiles
	// per source facility); Validation, when set, takes its place.
	ValidationConfig string
	Validation       *validate.Policy
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "hip:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(rest, stderr)
	case "demo":
		return demo(rest, stdout, stderr)
	case "synth":
		return synthCmd(rest, stdout, stderr)
	case "import":
		return importCmd(rest, stdout, stderr)
	case "migrate":
		return migrate(rest, stdout, stderr)
	case "bench":
		return benchCmd(rest, stdout, stderr)
	case "explain":
		return explain(rest, stdout, stderr)
	case "detect":
		return detectCmd(rest, stdout, stderr)
	case "warn":
		return warnCmd(rest, stdout, stderr)
	case "users":
		return usersCmd(rest, os.Stdin, stdout, stderr)
	case "clients":
		return clientsCmd(rest, stdout, stderr)
	case "token":
		return tokenCmd(rest, stdout, stderr)
	case "keys":
		return keysCmd(rest, stdout, stderr)
	case "audit":
		return auditCmd(rest, stdout, stderr)
	case "empi":
		return empiCmd(rest, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "hip", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	v := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	if v == "" || v == "(devel)" {
		return "dev"
	}
	return v
}

// env reads HIP_NAME, or the file named by HIP_NAME_FILE (for secrets).
func env(name string) string {
	if v := os.Getenv("HIP_" + name); v != "" {
		return v
	}
	if f := os.Getenv("HIP_" + name + "_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return ""
}

func defaultString(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

// flags declares the settings shared by commands on fs.
func (c *Config) flags(fs *flag.FlagSet, withServer bool) {
	fs.StringVar(&c.DB, "db", defaultString(env("DATABASE_URL"), "./hip-data/hip.db"),
		"database: a SQLite file path or a postgres:// URL (HIP_DATABASE_URL)")
	fs.StringVar(&c.LogLevel, "log-level", defaultString(env("LOG_LEVEL"), "info"), "log level: debug, info, warn, error")
	if !withServer {
		return
	}
	fs.StringVar(&c.Addr, "addr", defaultString(env("ADDR"), ":8080"), "listen address HOST:PORT (HIP_ADDR)")
	fs.StringVar(&c.BaseURL, "base-url", env("BASE_URL"), "public base URL of the FHIR API, e.g. https://hip.example.cn/fhir (HIP_BASE_URL)")
	maxBody, _ := strconv.ParseInt(env("MAX_BODY_BYTES"), 10, 64)
	if maxBody <= 0 {
		maxBody = 16 << 20
	}
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", maxBody, "request body limit in bytes (HIP_MAX_BODY_BYTES)")
	fs.StringVar(&c.EMPIConfig, "empi-config", env("EMPI_CONFIG"), "master patient index configuration, JSON (docs/empi.md; HIP_EMPI_CONFIG); default: built-in")
	fs.StringVar(&c.ValidationConfig, "validation-config", env("VALIDATION_CONFIG"),
		"validation policy: strict, lenient or structural mode and profiles per source facility, JSON (docs/validation.md; HIP_VALIDATION_CONFIG); default: strict, base definitions")
	c.Security.flags(fs)
}

// parseFlags parses a command's flags, declared by declare.
func parseFlags(name string, args []string, stderr io.Writer, declare func(*flag.FlagSet)) error {
	_, err := parseFlagsArgs(name, args, stderr, declare)
	return err
}

// parseFlagsArgs is parseFlags that returns the arguments after the flags.
func parseFlagsArgs(name string, args []string, stderr io.Writer, declare func(*flag.FlagSet)) ([]string, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	declare(fs)
	err := fs.Parse(args)
	return fs.Args(), err
}

func (c *Config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	// ID numbers and phone numbers reach logs inside error messages and
	// rejected values: they are masked on the way out.
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: redact.Attr})), nil
}

// platform is an open store with the definitions and the search indexer it
// was opened with, which the server must share.
type platform struct {
	store.Store
	Applied []string // migrations applied when it was opened
	Defs    *spec.Definitions
	Indexer *search.Indexer
}

// openPlatform loads the FHIR definitions and opens the store that dsn names.
// log receives index failures of single search parameters (nil: discarded).
func openPlatform(ctx context.Context, dsn string, log *slog.Logger) (*platform, error) {
	defs, err := spec.Load()
	if err != nil {
		return nil, err
	}
	ix, err := search.NewIndexer(defs)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := store.Options{Indexer: ix, Logger: log}
	p := &platform{Defs: defs, Indexer: ix}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db, err := postgres.Open(ctx, dsn, opts)
		if err != nil {
			return nil, err
		}
		p.Store, p.Applied = db, db.AppliedMigrations()
		return p, nil
	}
	db, err := sqlite.Open(ctx, dsn, opts)
	if err != nil {
		return nil, err
	}
	p.Store, p.Applied = db, db.AppliedMigrations()
	return p, nil
}

// redactDSN hides a password in a database URL before it is logged.
func redactDSN(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if at := strings.LastIndex(dsn, "@"); at > i {
			cred := dsn[i+3 : at]
			if user, _, ok := strings.Cut(cred, ":"); ok {
				return dsn[:i+3] + user + ":***" + dsn[at:]
			}
		}
	}
	return dsn
}

func migrate(args []string, stdout, stderr io.Writer) error {
	var cfg Config
	if err := parseFlags("migrate", args, stderr, func(fs *flag.FlagSet) { cfg.flags(fs, false) }); err != nil {
		return err
	}
	p, err := openPlatform(context.Background(), cfg.DB, nil)
	if err != nil {
		return err
	}
	defer p.Close()
	applied := p.Applied
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date:", redactDSN(cfg.DB))
		return nil
	}
	for _, m := range applied {
		fmt.Fprintln(stdout, "applied", m)
	}
	return nil
}
