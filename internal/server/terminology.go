package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// Terminology operations.
const (
	iLookup       = "operation-lookup"
	iValidateCode = "operation-validate-code"
	iExpand       = "operation-expand"
	iTranslate    = "operation-translate"
)

// terminologyOps are the operations by resource type and name.
var terminologyOps = map[string]map[string]string{
	"CodeSystem": {"$lookup": iLookup, "$validate-code": iValidateCode},
	"ValueSet":   {"$validate-code": iValidateCode, "$expand": iExpand},
	"ConceptMap": {"$translate": iTranslate},
}

// terminologyOperations are the same in the CapabilityStatement.
var terminologyOperations = map[string][]any{
	"CodeSystem": {opDef("lookup", "CodeSystem-lookup"), opDef("validate-code", "CodeSystem-validate-code")},
	"ValueSet":   {opDef("expand", "ValueSet-expand"), opDef("validate-code", "ValueSet-validate-code")},
	"ConceptMap": {opDef("translate", "ConceptMap-translate")},
}

func opDef(name, def string) map[string]any {
	return map[string]any{"name": name, "definition": "http://hl7.org/fhir/OperationDefinition/" + def}
}

// terminologyRoute resolves Type/$op and Type/{id}/$op; the caller
// refuses methods other than GET and POST.
func terminologyRoute(p []string) (route, bool) {
	if len(p) != 2 && len(p) != 3 {
		return route{}, false
	}
	op, ok := terminologyOps[p[0]][p[len(p)-1]]
	if !ok {
		return route{}, false
	}
	r := route{typ: p[0], interaction: op}
	if len(p) == 3 {
		r.id = p[1]
	}
	return r, true
}

// findTerminology is the terminology service's view of the stored
// resources: the latest stored resource of a type with a canonical URL.
func (s *Server) findTerminology(ctx context.Context, typ, canonical string) (fhir.Resource, error) {
	q, _, err := s.parser.Parse([]string{typ}, url.Values{"url": {canonical}, "_sort": {"-_lastUpdated"}, "_count": {"1"}}, true)
	if err != nil {
		return nil, err
	}
	page, err := s.store.Search(ctx, q)
	if err != nil || len(page.Resources) == 0 {
		return nil, err
	}
	return fhir.Parse(page.Resources[0].Body)
}

// opParams are an operation's parameters: from the query string, or a
// Parameters body.
type opParams struct {
	query url.Values
	body  parameters
}

