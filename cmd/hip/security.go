package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hip-platform/hip/internal/audit"
	"github.com/hip-platform/hip/internal/auth"
	"github.com/hip-platform/hip/internal/server"
	"github.com/hip-platform/hip/internal/store"
)

// SecurityConfig are the settings of authentication and audit.
type SecurityConfig struct {
	Mode         string // builtin, oidc or none
	Issuer       string
	Audience     string
	TokenTTL     time.Duration
	KeyRotation  time.Duration
	OIDCIssuer   string
	OIDCAudience string
	OIDCClaims   auth.ClaimNames
	KEKFile      string
	Proxies      string
	TLSCert      string
	TLSKey       string
	CORSOrigins  string
	Rate         float64 // per principal, requests a second
	Burst        int
	IPRate       float64
	IPBurst      int
}

func (c *SecurityConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Mode, "auth", defaultString(env("AUTH"), "builtin"),
		"authentication: builtin (the platform's own provider), oidc (an external OpenID Connect provider) or none (insecure: tests and trials only) (HIP_AUTH)")
	fs.StringVar(&c.Issuer, "issuer", env("ISSUER"), "the built-in provider's URL, the iss of its tokens; default: the base URL's origin + /auth (HIP_ISSUER)")
	fs.StringVar(&c.Audience, "audience", env("AUDIENCE"), "the aud of the built-in provider's tokens; default: the FHIR base URL (HIP_AUDIENCE)")
	fs.DurationVar(&c.TokenTTL, "token-ttl", durationEnv("TOKEN_TTL", 15*time.Minute), "lifetime of access tokens (HIP_TOKEN_TTL)")
	fs.DurationVar(&c.KeyRotation, "key-rotation", durationEnv("KEY_ROTATION", 30*24*time.Hour), "signing key rotation period (HIP_KEY_ROTATION)")
	fs.StringVar(&c.OIDCIssuer, "oidc-issuer", env("OIDC_ISSUER"), "with --auth oidc: the provider's issuer URL (HIP_OIDC_ISSUER)")
	fs.StringVar(&c.OIDCAudience, "oidc-audience", env("OIDC_AUDIENCE"), "with --auth oidc: the audience its tokens must name (HIP_OIDC_AUDIENCE)")
	fs.StringVar(&c.OIDCClaims.Role, "oidc-role-claim", env("OIDC_ROLE_CLAIM"), "claim holding the role (default hip_role)")
	fs.StringVar(&c.OIDCClaims.Facility, "oidc-facility-claim", env("OIDC_FACILITY_CLAIM"), "claim holding the facility (default hip_facility)")
	fs.StringVar(&c.OIDCClaims.Patients, "oidc-patients-claim", env("OIDC_PATIENTS_CLAIM"), "claim holding a resident's Patient ids (default hip_patients)")
	fs.StringVar(&c.OIDCClaims.Scope, "oidc-scope-claim", env("OIDC_SCOPE_CLAIM"), "claim holding the scopes (default scope)")
	fs.StringVar(&c.TLSCert, "tls-cert", env("TLS_CERT"), "serve HTTPS with this certificate (PEM, chain first) (HIP_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", env("TLS_KEY"), "and this private key (PEM) (HIP_TLS_KEY)")
	fs.StringVar(&c.KEKFile, "key-encryption-key-file", env("KEY_ENCRYPTION_KEY_FILE"),
		"a file holding a 32-byte key (64 hex digits, e.g. from hip keys new-kek) that seals the token signing keys in the database (HIP_KEY_ENCRYPTION_KEY_FILE)")
	fs.StringVar(&c.Proxies, "trusted-proxies", env("TRUSTED_PROXIES"), "comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For names the client (HIP_TRUSTED_PROXIES)")
	fs.StringVar(&c.CORSOrigins, "cors-origins", env("CORS_ORIGINS"), "comma-separated browser origins allowed to call the API, * for any (HIP_CORS_ORIGINS)")
	// Defaults: a facility's integration engine reading back what it sent
	// stays below them; one client cannot take the whole of a 2-core server.
	fs.Float64Var(&c.Rate, "rate-limit", floatEnv("RATE_LIMIT", 500), "requests a second per user or client, 0 for no limit (HIP_RATE_LIMIT)")
	fs.IntVar(&c.Burst, "rate-burst", int(floatEnv("RATE_BURST", 1000)), "requests a user or client may send at once (HIP_RATE_BURST)")
	fs.Float64Var(&c.IPRate, "ip-rate-limit", floatEnv("IP_RATE_LIMIT", 2000), "requests a second per client address, 0 for no limit (HIP_IP_RATE_LIMIT)")
	fs.IntVar(&c.IPBurst, "ip-rate-burst", int(floatEnv("IP_RATE_BURST", 4000)), "requests an address may send at once (HIP_IP_RATE_BURST)")
}

