// Package bench measures HIP from the outside, as a facility system would see it: it
// drives a running FHIR server over HTTP and reports throughput and latency.
package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hip-platform/hip/internal/synth"
)

// IngestConfig configures Ingest.
type IngestConfig struct {
	BaseURL    string       // FHIR base URL, e.g. http://127.0.0.1:8080/fhir; required
	BundlesDir string       // transaction bundles (*.json) to repeat with fresh ids; empty: generate a region
	Synth      synth.Config // the region generated when BundlesDir is empty
	BundleSize int          // entries per generated transaction bundle; default 500
	Resources  int          // post until at least this many resources are posted; <= 0: every bundle once
	Clients    int          // concurrent clients, each with one request in flight; default 4
	HTTPClient *http.Client // default: a client keeping Clients connections alive
	Token      string       // bearer token sent with every request; empty: none
	Progress   io.Writer    // a progress line about once a second; nil for none
}

// IngestResult is what Ingest measured. Elapsed runs from the first request to the
// last response; loading the bundles is not counted.
type IngestResult struct {
	Resources       int // resources in the bundles the server acknowledged
	Bundles         int
	Clients         int
	Elapsed         time.Duration
	ResourcesPerSec float64
	P50, P95, P99   time.Duration // latency of one transaction bundle, request to full response
}

// String is a one-paragraph human summary.
func (r IngestResult) String() string {
	return fmt.Sprintf("Ingested %d resources in %d transaction bundles with %d concurrent clients in %s: "+
		"%.0f resources/s. Latency per bundle: p50 %s, p95 %s, p99 %s.",
		r.Resources, r.Bundles, r.Clients, r.Elapsed.Round(time.Millisecond), r.ResourcesPerSec,
		r.P50.Round(time.Millisecond), r.P95.Round(time.Millisecond), r.P99.Round(time.Millisecond))
}

// Ingest POSTs transaction bundles to cfg.BaseURL from cfg.Clients concurrent
// clients until at least cfg.Resources resources are in: either the bundles in
// cfg.BundlesDir, repeated round-robin with fresh urn:uuid values so that every copy
// creates new resources, or a synthetic region generated on the fly and cut into
// bundles of PUT entries. The first failed bundle stops the run; the result then
// covers what was acknowledged before it.
func Ingest(ctx context.Context, cfg IngestConfig) (IngestResult, error) {
	if cfg.BaseURL == "" {
		return IngestResult{}, errors.New("ingest: no base URL")
	}
	if cfg.Clients <= 0 {
		cfg.Clients = 4
	}
	if cfg.HTTPClient == nil {
		// The default transport keeps only 2 idle connections per host; more
		// clients than that would reconnect for most requests and measure dialing.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.Clients
		cfg.HTTPClient = &http.Client{Transport: tr}
	}
	cfg.HTTPClient = withToken(cfg.HTTPClient, cfg.Token)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan job, cfg.Clients)
	var produce func() error
	if cfg.BundlesDir != "" {
		tpls, err := loadTemplates(cfg.BundlesDir)
		if err != nil {
			return IngestResult{}, fmt.Errorf("ingest: %w", err)
		}
		produce = func() error { return repeatTemplates(ctx, tpls, cfg.Resources, jobs) }
	} else {
		produce = func() error { return generateBundles(ctx, cfg.Synth, cfg.Resources, cfg.BundleSize, jobs) }
	}
	go func() {
		defer close(jobs)
		if err := produce(); err != nil {
			cancel(fmt.Errorf("ingest: %w", err))
		}
	}()

	var posted, bundles atomic.Int64
	latencies := make([][]time.Duration, cfg.Clients)
	url := strings.TrimSuffix(cfg.BaseURL, "/")
	start := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.Clients {
		wg.Go(func() {
			for j := range jobs {
				sent := time.Now()
				if err := postTransaction(ctx, cfg.HTTPClient, url, j.body, j.entries); err != nil {
					cancel(fmt.Errorf("ingest: bundle %s: %w", j.name, err))
					return
				}
				latencies[w] = append(latencies[w], time.Since(sent))
				posted.Add(int64(j.entries))
				bundles.Add(1)
			}
		})
	}
	stopProgress := reportProgress(cfg.Progress, start, &posted, cfg.Resources)
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()

	res := IngestResult{
		Resources: int(posted.Load()),
		Bundles:   int(bundles.Load()),
		Clients:   cfg.Clients,
		Elapsed:   elapsed,
	}
	if elapsed > 0 {
		res.ResourcesPerSec = float64(res.Resources) / elapsed.Seconds()
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	res.P50, res.P95, res.P99 = percentile(all, 0.50), percentile(all, 0.95), percentile(all, 0.99)
	return res, context.Cause(ctx)
}

// reportProgress writes a line to w every second until the returned stop is called.
func reportProgress(w io.Writer, start time.Time, posted *atomic.Int64, target int) (stop func()) {
	if w == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				n := posted.Load()
				fmt.Fprintf(w, "ingest: %d/%d resources, %.0f resources/s\n",
					n, target, float64(n)/now.Sub(start).Seconds())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// postTransaction POSTs one transaction bundle and checks that the server answered it
// as a whole: 200 with a transaction-response holding one entry per request entry.
func postTransaction(ctx context.Context, client *http.Client, url string, body []byte, entries int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Accept", "application/fhir+json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s: %s", resp.Status, OutcomeText(data))
	}
	var reply struct {
		ResourceType string            `json:"resourceType"`
		Type         string            `json:"type"`
		Entry        []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(data, &reply); err != nil {
		return fmt.Errorf("decoding response bundle: %w", err)
	}
	if reply.ResourceType != "Bundle" || reply.Type != "transaction-response" || len(reply.Entry) != entries {
		return fmt.Errorf("want a transaction-response Bundle with %d entries, got resourceType %q type %q with %d entries",
			entries, reply.ResourceType, reply.Type, len(reply.Entry))
	}
	return nil
}

// OutcomeText summarises an error response body: the issues of an OperationOutcome,
// else the start of the body as text.
func OutcomeText(body []byte) string {
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Severity    string   `json:"severity"`
			Code        string   `json:"code"`
			Diagnostics string   `json:"diagnostics"`
			Expression  []string `json:"expression"`
			Details     struct {
				Text string `json:"text"`
			} `json:"details"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" {
		const limit = 500
		if len(body) > limit {
			return string(body[:limit]) + "…"
		}
		return string(body)
	}
	var parts []string
	for _, is := range oo.Issue {
		s := is.Severity + " " + is.Code
		if msg := cmp.Or(is.Diagnostics, is.Details.Text); msg != "" {
			s += ": " + msg
		}
		if len(is.Expression) > 0 {
			s += " (at " + strings.Join(is.Expression, ", ") + ")"
		}
		parts = append(parts, s)
	}
	return "OperationOutcome: " + strings.Join(parts, "; ")
}

// percentile is the nearest-rank percentile of sorted durations; 0 for none.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(rank, len(sorted)-1))]
}

// withToken returns a client that sends token as a bearer token with every
// request (client itself when token is empty).
func withToken(client *http.Client, token string) *http.Client {
	if token == "" {
		return client
	}
	c := *client
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = bearer{base: base, token: token}
	return &c
}

type bearer struct {
	base  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}
