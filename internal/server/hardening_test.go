package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/auth"
)

func TestEdge(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	h := Edge(inner, EdgeOptions{CORSOrigins: []string{"https://app.example.cn"}, IPRate: 0.001, IPBurst: 3})
	do := func(method, path string, header map[string]string) *http.Response {
		req := httptest.NewRequest(method, path, nil)
		req.RemoteAddr = "192.0.2.9:5555"
		for k, v := range header {
			req.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Result()
	}
	resp := do("GET", "/fhir/metadata", map[string]string{"Origin": "https://app.example.cn"})
	for k, want := range map[string]string{
		"X-Content-Type-Options":      "nosniff",
		"X-Frame-Options":             "DENY",
		"Cache-Control":               "no-store",
		"Referrer-Policy":             "no-referrer",
		"Access-Control-Allow-Origin": "https://app.example.cn",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	pre := do("OPTIONS", "/fhir/Patient", map[string]string{"Origin": "https://app.example.cn", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "authorization"})
	if pre.StatusCode != http.StatusNoContent || !strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight: %d %v", pre.StatusCode, pre.Header)
	}
	// The third request of the address used its burst; the fourth waits.
	if other := do("GET", "/healthz", map[string]string{"Origin": "https://evil.example"}); other.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("an unlisted origin was allowed")
	}
	limited := do("GET", "/fhir/Patient", nil)
	if limited.StatusCode != http.StatusTooManyRequests || limited.Header.Get("Retry-After") == "" {
		t.Errorf("fourth request: %d, Retry-After %q", limited.StatusCode, limited.Header.Get("Retry-After"))
	}
}

func TestRateLimiter(t *testing.T) {
	l := newRateLimiter(2, 2)
	now := time.Unix(0, 0)
	for i, want := range []bool{true, true, false} {
		if ok, _ := l.allow("a", now); ok != want {
			t.Fatalf("request %d: %v", i, ok)
		}
	}
	if ok, retry := l.allow("a", now); ok || retry != 500*time.Millisecond {
		t.Errorf("retry %v, want 500ms", retry)
	}
	if ok, _ := l.allow("b", now); !ok {
		t.Errorf("another key shares the bucket")
	}
	if ok, _ := l.allow("a", now.Add(600*time.Millisecond)); !ok {
		t.Errorf("no refill after 600ms")
	}
}

func TestPrincipalRateLimit(t *testing.T) {
	s2 := newSecureServerWith(t, backends[0].open(t), 0.001, 2)
	s2.principal(t, "admin", auth.RoleAdmin, "", nil, "")
	for i, want := range []int{200, 200, 429} {
		if status, body := s2.as(t, "admin", "GET", "/Organization", nil, ""); status != want {
			t.Fatalf("request %d: %d %s", i, status, body)
		}
	}
}

func TestCapabilitySecurity(t *testing.T) {
	s := newSecureServer(t, backends[0].open(t))
	status, body := s.as(t, "", "GET", "/metadata", nil, "")
	if status != http.StatusOK {
		t.Fatal(status)
	}
	for _, want := range []string{`"code":"SMART-on-FHIR"`, `"url":"token"`, s.url + `/auth/token`, `oauth-uris`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("CapabilityStatement lacks %s", want)
		}
	}
}
