package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWarn runs `hip warn` as docs/surveillance.md shows it: the diagnoses
// of a generated region's NDJSON and a feed of lab positives and school
// absences, in which one township has a cluster that both feeds show.
func TestWarn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	region := filepath.Join(dir, "region")
	if msg, err := runHip(t, "synth", "--out", region, "--residents", "1000", "--seed", "5", "--scenarios", "outbreaks"); err != nil {
		t.Fatalf("hip synth: %v\n%s", err, msg)
	}
	// 60 days of a steady feed for a township the region does not have,
	// then a cluster: lab positives on days 50–52, absences on 51–52.
	var b strings.Builder
	b.WriteString("date,source,syndrome,area,count\n")
	start := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	for d := range 60 {
		day := start.AddDate(0, 0, d).Format(time.DateOnly)
		lab, school := 1+d%3, 20+d%5
		if d >= 50 && d <= 52 {
			lab += 12
		}
		if d == 51 || d == 52 {
			school += 40
		}
		fmt.Fprintf(&b, "%s,lab,ili,990121901,%d\n%s,school,ili,990121901,%d\n", day, lab, day, school)
	}
	feed := filepath.Join(dir, "feed.csv")
	if err := os.WriteFile(feed, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "config.json")
	msg, err := runHip(t, "warn", "--print-config")
	if err != nil {
		t.Fatalf("hip warn --print-config: %v\n%s", err, msg)
	}
	if err := os.WriteFile(config, []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "events.json")
	if msg, err := runHip(t, "warn", "--ndjson", region, "--counts", feed, "--config", config, "--out", out); err != nil {
		t.Fatalf("hip warn: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var events []struct {
		Area, Syndrome, Start string
		Sources               []string
		Signals               []struct{ Day, Source string }
	}
	if err := json.Unmarshal(data, &events); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	var cluster []string
	for _, e := range events {
		if e.Area == "990121901" {
			cluster = append(cluster, e.Syndrome+" "+e.Start+" "+strings.Join(e.Sources, "+"))
		}
	}
	if want := []string{"ili 2025-04-22 lab+school"}; strings.Join(cluster, "|") != strings.Join(want, "|") {
		t.Errorf("events of the cluster's township %q, want %q\n%s", cluster, want, data)
	}

	// The same region imported into a database gives the same events of
	// its diagnoses, read with one paged search (past the detectors' first
	// 4 weeks, whose windows depend on where each series starts).
	db := filepath.Join(dir, "hip.db")
	if msg, err := runHip(t, "import", "--db", db, region); err != nil {
		t.Fatalf("hip import: %v\n%s", err, msg)
	}
	fromNDJSON := filepath.Join(dir, "ndjson-events.json")
	fromDB := filepath.Join(dir, "db-events.json")
	if msg, err := runHip(t, "warn", "--ndjson", region, "--out", fromNDJSON); err != nil {
		t.Fatalf("hip warn --ndjson: %v\n%s", err, msg)
	}
	if msg, err := runHip(t, "warn", "--db", db, "--from", "2025-01-01", "--to", "2026-01-01", "--out", fromDB); err != nil {
		t.Fatalf("hip warn --db: %v\n%s", err, msg)
	}
	gotNDJSON, gotDB := eventsAfter(t, fromNDJSON, "2025-02-01"), eventsAfter(t, fromDB, "2025-02-01")
	if len(gotNDJSON) == 0 || strings.Join(gotNDJSON, "\n") != strings.Join(gotDB, "\n") {
		t.Errorf("events from NDJSON:\n%s\nfrom the database:\n%s", strings.Join(gotNDJSON, "\n"), strings.Join(gotDB, "\n"))
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"warn"}, "--db, --ndjson or --counts is required"},
		{[]string{"warn", "--db", db, "--ndjson", region}, "use one"},
		{[]string{"warn", "--counts", feed, "--from", "2025-01-01"}, "go with --db"},
		{[]string{"warn", "--db", db, "--from", "2025-13-01"}, "--from"},
		{[]string{"warn", "--db", db, "--from", "2025-06-01", "--to", "2025-05-01"}, "not before"},
		{[]string{"warn", "--counts", filepath.Join(dir, "missing.csv")}, "missing.csv"},
		{[]string{"warn", "--counts", config}, "header"},
		{[]string{"warn", "--counts", feed, "--config", feed}, "config"},
		{[]string{"warn", "--ndjson", dir}, "Patient.ndjson"},
	} {
		msg, err := runHip(t, c.args...)
		if err == nil || !strings.Contains(msg, c.want) {
			t.Errorf("hip %s: err %v, output %q, want an error with %q", strings.Join(c.args, " "), err, msg, c.want)
		}
	}
}

// eventsAfter returns the events of a hip warn output file that start on
// or after day, one line each.
func eventsAfter(t *testing.T, path, day string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var events []struct {
		Rule, Area, Syndrome, Start string
		Signals                     []json.RawMessage
	}
	if err := json.Unmarshal(data, &events); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	for _, e := range events {
		if e.Start >= day {
			out = append(out, fmt.Sprintf("%s %s %s %s %d signals", e.Rule, e.Area, e.Syndrome, e.Start, len(e.Signals)))
		}
	}
	return out
}
