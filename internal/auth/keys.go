package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/hip-platform/hip/internal/store"
)

// signingAlg is the algorithm of every token the built-in provider signs:
// ECDSA P-256, short keys and signatures, in every JOSE library.
const signingAlg = jose.ES256

// signingKey is one key of the ring as stored in the database: the
// private key (PKCS #8 DER) sealed with AES-256-GCM under a key-encryption
// key kept outside the database when one is configured, else in the clear
// (the database then needs the protection of the records it guards). It is
// never logged or written elsewhere.
type signingKey struct {
	ID      string    `json:"kid"`
	Created time.Time `json:"created"`
	Private []byte    `json:"pkcs8,omitempty"`
	Sealed  []byte    `json:"sealed,omitempty"` // nonce ‖ AES-GCM(PKCS #8), the kid as additional data

	key *ecdsa.PrivateKey
}

// KeyRingOption configures a key ring.
type KeyRingOption func(*KeyRing) error

// WithKeyEncryption seals the private keys the ring stores with kek (32
// bytes, AES-256-GCM) and opens sealed ones with it.
func WithKeyEncryption(kek []byte) KeyRingOption {
	return func(r *KeyRing) error {
		if len(kek) != 32 {
			return fmt.Errorf("auth: a key-encryption key has 32 bytes, not %d", len(kek))
		}
		block, err := aes.NewCipher(kek)
		if err != nil {
			return err
		}
		r.aead, err = cipher.NewGCM(block)
		return err
	}
}

// seal encrypts a private key for storage, bound to its kid.
func (r *KeyRing) seal(kid string, der []byte) []byte {
	nonce := make([]byte, r.aead.NonceSize())
	rand.Read(nonce)
	return r.aead.Seal(nonce, nonce, der, []byte(kid))
}

// open returns the private key of a stored key.
func (r *KeyRing) open(k *signingKey) ([]byte, error) {
	if k.Sealed == nil {
		return k.Private, nil
	}
	if r.aead == nil {
		return nil, fmt.Errorf("auth: signing key %s is sealed: configure the key-encryption key", k.ID)
	}
	n := r.aead.NonceSize()
	if len(k.Sealed) < n {
		return nil, fmt.Errorf("auth: signing key %s: sealed key too short", k.ID)
	}
	der, err := r.aead.Open(nil, k.Sealed[:n], k.Sealed[n:], []byte(k.ID))
	if err != nil {
		return nil, fmt.Errorf("auth: signing key %s does not open with the configured key-encryption key", k.ID)
	}
	return der, nil
}

// KeyRing holds the token signing keys: the newest signs, and keys stay
// published in the JWKS for a rotation period after a newer one replaced
// them, longer than any token they signed lives. Several processes on one
// database share the ring: each reloads it now and then and when it meets a
// key id it does not know.
type KeyRing struct {
	accounts store.Accounts
	rotation time.Duration
	now      func() time.Time
	aead     cipher.AEAD // seals stored private keys; nil: stored in the clear

	mu         sync.Mutex
	keys       []*signingKey // oldest first
	loaded     time.Time
	lastReload time.Time // of one forced by an unknown key id
}

// reloadEvery is how often a process reads the ring again to see keys other
// processes added.
const reloadEvery = time.Minute

