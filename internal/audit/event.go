package audit

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// Code systems of AuditEvent (IHE BALP and the FHIR core).
const (
	systemEventType   = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	systemInteraction = "http://hl7.org/fhir/restful-interaction"
	systemPurpose     = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	systemEntityType  = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	systemObjectRole  = "http://terminology.hl7.org/CodeSystem/object-role"
	systemSourceType  = "http://terminology.hl7.org/CodeSystem/security-source-type"
	systemParticipant = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
	systemRole        = fhir.NS + "CodeSystem/role"
	// ExtensionBreakGlass marks an access that broke the glass, with its reason.
	ExtensionBreakGlass = fhir.NS + "StructureDefinition/break-glass-reason"
)

// Actions per interaction (AuditEvent.action: C R U D E).
var actions = map[string]string{
	"create": "C", "read": "R", "vread": "R", "update": "U", "patch": "U", "delete": "D",
	"conditional-update": "U", "conditional-delete": "D", "conditional-patch": "U",
	"history-instance": "R", "history-type": "R", "history-system": "R",
	"search-type": "E", "search-system": "E", "search-compartment": "E", "operation-everything": "E",
	"batch": "E", "transaction": "E",
}

// Action returns the AuditEvent action of a FHIR interaction.
func Action(interaction string) string {
	if a, ok := actions[interaction]; ok {
		return a
	}
	return "E"
}

// Event renders an entry as a FHIR AuditEvent (IHE BALP RESTful activity):
// the user (and their app) as agents, each patient and resource as an
// entity, the search parameters as a query entity. Its id is the entry's
// number.
func Event(e *store.AuditEntry) (fhir.Resource, error) { return EventFor(e, nil) }

// EventFor renders an entry for a reader who may see only the patients of
// only (nil: everything): other patients, the resources and the query,
// which may tell of them, are left out. A resident sees who accessed their
// record, when, how and why — not who else was in the same request.
func EventFor(e *store.AuditEntry, only []string) (fhir.Resource, error) {
	var r Record
	if err := json.Unmarshal(e.Body, &r); err != nil {
		return nil, fmt.Errorf("audit: entry %d: %w", e.Seq, err)
	}
	if only != nil {
		r.Patients = slices.DeleteFunc(r.Patients, func(p string) bool { return !slices.Contains(only, p) })
		r.Resources, r.Query = nil, ""
	}
	outcome, desc := "0", ""
	switch {
	case r.Status >= 500:
		outcome, desc = "8", "server error"
	case r.Status >= 400:
		outcome, desc = "4", "refused or failed: HTTP "+strconv.Itoa(r.Status)
	}
	ev := fhir.Resource{
		"resourceType": "AuditEvent",
		"id":           strconv.FormatInt(e.Seq, 10),
		"meta":         map[string]any{"lastUpdated": r.Recorded.Format("2006-01-02T15:04:05.000Z07:00")},
		"type":         coding(systemEventType, "rest", "RESTful Operation"),
		"subtype":      []any{coding(systemInteraction, r.Interaction, "")},
		"action":       r.Action,
		"recorded":     r.Recorded.Format("2006-01-02T15:04:05.000Z07:00"),
		"outcome":      outcome,
		"source": map[string]any{
			"site":     "HIP",
			"observer": map[string]any{"display": "HIP 区域全民健康信息平台"},
			"type":     []any{coding(systemSourceType, "4", "Application Server")},
		},
	}
	if desc != "" {
		ev["outcomeDesc"] = desc
	}
	if r.Purpose != "" {
		ev["purposeOfEvent"] = []any{map[string]any{"coding": []any{coding(systemPurpose, r.Purpose, "")}}}
	}
	user := map[string]any{
		"who":       map[string]any{"identifier": map[string]any{"value": r.Agent}},
		"requestor": true,
	}
	if r.Name != "" {
		user["who"].(map[string]any)["display"] = r.Name
	}
	if r.Role != "" {
		user["role"] = []any{map[string]any{"coding": []any{coding(systemRole, r.Role, "")}}}
	}
	if r.Facility != "" {
		user["location"] = map[string]any{"reference": "Organization/" + r.Facility}
	}
	if r.Address != "" {
		user["network"] = map[string]any{"address": r.Address, "type": "2"} // 2: IP address
	}
	if r.Purpose != "" {
		user["purposeOfUse"] = []any{map[string]any{"coding": []any{coding(systemPurpose, r.Purpose, "")}}}
	}
	agents := []any{user}
	if r.Client != "" && r.Client != r.Agent {
		agents = append(agents, map[string]any{
			"type":      map[string]any{"coding": []any{coding(systemParticipant, "application", "application")}},
			"who":       map[string]any{"identifier": map[string]any{"value": r.Client}},
			"requestor": false,
		})
	}
	ev["agent"] = agents
	var entities []any
	for _, p := range r.Patients {
		entities = append(entities, map[string]any{
			"what": map[string]any{"reference": p},
			"type": coding(systemEntityType, "1", "Person"),
			"role": coding(systemObjectRole, "1", "Patient"),
		})
	}
	for _, res := range r.Resources {
		if strings.HasPrefix(res, "Patient/") && slices.Contains(r.Patients, res) {
			continue
		}
		entities = append(entities, map[string]any{
			"what": map[string]any{"reference": res},
			"type": coding(systemEntityType, "2", "System Object"),
			"role": coding(systemObjectRole, "4", "Domain Resource"),
		})
	}
	if r.Query != "" {
		q := r.Type + "?" + r.Query
		entities = append(entities, map[string]any{
			"type":        coding(systemEntityType, "2", "System Object"),
			"role":        coding(systemObjectRole, "24", "Query"),
			"query":       base64.StdEncoding.EncodeToString([]byte(q)),
			"description": q,
		})
	}
	if len(entities) > 0 {
		ev["entity"] = entities
	}
	if r.BreakGlass != "" {
		ev["extension"] = []any{map[string]any{"url": ExtensionBreakGlass, "valueString": r.BreakGlass}}
	}
	return ev, nil
}

func coding(system, code, display string) map[string]any {
	c := map[string]any{"system": system, "code": code}
	if display != "" {
		c["display"] = display
	}
	return c
}
