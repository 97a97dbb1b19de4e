package server

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
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

func TestClientAddress(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.1/32")}
	for _, tc := range []struct {
		peer, forwarded, want string
	}{
		{"198.51.100.7:4000", "", "198.51.100.7"},
		{"198.51.100.7:4000", "203.0.113.9", "198.51.100.7"}, // not a proxy: its header is ignored
		{"10.1.2.3:4000", "203.0.113.9", "203.0.113.9"},
		{"10.1.2.3:4000", "1.2.3.4, 203.0.113.9, 10.9.9.9", "203.0.113.9"}, // the client wrote 1.2.3.4 itself
		{"127.0.0.1:4000", "10.0.0.5", "127.0.0.1"},                        // every hop a proxy
		{"10.1.2.3:4000", "not-an-address", "10.1.2.3"},
		{"[::ffff:10.1.2.3]:4000", "2001:db8::1", "2001:db8::1"},
	} {
		r := httptest.NewRequest("GET", "/fhir/metadata", nil)
		r.RemoteAddr = tc.peer
		if tc.forwarded != "" {
			r.Header.Set("X-Forwarded-For", tc.forwarded)
		}
		if got := clientAddress(r, trusted); got != tc.want {
			t.Errorf("%s forwarding %q: %s, want %s", tc.peer, tc.forwarded, got, tc.want)
		}
	}
	// Behind the proxy, each client has its own rate limit.
	var seen []string
	h := Edge(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = append(seen, peerAddress(r)) }),
		EdgeOptions{IPRate: 0.001, IPBurst: 1, TrustedProxies: trusted})
	for i, client := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.1"} {
		r := httptest.NewRequest("GET", "/fhir/metadata", nil)
		r.RemoteAddr = "10.0.0.1:5000"
		r.Header.Set("X-Forwarded-For", client)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if want := map[bool]int{true: 200, false: 429}[i < 2]; w.Code != want {
			t.Errorf("request %d from %s: %d, want %d", i, client, w.Code, want)
		}
	}
	if strings.Join(seen, " ") != "203.0.113.1 203.0.113.2" {
		t.Errorf("the handler saw %v", seen)
	}
}
