package fhirpath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

const patientJSON = `{"resourceType":"Patient","id":"p1",
 "contained":[{"resourceType":"Organization","id":"org","name":"Clinic"}],
 "managingOrganization":{"reference":"#org"},
 "name":[{"use":"official","family":"Wang","given":["Wei","Min"]},{"family":"王","given":["伟"],"_given":[{"extension":[{"url":"http://example.org/x","valueString":"y"}]}]}],
 "gender":"male","birthDate":"1980-02-29","_birthDate":{"extension":[{"url":"http://hl7.org/fhir/StructureDefinition/patient-birthTime","valueDateTime":"1980-02-29T08:10:00+08:00"}]},
 "deceasedBoolean":false,"multipleBirthInteger":2,
 "telecom":[{"system":"phone","value":"138"}]}`

const observationJSON = `{"resourceType":"Observation","id":"o1","status":"final",
 "code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},
 "subject":{"reference":"Patient/p1"},
 "effectiveDateTime":"2024-03-01T10:00:00+08:00",
 "valueQuantity":{"value":72.50,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}}`

func mustParse(t testing.TB, s string) fhir.Resource {
	t.Helper()
	r, err := fhir.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// eval compiles and evaluates expr and renders the result as "a, b, c".
func eval(t *testing.T, env *Env, input any, expr string) string {
	t.Helper()
	x, err := Compile(expr)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	c, err := x.Evaluate(env, input)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	parts := make([]string, len(c))
	for i, it := range c {
		parts[i] = it.String()
	}
	return strings.Join(parts, ", ")
}

func TestEvaluate(t *testing.T) {
	model := testModel(t)
	pat := mustParse(t, patientJSON)
	obs := mustParse(t, observationJSON)
	env := &Env{Model: model, Now: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}
	tests := []struct {
		input any
		expr  string
		want  string
	}{
		// precedence and literals
		{nil, "1 + 2 * 3", "7"},
		{nil, "(1 + 2) * 3", "9"},
		{nil, "-2.abs()", "-2"},
		{nil, "1.5 * 2", "3.0"},
		{nil, "1 / 3", "0.33333333"},
		{nil, "7 div 2 + 7 mod 2", "4"},
		{nil, "1 | 2 | 1", "1, 2"},
		{nil, "2 > 1 and 1 < 2 implies false", "false"},
		{nil, "true or {} ", "true"},
		{nil, "{} and false", "false"},
		{nil, "{} and true", ""},
		{nil, "true xor true", "false"},
		{nil, "'a' & {} & 'b'", "ab"},
		{nil, "1 in (1 | 2) and (1 | 2) contains 3", "false"},
		{nil, "3 is Integer and 3.0 is Decimal", "true"},
		{nil, "'Ab  c' ~ 'ab c'", "true"},
		{nil, "1.0 ~ 1.04", "true"},
		{nil, "@2014-01 = @2014-01-05", ""},
		{nil, "@2014-01-25T14:30:14.559+10:00 > @2014-01-25T04:29Z", "true"},
		{nil, "@T14:34 < @T14:35:01", "true"},
		{nil, "@2014-01-31 + 1 month", "2014-02-28"},
		{nil, "@2016 + 24 months", "2018"},
		{nil, "4 'g' = 4000 'mg'", "true"},
		{nil, "1 year = 12 months", "true"},
		{nil, "5 'mL' < 1 'L'", "true"},
		{nil, "'1.50'.toDecimal() * 2", "3.00"},
		{nil, "now() = @2024-05-06T07:08:09.000Z", "true"},
		{nil, "today()", "2024-05-06"},
		{nil, "%ucum & ' ' & %`vs-administrative-gender`", "http://unitsofmeasure.org http://hl7.org/fhir/ValueSet/administrative-gender"},
		// navigation and typing
		{pat, "Patient.name.family | Patient.name.given", "Wang, 王, Wei, Min, 伟"},
		{pat, "name.where(use = 'official').given.first()", "Wei"},
		{pat, "name[1].given.extension('http://example.org/x').value", "y"},
		{pat, "birthDate.extension.value.toString()", "1980-02-29T08:10:00+08:00"},
		{pat, "birthDate.hasValue() and birthDate.is(date) and gender.is(string)", "true"},
		{pat, "deceased is boolean", "true"},
		{pat, "multipleBirth.ofType(integer) + 1", "3"},
		{pat, "managingOrganization.resolve().name", "Clinic"},
		{pat, "Patient.children().count() > 5", "true"},
		{pat, "descendants().ofType(HumanName).count()", "2"},
		{pat, "name.select(given.count()).aggregate($this + $total, 0)", "3"},
		{pat, "name.given.select($this + $index.toString())", "Wei0, Min1, 伟2"},
		{pat, "Patient.birthDate.type().name", "date"},
		{obs, "Observation.value.ofType(Quantity).value", "72.50"},
		{obs, "(Observation.value as Quantity) > 70 'kg'", "true"},
		{obs, "Observation.value.toQuantity('g')", "72500.0 'g'"},
		{obs, "effective.ofType(dateTime) < now()", "true"},
	}
	for _, tc := range tests {
		if got := eval(t, env, tc.input, tc.expr); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

func TestResolveInBundleAndResolver(t *testing.T) {
	bundle := mustParse(t, `{"resourceType":"Bundle","type":"collection","entry":[
	 {"fullUrl":"urn:uuid:1","resource":`+observationJSON+`},
	 {"fullUrl":"urn:uuid:2","resource":{"resourceType":"Patient","id":"p1","gender":"female"}}]}`)
	env := &Env{Model: testModel(t)}
	if got := eval(t, env, bundle, "Bundle.entry.resource.ofType(Observation).subject.resolve().gender"); got != "female" {
		t.Errorf("bundle resolve = %q", got)
	}
	store := ResolverFunc(func(ref string) (fhir.Resource, error) {
		if ref == "Patient/p1" {
			return mustParse(t, patientJSON), nil
		}
		return nil, nil
	})
	env = &Env{Model: testModel(t), Resolver: store}
	if got := eval(t, env, mustParse(t, observationJSON), "subject.where(resolve() is Patient).resolve().name.first().family"); got != "Wang" {
		t.Errorf("store resolve = %q", got)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, expr := range []string{
		"", "1 +", "name.", "(1", "'abc", "a[1", "@20x", "1 2", "where(", "foo()", "name.first(1)",
		"$that", "%", "a ! b", "/* open", "ofType(1)", "x is",
	} {
		_, err := Compile(expr)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Compile(%q) = %v, want a *SyntaxError", expr, err)
			continue
		}
		if se.Pos < 0 || se.Pos > len(expr) {
			t.Errorf("Compile(%q): position %d out of range", expr, se.Pos)
		}
	}
}

// TestPrecedence checks the tree shape by evaluating expressions whose value
// depends on how they group.
func TestPrecedence(t *testing.T) {
	tests := []struct{ expr, want string }{
		{"2 + 3 * 4 - 1", "13"},
		{"10 - 4 - 3", "3"},
		{"2 * 3 div 4", "1"},
		{"1 + 1 = 2 and 2 < 3", "true"},
		{"1 | 2 = 1 | 2", "true"},
		{"(1 | 2).count() = 2 or false and false", "true"},
		{"false implies true or true", "true"},
		{"1 + 2 is Integer", "true"},
		{"'a' & 'b' = 'ab'", "true"},
		{"-(3).abs() + 1", "-2"},
		{"(1 | 2)[1]", "2"},
		{"2 in 1 | 2", "true"},
	}
	for _, tc := range tests {
		if got := eval(t, nil, nil, tc.expr); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

func TestRuntimeErrors(t *testing.T) {
	pat := mustParse(t, patientJSON)
	env := &Env{Model: testModel(t)}
	for _, expr := range []string{
		"name.given + 1",          // singleton expected
		"'a' < 1",                 // incomparable
		"name.single()",           // several items
		"%undefined",              // unknown variable
		"Patient.deceasedBoolean", // choice named with its type
		"(1 | 2).as(Integer)",     // as() on a collection
		"'a'.matches('(')",        // bad regular expression
		"memberOf('http://x')",
	} {
		x, err := Compile(expr)
		if err != nil {
			t.Errorf("Compile(%q): %v", expr, err)
			continue
		}
		if _, err := x.Evaluate(env, pat); !errors.Is(err, ErrEvaluation) {
			t.Errorf("%s: err = %v, want ErrEvaluation", expr, err)
		}
	}
}

func TestCacheConcurrent(t *testing.T) {
	var c Cache
	pat := mustParse(t, patientJSON)
	env := &Env{Model: testModel(t)}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				x, err := c.Compile("Patient.name.given.first()")
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := x.Evaluate(env, pat); err != nil || len(got) != 1 {
					t.Errorf("got %v, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	a, _ := c.Compile("1")
	b, _ := c.Compile("1")
	if a != b {
		t.Error("the cache compiled the same expression twice")
	}
}

// TestSearchParameterExpressions compiles every R4 search parameter expression
// and evaluates each on the official examples of its resource types, which must
// not fail.
func TestSearchParameterExpressions(t *testing.T) {
	model := testModel(t)
	d := model.Definitions()
	examples := map[string][]fhir.Resource{}
	dir := filepath.Join(sharedDir, "fhir", "r4-examples")
	if files, err := os.ReadDir(dir); err == nil {
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(dir, f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			r, err := fhir.Parse(b)
			if err != nil {
				t.Fatalf("%s: %v", f.Name(), err)
			}
			examples[r.Type()] = append(examples[r.Type()], r)
		}
	} else {
		t.Logf("evaluating on examples skipped: %v (needs ../shared)", err)
	}
	var cache Cache
	compiled, evaluated := 0, 0
	for _, rt := range d.ResourceTypes() {
		for _, sp := range d.SearchParams(rt) {
			exprs := []string{sp.Expression}
			for _, c := range sp.Component {
				exprs = append(exprs, c.Expression)
			}
			for i, src := range exprs {
				if src == "" {
					continue
				}
				x, err := cache.Compile(src)
				if err != nil {
					t.Errorf("%s %s: %v", rt, sp.Code, err)
					continue
				}
				compiled++
				if i > 0 {
					continue // components are relative to the composite's value
				}
				for _, r := range examples[rt] {
					evaluated++
					if _, err := x.Evaluate(&Env{Model: model}, r); err != nil {
						t.Errorf("%s %s on %s/%s: %v\n\t%s", rt, sp.Code, rt, r.ID(), err, src)
					}
				}
			}
		}
	}
	t.Logf("%d search parameter expressions compiled, %d evaluations", compiled, evaluated)
}

func FuzzCompile(f *testing.F) {
	for _, s := range []string{
		"Patient.name.where(use = 'official').given.first()", "1 + 2 * 3", "@2014-01-25T14:30:14.559+10:00",
		"4 'g' + 1 year", "(1 | 2).aggregate($this + $total, 0)", "name.select(given.join(', '))",
		"descendants().ofType(Extension).url", "'a\\u0041'.matches('.+')", "%`vs-x` & %ucum",
		"iif(1 > 0, 'yes', 'no')", "birthDate + 3 months - 2 days", "repeat(children()).count()",
	} {
		f.Add(s)
	}
	model := testModel(f)
	pat := mustParse(f, patientJSON)
	f.Fuzz(func(t *testing.T, expr string) {
		x, err := Compile(expr)
		if err != nil {
			return
		}
		_, _ = x.Evaluate(&Env{Model: model}, pat)
	})
}

func BenchmarkEvaluate(b *testing.B) {
	model := testModel(b)
	pat := mustParse(b, patientJSON)
	obs := mustParse(b, observationJSON)
	for _, bc := range []struct {
		name, expr string
		input      fhir.Resource
	}{
		{"names", "Patient.name.family | Patient.name.given", pat},
		{"valueQuantity", "Observation.value.ofType(Quantity)", obs},
		{"where", "Patient.telecom.where(system = 'phone').value", pat},
	} {
		x := MustCompile(bc.expr)
		env := &Env{Model: model}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := x.Evaluate(env, bc.input); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestHostileInputs checks that expressions that could exhaust time or memory fail
// or finish quickly.
func TestHostileInputs(t *testing.T) {
	for _, expr := range []string{
		"2.power(100000000)", "1.5.round(1000000000)", "(1.0).lowBoundary(100000)",
		"@2014 + 100000000000 years", "'x'.substring(9223372036854775807)",
	} {
		x, err := Compile(expr)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = x.Evaluate(nil, nil)
	}
}
