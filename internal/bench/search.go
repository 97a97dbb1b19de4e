package bench

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/hip-platform/hip/internal/bulk"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/pinyin"
	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/synth"
)

// SearchGoal is the latency goal: the p99 of every query of the mix,
// except $everything and region-wide counts, stays below it.
const SearchGoal = 50 * time.Millisecond

// SearchQuery is one query of the search benchmark's mix: a request template
// whose {placeholders} are filled with values sampled from the loaded data, so
// that every request asks for something that exists and matches at least one
// resource.
type SearchQuery struct {
	Name        string // unique; --queries selects by it
	Pool        string // the sample pool filling the placeholders (see samplePools)
	Template    string // path and query relative to the FHIR base
	Description string
	Goal        bool // SearchGoal applies (not to $everything and region-wide counts)
}

// SearchMix is the benchmark's 20 queries: what facility systems and portals
// ask a regional platform all day. docs/search-benchmark.md documents it; keep
// the two in step. A fresh slice each call: callers may filter it.
func SearchMix() []SearchQuery {
	return []SearchQuery{
		{"patient-identifier", "patient", "Patient?identifier={idsys}|{idnum}",
			"居民身份证号 lookup, system and value: how every facility finds a resident", true},
		{"patient-family-given", "patient", "Patient?family={family}&given={given}",
			"surname and given name as separate parameters", true},
		{"patient-name-birthdate", "patient", "Patient?name={name}&birthdate={birthdate}",
			"full Chinese name and date of birth, as a clinician identifies a patient", true},
		{"patient-pinyin", "patient", "Patient?name-pinyin={pinyin}",
			"full pinyin of the name (wangxiuying), as typed on a keyboard without an IME", true},
		{"patient-pinyin-initials", "patient", "Patient?name-pinyin={initials}",
			"pinyin initials (wxy): the shortest way to type a name, many matches", true},
		{"observation-code", "observation", "Observation?patient={patient}&code={codesys}|{code}",
			"one patient's results of one test (all HbA1c of a diabetic)", true},
		{"observation-code-date", "observation", "Observation?patient={patient}&code={codesys}|{code}&date=ge{from}&date=lt{to}",
			"one patient's results of one test within a month", true},
		{"observation-latest", "observation", "Observation?patient={patient}&_sort=-date&_count=10",
			"one patient's ten latest observations, newest first", true},
		{"observation-compartment", "observation", "Patient/{patient}/Observation?category={catsys}|{cat}",
			"compartment search: one patient's laboratory results or vital signs", true},
		{"observation-chain-identifier", "observation", "Observation?subject:Patient.identifier={idsys}|{idnum}&code={codesys}|{code}",
			"chained: results of one test for the patient with this 身份证号, no patient id needed", true},
		{"observation-chain-organization", "observation", "Observation?code={codesys}|{code}&subject:Patient.organization.identifier={orgsys}|{orgcode}&date=ge{from}&date=lt{to}",
			"two-level chain: one month's results of one test for the residents a clinic manages (family-doctor follow-up list)", true},
		{"observation-region-count", "observation", "Observation?code={codesys}|{code}&_summary=count",
			"region-wide count of one test's results (exempt from the goal)", false},
		{"condition-patient", "condition", "Condition?patient={patient}",
			"one patient's diagnoses and problem list", true},
		{"patient-has-condition", "condition", "Patient?address={village}&_has:Condition:patient:code={codesys}|{code}",
			"reverse chain: residents of a village with a diagnosis (chronic-disease register of a village doctor)", true},
		{"encounter-date", "encounter", "Encounter?patient={patient}&date=ge{from}&date=lt{to}",
			"one patient's visits and stays within a month", true},
		{"encounter-include", "encounter", "Encounter?patient={patient}&_include=Encounter:service-provider",
			"one patient's encounters with the facilities that provided them", true},
		{"encounter-revinclude", "encounter", "Encounter?_id={encounter}&_revinclude=Observation:encounter",
			"one encounter with the observations made during it", true},
		{"medication-patient", "medication", "MedicationRequest?patient={patient}&_sort=-authoredon",
			"one patient's prescriptions, newest first", true},
		{"patient-everything", "encounter", "Patient/{patient}/$everything",
			"the whole record of a patient with care (exempt from the goal)", false},
		{"organization-name", "organization", "Organization?name={name}",
			"a facility by name", true},
	}
}

