package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/bulk"
	"github.com/hip-platform/hip/internal/empi"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
	"github.com/hip-platform/hip/internal/synth"
)

// EMPIConfig is a batch-linkage benchmark: a synthetic region's Patient
// registrations (with the duplicates scenario) linked in one batch.
type EMPIConfig struct {
	Synth synth.Config
	Link  empi.Config
}

// EMPIReport is what a batch-linkage run measured.
type EMPIReport struct {
	Records  int
	Generate time.Duration // generating the registrations (not linkage)
	Link     time.Duration // normalising, blocking, training, scoring
	Stats    empi.Stats
	Links    empi.Accuracy // linked pairs against the ground truth
	Reviews  empi.Accuracy // links and reviews together
	Model    *empi.Model
}

// EMPI runs the batch-linkage benchmark.
func EMPI(ctx context.Context, cfg EMPIConfig) (*EMPIReport, error) {
	start := time.Now()
	recs, m, err := empi.SyntheticRecords(ctx, cfg.Synth.Seed, cfg.Synth.Residents)
	if err != nil {
		return nil, fmt.Errorf("bench: generate registrations: %w", err)
	}
	rep := &EMPIReport{Records: len(recs), Generate: time.Since(start)}
	start = time.Now()
	res, err := empi.Link(recs, cfg.Link, false)
	if err != nil {
		return nil, err
	}
	rep.Link = time.Since(start)
	truth := empi.Truth{}
	for _, p := range m.Truth.DuplicatePairs() {
		truth.Add(p[0], p[1])
	}
	rep.Stats, rep.Model = res.Stats, res.Model
	rep.Links, rep.Reviews = empi.Evaluate(res.Pairs, truth, false), empi.Evaluate(res.Pairs, truth, true)
	return rep, nil
}

// Print writes the report for a person.
func (r *EMPIReport) Print(w io.Writer) {
	fmt.Fprintf(w, "records        %d (generated in %s)\n", r.Records, r.Generate.Round(time.Millisecond))
	fmt.Fprintf(w, "linked in      %s (%.0f records/s)\n", r.Link.Round(time.Millisecond), float64(r.Records)/r.Link.Seconds())
	fmt.Fprintf(w, "candidates     %d (%d blocks skipped as too large)\n", r.Stats.Candidates, r.Stats.SkippedBlocks)
	fmt.Fprintf(w, "links          %d  %v\n", r.Stats.Links, r.Links)
	fmt.Fprintf(w, "with reviews   %d  %v\n", r.Stats.Links+r.Stats.Reviews, r.Reviews)
	fmt.Fprintf(w, "model\n%s", r.Model)
}

// EMPIMatchConfig is the Patient/$match benchmark: a region's registrations
// in the store and the master patient index, and $match requests over HTTP.
type EMPIMatchConfig struct {
	Store    store.Store
	Index    *empi.Index // relinks the registrations when they are loaded
	Importer *bulk.Importer
	// Serve builds the FHIR server with its index, once the registrations
	// are loaded and relinked (its index then reads the trained model).
	Serve    func() (http.Handler, error)
	Synth    synth.Config
	Load     bool  // import and relink the registrations into an empty store
	Clients  []int // concurrent clients, one run each
	Requests int   // measured requests per run
	Queries  int   // distinct Patients asked about
	Progress io.Writer
}

// EMPIMatchReport is what the $match benchmark measured.
type EMPIMatchReport struct {
	Indexed int           // records in the index
	Load    time.Duration // importing the Patients (0 when reused)
	Relink  time.Duration // relinking them (0 when reused)
	Rows    []SearchRow   // one per client count; Matches is the median number of entries
}

const empiMarkerID = "hip-bench-empi"

