package bench

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/hip-platform/hip/internal/empi"
	"github.com/hip-platform/hip/internal/fhir"
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
	cfg.Synth.Scenarios = synth.Scenarios{Duplicates: true}
	start := time.Now()
	var recs []empi.Record
	m, err := synth.Registrations(ctx, cfg.Synth, func(r fhir.Resource) error {
		recs = append(recs, empi.FromPatient(r))
		return nil
	})
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
