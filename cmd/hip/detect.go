package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/surveillance"
)

const detectUsage = `usage: hip detect --algo ALGO --in SERIES.csv --out RESULT.csv [key=value …]

Runs an outbreak detection algorithm on a count series, with the input,
option names and output of the reference script peer.R of R's surveillance
package (docs/surveillance.md):
  SERIES.csv  header row; observed (counts, NA where missing); optional t,
              date (YYYY-MM-DD) or week (label), state (0/1)
  RESULT.csv  t, date|week, observed, state, upperbound, alarm (0/1/NA),
              then the algorithm's diagnostics; one row per evaluated point
  key=value   earsC: method=C1|C2|C3 alpha baseline minSigma range=A:B
              cusum: trans=standard|rossi k h m range=A:B
              any:   freq=52 start=YEAR,PERIOD dates=TRUE|FALSE`

// detectCmd runs `hip detect`: flags first, then the algorithm's options.
func detectCmd(args []string, stdout, stderr io.Writer) error {
	var algo, in, out string
	rest, err := parseFlagsArgs("detect", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&algo, "algo", "", "algorithm: "+strings.Join(surveillance.Algorithms(), ", "))
		fs.StringVar(&in, "in", "", "series CSV to read (- for standard input)")
		fs.StringVar(&out, "out", "", "result CSV to write (- for standard output)")
		fs.Usage = func() { fmt.Fprintln(fs.Output(), detectUsage) }
	})
	if err != nil {
		return err
	}
	if algo == "" || in == "" || out == "" {
		return errors.New("detect: --algo, --in and --out are required\n" + detectUsage)
	}
	for _, a := range rest {
		if strings.HasPrefix(a, "-") {
			// The flag package stops at the first key=value.
			return fmt.Errorf("detect: %s: flags go before the key=value options", a)
		}
	}
	opts, err := surveillance.ParseOptions(rest)
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	start := time.Now()
	s, err := readSeries(in)
	if err != nil {
		return fmt.Errorf("detect: %s: %w", in, err)
	}
	res, err := surveillance.Run(algo, s, opts)
	if err != nil {
		return fmt.Errorf("detect: %w", err)
	}
	if err := writeResult(out, s, res, stdout); err != nil {
		return fmt.Errorf("detect: %s: %w", out, err)
	}
	alarms := 0
	for _, a := range res.Alarm {
		if a == surveillance.Alarm {
			alarms++
		}
	}
	fmt.Fprintf(stderr, "%s on %d points: %d evaluated, %d alarms, in %s\n",
		algo, s.Len(), len(res.Index), alarms, time.Since(start).Round(time.Microsecond))
	return nil
}

func readSeries(path string) (*surveillance.Series, error) {
	if path == "-" {
		return surveillance.ReadCSV(os.Stdin)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return surveillance.ReadCSV(f)
}

// writeResult writes the result CSV. The file is formatted in memory
// first, so that a result that cannot be written leaves no file behind.
func writeResult(path string, s *surveillance.Series, res *surveillance.Result, stdout io.Writer) error {
	if path == "-" {
		w := bufio.NewWriter(stdout)
		if err := surveillance.WriteCSV(w, s, res); err != nil {
			return err
		}
		return w.Flush()
	}
	var b strings.Builder
	if err := surveillance.WriteCSV(&b, s, res); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
