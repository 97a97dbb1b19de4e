package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/sqlite"
	"github.com/hip-platform/hip/internal/store/storetest"
)

const testPassword = "Correct-horse-42"

// openAccounts opens a SQLite store of its own in a temporary directory.
func openAccounts(t testing.TB) store.Store {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "hip.db"), storetest.Options(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testIdP is a provider served over HTTP with a user of each role, a
// facility system and a browser app registered.
type testIdP struct {
	*Provider
	srv *httptest.Server
}

const appRedirect = "https://app.example.cn/callback"

func newTestIdP(t testing.TB) *testIdP {
	t.Helper()
	s := openAccounts(t)
	ctx := t.Context()
	keys, err := NewKeyRing(ctx, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	p, err := NewProvider(ProviderConfig{Issuer: srv.URL + "/auth", Audience: srv.URL + "/fhir", Accounts: s, Keys: keys,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", p.Handler())
	hash, err := HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	d := p.Directory()
	for _, u := range []User{
		{Name: "zhang.wei", Display: "张伟", Role: RoleClinician, Facility: "org-town", FHIRUser: "Practitioner/pr1"},
		{Name: "resident1", Display: "李娜", Role: RoleResident, Patients: []string{"pat1"}, FHIRUser: "Patient/pat1"},
		{Name: "admin", Role: RoleAdmin},
	} {
		u.PasswordHash = hash
		if err := d.AddUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	secret, _ := HashPassword("His-secret-0123456789")
	must(t, d.AddClient(ctx, Client{ID: "his-town", Display: "乡镇卫生院 HIS", SecretHash: secret, Role: RoleFacility, Facility: "org-town"}))
	must(t, d.AddClient(ctx, Client{ID: "app", Display: "健康服务 App", RedirectURIs: []string{appRedirect}}))
	return &testIdP{Provider: p, srv: srv}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func (p *testIdP) post(t *testing.T, path string, form url.Values, basicUser, basicPass string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", p.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPass))
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(body, &out)
	return resp, out
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestClientCredentials(t *testing.T) {
	p := newTestIdP(t)
	tests := []struct {
		name         string
		form         url.Values
		user, secret string
		status       int
		errCode      string
		scope        string
	}{
		{"basic", url.Values{"grant_type": {"client_credentials"}}, "his-town", "His-secret-0123456789", 200, "", "system/*.cruds"},
		{"post", url.Values{"grant_type": {"client_credentials"}, "client_id": {"his-town"}, "client_secret": {"His-secret-0123456789"},
			"scope": {"system/Observation.c system/Patient.cru"}}, "", "", 200, "", "system/Observation.c system/Patient.cru"},
		{"scope beyond role", url.Values{"grant_type": {"client_credentials"}, "scope": {"user/*.rs"}}, "his-town", "His-secret-0123456789", 400, "invalid_scope", ""},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}}, "his-town", "wrong", 401, "invalid_client", ""},
		{"unknown client", url.Values{"grant_type": {"client_credentials"}}, "nobody", "x", 401, "invalid_client", ""},
		{"public client", url.Values{"grant_type": {"client_credentials"}, "client_id": {"app"}}, "", "", 401, "invalid_client", ""},
		{"no grant", url.Values{}, "his-town", "His-secret-0123456789", 400, "invalid_request", ""},
		{"other grant", url.Values{"grant_type": {"password"}}, "his-town", "His-secret-0123456789", 400, "unsupported_grant_type", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := p.post(t, "/auth/token", tc.form, tc.user, tc.secret)
			if resp.StatusCode != tc.status || tc.errCode != "" && body["error"] != tc.errCode {
				t.Fatalf("status %d %v, want %d %s", resp.StatusCode, body, tc.status, tc.errCode)
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
			if tc.status != 200 {
				return
			}
			if body["scope"] != tc.scope || body["token_type"] != "Bearer" {
				t.Errorf("response %v, want scope %q", body, tc.scope)
			}
			pr, err := p.Authenticate(t.Context(), body["access_token"].(string))
			if err != nil {
				t.Fatal(err)
			}
			if pr.Subject != "his-town" || pr.Client != "his-town" || pr.Role != RoleFacility || pr.Facility != "org-town" || pr.Scopes.String() != tc.scope {
				t.Errorf("principal %+v", pr)
			}
		})
	}
}

func pkce() (verifier, challenge string) {
	verifier = NewSecret() + "x" // 44 characters
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// login runs the browser half of the code flow and returns the code.
func (p *testIdP) login(t *testing.T, user, password, challenge, scope string) (status int, code string, page string) {
	t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {appRedirect}, "scope": {scope},
		"state": {"st-1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}, "aud": {p.srv.URL + "/fhir"}}
	resp, err := http.Get(p.srv.URL + "/auth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	form, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(form), "用户名") || !strings.Contains(string(form), "健康服务 App") {
		t.Fatalf("login page: %d %s", resp.StatusCode, form)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("login page CSP %q", csp)
	}
	q.Set("username", user)
	q.Set("password", password)
	resp, body := p.postPage(t, q)
	if resp.StatusCode != http.StatusFound {
		return resp.StatusCode, "", body
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), appRedirect+"?") || loc.Query().Get("state") != "st-1" {
		t.Fatalf("redirect %q", resp.Header.Get("Location"))
	}
	return resp.StatusCode, loc.Query().Get("code"), ""
}

func (p *testIdP) postPage(t *testing.T, form url.Values) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", p.srv.URL+"/auth/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestAuthorizationCode(t *testing.T) {
	p := newTestIdP(t)
	verifier, challenge := pkce()
	status, code, _ := p.login(t, "resident1", testPassword, challenge, "launch/patient openid fhirUser patient/*.rs user/*.rs")
	if status != http.StatusFound || code == "" {
		t.Fatalf("login: %d", status)
	}
	exchange := func(code, verifier string) (*http.Response, map[string]any) {
		return p.post(t, "/auth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {"app"},
			"redirect_uri": {appRedirect}, "code_verifier": {verifier}}, "", "")
	}
	resp, body := exchange(code, verifier)
	if resp.StatusCode != 200 {
		t.Fatalf("exchange: %d %v", resp.StatusCode, body)
	}
	// The resident asked for user/*.rs too: a resident's ceiling drops it.
	if body["scope"] != "patient/*.rs launch/patient openid fhirUser" || body["patient"] != "pat1" || body["id_token"] == nil {
		t.Errorf("token response %v", body)
	}
	pr, err := p.Authenticate(t.Context(), body["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if pr.Role != RoleResident || len(pr.Patients) != 1 || pr.Patients[0] != "pat1" || pr.Client != "app" || pr.FHIRUser != "Patient/pat1" {
		t.Errorf("principal %+v", pr)
	}
	// The ID token is for the app, not an access token to the FHIR API.
	if _, err := p.Authenticate(t.Context(), body["id_token"].(string)); err == nil {
		t.Errorf("an ID token was accepted as an access token")
	}
	// A code is good once.
	if resp, body := exchange(code, verifier); resp.StatusCode != 400 || body["error"] != "invalid_grant" {
		t.Errorf("second exchange: %d %v", resp.StatusCode, body)
	}
	// A wrong verifier spends the code too.
	_, code2, _ := p.login(t, "zhang.wei", testPassword, challenge, "user/*.rs")
	if resp, body := exchange(code2, verifier+"x"); resp.StatusCode != 400 || body["error"] != "invalid_grant" {
		t.Errorf("wrong verifier: %d %v", resp.StatusCode, body)
	}
	if resp, _ := exchange(code2, verifier); resp.StatusCode != 400 {
		t.Errorf("code reused after a failed exchange: %d", resp.StatusCode)
	}
	// An expired code.
	_, code3, _ := p.login(t, "zhang.wei", testPassword, challenge, "user/*.rs")
	p.now = func() time.Time { return time.Now().Add(2 * codeTTL) }
	if resp, _ := exchange(code3, verifier); resp.StatusCode != 400 {
		t.Errorf("expired code: %d", resp.StatusCode)
	}
}

func TestLoginFailures(t *testing.T) {
	p := newTestIdP(t)
	_, challenge := pkce()
	for _, tc := range []struct{ user, password string }{
		{"zhang.wei", "wrong-password-1"},
		{"nobody", testPassword},
	} {
		status, _, page := p.login(t, tc.user, tc.password, challenge, "user/*.rs")
		if status != http.StatusUnauthorized || !strings.Contains(page, loginFailed) {
			t.Errorf("%s: %d, want 401 with the one message", tc.user, status)
		}
	}
	// A name is locked after five failures, even with the right password.
	for range maxFailuresByName {
		p.login(t, "admin", "wrong-password-1", challenge, "user/*.rs")
	}
	if status, _, page := p.login(t, "admin", testPassword, challenge, "user/*.rs"); status != http.StatusTooManyRequests || !strings.Contains(page, "15分钟") {
		t.Errorf("after five failures: %d", status)
	}
	// A disabled user cannot log in, and their tokens stop working.
	u, _ := p.Directory().User(t.Context(), "zhang.wei")
	resp, err := p.IssueForUser(t.Context(), u, nil, "")
	must(t, err)
	u.Disabled = true
	must(t, p.Directory().UpdateUser(t.Context(), *u))
	if status, _, _ := p.login(t, "zhang.wei", testPassword, challenge, "user/*.rs"); status != http.StatusUnauthorized {
		t.Errorf("disabled user logged in: %d", status)
	}
	if _, err := p.Authenticate(t.Context(), resp.AccessToken); err == nil {
		t.Errorf("a disabled user's token was accepted")
	}
}

func TestAuthorizeRequestErrors(t *testing.T) {
	p := newTestIdP(t)
	_, challenge := pkce()
	base := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {appRedirect}, "state": {"s"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for _, tc := range []struct {
		name     string
		change   func(url.Values)
		status   int
		redirErr string
	}{
		{"unknown client", func(v url.Values) { v.Set("client_id", "nobody") }, 400, ""},
		{"unregistered redirect", func(v url.Values) { v.Set("redirect_uri", "https://evil.example/cb") }, 400, ""},
		{"no PKCE", func(v url.Values) { v.Del("code_challenge") }, 302, "invalid_request"},
		{"plain PKCE", func(v url.Values) { v.Set("code_challenge_method", "plain") }, 302, "invalid_request"},
		{"token response", func(v url.Values) { v.Set("response_type", "token") }, 302, "unsupported_response_type"},
		{"other audience", func(v url.Values) { v.Set("aud", "https://other.example/fhir") }, 302, "invalid_request"},
		{"bad scope", func(v url.Values) { v.Set("scope", "patient/x.y") }, 302, "invalid_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range base {
				q[k] = v
			}
			tc.change(q)
			resp, err := noRedirect.Get(p.srv.URL + "/auth/authorize?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.redirErr != "" {
				loc, _ := url.Parse(resp.Header.Get("Location"))
				if !strings.HasPrefix(loc.String(), appRedirect) || loc.Query().Get("error") != tc.redirErr || loc.Query().Get("state") != "s" {
					t.Errorf("redirect %s, want error %s", loc, tc.redirErr)
				}
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	p := newTestIdP(t)
	ctx := t.Context()
	old, err := p.IssueForUser(ctx, mustUser(t, p, "admin"), nil, "")
	must(t, err)
	// A second process on the same database rotates; this one learns of the
	// new key when it meets a token signed with it.
	other, err := NewKeyRing(ctx, p.cfg.Accounts, 0)
	must(t, err)
	if _, err := other.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	p2, err := NewProvider(ProviderConfig{Issuer: p.cfg.Issuer, Audience: p.cfg.Audience, Accounts: p.cfg.Accounts, Keys: other})
	must(t, err)
	fresh, err := p2.IssueForUser(ctx, mustUser(t, p, "admin"), nil, "")
	must(t, err)
	for name, tok := range map[string]string{"old key": old.AccessToken, "new key": fresh.AccessToken} {
		if _, err := p.Authenticate(ctx, tok); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	var set struct {
		Keys []struct{ Kid, Alg, Use string }
	}
	must(t, json.Unmarshal(mustJWKS(t, other), &set))
	if len(set.Keys) != 2 || set.Keys[0].Alg != "ES256" || set.Keys[1].Use != "sig" {
		t.Errorf("JWKS %+v, want the replaced key and the new one", set)
	}
	// A rotation period after the replacement the old key is retired: its
	// tokens (long expired by then) no longer verify.
	other.now = func() time.Time { return time.Now().Add(31 * 24 * time.Hour) }
	must(t, json.Unmarshal(mustJWKS(t, other), &set))
	if len(set.Keys) != 1 {
		t.Errorf("JWKS after a rotation period has %d keys, want 1", len(set.Keys))
	}
	if _, err := other.VerifySignature(ctx, old.AccessToken); err == nil {
		t.Errorf("a retired key still verifies")
	}
}

func mustUser(t *testing.T, p *testIdP, name string) *User {
	u, err := p.Directory().User(t.Context(), name)
	must(t, err)
	return u
}

func mustJWKS(t *testing.T, r *KeyRing) []byte {
	b, err := r.JWKS()
	must(t, err)
	return b
}

func TestExternalProvider(t *testing.T) {
	// Another provider plays the external OpenID Connect provider: the
	// verifier finds its keys through discovery.
	ext := newTestIdP(t)
	ctx := t.Context()
	v, err := NewExternalVerifier(ctx, ext.cfg.Issuer, ext.cfg.Audience, ClaimNames{})
	must(t, err)
	tok, err := ext.IssueForUser(ctx, mustUser(t, ext, "zhang.wei"), nil, "user/Observation.rs")
	must(t, err)
	pr, err := v.Authenticate(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Subject != "zhang.wei" || pr.Role != RoleClinician || pr.Facility != "org-town" || pr.Scopes.String() != "user/Observation.rs" {
		t.Errorf("principal %+v", pr)
	}
	// Tokens of another issuer, or for another audience, are refused.
	local := newTestIdP(t)
	other, err := local.IssueForUser(ctx, mustUser(t, local, "zhang.wei"), nil, "")
	must(t, err)
	if _, err := v.Authenticate(ctx, other.AccessToken); err == nil {
		t.Errorf("a token of another issuer was accepted")
	}
	v2, err := NewExternalVerifier(ctx, ext.cfg.Issuer, "https://other.example/fhir", ClaimNames{})
	must(t, err)
	if _, err := v2.Authenticate(ctx, tok.AccessToken); err == nil {
		t.Errorf("a token for another audience was accepted")
	}
	// An expired token is refused.
	ext.now = func() time.Time { return time.Now().Add(-time.Hour) }
	expired, err := ext.IssueForUser(ctx, mustUser(t, ext, "zhang.wei"), nil, "")
	must(t, err)
	if _, err := v.Authenticate(ctx, expired.AccessToken); err == nil {
		t.Errorf("an expired token was accepted")
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPassword(testPassword)
	must(t, err)
	if !strings.HasPrefix(h, "$argon2id$") || !VerifyPassword(h, testPassword) || VerifyPassword(h, testPassword+"x") {
		t.Errorf("argon2id hash %q", h)
	}
	b, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	must(t, err)
	if !VerifyPassword(string(b), testPassword) || VerifyPassword(string(b), "nope") {
		t.Errorf("bcrypt hash not verified")
	}
	for _, weak := range []string{"short1A", "onlyletterslong", "1234567890123", strings.Repeat("a1", 200)} {
		if _, err := HashPassword(weak); err == nil {
			t.Errorf("HashPassword(%q) accepted a weak password", weak)
		}
	}
	if VerifyPassword("plaintext", "plaintext") || VerifyPassword("", "") {
		t.Errorf("a non-hash verified")
	}
	for _, tc := range []struct {
		hash string
		ok   bool
	}{{h, true}, {string(b), true}, {"$2b$04$short", false}, {"$argon2id$v=19$m=bad", false}, {"plaintext", false}, {"", false}} {
		if err := CheckHash(tc.hash); (err == nil) != tc.ok {
			t.Errorf("CheckHash(%q) = %v", tc.hash, err)
		}
	}
}

func FuzzAuthenticate(f *testing.F) {
	p := newTestIdP(f)
	tok, err := p.IssueForClient(context.Background(), mustClient(f, p.Provider, "his-town"), "")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok.AccessToken)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("a.b.c")
	parts := strings.Split(tok.AccessToken, ".")
	f.Add(parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"admin","hip_role":"admin"}`)) + "." + parts[2])
	f.Fuzz(func(t *testing.T, s string) {
		pr, err := p.Authenticate(context.Background(), s)
		if err == nil && s != tok.AccessToken {
			t.Fatalf("a forged token was accepted: %q → %+v", s, pr)
		}
	})
}

func mustClient(t testing.TB, p *Provider, id string) *Client {
	c, err := p.Directory().Client(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzEndpoints posts arbitrary forms to the login and token endpoints, which
// read them before anyone is authenticated: no input may crash them, reach
// a server error or obtain a code or token without the secrets.
func FuzzEndpoints(f *testing.F) {
	p := newTestIdP(f)
	h := p.Handler()
	_, challenge := pkce()
	good := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {appRedirect},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"}, "username": {"admin"}, "password": {"x"}}
	f.Add("/auth/authorize", good.Encode(), "")
	f.Add("/auth/token", "grant_type=client_credentials&client_id=his-town&client_secret=x", "")
	f.Add("/auth/token", "grant_type=authorization_code&code=abc&client_id=app&code_verifier=x", "Basic aGlzLXRvd246eA==")
	f.Add("/auth/token", "%zz=&grant_type", "Basic %%%")
	f.Fuzz(func(t *testing.T, path, body, authz string) {
		if path != "/auth/token" {
			path = "/auth/authorize"
		}
		req := httptest.NewRequest("POST", path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 || w.Code == http.StatusOK && path == "/auth/token" || w.Code == http.StatusFound && strings.Contains(w.Header().Get("Location"), "code=") {
			t.Fatalf("%s %q (%q): %d %s", path, body, authz, w.Code, w.Header().Get("Location"))
		}
	})
}

func TestSealedKeys(t *testing.T) {
	s := openAccounts(t)
	ctx := t.Context()
	kek := make([]byte, 32)
	for i := range kek {
		kek[i] = byte(i)
	}
	ring, err := NewKeyRing(ctx, s, 0, WithKeyEncryption(kek))
	must(t, err)
	recs, err := s.Accounts(ctx, kindKey)
	must(t, err)
	if len(recs) != 1 || strings.Contains(string(recs[0].Body), "pkcs8") || !strings.Contains(string(recs[0].Body), "sealed") {
		t.Fatalf("stored key %s, want it sealed", recs[0].Body)
	}
	token, err := ring.Sign(map[string]any{"sub": "x"}, "JWT")
	must(t, err)
	// Another process with the same key-encryption key opens the ring.
	again, err := NewKeyRing(ctx, s, 0, WithKeyEncryption(kek))
	must(t, err)
	if _, err := again.VerifySignature(ctx, token); err != nil {
		t.Errorf("a token does not verify with the reopened ring: %v", err)
	}
	if _, err := NewKeyRing(ctx, s, 0); err == nil || !strings.Contains(err.Error(), "sealed") {
		t.Errorf("opened without the key-encryption key: %v", err)
	}
	wrong := make([]byte, 32)
	if _, err := NewKeyRing(ctx, s, 0, WithKeyEncryption(wrong)); err == nil {
		t.Errorf("opened with another key-encryption key")
	}
	if _, err := NewKeyRing(ctx, s, 0, WithKeyEncryption(kek[:16])); err == nil {
		t.Errorf("a 16-byte key-encryption key was taken")
	}
}
