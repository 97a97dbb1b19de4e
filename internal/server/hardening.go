package server

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

// EdgeOptions configure the protections every response gets, whatever
// serves it (the FHIR API, the identity provider, health and metrics).
type EdgeOptions struct {
	// CORSOrigins are the browser origins (https://app.example.cn) allowed
	// to call the API; "*" allows any. Empty: no cross-origin access.
	CORSOrigins []string
	// IPRate and IPBurst bound the requests of one client address per
	// second (0: unlimited), before anything else is read.
	IPRate  float64
	IPBurst int
	// TrustedProxies are the reverse proxies (nginx, a load balancer) whose
	// X-Forwarded-For names the client: behind them the client's address,
	// not the proxy's, is rate-limited and audited. Anyone else's header is
	// ignored, as a client could write it.
	TrustedProxies []netip.Prefix
}

// clientAddress is the address a request comes from: the peer, or, when
// the peer is a trusted proxy, the last address in X-Forwarded-For that is
// not one (proxies append what they saw, so the right end is theirs).
func clientAddress(r *http.Request, trusted []netip.Prefix) string {
	peer := peerAddress(r)
	isTrusted := func(s string) bool {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if len(trusted) == 0 || !isTrusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err != nil {
			return peer // a malformed chain is not believed
		}
		if !isTrusted(hop) {
			return hop
		}
	}
	return peer
}

// corsHeaders are the request headers a browser app may send.
var corsHeaders = "Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Exist, If-None-Match, If-Modified-Since, " +
	"X-Request-Id, " + headerPurpose + ", " + headerReason

// Edge wraps h with security headers, CORS and a per-address rate limit.
func Edge(h http.Handler, opts EdgeOptions) http.Handler {
	var ipLimit *rateLimiter
	if opts.IPRate > 0 {
		ipLimit = newRateLimiter(opts.IPRate, opts.IPBurst)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(opts.TrustedProxies) > 0 {
			if addr := clientAddress(r, opts.TrustedProxies); addr != peerAddress(r) {
				r = r.WithContext(r.Context()) // a copy: the original belongs to the server
				r.RemoteAddr = net.JoinHostPort(addr, "0")
			}
		}
		hdr := w.Header()
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		if hdr.Get("X-Frame-Options") == "" {
			hdr.Set("X-Frame-Options", "DENY")
		}
		if r.TLS != nil {
			hdr.Set("Strict-Transport-Security", "max-age=31536000")
		}
		if strings.HasPrefix(r.URL.Path, basePath) {
			// Health records must not stay in caches along the way.
			hdr.Set("Cache-Control", "no-store")
			hdr.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		}
		preflight := false
		if origin := r.Header.Get("Origin"); origin != "" {
			hdr.Add("Vary", "Origin")
			if allowedOrigin(opts.CORSOrigins, origin) {
				hdr.Set("Access-Control-Allow-Origin", origin)
				hdr.Set("Access-Control-Expose-Headers", "ETag, Location, Last-Modified, Content-Location, X-Request-Id, WWW-Authenticate, Retry-After")
				preflight = r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			}
		}
		if ipLimit != nil {
			if ok, retry := ipLimit.allow(peerAddress(r), time.Now()); !ok {
				throttle(w, r, retry, "too many requests from this address")
				return
			}
		}
		if preflight {
			hdr.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, PUT, PATCH, DELETE")
			hdr.Set("Access-Control-Allow-Headers", corsHeaders)
			hdr.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func allowedOrigin(allowed []string, origin string) bool {
	return slices.Contains(allowed, "*") || slices.Contains(allowed, origin)
}

// throttle answers 429 with an OperationOutcome and when to retry.
func throttle(w http.ResponseWriter, r *http.Request, retry time.Duration, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
	writeJSON(w, r, http.StatusTooManyRequests, fhir.Errorf(fhir.Throttled, "%s: retry in %s", msg, retry.Round(time.Millisecond)).Outcome())
}

// rateLimiter is a token bucket per key: rate tokens a second, up to burst.
type rateLimiter struct {
	rate, burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate float64, burst int) *rateLimiter {
	return &rateLimiter{rate: rate, burst: math.Max(float64(burst), 1), buckets: map[string]*bucket{}}
}

// maxBuckets bounds the keys remembered; beyond it the idle ones (full
// buckets) are forgotten.
const maxBuckets = 100_000

// allow takes a token for key, or says how long until one is there.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.forgetIdle(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

func (l *rateLimiter) forgetIdle(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
