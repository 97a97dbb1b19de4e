package e2e

import (
	"bufio"
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestServeLifecycle(t *testing.T) {
	t.Run("version", func(t *testing.T) {
		out, err := runHip(t, "version")
		if err != nil {
			t.Fatalf("hip version: %v\n%s", err, out)
		}
		// Release builds print a number, development builds a word such as "dev".
		if f := strings.Fields(out); len(f) < 2 || f[0] != "hip" {
			t.Errorf("hip version printed %q, want \"hip VERSION\"", out)
		}
	})
	forEachBackend(t, func(t *testing.T, db string) {
		for i := range 2 { // the second run finds every migration applied
			if out, err := runHip(t, "migrate", "--db", db); err != nil {
				t.Fatalf("hip migrate run %d: %v\n%s", i+1, err, out)
			}
		}
		s := startServer(t, db)
		for _, path := range []string{"/healthz", "/readyz", "/fhir/metadata"} {
			if resp, body := s.get(t, path); resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s: %s\n%s", path, resp.Status, body)
			}
		}
		resp, body := s.get(t, "/metrics")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: %s\n%s", resp.Status, body)
		}
		if name, n := requestCounter(body); name == "" || n < 1 {
			t.Errorf("GET /metrics: want a Prometheus counter of requests that counted the requests above; found %q = %v in:\n%.2000s", name, n, body)
		}
		took, err := s.stop()
		if err != nil {
			t.Errorf("hip serve exited with %v after SIGTERM, want status 0", err)
		}
		if took > 5*time.Second {
			t.Errorf("hip serve took %s to exit after SIGTERM, want under 5s", took)
		}
	})
}

// requestCounter finds, in Prometheus text exposition, the first counter whose name
// mentions requests and returns its name and the sum of its samples.
func requestCounter(text []byte) (string, float64) {
	var name string
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); name == "" && len(f) == 4 && f[0] == "#" && f[1] == "TYPE" && f[3] == "counter" &&
			strings.Contains(strings.ToLower(f[2]), "request") {
			name = f[2]
			continue
		}
		if name == "" || strings.HasPrefix(line, "#") {
			continue
		}
		metric, value, ok := cutSample(line)
		if ok && (metric == name || metric == name+"_total") {
			sum += value
		}
	}
	return name, sum
}

// cutSample splits a sample line `name{labels} value [timestamp]`.
func cutSample(line string) (string, float64, bool) {
	end := strings.IndexAny(line, "{ ")
	if end < 0 {
		return "", 0, false
	}
	metric, rest := line[:end], line[end:]
	if strings.HasPrefix(rest, "{") {
		rbrace := strings.LastIndex(rest, "}")
		if rbrace < 0 {
			return "", 0, false
		}
		rest = rest[rbrace+1:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return "", 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return metric, v, err == nil
}
