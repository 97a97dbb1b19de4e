package bulk

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

// Validator checks a resource before it is stored.
type Validator interface {
	Resource(res fhir.Resource) error
}

// Importer loads resources into a store: workers parse and validate, one writer
// stores them in transactions of Batch resources each.
type Importer struct {
	Store     store.Store
	Validator Validator
	// Indexer, when set, is the store's: the workers compute the search
	// index entries in parallel, so that the writers hold the database for
	// the SQL alone.
	Indexer   store.Indexer
	Batch     int       // resources per transaction; default 2000
	Workers   int       // parse and validate workers; default GOMAXPROCS
	Writers   int       // concurrent write transactions; default 2
	Progress  io.Writer // a progress line about twice a second; nil for none
	MaxErrors int       // errors reported in detail; default 100
}

// Summary is what an import did.
type Summary struct {
	Resources int            // stored
	Failed    int            // refused (invalid, unreadable)
	ByType    map[string]int // stored, per type
	Errors    []string       // the first MaxErrors failures: "origin: message"
	Elapsed   time.Duration
}

// PerSecond is the import rate.
func (s Summary) PerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Resources) / s.Elapsed.Seconds()
}

func (s Summary) String() string {
	types := make([]string, 0, len(s.ByType))
	for t := range s.ByType {
		types = append(types, t)
	}
	slices.Sort(types)
	var b strings.Builder
	fmt.Fprintf(&b, "导入 imported %d resources in %s (%.0f resources/s), %d refused\n", s.Resources, s.Elapsed.Round(time.Millisecond), s.PerSecond(), s.Failed)
	for _, t := range types {
		fmt.Fprintf(&b, "  %-28s %9d\n", t, s.ByType[t])
	}
	for _, e := range s.Errors {
		fmt.Fprintf(&b, "  ! %s\n", e)
	}
	return b.String()
}

// item is one resource on its way: raw JSON (from NDJSON) or already decoded.
type item struct {
	origin  string // file:line, for error messages
	raw     []byte
	res     fhir.Resource
	entries []search.Entry // computed by the workers when Importer.Indexer is set
}

// Emit hands one resource to an import in progress.
type Emit func(fhir.Resource) error

