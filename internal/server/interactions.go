package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/jsonpatch"
	"github.com/hip-platform/hip/internal/store"
)

// Interaction names follow the FHIR CapabilityStatement codes; metrics use them too.
const (
	iRead          = "read"
	iVRead         = "vread"
	iUpdate        = "update"
	iPatch         = "patch"
	iDelete        = "delete"
	iHistInstance  = "history-instance"
	iHistType      = "history-type"
	iHistSystem    = "history-system"
	iCreate        = "create"
	iSearchType    = "search-type"
	iSearchSystem  = "search-system"
	iCapabilities  = "capabilities"
	iBatch         = "batch"
	iTransaction   = "transaction"
	iCondUpdate    = "conditional-update"
	iCondDelete    = "conditional-delete"
	iCondPatch     = "conditional-patch"
	iCompartment   = "search-compartment"
	iEverything    = "operation-everything"
	iReindex       = "operation-reindex"
	iUnknownAction = "unknown"
)

// The interactions that a method names on [base]/Type and on [base]/Type/id.
var (
	typeLevel = map[string]string{http.MethodGet: iSearchType, http.MethodPost: iCreate,
		http.MethodPut: iCondUpdate, http.MethodDelete: iCondDelete, http.MethodPatch: iCondPatch}
	instanceLevel = map[string]string{http.MethodGet: iRead, http.MethodPut: iUpdate,
		http.MethodDelete: iDelete, http.MethodPatch: iPatch}
)

// route is what a request's method and path name.
type route struct {
	interaction string
	typ, id     string
	version     int64
	compType    string // the type searched in the compartment typ/id
}

// errMethodNotAllowed lets the HTTP edge answer 405.
var errMethodNotAllowed = errors.New("method not allowed")

