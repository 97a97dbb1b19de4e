package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/hip-platform/hip/internal/bulk"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/synth"
)

// job is one transaction bundle to post.
type job struct {
	name    string
	body    []byte
	entries int
}

func send(ctx context.Context, jobs chan<- job, j job) error {
	select {
	case jobs <- j:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// repeatTemplates queues the templates round-robin, each copy with fresh uuids,
// until target resources are queued (every template once when target ≤ 0).
func repeatTemplates(ctx context.Context, tpls []template, target int, jobs chan<- job) error {
	queued := 0
	for i := 0; ; i++ {
		if target > 0 && queued >= target || target <= 0 && i >= len(tpls) {
			return nil
		}
		t := &tpls[i%len(tpls)]
		if err := send(ctx, jobs, job{name: t.name, body: t.fresh(), entries: t.entries}); err != nil {
			return err
		}
		queued += t.entries
	}
}

// errEnough stops the generator once the target is queued.
var errEnough = errors.New("enough resources generated")

// generateBundles generates a region and queues it as transaction bundles of size
// PUT entries, until target resources are queued (the whole region when ≤ 0).
func generateBundles(ctx context.Context, cfg synth.Config, target, size int, jobs chan<- job) error {
	if size <= 0 {
		size = 500
	}
	if target > 0 && cfg.Residents <= 0 {
		// About 40 resources a resident and year: size the region (which scales
		// its facilities to the population) a little beyond what the target needs;
		// the target ends the run.
		cfg.Residents = target/(30*max(cfg.Years, 1)) + 100
	}
	queued, n := 0, 0
	pending := make([]fhir.Resource, 0, size)
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		n++
		body, err := bulk.Transaction(pending).MarshalJSON()
		if err != nil {
			return err
		}
		if err := send(ctx, jobs, job{name: "synth-" + strconv.Itoa(n), body: body, entries: len(pending)}); err != nil {
			return err
		}
		queued += len(pending)
		pending = pending[:0]
		if target > 0 && queued >= target {
			return errEnough
		}
		return nil
	}
	_, err := synth.Generate(ctx, cfg, func(res fhir.Resource) error {
		if pending = append(pending, res); len(pending) < size {
			return nil
		}
		return flush()
	})
	if err == nil {
		err = flush()
	}
	if errors.Is(err, errEnough) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("generate: %w", err)
	}
	return nil
}
