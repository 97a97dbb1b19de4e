package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/audit"
	"github.com/hip-platform/hip/internal/auth"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// Security is the server's authentication, authorisation and audit. A nil
// Security serves every request unauthenticated: only for tests and for
// an operator who asks for it by name (hip serve --insecure-no-auth).
type Security struct {
	Authenticator auth.Authenticator
	Policy        *auth.Policy
	Trail         *audit.Trail
	// SMART is the SMART configuration served at
	// [base]/.well-known/smart-configuration (the identity provider's).
	SMART map[string]any
	// Rate and Burst bound each principal's requests per second (0:
	// unlimited), so that one client cannot starve the others.
	Rate  float64
	Burst int
}

// Request headers a client states its purpose with.
const (
	headerPurpose = "X-Purpose-Of-Use"
	headerReason  = "X-Break-Glass-Reason"
)

// isPublic tells the requests served without a token: what a client needs
// to learn how to authenticate.
func isPublic(rt route, req *request) bool {
	return rt.interaction == iCapabilities || isSMARTConfig(req)
}

func isSMARTConfig(req *request) bool {
	return len(req.path) == 2 && req.path[0] == ".well-known" && req.path[1] == "smart-configuration"
}

// authenticate reads the bearer token. Every failure is the same 401 to the
// client; the reason goes to the log.
func (s *Server) authenticate(r *http.Request, rid string) (*auth.Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return nil, fhir.Errorf(fhir.Unauthorized, "an access token is required (Authorization: Bearer …)")
	}
	p, err := s.cfg.Security.Authenticator.Authenticate(r.Context(), strings.TrimSpace(token))
	if err != nil {
		s.log.Info("token refused", "id", rid, "ip", peerAddress(r), "err", err)
		return nil, fhir.Errorf(fhir.Unauthorized, "the access token is invalid or expired")
	}
	return p, nil
}

// peerAddress is the address the request came from.
func peerAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// sessionRequest gathers what the policy needs to know of a request besides
// its token.
func sessionRequest(r *http.Request, req *request, rt route) auth.Request {
	reason := r.Header.Get(headerReason)
	if u, err := url.PathUnescape(reason); err == nil {
		reason = u // a reason in Chinese may come percent-encoded
	}
	return auth.Request{
		Purpose: strings.ToUpper(strings.TrimSpace(r.Header.Get(headerPurpose))),
		Reason:  reason,
		Patient: focusPatient(rt, req),
	}
}

// focusPatient is the one patient a request is about, when it names one:
// in its path (Patient/123, Patient/123/Observation, Patient/123/$everything)
// or as the only value of a search's patient, subject or Patient _id.
func focusPatient(rt route, req *request) string {
	if rt.typ == "Patient" && rt.id != "" {
		return rt.id
	}
	if rt.interaction != iSearchType {
		return ""
	}
	names := []string{"patient", "subject", "subject:Patient"}
	if rt.typ == "Patient" {
		names = []string{"_id"}
	}
	found := ""
	for _, name := range names {
		for _, v := range req.query[name] {
			if strings.Contains(v, ",") || found != "" {
				return "" // several patients: none is the focus
			}
			id := strings.TrimPrefix(v, "Patient/")
			if name == "subject" && !strings.HasPrefix(v, "Patient/") || !idPattern.MatchString(id) {
				return ""
			}
			found = id
		}
	}
	return found
}

// audited tells whether a request leaves an audit record: everything that
// touched a patient's data, and every attempt on patient data, refused or
// not. Reading the directory (facilities, staff, definitions) does not.
func audited(rt route, sess *auth.Session, status int) bool {
	_, patients := sess.Touched()
	if len(patients) > 0 {
		return true
	}
	if rt.typ == "" || rt.interaction == iTransaction {
		return status >= 400 || rt.interaction == iTransaction || rt.interaction == iSearchSystem
	}
	typ := rt.typ
	if rt.compType != "" {
		typ = rt.compType
	}
	return !auth.IsDirectory(typ) || rt.typ == "Patient"
}

// record writes the request's audit record; the response waits for it.
func (s *Server) record(ctx context.Context, r *http.Request, rid string, rt route, req *request, sess *auth.Session, status int) error {
	if !audited(rt, sess, status) {
		return nil
	}
	p := sess.Principal()
	sr := sess.Request()
	resources, patients := sess.Touched()
	rec := &audit.Record{
		Agent: p.Subject, Client: p.Client, Name: p.Name, Role: string(p.Role), Facility: p.Facility,
		Interaction: rt.interaction, Action: audit.Action(rt.interaction), Type: rt.typ,
		Patients: patients, Resources: resources, Purpose: sr.Purpose, Status: status,
		Address: peerAddress(r), RequestID: rid,
	}
	if rt.compType != "" {
		rec.Type = rt.typ + "/" + rt.id + "/" + rt.compType
	}
	if sess.BrokeGlass() {
		rec.BreakGlass = sr.Reason
	}
	if strings.HasPrefix(rt.interaction, "search") || rt.interaction == iEverything {
		rec.Query = req.query.Encode()
	}
	if len(rec.Query) > 4096 {
		rec.Query = rec.Query[:4096]
	}
	if err := s.cfg.Security.Trail.Record(ctx, rec); err != nil {
		return fhir.Errorf(fhir.Unavailable, "the audit trail cannot be written: requests are refused until it can (%v)", err)
	}
	return nil
}

