package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Principal is who a request acts for, as its access token says. It is
// shared by the requests of one token and must not be changed.
type Principal struct {
	Subject  string // user name, or client id for a client's own token
	Client   string // the OAuth client the token was issued to
	Name     string // display name
	Role     Role
	Facility string   // Organization id the principal acts for
	FHIRUser string   // Practitioner/…, Patient/…
	Patients []string // a resident's own records (Patient ids)
	Scopes   Scopes
	TokenID  string
	Expires  time.Time
}

// accessClaims are the claims of an access token (RFC 9068 and SMART App
// Launch, with the platform's own hip_* claims).
type accessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	Expiry    int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf,omitempty"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id,omitempty"`
	Scope     string   `json:"scope"`
	Name      string   `json:"name,omitempty"`
	FHIRUser  string   `json:"fhirUser,omitempty"`
	Patient   string   `json:"patient,omitempty"`
	Role      Role     `json:"hip_role"`
	Facility  string   `json:"hip_facility,omitempty"`
	Patients  []string `json:"hip_patients,omitempty"`
}

// newTokenID returns a random jti.
func newTokenID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Authenticator turns a bearer token into the principal it names.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (*Principal, error)
}

// ErrInvalidToken wraps every reason a token is refused; the reason goes to
// the log, the client only learns that the token is invalid.
var ErrInvalidToken = errors.New("invalid access token")

// ClaimNames say where an external provider's tokens carry what the platform
// needs; empty fields take the built-in provider's names.
type ClaimNames struct {
	Role, Facility, Patients, Scope, FHIRUser, Name string
}

func (c ClaimNames) withDefaults() ClaimNames {
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	return ClaimNames{Role: def(c.Role, "hip_role"), Facility: def(c.Facility, "hip_facility"),
		Patients: def(c.Patients, "hip_patients"), Scope: def(c.Scope, "scope"),
		FHIRUser: def(c.FHIRUser, "fhirUser"), Name: def(c.Name, "name")}
}

// TokenVerifier checks JWT access tokens: signature against a key set (the
// built-in ring or a provider's JWKS), issuer, audience, expiry; then reads
// the principal from the claims.
type TokenVerifier struct {
	verifier *oidc.IDTokenVerifier
	claims   ClaimNames
	// active, if set, is asked whether the token's subject and client may
	// still act (not disabled since the token was issued).
	active func(ctx context.Context, p *Principal) error

	// verified remembers the principals of tokens verified before, until
	// they expire: a client sends the same token with every request, and
	// checking its signature again cost a tenth of a simple search.
	mu       sync.Mutex
	verified map[string]*Principal
}

// maxVerified bounds the tokens remembered; a full cache starts over.
const maxVerified = 10_000

// maxTokenBytes bounds what is parsed before a signature is checked.
const maxTokenBytes = 16 << 10

// Authenticate verifies a token and returns its principal.
func (v *TokenVerifier) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if len(token) > maxTokenBytes || strings.Count(token, ".") != 2 {
		return nil, fmt.Errorf("%w: not a compact JWT", ErrInvalidToken)
	}
	v.mu.Lock()
	p, ok := v.verified[token]
	v.mu.Unlock()
	if ok && time.Now().Before(p.Expires) {
		if v.active != nil {
			if err := v.active(ctx, p); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
			}
		}
		return p, nil
	}
	p, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if v.verified == nil || len(v.verified) >= maxVerified {
		v.verified = map[string]*Principal{}
	}
	v.verified[token] = p
	v.mu.Unlock()
	return p, nil
}

// verify checks a token's signature and claims.
func (v *TokenVerifier) verify(ctx context.Context, token string) (*Principal, error) {
	t, err := v.verifier.Verify(ctx, token)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	var raw map[string]json.RawMessage
	if err := t.Claims(&raw); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInvalidToken, err)
	}
	p, err := v.principal(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	p.Subject, p.Expires = t.Subject, t.Expiry
	if p.Subject == "" {
		return nil, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	if v.active != nil {
		if err := v.active(ctx, p); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
		}
	}
	return p, nil
}

func (v *TokenVerifier) principal(raw map[string]json.RawMessage) (*Principal, error) {
	p := &Principal{}
	str := func(name string) (string, error) {
		m, ok := raw[name]
		if !ok {
			return "", nil
		}
		var s string
		if err := json.Unmarshal(m, &s); err != nil {
			return "", fmt.Errorf("claim %s is not a string", name)
		}
		return s, nil
	}
	// strs reads a claim that is a list of strings, or one string of
	// space-separated values (scope in RFC 9068, scp lists in others).
	strs := func(name string) ([]string, error) {
		m, ok := raw[name]
		if !ok {
			return nil, nil
		}
		var list []string
		if json.Unmarshal(m, &list) == nil {
			return list, nil
		}
		var s string
		if err := json.Unmarshal(m, &s); err != nil {
			return nil, fmt.Errorf("claim %s is neither a string nor a list of strings", name)
		}
		return strings.Fields(s), nil
	}
	var err error
	var role string
	if role, err = str(v.claims.Role); err != nil {
		return nil, err
	}
	if p.Role, err = ParseRole(role); err != nil {
		return nil, fmt.Errorf("claim %s: %v", v.claims.Role, err)
	}
	if p.Facility, err = str(v.claims.Facility); err != nil {
		return nil, err
	}
	if p.Role.NeedsFacility() && p.Facility == "" {
		return nil, fmt.Errorf("a %s token needs claim %s", p.Role, v.claims.Facility)
	}
	if p.Patients, err = strs(v.claims.Patients); err != nil {
		return nil, err
	}
	if launch, err := str("patient"); err != nil {
		return nil, err
	} else if launch != "" && len(p.Patients) == 0 {
		p.Patients = []string{launch}
	}
	if p.Role == RoleResident && len(p.Patients) == 0 {
		return nil, fmt.Errorf("a resident token names no patient")
	}
	if p.FHIRUser, err = str(v.claims.FHIRUser); err != nil {
		return nil, err
	}
	if p.Name, err = str(v.claims.Name); err != nil {
		return nil, err
	}
	if p.Client, err = str("client_id"); err != nil {
		return nil, err
	}
	if p.Client == "" {
		p.Client, _ = str("azp")
	}
	if p.TokenID, err = str("jti"); err != nil {
		return nil, err
	}
	scopes, err := strs(v.claims.Scope)
	if err != nil {
		return nil, err
	}
	if p.Scopes, err = ParseScopes(strings.Join(scopes, " ")); err != nil {
		return nil, err
	}
	// A token never grants more than its role's ceiling, whatever an
	// external provider put in it.
	p.Scopes = p.Scopes.Within(p.Role.Ceiling())
	return p, nil
}

// NewExternalVerifier verifies tokens of an external OpenID Connect provider:
// its discovery document names its JWKS, which is fetched and refreshed as
// its keys rotate. audience is what the tokens' aud must contain.
func NewExternalVerifier(ctx context.Context, issuer, audience string, names ClaimNames) (*TokenVerifier, error) {
	if issuer == "" || audience == "" {
		return nil, errors.New("auth: an external provider needs an issuer and an audience")
	}
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return nil, fmt.Errorf("auth: OpenID Connect discovery of %s: %w", issuer, err)
	}
	return &TokenVerifier{
		verifier: provider.VerifierContext(context.WithoutCancel(ctx), &oidc.Config{ClientID: audience}),
		claims:   names.withDefaults(),
	}, nil
}

// activeCache remembers for a short while that a subject may act, so that a
// disabled user or client is refused within seconds without a database read
// on every request.
type activeCache struct {
	ttl   time.Duration
	check func(ctx context.Context, p *Principal) error
	now   func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time // subject + client → checked at
}

func (c *activeCache) active(ctx context.Context, p *Principal) error {
	key := p.Subject + "\x00" + p.Client
	c.mu.Lock()
	at, ok := c.seen[key]
	c.mu.Unlock()
	if ok && c.now().Sub(at) < c.ttl {
		return nil
	}
	if err := c.check(ctx, p); err != nil {
		return err
	}
	c.mu.Lock()
	if len(c.seen) > 100_000 {
		clear(c.seen)
	}
	c.seen[key] = c.now()
	c.mu.Unlock()
	return nil
}
