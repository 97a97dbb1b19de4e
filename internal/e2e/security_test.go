package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hip-e2e"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestSecurityOperations runs what an operator does: add a user and a
// facility system with the CLI, serve over TLS, get tokens from the token
// endpoint and from hip token, then read and verify the audit trail.
func TestSecurityOperations(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		dir := t.TempDir()
		pwFile := filepath.Join(dir, "pw")
		if err := os.WriteFile(pwFile, []byte("Admin-password-2026\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		msg, err := runHip(t, "users", "add", "--db", db, "--name", "admin", "--role", "admin", "--display", "管理员", "--password-file", pwFile)
		if err != nil || !strings.Contains(msg, "added user admin") || strings.Contains(msg, "Admin-password-2026") {
			t.Fatalf("users add: %v\n%s", err, msg)
		}
		msg, err = runHip(t, "clients", "add", "--db", db, "--id", "his-1", "--facility", "org1", "--display", "某医院 HIS")
		secret := regexp.MustCompile(`client secret \(shown once\): (\S+)`).FindStringSubmatch(msg)
		if err != nil || secret == nil {
			t.Fatalf("clients add: %v\n%s", err, msg)
		}
		if msg, err := runHip(t, "users", "list", "--db", db); err != nil || !strings.Contains(msg, "admin") || strings.Contains(msg, "argon2") {
			t.Fatalf("users list: %v\n%s", err, msg)
		}
		// A user moved from another system keeps their bcrypt hash, and logs in.
		legacy, err := bcrypt.GenerateFromPassword([]byte("Legacy-password-9"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		hashFile := filepath.Join(dir, "hash")
		if err := os.WriteFile(hashFile, legacy, 0o600); err != nil {
			t.Fatal(err)
		}
		if msg, err := runHip(t, "users", "add", "--db", db, "--name", "doctor", "--role", "clinician", "--facility", "org1",
			"--password-hash-file", hashFile); err != nil {
			t.Fatalf("users add --password-hash-file: %v\n%s", err, msg)
		}
		if msg, err := runHip(t, "clients", "add", "--db", db, "--id", "app", "--public", "--redirect-uri", "https://app.example.cn/cb"); err != nil {
			t.Fatalf("clients add --public: %v\n%s", err, msg)
		}
		cert, key := selfSigned(t, dir)
		kek, err := runHip(t, "keys", "new-kek")
		kekFile := filepath.Join(dir, "kek")
		if err != nil || os.WriteFile(kekFile, []byte(strings.Split(kek, "\n")[0]), 0o400) != nil {
			t.Fatalf("hip keys new-kek: %v\n%s", err, kek)
		}
		s := startHip(t, db, "serve", "--db", db, "--tls-cert", cert, "--tls-key", key, "--key-encryption-key-file", kekFile)
		addr := strings.TrimPrefix(s.URL, "https://")
		if resp, _ := s.get(t, "/fhir/Patient"); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Strict-Transport-Security") == "" {
			t.Fatalf("without a token over TLS: %d %v", resp.StatusCode, resp.Header)
		}
		login := url.Values{"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {"https://app.example.cn/cb"},
			"code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}, "username": {"doctor"},
			"password": {"Legacy-password-9"}}
		noFollow := *s.client
		noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := noFollow.PostForm(s.URL+"/auth/authorize", login)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || !strings.Contains(resp.Header.Get("Location"), "code=") {
			t.Fatalf("login with the imported bcrypt password: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		// The facility system's token, from the token endpoint.
		resp, err = s.client.PostForm(s.URL+"/auth/token", url.Values{"grant_type": {"client_credentials"},
			"client_id": {"his-1"}, "client_secret": {secret[1]}})
		if err != nil {
			t.Fatal(err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		json.NewDecoder(resp.Body).Decode(&tok)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
			t.Fatalf("token endpoint: %d", resp.StatusCode)
		}
		s.token = tok.AccessToken
		r, body, err := s.do(t.Context(), "PUT", "/fhir/Patient/e2e-1", []byte(`{"resourceType":"Patient","id":"e2e-1","name":[{"family":"李"}]}`))
		if err != nil || r.StatusCode != http.StatusCreated || !strings.Contains(string(body), "org1") {
			t.Fatalf("facility writes a patient: %v %d %s", err, r.StatusCode, body)
		}
		// The administrator's token, from hip token (same issuer and audience
		// as the server: the same address and TLS settings).
		if msg, err := runHip(t, "token", "--db", db, "--user", "admin", "--addr", addr, "--tls-cert", cert, "--tls-key", key); err == nil ||
			!strings.Contains(msg, "sealed") {
			t.Fatalf("hip token without the key-encryption key: %v\n%s", err, msg)
		}
		admin, err := runHip(t, "token", "--db", db, "--user", "admin", "--addr", addr, "--tls-cert", cert, "--tls-key", key,
			"--key-encryption-key-file", kekFile)
		if err != nil {
			t.Fatalf("hip token: %v\n%s", err, admin)
		}
		s.token = strings.TrimSpace(strings.Split(admin, "\n")[0])
		if resp, body := s.get(t, "/fhir/Patient/e2e-1"); resp.StatusCode != http.StatusOK {
			t.Fatalf("admin reads: %d %s", resp.StatusCode, body)
		}
		if resp, body := s.get(t, "/fhir/AuditEvent?patient=Patient/e2e-1"); resp.StatusCode != http.StatusOK ||
			!strings.Contains(string(body), `"value":"his-1"`) || !strings.Contains(string(body), `"value":"admin"`) {
			t.Fatalf("audit of the patient: %d %.500s", resp.StatusCode, body)
		}
		if _, err := s.stop(); err != nil {
			t.Fatal(err)
		}
		msg, err = runHip(t, "audit", "--db", db, "--patient", "e2e-1")
		if err != nil || !strings.Contains(msg, "his-1") || !strings.Contains(msg, "update") {
			t.Fatalf("hip audit: %v\n%s", err, msg)
		}
		msg, err = runHip(t, "audit", "verify", "--db", db)
		anchor := regexp.MustCompile(`head \(anchor\) (\d+:[0-9a-f]{64})`).FindStringSubmatch(msg)
		if err != nil || !strings.Contains(msg, "intact") || anchor == nil {
			t.Fatalf("hip audit verify: %v\n%s", err, msg)
		}
		if msg, err := runHip(t, "audit", "verify", "--db", db, "--anchor", anchor[1]); err != nil || !strings.Contains(msg, "intact") {
			t.Fatalf("hip audit verify --anchor %s: %v\n%s", anchor[1], err, msg)
		}
		if msg, err := runHip(t, "audit", "verify", "--db", db, "--anchor", "99999:"+strings.Repeat("0", 64)); err == nil || !strings.Contains(msg, "cut off") {
			t.Fatalf("an anchor past the trail's end was not reported: %v\n%s", err, msg)
		}
	})
}