// Stream imports what produce emits. produce runs in its own goroutine; its error
// ends the import.
func (im *Importer) Stream(ctx context.Context, produce func(ctx context.Context, emit Emit) error) (Summary, error) {
	return im.run(ctx, func(ctx context.Context, out chan<- item) error {
		n := 0
		return produce(ctx, func(res fhir.Resource) error {
			n++
			select {
			case out <- item{origin: fmt.Sprintf("resource %d", n), res: res}:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	})
}

// Files imports NDJSON files (*.ndjson: one resource per line) and Bundle files
// (*.json: each entry's resource), given as files or directories holding them.
func (im *Importer) Files(ctx context.Context, paths []string) (Summary, error) {
	files, err := expand(paths)
	if err != nil {
		return Summary{}, err
	}
	return im.run(ctx, func(ctx context.Context, out chan<- item) error {
		for _, f := range files {
			var err error
			if strings.HasSuffix(f, ".ndjson") {
				err = readNDJSON(ctx, f, out)
			} else {
				err = readBundle(ctx, f, out)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// expand lists the importable files among paths, directories expanded, in name order.
func expand(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("bulk: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("bulk: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if !e.IsDir() && (strings.HasSuffix(name, ".ndjson") || strings.HasSuffix(name, ".json")) && name != "manifest.json" {
				files = append(files, filepath.Join(p, name))
			}
		}
	}
	if len(files) == 0 {
		return nil, errors.New("bulk: no .ndjson or .json files to import")
	}
	return files, nil
}

func readNDJSON(ctx context.Context, path string, out chan<- item) error {
	return EachNDJSONLine(path, func(line int, raw []byte) error {
		select {
		case out <- item{origin: fmt.Sprintf("%s:%d", filepath.Base(path), line), raw: slices.Clone(raw)}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// EachNDJSONLine calls fn with every non-blank line of an NDJSON file and
// its 1-based number (the slice is reused: fn copies what it keeps), and
// stops at fn's first error.
func EachNDJSONLine(path string, fn func(line int, raw []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		if err := fn(line, b); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("bulk: read %s: %w", path, err)
	}
	return nil
}

// readBundle emits the resources of a Bundle file. Entries whose fullUrl is a
// urn:uuid get a new id, and references to them are rewritten, as a transaction
// would; conditional requests need the REST API.
func readBundle(ctx context.Context, path string, out chan<- item) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	b, err := fhir.Parse(data)
	if err != nil {
		return fmt.Errorf("bulk: %s: %w", path, err)
	}
	if b.Type() != "Bundle" {
		return fmt.Errorf("bulk: %s is a %s, not a Bundle (NDJSON files end in .ndjson)", path, b.Type())
	}
	list, _ := b["entry"].([]any)
	refs := map[string]string{}
	var resources []fhir.Resource
	for i, e := range list {
		entry, _ := e.(map[string]any)
		raw, _ := entry["resource"].(map[string]any)
		if raw == nil {
			continue
		}
		res := fhir.Resource(raw)
		if req, _ := entry["request"].(map[string]any); req != nil {
			if c, _ := req["ifNoneExist"].(string); c != "" {
				return fmt.Errorf("bulk: %s entry %d: conditional create needs the REST API (POST the bundle to /fhir)", path, i)
			}
			if u, _ := req["url"].(string); strings.Contains(u, "?") {
				return fmt.Errorf("bulk: %s entry %d: conditional request %q needs the REST API", path, i, u)
			}
		}
		full, _ := entry["fullUrl"].(string)
		if strings.HasPrefix(full, "urn:uuid:") || res.ID() == "" {
			res["id"] = rand.Text()
		}
		if full != "" {
			refs[full] = res.Type() + "/" + res.ID()
		}
		resources = append(resources, res)
	}
	for i, res := range resources {
		err := fhir.RewriteReferences(res, func(ref string) (string, error) {
			if target, ok := refs[ref]; ok {
				return target, nil
			}
			if strings.HasPrefix(ref, "urn:uuid:") {
				return "", fmt.Errorf("reference %q names no entry of the bundle", ref)
			}
			return ref, nil
		})
		if err != nil {
			return fmt.Errorf("bulk: %s resource %d: %w", path, i, err)
		}
		select {
		case out <- item{origin: fmt.Sprintf("%s entry %d", filepath.Base(path), i), res: res}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// run is the pipeline: produce → workers (parse, validate) → one writer.
func (im *Importer) run(ctx context.Context, produce func(ctx context.Context, out chan<- item) error) (Summary, error) {
	batch := cmpOr(im.Batch, 2000)
	workers := cmpOr(im.Workers, runtime.GOMAXPROCS(0))
	maxErrors := cmpOr(im.MaxErrors, 100)
	// Writers store with the caller's context: when a producer fails, what was
	// already read and checked is still stored, and the producer's error is the
	// one reported.
	storeCtx := ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	start := time.Now()
	sum := Summary{ByType: map[string]int{}}
	var mu sync.Mutex // guards sum's failure fields
	fail := func(origin string, err error) {
		mu.Lock()
		defer mu.Unlock()
		sum.Failed++
		if len(sum.Errors) < maxErrors {
			sum.Errors = append(sum.Errors, origin+": "+errorText(err))
		}
	}

	raw := make(chan item, 4*batch)
	checked := make(chan item, 4*batch)
	go func() {
		defer close(raw)
		if err := produce(ctx, raw); err != nil {
			cancel(err)
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for it := range raw {
				if it.res == nil {
					res, err := fhir.Parse(it.raw)
					if err != nil {
						fail(it.origin, err)
						continue
					}
					it.res, it.raw = res, nil
				}
				if it.res.ID() == "" {
					it.res["id"] = rand.Text()
				}
				if err := im.Validator.Resource(it.res); err != nil {
					fail(it.origin+" "+it.res.Type()+"/"+it.res.ID(), err)
					continue
				}
				if im.Indexer != nil {
					// On a failure the store indexes the resource itself and
					// reports which parameter failed.
					if entries, err := im.Indexer.Index(it.res); err == nil {
						it.entries = entries
					}
				}
				checked <- it
			}
		})
	}
	go func() {
		wg.Wait()
		close(checked)
	}()

	var stored atomic.Int64
	stopProgress := im.reportProgress(start, &stored)
	defer stopProgress()
	var storedMu sync.Mutex // guards sum.Resources and sum.ByType
	storeBatch := func(batch []item) error {
		if len(batch) == 0 {
			return nil
		}
		err := im.Store.Tx(storeCtx, func(tx store.Tx) error {
			for _, it := range batch {
				if _, _, err := tx.PutIndexed(storeCtx, it.res, it.entries, store.Precondition{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("bulk: store a batch of %d: %w", len(batch), err)
		}
		storedMu.Lock()
		defer storedMu.Unlock()
		for _, it := range batch {
			sum.ByType[it.res.Type()]++
		}
		sum.Resources += len(batch)
		stored.Store(int64(sum.Resources))
		return nil
	}
	// Writers: one is all SQLite can use; PostgreSQL overlaps several.
	errs := make([]error, cmpOr(im.Writers, 2))
	var writers sync.WaitGroup
	for w := range errs {
		writers.Go(func() {
			pending := make([]item, 0, batch)
			for it := range checked {
				if errs[w] != nil {
					continue // drain so the workers can finish
				}
				if pending = append(pending, it); len(pending) == batch {
					if errs[w] = storeBatch(pending); errs[w] != nil {
						cancel(errs[w])
					}
					pending = make([]item, 0, batch)
				}
			}
			if errs[w] == nil {
				errs[w] = storeBatch(pending)
			}
		})
	}
	writers.Wait()
	// Searches are planned with the statistics of the data before the load
	// until they are refreshed.
	if sum.Resources > 0 {
		errs = append(errs, im.Store.Analyze(storeCtx))
	}
	sum.Elapsed = time.Since(start)
	// The first failure (a producer's, a writer's, or the caller's cancellation)
	// is the cause; writer errors after it are its consequences.
	if cause := context.Cause(ctx); cause != nil {
		return sum, cause
	}
	return sum, errors.Join(errs...)
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// errorText is an error's public text: the OperationOutcome issues of a domain error.
func errorText(err error) string {
	e := fhir.AsError(err)
	if len(e.Issues) == 0 {
		return err.Error()
	}
	parts := make([]string, 0, len(e.Issues))
	for _, is := range e.Issues {
		s := is.Diagnostics
		if len(is.Expression) > 0 {
			s = strings.Join(is.Expression, ",") + ": " + s
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// reportProgress writes a progress line about twice a second until stopped.
func (im *Importer) reportProgress(start time.Time, stored *atomic.Int64) (stop func()) {
	if im.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				fmt.Fprintln(im.Progress)
				return
			case <-tick.C:
				n := stored.Load()
				el := time.Since(start)
				fmt.Fprintf(im.Progress, "\r导入中 importing: %d resources, %s, %.0f/s   ", n, el.Round(time.Second), float64(n)/el.Seconds())
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
