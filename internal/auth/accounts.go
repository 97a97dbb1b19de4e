package auth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// Kinds of account records in store.Accounts.
const (
	kindUser   = "user"
	kindClient = "client"
	kindKey    = "key"
	kindCode   = "code"
)

// User is a person who logs in: staff of a facility, a regulator, an
// administrator or a resident.
type User struct {
	Name         string    `json:"name"` // login name
	Display      string    `json:"display,omitempty"`
	PasswordHash string    `json:"passwordHash"`
	Role         Role      `json:"role"`
	Facility     string    `json:"facility,omitempty"` // Organization id the user works for
	FHIRUser     string    `json:"fhirUser,omitempty"` // Practitioner/…, Patient/… or RelatedPerson/…
	Patients     []string  `json:"patients,omitempty"` // a resident's own records, Patient ids
	Disabled     bool      `json:"disabled,omitempty"`
	Created      time.Time `json:"created"`
}

// Client is an OAuth client: a facility's system (client credentials, with a
// secret) or a browser or mobile app (authorization code with PKCE, public).
type Client struct {
	ID           string    `json:"id"`
	Display      string    `json:"display,omitempty"`
	SecretHash   string    `json:"secretHash,omitempty"` // empty: a public client
	Role         Role      `json:"role,omitempty"`       // for client credentials
	Facility     string    `json:"facility,omitempty"`
	RedirectURIs []string  `json:"redirectUris,omitempty"`
	Scope        string    `json:"scope,omitempty"` // the most it may be granted; empty: its role's ceiling
	Disabled     bool      `json:"disabled,omitempty"`
	Created      time.Time `json:"created"`
}

// Public reports whether the client has no secret (a browser or mobile app).
func (c *Client) Public() bool { return c.SecretHash == "" }

// namePattern is what user names and client ids may be: they appear in
// tokens, audit records and URLs.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// idPattern is a FHIR id.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

// Directory keeps users and clients in the store's accounts.
type Directory struct {
	accounts store.Accounts
}

// NewDirectory returns the directory over a store's accounts.
func NewDirectory(a store.Accounts) *Directory { return &Directory{accounts: a} }

// ErrExists is returned when adding a user or client whose name is taken.
var ErrExists = errors.New("auth: name already in use")

// AddUser checks u and stores it; u.PasswordHash must be set (HashPassword).
func (d *Directory) AddUser(ctx context.Context, u User) error {
	if err := u.check(); err != nil {
		return err
	}
	if _, err := d.User(ctx, u.Name); err == nil {
		return fmt.Errorf("%w: user %q", ErrExists, u.Name)
	} else if !isNotFound(err) {
		return err
	}
	if u.Created.IsZero() {
		u.Created = time.Now().UTC()
	}
	return d.put(ctx, kindUser, u.Name, u)
}

// UpdateUser replaces a stored user.
func (d *Directory) UpdateUser(ctx context.Context, u User) error {
	if err := u.check(); err != nil {
		return err
	}
	if _, err := d.User(ctx, u.Name); err != nil {
		return err
	}
	return d.put(ctx, kindUser, u.Name, u)
}

func (u *User) check() error {
	if !namePattern.MatchString(u.Name) {
		return fmt.Errorf("auth: user name %q: letters, digits and . _ @ - only, at most 64", u.Name)
	}
	if _, err := ParseRole(string(u.Role)); err != nil {
		return err
	}
	if u.PasswordHash == "" {
		return fmt.Errorf("auth: user %q has no password", u.Name)
	}
	if u.Role.NeedsFacility() && u.Facility == "" {
		return fmt.Errorf("auth: a %s needs a facility (Organization id)", u.Role)
	}
	if u.Facility != "" && !idPattern.MatchString(u.Facility) {
		return fmt.Errorf("auth: facility %q is not an Organization id", u.Facility)
	}
	if u.Role == RoleResident && len(u.Patients) == 0 {
		return fmt.Errorf("auth: a resident needs their Patient record id")
	}
	for _, p := range u.Patients {
		if !idPattern.MatchString(p) {
			return fmt.Errorf("auth: patient %q is not a Patient id", p)
		}
	}
	if u.FHIRUser != "" {
		typ, id, ok := strings.Cut(u.FHIRUser, "/")
		if !ok || !slices.Contains([]string{"Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Person"}, typ) || !idPattern.MatchString(id) {
			return fmt.Errorf("auth: fhirUser %q is not a Practitioner, Patient, RelatedPerson or Person reference", u.FHIRUser)
		}
	}
	return nil
}