func floatEnv(name string, def float64) float64 {
	if f, err := strconv.ParseFloat(env(name), 64); err == nil && f >= 0 {
		return f
	}
	return def
}

func durationEnv(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(env(name)); err == nil && d > 0 {
		return d
	}
	return def
}

// origins derives the built-in provider's issuer and audience: from the
// flags, else from the public base URL, else from the listen address.
func (c *SecurityConfig) origins(baseURL, addr string) (issuer, audience string, err error) {
	base := strings.TrimSuffix(baseURL, "/")
	if base == "" {
		host, port, _ := net.SplitHostPort(addr)
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		scheme := "http"
		if c.TLSCert != "" {
			scheme = "https"
		}
		base = scheme + "://" + net.JoinHostPort(host, port) + "/fhir"
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("base URL %q: not an absolute URL", base)
	}
	issuer, audience = c.Issuer, c.Audience
	if issuer == "" {
		issuer = u.Scheme + "://" + u.Host + "/auth"
	}
	if audience == "" {
		audience = base
	}
	return strings.TrimSuffix(issuer, "/"), audience, nil
}

// securityParts are what serving needs besides the store.
type securityParts struct {
	security *server.Security
	provider *auth.Provider // built-in mode only
	keys     *auth.KeyRing
}

// newSecurity builds authentication, policy and audit for the server.
func newSecurity(ctx context.Context, c *SecurityConfig, cfg *Config, p *platform, log *slog.Logger) (*securityParts, error) {
	policy := auth.NewPolicy(p.Defs, p.Indexer)
	switch c.Mode {
	case "none":
		log.Warn("authentication is OFF (--auth none): every request is served unauthenticated and unaudited; never use this with real data")
		return &securityParts{}, nil
	case "oidc":
		v, err := auth.NewExternalVerifier(ctx, c.OIDCIssuer, c.OIDCAudience, c.OIDCClaims)
		if err != nil {
			return nil, err
		}
		cfgDoc := map[string]any{"issuer": c.OIDCIssuer, "capabilities": []string{"permission-v2", "permission-v1"}}
		return &securityParts{security: &server.Security{Authenticator: v, Policy: policy,
			Trail: audit.NewTrail(p.Store, log), SMART: cfgDoc, Rate: c.Rate, Burst: c.Burst}}, nil
	case "builtin":
		issuer, audience, err := c.origins(cfg.BaseURL, cfg.Addr)
		if err != nil {
			return nil, err
		}
		keys, err := c.openKeyRing(ctx, p)
		if err != nil {
			return nil, err
		}
		prov, err := auth.NewProvider(auth.ProviderConfig{Issuer: issuer, Audience: audience, Accounts: p.Store, Keys: keys,
			AccessTTL: c.TokenTTL, Logger: log})
		if err != nil {
			return nil, err
		}
		if users, err := prov.Directory().Users(ctx); err == nil && len(users) == 0 {
			log.Warn("no users yet: nobody can log in; add an administrator with: hip users add --db … --name admin --role admin")
		}
		return &securityParts{provider: prov, keys: keys, security: &server.Security{Authenticator: prov, Policy: policy,
			Trail: audit.NewTrail(p.Store, log), SMART: prov.Configuration(), Rate: c.Rate, Burst: c.Burst}}, nil
	}
	return nil, fmt.Errorf("--auth %q: use builtin, oidc or none", c.Mode)
}

