package server

import (
	"slices"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/fhir/spec"
)

// reindexOperation names $reindex, which HAPI and others define alike: FHIR
// R4 has no definition of it.
const reindexOperation = fhir.NS + "OperationDefinition/reindex"

// searchParams lists the parameters of a resource type a search may name: the
// R4 ones, then the custom ones and name-pinyin, each code once.
func (s *Server) searchParams(typ string) []*spec.SearchParam {
	var out []*spec.SearchParam
	seen := map[string]bool{}
	for _, sp := range s.defs.SearchParams(typ) {
		if ix := s.indexer.Param(typ, sp.Code); ix != nil {
			sp = ix // a custom parameter replaces the R4 one of its code
		}
		seen[sp.Code] = true
		out = append(out, sp)
	}
	for _, sp := range s.indexer.Params(typ) {
		if !seen[sp.Code] {
			seen[sp.Code] = true
			out = append(out, sp)
		}
	}
	return out
}

// capabilityStatement describes what this server implements, built from the
// resource types the definitions know, the search parameters the indexer
// has (custom ones included) and the interactions coded here.
func (s *Server) capabilityStatement() fhir.Resource {
	typeInteractions := []string{iRead, iVRead, iUpdate, iPatch, iDelete, iHistInstance, iHistType, iCreate, iSearchType}
	searchParams := func(typ string, keep func(*spec.SearchParam) bool) []any {
		var out []any
		for _, sp := range s.searchParams(typ) {
			if !keep(sp) {
				continue
			}
			p := map[string]any{"name": sp.Code, "type": sp.Type}
			if sp.URL != "" {
				p["definition"] = sp.URL
			}
			if sp.URL == search.NamePinyinURL {
				p["documentation"] = search.NamePinyinResource()["description"]
			}
			out = append(out, p)
		}
		return out
	}
	everyType := func(sp *spec.SearchParam) bool { return slices.Contains(sp.Base, "Resource") }
	anyParam := func(*spec.SearchParam) bool { return true }
	var resources []any
	for _, t := range s.defs.ResourceTypes() {
		var inter []any
		for _, code := range typeInteractions {
			inter = append(inter, map[string]any{"code": code})
		}
		includes, revIncludes := []any{t + ":*"}, []any{"*"}
		for _, sp := range s.searchParams(t) {
			if sp.Type == "reference" {
				includes = append(includes, t+":"+sp.Code)
			}
		}
		ops := []any{map[string]any{"name": "reindex", "definition": reindexOperation}}
		if t == "Patient" {
			ops = append(ops, map[string]any{"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"})
		}
		if s.cfg.MPI != nil {
			ops = append(ops, mpiOperations[t]...)
		}
		ops = append(ops, terminologyOperations[t]...)
		ops = append(ops, opDef("validate", "Resource-validate"))
		resources = append(resources, map[string]any{
			"type":              t,
			"profile":           "http://hl7.org/fhir/StructureDefinition/" + t,
			"interaction":       inter,
			"versioning":        "versioned-update",
			"readHistory":       true,
			"updateCreate":      true,
			"conditionalCreate": true,
			"conditionalRead":   "not-supported",
			"conditionalUpdate": true,
			"conditionalDelete": "single",
			"searchInclude":     includes,
			"searchRevInclude":  revIncludes,
			"searchParam":       searchParams(t, anyParam),
			"operation":         ops,
		})
	}
	version := s.cfg.Version
	if version == "" {
		version = "dev"
	}
	impl := map[string]any{"description": "HIP 区域全民健康信息平台 FHIR R4 API"}
	if s.cfg.BaseURL != "" {
		impl["url"] = s.cfg.BaseURL
	}
	rest := map[string]any{
		"mode":     "server",
		"resource": resources,
		"interaction": []any{
			map[string]any{"code": "transaction"},
			map[string]any{"code": "batch"},
			map[string]any{"code": iSearchSystem},
			map[string]any{"code": iHistSystem},
		},
		"searchParam": searchParams("Patient", everyType),
		"operation":   []any{map[string]any{"name": "reindex", "definition": reindexOperation}},
	}
	if sec := s.cfg.Security; sec != nil {
		rest["security"] = s.securityStatement(sec)
	}
	return fhir.Resource{
		"resourceType":   "CapabilityStatement",
		"status":         "active",
		"date":           time.Now().UTC().Format("2006-01-02"),
		"publisher":      "HIP",
		"kind":           "instance",
		"software":       map[string]any{"name": "HIP", "version": version},
		"implementation": impl,
		"fhirVersion":    "4.0.1",
		"format":         []any{"application/fhir+json", "json"},
		"patchFormat":    []any{"application/json-patch+json"},
		"rest":           []any{rest},
	}
}

// securityStatement is CapabilityStatement.rest.security: SMART on FHIR,
// with the provider's endpoints (http://hl7.org/fhir/smart-app-launch/conformance.html).
func (s *Server) securityStatement(sec *Security) map[string]any {
	out := map[string]any{
		"cors": true,
		"service": []any{map[string]any{"coding": []any{map[string]any{
			"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR"}}}},
		"description": "OAuth 2.0 bearer tokens with SMART App Launch v1/v2 scopes; roles resident, clinician, pharmacist, " +
			"regulator, facility, admin; purpose of use in " + headerPurpose + " (TREAT, ETREAT with " + headerReason +
			", PUBHLTH, HOPERAT, HCOMPL, HQUALIMP, HPAYMT, HRESCH); every access to patient data is audited (AuditEvent).",
	}
	var uris []any
	for _, e := range []struct{ name, key string }{{"token", "token_endpoint"}, {"authorize", "authorization_endpoint"}} {
		if u, ok := sec.SMART[e.key].(string); ok && u != "" {
			uris = append(uris, map[string]any{"url": e.name, "valueUri": u})
		}
	}
	if uris != nil {
		out["extension"] = []any{map[string]any{
			"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris", "extension": uris}}
	}
	return out
}
