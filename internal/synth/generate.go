package synth

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/idcard"
)

// householdsPerChunk is the unit of parallel work: big enough to amortise the
// hand-off, small enough to keep memory flat.
const householdsPerChunk = 32

// Generate streams a region to emit, in a deterministic order: the region's
// divisions, facilities and staff, the region-level plan (drug catalogue,
// procurement), then household by household each resident's records and care.
// It stops after the household that brings the count to cfg.Residents.
func Generate(ctx context.Context, cfg Config, emit func(fhir.Resource) error) (*Manifest, error) {
	return generate(ctx, cfg, false, emit)
}

// Registrations streams only the residents' Patient records and, with the
// duplicates scenario, their registrations at other facilities, in the order
// and with the ids Generate gives them; the manifest holds the duplicate
// ground truth. It is the input of the master patient index's accuracy tests
// and benchmarks, which need millions of records and no care.
func Registrations(ctx context.Context, cfg Config, emit func(fhir.Resource) error) (*Manifest, error) {
	cfg.Scenarios = Scenarios{Duplicates: cfg.Scenarios.Duplicates}
	return generate(ctx, cfg, true, emit)
}

func generate(ctx context.Context, cfg Config, patientsOnly bool, emit func(fhir.Resource) error) (*Manifest, error) {
	cfg = cfg.withDefaults()
	rg := newRegion(cfg.Seed, cfg.Residents)
	var plan *Plan
	m := &Manifest{Seed: cfg.Seed, Requested: cfg.Residents, Start: cfg.Start.Format(time.DateOnly), Years: cfg.Years,
		Scenarios: cfg.Scenarios, Counts: map[string]int{}}
	out := func(res fhir.Resource) error {
		m.Counts[res.Type()]++
		return emit(res)
	}
	if !patientsOnly {
		plan = newPlan(rg, cfg)
		for _, res := range append(rg.resources(), plan.resources()...) {
			if err := out(res); err != nil {
				return nil, err
			}
		}
		m.Truth = *plan.truth()
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for chunk := range generateChunks(ctx, rg, plan, cfg) {
		for _, hh := range chunk {
			for _, res := range hh.resources {
				if err := out(res); err != nil {
					return nil, err
				}
			}
			m.Truth.merge(&hh.truth)
			m.Households++
			m.Residents += hh.residents
			if m.Residents >= cfg.Residents {
				return m, nil
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return m, nil
}

func (c Config) withDefaults() Config {
	if c.Start.IsZero() {
		c.Start = time.Date(2025, 1, 1, 0, 0, 0, 0, cst)
	}
	if c.Years <= 0 {
		c.Years = 1
	}
	if c.Residents <= 0 {
		c.Residents = 5000
	}
	return c
}

// household is the generated output of one household.
type household struct {
	residents int
	resources []fhir.Resource
	truth     Truth
}

// generateChunks generates chunks of households in parallel and yields them in
// order until ctx ends. At most a few chunks per core are in flight, so memory
// stays bounded however large the region. One step runs in chunk order: giving
// every resident a 身份证 number no earlier resident has (drawn independently,
// numbers of people born on the same day would otherwise collide now and then).
func generateChunks(ctx context.Context, rg *Region, plan *Plan, cfg Config) <-chan []household {
	workers := runtime.GOMAXPROCS(0)
	futures := make(chan chan []household, 2*workers)
	ordered := make(chan []household)
	ids := idRegistry{}
	go func() {
		defer close(futures)
		turn := make(chan struct{})
		close(turn) // the first chunk's turn
		for c := 0; ; c++ {
			f := make(chan []household, 1)
			select {
			case futures <- f:
			case <-ctx.Done():
				return
			}
			mine, next := turn, make(chan struct{})
			turn = next
			go func() {
				first := c * householdsPerChunk
				members := make([][]*Resident, householdsPerChunk)
				for i := range members {
					members[i] = newHousehold(rg, cfg.Seed, first+i)
				}
				<-mine
				for _, hh := range members {
					for _, r := range hh {
						ids.assign(r)
					}
				}
				close(next)
				f <- buildChunk(rg, plan, cfg, first, members)
			}()
		}
	}()
	go func() {
		defer close(ordered)
		for f := range futures {
			select {
			case ordered <- <-f:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ordered
}

// idRegistry holds the 身份证 numbers issued so far, as their first 17 digits.
type idRegistry map[uint64]struct{}

// assign keeps r's number if it is new, else moves it to the next free order code
// of the same division, birth date and sex.
func (ids idRegistry) assign(r *Resident) {
	for {
		key, err := strconv.ParseUint(r.IDNumber[:17], 10, 64)
		if err != nil {
			panic("synth: malformed generated ID number " + r.IDNumber)
		}
		if _, taken := ids[key]; !taken {
			ids[key] = struct{}{}
			return
		}
		order, _ := strconv.Atoi(r.IDNumber[14:17])
		r.IDNumber = idcard.New(r.IDNumber[:6], r.BirthDate, r.Sex, order/2+1)
	}
}

// buildChunk turns the residents of a chunk of households into their resources.
func buildChunk(rg *Region, plan *Plan, cfg Config, first int, members [][]*Resident) []household {
	out := make([]household, len(members))
	for i, residents := range members {
		hh := &out[i]
		hh.residents = len(residents)
		for _, r := range residents {
			hh.resources = append(hh.resources, r.patient())
			if cfg.Scenarios.Duplicates {
				if extra, set := duplicates(rg, cfg.Seed, r); set != nil {
					hh.resources = append(hh.resources, extra...)
					hh.truth.Duplicates = append(hh.truth.Duplicates, *set)
				}
			}
		}
		if plan == nil {
			continue // registrations only
		}
		care, truth := plan.care(residents, cfg.Seed, first+i)
		hh.resources = append(hh.resources, care...)
		if truth != nil {
			hh.truth.merge(truth)
		}
	}
	return out
}

// Describes tells whether m is the manifest of a region generated with cfg.
func (m *Manifest) Describes(cfg Config) bool {
	cfg = cfg.withDefaults()
	return m.Seed == cfg.Seed && m.Requested == cfg.Residents && m.Years == cfg.Years &&
		m.Start == cfg.Start.Format(time.DateOnly) && m.Scenarios == cfg.Scenarios
}

// WriteFile writes the manifest as indented JSON.
func (m *Manifest) WriteFile(path string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("synth: manifest: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("synth: manifest: %w", err)
	}
	return nil
}

// ReadManifest reads a manifest written by WriteFile.
func ReadManifest(path string) (*Manifest, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("synth: manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("synth: manifest %s: %w", path, err)
	}
	return &m, nil
}

// scenarioSwitches names each scenario for flags and manifests.
func (s *Scenarios) switches() map[string]*bool {
	return map[string]*bool{
		"duplicates": &s.Duplicates, "outbreaks": &s.Outbreaks, "fraud": &s.Fraud,
		"shortages": &s.Shortages, "prices": &s.PriceAnomalies,
	}
}

// ScenarioNames lists the scenario names ParseScenarios knows, sorted.
func ScenarioNames() []string {
	var s Scenarios
	return slices.Sorted(maps.Keys(s.switches()))
}

// ParseScenarios reads "all", "none" or a comma-separated list of scenario names.
func ParseScenarios(s string) (Scenarios, error) {
	switch s {
	case "all":
		return AllScenarios(), nil
	case "none", "":
		return Scenarios{}, nil
	}
	var sc Scenarios
	sw := sc.switches()
	for _, name := range strings.Split(s, ",") {
		p, ok := sw[strings.TrimSpace(name)]
		if !ok {
			return Scenarios{}, fmt.Errorf("synth: unknown scenario %q (known: all, none, %s)", name, strings.Join(ScenarioNames(), ", "))
		}
		*p = true
	}
	return sc, nil
}
