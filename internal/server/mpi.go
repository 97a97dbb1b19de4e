package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hip-platform/hip/internal/empi"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// MPI is the master patient index the server keeps up to date with every
// Patient written through it, and serves: Patient/$match, the review queue
// (Person/$review), Person/$merge and Person/{id}/$unmerge.
type MPI interface {
	Update(ctx context.Context, patient fhir.Resource) (*empi.Outcome, error)
	Remove(ctx context.Context, patient string) error
	Match(ctx context.Context, patient fhir.Resource, count int, onlyCertain bool) ([]empi.Match, error)
	Reviews(ctx context.Context, limit int) ([]empi.ReviewItem, error)
	Decide(ctx context.Context, a, b string, link bool, by string) error
	Merge(ctx context.Context, from, into, by string) error
	Unmerge(ctx context.Context, person string, patients []string, by string) (string, error)
}

// Operations of the master patient index.
const (
	iMatch   = "operation-match"
	iReview  = "operation-review"
	iMerge   = "operation-merge"
	iUnmerge = "operation-unmerge"
)

// mpiOperations are the index's operations in the CapabilityStatement, by
// resource type. The Person operations are HIP's own (docs/empi.md).
var mpiOperations = map[string][]any{
	"Patient": {map[string]any{"name": "match", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-match"}},
	"Person": {
		map[string]any{"name": "review", "definition": fhir.NS + "OperationDefinition/Person-review"},
		map[string]any{"name": "merge", "definition": fhir.NS + "OperationDefinition/Person-merge"},
		map[string]any{"name": "unmerge", "definition": fhir.NS + "OperationDefinition/Person-unmerge"},
	},
}

// mpiRoute resolves the index's operation paths, "" when p is none of them.
func mpiRoute(p []string, method string) string {
	switch {
	case len(p) == 2 && p[0] == "Patient" && p[1] == "$match" && method == http.MethodPost:
		return iMatch
	case len(p) == 2 && p[0] == "Person" && p[1] == "$review" && (method == http.MethodGet || method == http.MethodPost):
		return iReview
	case len(p) == 2 && p[0] == "Person" && p[1] == "$merge" && method == http.MethodPost:
		return iMerge
	case len(p) == 3 && p[0] == "Person" && p[2] == "$unmerge" && method == http.MethodPost:
		return iUnmerge
	}
	return ""
}

// indexPatients brings the index up to date with committed writes of
// Patients. The write stands whatever happens here: a failure is logged,
// and `hip empi relink` (or the Patient's next write) repairs the index.
func (s *Server) indexPatients(ctx context.Context, stored ...*store.Resource) {
	if s.cfg.MPI == nil {
		return
	}
	for _, r := range stored {
		if r == nil || r.Type != "Patient" {
			continue
		}
		var err error
		if r.Deleted {
			err = s.cfg.MPI.Remove(ctx, r.ID)
		} else {
			var res fhir.Resource
			if res, err = fhir.Parse(r.Body); err == nil {
				var out *empi.Outcome
				if out, err = s.cfg.MPI.Update(ctx, res); err == nil {
					s.log.Debug("empi: linked", "patient", r.ID, "person", out.Person, "new", out.NewPerson, "reviews", len(out.Reviews))
				}
			}
		}
		if err != nil {
			s.log.Error("empi: index patient", "patient", r.ID, "err", err)
		}
	}
}

// committed runs what follows a committed write: custom SearchParameters
// take effect, Patients are linked.
func (s *Server) committed(ctx context.Context, stored ...*store.Resource) {
	s.registerSearchParameters(stored...)
	s.forgetDefinitions(stored...)
	s.indexPatients(ctx, stored...)
}

// forgetDefinitions drops what validation remembers of profiles and value
// sets that were just written, so the next write is checked against them.
func (s *Server) forgetDefinitions(stored ...*store.Resource) {
	for _, r := range stored {
		if r == nil {
			continue
		}
		switch r.Type {
		case "StructureDefinition":
			if res, err := fhir.Parse(r.Body); err == nil {
				if u, ok := res["url"].(string); ok {
					s.validator.Forget(u)
				}
			}
		case "CodeSystem", "ValueSet":
			s.terms.Forget()
		}
	}
}

// mpiOperation serves the index's operations; who may call which is decided
// before (serve).
func (s *Server) mpiOperation(ctx context.Context, rd store.Reader, req *request, rt route, agent string) (*response, error) {
	if s.cfg.MPI == nil {
		return nil, fhir.Errorf(fhir.NotSupported, "this server runs without a master patient index")
	}
	params, err := parametersOf(req)
	if err != nil {
		return nil, err
	}
	switch rt.interaction {
	case iMatch:
		return s.match(ctx, rd, req, params)
	case iReview:
		if req.method == http.MethodGet {
			return s.reviewQueue(ctx, req)
		}
		a, b := params.ref("a", "Patient"), params.ref("b", "Patient")
		decision := params.str("decision")
		if a == "" || b == "" || decision != "link" && decision != "apart" {
			return nil, fhir.Errorf(fhir.Invalid, "$review takes a and b (references to Patients) and decision (link or apart)")
		}
		if err := s.cfg.MPI.Decide(ctx, a, b, decision == "link", agent); err != nil {
			return nil, err
		}
		return informational(fmt.Sprintf("Patient/%s and Patient/%s decided %s", a, b, decision)), nil
	case iMerge:
		from, into := params.ref("source", "Person"), params.ref("target", "Person")
		if from == "" || into == "" {
			return nil, fhir.Errorf(fhir.Invalid, "$merge takes source and target, references to Persons")
		}
		if err := s.cfg.MPI.Merge(ctx, from, into, agent); err != nil {
			return nil, err
		}
		return informational(fmt.Sprintf("Person/%s merged into Person/%s", from, into)), nil
	case iUnmerge:
		var patients []string
		for _, p := range params.all("patient") {
			if id, ok := refID(p.reference(), "Patient"); ok {
				patients = append(patients, id)
			}
		}
		if len(patients) == 0 {
			return nil, fhir.Errorf(fhir.Invalid, "$unmerge takes one or more patient parameters, references to the Patients to move out")
		}
		created, err := s.cfg.MPI.Unmerge(ctx, rt.id, patients, agent)
		if err != nil {
			return nil, err
		}
		stored, err := s.store.Read(ctx, "Person", created)
		if err != nil {
			return nil, err
		}
		return &response{status: http.StatusOK, raw: stored.Body, stored: stored}, nil
	}
	return nil, fhir.Errorf(fhir.NotSupported, "interaction %s is not supported here", rt.interaction)
}

// match answers Patient/$match (http://hl7.org/fhir/R4/patient-operation-match.html):
// the indexed Patients the one given may be, best first, each with its
// score and match grade; Patients the caller may not see are left out.
func (s *Server) match(ctx context.Context, rd store.Reader, req *request, params parameters) (*response, error) {
	res := params.resource("resource")
	if res == nil || res.Type() != "Patient" {
		return nil, fhir.Errorf(fhir.Invalid, "$match takes a resource parameter holding a Patient")
	}
	count := 0
	if c := params.value("count"); c != nil {
		n, err := strconv.Atoi(fmt.Sprint(c))
		if err != nil || n < 1 {
			return nil, fhir.Errorf(fhir.Invalid, "$match count must be a positive integer")
		}
		count = n
	}
	onlyCertain, _ := params.value("onlyCertainMatches").(bool)
	matches, err := s.cfg.MPI.Match(ctx, res, 0, onlyCertain)
	if err != nil {
		return nil, err
	}
	entries := []any{}
	for _, m := range matches {
		if count > 0 && len(entries) == count {
			break
		}
		stored, err := rd.Read(ctx, "Patient", m.Patient)
		if fhir.ErrorCode(err) == fhir.NotFound || fhir.ErrorCode(err) == fhir.Gone {
			continue // hidden from the caller, or deleted since it was indexed
		}
		if err != nil {
			return nil, err
		}
		entries = append(entries, map[string]any{
			"fullUrl":  req.base + "/Patient/" + m.Patient,
			"resource": json.RawMessage(stored.Body),
			"search": map[string]any{
				"mode":  "match",
				"score": m.Probability,
				"extension": []any{map[string]any{
					"url":       "http://hl7.org/fhir/StructureDefinition/match-grade",
					"valueCode": m.Grade,
				}},
			},
		})
	}
	bundle := fhir.Resource{"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
	return &response{status: http.StatusOK, resource: bundle}, nil
}

// reviewQueue lists the pairs waiting for review as a Parameters resource:
// one pair parameter each, with the two Patients, their persons, the match
// probability and the evidence comparison by comparison.
func (s *Server) reviewQueue(ctx context.Context, req *request) (*response, error) {
	limit := 100
	if c := req.query.Get("_count"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			return nil, fhir.Errorf(fhir.Invalid, "_count must be a positive integer")
		}
		limit = min(n, 1000)
	}
	items, err := s.cfg.MPI.Reviews(ctx, limit)
	if err != nil {
		return nil, err
	}
	pairs := []any{}
	for _, it := range items {
		parts := []any{
			refPart("a", "Patient/"+it.A), refPart("b", "Patient/"+it.B),
			refPart("personA", "Person/"+it.PersonA), refPart("personB", "Person/"+it.PersonB),
			map[string]any{"name": "probability", "valueDecimal": it.Probability},
		}
		for _, e := range it.Evidence {
			ev := []any{map[string]any{"name": "comparison", "valueString": e.Comparison}}
			if e.Level != "" {
				ev = append(ev, map[string]any{"name": "level", "valueString": e.Level})
			}
			if e.A != "" {
				ev = append(ev, map[string]any{"name": "a", "valueString": e.A})
			}
			if e.B != "" {
				ev = append(ev, map[string]any{"name": "b", "valueString": e.B})
			}
			ev = append(ev, map[string]any{"name": "weight", "valueDecimal": e.Weight})
			parts = append(parts, map[string]any{"name": "evidence", "part": ev})
		}
		pairs = append(pairs, map[string]any{"name": "pair", "part": parts})
	}
	return &response{status: http.StatusOK, resource: fhir.Resource{"resourceType": "Parameters", "parameter": pairs}}, nil
}

func refPart(name, ref string) map[string]any {
	return map[string]any{"name": name, "valueReference": map[string]any{"reference": ref}}
}

func informational(msg string) *response {
	return &response{status: http.StatusOK, resource: fhir.OperationOutcome(fhir.Issue{Severity: "information", Code: "informational", Diagnostics: msg})}
}

// parameters is the parameter list of a Parameters resource.
type parameters []map[string]any

// parametersOf reads the request's body as a Parameters resource (none for
// a GET).
func parametersOf(req *request) (parameters, error) {
	if req.method == http.MethodGet || len(req.body) == 0 && req.resource == nil {
		return nil, nil
	}
	res := req.resource
	if res == nil {
		var err error
		if res, err = fhir.Parse(req.body); err != nil {
			return nil, fhir.Errorf(fhir.Invalid, "the body is not a FHIR resource: %v", err)
		}
	}
	if res.Type() != "Parameters" {
		return nil, fhir.Errorf(fhir.Invalid, "the operation takes a Parameters resource, not %s", res.Type())
	}
	list, _ := res["parameter"].([]any)
	out := make(parameters, 0, len(list))
	for _, x := range list {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out, nil
}

func (ps parameters) all(name string) []param {
	var out []param
	for _, p := range ps {
		if n, _ := p["name"].(string); n == name {
			out = append(out, param(p))
		}
	}
	return out
}

// value returns the value[x] of the first parameter name.
func (ps parameters) value(name string) any {
	for _, p := range ps.all(name) {
		for k, v := range p {
			if strings.HasPrefix(k, "value") {
				return v
			}
		}
	}
	return nil
}

func (ps parameters) str(name string) string {
	s, _ := ps.value(name).(string)
	return s
}

func (ps parameters) resource(name string) fhir.Resource {
	for _, p := range ps.all(name) {
		if r, ok := p["resource"].(map[string]any); ok {
			return fhir.Resource(r)
		}
	}
	return nil
}

// ref returns the id of the first parameter name referring to typ.
func (ps parameters) ref(name, typ string) string {
	for _, p := range ps.all(name) {
		if id, ok := refID(p.reference(), typ); ok {
			return id
		}
	}
	return ""
}

type param map[string]any

func (p param) reference() string {
	if r, ok := p["valueReference"].(map[string]any); ok {
		s, _ := r["reference"].(string)
		return s
	}
	s, _ := p["valueString"].(string)
	return s
}

// refID reads "Type/id" (or a bare id) as an id of typ.
func refID(ref, typ string) (string, bool) {
	id, ok := strings.CutPrefix(ref, typ+"/")
	if !ok {
		if strings.Contains(ref, "/") || ref == "" {
			return "", false
		}
		id = ref
	}
	return id, idPattern.MatchString(id)
}
