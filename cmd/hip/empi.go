package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/bench"
	"github.com/hip-platform/hip/internal/empi"
)

func empiCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "link" {
		return empiLink(args[1:], stdout, stderr)
	}
	return errors.New("usage: hip empi link --in FILE [--in FILE] --out FILE [--config FILE] [--map from=to,…]")
}

func empiLink(args []string, stdout, stderr io.Writer) error {
	var ins stringList
	var out, configPath, mapping string
	err := parseFlags("empi link", args, stderr, func(fs *flag.FlagSet) {
		fs.Var(&ins, "in", "CSV file of patient records with a header (repeat for a second file: only pairs across files)")
		fs.StringVar(&out, "out", "", "CSV file of pairs to write: id1,id2,score,decision (- for standard output)")
		fs.StringVar(&configPath, "config", "", "linkage configuration (JSON, docs/empi.md); default: built-in")
		fs.StringVar(&mapping, "map", "", "column renames from=to,… onto "+strings.Join(empi.Columns, ", "))
	})
	if err != nil {
		return err
	}
	if len(ins) == 0 || out == "" {
		return errors.New("empi link: --in and --out are required")
	}
	var cfg empi.Config
	if configPath != "" {
		if cfg, err = empi.ReadConfig(configPath); err != nil {
			return err
		}
	}
	m, err := empi.ParseMapping(mapping)
	if err != nil {
		return err
	}
	start := time.Now()
	var recs []empi.Record
	for i, path := range ins {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("empi link: %w", err)
		}
		source := ""
		if len(ins) > 1 {
			source = strconv.Itoa(i) // files, not source columns, decide which pairs cross
		}
		rs, err := empi.ReadCSV(f, source, m)
		f.Close()
		if err != nil {
			return fmt.Errorf("empi link: %s: %w", filepath.Base(path), err)
		}
		if len(ins) > 1 {
			for k := range rs {
				rs[k].Source = source
			}
		}
		recs = append(recs, rs...)
	}
	res, err := empi.Link(recs, cfg, len(ins) > 1)
	if err != nil {
		return err
	}
	w := stdout
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return fmt.Errorf("empi link: %w", err)
		}
		defer f.Close()
		w = f
	}
	if err := empi.WritePairs(w, res.Pairs); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d records, %d candidate pairs, %d links, %d to review, in %s\n%s",
		res.Stats.Records, res.Stats.Candidates, res.Stats.Links, res.Stats.Reviews, time.Since(start).Round(time.Millisecond), res.Model)
	return nil
}

func benchEMPI(args []string, stdout, stderr io.Writer) error {
	var bc bench.EMPIConfig
	var configPath, cpuProfile string
	err := parseFlags("bench empi", args, stderr, func(fs *flag.FlagSet) {
		fs.Uint64Var(&bc.Synth.Seed, "seed", 1, "random seed of the synthetic region")
		fs.IntVar(&bc.Synth.Residents, "residents", 100_000, "residents; about 8% are registered again at 1–3 other facilities")
		fs.StringVar(&configPath, "config", "", "linkage configuration (JSON); default: built-in")
		fs.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	})
	if err != nil {
		return err
	}
	if configPath != "" {
		if bc.Link, err = empi.ReadConfig(configPath); err != nil {
			return err
		}
	}
	stop, err := profile(cpuProfile)
	if err != nil {
		return err
	}
	defer stop()
	rep, err := bench.EMPI(context.Background(), bc)
	if err != nil {
		return err
	}
	rep.Print(stdout)
	return nil
}
