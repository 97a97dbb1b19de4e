package search

import (
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/spec"
)

// loadParseDefs loads the R4 definitions once for all parser tests.
var loadParseDefs = sync.OnceValues(spec.Load)

func newTestParser(t testing.TB) *Parser {
	t.Helper()
	defs, err := loadParseDefs()
	if err != nil {
		t.Fatal(err)
	}
	return NewParser(defs, strings.ToLower).WithLocation(time.UTC)
}

// typesOf maps the test notation "" (system search) and "A,B" to Parse's types.
func typesOf(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// describe renders a query's clauses compactly, one per line, so that table rows
// can state what they expect in a line of text.
func describe(q *Query) string {
	var lines []string
	for _, c := range q.Clauses {
		conds := make([]string, len(c.Conditions))
		for i := range c.Conditions {
			conds[i] = describeCond(&c.Conditions[i])
		}
		lines = append(lines, c.Key()+" "+strings.Join(conds, " OR "))
	}
	return strings.Join(lines, "\n")
}

func describeCond(c *Condition) string {
	ms := func(v int64) string { return time.UnixMilli(v).UTC().Format("2006-01-02T15:04:05.000") }
	switch {
	case c.Has != nil:
		return fmt.Sprintf("has(%s.%s: %s)", c.Has.Type, c.Has.Param.Code, describeCond(&c.Has.Condition))
	case c.Chain != nil:
		return fmt.Sprintf("chain(%s.%s: %s)", c.Chain.Type, c.Chain.Condition.Param.Code, describeCond(&c.Chain.Condition))
	case c.Modifier == ModifierMissing:
		return fmt.Sprintf("missing(%v)", c.Missing)
	case c.String != nil:
		return fmt.Sprintf("string(%s→%s)", c.String.Value, c.String.Normalized)
	case c.Token != nil:
		t := c.Token
		s := t.Code
		if t.HasSystem {
			s = t.System + "|" + t.Code
		}
		if t.Value != "" {
			s += "|" + t.Value
		}
		return "token(" + s + ")"
	case c.Reference != nil:
		r := c.Reference
		if r.Identifier != nil {
			return fmt.Sprintf("ref(identifier %s|%s)", r.Identifier.System, r.Identifier.Code)
		}
		s := r.Type + "/" + r.ID
		if r.Version != "" {
			s += " v" + r.Version
		}
		if r.URL != "" {
			s += " url=" + r.URL
		}
		return "ref(" + s + ")"
	case c.Date != nil:
		return fmt.Sprintf("date(%s %s..%s)", c.Date.Prefix, ms(c.Date.Low), ms(c.Date.High))
	case c.Number != nil:
		return fmt.Sprintf("number(%s %v [%v,%v))", c.Number.Prefix, c.Number.Value, c.Number.Low, c.Number.High)
	case c.Quantity != nil:
		q := c.Quantity
		return fmt.Sprintf("quantity(%s %v [%v,%v) %s|%s)", q.Prefix, q.Value, q.Low, q.High, q.System, q.Code)
	case c.URI != nil:
		return "uri(" + c.URI.Value + ")"
	case c.Composite != nil:
		parts := make([]string, len(c.Composite.Components))
		for i := range c.Composite.Components {
			parts[i] = c.Composite.Components[i].Param.Code + "=" + describeCond(&c.Composite.Components[i])
		}
		return "composite(" + strings.Join(parts, " $ ") + ")"
	case c.List != "":
		return "list(" + c.List + ")"
	}
	return "?"
}

func TestParseConditions(t *testing.T) {
	t.Parallel()
	p := newTestParser(t)
	tests := []struct {
		types, query, want string
	}{
		// string × modifiers
		{"Patient", "name=Peter", "name string(Peter→peter)"},
		{"Patient", "name:exact=Peter", "name:exact string(Peter→peter)"},
		{"Patient", "name:contains=eter", "name:contains string(eter→eter)"},
		{"Patient", "name:missing=true", "name:missing missing(true)"},
		{"Patient", "family=gt5", "family string(gt5→gt5)"}, // no prefixes on strings
		{"Patient", `name=a\,b`, `name string(a,b→a,b)`},
		// OR and AND
		{"Patient", "name=A,B", "name string(A→a) OR string(B→b)"},
		{"Patient", "name=A&name=B", "name string(A→a)\nname string(B→b)"},
		{"Patient", "given=A&family=B", "family string(B→b)\ngiven string(A→a)"},
		// token × modifiers
		{"Observation", "code=1234-5", "code token(1234-5)"},
		{"Observation", "code=http://loinc.org|1234-5", "code token(http://loinc.org|1234-5)"},
		{"Observation", "code=|1234-5", "code token(|1234-5)"},
		{"Observation", "code=http://loinc.org|", "code token(http://loinc.org|)"},
		{"Observation", `code=a\|b`, "code token(a|b)"},
		{"Observation", "code:text=blood pressure", "code:text string(blood pressure→blood pressure)"},
		{"Observation", "code:not=1234-5", "code:not token(1234-5)"},
		{"Observation", "code:above=http://snomed.info/sct|123", "code:above token(http://snomed.info/sct|123)"},
		{"Observation", "code:below=http://snomed.info/sct|123", "code:below token(http://snomed.info/sct|123)"},
		{"Observation", "status:in=http://hl7.org/fhir/ValueSet/observation-status", "status:in uri(http://hl7.org/fhir/ValueSet/observation-status)"},
		{"Observation", "status:not-in=http://hl7.org/fhir/ValueSet/observation-status", "status:not-in uri(http://hl7.org/fhir/ValueSet/observation-status)"},
		{"Patient", "identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053", "identifier:of-type token(http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053)"},
		{"Observation", "status:missing=false", "status:missing missing(false)"},
		{"Patient", "_id=a1,b-2", "_id token(a1) OR token(b-2)"},
		{"Patient", "_tag=http://example.org/tags|vip", "_tag token(http://example.org/tags|vip)"},
		{"Patient", "_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R", "_security token(http://terminology.hl7.org/CodeSystem/v3-Confidentiality|R)"},
		// reference × modifiers and value forms
		{"Observation", "subject=Patient/123", "subject ref(Patient/123)"},
		{"Observation", "subject=123", "subject ref(/123)"},
		{"Observation", "subject:Patient=123", "subject:Patient ref(Patient/123)"},
		{"Observation", "subject=Patient/123/_history/4", "subject ref(Patient/123 v4)"},
		{"Observation", "subject=http://other.org/fhir/Patient/9", "subject ref(Patient/9 url=http://other.org/fhir/Patient/9)"},
		{"Observation", "subject:identifier=urn:oid:1.2.156|110105", "subject:identifier ref(identifier urn:oid:1.2.156|110105)"},
		{"Location", "partof:below=Location/1", "partof:below ref(Location/1)"},
		{"Observation", "subject:missing=true", "subject:missing missing(true)"},
		{"RequestGroup", "instantiates-canonical=http://x.org/PlanDefinition/p|2.0", "instantiates-canonical ref(PlanDefinition/p v2.0 url=http://x.org/PlanDefinition/p)"},
		// date × prefixes and precisions
		{"Observation", "date=2020", "date date(eq 2020-01-01T00:00:00.000..2021-01-01T00:00:00.000)"},
		{"Observation", "date=2020-02", "date date(eq 2020-02-01T00:00:00.000..2020-03-01T00:00:00.000)"},
		{"Observation", "date=ne2020-02-29", "date date(ne 2020-02-29T00:00:00.000..2020-03-01T00:00:00.000)"},
		{"Observation", "date=lt2020-01-01T10:00", "date date(lt 2020-01-01T10:00:00.000..2020-01-01T10:01:00.000)"},
		{"Observation", "date=gt2020-01-01T10:00:00Z", "date date(gt 2020-01-01T10:00:00.000..2020-01-01T10:00:01.000)"},
		{"Observation", "date=le2020-01-01T10:00:00.5%2B08:00", "date date(le 2020-01-01T02:00:00.500..2020-01-01T02:00:00.600)"},
		{"Observation", "date=ge2020-01-01T10:00:00+08:00", "date date(ge 2020-01-01T02:00:00.000..2020-01-01T02:00:01.000)"}, // '+' arrived as a space
		{"Observation", "date=sa2020", "date date(sa 2020-01-01T00:00:00.000..2021-01-01T00:00:00.000)"},
		{"Observation", "date=eb2020", "date date(eb 2020-01-01T00:00:00.000..2021-01-01T00:00:00.000)"},
		{"Observation", "date=ap2020-06-15", "date date(ap 2020-06-15T00:00:00.000..2020-06-16T00:00:00.000)"},
		{"Observation", "date=ge2020&date=lt2021", "date date(ge 2020-01-01T00:00:00.000..2021-01-01T00:00:00.000)\ndate date(lt 2021-01-01T00:00:00.000..2022-01-01T00:00:00.000)"},
		{"Patient", "_lastUpdated=gt2024-05-01", "_lastUpdated date(gt 2024-05-01T00:00:00.000..2024-05-02T00:00:00.000)"},
		{"Patient", "birthdate:missing=true", "birthdate:missing missing(true)"},
		// number × prefixes and precision
		{"RiskAssessment", "probability=0.8", "probability number(eq 0.8 [0.75,0.85))"},
		{"RiskAssessment", "probability=gt100", "probability number(gt 100 [99.5,100.5))"},
		{"RiskAssessment", "probability=lt1e2", "probability number(lt 100 [50,150))"},
		{"RiskAssessment", "probability=ge-0.5", "probability number(ge -0.5 [-0.55,-0.45))"},
		{"RiskAssessment", "probability=ap5", "probability number(ap 5 [4.5,5.5))"},
		// quantity
		{"Observation", "value-quantity=5.4|http://unitsofmeasure.org|mg", "value-quantity quantity(eq 5.4 [5.35,5.45) http://unitsofmeasure.org|mg)"},
		{"Observation", "value-quantity=lt5.4||mg", "value-quantity quantity(lt 5.4 [5.35,5.45) |mg)"},
		{"Observation", "value-quantity=ne5", "value-quantity quantity(ne 5 [4.5,5.5) |)"},
		{"Observation", "value-quantity=sa5,eb1", "value-quantity quantity(sa 5 [4.5,5.5) |) OR quantity(eb 1 [0.5,1.5) |)"},
		// uri
		{"ValueSet", "url=http://hl7.org/fhir/ValueSet/x", "url uri(http://hl7.org/fhir/ValueSet/x)"},
		{"ValueSet", "url:below=http://hl7.org/fhir/", "url:below uri(http://hl7.org/fhir/)"},
		{"ValueSet", "url:above=http://hl7.org/fhir/ValueSet/x/y", "url:above uri(http://hl7.org/fhir/ValueSet/x/y)"},
		{"Patient", "_profile=http://hip.example/StructureDefinition/cn-patient", "_profile uri(http://hip.example/StructureDefinition/cn-patient)"},
		{"Patient", "_source=http://hospital.example/his", "_source uri(http://hospital.example/his)"},
		// composite
		{"Observation", "code-value-quantity=http://loinc.org|8480-6$lt60", "code-value-quantity composite(code=token(http://loinc.org|8480-6) $ value-quantity=quantity(lt 60 [59.5,60.5) |))"},
		{"Observation", "code-value-concept=8480-6$N,8462-4$H", "code-value-concept composite(code=token(8480-6) $ value-concept=token(N)) OR composite(code=token(8462-4) $ value-concept=token(H))"},
		// _list
		{"Patient", "_list=42", "_list list(42)"},
		{"Condition", "_list=$current-problems", "_list list($current-problems)"},
		// chains
		{"Observation", "subject:Patient.name=peter", "subject:Patient.name chain(Patient.name: string(peter→peter))"},
		{"Observation", "patient.birthdate=1974", "patient:Patient.birthdate chain(Patient.birthdate: date(eq 1974-01-01T00:00:00.000..1975-01-01T00:00:00.000))"},
		{"Observation", "subject:Patient.name:exact=Peter", "subject:Patient.name:exact chain(Patient.name: string(Peter→peter))"},
		{"Observation", "subject:Patient.organization.name=Hospital", "subject:Patient.organization:Organization.name chain(Patient.organization: chain(Organization.name: string(Hospital→hospital)))"},
		{"Observation", "subject:Patient.organization:Organization.identifier=x|1", "subject:Patient.organization:Organization.identifier chain(Patient.organization: chain(Organization.identifier: token(x|1)))"},
		{"DiagnosticReport", "result.code=1234-5,99", "result:Observation.code chain(Observation.code: token(1234-5)) OR chain(Observation.code: token(99))"},
		// _has, nested
		{"Patient", "_has:Observation:patient:code=1234-5", "_has:Observation:patient:code has(Observation.patient: token(1234-5))"},
		{"Patient", "_has:Observation:patient:_has:AuditEvent:entity:agent=Practitioner/1", "_has:Observation:patient:_has:AuditEvent:entity:agent has(Observation.patient: has(AuditEvent.entity: ref(Practitioner/1)))"},
		{"Encounter", "_has:Observation:encounter:subject:Patient.name=li", "_has:Observation:encounter:subject:Patient.name has(Observation.encounter: chain(Patient.name: string(li→li)))"},
		// system search and _type
		{"", "_id=1", "_id token(1)"},
		{"", "_type=Observation,Condition&patient=Patient/1", "patient ref(Patient/1)"},
		{"", "_type=Patient,Practitioner&name=li", "name string(li→li)"},
		// empty values are ignored
		{"Patient", "name=&gender=female", "gender token(female)"},
	}
	for _, tt := range tests {
		t.Run(tt.types+"?"+tt.query, func(t *testing.T) {
			t.Parallel()
			values, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			q, warnings, err := p.Parse(typesOf(tt.types), values, true)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %v", warnings)
			}
			if got := describe(q); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			assertRoundTrip(t, p, typesOf(tt.types), q)
		})
	}
}

