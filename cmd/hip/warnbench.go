package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/hip-platform/hip/internal/bench"
	"github.com/hip-platform/hip/internal/earlywarning"
)

// benchWarning evaluates multi-source early warning on synthetic regions
// with injected outbreaks (docs/surveillance.md).
func benchWarning(args []string, stdout, stderr io.Writer) error {
	cfg := bench.WarningConfig{Model: earlywarning.DefaultSourceModel(), Rules: earlywarning.DefaultRules(), Progress: stderr}
	alphas := "0.001,0.01"
	err := parseFlags("bench warning", args, stderr, func(fs *flag.FlagSet) {
		fs.IntVar(&cfg.Regions, "regions", 20, "synthetic regions (one county each), seeds --seed, --seed+1, …")
		fs.IntVar(&cfg.Residents, "residents", 50000, "residents per region")
		fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the first region")
		fs.StringVar(&alphas, "alpha", alphas, "comma list of the detectors' per-series false alarm probabilities to evaluate")
	})
	if err != nil {
		return err
	}
	if cfg.Regions < 1 || cfg.Residents < 1000 {
		return errors.New("bench warning: --regions ≥ 1 and --residents ≥ 1000")
	}
	for _, a := range strings.Split(alphas, ",") {
		alpha, err := strconv.ParseFloat(strings.TrimSpace(a), 64)
		if err != nil || !(alpha > 0 && alpha < 0.5) {
			return fmt.Errorf("bench warning: --alpha %q: want probabilities in (0, 0.5)", a)
		}
		cfg.Settings = append(cfg.Settings, bench.WarningSetting{Name: "α " + strings.TrimSpace(a), Detectors: earlywarning.DefaultDetectors(alpha)})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench.Warning(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, bench.WarningMarkdown(res))
	return nil
}