// visiblePatients are the patients of an audit entry its reader sees.
func visiblePatients(patients, only []string) []string {
	if only == nil {
		return patients
	}
	return slices.DeleteFunc(slices.Clone(patients), func(p string) bool { return !slices.Contains(only, p) })
}

// smartConfiguration answers [base]/.well-known/smart-configuration.
func (s *Server) smartConfiguration() (*response, error) {
	if s.cfg.Security == nil || s.cfg.Security.SMART == nil {
		return nil, fhir.Errorf(fhir.NotFound, "this server does not use SMART authorization")
	}
	body, err := json.Marshal(s.cfg.Security.SMART)
	if err != nil {
		return nil, err
	}
	return &response{status: http.StatusOK, raw: body, contentType: "application/json"}, nil
}

// auditEvents serves AuditEvent reads and searches from the audit trail:
// administrators see all of it, regulators with a stated purpose too, a
// resident the records of their own patients ("who saw my record").
// AuditEvents are written by the platform alone.
func (s *Server) auditEvents(ctx context.Context, req *request, rt route, sess *auth.Session) (*response, error) {
	if rt.interaction != iRead && rt.interaction != iSearchType {
		return nil, fhir.Errorf(fhir.Forbidden, "AuditEvent resources are written by the platform alone and are read or searched only")
	}
	scope, err := sess.AuditScope()
	if err != nil {
		return nil, err
	}
	// Records are handed to the trail and committed a moment later: a
	// reader sees every request answered before it asked.
	if err := s.cfg.Security.Trail.Sync(ctx); err != nil {
		return nil, err
	}
	if rt.interaction == iRead {
		seq, err := strconv.ParseInt(rt.id, 10, 64)
		if err != nil || seq < 1 {
			return nil, fhir.Errorf(fhir.NotFound, "AuditEvent/%s not found", rt.id)
		}
		var found *store.AuditEntry
		err = s.store.ScanAudit(ctx, store.AuditQuery{After: seq - 1, Before: seq + 1}, func(e *store.AuditEntry) error {
			found = e
			return nil
		})
		if err != nil {
			return nil, err
		}
		if found == nil || !scope.Allows(found) {
			return nil, fhir.Errorf(fhir.NotFound, "AuditEvent/%s not found", rt.id)
		}
		ev, err := audit.EventFor(found, scope.Only())
		if err != nil {
			return nil, err
		}
		sess.TouchPatients(visiblePatients(found.Patients, scope.Only()))
		return &response{status: http.StatusOK, resource: ev}, nil
	}
	q := store.AuditQuery{Descending: true, Limit: 50}
	for name, vals := range req.query {
		v := vals[len(vals)-1]
		switch name {
		case "patient", "entity":
			if !strings.HasPrefix(v, "Patient/") {
				v = "Patient/" + v
			}
			q.Patient = v
		case "agent", "agent-name":
			q.Agent = v
		case "date":
			for _, d := range vals {
				prefix, value := d[:min(2, len(d))], d[min(2, len(d)):]
				t, err := time.Parse(time.RFC3339, value)
				if err != nil {
					if t, err = time.ParseInLocation("2006-01-02", value, s.cfg.Location); err != nil {
						return nil, fhir.Errorf(fhir.Invalid, "date %q: use ge or lt with a date or instant", d)
					}
				}
				switch prefix {
				case "ge", "gt":
					q.Since = t
				case "lt", "le":
					q.Until = t
				default:
					return nil, fhir.Errorf(fhir.Invalid, "date %q: use ge or lt with a date or instant", d)
				}
			}
		case "_count":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, fhir.Errorf(fhir.Invalid, "_count %q", v)
			}
			q.Limit = min(n, 1000)
		case "_before":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 {
				return nil, fhir.Errorf(fhir.Invalid, "_before %q", v)
			}
			q.Before = n
		case "_format", "_pretty":
		default:
			return nil, fhir.Errorf(fhir.Invalid, "AuditEvent searches take patient, agent, date, _count and _before; not %q", name)
		}
	}
	q, err = scope.Limit(q)
	if err != nil {
		return nil, err
	}
	var entries []any
	var last int64
	n := 0
	err = s.store.ScanAudit(ctx, q, func(e *store.AuditEntry) error {
		ev, err := audit.EventFor(e, scope.Only())
		if err != nil {
			return err
		}
		sess.TouchPatients(visiblePatients(e.Patients, scope.Only()))
		entries = append(entries, map[string]any{"fullUrl": req.base + "/AuditEvent/" + ev.ID(), "resource": ev,
			"search": map[string]any{"mode": "match"}})
		last = e.Seq
		n++
		return nil
	})
	if err != nil {
		return nil, err
	}
	self := url.Values{}
	for k, v := range req.query {
		if k != "_format" && k != "_pretty" {
			self[k] = v
		}
	}
	links := []any{link("self", req.base+"/AuditEvent", self)}
	if n == q.Limit && last > 1 {
		next := url.Values{}
		for k, v := range self {
			next[k] = v
		}
		next.Set("_before", strconv.FormatInt(last, 10))
		links = append(links, link("next", req.base+"/AuditEvent", next))
	}
	bundle := fhir.Resource{"resourceType": "Bundle", "id": newID(), "type": "searchset", "link": links,
		"meta": map[string]any{"lastUpdated": fhir.FormatInstant(time.Now())}}
	if entries != nil {
		bundle["entry"] = entries
	}
	return &response{status: http.StatusOK, resource: bundle}, nil
}