// EMPIMatch runs the $match benchmark. Half of the queries describe a
// registered record with its variants (a duplicate registration), half a
// resident's own record; each is sent without its id.
func EMPIMatch(ctx context.Context, cfg EMPIMatchConfig) (*EMPIMatchReport, error) {
	cfg.Synth.Scenarios = synth.Scenarios{Duplicates: true}
	rep := &EMPIMatchReport{}
	if err := loadRegistrations(ctx, cfg, rep); err != nil {
		return nil, err
	}
	if err := cfg.Store.ScanMPI(ctx, func(*store.MPIRecord) error { rep.Indexed++; return nil }); err != nil {
		return nil, err
	}
	// The queries: every k-th registration, regenerated.
	var queries [][]byte
	n, k := 0, 0
	_, err := synth.Registrations(ctx, cfg.Synth, func(r fhir.Resource) error {
		n++
		return nil
	})
	if err != nil {
		return nil, err
	}
	step := max(1, n/max(cfg.Queries, 1))
	_, err = synth.Registrations(ctx, cfg.Synth, func(r fhir.Resource) error {
		k++
		if k%step != 0 || len(queries) >= cfg.Queries {
			return nil
		}
		delete(r, "id")
		body, err := json.Marshal(fhir.Resource{"resourceType": "Parameters", "parameter": []any{
			map[string]any{"name": "resource", "resource": r}, map[string]any{"name": "count", "valueInteger": 10}}})
		queries = append(queries, body)
		return err
	})
	if err != nil {
		return nil, err
	}
	h, err := cfg.Serve()
	if err != nil {
		return nil, err
	}
	base, stop, err := Loopback(h)
	if err != nil {
		return nil, err
	}
	defer stop()
	for _, clients := range cfg.Clients {
		row, err := measureMatch(ctx, defaultClient(clients), base+"/Patient/$match", queries, clients, cfg.Requests)
		if err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, row)
	}
	return rep, nil
}

// loadRegistrations makes sure the store holds the registrations of
// cfg.Synth, indexed: reused when its marker says so, else (with Load, into
// an empty store) imported and relinked.
func loadRegistrations(ctx context.Context, cfg EMPIMatchConfig, rep *EMPIMatchReport) error {
	stored, err := cfg.Store.Read(ctx, "Binary", empiMarkerID)
	if err == nil {
		m, err := decodeMarker(stored.Body)
		if err != nil {
			return err
		}
		if m.Seed != cfg.Synth.Seed || m.Requested != cfg.Synth.Residents {
			return fmt.Errorf("the database holds the registrations of --seed %d --residents %d", m.Seed, m.Requested)
		}
		return nil
	}
	hist, err := cfg.Store.History(ctx, store.HistoryQuery{Count: 1})
	if err != nil {
		return err
	}
	if len(hist.Versions) > 0 {
		return fmt.Errorf("the database holds other data: use an empty one")
	}
	if !cfg.Load {
		return fmt.Errorf("the database is empty: pass --load to import and index the registrations")
	}
	start := time.Now()
	var m *synth.Manifest
	sum, err := cfg.Importer.Stream(ctx, func(ctx context.Context, emit bulk.Emit) error {
		m, err = synth.Registrations(ctx, cfg.Synth, emit)
		return err
	})
	if err != nil {
		return err
	}
	if sum.Failed > 0 {
		return fmt.Errorf("%d registrations were refused", sum.Failed)
	}
	rep.Load = time.Since(start)
	start = time.Now()
	if _, err := cfg.Index.Relink(ctx, func(phase string, done int) { progress(cfg.Progress, "\rrelink: %s %d   ", phase, done) }); err != nil {
		return err
	}
	rep.Relink = time.Since(start)
	marker, err := encodeMarker(empiMarkerID, m)
	if err != nil {
		return err
	}
	return cfg.Store.Tx(ctx, func(tx store.Tx) error {
		_, _, err := tx.Put(ctx, marker, store.Precondition{})
		return err
	})
}

// measureMatch posts the queries round-robin from clients concurrent
// clients until requests are answered.
func measureMatch(ctx context.Context, client *http.Client, url string, queries [][]byte, clients, requests int) (SearchRow, error) {
	row, err := measureRequests(ctx, clients, requests, 0, func(i int64) (int, error) {
		return postMatch(ctx, client, url, queries[i%int64(len(queries))])
	})
	row.Query, row.Clients = "patient-match", clients
	return row, err
}

func postMatch(ctx context.Context, client *http.Client, url string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("$match: %d %.200s", resp.StatusCode, b)
	}
	var bundle struct {
		Entry []json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		return 0, err
	}
	return len(bundle.Entry), nil
}

// Markdown renders the report as the table of docs/benchmarks.md.
func (r *EMPIMatchReport) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d records indexed", r.Indexed)
	if r.Load > 0 {
		fmt.Fprintf(&b, " (imported in %s, relinked in %s)", r.Load.Round(time.Second), r.Relink.Round(time.Second))
	}
	b.WriteString("\n\n| clients | requests | errors | entries | p50 | p90 | p99 | max | req/s |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "| %d | %d | %d | %d | %s | %s | %s | %s | %.0f |\n", row.Clients, row.Requests, row.Errors, row.Matches,
			ms(row.P50), ms(row.P90), ms(row.P99), ms(row.Max), row.PerSec)
		if row.FirstError != "" {
			fmt.Fprintf(&b, "\nfirst error: %s\n", row.FirstError)
		}
	}
	return b.String()
}
