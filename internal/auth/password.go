package auth

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/alexedwards/argon2id"
	"golang.org/x/crypto/bcrypt"
)

// passwordParams are the argon2id parameters of new hashes: the second
// recommended option of RFC 9106 §4 scaled to a server that verifies logins
// on two cores (64 MiB, 3 passes; about 60 ms here).
var passwordParams = &argon2id.Params{
	Memory:      64 * 1024,
	Iterations:  3,
	Parallelism: uint8(min(4, max(1, runtime.GOMAXPROCS(0)))),
	SaltLength:  16,
	KeyLength:   32,
}

// Password limits: a longer one is refused rather than hashed, as hashing
// cost grows with it; a shorter one is too weak for a health record system.
const (
	MinPasswordLength = 10
	maxPasswordLength = 256
)

// HashPassword hashes a password with argon2id (PHC string format).
func HashPassword(password string) (string, error) {
	if err := CheckPasswordStrength(password); err != nil {
		return "", err
	}
	h, err := argon2id.CreateHash(password, passwordParams)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return h, nil
}

// CheckPasswordStrength refuses passwords that are too short or long, or of
// one kind of character only.
func CheckPasswordStrength(password string) error {
	n := len([]rune(password))
	if n < MinPasswordLength {
		return fmt.Errorf("auth: a password needs at least %d characters", MinPasswordLength)
	}
	if len(password) > maxPasswordLength {
		return fmt.Errorf("auth: a password may have at most %d bytes", maxPasswordLength)
	}
	var kinds [4]bool
	for _, c := range password {
		switch {
		case c >= 'a' && c <= 'z':
			kinds[0] = true
		case c >= 'A' && c <= 'Z':
			kinds[1] = true
		case c >= '0' && c <= '9':
			kinds[2] = true
		default:
			kinds[3] = true
		}
	}
	k := 0
	for _, b := range kinds {
		if b {
			k++
		}
	}
	if k < 2 {
		return errors.New("auth: a password needs at least two kinds of characters (letters, digits, symbols)")
	}
	return nil
}

// VerifyPassword reports whether password matches hash: an argon2id hash of
// ours or a bcrypt hash imported from another system.
func VerifyPassword(hash, password string) bool {
	if len(password) > maxPasswordLength {
		return false
	}
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		ok, err := argon2id.ComparePasswordAndHash(password, hash)
		return err == nil && ok
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	}
	return false
}

// CheckHash accepts a password hash imported from another system: argon2id
// (PHC string) or bcrypt ($2a$, $2b$, $2y$), as VerifyPassword reads them.
func CheckHash(hash string) error {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		if _, _, _, err := argon2id.DecodeHash(hash); err != nil {
			return fmt.Errorf("auth: argon2id hash: %w", err)
		}
		return nil
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("auth: bcrypt hash: %w", err)
		}
		return nil
	}
	return errors.New("auth: not an argon2id or bcrypt hash")
}

// dummyHash is verified against when a login names no known user, so that
// an unknown name takes as long as a wrong password (no user oracle).
var dummyHash = sync.OnceValue(func() string {
	h, err := argon2id.CreateHash("no such user, no such password", passwordParams)
	if err != nil {
		panic(err)
	}
	return h
})
