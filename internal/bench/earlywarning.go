package bench

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/earlywarning"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/synth"
)

// WarningConfig sets up the evaluation of multi-source early warning on
// synthetic regions: Regions regions of Residents residents (seeds Seed,
// Seed+1, …) with their injected outbreaks, one year of care each.
type WarningConfig struct {
	Regions, Residents int
	Seed               uint64
	Model              earlywarning.SourceModel
	Settings           []WarningSetting
	Rules              []earlywarning.Rule
	Progress           io.Writer
}

// WarningSetting is one set of detectors every rule is evaluated with.
type WarningSetting struct {
	Name      string
	Detectors []earlywarning.Detector
}

// WarningRow is one rule's figures with one setting over every region.
type WarningRow struct {
	Setting     string
	Rule        earlywarning.Rule
	Outbreaks   int
	Detected    int
	Delays      []int // days, of the detected outbreaks
	Events      int
	False       int     // events that detected no injected outbreak
	CountyWeeks float64 // weeks of surveillance summed over the regions (one county each)
}

// WarningResult is the evaluation: a row per rule, and an example event of
// the last rule that detected an outbreak, to show what a warning lists.
type WarningResult struct {
	Rows     []WarningRow
	Example  *earlywarning.Event
	Outbreak *earlywarning.Outbreak
	Signals  map[string]map[earlywarning.Source]int // signals raised per setting and source, over every region
}

// Warning runs the evaluation.
func Warning(ctx context.Context, cfg WarningConfig) (*WarningResult, error) {
	res := &WarningResult{Signals: map[string]map[earlywarning.Source]int{}}
	for _, st := range cfg.Settings {
		res.Signals[st.Name] = map[earlywarning.Source]int{}
		for _, r := range cfg.Rules {
			res.Rows = append(res.Rows, WarningRow{Setting: st.Name, Rule: r})
		}
	}
	for n := range cfg.Regions {
		seed := cfg.Seed + uint64(n)
		start := time.Now()
		reg := earlywarning.NewRegister()
		m, err := synth.Generate(ctx, synth.Config{Seed: seed, Residents: cfg.Residents,
			Scenarios: synth.Scenarios{Outbreaks: true}}, func(r fhir.Resource) error { return reg.Add(r) })
		if err != nil {
			return nil, fmt.Errorf("bench: warning: region %d: %w", seed, err)
		}
		first, err := earlywarning.ParseDay(m.Start)
		if err != nil {
			return nil, fmt.Errorf("bench: warning: region %d: start %q: %w", seed, m.Start, err)
		}
		days := int(first.AddDate(m.Years, 0, 0).Sub(first).Hours()/24 + 0.5)
		counts := earlywarning.NewCounts(first, days)
		visits, _ := reg.Visits()
		pops := reg.Populations(first.AddDate(0, 6, 0))
		areas := make([]string, 0, len(pops))
		for a := range pops {
			areas = append(areas, a)
		}
		slices.Sort(areas)
		earlywarning.CountDiagnoses(counts, visits, areas)
		cfg.Model.Simulate(counts, visits, pops, seed)
		outbreaks, err := truthOutbreaks(m)
		if err != nil {
			return nil, fmt.Errorf("bench: warning: region %d: %w", seed, err)
		}
		nSignals := 0
		for si, st := range cfg.Settings {
			signals, err := earlywarning.Detect(counts, st.Detectors)
			if err != nil {
				return nil, fmt.Errorf("bench: warning: region %d: %s: %w", seed, st.Name, err)
			}
			nSignals += len(signals)
			for _, s := range signals {
				res.Signals[st.Name][s.Source]++
			}
			for ri, rule := range cfg.Rules {
				res.Rows[si*len(cfg.Rules)+ri].add(rule, signals, outbreaks, days, res)
			}
		}
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "region %d: %d residents, %d townships, %d syndromic visits, %d signals, %d outbreaks (%s)\n",
				seed, m.Residents, len(areas), len(visits), nSignals, len(outbreaks), time.Since(start).Round(time.Millisecond))
		}
	}
	return res, nil
}

