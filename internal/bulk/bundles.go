package bulk

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hip-platform/hip/internal/fhir"
)

// Transaction wraps resources, each with its id, in a transaction Bundle of PUT
// entries: posting it twice leaves the same data.
func Transaction(resources []fhir.Resource) fhir.Resource {
	entries := make([]any, len(resources))
	for i, res := range resources {
		entries[i] = map[string]any{
			"resource": res,
			"request":  map[string]any{"method": "PUT", "url": res.Type() + "/" + res.ID()},
		}
	}
	return fhir.Resource{"resourceType": "Bundle", "type": "transaction", "entry": entries}
}

// BundleWriter writes resources as transaction Bundles of Size entries to
// DIR/bundle-000001.json, DIR/bundle-000002.json, …
type BundleWriter struct {
	dir     string
	size    int
	pending []fhir.Resource
	files   int
}

// NewBundleWriter prepares dir as NewNDJSONWriter does; size ≤ 0 means 1,000
// entries a bundle.
func NewBundleWriter(dir string, size int) (*BundleWriter, error) {
	if err := prepareDir(dir); err != nil {
		return nil, err
	}
	if size <= 0 {
		size = 1000
	}
	return &BundleWriter{dir: dir, size: size}, nil
}

// Write adds res to the current bundle, writing it out when full.
func (w *BundleWriter) Write(res fhir.Resource) error {
	w.pending = append(w.pending, res)
	if len(w.pending) < w.size {
		return nil
	}
	return w.flush()
}

func (w *BundleWriter) flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	b, err := Transaction(w.pending).MarshalJSON()
	if err != nil {
		return fmt.Errorf("bulk: encode bundle: %w", err)
	}
	w.files++
	path := filepath.Join(w.dir, fmt.Sprintf("bundle-%06d.json", w.files))
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	w.pending = w.pending[:0]
	return nil
}

// Close writes the last, partial bundle.
func (w *BundleWriter) Close() error { return w.flush() }