func notAllowed(method, path string) error {
	return &fhir.Error{Code: fhir.NotSupported, Err: errMethodNotAllowed,
		Message: fmt.Sprintf("%s is not allowed on %q", method, path)}
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9\-\.]{1,64}$`)

// resolve maps method and path to an interaction, checking the type and id.
func (s *Server) resolve(req *request) (route, error) {
	p := req.path
	m := req.method
	if m == http.MethodHead {
		m = http.MethodGet
	}
	joined := strings.Join(p, "/")
	switch {
	case len(p) == 0:
		switch m {
		case http.MethodGet:
			return route{interaction: iSearchSystem}, nil
		case http.MethodPost:
			return route{interaction: iTransaction}, nil // or batch: decided by the Bundle's type
		}
		return route{}, notAllowed(req.method, joined)
	case len(p) == 1 && p[0] == "metadata":
		if m == http.MethodGet {
			return route{interaction: iCapabilities}, nil
		}
		return route{}, notAllowed(req.method, joined)
	case len(p) == 1 && p[0] == "_history":
		if m == http.MethodGet {
			return route{interaction: iHistSystem}, nil
		}
		return route{}, notAllowed(req.method, joined)
	case len(p) == 1 && p[0] == "_search":
		if m == http.MethodPost {
			return route{interaction: iSearchSystem}, nil
		}
		return route{}, notAllowed(req.method, joined)
	case len(p) == 1 && p[0] == "$reindex":
		if m == http.MethodPost {
			return route{interaction: iReindex}, nil
		}
		return route{}, notAllowed(req.method, joined)
	}
	if r, ok := validateRoute(p); ok && s.defs.IsResourceType(r.typ) {
		if m != http.MethodPost && (m != http.MethodGet || r.id == "") {
			return route{}, notAllowed(req.method, joined)
		}
		if r.id != "" && !idPattern.MatchString(r.id) {
			return route{}, fhir.Errorf(fhir.NotFound, "invalid resource id %q", r.id)
		}
		return r, nil
	}
	if r, ok := terminologyRoute(p); ok {
		if m != http.MethodGet && m != http.MethodPost {
			return route{}, notAllowed(req.method, joined)
		}
		if r.id != "" && !idPattern.MatchString(r.id) {
			return route{}, fhir.Errorf(fhir.NotFound, "invalid resource id %q", r.id)
		}
		return r, nil
	}
	if op := mpiRoute(p, m); op != "" {
		r := route{typ: p[0], interaction: op}
		if len(p) == 3 {
			if !idPattern.MatchString(p[1]) {
				return route{}, fhir.Errorf(fhir.NotFound, "invalid resource id %q", p[1])
			}
			r.id = p[1]
		}
		return r, nil
	}
	typ := p[0]
	if !s.defs.IsResourceType(typ) {
		return route{}, fhir.Errorf(fhir.NotFound, "unknown resource type %q", typ)
	}
	r := route{typ: typ}
	switch len(p) {
	case 1:
		if r.interaction = typeLevel[m]; r.interaction == "" {
			return route{}, notAllowed(req.method, joined)
		}
		return r, nil
	case 2:
		switch {
		case p[1] == "_search" && m == http.MethodPost:
			r.interaction = iSearchType
			return r, nil
		case p[1] == "_history" && m == http.MethodGet:
			r.interaction = iHistType
			return r, nil
		case p[1] == "$reindex" && m == http.MethodPost:
			r.interaction = iReindex
			return r, nil
		case strings.HasPrefix(p[1], "_") || strings.HasPrefix(p[1], "$"):
			return route{}, fhir.Errorf(fhir.NotFound, "unknown path %q", joined)
		}
		if !idPattern.MatchString(p[1]) {
			return route{}, fhir.Errorf(fhir.NotFound, "invalid resource id %q", p[1])
		}
		r.id = p[1]
		if r.interaction = instanceLevel[m]; r.interaction == "" {
			return route{}, notAllowed(req.method, joined)
		}
		return r, nil
	case 3, 4:
		if !idPattern.MatchString(p[1]) {
			return route{}, fhir.Errorf(fhir.NotFound, "invalid resource id %q", p[1])
		}
		switch {
		case len(p) == 3 && p[2] == "$everything" && typ == "Patient":
			if m != http.MethodGet && m != http.MethodPost {
				return route{}, notAllowed(req.method, joined)
			}
			r.id, r.interaction = p[1], iEverything
			return r, nil
		case s.defs.IsResourceType(p[2]) && (len(p) == 3 && m == http.MethodGet || len(p) == 4 && p[3] == "_search" && m == http.MethodPost):
			if s.defs.Compartment(typ) == nil {
				return route{}, fhir.Errorf(fhir.NotFound, "%s is not a compartment", typ)
			}
			r.id, r.compType, r.interaction = p[1], p[2], iCompartment
			return r, nil
		}
		if p[2] != "_history" {
			return route{}, fhir.Errorf(fhir.NotFound, "unknown path %q", joined)
		}
		if m != http.MethodGet {
			return route{}, notAllowed(req.method, joined)
		}
		r.id = p[1]
		if len(p) == 3 {
			r.interaction = iHistInstance
			return r, nil
		}
		v, err := strconv.ParseInt(p[3], 10, 64)
		if err != nil || v < 1 {
			return route{}, fhir.Errorf(fhir.NotFound, "version %q of %s/%s not found", p[3], typ, r.id)
		}
		r.interaction, r.version = iVRead, v
		return r, nil
	}
	return route{}, fhir.Errorf(fhir.NotFound, "unknown path %q", joined)
}

// isWrite tells whether an interaction needs a write transaction.
func isWrite(interaction string) bool {
	switch interaction {
	case iCreate, iUpdate, iPatch, iDelete, iCondUpdate, iCondDelete, iCondPatch:
		return true
	}
	return false
}

// do runs one interaction against rd, writing through tx (nil for read-only).
func (s *Server) do(ctx context.Context, rd store.Reader, tx store.Tx, req *request, rt route) (*response, error) {
	switch rt.interaction {
	case iRead:
		return s.read(ctx, rd, req, rt)
	case iVRead:
		stored, err := rd.VRead(ctx, rt.typ, rt.id, rt.version)
		if err != nil {
			return nil, err
		}
		return &response{status: http.StatusOK, raw: stored.Body, stored: stored}, nil
	case iCreate:
		return s.create(ctx, tx, req, rt.typ, "")
	case iUpdate:
		return s.update(ctx, tx, req, rt.typ, rt.id)
	case iPatch:
		return s.patch(ctx, tx, req, rt.typ, rt.id)
	case iDelete:
		return s.remove(ctx, tx, req, rt.typ, rt.id)
	case iCondUpdate, iCondDelete, iCondPatch:
		return s.conditional(ctx, tx, req, rt)
	case iHistInstance, iHistType, iHistSystem:
		return s.history(ctx, rd, req, rt)
	case iSearchType:
		return s.search(ctx, rd, req, []string{rt.typ})
	case iSearchSystem:
		return s.search(ctx, rd, req, nil)
	case iCompartment:
		return s.compartmentSearch(ctx, rd, req, rt)
	case iEverything:
		return s.everything(ctx, rd, req, rt)
	case iReindex:
		return s.reindex(ctx, req, rt)
	case iCapabilities:
		return &response{status: http.StatusOK, raw: *s.capabilities.Load()}, nil
	}
	return nil, fhir.Errorf(fhir.NotSupported, "interaction %s is not supported here", rt.interaction)
}

func (s *Server) read(ctx context.Context, rd store.Reader, req *request, rt route) (*response, error) {
	stored, err := rd.Read(ctx, rt.typ, rt.id)
	if err != nil {
		return nil, err
	}
	if req.ifNoneMatch != "" {
		if v, err := parseETag(req.ifNoneMatch); err == nil && v == stored.Version {
			return &response{status: http.StatusNotModified, stored: stored}, nil
		}
	}
	if req.ifModSince != "" {
		if t, err := http.ParseTime(req.ifModSince); err == nil && !stored.Updated.Truncate(time.Second).After(t) {
			return &response{status: http.StatusNotModified, stored: stored}, nil
		}
	}
	if req.query.Has("_summary") || req.query.Has("_elements") {
		// A read takes _summary and _elements like a search (http.html#read).
		values := url.Values{"_summary": req.query["_summary"], "_elements": req.query["_elements"]}
		q, _, err := s.parser.Parse([]string{rt.typ}, values, true)
		if err != nil {
			return nil, err
		}
		if q.Summary == search.SummaryCount {
			return nil, fhir.Errorf(fhir.Invalid, "_summary=count applies to searches, not to a read")
		}
		if shaped, ok := s.shape(stored.Body, q).(fhir.Resource); ok {
			return &response{status: http.StatusOK, resource: shaped, stored: stored}, nil
		}
	}
	return &response{status: http.StatusOK, raw: stored.Body, stored: stored}, nil
}

// parseResource decodes and validates the request's resource, of type typ.
func (s *Server) parseResource(ctx context.Context, req *request, typ string) (fhir.Resource, error) {
	if req.resource != nil {
		if req.validated {
			return req.resource, nil
		}
		return req.resource, s.checkResource(ctx, req, req.resource, typ)
	}
	body := req.body
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, fhir.Errorf(fhir.Invalid, "the request has no resource in its body")
	}
	res, err := fhir.Parse(body)
	if err != nil {
		return nil, err
	}
	if err := s.checkResource(ctx, req, res, typ); err != nil {
		return nil, err
	}
	return res, nil
}

// checkResource validates res and that it is of type typ, under the rules
// of the writing facility; findings kept with an accepted resource go to
// req.findings for the response.
func (s *Server) checkResource(ctx context.Context, req *request, res fhir.Resource, typ string) error {
	got, ok := res["resourceType"].(string)
	if !ok {
		return &fhir.Error{Code: fhir.Invalid, Message: "resourceType is missing",
			Issues: []fhir.Issue{{Severity: "error", Code: "required", Diagnostics: "resourceType is missing or not a string", Expression: []string{"resourceType"}}}}
	}
	if got != typ {
		return &fhir.Error{Code: fhir.Invalid, Message: "resourceType does not match the URL",
			Issues: []fhir.Issue{{Severity: "error", Code: "invalid", Diagnostics: fmt.Sprintf("resourceType %q does not match the type %q in the URL", got, typ), Expression: []string{"resourceType"}}}}
	}
	findings, err := s.validator.Write(ctx, s.venv, res, s.cfg.Validation.For(facilityOf(ctx)))
	if err != nil {
		return err
	}
	req.findings = findings
	return s.checkSearchParameter(res)
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// create stores a new resource under id (a new one when id is "").
func (s *Server) create(ctx context.Context, tx store.Tx, req *request, typ, id string) (*response, error) {
	res, err := s.parseResource(ctx, req, typ)
	if err != nil {
		return nil, err
	}
	return s.createResource(ctx, tx, req, res, typ, id)
}

func (s *Server) createResource(ctx context.Context, tx store.Tx, req *request, res fhir.Resource, typ, id string) (*response, error) {
	if req.ifNoneExist != "" {
		// Two conditional creates with the same criteria must not both find nothing.
		if err := tx.Serialize(ctx, "if-none-exist "+typ+"?"+req.ifNoneExist); err != nil {
			return nil, err
		}
		matches, err := s.matchCriteria(ctx, tx, typ, req.ifNoneExist, 2)
		if err != nil {
			return nil, err
		}
		switch len(matches) {
		case 0:
		case 1:
			m := matches[0]
			return &response{status: http.StatusOK, raw: m.Body, stored: &m, location: location(&m)}, nil
		default:
			return nil, fhir.Errorf(fhir.PreconditionFailed, "If-None-Exist %q matches more than one %s", req.ifNoneExist, typ)
		}
	}
	if id == "" {
		id = newID()
	}
	res["id"] = id
	stored, _, err := tx.Put(ctx, res, store.Precondition{IfNoneExist: true})
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusCreated, raw: stored.Body, stored: stored, location: location(stored), created: true}, nil
}

func location(r *store.Resource) string {
	return fmt.Sprintf("%s/%s/_history/%d", r.Type, r.ID, r.Version)
}

func (s *Server) update(ctx context.Context, tx store.Tx, req *request, typ, id string) (*response, error) {
	res, err := s.parseResource(ctx, req, typ)
	if err != nil {
		return nil, err
	}
	bodyID, present := res["id"]
	if !present {
		return nil, &fhir.Error{Code: fhir.Invalid, Message: "the resource has no id",
			Issues: []fhir.Issue{{Severity: "error", Code: "required", Diagnostics: fmt.Sprintf("an update must carry the id %q of the URL in the resource", id), Expression: []string{typ + ".id"}}}}
	}
	if bodyID != id {
		return nil, &fhir.Error{Code: fhir.Invalid, Message: "the resource id does not match the URL",
			Issues: []fhir.Issue{{Severity: "error", Code: "invalid", Diagnostics: fmt.Sprintf("id %v in the resource does not match %q in the URL", bodyID, id), Expression: []string{typ + ".id"}}}}
	}
	return s.put(ctx, tx, req, res, false)
}

// put writes res as the next version, honouring If-Match; createOnly refuses to
// overwrite a resource that exists.
func (s *Server) put(ctx context.Context, tx store.Tx, req *request, res fhir.Resource, createOnly bool) (*response, error) {
	pre, err := req.precondition()
	if err != nil {
		return nil, err
	}
	pre.IfNoneExist = createOnly
	stored, created, err := tx.Put(ctx, res, pre)
	if err != nil {
		return nil, err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return &response{status: status, raw: stored.Body, stored: stored, location: location(stored), created: created}, nil
}

func (s *Server) remove(ctx context.Context, tx store.Tx, req *request, typ, id string) (*response, error) {
	pre, err := req.precondition()
	if err != nil {
		return nil, err
	}
	marker, err := tx.Delete(ctx, typ, id, pre)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusNoContent, stored: marker}, nil
}

func (s *Server) patch(ctx context.Context, tx store.Tx, req *request, typ, id string) (*response, error) {
	current, err := tx.Read(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	pre, err := req.precondition()
	if err != nil {
		return nil, err
	}
	if pre.IfMatch > 0 && pre.IfMatch != current.Version {
		return nil, fhir.Errorf(fhir.PreconditionFailed, "version conflict: %s/%s is at version %d, If-Match names %d", typ, id, current.Version, pre.IfMatch)
	}
	ops, err := jsonpatch.Parse(req.body)
	if err != nil {
		return nil, fhir.Errorf(fhir.Invalid, "%v", err)
	}
	doc, err := fhir.Parse(current.Body)
	if err != nil {
		return nil, fmt.Errorf("server: stored %s/%s is not JSON: %w", typ, id, err)
	}
	patched, err := jsonpatch.Apply(map[string]any(doc), ops)
	if err != nil {
		return nil, fhir.Errorf(fhir.Unprocessable, "%v", err)
	}
	obj, ok := patched.(map[string]any)
	if !ok {
		return nil, fhir.Errorf(fhir.Unprocessable, "the patch does not leave a resource (a JSON object)")
	}
	res := fhir.Resource(obj)
	if res.ID() != id {
		return nil, fhir.Errorf(fhir.Unprocessable, "a patch may not change the resource id")
	}
	if err := s.checkResource(ctx, req, res, typ); err != nil {
		return nil, err
	}
	stored, _, err := tx.Put(ctx, res, store.Precondition{IfMatch: current.Version})
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, raw: stored.Body, stored: stored, location: location(stored)}, nil
}

// conditional runs conditional update, delete and patch: the criteria in the query
// pick the target.
func (s *Server) conditional(ctx context.Context, tx store.Tx, req *request, rt route) (*response, error) {
	// Two conditional updates with the same criteria must not both create.
	if err := tx.Serialize(ctx, "conditional "+rt.typ+"?"+req.query.Encode()); err != nil {
		return nil, err
	}
	matches, err := s.matchQuery(ctx, tx, rt.typ, req.query, 2)
	if err != nil {
		return nil, err
	}
	if len(matches) > 1 {
		return nil, fhir.Errorf(fhir.PreconditionFailed, "the criteria match more than one %s", rt.typ)
	}
	switch rt.interaction {
	case iCondDelete:
		if len(matches) == 0 {
			return &response{status: http.StatusNoContent}, nil
		}
		return s.remove(ctx, tx, req, rt.typ, matches[0].ID)
	case iCondPatch:
		if len(matches) == 0 {
			return nil, fhir.Errorf(fhir.NotFound, "no %s matches the criteria", rt.typ)
		}
		return s.patch(ctx, tx, req, rt.typ, matches[0].ID)
	}
	res, err := s.parseResource(ctx, req, rt.typ)
	if err != nil {
		return nil, err
	}
	bodyID := res.ID()
	if len(matches) == 0 {
		if bodyID != "" {
			// Update as create: the id must not name a resource the criteria missed.
			return s.put(ctx, tx, req, res, true)
		}
		return s.createResource(ctx, tx, &request{}, res, rt.typ, "")
	}
	if bodyID != "" && bodyID != matches[0].ID {
		return nil, fhir.Errorf(fhir.Invalid, "id %q in the resource differs from the matched %s/%s", bodyID, rt.typ, matches[0].ID)
	}
	res["id"] = matches[0].ID
	return s.put(ctx, tx, req, res, false)
}

// matchCriteria runs a conditional search such as "identifier=x" or "Patient?identifier=x".
func (s *Server) matchCriteria(ctx context.Context, rd store.Reader, typ, criteria string, limit int) ([]store.Resource, error) {
	if t, q, ok := strings.Cut(criteria, "?"); ok {
		if t != "" && t != typ {
			return nil, fhir.Errorf(fhir.Invalid, "criteria %q name another type than %s", criteria, typ)
		}
		criteria = q
	}
	values, err := url.ParseQuery(criteria)
	if err != nil {
		return nil, fhir.Errorf(fhir.Invalid, "malformed criteria %q: %v", criteria, err)
	}
	if len(values) == 0 {
		return nil, fhir.Errorf(fhir.Invalid, "empty criteria %q", criteria)
	}
	return s.matchQuery(ctx, rd, typ, values, limit)
}

// matchQuery returns up to limit matches. Conditional interactions are strict: an
// unknown parameter would otherwise widen the match to everything.
func (s *Server) matchQuery(ctx context.Context, rd store.Reader, typ string, values url.Values, limit int) ([]store.Resource, error) {
	q, _, err := s.parseSearch([]string{typ}, values, false, "")
	if err != nil {
		return nil, err
	}
	if len(q.Clauses) == 0 {
		// Result parameters alone (_count, _format…) select every resource.
		return nil, fhir.Errorf(fhir.Invalid, "conditional criteria %q select nothing: name a search parameter", values.Encode())
	}
	q.Count, q.Offset, q.Total = limit, 0, search.TotalNone
	q.Include, q.RevInclude = nil, nil
	page, err := rd.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	return page.Resources, nil
}
