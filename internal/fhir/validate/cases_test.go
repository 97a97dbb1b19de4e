package validate_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/validate"
	"github.com/hip-platform/hip/internal/terminology"
)

var update = flag.Bool("update", false, "rewrite the invalid-resource table in docs/validation.md")

// invalidCase is one resource of the kinds facilities really send wrong
// (testdata/invalid.json), checked against the China core profile of its
// type when profile is set, else against the base definitions.
type invalidCase struct {
	Name     string          `json:"name"`
	What     string          `json:"what"`
	Profile  string          `json:"profile"`
	Resource json.RawMessage `json:"resource"`
}

const (
	casesBegin = "<!-- invalid-resources: begin (go test ./internal/fhir/validate -run InvalidResources -update) -->"
	casesEnd   = "<!-- invalid-resources: end -->"
)

// TestInvalidResources validates each case and renders the findings as the
// table of docs/validation.md, which must be exactly that table: the
// document shows what the validator says, not what it once said. Every
// case must have at least one finding, and its first must be the error or
// warning the case is about (checked by reading the table, once).
func TestInvalidResources(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("testdata", "invalid.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []invalidCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 40 {
		t.Errorf("%d cases, want at least 40", len(cases))
	}
	// The shipped tables only: GB/T 2260 for Beijing, the ICD-10 subset.
	terms, err := terminology.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &validate.Env{Terminology: terms}
	v := newValidator()
	var sb strings.Builder
	sb.WriteString(casesBegin + "\n\n| # | resource sent | checked against | findings (severity, code, location: message) |\n| ---: | --- | --- | --- |\n")
	for i, c := range cases {
		res, err := fhir.Parse(c.Resource)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		var profiles []string
		against := "base " + res.Type()
		if c.Profile != "" {
			profiles = []string{c.Profile}
			against = c.Profile[strings.LastIndexByte(c.Profile, '/')+1:]
		}
		issues := v.Validate(t.Context(), env, res, profiles)
		var lines []string
		for _, is := range issues {
			if strings.HasPrefix(is.Diagnostics, "dom-6:") {
				continue
			}
			lines = append(lines, fmt.Sprintf("%s `%s` `%s`: %s", is.Severity, is.Code, strings.Join(is.Expression, ","), cell(is.Diagnostics)))
		}
		if len(lines) == 0 {
			t.Errorf("%s: no finding", c.Name)
		}
		fmt.Fprintf(&sb, "| %d | **%s**: %s | %s | %s |\n", i+1, c.Name, cell(c.What), against, strings.Join(lines, "<br>"))
	}
	sb.WriteString("\n" + casesEnd)
	doc := filepath.Join("..", "..", "..", "docs", "validation.md")
	text, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	begin, end := bytes.Index(text, []byte(casesBegin)), bytes.Index(text, []byte(casesEnd))
	if begin < 0 || end < begin {
		t.Fatalf("%s has no invalid-resources section", doc)
	}
	got := string(text[begin : end+len(casesEnd)])
	if *update {
		out := append(append(append([]byte{}, text[:begin]...), sb.String()...), text[end+len(casesEnd):]...)
		if err := os.WriteFile(doc, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got != sb.String() {
		t.Errorf("docs/validation.md's table of invalid resources is out of date; run with -update and read the diff")
	}
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
