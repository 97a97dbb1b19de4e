package auth

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/fhir/spec"
	"github.com/hip-platform/hip/internal/store"
)

// Tag systems the policy reads in meta.tag. A facility's writes carry its
// source tag, stamped by the platform (a client cannot write as another
// facility); a record shared with a facility (a prescription presented at a
// pharmacy, a referral's documents) carries a shared tag for it.
const (
	SystemSourceFacility = fhir.NS + "CodeSystem/source-facility"
	SystemSharedWith     = fhir.NS + "CodeSystem/shared-with"
)

// Purposes of use a request may state (HL7 v3 ActReason), in the
// X-Purpose-Of-Use header.
const (
	PurposeTreatment    = "TREAT"   // care of the patient the request names
	PurposeEmergency    = "ETREAT"  // emergency treatment: break the glass, with a reason
	PurposePublicHealth = "PUBHLTH" // public health (CDC investigations)
	PurposeOperations   = "HOPERAT" // healthcare operations (performance, supervision)
	PurposeCompliance   = "HCOMPL"  // compliance and oversight (insurance audit, inspections)
	PurposeQuality      = "HQUALIMP"
	PurposePayment      = "HPAYMT"
	PurposeResearch     = "HRESCH"
)

// regulatorPurposes are the purposes under which a regulator sees identified data.
var regulatorPurposes = []string{PurposePublicHealth, PurposeOperations, PurposeCompliance, PurposeQuality, PurposePayment, PurposeResearch}

// ValidPurpose reports whether code is a purpose the platform knows.
func ValidPurpose(code string) bool {
	return code == PurposeTreatment || code == PurposeEmergency || slices.Contains(regulatorPurposes, code)
}

// directoryTypes are the resources that hold no patient's data: the
// region's facilities and staff, schedules and free slots, medicines and
// the definitions the platform runs on. Every authenticated principal whose
// scopes name them may read them; every other type is patient data.
var directoryTypes = []string{
	"Organization", "OrganizationAffiliation", "Practitioner", "PractitionerRole", "Location", "HealthcareService",
	"Endpoint", "Schedule", "Slot", "Medication", "MedicationKnowledge", "Substance", "InsurancePlan",
	"ActivityDefinition", "PlanDefinition", "Questionnaire", "ObservationDefinition", "SpecimenDefinition",
	"ChargeItemDefinition", "EventDefinition", "Library", "Measure", "ResearchDefinition",
	"ResearchElementDefinition", "EffectEvidenceSynthesis", "RiskEvidenceSynthesis", "Evidence", "EvidenceVariable",
	"DeviceDefinition", "MedicinalProduct",
}

// conformanceTypes are definitions only an administrator writes: they
// change how the platform reads, validates and searches everything.
var conformanceTypes = []string{
	"CapabilityStatement", "CodeSystem", "CompartmentDefinition", "ConceptMap", "GraphDefinition", "ImplementationGuide",
	"MessageDefinition", "NamingSystem", "OperationDefinition", "SearchParameter", "StructureDefinition", "StructureMap",
	"TerminologyCapabilities", "TestScript", "ExampleScenario",
}

// pharmacistTypes are the patient data a pharmacist's work needs.
var pharmacistTypes = []string{"MedicationRequest", "MedicationDispense", "Patient"}

// IsDirectory reports whether a resource type holds no patient's data.
func IsDirectory(typ string) bool {
	return slices.Contains(directoryTypes, typ) || slices.Contains(conformanceTypes, typ)
}

// Policy decides what principals may do. It is shared by every request.
type Policy struct {
	defs     *spec.Definitions
	parser   *search.Parser
	ix       *search.Indexer
	types    []string
	care     careCache
	consents consentCache
	accesses accessCache
}

// NewPolicy builds the policy over the FHIR definitions and the store's
// indexer (custom search parameters included).
func NewPolicy(defs *spec.Definitions, ix *search.Indexer) *Policy {
	return &Policy{defs: defs, ix: ix, types: defs.ResourceTypes(),
		parser:   search.NewParser(defs, search.NormalizeString).WithParams(ix.Param),
		care:     careCache{ttl: time.Minute, seen: map[string]time.Time{}},
		consents: consentCache{ttl: 10 * time.Second}}
}

