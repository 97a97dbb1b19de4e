package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/store/postgres/pgtest"
	"github.com/hip-platform/hip/internal/store/sqlite"
	"github.com/hip-platform/hip/internal/store/storetest"
)

// backend opens a fresh, empty store of one kind.
type backend struct {
	name     string
	openWith func(t testing.TB, opts store.Options) store.Store
}

// open opens a store with the indexer that tests share (newTestServer's).
func (b backend) open(t testing.TB) store.Store { return b.openWith(t, storetest.Options(t)) }

var backends = []backend{
	{"sqlite", func(t testing.TB, opts store.Options) store.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "hip.db"), opts)
		if err != nil {
			t.Fatalf("open sqlite: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}},
	{"postgres", func(t testing.TB, opts store.Options) store.Store { return pgtest.Open(t, pgtest.URL(t), opts) }},
}

var loadDefs = sync.OnceValues(spec.Load)

// newTestServer serves a store opened by backend.open over real HTTP.
func newTestServer(t testing.TB, st store.Store, maxBody int64) *httptest.Server {
	t.Helper()
	return newServerWith(t, st, storetest.Indexer(t), maxBody)
}

// newServerWith serves a store opened with indexer ix over real HTTP.
func newServerWith(t testing.TB, st store.Store, ix *search.Indexer, maxBody int64) *httptest.Server {
	t.Helper()
	defs, err := loadDefs()
	if err != nil {
		t.Fatalf("load definitions: %v", err)
	}
	srv, err := New(Config{Store: st, Definitions: defs, Validator: validate.New(defs), Indexer: ix, MaxBodyBytes: maxBody,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// call sends one request and returns status, headers and body.
func call(t testing.TB, method, url string, header map[string]string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, resp.Header, b
}

// decode parses JSON keeping numbers' text.
func decode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("decode %.200s: %v", b, err)
	}
	return m
}

// idFromLocation returns the id in .../Type/id/_history/n.
func idFromLocation(loc string) string {
	parts := strings.Split(loc, "/")
	for i := len(parts) - 1; i >= 2; i-- {
		if parts[i] == "_history" {
			return parts[i-1]
		}
	}
	return ""
}
