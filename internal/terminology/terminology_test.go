package terminology

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
)

const ns = fhir.NS

func codes(cs []Coding) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Code)
	}
	return out
}

// stored is a Finder over resources a client stored.
func stored(rs ...fhir.Resource) Finder {
	return func(_ context.Context, typ, url string) (fhir.Resource, error) {
		for _, r := range rs {
			if r.Type() == typ && r["url"] == url {
				return r, nil
			}
		}
		return nil, nil
	}
}

// A client's code system with a hierarchy, value sets over it, and a cycle.
var (
	diseases = fhir.Resource{"resourceType": "CodeSystem", "url": "http://example.cn/cs/d", "content": "complete", "name": "D",
		"concept": []any{
			map[string]any{"code": "A", "display": "传染病", "concept": []any{
				map[string]any{"code": "A1", "display": "流行性感冒", "property": []any{map[string]any{"code": "notifiable", "valueBoolean": true}}},
				map[string]any{"code": "A2", "display": "手足口病", "concept": []any{
					map[string]any{"code": "A21", "display": "重症手足口病"}}}}},
			map[string]any{"code": "B", "display": "慢性病"}}}
	vsAll     = fhir.Resource{"resourceType": "ValueSet", "url": "http://example.cn/vs/all", "compose": map[string]any{"include": []any{map[string]any{"system": "http://example.cn/cs/d"}}}}
	vsInfect  = fhir.Resource{"resourceType": "ValueSet", "url": "http://example.cn/vs/infect", "compose": map[string]any{"include": []any{map[string]any{"system": "http://example.cn/cs/d", "filter": []any{map[string]any{"property": "concept", "op": "is-a", "value": "A"}}}}, "exclude": []any{map[string]any{"system": "http://example.cn/cs/d", "concept": []any{map[string]any{"code": "A21"}}}}}}
	vsBelowA  = fhir.Resource{"resourceType": "ValueSet", "url": "http://example.cn/vs/below", "compose": map[string]any{"include": []any{map[string]any{"system": "http://example.cn/cs/d", "filter": []any{map[string]any{"property": "concept", "op": "descendent-of", "value": "A"}}}}}}
	vsNested  = fhir.Resource{"resourceType": "ValueSet", "url": "http://example.cn/vs/nested", "compose": map[string]any{"include": []any{map[string]any{"valueSet": []any{"http://example.cn/vs/infect"}}}}}
	vsNotify  = fhir.Resource{"resourceType": "ValueSet", "url": "http://example.cn/vs/notify", "compose": map[string]any{"include": []any{map[string]any{"system": "http://example.cn/cs/d", "filter": []any{map[string]any{"property": "notifiable", "op": "=", "value": "true"}}}}}}
	vsRegex   = fhir.Resource{"resourceType": "ValueSet", "url": "http://example.cn/vs/regex", "compose": map[string]any{"include": []any{map[string]any{"system": "http://example.cn/cs/d", "filter": []any{map[string]any{"property": "code", "op": "regex", "value": "A[0-9]"}}}}}}
	vsCycle   = fhir.Resource{"resourceType": "ValueSet", "url": "http://example.cn/vs/cycle", "compose": map[string]any{"include": []any{map[string]any{"valueSet": []any{"http://example.cn/vs/cycle"}}}}}
	vsUnknown = fhir.Resource{"resourceType": "ValueSet", "url": "http://example.cn/vs/unknown", "compose": map[string]any{"include": []any{map[string]any{"system": "http://nowhere/cs"}}}}
)

