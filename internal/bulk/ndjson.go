// Package bulk moves many resources at once: FHIR NDJSON files (one file per
// resource type, as Bulk Data export writes them) out, and NDJSON or Bundle files
// into a store through large transactions rather than one request per resource.
package bulk

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/hip-platform/hip/internal/fhir"
)

// encodeBatch is how many resources one encoding job takes.
const encodeBatch = 256

// NDJSONWriter writes resources to DIR/Type.ndjson, one JSON object per line, in
// the order written. Encoding runs on every core; the files are written by one
// goroutine in order, so the output is the same however the work was spread.
type NDJSONWriter struct {
	dir     string
	counts  map[string]int
	batch   []fhir.Resource
	futures chan chan encoded // encoded batches, in write order
	done    chan error        // the file writer's result
}

// encoded is one batch as lines.
type encoded struct {
	types []string
	lines [][]byte
	err   error
}

// NewNDJSONWriter creates dir if needed and removes the NDJSON files, bundles and
// manifest an earlier export left there, so that dir holds one export only.
func NewNDJSONWriter(dir string) (*NDJSONWriter, error) {
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	w := &NDJSONWriter{
		dir:     dir,
		counts:  map[string]int{},
		batch:   make([]fhir.Resource, 0, encodeBatch),
		futures: make(chan chan encoded, 2*runtime.GOMAXPROCS(0)),
		done:    make(chan error, 1),
	}
	go func() { w.done <- w.writeFiles() }()
	return w, nil
}

// Write queues res for its type's file. Encoding errors surface from Close.
func (w *NDJSONWriter) Write(res fhir.Resource) error {
	if res.Type() == "" {
		return errors.New("bulk: a resource without resourceType")
	}
	w.counts[res.Type()]++
	w.batch = append(w.batch, res)
	if len(w.batch) == encodeBatch {
		w.dispatch()
	}
	return nil
}

// dispatch hands the current batch to an encoder; it blocks while enough batches
// are in flight, which bounds memory.
func (w *NDJSONWriter) dispatch() {
	if len(w.batch) == 0 {
		return
	}
	batch := w.batch
	w.batch = make([]fhir.Resource, 0, encodeBatch)
	f := make(chan encoded, 1)
	w.futures <- f
	go func() {
		enc := encoded{types: make([]string, len(batch)), lines: make([][]byte, len(batch))}
		for i, res := range batch {
			b, err := res.MarshalJSON()
			if err != nil {
				enc.err = fmt.Errorf("bulk: encode %s/%s: %w", res.Type(), res.ID(), err)
				break
			}
			enc.types[i], enc.lines[i] = res.Type(), append(b, '\n')
		}
		f <- enc
	}()
}

// writeFiles writes encoded batches in order until the futures are closed.
func (w *NDJSONWriter) writeFiles() error {
	type file struct {
		f *os.File
		w *bufio.Writer
	}
	files := map[string]*file{}
	var errs []error
	for f := range w.futures {
		enc := <-f
		if enc.err != nil || len(errs) > 0 {
			errs = append(errs, enc.err)
			continue // keep draining so Close returns
		}
		for i, line := range enc.lines {
			out, ok := files[enc.types[i]]
			if !ok {
				fh, err := os.Create(filepath.Join(w.dir, enc.types[i]+".ndjson"))
				if err != nil {
					errs = append(errs, fmt.Errorf("bulk: %w", err))
					break
				}
				out = &file{f: fh, w: bufio.NewWriterSize(fh, 256<<10)}
				files[enc.types[i]] = out
			}
			if _, err := out.w.Write(line); err != nil {
				errs = append(errs, fmt.Errorf("bulk: write %s: %w", enc.types[i], err))
				break
			}
		}
	}
	types := make([]string, 0, len(files))
	for t := range files {
		types = append(types, t)
	}
	slices.Sort(types)
	for _, t := range types {
		errs = append(errs, files[t].w.Flush(), files[t].f.Close())
	}
	return errors.Join(errs...)
}

// Counts returns the number of resources written per type.
func (w *NDJSONWriter) Counts() map[string]int { return w.counts }

// Close encodes what is queued, then flushes and closes every file.
func (w *NDJSONWriter) Close() error {
	w.dispatch()
	close(w.futures)
	return <-w.done
}

// prepareDir creates dir, or empties it of an earlier export's files.
func prepareDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	for _, pattern := range []string{"*.ndjson", "bundle-*.json", "manifest.json"} {
		old, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			return fmt.Errorf("bulk: %w", err)
		}
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return fmt.Errorf("bulk: clearing %s: %w", dir, err)
			}
		}
	}
	return nil
}
