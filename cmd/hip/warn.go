package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hip-platform/hip/internal/bulk"
	"github.com/hip-platform/hip/internal/earlywarning"
	"github.com/hip-platform/hip/internal/fhir"
)

const warnUsage = `usage: hip warn [--ndjson DIR] [--counts COUNTS.csv] [--config CONFIG.json] [--out EVENTS.json]
       hip warn --print-config

Multi-source early warning (多点触发, docs/surveillance.md): scans every
count series per source, syndrome and township with its source's detector
and writes the events the configured rules raise, each with the signals
that made it.
  --ndjson DIR   Patient.ndjson and Condition.ndjson (a bulk export or hip
                 synth's output): the diagnosis source, by home township
  --counts FILE  date,source,syndrome,area,count rows (pharmacy sales,
                 school absenteeism, lab positives or diagnoses from feeds)
  --config FILE  detectors and rules (hip warn --print-config prints the
                 default one to start from)`

// warnCmd runs `hip warn`.
func warnCmd(args []string, stdout, stderr io.Writer) error {
	var ndjson, countsPath, configPath, out string
	var printConfig bool
	err := parseFlags("warn", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&ndjson, "ndjson", "", "directory with Patient.ndjson and Condition.ndjson")
		fs.StringVar(&countsPath, "counts", "", "count series CSV")
		fs.StringVar(&configPath, "config", "", "detectors and rules JSON (default: the evaluated configuration)")
		fs.StringVar(&out, "out", "-", "events JSON to write (- for standard output)")
		fs.BoolVar(&printConfig, "print-config", false, "print the default configuration and exit")
		fs.Usage = func() { fmt.Fprintln(fs.Output(), warnUsage) }
	})
	if err != nil {
		return err
	}
	if printConfig {
		return earlywarning.WriteConfig(stdout, earlywarning.DefaultConfig())
	}
	if ndjson == "" && countsPath == "" {
		return errors.New("warn: --ndjson or --counts is required\n" + warnUsage)
	}
	cfg := earlywarning.DefaultConfig()
	if configPath != "" {
		if err := readWith(configPath, func(r io.Reader) (err error) { cfg, err = earlywarning.ReadConfig(r); return }); err != nil {
			return fmt.Errorf("warn: %w", err)
		}
	}
	start := time.Now()
	var diagnoses, feeds *earlywarning.Counts
	if ndjson != "" {
		if diagnoses, err = diagnosisCounts(ndjson); err != nil {
			return fmt.Errorf("warn: %w", err)
		}
	}
	if countsPath != "" {
		if err := readWith(countsPath, func(r io.Reader) (err error) { feeds, err = earlywarning.ReadCounts(r); return }); err != nil {
			return fmt.Errorf("warn: %w", err)
		}
	}
	counts := earlywarning.Merge(diagnoses, feeds)
	signals, err := earlywarning.Detect(counts, cfg.Detectors)
	if err != nil {
		return fmt.Errorf("warn: %w", err)
	}
	var events []earlywarning.Event
	for _, r := range cfg.Rules {
		events = append(events, earlywarning.Fuse(signals, r)...)
	}
	if err := writeTo(out, stdout, func(w io.Writer) error { return earlywarning.WriteEvents(w, events) }); err != nil {
		return fmt.Errorf("warn: %s: %w", out, err)
	}
	fmt.Fprintf(stderr, "%d series over %d days from %s: %d signals, %d events, in %s\n", len(counts.Keys()), counts.Days,
		counts.Start.Format(time.DateOnly), len(signals), len(events), time.Since(start).Round(time.Millisecond))
	return nil
}

// diagnosisCounts counts the syndromic diagnoses of dir's Patients and
// Conditions per home township and day, over the days they span.
func diagnosisCounts(dir string) (*earlywarning.Counts, error) {
	reg := earlywarning.NewRegister()
	for _, typ := range []string{"Patient", "Condition"} {
		if err := readNDJSON(filepath.Join(dir, typ+".ndjson"), reg.Add); err != nil {
			return nil, err
		}
	}
	visits, unplaced := reg.Visits()
	if len(visits) == 0 {
		return nil, fmt.Errorf("%s: no syndromic diagnoses of residents with a home township (%d without one)", dir, unplaced)
	}
	first, last := visits[0].Time, visits[len(visits)-1].Time
	counts := earlywarning.NewCounts(first, int(last.Sub(first).Hours()/24)+2)
	areas := slices.Sorted(func(yield func(string) bool) {
		for a := range reg.Populations(first) {
			if !yield(a) {
				return
			}
		}
	})
	earlywarning.CountDiagnoses(counts, visits, areas)
	return counts, nil
}

// readNDJSON calls add with each resource of an NDJSON file.
func readNDJSON(path string, add func(fhir.Resource) error) error {
	return bulk.EachNDJSONLine(path, func(line int, raw []byte) error {
		r, err := fhir.Parse(raw)
		if err == nil {
			err = add(r)
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		return nil
	})
}

// readWith opens path for read; its errors name the file.
func readWith(path string, read func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := read(f); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// writeTo writes to path, or to stdout when path is "-".
func writeTo(path string, stdout io.Writer, write func(io.Writer) error) error {
	if path == "-" {
		return write(stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