// add scores the rule's events over one region.
func (row *WarningRow) add(rule earlywarning.Rule, signals []earlywarning.Signal, outbreaks []earlywarning.Outbreak, days int, res *WarningResult) {
	events := earlywarning.Fuse(signals, rule)
	dets, unmatched := earlywarning.Score(events, outbreaks)
	row.Outbreaks += len(dets)
	row.Events += len(events)
	row.False += len(unmatched)
	row.CountyWeeks += float64(days) / 7
	for _, d := range dets {
		if d.Detected {
			row.Detected++
			row.Delays = append(row.Delays, d.Delay)
			if rule.MinSources > 1 && (res.Example == nil || len(d.Event.Sources()) > len(res.Example.Sources())) {
				res.Example, res.Outbreak = d.Event, &d.Outbreak
			}
		}
	}
}

// truthOutbreaks turns the manifest's injected outbreaks into the clusters
// the warnings are scored against.
func truthOutbreaks(m *synth.Manifest) ([]earlywarning.Outbreak, error) {
	var out []earlywarning.Outbreak
	for _, ob := range m.Outbreaks {
		syn, ok := earlywarning.SyndromeOf(ob.Disease)
		if !ok {
			return nil, fmt.Errorf("outbreak %s: disease %s has no syndrome", ob.ID, ob.Disease)
		}
		start, err := earlywarning.ParseDay(ob.Start)
		if err != nil {
			return nil, fmt.Errorf("outbreak %s: %w", ob.ID, err)
		}
		end, err := earlywarning.ParseDay(ob.End)
		if err != nil {
			return nil, fmt.Errorf("outbreak %s: %w", ob.ID, err)
		}
		out = append(out, earlywarning.Outbreak{ID: ob.ID, Syndrome: syn, Areas: ob.Townships, Start: start, End: end})
	}
	return out, nil
}

// WarningMarkdown renders the evaluation for docs/surveillance.md.
func WarningMarkdown(res *WarningResult) string {
	var b strings.Builder
	b.WriteString("| detectors | rule | outbreaks detected | detection rate | delay, days (median; mean) | events | false events | false events per county-week |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range res.Rows {
		delay := "—"
		if len(r.Delays) > 0 {
			d := slices.Sorted(slices.Values(r.Delays))
			sum := 0
			for _, x := range d {
				sum += x
			}
			delay = fmt.Sprintf("%d; %.1f", d[len(d)/2], float64(sum)/float64(len(d)))
		}
		fmt.Fprintf(&b, "| %s | %s | %d / %d | %.0f %% | %s | %d | %d | %.2f |\n", r.Setting, r.Rule.Name, r.Detected, r.Outbreaks,
			100*float64(r.Detected)/float64(max(r.Outbreaks, 1)), delay, r.Events, r.False, float64(r.False)/max(r.CountyWeeks, 1))
	}
	b.WriteString("\nSignals raised over all regions:")
	var settings []string
	for _, r := range res.Rows {
		if !slices.Contains(settings, r.Setting) {
			settings = append(settings, r.Setting)
		}
	}
	for _, st := range settings {
		fmt.Fprintf(&b, " %s —", st)
		for _, s := range earlywarning.Sources {
			fmt.Fprintf(&b, " %s %d", s, res.Signals[st][s])
		}
		b.WriteString(";")
	}
	b.WriteString("\n")
	if e := res.Example; e != nil {
		fmt.Fprintf(&b, "\nAn event (rule %q) that detected %s (%s, %s in %s, from %s):\n\n", e.Rule, res.Outbreak.ID,
			res.Outbreak.Syndrome, res.Outbreak.Start.Format(time.DateOnly)+" – "+res.Outbreak.End.Format(time.DateOnly),
			strings.Join(res.Outbreak.Areas, ", "), e.Start.Format(time.DateOnly))
		b.WriteString("| day | source | syndrome | township | count | expected | bound | high |\n| --- | --- | --- | --- | ---: | ---: | ---: | --- |\n")
		for _, s := range e.Signals {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %.0f | %.2f | %.2f | %t |\n", s.Day.Format(time.DateOnly), s.Source, s.Syndrome, s.Area, s.Observed, s.Expected, s.Bound, s.High)
		}
	}
	return b.String()
}
