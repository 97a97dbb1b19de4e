package server

import (
	"time"

	"github.com/hip-platform/hip/internal/fhir"
)

// searchParamDefinitions are the canonical definitions of the parameters in
// implementedSearchParams.
var searchParamDefinitions = map[string][2]string{
	"_id":          {"http://hl7.org/fhir/SearchParameter/Resource-id", "token"},
	"_lastUpdated": {"http://hl7.org/fhir/SearchParameter/Resource-lastUpdated", "date"},
}

// capabilityStatement describes what this server implements, built from the
// resource types the definitions know and the interactions coded here.
func (s *Server) capabilityStatement() fhir.Resource {
	typeInteractions := []string{iRead, iVRead, iUpdate, iPatch, iDelete, iHistInstance, iHistType, iCreate, iSearchType}
	var searchParams []any
	for _, name := range implementedSearchParams {
		def := searchParamDefinitions[name]
		searchParams = append(searchParams, map[string]any{"name": name, "definition": def[0], "type": def[1]})
	}
	var resources []any
	for _, t := range s.defs.ResourceTypes() {
		var inter []any
		for _, code := range typeInteractions {
			inter = append(inter, map[string]any{"code": code})
		}
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
			"searchParam":       searchParams,
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
		"rest": []any{map[string]any{
			"mode":     "server",
			"resource": resources,
			"interaction": []any{
				map[string]any{"code": "transaction"},
				map[string]any{"code": "batch"},
				map[string]any{"code": iSearchSystem},
				map[string]any{"code": iHistSystem},
			},
			"searchParam": searchParams,
		}},
	}
}