// openBuiltin opens the built-in provider over an open platform for the
// operator commands (users, clients, token, keys).
func openBuiltin(ctx context.Context, c *SecurityConfig, cfg *Config, p *platform) (*auth.Provider, *auth.KeyRing, error) {
	issuer, audience, err := c.origins(cfg.BaseURL, defaultString(cfg.Addr, defaultString(env("ADDR"), ":8080")))
	if err != nil {
		return nil, nil, err
	}
	keys, err := c.openKeyRing(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	prov, err := auth.NewProvider(auth.ProviderConfig{Issuer: issuer, Audience: audience, Accounts: p.Store, Keys: keys,
		AccessTTL: c.TokenTTL, Logger: slog.New(slog.DiscardHandler)})
	return prov, keys, err
}

// operatorFlags declares the flags of the operator commands: the database
// and what the built-in provider's tokens must name.
func operatorFlags(fs *flag.FlagSet, cfg *Config, sc *SecurityConfig) {
	cfg.flags(fs, false)
	fs.StringVar(&cfg.BaseURL, "base-url", env("BASE_URL"), "public base URL of the FHIR API (HIP_BASE_URL)")
	fs.StringVar(&cfg.Addr, "addr", defaultString(env("ADDR"), ":8080"), "the server's listen address, when no base URL is set (HIP_ADDR)")
	sc.flags(fs)
}

// openOperator opens the platform for an operator command.
func openOperator(db string) (context.Context, *platform, error) {
	ctx := context.Background()
	p, err := openPlatform(ctx, db, nil)
	return ctx, p, err
}

// readSecret reads a password or secret from a file ("-": standard input),
// first line only, never from a flag (flags show in process lists).
func readSecret(path string, stdin io.Reader) (string, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func usersCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: hip users add|list|disable|enable|passwd [flags]")
	}
	var cfg Config
	var sc SecurityConfig
	var u auth.User
	var role, passwordFile, hashFile string
	var patients stringList
	sub := args[0]
	names, err := parseFlagsArgs("users "+sub, args[1:], stderr, func(fs *flag.FlagSet) {
		operatorFlags(fs, &cfg, &sc)
		if sub == "add" {
			fs.StringVar(&u.Name, "name", "", "login name (required)")
			fs.StringVar(&u.Display, "display", "", "full name, e.g. 张伟")
			fs.StringVar(&role, "role", "", "resident, clinician, pharmacist, regulator, facility or admin (required)")
			fs.StringVar(&u.Facility, "facility", "", "Organization id of the user's facility (clinician, pharmacist)")
			fs.StringVar(&u.FHIRUser, "fhir-user", "", "the user's own resource: Practitioner/…, Patient/…")
			fs.Var(&patients, "patient", "a resident's own Patient id (repeatable)")
		}
		if sub == "add" || sub == "passwd" {
			fs.StringVar(&passwordFile, "password-file", "", "read the password from this file (- for standard input); default: generate one and print it once")
			fs.StringVar(&hashFile, "password-hash-file", "", "read an argon2id or bcrypt hash from this file instead, as exported by another system")
		}
	})
	if err != nil {
		return err
	}
	ctx, p, err := openOperator(cfg.DB)
	if err != nil {
		return err
	}
	defer p.Close()
	dir := auth.NewDirectory(p.Store)
	// passwordHash is the hash to store: imported, or of a password read or
	// generated (returned to be shown once).
	passwordHash := func() (hash, generated string, err error) {
		if hashFile != "" {
			if passwordFile != "" {
				return "", "", errors.New("--password-file and --password-hash-file exclude each other")
			}
			h, err := readSecret(hashFile, stdin)
			if err != nil {
				return "", "", err
			}
			return h, "", auth.CheckHash(h)
		}
		pw := "Hip-" + auth.NewSecret()[:20]
		generated = pw
		if passwordFile != "" {
			if pw, err = readSecret(passwordFile, stdin); err != nil {
				return "", "", err
			}
			generated = ""
		}
		hash, err = auth.HashPassword(pw)
		return hash, generated, err
	}
	showGenerated := func(pw string) {
		if pw != "" {
			fmt.Fprintf(stdout, "password (shown once): %s\n", pw)
		}
	}
	switch sub {
	case "add":
		if u.Role, err = auth.ParseRole(role); err != nil {
			return err
		}
		u.Patients = patients
		var generated string
		if u.PasswordHash, generated, err = passwordHash(); err != nil {
			return err
		}
		if err := dir.AddUser(ctx, u); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added user %s (%s)\n", u.Name, u.Role)
		showGenerated(generated)
		return nil
	case "list":
		users, err := dir.Users(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tROLE\tFACILITY\tPATIENTS\tSTATUS\tDISPLAY")
		for _, u := range users {
			status := "active"
			if u.Disabled {
				status = "disabled"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, u.Facility, strings.Join(u.Patients, ","), status, u.Display)
		}
		return w.Flush()
	case "disable", "enable", "passwd":
		if len(names) != 1 {
			return fmt.Errorf("usage: hip users %s [flags] NAME", sub)
		}
		u, err := dir.User(ctx, names[0])
		if err != nil {
			return err
		}
		generated := ""
		switch sub {
		case "passwd":
			if u.PasswordHash, generated, err = passwordHash(); err != nil {
				return err
			}
		default:
			u.Disabled = sub == "disable"
		}
		if err := dir.UpdateUser(ctx, *u); err != nil {
			return err
		}
		showGenerated(generated)
		fmt.Fprintf(stdout, "user %s: %s\n", u.Name, map[string]string{"disable": "disabled", "enable": "enabled", "passwd": "password changed"}[sub])
		return nil
	}
	return fmt.Errorf("unknown users command %q: add, list, disable, enable or passwd", sub)
}

func clientsCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: hip clients add|list|disable [flags]")
	}
	var cfg Config
	var sc SecurityConfig
	var c auth.Client
	var role string
	var redirects stringList
	var public bool
	sub := args[0]
	ids, err := parseFlagsArgs("clients "+sub, args[1:], stderr, func(fs *flag.FlagSet) {
		operatorFlags(fs, &cfg, &sc)
		if sub == "add" {
			fs.StringVar(&c.ID, "id", "", "client id (required)")
			fs.StringVar(&c.Display, "display", "", "name shown on the login page, e.g. 某县人民医院 HIS")
			fs.StringVar(&role, "role", "facility", "the role of the client's own tokens (client credentials)")
			fs.StringVar(&c.Facility, "facility", "", "Organization id the client acts for")
			fs.StringVar(&c.Scope, "scope", "", "the most the client may be granted; default: its role's")
			fs.Var(&redirects, "redirect-uri", "a registered redirect URI (repeatable; apps)")
			fs.BoolVar(&public, "public", false, "an app without a secret (browser, mobile): authorization code with PKCE only")
		}
	})
	if err != nil {
		return err
	}
	ctx, p, err := openOperator(cfg.DB)
	if err != nil {
		return err
	}
	defer p.Close()
	dir := auth.NewDirectory(p.Store)
	switch sub {
	case "add":
		c.RedirectURIs = redirects
		secret := ""
		if !public {
			if c.Role, err = auth.ParseRole(role); err != nil {
				return err
			}
			secret = auth.NewSecret()
			if c.SecretHash, err = auth.HashPassword(secret); err != nil {
				return err
			}
		}
		if err := dir.AddClient(ctx, c); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added client %s\n", c.ID)
		if secret != "" {
			fmt.Fprintf(stdout, "client secret (shown once): %s\n", secret)
		}
		return nil
	case "list":
		clients, err := dir.Clients(ctx)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tKIND\tROLE\tFACILITY\tSTATUS\tDISPLAY")
		for _, c := range clients {
			kind, status := "confidential", "active"
			if c.Public() {
				kind = "public"
			}
			if c.Disabled {
				status = "disabled"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, kind, c.Role, c.Facility, status, c.Display)
		}
		return w.Flush()
	case "disable", "enable":
		if len(ids) != 1 {
			return fmt.Errorf("usage: hip clients %s [flags] ID", sub)
		}
		c, err := dir.Client(ctx, ids[0])
		if err != nil {
			return err
		}
		c.Disabled = sub == "disable"
		if err := dir.UpdateClient(ctx, *c); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "client %s: %sd\n", c.ID, sub)
		return nil
	}
	return fmt.Errorf("unknown clients command %q: add, list, disable or enable", sub)
}

