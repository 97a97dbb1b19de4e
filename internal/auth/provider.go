package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/hip-platform/hip/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

var templates = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// ProviderConfig configures the built-in identity provider.
type ProviderConfig struct {
	// Issuer is the provider's URL, the iss of its tokens; its path is where
	// its endpoints are served (https://hip.example.cn/auth → /auth/token …).
	Issuer string
	// Audience is the aud of its access tokens: the FHIR base URL.
	Audience  string
	Accounts  store.Accounts
	Keys      *KeyRing
	AccessTTL time.Duration // default 15 minutes
	Logger    *slog.Logger
}

// Provider is the built-in OAuth 2.0 / OpenID Connect provider: a login page
// and authorization code flow with PKCE for apps, client credentials for
// facility systems, signed JWT access tokens and the JWKS to check them.
type Provider struct {
	cfg      ProviderConfig
	dir      *Directory
	path     string // the issuer URL's path
	verifier *TokenVerifier
	limiter  *loginLimiter
	log      *slog.Logger
	now      func() time.Time
}

// codeTTL is how long an authorisation code may wait to be redeemed.
const codeTTL = time.Minute

// NewProvider builds the provider.
func NewProvider(cfg ProviderConfig) (*Provider, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("auth: issuer %q must be an http(s) URL without query", cfg.Issuer)
	}
	if cfg.Audience == "" || cfg.Accounts == nil || cfg.Keys == nil {
		return nil, errors.New("auth: provider needs an audience, accounts and a key ring")
	}
	if cfg.AccessTTL <= 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	p := &Provider{cfg: cfg, dir: NewDirectory(cfg.Accounts), path: strings.TrimSuffix(u.Path, "/"),
		limiter: newLoginLimiter(), log: cfg.Logger, now: time.Now}
	cache := &activeCache{ttl: 10 * time.Second, check: p.stillActive, now: time.Now, seen: map[string]time.Time{}}
	p.verifier = &TokenVerifier{
		verifier: oidc.NewVerifier(cfg.Issuer, cfg.Keys, &oidc.Config{ClientID: cfg.Audience, SupportedSigningAlgs: []string{string(signingAlg)}}),
		claims:   ClaimNames{}.withDefaults(),
		active:   cache.active,
	}
	return p, nil
}

// Directory returns the provider's users and clients.
func (p *Provider) Directory() *Directory { return p.dir }

// Authenticate verifies one of the provider's access tokens.
func (p *Provider) Authenticate(ctx context.Context, token string) (*Principal, error) {
	return p.verifier.Authenticate(ctx, token)
}

// stillActive refuses tokens of users or clients disabled since issue.
func (p *Provider) stillActive(ctx context.Context, pr *Principal) error {
	if pr.Client != "" {
		c, err := p.dir.Client(ctx, pr.Client)
		if err != nil || c.Disabled {
			return fmt.Errorf("client %q is disabled or gone", pr.Client)
		}
	}
	if pr.Subject != pr.Client {
		u, err := p.dir.User(ctx, pr.Subject)
		if err != nil || u.Disabled {
			return fmt.Errorf("user %q is disabled or gone", pr.Subject)
		}
	}
	return nil
}

// TokenResponse is the token endpoint's answer (RFC 6749 §5.1 and SMART).
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	IDToken     string `json:"id_token,omitempty"`
	Patient     string `json:"patient,omitempty"`
}

// IssueForUser issues an access token for a user, with scope narrowed to the
// user's role (and to the client's registered scope, when clientID names
// one). An ID token comes with it when openid is granted.
func (p *Provider) IssueForUser(ctx context.Context, u *User, client *Client, scope string) (*TokenResponse, error) {
	return p.issueForUser(u, client, scope, "")
}

