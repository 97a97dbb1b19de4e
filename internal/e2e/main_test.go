package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// hipBinary is the hip executable TestMain builds once for every test of the package.
var hipBinary string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hip-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	hipBinary = filepath.Join(dir, "hip")
	if err := buildHip(hipBinary); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}

// buildHip builds ./cmd/hip of the enclosing module into out.
func buildHip(out string) error {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("locating the module: go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" {
		return errors.New("locating the module: go env GOMOD printed no go.mod")
	}
	cmd := exec.Command("go", "build", "-o", out, "./cmd/hip")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/hip: %w\n%s", err, msg)
	}
	return nil
}

// runHip runs a one-shot hip command (not serve) and returns its combined output.
func runHip(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, hipBinary, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = hipEnv()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// hipEnv is the test's environment without HIP_DATABASE_URL, so that only --db
// chooses the database.
func hipEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HIP_DATABASE_URL=") {
			env = append(env, kv)
		}
	}
	return env
}

// forEachBackend runs fn as a subtest per storage backend, with the --db value of a
// fresh, empty database.
func forEachBackend(t *testing.T, fn func(t *testing.T, db string)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, filepath.Join(t.TempDir(), "hip.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, postgresDB(t))
	})
}

// postgresDB creates a database of its own for the test on the server named by
// HIP_TEST_POSTGRES_URL and drops it when the test ends.
func postgresDB(t *testing.T) string {
	t.Helper()
	base := os.Getenv("HIP_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("HIP_TEST_POSTGRES_URL not set: PostgreSQL tests skipped")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("HIP_TEST_POSTGRES_URL: %v", err)
	}
	name := "e2e_" + randomHex(6)
	admin := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return fmt.Errorf("connecting to HIP_TEST_POSTGRES_URL: %w", err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
		return nil
	}
	if err := admin("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := admin("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Error(err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// server is one `hip serve` subprocess.
type server struct {
	t       *testing.T
	URL     string // http://127.0.0.1:port
	Base    string // the FHIR base, URL + "/fhir"
	DB      string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{} // closed when the process has exited; then waitErr is set
	waitErr error
	client  *http.Client
	token   string // bearer token sent with every request, when set
}

// startServer runs `hip serve` on a free loopback port over db and waits until
// /healthz answers. The process is killed at the end of the test if still running.
func startServer(t *testing.T, db string) *server {
	t.Helper()
	// These tests exercise the FHIR protocol, some of them as fast as they
	// can; security and its limits have their own tests.
	return startHip(t, db, "serve", "--db", db, "--auth", "none", "--ip-rate-limit", "0", "--rate-limit", "0")
}

// startHip runs a serving hip command (serve, demo) with args on a free loopback
// port and waits until /healthz answers.
func startHip(t *testing.T, db, command string, args ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	logFile, err := os.CreateTemp(t.TempDir(), "hip-serve-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd := exec.Command(hipBinary, append([]string{command, "--addr", addr}, args...)...)
	cmd.Dir = t.TempDir()
	cmd.Env = hipEnv()
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting hip serve: %v", err)
	}
	scheme, client := "http", &http.Client{Timeout: 30 * time.Second}
	if i := slices.Index(args, "--tls-cert"); i >= 0 && i+1 < len(args) {
		// Trust the server's own certificate, as a facility would be told to.
		pem, err := os.ReadFile(args[i+1])
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	s := &server{
		t:       t,
		URL:     scheme + "://" + addr,
		Base:    scheme + "://" + addr + "/fhir",
		DB:      db,
		cmd:     cmd,
		logPath: logFile.Name(),
		exited:  make(chan struct{}),
		client:  client,
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
		default:
			cmd.Process.Kill()
			<-s.exited
		}
		if t.Failed() {
			t.Logf("hip serve log (%s), last lines:\n%s", s.logPath, s.logTail(40))
		}
	})
	// demo generates its region before it listens.
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := s.client.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-s.exited:
			t.Fatalf("hip %s exited before answering /healthz: %v\n%s", command, s.waitErr, s.logTail(40))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("hip %s did not answer /healthz with 200 within 90s (last: %v)\n%s", command, err, s.logTail(40))
		}
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *server) logTail(n int) string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// stop sends SIGTERM and waits for the process to exit; it returns how long that took
// and the exit error (nil for status 0). It fails the test after 15s.
func (s *server) stop() (time.Duration, error) {
	s.t.Helper()
	start := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-s.exited:
		return time.Since(start), s.waitErr
	case <-time.After(15 * time.Second):
		s.t.Fatalf("hip serve still running 15s after SIGTERM\n%s", s.logTail(20))
		return 0, nil
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *server) kill() {
	s.t.Helper()
	if err := s.cmd.Process.Kill(); err != nil {
		s.t.Fatalf("SIGKILL: %v", err)
	}
	<-s.exited
}

// do sends a request to the server (path relative to its root, e.g. /fhir/Patient/1)
// and returns the response with its body read.
func (s *server) do(ctx context.Context, method, path string, body []byte) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.URL+path, rd)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/fhir+json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp, nil, fmt.Errorf("%s %s: reading body: %w", method, path, err)
	}
	return resp, data, nil
}

// get is do for a GET that must get a response; it fails the test otherwise.
func (s *server) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	resp, body, err := s.do(t.Context(), http.MethodGet, path, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp, body
}

// resource is the part of a FHIR resource the tests look at.
type resource struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
	Meta         struct {
		VersionID string `json:"versionId"`
	} `json:"meta"`
}

func decodeResource(body []byte) (resource, error) {
	var r resource
	if err := json.Unmarshal(body, &r); err != nil {
		return r, fmt.Errorf("invalid JSON: %w", err)
	}
	return r, nil
}