// tokenCmd issues an access token with the database's signing key, for
// operators and scripts.
func tokenCmd(args []string, stdout, stderr io.Writer) error {
	var cfg Config
	var sc SecurityConfig
	var user, client, scope string
	err := parseFlags("token", args, stderr, func(fs *flag.FlagSet) {
		operatorFlags(fs, &cfg, &sc)
		fs.StringVar(&user, "user", "", "issue for this user")
		fs.StringVar(&client, "client", "", "issue for this client's own role (client credentials)")
		fs.StringVar(&scope, "scope", "", "the scopes to ask for; default: everything the role may have")
	})
	if err != nil {
		return err
	}
	if (user == "") == (client == "") {
		return errors.New("token: name --user or --client")
	}
	ctx, p, err := openOperator(cfg.DB)
	if err != nil {
		return err
	}
	defer p.Close()
	prov, _, err := openBuiltin(ctx, &sc, &cfg, p)
	if err != nil {
		return err
	}
	var resp *auth.TokenResponse
	if user != "" {
		u, err := prov.Directory().User(ctx, user)
		if err != nil {
			return err
		}
		resp, err = prov.IssueForUser(ctx, u, nil, scope)
		if err != nil {
			return err
		}
	} else {
		c, err := prov.Directory().Client(ctx, client)
		if err != nil {
			return err
		}
		if resp, err = prov.IssueForClient(ctx, c, scope); err != nil {
			return err
		}
	}
	fmt.Fprintln(stdout, resp.AccessToken)
	fmt.Fprintf(stderr, "scope: %s; expires in %ds\n", resp.Scope, resp.ExpiresIn)
	return nil
}

func keysCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "new-kek" {
		kek := make([]byte, 32)
		rand.Read(kek)
		fmt.Fprintln(stdout, hex.EncodeToString(kek))
		fmt.Fprintln(stderr, "keep it in a file outside the database (mode 0400) and pass it with --key-encryption-key-file")
		return nil
	}
	if len(args) == 0 || args[0] != "rotate" && args[0] != "jwks" {
		return errors.New("usage: hip keys rotate|jwks|new-kek [flags]")
	}
	var cfg Config
	var sc SecurityConfig
	if err := parseFlags("keys", args[1:], stderr, func(fs *flag.FlagSet) { operatorFlags(fs, &cfg, &sc) }); err != nil {
		return err
	}
	ctx, p, err := openOperator(cfg.DB)
	if err != nil {
		return err
	}
	defer p.Close()
	keys, err := sc.openKeyRing(ctx, p)
	if err != nil {
		return err
	}
	if args[0] == "rotate" {
		kid, err := keys.Rotate(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new signing key %s; servers switch to it within a minute, the old one stays published for a rotation period\n", kid)
		return nil
	}
	set, err := keys.JWKS()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, string(set))
	return nil
}

// auditCmd lists the audit trail or verifies it.
func auditCmd(args []string, stdout, stderr io.Writer) error {
	verify := len(args) > 0 && args[0] == "verify"
	if verify {
		args = args[1:]
	}
	var cfg Config
	var q store.AuditQuery
	var since, until, format string
	var anchorTexts stringList
	err := parseFlags("audit", args, stderr, func(fs *flag.FlagSet) {
		cfg.flags(fs, false)
		if verify {
			fs.Var(&anchorTexts, "anchor", "a head recorded before, SEQ:HASH (the server logs one a minute; repeatable): it must still be on the trail")
		} else {
			fs.StringVar(&q.Patient, "patient", "", "only accesses to this patient's records (Patient/id or id)")
			fs.StringVar(&q.Agent, "agent", "", "only this user's or client's requests")
			fs.StringVar(&since, "since", "", "from this time (RFC 3339 or YYYY-MM-DD)")
			fs.StringVar(&until, "until", "", "before this time")
			fs.IntVar(&q.Limit, "limit", 100, "at most this many records, newest first")
			fs.StringVar(&format, "format", "text", "text or json (FHIR AuditEvent, one per line)")
		}
	})
	if err != nil {
		return err
	}
	ctx, p, err := openOperator(cfg.DB)
	if err != nil {
		return err
	}
	defer p.Close()
	if verify {
		var anchors []audit.Anchor
		for _, a := range anchorTexts {
			anchor, err := audit.ParseAnchor(a)
			if err != nil {
				return err
			}
			anchors = append(anchors, anchor)
		}
		r, err := audit.Verify(ctx, p.Store, anchors...)
		if err != nil {
			return err
		}
		for _, pr := range r.Problems {
			fmt.Fprintf(stdout, "entry %d: %s\n", pr.Seq, pr.What)
		}
		fmt.Fprintf(stdout, "%d entries; head (anchor) %s\n", r.Entries, audit.Anchor{Seq: r.HeadSeq, Hash: r.Head})
		if len(r.Problems) > 0 {
			return fmt.Errorf("audit trail broken: %d problem(s)", len(r.Problems))
		}
		fmt.Fprintln(stdout, "audit trail intact (keep the head to detect a cut-off tail later)")
		return nil
	}
	if q.Patient != "" && !strings.HasPrefix(q.Patient, "Patient/") {
		q.Patient = "Patient/" + q.Patient
	}
	for _, b := range []struct {
		s string
		t *time.Time
	}{{since, &q.Since}, {until, &q.Until}} {
		if b.s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, b.s)
		if err != nil {
			if t, err = time.ParseInLocation("2006-01-02", b.s, time.FixedZone("CST", 8*3600)); err != nil {
				return fmt.Errorf("audit: time %q: use RFC 3339 or YYYY-MM-DD", b.s)
			}
		}
		*b.t = t
	}
	q.Descending = true
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if format == "text" {
		fmt.Fprintln(w, "SEQ\tRECORDED\tAGENT\tROLE\tINTERACTION\tSTATUS\tPURPOSE\tPATIENTS\tADDRESS")
	}
	err = p.Store.ScanAudit(ctx, q, func(e *store.AuditEntry) error {
		if format == "json" {
			ev, err := audit.Event(e)
			if err != nil {
				return err
			}
			b, err := json.Marshal(ev)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, string(b))
			return nil
		}
		var r audit.Record
		if err := json.Unmarshal(e.Body, &r); err != nil {
			return err
		}
		purpose := r.Purpose
		if r.BreakGlass != "" {
			purpose += " (break-glass: " + r.BreakGlass + ")"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.Seq, r.Recorded.Local().Format(time.DateTime), r.Agent, r.Role,
			r.Interaction, r.Status, purpose, strings.Join(r.Patients, " "), r.Address)
		return nil
	})
	if err != nil {
		return err
	}
	return w.Flush()
}