func (o opParams) str(name string) string {
	if v := o.query.Get(name); v != "" {
		return v
	}
	if v := o.body.value(name); v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

// coding reads a coding parameter (valueCoding) into system, code and
// display where those are not given on their own.
func (o opParams) coding(name string, system, code, display *string) {
	for _, p := range o.body.all(name) {
		c, _ := p["valueCoding"].(map[string]any)
		set := func(dst *string, key string) {
			if v, _ := c[key].(string); *dst == "" {
				*dst = v
			}
		}
		set(system, "system")
		set(code, "code")
		set(display, "display")
	}
}

func (o opParams) int(name string) (int, error) {
	v := o.str(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fhir.Errorf(fhir.Invalid, "%s must be a non-negative integer", name)
	}
	return n, nil
}

// terminologyOperation serves $lookup, $validate-code, $expand and $translate.
func (s *Server) terminologyOperation(ctx context.Context, rd store.Reader, req *request, rt route) (*response, error) {
	body, err := parametersOf(req)
	if err != nil {
		return nil, err
	}
	o := opParams{query: req.query, body: body}
	canonical := o.str("url")
	if rt.id != "" {
		// The instance's own url.
		stored, err := rd.Read(ctx, rt.typ, rt.id)
		if err != nil {
			return nil, err
		}
		res, err := fhir.Parse(stored.Body)
		if err != nil {
			return nil, err
		}
		canonical, _ = res["url"].(string)
	}
	switch rt.interaction {
	case iLookup:
		system, code, display := o.str("system"), o.str("code"), ""
		o.coding("coding", &system, &code, &display)
		r, err := s.terms.Lookup(ctx, system, code)
		if err != nil {
			return nil, err
		}
		ps := []any{strParam("name", r.Name), strParam("display", r.Concept.Display)}
		if r.Version != "" {
			ps = append(ps, strParam("version", r.Version))
		}
		for _, d := range r.Concept.Designations {
			ps = append(ps, map[string]any{"name": "designation", "part": []any{
				map[string]any{"name": "language", "valueCode": d.Language}, strParam("value", d.Value)}})
		}
		if r.Concept.Parent != "" {
			ps = append(ps, property("parent", r.Concept.Parent))
		}
		for _, ch := range r.Concept.Children {
			ps = append(ps, property("child", ch))
		}
		return parametersResponse(ps), nil
	case iValidateCode:
		system, code, display := o.str("system"), o.str("code"), o.str("display")
		o.coding("coding", &system, &code, &display)
		vs := canonical
		if rt.typ == "CodeSystem" {
			if system == "" {
				system = canonical
			}
			vs = ""
		} else if vs == "" {
			vs = o.str("valueSet")
		}
		v, err := s.terms.ValidateCode(ctx, vs, system, code, display)
		if err != nil {
			return nil, err
		}
		ps := []any{map[string]any{"name": "result", "valueBoolean": v.Result}}
		if v.Message != "" {
			ps = append(ps, strParam("message", v.Message))
		}
		if v.Display != "" {
			ps = append(ps, strParam("display", v.Display))
		}
		return parametersResponse(ps), nil
	case iExpand:
		offset, err := o.int("offset")
		if err != nil {
			return nil, err
		}
		count, err := o.int("count")
		if err != nil {
			return nil, err
		}
		filter := o.str("filter")
		exp, err := s.terms.Expand(ctx, canonical, filter, offset, count)
		if err != nil {
			return nil, err
		}
		contains := []any{}
		for _, c := range exp.Contains {
			m := map[string]any{"system": c.System, "code": c.Code}
			if c.Display != "" {
				m["display"] = c.Display
			}
			contains = append(contains, m)
		}
		params := []any{}
		if filter != "" {
			params = append(params, map[string]any{"name": "filter", "valueString": filter})
		}
		if count > 0 {
			params = append(params, map[string]any{"name": "count", "valueInteger": count})
		}
		expansion := map[string]any{"identifier": "urn:uuid:" + rand.Text(), "timestamp": fhir.FormatInstant(time.Now()),
			"total": exp.Total, "offset": exp.Offset, "contains": contains}
		if len(params) > 0 {
			expansion["parameter"] = params
		}
		vs := fhir.Resource{"resourceType": "ValueSet", "url": canonical, "status": "active", "expansion": expansion}
		if exp.Name != "" {
			vs["name"] = exp.Name
		}
		return &response{status: http.StatusOK, resource: vs}, nil
	case iTranslate:
		system, code, display := o.str("system"), o.str("code"), ""
		o.coding("coding", &system, &code, &display)
		target := o.str("targetsystem")
		ms, err := s.terms.Translate(ctx, canonical, system, code, target)
		if err != nil {
			return nil, err
		}
		ps := []any{map[string]any{"name": "result", "valueBoolean": len(ms) > 0}}
		if len(ms) == 0 {
			ps = append(ps, strParam("message", fmt.Sprintf("没有映射 no mapping for %s|%s", system, code)))
		}
		for _, m := range ms {
			concept := map[string]any{"system": m.System, "code": m.Code}
			if m.Display != "" {
				concept["display"] = m.Display
			}
			ps = append(ps, map[string]any{"name": "match", "part": []any{
				map[string]any{"name": "equivalence", "valueCode": m.Equivalence},
				map[string]any{"name": "concept", "valueCoding": concept}}})
		}
		return parametersResponse(ps), nil
	}
	return nil, fhir.Errorf(fhir.NotSupported, "interaction %s is not supported here", rt.interaction)
}

func strParam(name, v string) map[string]any { return map[string]any{"name": name, "valueString": v} }

func property(code, value string) map[string]any {
	return map[string]any{"name": "property", "part": []any{
		map[string]any{"name": "code", "valueCode": code}, map[string]any{"name": "value", "valueCode": value}}}
}

func parametersResponse(ps []any) *response {
	return &response{status: http.StatusOK, resource: fhir.Resource{"resourceType": "Parameters", "parameter": ps}}
}