// NewKeyRing opens the ring, creating its first key or a new one when the
// newest is older than rotation (default 30 days).
func NewKeyRing(ctx context.Context, accounts store.Accounts, rotation time.Duration, opts ...KeyRingOption) (*KeyRing, error) {
	if rotation <= 0 {
		rotation = 30 * 24 * time.Hour
	}
	r := &KeyRing{accounts: accounts, rotation: rotation, now: time.Now}
	for _, opt := range opts {
		if err := opt(r); err != nil {
			return nil, err
		}
	}
	if err := r.reload(ctx); err != nil {
		return nil, err
	}
	if err := r.rotateIfDue(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *KeyRing) reload(ctx context.Context) error {
	recs, err := r.accounts.Accounts(ctx, kindKey)
	if err != nil {
		return fmt.Errorf("auth: load signing keys: %w", err)
	}
	keys := make([]*signingKey, 0, len(recs))
	for _, rec := range recs {
		var k signingKey
		if err := json.Unmarshal(rec.Body, &k); err != nil {
			return fmt.Errorf("auth: signing key %s: %w", rec.Name, err)
		}
		der, err := r.open(&k)
		if err != nil {
			return err
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return fmt.Errorf("auth: signing key %s: %w", rec.Name, err)
		}
		ec, ok := priv.(*ecdsa.PrivateKey)
		if !ok {
			return fmt.Errorf("auth: signing key %s is not an ECDSA key", rec.Name)
		}
		k.key = ec
		keys = append(keys, &k)
	}
	slices.SortFunc(keys, func(a, b *signingKey) int { return a.Created.Compare(b.Created) })
	r.mu.Lock()
	r.keys, r.loaded = keys, r.now()
	r.mu.Unlock()
	return nil
}

// Rotate adds a new signing key, which signs from now on.
func (r *KeyRing) Rotate(ctx context.Context) (kid string, err error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("auth: generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("auth: encode signing key: %w", err)
	}
	id := make([]byte, 8)
	rand.Read(id)
	k := signingKey{ID: hex.EncodeToString(id), Created: r.now().UTC(), Private: der}
	if r.aead != nil {
		k.Private, k.Sealed = nil, r.seal(k.ID, der)
	}
	body, err := json.Marshal(k)
	if err != nil {
		return "", err
	}
	if err := r.accounts.PutAccount(ctx, kindKey, k.ID, body); err != nil {
		return "", fmt.Errorf("auth: store signing key: %w", err)
	}
	return k.ID, r.reload(ctx)
}

// rotateIfDue rotates when there is no key or the newest is older than the
// rotation period.
func (r *KeyRing) rotateIfDue(ctx context.Context) error {
	r.mu.Lock()
	due := len(r.keys) == 0 || r.now().Sub(r.keys[len(r.keys)-1].Created) >= r.rotation
	r.mu.Unlock()
	if !due {
		return nil
	}
	_, err := r.Rotate(ctx)
	return err
}

// Maintain reloads the ring every minute and rotates it when due, until ctx
// ends. A server runs it in the background.
func (r *KeyRing) Maintain(ctx context.Context, onError func(error)) {
	t := time.NewTicker(reloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := r.reload(ctx)
		if err == nil {
			err = r.rotateIfDue(ctx)
		}
		if err != nil && ctx.Err() == nil && onError != nil {
			onError(err)
		}
	}
}

// current returns the signing key: the newest.
func (r *KeyRing) current() (*signingKey, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys) == 0 {
		return nil, errors.New("auth: no signing key")
	}
	return r.keys[len(r.keys)-1], nil
}

// published returns the keys tokens may be verified with: the newest and
// those replaced less than a rotation period ago.
func (r *KeyRing) published() []*signingKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	var out []*signingKey
	for i, k := range r.keys {
		if i == len(r.keys)-1 || now.Sub(r.keys[i+1].Created) < r.rotation {
			out = append(out, k)
		}
	}
	return out
}

// JWKS returns the public keys as a JSON Web Key Set (RFC 7517).
func (r *KeyRing) JWKS() ([]byte, error) {
	var set jose.JSONWebKeySet
	for _, k := range r.published() {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.ID, Algorithm: string(signingAlg), Use: "sig"})
	}
	return json.Marshal(set)
}

// Sign signs claims as a compact JWS with the current key; typ is the JOSE
// header type ("at+jwt" for access tokens, RFC 9068; "JWT" for ID tokens).
func (r *KeyRing) Sign(claims any, typ string) (string, error) {
	k, err := r.current()
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: signingAlg, Key: jose.JSONWebKey{Key: k.key, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", fmt.Errorf("auth: signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("auth: encode claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("auth: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// VerifySignature checks a compact JWS against the published keys and
// returns its payload (go-oidc's KeySet). A key id the ring does not know
// makes it reload once a second at most: another process may have rotated.
func (r *KeyRing) VerifySignature(ctx context.Context, token string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{signingAlg})
	if err != nil {
		return nil, fmt.Errorf("auth: malformed token: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("auth: token must have one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	k := r.find(kid)
	if k == nil && r.mayReload() {
		if err := r.reload(ctx); err != nil {
			return nil, err
		}
		k = r.find(kid)
	}
	if k == nil {
		return nil, errors.New("auth: token signed by an unknown or retired key")
	}
	return jws.Verify(&k.key.PublicKey)
}

func (r *KeyRing) find(kid string) *signingKey {
	for _, k := range r.published() {
		if k.ID == kid {
			return k
		}
	}
	return nil
}

func (r *KeyRing) mayReload() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.now().Sub(r.lastReload) < time.Second {
		return false
	}
	r.lastReload = r.now()
	return true
}