// clauses parses search parameters into the clauses of a type.
func (pol *Policy) clauses(typ string, values url.Values) ([]search.Clause, error) {
	q, _, err := pol.parser.Parse([]string{typ}, values, true)
	if err != nil {
		return nil, fmt.Errorf("auth: limit on %s: %w", typ, err)
	}
	return q.Clauses, nil
}

// patientParam is the parameter that ties resources of typ to their
// patient: "patient" where the type has it, else the first parameter of its
// Patient compartment; "" for a type outside the compartment.
func (pol *Policy) patientParam(typ string) string {
	params := pol.defs.Compartment("Patient").Params(typ)
	if len(params) == 0 {
		return ""
	}
	if slices.Contains(params, "patient") {
		return "patient"
	}
	return params[0]
}

// compartmentClauses limit typ to the records of patients: the patients
// themselves, or resources whose patient parameter names one of them.
func (pol *Policy) compartmentClauses(typ string, patients []string) ([]search.Clause, bool, error) {
	if len(patients) == 0 {
		return nil, false, nil
	}
	if typ == "Patient" {
		c, err := pol.clauses(typ, url.Values{"_id": {strings.Join(patients, ",")}})
		return c, err == nil, err
	}
	param := pol.patientParam(typ)
	if param == "" {
		return nil, false, nil
	}
	refs := make([]string, len(patients))
	for i, p := range patients {
		refs[i] = "Patient/" + p
	}
	c, err := pol.clauses(typ, url.Values{param: {strings.Join(refs, ",")}})
	return c, err == nil, err
}

// facilityClauses limit typ to what a facility wrote or was shared with.
func (pol *Policy) facilityClauses(typ, facility string) ([]search.Clause, error) {
	return pol.clauses(typ, url.Values{"_tag": {SystemSourceFacility + "|" + facility + "," + SystemSharedWith + "|" + facility}})
}

// careCache remembers for a while that a patient is in a facility's care.
type careCache struct {
	ttl  time.Duration
	mu   sync.Mutex
	seen map[string]time.Time
}

// inCare reports whether patient is in facility's care: registered there
// (their record written or shared there, or managed by it) or seen there
// (an encounter the facility wrote). Another facility's records of the
// patient are then open to the facility's clinicians for treatment.
func (pol *Policy) inCare(ctx context.Context, rd store.Reader, facility, patient string) (bool, error) {
	key := facility + "\x00" + patient
	pol.care.mu.Lock()
	at, ok := pol.care.seen[key]
	pol.care.mu.Unlock()
	if ok && time.Since(at) < pol.care.ttl {
		return true, nil
	}
	tags := SystemSourceFacility + "|" + facility + "," + SystemSharedWith + "|" + facility
	for _, probe := range []struct {
		typ    string
		values url.Values
	}{
		{"Patient", url.Values{"_id": {patient}, "_tag": {tags}}},
		{"Patient", url.Values{"_id": {patient}, "organization": {"Organization/" + facility}}},
		{"Encounter", url.Values{"patient": {"Patient/" + patient}, "_tag": {tags}}},
	} {
		q, _, err := pol.parser.Parse([]string{probe.typ}, probe.values, true)
		if err != nil {
			return false, err
		}
		q.Count, q.Total = 1, search.TotalNone
		page, err := rd.Search(ctx, q)
		if err != nil {
			return false, fmt.Errorf("auth: care of %s at %s: %w", patient, facility, err)
		}
		if len(page.Resources) > 0 {
			pol.care.mu.Lock()
			if len(pol.care.seen) > 100_000 {
				clear(pol.care.seen)
			}
			pol.care.seen[key] = time.Now()
			pol.care.mu.Unlock()
			return true, nil
		}
	}
	return false, nil
}
