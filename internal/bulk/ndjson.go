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
	"slices"

	"github.com/hip-platform/hip/internal/fhir"
)

// NDJSONWriter writes resources to DIR/Type.ndjson, one JSON object per line.
type NDJSONWriter struct {
	dir    string
	files  map[string]*ndjsonFile
	counts map[string]int
}

type ndjsonFile struct {
	f *os.File
	w *bufio.Writer
}

// NewNDJSONWriter creates dir if needed. Existing files of the types written are
// replaced.
func NewNDJSONWriter(dir string) (*NDJSONWriter, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bulk: %w", err)
	}
	return &NDJSONWriter{dir: dir, files: map[string]*ndjsonFile{}, counts: map[string]int{}}, nil
}

// Write appends res to its type's file.
func (w *NDJSONWriter) Write(res fhir.Resource) error {
	typ := res.Type()
	if typ == "" {
		return errors.New("bulk: a resource without resourceType")
	}
	out, ok := w.files[typ]
	if !ok {
		f, err := os.Create(filepath.Join(w.dir, typ+".ndjson"))
		if err != nil {
			return fmt.Errorf("bulk: %w", err)
		}
		out = &ndjsonFile{f: f, w: bufio.NewWriterSize(f, 256<<10)}
		w.files[typ] = out
	}
	b, err := res.MarshalJSON()
	if err != nil {
		return fmt.Errorf("bulk: encode %s/%s: %w", typ, res.ID(), err)
	}
	out.w.Write(b)
	if err := out.w.WriteByte('\n'); err != nil {
		return fmt.Errorf("bulk: write %s: %w", typ, err)
	}
	w.counts[typ]++
	return nil
}

// Counts returns the number of resources written per type.
func (w *NDJSONWriter) Counts() map[string]int { return w.counts }

// Close flushes and closes every file.
func (w *NDJSONWriter) Close() error {
	var errs []error
	types := make([]string, 0, len(w.files))
	for t := range w.files {
		types = append(types, t)
	}
	slices.Sort(types)
	for _, t := range types {
		f := w.files[t]
		errs = append(errs, f.w.Flush(), f.f.Close())
	}
	return errors.Join(errs...)
}
