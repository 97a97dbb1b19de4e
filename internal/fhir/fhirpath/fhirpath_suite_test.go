package fhirpath

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/spec"
)

// sharedDir is ../shared from the project root (see shared/README.md).
const sharedDir = "../../../../shared"

// suiteFloor is the number of official tests that pass; the suite fails below it.
const suiteFloor = 929

type suiteTests struct {
	Groups []struct {
		Name  string      `xml:"name,attr"`
		Tests []suiteTest `xml:"test"`
	} `xml:"group"`
}

type suiteTest struct {
	Name      string `xml:"name,attr"`
	InputFile string `xml:"inputfile,attr"`
	Predicate string `xml:"predicate,attr"`
	Mode      string `xml:"mode,attr"`
	Ordered   string `xml:"ordered,attr"`
	Expr      struct {
		Text    string `xml:",chardata"`
		Invalid string `xml:"invalid,attr"`
		Mode    string `xml:"mode,attr"`
	} `xml:"expression"`
	Outputs []struct {
		Type string `xml:"type,attr"`
		Text string `xml:",chardata"`
	} `xml:"output"`
}

var (
	defsOnce sync.Once
	defs     *spec.Definitions
	defsErr  error
)

func testModel(t testing.TB) *Model {
	defsOnce.Do(func() { defs, defsErr = spec.Load() })
	if defsErr != nil {
		t.Fatal(defsErr)
	}
	return NewModel(defs)
}

// suiteInput finds the JSON form of a suite input file. The suite names XML
// files; fhirpath/resources/ holds JSON conversions of all of them under the same
// base name, and the official examples in fhir/r4-examples/ are named
// <ResourceType>-<id>.json, where the type is the XML root element and the id is
// the file name without its lower-case type prefix (patient-example.xml →
// Patient-example.json).
func suiteInput(name string) (string, error) {
	base := strings.TrimSuffix(strings.TrimSuffix(name, ".xml"), ".json")
	p := filepath.Join(sharedDir, "fhirpath", "resources", base+".json")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	f, err := os.Open(filepath.Join(sharedDir, "fhirpath", "input", name))
	if err != nil {
		return "", err
	}
	defer f.Close()
	dec := xml.NewDecoder(bufio.NewReader(f))
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", fmt.Errorf("find root element of %s: %w", name, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			_, id, _ := strings.Cut(base, "-")
			return filepath.Join(sharedDir, "fhir", "r4-examples", se.Name.Local+"-"+id+".json"), nil
		}
	}
}

// knownFailures reads the table of failing suite tests from docs/fhirpath.md:
// rows "| `name` | reason |" under the heading "Known failures".
func knownFailures(t *testing.T) map[string]bool {
	data, err := os.ReadFile("../../../docs/fhirpath.md")
	if err != nil {
		t.Fatalf("read the known failures: %v", err)
	}
	_, section, _ := strings.Cut(string(data), "## Known failures")
	known := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if rest, ok := strings.CutPrefix(line, "| `"); ok {
			name, _, _ := strings.Cut(rest, "`")
			known[name] = true
		}
	}
	return known
}