// issueForUser is IssueForUser with the nonce of an OpenID Connect request,
// which its ID token must repeat.
func (p *Provider) issueForUser(u *User, client *Client, scope, nonce string) (*TokenResponse, error) {
	if u.Disabled {
		return nil, fmt.Errorf("auth: user %q is disabled", u.Name)
	}
	granted, err := u.Role.Grant(scope)
	if err != nil {
		return nil, err
	}
	clientID := ""
	if client != nil {
		clientID = client.ID
		if client.Scope != "" {
			limit, err := ParseScopes(client.Scope)
			if err != nil {
				return nil, err
			}
			granted = granted.Within(limit)
		}
	}
	c := accessClaims{Subject: u.Name, ClientID: clientID, Name: u.Display, FHIRUser: u.FHIRUser, Role: u.Role,
		Facility: u.Facility, Patients: u.Patients}
	if u.Role == RoleResident && len(u.Patients) > 0 {
		c.Patient = u.Patients[0]
	}
	resp, err := p.issue(c, granted)
	if err != nil {
		return nil, err
	}
	if u.Role == RoleResident && granted.Has("launch/patient") {
		resp.Patient = c.Patient
	}
	if granted.Has("openid") && clientID != "" {
		now := p.now()
		id := map[string]any{"iss": p.cfg.Issuer, "sub": u.Name, "aud": clientID, "iat": now.Unix(),
			"exp": now.Add(p.cfg.AccessTTL).Unix(), "name": u.Display}
		if nonce != "" {
			id["nonce"] = nonce
		}
		if granted.Has("fhirUser") && u.FHIRUser != "" {
			id["fhirUser"] = u.FHIRUser
		}
		if resp.IDToken, err = p.cfg.Keys.Sign(id, "JWT"); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// IssueForClient issues a client credentials token to a facility system.
func (p *Provider) IssueForClient(ctx context.Context, c *Client, scope string) (*TokenResponse, error) {
	if c.Disabled {
		return nil, fmt.Errorf("auth: client %q is disabled", c.ID)
	}
	if c.Public() || c.Role == "" {
		return nil, fmt.Errorf("auth: client %q has no role of its own", c.ID)
	}
	granted, err := c.Role.Grant(scope)
	if err != nil {
		return nil, err
	}
	if c.Scope != "" {
		limit, err := ParseScopes(c.Scope)
		if err != nil {
			return nil, err
		}
		granted = granted.Within(limit)
	}
	return p.issue(accessClaims{Subject: c.ID, ClientID: c.ID, Name: c.Display, Role: c.Role, Facility: c.Facility}, granted)
}

func (p *Provider) issue(c accessClaims, granted Scopes) (*TokenResponse, error) {
	if len(granted.Resources) == 0 {
		return nil, errors.New("auth: none of the requested scopes may be granted")
	}
	now := p.now()
	c.Issuer, c.Audience = p.cfg.Issuer, p.cfg.Audience
	c.IssuedAt, c.NotBefore, c.Expiry = now.Unix(), now.Unix(), now.Add(p.cfg.AccessTTL).Unix()
	c.ID = newTokenID()
	c.Scope = granted.String()
	token, err := p.cfg.Keys.Sign(c, "at+jwt")
	if err != nil {
		return nil, err
	}
	return &TokenResponse{AccessToken: token, TokenType: "Bearer", ExpiresIn: int(p.cfg.AccessTTL.Seconds()), Scope: c.Scope}, nil
}

// Handler serves the provider's endpoints under the issuer's path.
func (p *Provider) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+p.path+"/authorize", p.authorizeForm)
	mux.HandleFunc("POST "+p.path+"/authorize", p.authorizeLogin)
	mux.HandleFunc("POST "+p.path+"/token", p.token)
	mux.HandleFunc("GET "+p.path+"/jwks", p.jwks)
	mux.HandleFunc("GET "+p.path+"/.well-known/openid-configuration", p.discovery)
	return mux
}

// Paths are the URL paths the provider serves, for the caller's router.
func (p *Provider) Paths() []string {
	return []string{p.path + "/authorize", p.path + "/token", p.path + "/jwks", p.path + "/.well-known/openid-configuration"}
}