// SelectQueries returns the queries of mix named in names, in the mix's order;
// all of them when names is empty.
func SelectQueries(mix []SearchQuery, names []string) ([]SearchQuery, error) {
	if len(names) == 0 {
		return mix, nil
	}
	var out []SearchQuery
	for _, q := range mix {
		if slices.Contains(names, q.Name) {
			out = append(out, q)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(mix, func(q SearchQuery) bool { return q.Name == n }) {
			all := make([]string, len(mix))
			for i, q := range mix {
				all[i] = q.Name
			}
			return nil, fmt.Errorf("unknown query %q; the mix has %s", n, strings.Join(all, ", "))
		}
	}
	return out, nil
}

// SearchConfig configures Search.
type SearchConfig struct {
	BaseURL    string        // FHIR base URL of a server holding the data; required
	Queries    []SearchQuery // default SearchMix()
	Clients    []int         // concurrent clients, one run per count; default 1 and 16
	Requests   int           // measured requests per query and client count; ≤ 0: 500
	Duration   time.Duration // ends a query's run early after this long; ≤ 0: no limit
	Warmup     int           // unmeasured requests before each run
	Samples    int           // values sampled per pool; ≤ 0: 50
	Verify     int           // samples per query whose answer is checked before the runs; ≤ 0: 5
	Seed       uint64        // chooses the samples
	HTTPClient *http.Client  // default: keep-alive connections for the most clients
	Token      string        // bearer token sent with every request; empty: none
	Progress   io.Writer     // a line per run; nil for none
}

// SearchResult is what Search measured.
type SearchResult struct {
	Rows    []SearchRow    // per query and client count, client counts outer
	Samples map[string]int // values sampled per pool
}

// SearchRow is one query run with one client count. A query whose check
// failed is not run: its row reports the checked requests and the failure.
type SearchRow struct {
	Query      string
	Clients    int
	Goal       bool          // SearchGoal applies
	Requests   int           // answered, errors included
	Errors     int           // transport errors, non-200 answers, and (in the check) no match
	FirstError string        // the first error, with the server's OperationOutcome
	Matches    int           // median matches over the checked samples (see matches)
	Elapsed    time.Duration // first request to last answer
	PerSec     float64       // successful requests per second
	// Latency of successful requests, request sent to body fully read.
	P50, P90, P99, Max time.Duration
}

// Errors counts the rows with errors.
func (r *SearchResult) Errors() int {
	n := 0
	for _, row := range r.Rows {
		if row.Errors > 0 {
			n++
		}
	}
	return n
}

// Markdown renders the rows as a Markdown table, followed by the first error of
// each row that had one.
func (r *SearchResult) Markdown() string {
	var b strings.Builder
	b.WriteString("| query | clients | requests | errors | matches | p50 | p90 | p99 | max | req/s | p99 < 50 ms |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |\n")
	met, goals := 0, 0
	for _, row := range r.Rows {
		goal := "—"
		if row.Goal {
			goals++
			goal = "✗"
			if row.Errors == 0 && row.P99 < SearchGoal {
				goal = "✓"
				met++
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %s | %s | %s | %s | %.0f | %s |\n", row.Query, row.Clients,
			row.Requests, row.Errors, row.Matches, ms(row.P50), ms(row.P90), ms(row.P99), ms(row.Max), row.PerSec, goal)
	}
	fmt.Fprintf(&b, "\n%d of %d runs under the goal meet it (p99 < %s, no errors).\n", met, goals, SearchGoal)
	for _, row := range r.Rows {
		if row.Errors > 0 {
			fmt.Fprintf(&b, "\n- %s, %d clients: %d errors; first: %s", row.Query, row.Clients, row.Errors, row.FirstError)
		}
	}
	if r.Errors() > 0 {
		b.WriteByte('\n')
	}
	return b.String()
}

// ms formats a latency in milliseconds, to 0.1 ms.
func ms(d time.Duration) string {
	if d == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// Search samples values from the data behind cfg.BaseURL, checks that every
// query of the mix answers 200 with at least one match, then runs each query
// that passed with each client count in turn: cfg.Clients goroutines, each
// with one request in flight over its own keep-alive connection, until
// cfg.Requests requests are answered or cfg.Duration has passed. Requests of
// a query cycle through its samples. The error is for what prevents the
// benchmark (no data to sample, a cancelled context); a query's errors are
// reported in its rows.
func Search(ctx context.Context, cfg SearchConfig) (*SearchResult, error) {
	if cfg.BaseURL == "" {
		return nil, errors.New("search: no base URL")
	}
	if cfg.Queries == nil {
		cfg.Queries = SearchMix()
	}
	if len(cfg.Clients) == 0 {
		cfg.Clients = []int{1, 16}
	}
	if slices.ContainsFunc(cfg.Clients, func(n int) bool { return n <= 0 }) {
		return nil, fmt.Errorf("search: client counts must be positive, got %v", cfg.Clients)
	}
	cfg.Requests = positiveOr(cfg.Requests, 500)
	cfg.Samples = positiveOr(cfg.Samples, 50)
	cfg.Verify = positiveOr(cfg.Verify, 5)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = defaultClient(slices.Max(cfg.Clients))
	}
	cfg.HTTPClient = withToken(cfg.HTTPClient, cfg.Token)
	c := &fhirClient{base: strings.TrimSuffix(cfg.BaseURL, "/"), http: cfg.HTTPClient, orgs: map[string]map[string]any{}, patients: map[string]map[string]any{}}

	// Sample each pool the queries use. Each pool draws from its own stream
	// of the seed, so that running a subset of the mix leaves the samples of
	// the rest as they were.
	pools := map[string][]map[string]string{}
	res := &SearchResult{Samples: map[string]int{}}
	for _, p := range samplePools() {
		if !slices.ContainsFunc(cfg.Queries, func(q SearchQuery) bool { return q.Pool == p.name }) {
			continue
		}
		s, err := c.sample(ctx, p, cfg.Samples, cfg.Seed)
		if err != nil {
			return nil, fmt.Errorf("search: sampling %s: %w", p.name, err)
		}
		pools[p.name], res.Samples[p.name] = s, len(s)
		progress(cfg.Progress, "sampled %d %s values\n", len(s), p.name)
	}

	runs := make([]*queryRun, 0, len(cfg.Queries))
	for _, q := range cfg.Queries {
		samples, ok := pools[q.Pool]
		if !ok {
			return nil, fmt.Errorf("search: query %s: unknown sample pool %q", q.Name, q.Pool)
		}
		run := &queryRun{q: q}
		for _, s := range samples {
			u, err := fill(q.Template, s)
			if err != nil {
				return nil, fmt.Errorf("search: query %s: %w", q.Name, err)
			}
			run.urls = append(run.urls, c.base+"/"+u)
		}
		if err := c.check(ctx, run, cfg.Verify); err != nil {
			return nil, err
		}
		if run.failed > 0 {
			progress(cfg.Progress, "%s: check failed: %s\n", q.Name, run.firstError)
		}
		runs = append(runs, run)
	}

	for _, clients := range cfg.Clients {
		for _, run := range runs {
			row := SearchRow{Query: run.q.Name, Clients: clients, Goal: run.q.Goal, Matches: run.matches}
			if run.failed > 0 {
				row.Requests, row.Errors, row.FirstError = run.checked, run.failed, run.firstError
			} else {
				if cfg.Warmup > 0 {
					if _, err := c.measure(ctx, run, clients, cfg.Warmup, 0); err != nil {
						return res, err
					}
				}
				m, err := c.measure(ctx, run, clients, cfg.Requests, cfg.Duration)
				if err != nil {
					return res, err
				}
				m.Query, m.Clients, m.Goal, m.Matches = row.Query, row.Clients, row.Goal, row.Matches
				row = m
			}
			res.Rows = append(res.Rows, row)
			progress(cfg.Progress, "%s, %d clients: %d requests, %d errors, p50 %s, p99 %s\n",
				row.Query, row.Clients, row.Requests, row.Errors, ms(row.P50), ms(row.P99))
		}
	}
	return res, nil
}

func positiveOr(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// defaultClient is an HTTP client keeping a connection alive for each of
// clients concurrent clients: the default transport keeps only 2 idle
// connections per host, so more clients would redial for most requests and
// measure connection set-up.
func defaultClient(clients int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = clients
	return &http.Client{Transport: tr, Timeout: 5 * time.Minute}
}

func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// queryRun is a query prepared for its runs: its URLs, one per sample, and
// what the check found.
type queryRun struct {
	q          SearchQuery
	urls       []string
	checked    int
	failed     int
	firstError string
	matches    int
}

// fill replaces every {key} of template with the value of key, escaped for
// where it stands: as a path segment before the '?', as a query value after.
func fill(template string, values map[string]string) (string, error) {
	var b strings.Builder
	inQuery := false
	for rest := template; rest != ""; {
		i := strings.IndexAny(rest, "{?")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		if rest[i] == '?' {
			inQuery = true
			b.WriteByte('?')
			rest = rest[i+1:]
			continue
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("template %q: unclosed {", template)
		}
		key := rest[i+1 : i+j]
		v, ok := values[key]
		if !ok {
			return "", fmt.Errorf("template %q: no sampled value %q", template, key)
		}
		if inQuery {
			b.WriteString(url.QueryEscape(v))
		} else {
			b.WriteString(url.PathEscape(v))
		}
		rest = rest[i+j+1:]
	}
	return b.String(), nil
}

// check issues the first verify URLs of run one by one and decodes the
// answers: each must be 200 with at least one match, or the query is not run.
func (c *fhirClient) check(ctx context.Context, run *queryRun, verify int) error {
	var counts []int
	for _, u := range run.urls[:min(verify, len(run.urls))] {
		run.checked++
		body, err := c.get(ctx, u)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err == nil {
			var n int
			if n, err = matches(body); err == nil && n == 0 {
				err = errors.New("no match, want at least one")
			}
			counts = append(counts, n)
		}
		if err != nil {
			run.failed++
			if run.firstError == "" {
				run.firstError = fmt.Sprintf("GET %s: %v", strings.TrimPrefix(u, c.base+"/"), err)
			}
		}
	}
	if len(counts) > 0 {
		slices.Sort(counts)
		run.matches = counts[len(counts)/2]
	}
	return nil
}

// matches counts the resources an answer matched: a Bundle's total when the
// server gives one (it says how selective the query is, where the entries stop
// at the page size), else its entries that are not includes or outcomes; 1
// for a single resource.
func matches(body []byte) (int, error) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Total        *int   `json:"total"`
		Entry        []struct {
			Search struct {
				Mode string `json:"mode"`
			} `json:"search"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return 0, fmt.Errorf("decoding the answer: %w", err)
	}
	if b.ResourceType != "Bundle" {
		return 1, nil
	}
	if b.Total != nil {
		return *b.Total, nil
	}
	n := 0
	for _, e := range b.Entry {
		if e.Search.Mode != "include" && e.Search.Mode != "outcome" {
			n++
		}
	}
	return n, nil
}

// measure runs one query with clients concurrent clients until requests are
// answered or duration (if > 0) has passed.
func (c *fhirClient) measure(ctx context.Context, run *queryRun, clients, requests int, duration time.Duration) (SearchRow, error) {
	return measureRequests(ctx, clients, requests, duration, func(i int64) (int, error) {
		u := run.urls[i%int64(len(run.urls))]
		if err := c.discard(ctx, u); err != nil {
			return 0, fmt.Errorf("GET %s: %w", strings.TrimPrefix(u, c.base+"/"), err)
		}
		return 0, nil
	})
}

// measureRequests sends requests from clients concurrent clients until
// requests are answered or duration (if > 0) has passed. send makes request
// i and returns how many matches it answered (Matches is their median).
func measureRequests(ctx context.Context, clients, requests int, duration time.Duration, send func(i int64) (int, error)) (SearchRow, error) {
	var next, answered atomic.Int64
	var mu sync.Mutex // guards the error fields
	var row SearchRow
	latencies := make([][]time.Duration, clients)
	found := make([][]int, clients)
	start := time.Now()
	var deadline time.Time
	if duration > 0 {
		deadline = start.Add(duration)
	}
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(requests) || !deadline.IsZero() && time.Now().After(deadline) {
					return
				}
				sent := time.Now()
				n, err := send(i)
				took := time.Since(sent)
				if ctx.Err() != nil {
					return
				}
				answered.Add(1)
				if err == nil {
					latencies[w] = append(latencies[w], took)
					found[w] = append(found[w], n)
					continue
				}
				mu.Lock()
				if row.Errors++; row.FirstError == "" {
					row.FirstError = err.Error()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return SearchRow{}, context.Cause(ctx)
	}
	row.Elapsed = time.Since(start)
	row.Requests = int(answered.Load())
	all := slices.Concat(latencies...)
	slices.Sort(all)
	if len(all) > 0 {
		row.P50, row.P90, row.P99, row.Max = percentile(all, 0.50), percentile(all, 0.90), percentile(all, 0.99), all[len(all)-1]
		row.PerSec = float64(len(all)) / row.Elapsed.Seconds()
	}
	counts := slices.Concat(found...)
	slices.Sort(counts)
	if len(counts) > 0 {
		row.Matches = counts[len(counts)/2]
	}
	return row, nil
}

// fhirClient reads from the FHIR API, remembering the Patients and
// Organizations it read for sampling.
type fhirClient struct {
	base     string
	http     *http.Client
	orgs     map[string]map[string]any
	patients map[string]map[string]any
}

// get GETs u and returns the body of a 200 answer; any other answer is an
// error quoting the server's OperationOutcome.
func (c *fhirClient) get(ctx context.Context, u string) ([]byte, error) {
	resp, err := c.do(ctx, u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s: %s", resp.Status, OutcomeText(body))
	}
	return body, nil
}

// discard is get without keeping a successful body: the measured loop reads
// every answer to its end, as a client must, but decodes none.
func (c *fhirClient) discard(ctx context.Context, u string) error {
	resp, err := c.do(ctx, u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return fmt.Errorf("HTTP %s: %s", resp.Status, OutcomeText(body))
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	return nil
}

func (c *fhirClient) do(ctx context.Context, u string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/fhir+json")
	return c.http.Do(req)
}

// getJSON GETs a path relative to the base and decodes the JSON object.
func (c *fhirClient) getJSON(ctx context.Context, path string) (map[string]any, error) {
	body, err := c.get(ctx, c.base+"/"+path)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return m, nil
}

// read returns a resource by reference (Type/id), cached in cache.
func (c *fhirClient) read(ctx context.Context, cache map[string]map[string]any, ref string) (map[string]any, error) {
	if r, ok := cache[ref]; ok {
		return r, nil
	}
	r, err := c.getJSON(ctx, ref)
	if err != nil {
		return nil, err
	}
	cache[ref] = r
	return r, nil
}

// samplePool draws the values of a group of queries from resources of one
// type; extract returns nil for a resource that lacks what the queries need.
type samplePool struct {
	name, typ string
	extract   func(ctx context.Context, c *fhirClient, res map[string]any) (map[string]string, error)
}

// sampleStride is how many consecutive resources one sampling request reads:
// fewer means more requests at deep offsets, more means samples clustered on
// a few patients (a page in id order holds one patient's resources).
const sampleStride = 4

// sample draws up to n values from pool p: pages of sampleStride resources at
// offsets chosen by seed over the type's search in store order, which must be
// stable (it is the order _offset paging relies on).
func (c *fhirClient) sample(ctx context.Context, p samplePool, n int, seed uint64) ([]map[string]string, error) {
	count, err := c.getJSON(ctx, p.typ+"?_summary=count")
	if err != nil {
		return nil, err
	}
	total := int(num(count["total"]))
	if total == 0 {
		return nil, fmt.Errorf("no %s in the database", p.typ)
	}
	h := fnv.New64a()
	h.Write([]byte(p.name))
	r := rand.New(rand.NewPCG(seed, h.Sum64()))
	seen := map[string]bool{}
	var out []map[string]string
	for attempt := 0; len(out) < n && attempt < 4*(n/sampleStride+1); attempt++ {
		offset := r.IntN(max(total-sampleStride, 0) + 1)
		page, err := c.getJSON(ctx, fmt.Sprintf("%s?_count=%d&_offset=%d", p.typ, sampleStride, offset))
		if err != nil {
			return nil, err
		}
		for _, e := range list(page["entry"]) {
			res := obj(obj(e)["resource"])
			id := str(res["id"])
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			v, err := p.extract(ctx, c, res)
			if err != nil {
				return nil, err
			}
			if v != nil && len(out) < n {
				out = append(out, v)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("none of the %d %s resources read has what the queries need", len(seen), p.typ)
	}
	return out, nil
}

// samplePools are the pools the mix draws from, in sampling order. Values
// come from the resources themselves and the Patients and Organizations they
// reference, so each query built from them matches at least one resource.
func samplePools() []samplePool {
	return []samplePool{
		{"patient", "Patient", func(_ context.Context, _ *fhirClient, res map[string]any) (map[string]string, error) {
			v := patientValues(res)
			if v == nil {
				return nil, nil
			}
			for _, n := range list(res["name"]) {
				name := obj(n)
				family, given, text := str(name["family"]), str(list(name["given"]).at(0)), str(name["text"])
				if !allHan(family) || !allHan(given) || !allHan(text) {
					continue // a name written in pinyin, or without its parts
				}
				syl := pinyin.Name(family, given)
				v["family"], v["given"], v["name"] = family, given, text
				v["pinyin"], v["initials"] = pinyin.Key(syl), pinyin.Initials(syl)
				v["birthdate"] = str(res["birthDate"])
				if v["birthdate"] == "" {
					return nil, nil
				}
				return v, nil
			}
			return nil, nil
		}},
		{"observation", "Observation", func(ctx context.Context, c *fhirClient, res map[string]any) (map[string]string, error) {
			v := map[string]string{"observation": str(res["id"])}
			if !codeValues(v, "code", res["code"]) || !codeValues(v, "cat", list(res["category"]).at(0)) ||
				!monthValues(v, str(res["effectiveDateTime"])) {
				return nil, nil
			}
			pat, err := c.subject(ctx, res)
			if pat == nil || err != nil {
				return nil, err
			}
			pv := patientValues(pat)
			org, err := c.managingOrganization(ctx, pat)
			if pv == nil || org == nil || err != nil {
				return nil, err
			}
			for _, id := range list(org["identifier"]) {
				if sys, val := str(obj(id)["system"]), str(obj(id)["value"]); sys != "" && val != "" {
					v["orgsys"], v["orgcode"] = sys, val
				}
			}
			if v["orgcode"] == "" {
				return nil, nil
			}
			v["patient"], v["idsys"], v["idnum"] = pv["patient"], pv["idsys"], pv["idnum"]
			return v, nil
		}},
		{"condition", "Condition", func(ctx context.Context, c *fhirClient, res map[string]any) (map[string]string, error) {
			v := map[string]string{"condition": str(res["id"])}
			if !codeValues(v, "code", res["code"]) {
				return nil, nil
			}
			pat, err := c.subject(ctx, res)
			if pat == nil || err != nil {
				return nil, err
			}
			// The village is the second address line (乡镇, 村, house number),
			// which the address parameter matches from its start.
			village := str(list(obj(list(pat["address"]).at(0))["line"]).at(1))
			if village == "" {
				return nil, nil
			}
			v["patient"], v["village"] = str(pat["id"]), village
			return v, nil
		}},
		{"encounter", "Encounter", func(_ context.Context, _ *fhirClient, res map[string]any) (map[string]string, error) {
			v := map[string]string{"encounter": str(res["id"])}
			patient, ok := strings.CutPrefix(str(obj(res["subject"])["reference"]), "Patient/")
			if !ok || !monthValues(v, str(obj(res["period"])["start"])) {
				return nil, nil
			}
			v["patient"] = patient
			return v, nil
		}},
		{"medication", "MedicationRequest", func(_ context.Context, _ *fhirClient, res map[string]any) (map[string]string, error) {
			patient, ok := strings.CutPrefix(str(obj(res["subject"])["reference"]), "Patient/")
			if !ok || str(res["authoredOn"]) == "" {
				return nil, nil
			}
			return map[string]string{"medication": str(res["id"]), "patient": patient}, nil
		}},
		{"organization", "Organization", func(_ context.Context, _ *fhirClient, res map[string]any) (map[string]string, error) {
			if str(res["name"]) == "" {
				return nil, nil
			}
			return map[string]string{"organization": str(res["id"]), "name": str(res["name"])}, nil
		}},
	}
}

// subject reads the Patient a resource's subject names; nil if it names none.
func (c *fhirClient) subject(ctx context.Context, res map[string]any) (map[string]any, error) {
	ref := str(obj(res["subject"])["reference"])
	if !strings.HasPrefix(ref, "Patient/") {
		return nil, nil
	}
	return c.read(ctx, c.patients, ref)
}

// managingOrganization reads a Patient's managing Organization; nil if none.
func (c *fhirClient) managingOrganization(ctx context.Context, pat map[string]any) (map[string]any, error) {
	ref := str(obj(pat["managingOrganization"])["reference"])
	if !strings.HasPrefix(ref, "Organization/") {
		return nil, nil
	}
	return c.read(ctx, c.orgs, ref)
}

// patientValues are a Patient's id and 居民身份证号 with its system; nil
// without one (some duplicate registrations lack it).
func patientValues(pat map[string]any) map[string]string {
	for _, id := range list(pat["identifier"]) {
		if sys, val := str(obj(id)["system"]), str(obj(id)["value"]); sys == fhir.SystemResidentID && val != "" {
			return map[string]string{"patient": str(pat["id"]), "idsys": sys, "idnum": val}
		}
	}
	return nil
}

// codeValues sets v[prefix+"sys"] and v[prefix] to the first coding of a
// CodeableConcept with both.
func codeValues(v map[string]string, prefix string, concept any) bool {
	for _, c := range list(obj(concept)["coding"]) {
		if sys, code := str(obj(c)["system"]), str(obj(c)["code"]); sys != "" && code != "" {
			v[prefix+"sys"], v[prefix] = sys, code
			return true
		}
	}
	return false
}

// monthValues sets v["from"] and v["to"] to the first days of the month of a
// FHIR date or dateTime and of the month after: a range holding it.
func monthValues(v map[string]string, date string) bool {
	if len(date) < len("2006-01") {
		return false
	}
	t, err := time.Parse("2006-01", date[:len("2006-01")])
	if err != nil {
		return false
	}
	v["from"], v["to"] = t.Format(time.DateOnly), t.AddDate(0, 1, 0).Format(time.DateOnly)
	return true
}

func allHan(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.Is(unicode.Han, r) {
			return false
		}
	}
	return true
}

// JSON accessors that answer the zero value for what is absent or of another type.

type array []any

func (a array) at(i int) any {
	if i < len(a) {
		return a[i]
	}
	return nil
}

func list(v any) array         { a, _ := v.([]any); return a }
func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }
func str(v any) string         { s, _ := v.(string); return s }
func num(v any) float64        { f, _ := v.(float64); return f }

// regionMarkerID is the id of the Binary resource in which LoadRegion records
// the region a benchmark database holds: the database must say what it holds,
// because a PostgreSQL database has no directory to keep a manifest file in.
const regionMarkerID = "hip-bench-region"

// LoadRegion makes sure st holds the synthetic region sc, as the search
// benchmark needs: a database that already holds it is reused; an empty one
// is filled (generated and bulk-imported through im) when load is set; any
// other database is refused, so that figures are never taken on other data.
// The marker recording the region is written last, so an interrupted load is
// recognised as such. The summary is nil when the region was reused.
func LoadRegion(ctx context.Context, st store.Store, im *bulk.Importer, sc synth.Config, load bool) (*synth.Manifest, *bulk.Summary, error) {
	stored, err := st.Read(ctx, "Binary", regionMarkerID)
	switch {
	case err == nil:
		m, err := decodeMarker(stored.Body)
		if err != nil {
			return nil, nil, err
		}
		if !m.Describes(sc) {
			return nil, nil, fmt.Errorf("the database holds another region (--seed %d --residents %d --years %d --start %s --scenarios %s): use another database or those options",
				m.Seed, m.Requested, m.Years, m.Start, scenarioFlag(m.Scenarios))
		}
		return m, nil, nil
	case fhir.ErrorCode(err) != fhir.NotFound && fhir.ErrorCode(err) != fhir.Gone:
		return nil, nil, fmt.Errorf("reading the region marker: %w", err)
	}
	// Any version, even of a deleted resource, means the database is not
	// empty; history is the one listing that needs no search index.
	hist, err := st.History(ctx, store.HistoryQuery{Count: 1})
	if err != nil {
		return nil, nil, err
	}
	if len(hist.Versions) > 0 {
		return nil, nil, errors.New("the database holds data but no complete benchmark region (an interrupted load, or other data): use an empty database")
	}
	if !load {
		return nil, nil, errors.New("the database is empty: pass --load to generate and import the region")
	}
	var m *synth.Manifest
	sum, err := im.Stream(ctx, func(ctx context.Context, emit bulk.Emit) error {
		var err error
		m, err = synth.Generate(ctx, sc, emit)
		return err
	})
	if err != nil {
		return nil, &sum, err
	}
	if sum.Failed > 0 {
		return nil, &sum, fmt.Errorf("%d generated resources were refused", sum.Failed)
	}
	marker, err := encodeMarker(regionMarkerID, m)
	if err != nil {
		return nil, &sum, err
	}
	err = st.Tx(ctx, func(tx store.Tx) error {
		_, _, err := tx.Put(ctx, marker, store.Precondition{})
		return err
	})
	if err != nil {
		return nil, &sum, fmt.Errorf("writing the region marker: %w", err)
	}
	return m, &sum, nil
}

// scenarioFlag writes scenarios as the --scenarios flag takes them, for the
// message that tells which options the database was loaded with.
func scenarioFlag(s synth.Scenarios) string {
	switch s {
	case synth.AllScenarios():
		return "all"
	case synth.Scenarios{}:
		return "none"
	}
	var on []string
	for _, f := range []struct {
		name string
		on   bool
	}{{"duplicates", s.Duplicates}, {"outbreaks", s.Outbreaks}, {"fraud", s.Fraud}, {"shortages", s.Shortages}, {"prices", s.PriceAnomalies}} {
		if f.on {
			on = append(on, f.name)
		}
	}
	return strings.Join(on, ",")
}

// encodeMarker is the region marker for m: a Binary holding the manifest
// without its ground truth, which the benchmark does not need and which
// grows with the region.
func encodeMarker(id string, m *synth.Manifest) (fhir.Resource, error) {
	head := *m
	head.Truth = synth.Truth{}
	b, err := json.Marshal(&head)
	if err != nil {
		return nil, err
	}
	return fhir.Resource{"resourceType": "Binary", "id": id, "contentType": "application/json",
		"data": base64.StdEncoding.EncodeToString(b)}, nil
}

func decodeMarker(body []byte) (*synth.Manifest, error) {
	var bin struct {
		ContentType string `json:"contentType"`
		Data        string `json:"data"`
	}
	if err := json.Unmarshal(body, &bin); err != nil {
		return nil, fmt.Errorf("region marker: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(bin.Data)
	if err != nil {
		return nil, fmt.Errorf("region marker: %w", err)
	}
	var m synth.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("region marker: %w", err)
	}
	return &m, nil
}

// Loopback serves h on a new 127.0.0.1 port, for benchmarks that measure the
// server in-process over real HTTP. base is the FHIR base URL; stop closes
// the listener and every connection.
func Loopback(h http.Handler) (base string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	return "http://" + ln.Addr().String() + "/fhir", func() { hs.Close() }, nil
}