// trustedProxies parses --trusted-proxies: addresses or CIDR ranges.
func (c *SecurityConfig) trustedProxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range splitList(c.Proxies) {
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies: %q is neither an address nor a CIDR range", item)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// keyRingOptions reads the key-encryption key, when one is configured.
func (c *SecurityConfig) keyRingOptions() ([]auth.KeyRingOption, error) {
	if c.KEKFile == "" {
		return nil, nil
	}
	text, err := os.ReadFile(c.KEKFile)
	if err != nil {
		return nil, fmt.Errorf("--key-encryption-key-file: %w", err)
	}
	kek, err := hex.DecodeString(strings.TrimSpace(string(text)))
	if err != nil || len(kek) != 32 {
		return nil, fmt.Errorf("--key-encryption-key-file %s: want 64 hex digits (32 bytes)", c.KEKFile)
	}
	return []auth.KeyRingOption{auth.WithKeyEncryption(kek)}, nil
}

// openKeyRing opens the signing key ring as the configuration says.
func (c *SecurityConfig) openKeyRing(ctx context.Context, p *platform) (*auth.KeyRing, error) {
	opts, err := c.keyRingOptions()
	if err != nil {
		return nil, err
	}
	return auth.NewKeyRing(ctx, p.Store, c.KeyRotation, opts...)
}
