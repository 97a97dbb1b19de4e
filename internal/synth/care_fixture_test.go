package synth

import (
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
)

// careRun is the care of a generated region: its plan, residents, resources and
// merged ground truth.
type careRun struct {
	plan      *Plan
	residents map[string]*Resident
	resources []fhir.Resource
	byID      map[string]fhir.Resource
	truth     *Truth
	people    int
}

// runCare generates households until there are at least n residents, with all
// scenarios switched on.
func runCare(t testing.TB, seed uint64, n int) *careRun {
	t.Helper()
	cfg := Config{Seed: seed, Residents: n, Years: 1, Scenarios: AllScenarios()}.withDefaults()
	rg := newRegion(seed, n)
	p := newPlan(rg, cfg)
	run := &careRun{plan: p, residents: map[string]*Resident{}, byID: map[string]fhir.Resource{}, truth: p.truth()}
	run.resources = p.resources()
	for i := 0; run.people < n; i++ {
		hh := newHousehold(rg, seed, i)
		for _, r := range hh {
			run.residents[r.ID] = r
		}
		run.people += len(hh)
		res, tr := p.care(hh, seed, i)
		run.resources = append(run.resources, res...)
		run.truth.merge(tr)
	}
	for _, r := range run.resources {
		key := r.Type() + "/" + r.ID()
		if _, dup := run.byID[key]; dup {
			t.Fatalf("duplicate resource %s", key)
		}
		run.byID[key] = r
	}
	return run
}