// User reads a user; a missing one is a fhir.NotFound error.
func (d *Directory) User(ctx context.Context, name string) (*User, error) {
	var u User
	if err := d.get(ctx, kindUser, name, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// Users lists every user in name order.
func (d *Directory) Users(ctx context.Context) ([]User, error) {
	return list[User](ctx, d.accounts, kindUser)
}

// AddClient checks c and stores it.
func (d *Directory) AddClient(ctx context.Context, c Client) error {
	if !namePattern.MatchString(c.ID) {
		return fmt.Errorf("auth: client id %q: letters, digits and . _ @ - only, at most 64", c.ID)
	}
	if c.Public() && len(c.RedirectURIs) == 0 {
		return fmt.Errorf("auth: public client %q needs a redirect URI", c.ID)
	}
	if !c.Public() {
		if _, err := ParseRole(string(c.Role)); err != nil {
			return err
		}
		if c.Role.NeedsFacility() && c.Facility == "" {
			return fmt.Errorf("auth: a %s client needs a facility (Organization id)", c.Role)
		}
	}
	if c.Facility != "" && !idPattern.MatchString(c.Facility) {
		return fmt.Errorf("auth: facility %q is not an Organization id", c.Facility)
	}
	if _, err := ParseScopes(c.Scope); err != nil {
		return err
	}
	for _, u := range c.RedirectURIs {
		if err := checkRedirectURI(u); err != nil {
			return err
		}
	}
	if _, err := d.Client(ctx, c.ID); err == nil {
		return fmt.Errorf("%w: client %q", ErrExists, c.ID)
	} else if !isNotFound(err) {
		return err
	}
	if c.Created.IsZero() {
		c.Created = time.Now().UTC()
	}
	return d.put(ctx, kindClient, c.ID, c)
}

// UpdateClient replaces a stored client.
func (d *Directory) UpdateClient(ctx context.Context, c Client) error {
	if _, err := d.Client(ctx, c.ID); err != nil {
		return err
	}
	return d.put(ctx, kindClient, c.ID, c)
}

// Client reads a client; a missing one is a fhir.NotFound error.
func (d *Directory) Client(ctx context.Context, id string) (*Client, error) {
	var c Client
	if err := d.get(ctx, kindClient, id, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Clients lists every client in id order.
func (d *Directory) Clients(ctx context.Context) ([]Client, error) {
	return list[Client](ctx, d.accounts, kindClient)
}

// NewSecret returns a random client secret (256 bits, URL-safe).
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (d *Directory) put(ctx context.Context, kind, name string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("auth: encode %s %q: %w", kind, name, err)
	}
	return d.accounts.PutAccount(ctx, kind, name, body)
}

func (d *Directory) get(ctx context.Context, kind, name string, v any) error {
	body, err := d.accounts.Account(ctx, kind, name)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("auth: decode %s %q: %w", kind, name, err)
	}
	return nil
}

func list[T any](ctx context.Context, a store.Accounts, kind string) ([]T, error) {
	recs, err := a.Accounts(ctx, kind)
	if err != nil {
		return nil, err
	}
	out := make([]T, len(recs))
	for i, r := range recs {
		if err := json.Unmarshal(r.Body, &out[i]); err != nil {
			return nil, fmt.Errorf("auth: decode %s %q: %w", kind, r.Name, err)
		}
	}
	return out, nil
}

func isNotFound(err error) bool {
	var fe *fhir.Error
	return errors.As(err, &fe) && fe.Code == fhir.NotFound
}