func TestOfficialSuite(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(sharedDir, "fhirpath", "fhir-r4.xml"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("the FHIRPath test suite is not available (%s/fhirpath is missing)", sharedDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	var suite suiteTests
	if err := xml.Unmarshal(data, &suite); err != nil {
		t.Fatalf("decode fhir-r4.xml: %v", err)
	}
	model := testModel(t)
	inputs := map[string]fhir.Resource{}
	known := knownFailures(t)
	total, passed := 0, 0
	var unexpected []string
	for _, g := range suite.Groups {
		for i, tc := range g.Tests {
			total++
			name := tc.Name
			if name == "" {
				name = fmt.Sprintf("%s#%d", g.Name, i)
			}
			var input fhir.Resource
			if tc.InputFile != "" {
				if input = inputs[tc.InputFile]; input == nil {
					p, err := suiteInput(tc.InputFile)
					if err != nil {
						t.Fatal(err)
					}
					b, err := os.ReadFile(p)
					if err != nil {
						t.Fatal(err)
					}
					if input, err = fhir.Parse(b); err != nil {
						t.Fatalf("%s: %v", p, err)
					}
					inputs[tc.InputFile] = input
				}
			}
			msg := runSuiteTest(model, tc, input)
			switch {
			case msg == "" && known[name]:
				unexpected = append(unexpected, fmt.Sprintf("%s passes now: remove it from docs/fhirpath.md", name))
			case msg != "" && !known[name]:
				unexpected = append(unexpected, fmt.Sprintf("%s: %s\n\texpression: %s", name, msg, tc.Expr.Text))
			}
			if msg == "" {
				passed++
			}
		}
	}
	t.Logf("fhirpath suite: %d of %d passed", passed, total)
	fmt.Printf("fhirpath suite: %d of %d passed\n", passed, total)
	for _, u := range unexpected {
		t.Error(u)
	}
	if passed < suiteFloor {
		t.Errorf("only %d tests passed, below the floor of %d", passed, suiteFloor)
	}
}

// runSuiteTest returns "" when the test passes, else what went wrong.
func runSuiteTest(model *Model, tc suiteTest, input fhir.Resource) (msg string) {
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprintf("panic: %v", r)
		}
	}()
	wantErr := tc.Expr.Invalid != ""
	x, err := Compile(tc.Expr.Text)
	if err != nil {
		if wantErr {
			return ""
		}
		return "compile: " + err.Error()
	}
	env := &Env{Model: model, Strict: tc.Mode == "strict" || tc.Expr.Mode == "strict",
		Now: time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", 8*3600))}
	var in any
	if input != nil {
		in = input
	}
	got, err := x.Evaluate(env, in)
	if err != nil {
		if wantErr {
			return ""
		}
		return "evaluate: " + err.Error()
	}
	if wantErr {
		return fmt.Sprintf("expected an error, got %s", render(got))
	}
	if tc.Predicate == "true" {
		b, err := toBool3(got)
		if err != nil {
			return err.Error()
		}
		got = boolColl(b == bTrue)
	}
	if len(got) != len(tc.Outputs) {
		return fmt.Sprintf("got %s, want %d items", render(got), len(tc.Outputs))
	}
	matched := make([]bool, len(got))
	for i, want := range tc.Outputs {
		if tc.Ordered == "false" {
			found := false
			for j := range got {
				if !matched[j] && outputMatches(got[j], want.Type, want.Text) {
					matched[j], found = true, true
					break
				}
			}
			if !found {
				return fmt.Sprintf("got %s, missing %s %q", render(got), want.Type, want.Text)
			}
			continue
		}
		if !outputMatches(got[i], want.Type, want.Text) {
			return fmt.Sprintf("got %s, want %s %q at %d", render(got), want.Type, want.Text, i)
		}
	}
	return ""
}

func render(c Collection) string {
	parts := make([]string, len(c))
	for i, it := range c {
		parts[i] = it.TypeName() + " " + it.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// outputMatches compares an item with an expected output of the suite.
func outputMatches(it Item, typ, text string) bool {
	v := toSystem(it)
	text = strings.TrimSpace(text)
	switch typ {
	case "boolean":
		b, ok := v.(bool)
		return ok && fmt.Sprint(b) == text
	case "integer":
		n, ok := v.(int64)
		return ok && fmt.Sprint(n) == text
	case "decimal":
		d, ok := asDecimal(v)
		w, ok2 := parseDecimal(text)
		return ok && ok2 && d.cmp(w) == 0
	case "date", "dateTime", "time":
		tv, ok := v.(Temporal)
		want := strings.TrimPrefix(strings.TrimPrefix(text, "@"), "T")
		return ok && tv.String() == want && slices.Index([]string{"date", "dateTime", "time"}, typ) == int(tv.Kind)
	case "Quantity":
		q, ok := v.(Quantity)
		return ok && q.String() == text
	case "":
		s, ok := toString(v)
		if tv, isT := v.(Temporal); isT {
			s = "@" + tv.String()
			if tv.Kind == kindTime {
				s = "@T" + tv.String()
			}
		}
		return ok && s == text
	}
	// string, code, id, uri, …: the FHIR type must agree when the item has one.
	if it.typ != nil && typ != "string" && it.typ.name != typ {
		return false
	}
	s, ok := v.(string)
	return ok && s == text
}