// Configuration is the SMART configuration (/.well-known/smart-configuration
// of the FHIR base) of this provider.
func (p *Provider) Configuration() map[string]any {
	return map[string]any{
		"issuer":                                p.cfg.Issuer,
		"jwks_uri":                              p.cfg.Issuer + "/jwks",
		"authorization_endpoint":                p.cfg.Issuer + "/authorize",
		"token_endpoint":                        p.cfg.Issuer + "/token",
		"grant_types_supported":                 []string{"authorization_code", "client_credentials"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                      []string{"openid", "fhirUser", "launch/patient", "patient/*.rs", "user/*.cruds", "system/*.cruds"},
		"response_types_supported":              []string{"code"},
		"code_challenge_methods_supported":      []string{"S256"},
		"id_token_signing_alg_values_supported": []string{string(signingAlg)},
		"subject_types_supported":               []string{"public"},
		"capabilities": []string{"launch-standalone", "client-public", "client-confidential-symmetric",
			"permission-v2", "permission-v1", "context-standalone-patient", "sso-openid-connect", "permission-patient", "permission-user"},
	}
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	writeNoStoreJSON(w, http.StatusOK, p.Configuration())
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	body, err := p.cfg.Keys.JWKS()
	if err != nil {
		p.log.Error("jwks", "err", err)
		http.Error(w, "key set unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Write(body)
}

// authRequest is an authorisation request (RFC 6749 §4.1.1 with PKCE, RFC 7636).
type authRequest struct {
	ResponseType, ClientID, RedirectURI, Scope, State, Challenge, ChallengeMethod, Aud, Nonce string
}

func readAuthRequest(v url.Values) authRequest {
	return authRequest{ResponseType: v.Get("response_type"), ClientID: v.Get("client_id"), RedirectURI: v.Get("redirect_uri"),
		Scope: v.Get("scope"), State: v.Get("state"), Challenge: v.Get("code_challenge"),
		ChallengeMethod: v.Get("code_challenge_method"), Aud: v.Get("aud"), Nonce: v.Get("nonce")}
}

func (a authRequest) hidden() map[string]string {
	return map[string]string{"response_type": a.ResponseType, "client_id": a.ClientID, "redirect_uri": a.RedirectURI,
		"scope": a.Scope, "state": a.State, "code_challenge": a.Challenge, "code_challenge_method": a.ChallengeMethod,
		"aud": a.Aud, "nonce": a.Nonce}
}

// maxParam bounds every parameter of an authorisation request.
const maxParam = 2048

// check validates the request. An error before the client and redirect URI
// are known good is shown on a page (never redirected to an unchecked URI);
// later ones go back to the client as error redirects.
func (p *Provider) check(ctx context.Context, a authRequest) (client *Client, page string, redirect string) {
	for _, v := range a.hidden() {
		if len(v) > maxParam {
			return nil, "请求参数过长。", ""
		}
	}
	c, err := p.dir.Client(ctx, a.ClientID)
	if err != nil || c.Disabled {
		return nil, "未知或已停用的应用 (client_id)。", ""
	}
	if a.RedirectURI == "" || !slices.Contains(c.RedirectURIs, a.RedirectURI) {
		return nil, "回调地址 (redirect_uri) 未在平台登记。", ""
	}
	switch {
	case a.ResponseType != "code":
		return c, "", "unsupported_response_type"
	case a.Challenge == "" || a.ChallengeMethod != "S256" || len(a.Challenge) < 43 || len(a.Challenge) > 128:
		return c, "", "invalid_request"
	case a.Aud != "" && strings.TrimSuffix(a.Aud, "/") != strings.TrimSuffix(p.cfg.Audience, "/"):
		return c, "", "invalid_request"
	}
	if _, err := ParseScopes(a.Scope); err != nil {
		return c, "", "invalid_scope"
	}
	return c, "", ""
}

func (p *Provider) authorizeForm(w http.ResponseWriter, r *http.Request) {
	a := readAuthRequest(r.URL.Query())
	client, page, redirect := p.check(r.Context(), a)
	switch {
	case page != "":
		p.page(w, http.StatusBadRequest, "error.html", page)
	case redirect != "":
		p.redirectError(w, r, a, redirect)
	default:
		p.loginPage(w, http.StatusOK, a, client, "", "")
	}
}

func (p *Provider) loginPage(w http.ResponseWriter, status int, a authRequest, c *Client, username, msg string) {
	display := c.Display
	if display == "" {
		display = c.ID
	}
	p.page(w, status, "login.html", map[string]any{"Client": display, "Error": msg, "Action": p.path + "/authorize",
		"Hidden": a.hidden(), "Username": username, "Scope": a.Scope})
}

func (p *Provider) page(w http.ResponseWriter, status int, name string, data any) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	if err := templates.ExecuteTemplate(w, name, data); err != nil {
		p.log.Error("login page", "err", err)
	}
}

func (p *Provider) redirectError(w http.ResponseWriter, r *http.Request, a authRequest, code string) {
	v := url.Values{"error": {code}}
	if a.State != "" {
		v.Set("state", a.State)
	}
	http.Redirect(w, r, withQuery(a.RedirectURI, v), http.StatusFound)
}

func withQuery(uri string, v url.Values) string {
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + v.Encode()
}

// authCode is a pending authorisation code, stored under the hash of the code.
type authCode struct {
	User        string    `json:"user"`
	Client      string    `json:"client"`
	RedirectURI string    `json:"redirectUri"`
	Challenge   string    `json:"challenge"`
	Scope       string    `json:"scope"`
	Nonce       string    `json:"nonce,omitempty"`
	Expires     time.Time `json:"expires"`
}

func codeKey(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// loginFailed is the one message of every failed login, whatever failed.
const loginFailed = "用户名或密码错误。"

func (p *Provider) authorizeLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		p.page(w, http.StatusBadRequest, "error.html", "请求格式错误。")
		return
	}
	a := readAuthRequest(r.PostForm)
	client, page, redirect := p.check(r.Context(), a)
	switch {
	case page != "":
		p.page(w, http.StatusBadRequest, "error.html", page)
		return
	case redirect != "":
		p.redirectError(w, r, a, redirect)
		return
	}
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	if len(username) > 64 {
		username = username[:64]
	}
	ip := clientIP(r)
	if !p.limiter.allow(username, ip, p.now()) {
		p.log.Warn("login refused: too many failures", "user", username, "ip", ip)
		p.loginPage(w, http.StatusTooManyRequests, a, client, username, "登录失败次数过多，请15分钟后再试。")
		return
	}
	u, err := p.dir.User(r.Context(), username)
	hash := dummyHash()
	if err == nil {
		hash = u.PasswordHash
	}
	if !VerifyPassword(hash, password) || err != nil || u.Disabled {
		p.limiter.fail(username, ip, p.now())
		p.log.Info("login failed", "user", username, "ip", ip, "client", client.ID)
		p.loginPage(w, http.StatusUnauthorized, a, client, username, loginFailed)
		return
	}
	p.limiter.succeed(username)
	code := NewSecret()
	rec := authCode{User: u.Name, Client: client.ID, RedirectURI: a.RedirectURI, Challenge: a.Challenge, Scope: a.Scope,
		Nonce: a.Nonce, Expires: p.now().Add(codeTTL)}
	body, _ := json.Marshal(rec)
	if err := p.cfg.Accounts.PutAccount(r.Context(), kindCode, codeKey(code), body); err != nil {
		p.log.Error("store authorization code", "err", err)
		p.redirectError(w, r, a, "server_error")
		return
	}
	p.purgeCodes(r.Context())
	p.log.Info("login", "user", u.Name, "ip", ip, "client", client.ID)
	v := url.Values{"code": {code}}
	if a.State != "" {
		v.Set("state", a.State)
	}
	http.Redirect(w, r, withQuery(a.RedirectURI, v), http.StatusFound)
}

// purgeCodes deletes expired codes now and then: codes are few and short-lived.
func (p *Provider) purgeCodes(ctx context.Context) {
	if rand.IntN(20) != 0 {
		return
	}
	recs, err := p.cfg.Accounts.Accounts(ctx, kindCode)
	if err != nil {
		return
	}
	for _, rec := range recs {
		var c authCode
		if json.Unmarshal(rec.Body, &c) != nil || p.now().After(c.Expires) {
			p.cfg.Accounts.DeleteAccount(ctx, kindCode, rec.Name)
		}
	}
}

// tokenError is an error of the token endpoint (RFC 6749 §5.2).
type tokenError struct {
	status      int
	code, about string
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	resp, terr := p.tokenGrant(r)
	if terr != nil {
		if terr.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="hip"`)
		}
		writeNoStoreJSON(w, terr.status, map[string]string{"error": terr.code, "error_description": terr.about})
		return
	}
	writeNoStoreJSON(w, http.StatusOK, resp)
}

func (p *Provider) tokenGrant(r *http.Request) (*TokenResponse, *tokenError) {
	ctx := r.Context()
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(ct) != "application/x-www-form-urlencoded" {
		return nil, &tokenError{http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded"}
	}
	if err := r.ParseForm(); err != nil {
		return nil, &tokenError{http.StatusBadRequest, "invalid_request", "malformed form"}
	}
	form := r.PostForm
	client, terr := p.authenticateClient(ctx, r, form)
	if terr != nil {
		return nil, terr
	}
	switch form.Get("grant_type") {
	case "client_credentials":
		if client.Public() {
			return nil, &tokenError{http.StatusUnauthorized, "invalid_client", "client credentials need a confidential client"}
		}
		resp, err := p.IssueForClient(ctx, client, form.Get("scope"))
		if err != nil {
			return nil, &tokenError{http.StatusBadRequest, "invalid_scope", err.Error()}
		}
		p.log.Info("token issued", "client", client.ID, "grant", "client_credentials", "scope", resp.Scope)
		return resp, nil
	case "authorization_code":
		return p.redeemCode(ctx, client, form)
	case "":
		return nil, &tokenError{http.StatusBadRequest, "invalid_request", "grant_type is required"}
	}
	return nil, &tokenError{http.StatusBadRequest, "unsupported_grant_type", "supported: authorization_code, client_credentials"}
}

// authenticateClient reads the client from HTTP Basic or the form; a
// confidential client must prove its secret, a public one only names itself.
func (p *Provider) authenticateClient(ctx context.Context, r *http.Request, form url.Values) (*Client, *tokenError) {
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: both are form-urlencoded inside Basic.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return nil, &tokenError{http.StatusUnauthorized, "invalid_client", "malformed client credentials"}
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	bad := &tokenError{http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret"}
	if id == "" || len(id) > 64 || len(secret) > 256 {
		return nil, bad
	}
	c, err := p.dir.Client(ctx, id)
	if err != nil {
		if !isNotFound(err) {
			p.log.Error("read client", "err", err)
			return nil, &tokenError{http.StatusInternalServerError, "server_error", "try again later"}
		}
		VerifyPassword(dummyHash(), secret) // as long as a wrong secret
		return nil, bad
	}
	if c.Disabled {
		return nil, bad
	}
	if c.Public() {
		if secret != "" {
			return nil, bad
		}
		return c, nil
	}
	if !VerifyPassword(c.SecretHash, secret) {
		p.log.Info("client authentication failed", "client", id, "ip", clientIP(r))
		return nil, bad
	}
	return c, nil
}

func (p *Provider) redeemCode(ctx context.Context, client *Client, form url.Values) (*TokenResponse, *tokenError) {
	code := form.Get("code")
	invalid := &tokenError{http.StatusBadRequest, "invalid_grant", "the code is unknown, used, expired or was issued for another client or redirect URI"}
	if code == "" || len(code) > 128 {
		return nil, invalid
	}
	key := codeKey(code)
	body, err := p.cfg.Accounts.Account(ctx, kindCode, key)
	if err != nil {
		return nil, invalid
	}
	// Single use: of two redemptions only the one that deletes it goes on.
	if ok, err := p.cfg.Accounts.DeleteAccount(ctx, kindCode, key); err != nil || !ok {
		return nil, invalid
	}
	var rec authCode
	if err := json.Unmarshal(body, &rec); err != nil || p.now().After(rec.Expires) ||
		rec.Client != client.ID || rec.RedirectURI != form.Get("redirect_uri") {
		return nil, invalid
	}
	verifier := form.Get("code_verifier")
	sum := sha256.Sum256([]byte(verifier))
	if len(verifier) < 43 || len(verifier) > 128 ||
		subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(rec.Challenge)) != 1 {
		return nil, &tokenError{http.StatusBadRequest, "invalid_grant", "code_verifier does not match the code challenge"}
	}
	u, err := p.dir.User(ctx, rec.User)
	if err != nil || u.Disabled {
		return nil, invalid
	}
	resp, err := p.issueForUser(u, client, rec.Scope, rec.Nonce)
	if err != nil {
		return nil, &tokenError{http.StatusBadRequest, "invalid_scope", err.Error()}
	}
	p.log.Info("token issued", "user", u.Name, "client", client.ID, "grant", "authorization_code", "scope", resp.Scope)
	return resp, nil
}

func writeNoStoreJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// clientIP is the peer address of the request (proxies are not trusted to
// name the client: a forwarded header is the client's to forge).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// checkRedirectURI accepts https URLs, http ones on the loopback interface
// (native apps, RFC 8252 §7.3) and private-use schemes (com.example.app:/cb).
func checkRedirectURI(uri string) error {
	u, err := url.Parse(uri)
	if err != nil || u.Fragment != "" || u.Scheme == "" {
		return fmt.Errorf("auth: redirect URI %q must be an absolute URL without fragment", uri)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Errorf("auth: redirect URI %q has no host", uri)
		}
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("auth: redirect URI %q: plain http only on the loopback interface", uri)
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Errorf("auth: redirect URI %q: a private-use scheme must be a reversed domain name", uri)
		}
	}
	return nil
}