func newService(t *testing.T) *Service {
	t.Helper()
	s, err := New(stored(diseases, vsAll, vsInfect, vsBelowA, vsNested, vsNotify, vsRegex, vsCycle, vsUnknown))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestExpand(t *testing.T) {
	t.Parallel()
	s := newService(t)
	tests := []struct {
		url, filter   string
		offset, count int
		want          []string
		total         int
		err           fhir.Code
	}{
		{url: "http://example.cn/vs/all", want: []string{"A", "A1", "A2", "A21", "B"}, total: 5},
		{url: "http://example.cn/vs/all", offset: 1, count: 2, want: []string{"A1", "A2"}, total: 5},
		{url: "http://example.cn/vs/all", offset: 9, count: 2, want: nil, total: 5},
		{url: "http://example.cn/vs/all", filter: "手足", want: []string{"A2", "A21"}, total: 2},
		{url: "http://example.cn/vs/all", filter: "重症 手足", want: []string{"A21"}, total: 1},
		{url: "http://example.cn/vs/infect", want: []string{"A", "A1", "A2"}, total: 3}, // is-a, A21 excluded
		{url: "http://example.cn/vs/below", want: []string{"A1", "A2", "A21"}, total: 3},
		{url: "http://example.cn/vs/nested", want: []string{"A", "A1", "A2"}, total: 3},
		{url: "http://example.cn/vs/notify", want: []string{"A1"}, total: 1},
		{url: "http://example.cn/vs/regex", want: []string{"A1", "A2"}, total: 2},
		{url: ns + "ValueSet/gb-t-2261-1", want: []string{"0", "1", "2", "9"}, total: 4}, // shipped
		{url: ns + "ValueSet/beijing-divisions", filter: "海淀", want: []string{"110108"}, total: 1},
		{url: ns + "ValueSet/facility-level", filter: "三级", want: []string{"3", "3S", "3A", "3B", "3C"}, total: 5},
		{url: "http://example.cn/vs/cycle", err: fhir.Invalid},
		{url: "http://example.cn/vs/unknown", err: fhir.NotSupported},
		{url: "http://example.cn/vs/missing", err: fhir.NotFound},
	}
	for _, tt := range tests {
		exp, err := s.Expand(context.Background(), tt.url, tt.filter, tt.offset, tt.count)
		if tt.err != "" {
			if fhir.ErrorCode(err) != tt.err {
				t.Errorf("Expand(%s): %v, want %s", tt.url, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Expand(%s, %q): %v", tt.url, tt.filter, err)
			continue
		}
		if got := codes(exp.Contains); !slices.Equal(got, tt.want) || exp.Total != tt.total {
			t.Errorf("Expand(%s, %q, %d, %d) = %v (total %d), want %v (total %d)", tt.url, tt.filter, tt.offset, tt.count, got, exp.Total, tt.want, tt.total)
		}
	}
}

func TestLookupAndValidate(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ctx := context.Background()
	r, err := s.Lookup(ctx, ns+"CodeSystem/gb-t-2261-1", "2")
	if err != nil || r.Concept.Display != "女性" || r.Version != "2003" || r.Name != "GB/T 2261.1-2003 人的性别代码" {
		t.Errorf("Lookup = %+v, %v", r, err)
	}
	if r.Concept.Designations[0].Value != "Female" {
		t.Errorf("designations %+v", r.Concept.Designations)
	}
	if r, err := s.Lookup(ctx, "http://example.cn/cs/d", "A21"); err != nil || r.Concept.Parent != "A2" {
		t.Errorf("Lookup A21 = %+v, %v", r, err)
	}
	if _, err := s.Lookup(ctx, ns+"CodeSystem/gb-t-2261-1", "3"); fhir.ErrorCode(err) != fhir.NotFound {
		t.Errorf("Lookup of a missing code: %v", err)
	}
	tests := []struct {
		vs, system, code, display string
		ok                        bool
		message                   string
	}{
		{"", ns + "CodeSystem/gb-t-2261-1", "1", "男性", true, ""},
		{"", ns + "CodeSystem/gb-t-2261-1", "1", "男", true, "differs"},
		{"", ns + "CodeSystem/gb-t-2261-1", "5", "", false, "not in"},
		{"", "http://nowhere", "5", "", false, "not known"},
		{"http://example.cn/vs/infect", "http://example.cn/cs/d", "A1", "", true, ""},
		{"http://example.cn/vs/infect", "http://example.cn/cs/d", "A21", "", false, "not in the value set"},
		{"http://example.cn/vs/infect", "http://other", "A1", "", false, "not in the value set"},
		{"http://example.cn/vs/infect", "", "A2", "", true, ""},
	}
	for _, tt := range tests {
		v, err := s.ValidateCode(ctx, tt.vs, tt.system, tt.code, tt.display)
		if err != nil {
			t.Errorf("ValidateCode(%s, %s, %s): %v", tt.vs, tt.system, tt.code, err)
			continue
		}
		if v.Result != tt.ok || !strings.Contains(v.Message, tt.message) {
			t.Errorf("ValidateCode(%s, %s, %s, %q) = %+v, want %v with %q", tt.vs, tt.system, tt.code, tt.display, v, tt.ok, tt.message)
		}
	}
}

func TestTranslate(t *testing.T) {
	t.Parallel()
	s := newService(t)
	ms, err := s.Translate(context.Background(), ns+"ConceptMap/gb-t-2261-1-to-fhir-gender", ns+"CodeSystem/gb-t-2261-1", "2", "")
	if err != nil || len(ms) != 1 || ms[0].Code != "female" || ms[0].Equivalence != "equivalent" || ms[0].System != "http://hl7.org/fhir/administrative-gender" {
		t.Errorf("Translate = %+v, %v", ms, err)
	}
	ms, err = s.Translate(context.Background(), ns+"ConceptMap/gb-t-2261-1-to-fhir-gender", ns+"CodeSystem/gb-t-2261-1", "2", "http://elsewhere")
	if err != nil || len(ms) != 0 {
		t.Errorf("Translate to another target = %+v, %v", ms, err)
	}
}

func TestStoredOverridesShipped(t *testing.T) {
	t.Parallel()
	newer := fhir.Resource{"resourceType": "CodeSystem", "url": ns + "CodeSystem/gb-t-2261-1", "content": "complete", "version": "2026",
		"concept": []any{map[string]any{"code": "1", "display": "男"}}}
	s, err := New(stored(newer))
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Lookup(context.Background(), ns+"CodeSystem/gb-t-2261-1|2026", "1")
	if err != nil || r.Concept.Display != "男" || r.Version != "2026" {
		t.Errorf("Lookup = %+v, %v", r, err)
	}
}

func TestShipped(t *testing.T) {
	t.Parallel()
	rs, err := Shipped()
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) < 7 {
		t.Errorf("%d shipped resources", len(rs))
	}
	s, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Every shipped value set expands.
	for _, r := range rs {
		if r.Type() != "ValueSet" {
			continue
		}
		exp, err := s.Expand(context.Background(), r["url"].(string), "", 0, 0)
		if r["url"] == fhir.NS+"ValueSet/ucum" {
			// A grammar: refused as not supported, never an empty list.
			if fe := fhir.AsError(err); err == nil || fe.Code != fhir.NotSupported {
				t.Errorf("ValueSet/ucum expanded: %v, %v", exp, err)
			}
			continue
		}
		if err != nil || exp.Total == 0 {
			t.Errorf("%s: %v, %v", r["url"], exp, err)
		}
	}
}
