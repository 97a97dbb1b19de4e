package auth

import (
	"sync"
	"time"
)

// Login throttling: after too many failures in a window a user name, or an
// address, is refused until the window passes, whether or not the name
// exists (a lockout that only existing names get would tell which exist).
const (
	loginWindow       = 15 * time.Minute
	maxFailuresByName = 5
	maxFailuresByIP   = 20
)

type failures struct {
	count int
	since time.Time
}

type loginLimiter struct {
	mu     sync.Mutex
	byName map[string]*failures
	byIP   map[string]*failures
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{byName: map[string]*failures{}, byIP: map[string]*failures{}}
}

func (l *loginLimiter) allow(name, ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return under(l.byName, name, maxFailuresByName, now) && under(l.byIP, ip, maxFailuresByIP, now)
}

func under(m map[string]*failures, key string, limit int, now time.Time) bool {
	f := m[key]
	if f == nil || now.Sub(f.since) >= loginWindow {
		delete(m, key)
		return true
	}
	return f.count < limit
}

func (l *loginLimiter) fail(name, ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Bound memory under a spray of names: a full table starts over.
	if len(l.byName) > 100_000 {
		clear(l.byName)
	}
	if len(l.byIP) > 100_000 {
		clear(l.byIP)
	}
	for _, e := range []struct {
		m   map[string]*failures
		key string
	}{{l.byName, name}, {l.byIP, ip}} {
		f := e.m[e.key]
		if f == nil || now.Sub(f.since) >= loginWindow {
			f = &failures{since: now}
			e.m[e.key] = f
		}
		f.count++
	}
}

func (l *loginLimiter) succeed(name string) {
	l.mu.Lock()
	delete(l.byName, name)
	l.mu.Unlock()
}