// assertRoundTrip checks that q re-encodes to parameters that parse to q again.
func assertRoundTrip(t *testing.T, p *Parser, types []string, q *Query) {
	t.Helper()
	enc := q.Encode()
	again, _, err := p.Parse(types, enc, true)
	if err != nil {
		t.Fatalf("re-parse of %s: %v", enc.Encode(), err)
	}
	if !reflect.DeepEqual(q, again) {
		t.Errorf("re-parse of %s differs:\n got %s\nwant %s", enc.Encode(), describe(again), describe(q))
	}
}

func TestParseResultParams(t *testing.T) {
	t.Parallel()
	p := newTestParser(t)
	defs, _ := loadParseDefs()
	sp := func(code string) *spec.SearchParam { return defs.SearchParam("Observation", code) }
	tests := []struct {
		types, query string
		check        func(q *Query) bool
	}{
		{"Observation", "", func(q *Query) bool { return q.Count == DefaultCount && q.Offset == 0 && q.Total == "" && !q.System }},
		{"Observation", "_count=5&_offset=10", func(q *Query) bool { return q.Count == 5 && q.Offset == 10 }},
		{"Observation", "_count=0", func(q *Query) bool { return q.Count == 0 }},
		{"Observation", "_count=100000", func(q *Query) bool { return q.Count == MaxCount }},
		{"Observation", "_count=1&_count=7", func(q *Query) bool { return q.Count == 7 }},
		{"Observation", "_cursor=eyJrIjoxfQ==", func(q *Query) bool { return q.Cursor == "eyJrIjoxfQ==" }},
		{"Observation", "_total=none", func(q *Query) bool { return q.Total == TotalNone }},
		{"Observation", "_total=estimate", func(q *Query) bool { return q.Total == TotalEstimate }},
		{"Observation", "_total=accurate", func(q *Query) bool { return q.Total == TotalAccurate }},
		{"Observation", "_summary=count", func(q *Query) bool { return q.Summary == SummaryCount }},
		{"Observation", "_summary=text", func(q *Query) bool { return q.Summary == SummaryText }},
		{"Observation", "_summary=false", func(q *Query) bool { return q.Summary == SummaryFalse }},
		{"Observation", "_elements=status,code,value", func(q *Query) bool {
			return reflect.DeepEqual(q.Elements, []string{"status", "code", "value"})
		}},
		{"Observation", "_sort=-date,status,_lastUpdated,-_id", func(q *Query) bool {
			return reflect.DeepEqual(q.Sort, []SortKey{{sp("date"), true}, {sp("status"), false}, {sp("_lastUpdated"), false}, {sp("_id"), true}})
		}},
		{"Observation", "_include=Observation:subject:Patient&_include=Observation:performer", func(q *Query) bool {
			return reflect.DeepEqual(q.Include, []Include{
				{SourceType: "Observation", Param: sp("subject"), TargetType: "Patient"},
				{SourceType: "Observation", Param: sp("performer")},
			})
		}},
		{"Observation", "_include=*&_include:iterate=Patient:organization&_include:recurse=Observation:*", func(q *Query) bool {
			return reflect.DeepEqual(q.Include, []Include{
				{Wildcard: true},
				{SourceType: "Patient", Param: defs.SearchParam("Patient", "organization"), Iterate: true},
				{SourceType: "Observation", Wildcard: true, Iterate: true},
			})
		}},
		{"Patient", "_revinclude=Provenance:target&_revinclude:iterate=Observation:has-member", func(q *Query) bool {
			return reflect.DeepEqual(q.RevInclude, []Include{
				{SourceType: "Provenance", Param: defs.SearchParam("Provenance", "target")},
				{SourceType: "Observation", Param: sp("has-member"), Iterate: true},
			})
		}},
		{"", "_type=Patient,Observation", func(q *Query) bool {
			return q.System && reflect.DeepEqual(q.Types, []string{"Patient", "Observation"})
		}},
		{"", "_type=Patient&_type=Patient,Group", func(q *Query) bool { return reflect.DeepEqual(q.Types, []string{"Patient", "Group"}) }},
		{"", "", func(q *Query) bool { return q.System && q.Types == nil }},
		{"Observation", "_format=json&_pretty=true", func(q *Query) bool { return len(q.Clauses) == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.types+"?"+tt.query, func(t *testing.T) {
			t.Parallel()
			values, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			q, _, err := p.Parse(typesOf(tt.types), values, true)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !tt.check(q) {
				t.Errorf("unexpected query %+v", q)
			}
			assertRoundTrip(t, p, typesOf(tt.types), q)
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	p := newTestParser(t)
	tests := []struct {
		types, query string
		param        string // the issue's Expression
		issueType    string
		diagnostics  string // a fragment of Diagnostics
	}{
		{"Patient", "foo=bar", "foo", "processing", `unknown search parameter "foo" for Patient`},
		{"Observation", "code:in=http://hl7.org/fhir/ValueSet/x", "code:in", "not-supported", "value set http://hl7.org/fhir/ValueSet/x is not known"},
		{"", "name=li", "name", "processing", "across all types"},
		{"", "_type=Patient,Observation&name=li", "name", "processing", `unknown search parameter "name" for Observation`},
		{"", "_type=Patient,Bogus", "_type", "processing", `unknown resource type "Bogus"`},
		{"Patient", "_type=Patient", "_type", "not-supported", "system search only"},
		{"Patient", "name:bogus=x", "name:bogus", "processing", "unknown modifier :bogus"},
		{"Patient", "name:not=x", "name:not", "processing", "does not apply to string parameter name"},
		{"Observation", "date:exact=2020", "date:exact", "processing", "does not apply to date"},
		{"Observation", "code:contains=x", "code:contains", "processing", "does not apply to token"},
		{"Observation", "subject:identifier:x=1", "subject:identifier:x", "processing", "unknown modifier"},
		{"Observation", "code:Patient=1", "code:Patient", "processing", "reference parameters only"},
		{"Observation", "subject:Medication=1", "subject:Medication", "processing", "subject cannot refer to Medication"},
		{"Observation", "code:missing=maybe", "code:missing", "processing", ":missing takes true or false"},
		{"Observation", "code-value-quantity:missing=true", "code-value-quantity:missing", "processing", ":missing does not apply to composite"},
		{"Observation", "date=2020-13", "date", "processing", "invalid date"},
		{"Observation", "date=2021-02-29", "date", "processing", "invalid date"},
		{"Observation", "date=20200101", "date", "processing", "invalid date"},
		{"Observation", "date=xx2020", "date", "processing", `unknown prefix "xx"`},
		{"Observation", "date=2020,", "date", "processing", "empty value"},
		{"RiskAssessment", "probability=abc", "probability", "processing", `unknown prefix "ab"`},
		{"RiskAssessment", "probability=1.2.3", "probability", "processing", "invalid number"},
		{"RiskAssessment", "probability=0x10", "probability", "processing", "invalid number"},
		{"RiskAssessment", "probability=1e", "probability", "processing", "invalid number"},
		{"RiskAssessment", "probability=1e999", "probability", "processing", "out of range"},
		{"Observation", "value-quantity=5.4|http://unitsofmeasure.org", "value-quantity", "processing", "a quantity is"},
		{"Observation", "value-quantity=5x||mg", "value-quantity", "processing", "invalid number"},
		{"Observation", "value-quantity=5|http://unitsofmeasure.org|", "value-quantity", "processing", "needs a code"},
		{"Observation", "code=a|b|c", "code", "processing", "a token is"},
		{"Observation", "code=|", "code", "processing", "a token needs"},
		{"Patient", "identifier:of-type=a|b", "identifier:of-type", "processing", ":of-type takes"},
		{"Patient", "_id=a/b", "_id", "processing", "invalid id"},
		{"Patient", "_id=sys|1", "_id", "processing", "invalid id"},
		{"Observation", "subject=Bogus/1", "subject", "processing", `unknown resource type "Bogus"`},
		{"Observation", "subject=Medication/1", "subject", "processing", "subject cannot refer to Medication"},
		{"Observation", "subject=Patient/1/2", "subject", "processing", "a reference is"},
		{"Observation", "subject=Patient/a b", "subject", "processing", "invalid id"},
		{"Observation", "subject:Patient=Group/1", "subject:Patient", "processing", "is not a reference to a Patient"},
		{"Observation", "code-value-quantity=1234-5", "code-value-quantity", "processing", "takes 2 values separated by $"},
		{"Observation", "code-value-quantity=1234-5$abc", "code-value-quantity", "processing", "component value-quantity"},
		{"Location", "near=1|2|3|km", "near", "not-supported", "special parameter near is not supported"},
		{"Patient", "_filter=name eq x", "_filter", "not-supported", "not supported"},
		{"Patient", "_query=x", "_query", "not-supported", "not supported"},
		{"Patient", "_contained=true", "_contained", "not-supported", "not supported"},
		{"Patient", "_list=a/b", "_list", "processing", "_list takes"},
		// chains
		{"Observation", "subject.name=peter", "subject.name", "processing", "chain is ambiguous"},
		{"Observation", "code.name=x", "code.name", "processing", "only reference parameters can be chained"},
		{"Observation", "subject:Patient.bogus=x", "subject:Patient.bogus", "processing", `unknown search parameter "bogus" for Patient`},
		{"Observation", "subject.bogus=x", "subject.bogus", "processing", `has a search parameter "bogus"`},
		{"Observation", "subject:Medication.code=x", "subject:Medication.code", "processing", "cannot refer to Medication"},
		{"Observation", "subject:Patient.organization.name:bogus=x", "subject:Patient.organization.name:bogus", "processing", "unknown modifier"},
		{"Observation", "subject:Patient.link:Patient.link:Patient.link:Patient.link:Patient.link:Patient.name=x", "subject:Patient.link:Patient.link:Patient.link:Patient.link:Patient.link:Patient.name", "not-supported", "nest at most"},
		// _has
		{"Patient", "_has:Bogus:patient:code=1", "_has:Bogus:patient:code", "processing", `unknown resource type "Bogus"`},
		{"Patient", "_has:Observation:bogus:code=1", "_has:Observation:bogus:code", "processing", `Observation has no search parameter "bogus"`},
		{"Patient", "_has:Observation:code:code=1", "_has:Observation:code:code", "processing", "not a reference"},
		{"Patient", "_has:Observation:patient=1", "_has:Observation:patient", "processing", "expected _has:Type"},
		{"Patient", "_has:Observation:patient:bogus=1", "_has:Observation:patient:bogus", "processing", `unknown search parameter "bogus" for Observation`},
		{"Organization", "_has:Observation:patient:code=1", "_has:Observation:patient:code", "processing", "cannot refer to Organization"},
		// result parameters
		{"Patient", "_count=-1", "_count", "processing", "_count must be an integer ≥ 0"},
		{"Patient", "_count=ten", "_count", "processing", "_count must be"},
		{"Patient", "_offset=-5", "_offset", "processing", "_offset must be"},
		{"Patient", "_offset=5&_cursor=abc", "_offset", "processing", "cannot be used together"},
		{"Patient", "_cursor=a b", "_cursor", "processing", "invalid _cursor"},
		{"Patient", "_total=all", "_total", "processing", "_total must be"},
		{"Patient", "_summary=maybe", "_summary", "processing", "_summary must be"},
		{"Patient", "_count:exact=1", "_count:exact", "processing", "takes no modifier"},
		{"Patient", "_sort=bogus", "_sort", "processing", `cannot sort: unknown search parameter "bogus"`},
		{"Observation", "_sort=code-value-quantity", "_sort", "not-supported", "cannot sort by composite"},
		{"Patient", "_elements=bogus", "_elements", "processing", `Patient has no element "bogus"`},
		{"Patient", "_elements=Name", "_elements", "processing", "invalid element name"},
		{"Observation", "_include=Observation:code", "_include", "processing", "is a token parameter, not a reference"},
		{"Observation", "_include=Observation:bogus", "_include", "processing", `has no search parameter "bogus"`},
		{"Observation", "_include=Bogus:subject", "_include", "processing", `unknown resource type "Bogus"`},
		{"Observation", "_include=Patient:organization", "_include", "processing", "not a type searched"},
		{"Observation", "_include=Observation:subject:Medication", "_include", "processing", "cannot refer to Medication"},
		{"Observation", "_include=Observation", "_include", "processing", "expected SourceType:parameter"},
		{"Observation", "_include:bogus=Observation:subject", "_include:bogus", "processing", "only :iterate"},
		{"Organization", "_revinclude=Observation:subject", "_revinclude", "processing", "cannot refer to Organization"},
	}
	for _, tt := range tests {
		t.Run(tt.types+"?"+tt.query, func(t *testing.T) {
			t.Parallel()
			values, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			q, _, err := p.Parse(typesOf(tt.types), values, true)
			if err == nil {
				t.Fatalf("Parse succeeded: %s", describe(q))
			}
			var fe *fhir.Error
			if !errors.As(err, &fe) || fe.Code != fhir.Invalid {
				t.Fatalf("error %v is not a fhir.Error with code invalid", err)
			}
			if len(fe.Issues) != 1 {
				t.Fatalf("got %d issues, want 1: %+v", len(fe.Issues), fe.Issues)
			}
			is := fe.Issues[0]
			if is.Severity != "error" || is.Code != tt.issueType || !reflect.DeepEqual(is.Expression, []string{tt.param}) {
				t.Errorf("issue = %+v, want severity error, code %s, expression [%s]", is, tt.issueType, tt.param)
			}
			if !strings.Contains(is.Diagnostics, tt.diagnostics) || !strings.Contains(is.Diagnostics, tt.param) {
				t.Errorf("diagnostics %q: want the parameter and %q", is.Diagnostics, tt.diagnostics)
			}

			// Lenient, the same parameter is left out with a warning.
			lq, warnings, err := p.Parse(typesOf(tt.types), values, false)
			if err != nil {
				t.Fatalf("lenient Parse: %v", err)
			}
			if len(warnings) != 1 || warnings[0].Param != tt.param || warnings[0].Issue.Severity != "warning" ||
				!strings.Contains(warnings[0].Issue.Diagnostics, tt.diagnostics) {
				t.Errorf("lenient warnings = %+v", warnings)
			}
			assertRoundTrip(t, p, typesOf(tt.types), lq)
		})
	}
}

func TestParseCollectsEveryIssue(t *testing.T) {
	t.Parallel()
	p := newTestParser(t)
	values := url.Values{"foo": {"1"}, "birthdate": {"never"}, "name": {"ok"}, "_count": {"-1"}}
	_, _, err := p.Parse([]string{"Patient"}, values, true)
	var fe *fhir.Error
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, is := range fe.Issues {
		got = append(got, is.Expression[0])
	}
	if want := []string{"_count", "birthdate", "foo"}; !reflect.DeepEqual(got, want) {
		t.Errorf("issues name %v, want %v", got, want)
	}
	if !strings.Contains(fe.Message, "and 2 more") {
		t.Errorf("message %q", fe.Message)
	}

	q, warnings, err := p.Parse([]string{"Patient"}, values, false)
	if err != nil || len(warnings) != 3 || describe(q) != "name string(ok→ok)" || q.Count != DefaultCount {
		t.Errorf("lenient: %v, %d warnings, %s, count %d", err, len(warnings), describe(q), q.Count)
	}
}

func TestParseUnknownType(t *testing.T) {
	t.Parallel()
	p := newTestParser(t)
	if _, _, err := p.Parse([]string{"Bogus"}, nil, false); fhir.ErrorCode(err) != fhir.Invalid {
		t.Errorf("err = %v, want invalid", err)
	}
}

func TestEncodeCanonical(t *testing.T) {
	t.Parallel()
	p := newTestParser(t)
	values, _ := url.ParseQuery("patient.birthdate=1974&code=a,b&_include:recurse=Observation:subject&_sort=-date&_count=5&_offset=10&_total=accurate&_elements=code&_summary=data&code=c")
	q, _, err := p.Parse([]string{"Observation"}, values, true)
	if err != nil {
		t.Fatal(err)
	}
	want := "_count=5&_elements=code&_include%3Aiterate=Observation%3Asubject&_offset=10&_sort=-date&_summary=data&_total=accurate&code=a%2Cb&code=c&patient%3APatient.birthdate=1974"
	if got := q.Encode().Encode(); got != want {
		t.Errorf("Encode\n got %s\nwant %s", got, want)
	}
}

func TestLocationAndApprox(t *testing.T) {
	t.Parallel()
	defs, err := loadParseDefs()
	if err != nil {
		t.Fatal(err)
	}
	q, _, err := NewParser(defs, nil).Parse([]string{"Patient"}, url.Values{"birthdate": {"ap1974-12-25"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	d := q.Clauses[0].Conditions[0].Date
	// China Standard Time by default, as the Indexer.
	if got := time.UnixMilli(d.Low).UTC(); !got.Equal(time.Date(1974, 12, 24, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("Low = %v", got)
	}
	now := time.Date(2024, 12, 25, 0, 0, 0, 0, time.UTC)
	lo, hi := d.Range(now)
	if gap := d.Low - lo; gap < 365*24*3600*1000*4 || hi-d.High != gap {
		t.Errorf("ap range widened by %d ms and %d ms, want about 5 years both", gap, hi-d.High)
	}
	recent := Date{Prefix: PrefixAp, Low: now.UnixMilli(), High: now.UnixMilli() + 1000}
	if lo, _ := recent.Range(now); recent.Low-lo != 24*3600*1000 {
		t.Errorf("ap of a recent date widens by %d ms, want a day", recent.Low-lo)
	}
	if lo, hi := (Date{Prefix: PrefixGe, Low: 1, High: 2}).Range(now); lo != 1 || hi != 2 {
		t.Error("Range changed a ge date")
	}
	if lo, hi := (Number{Prefix: PrefixAp, Value: 100, Low: 99.5, High: 100.5}).Range(); lo != 90 || hi != 110 {
		t.Errorf("ap 100 = [%v, %v), want [90, 110)", lo, hi)
	}
}

func TestWithParams(t *testing.T) {
	t.Parallel()
	p := newTestParser(t)
	pinyin := &spec.SearchParam{Code: "name-pinyin", Type: "string", Base: []string{"Patient"}}
	custom := p.WithParams(func(rt, code string) *spec.SearchParam {
		if rt == "Patient" && code == "name-pinyin" {
			return pinyin
		}
		return nil
	})
	values := url.Values{"name-pinyin": {"zhangs"}}
	q, _, err := custom.Parse([]string{"Patient"}, values, true)
	if err != nil || q.Clauses[0].Conditions[0].Param != pinyin {
		t.Fatalf("custom parameter: %v", err)
	}
	if _, _, err := p.Parse([]string{"Patient"}, values, true); err == nil {
		t.Error("the parser without it knows name-pinyin")
	}
}

func TestInCompartment(t *testing.T) {
	t.Parallel()
	p := newTestParser(t)
	q, _, err := p.Parse([]string{"Observation"}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	want := &Compartment{"Patient", "123", map[string][]string{"Observation": {"subject", "performer"}}}
	if err := p.InCompartment(q, "Patient", "123"); err != nil || !reflect.DeepEqual(q.Compartment, want) {
		t.Errorf("InCompartment: %v, %+v, want %+v", err, q.Compartment, want)
	}
	all, _, _ := p.Parse(nil, nil, true)
	if err := p.InCompartment(all, "Patient", "123"); err != nil || len(all.Compartment.Params) < 50 || all.Compartment.Params["Encounter"] == nil {
		t.Errorf("InCompartment over every type: %v, %d types", err, len(all.Compartment.Params))
	}
	for _, tc := range [][2]string{{"Bogus", "1"}, {"Patient", "a b"}} {
		if err := p.InCompartment(q, tc[0], tc[1]); fhir.ErrorCode(err) != fhir.Invalid {
			t.Errorf("InCompartment(%s, %s) = %v", tc[0], tc[1], err)
		}
	}
	q, _, _ = p.Parse([]string{"Organization"}, nil, true)
	if err := p.InCompartment(q, "Patient", "1"); fhir.ErrorCode(err) != fhir.Invalid {
		t.Errorf("Organization in a Patient compartment: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"name=Peter,Paul&name:exact=x&_count=5",
		"code=http://loinc.org|1234-5&date=ge2020-01-01T10:00:00Z&value-quantity=lt5.4|http://unitsofmeasure.org|mg",
		"subject:Patient.organization.name=x&_has:Observation:patient:code=1",
		"code-value-quantity=a|b$gt1e2&_sort=-date,_id&_include:iterate=Observation:subject:Patient&_revinclude=Provenance:target",
		`code=a\,b\|c\$d\\&_elements=code,status&_summary=data&_total=none&_cursor=abc`,
		"_type=Observation,Patient&_id=1&_lastUpdated=ap2024",
	} {
		f.Add("Observation", s)
	}
	f.Add("", "_type=Patient&name=x")
	defs, err := loadParseDefs()
	if err != nil {
		f.Fatal(err)
	}
	p := NewParser(defs, strings.ToLower)
	f.Fuzz(func(t *testing.T, typ, query string) {
		values, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		var types []string
		if typ != "" {
			if !defs.IsResourceType(typ) {
				return
			}
			types = []string{typ}
		}
		for _, strict := range []bool{true, false} {
			q, _, err := p.Parse(types, values, strict)
			if err != nil {
				if fhir.ErrorCode(err) != fhir.Invalid {
					t.Fatalf("error of code %s: %v", fhir.ErrorCode(err), err)
				}
				continue
			}
			enc := q.Encode()
			again, warnings, err := p.Parse(types, enc, true)
			if err != nil || len(warnings) > 0 {
				t.Fatalf("re-parse of %s: %v %v", enc.Encode(), err, warnings)
			}
			if !reflect.DeepEqual(q, again) {
				t.Fatalf("re-parse of %s differs:\n got %s\nwant %s", enc.Encode(), describe(again), describe(q))
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	p := newTestParser(b)
	values, err := url.ParseQuery("patient=Patient/123&code=http://loinc.org|8480-6,http://loinc.org|8462-4" +
		"&date=ge2024-01-01&date=lt2024-07-01&status=final&_sort=-date&_count=50&_include=Observation:performer")
	if err != nil {
		b.Fatal(err)
	}
	types := []string{"Observation"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.Parse(types, values, true); err != nil {
			b.Fatal(err)
		}
	}
}

func TestParseCost(t *testing.T) {
	t.Parallel()
	p := newTestParser(t)
	many := func(name string, n int, value func(i int) string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = name + "=" + value(i)
		}
		return strings.Join(parts, "&")
	}
	ids := make([]string, maxValues+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("id%d", i)
	}
	tests := []struct {
		query string
		ok    bool
	}{
		{many("name", maxClauses, func(i int) string { return fmt.Sprintf("n%d", i) }), true},
		{many("name", maxClauses+1, func(i int) string { return fmt.Sprintf("n%d", i) }), false},
		{"_id=" + strings.Join(ids[:maxValues], ","), true},
		{"_id=" + strings.Join(ids, ","), false},
		{many("_revinclude", maxIncludes, func(i int) string { return "Observation:subject" }), true},
		{many("_revinclude", maxIncludes+1, func(i int) string { return "Observation:subject" }), false},
	}
	for _, tc := range tests {
		values, err := url.ParseQuery(tc.query)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = p.Parse([]string{"Patient"}, values, false)
		var fe *fhir.Error
		switch {
		case tc.ok && err != nil:
			t.Errorf("%.60s…: %v", tc.query, err)
		case !tc.ok && (!errors.As(err, &fe) || fe.Issues[0].Code != "too-costly"):
			t.Errorf("%.60s…: %v, want a too-costly refusal, even lenient", tc.query, err)
		}
	}
}
