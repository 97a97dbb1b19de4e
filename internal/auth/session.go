package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

// Request is what a request states besides its token.
type Request struct {
	Purpose string // purpose of use (X-Purpose-Of-Use)
	Reason  string // why the glass is broken (X-Break-Glass-Reason), with ETREAT
	// Patient is the one patient the request is about, when its path or
	// query names one (Patient/123, Patient/123/$everything,
	// Observation?patient=123): treatment opens that patient's records.
	Patient string
}

// maxReason bounds a break-the-glass reason.
const maxReason = 500

// Session applies the policy to one request. Its Reader and Tx check every
// store call the request makes and limit every search; it records which
// resources and patients the request touched, for the audit.
type Session struct {
	pol *Policy
	p   *Principal
	req Request
	// treating: the request's patient was opened for treatment (in the
	// facility's care, or by breaking the glass).
	treating   bool
	breakGlass bool
	// deidentified: a regulator without a stated purpose reads patient data
	// without what names a person (deidentify.go).
	deidentified bool
	// denials are the residents' consents the principal's facility is bound
	// by; nil when none binds it (no facility, or the glass is broken).
	denials     []denial
	denialsRead time.Time // when the consents in denials were read

	trace *trace // shared by the sessions of one request's batch entries

	accessMu sync.Mutex
	access   map[Perm]*search.Access
}

// trace is what a request did, for its one audit record.
type trace struct {
	mu             sync.Mutex
	resources      []string
	patients       map[string]bool
	brokeGlass     bool // an entry of a batch broke the glass
	consentChanged bool
}

// Session starts applying the policy to a request by p. rd reads what the
// decision needs (whether the request's patient is in the facility's care).
func (pol *Policy) Session(ctx context.Context, rd store.Reader, p *Principal, req Request) (*Session, error) {
	s := &Session{pol: pol, p: p, req: req, trace: &trace{patients: map[string]bool{}}, access: map[Perm]*search.Access{}}
	switch {
	case req.Purpose == "":
	case !ValidPurpose(req.Purpose):
		return nil, fhir.Errorf(fhir.Invalid, "unknown purpose of use %q", req.Purpose)
	case req.Purpose == PurposeTreatment || req.Purpose == PurposeEmergency:
		if p.Role != RoleClinician && p.Role != RoleFacility && p.Role != RoleAdmin {
			return nil, fhir.Errorf(fhir.Forbidden, "purpose of use %s is for clinicians and facility systems", req.Purpose)
		}
	default:
		if p.Role != RoleRegulator && p.Role != RoleAdmin {
			return nil, fhir.Errorf(fhir.Forbidden, "purpose of use %s is for regulators", req.Purpose)
		}
	}
	if req.Purpose == PurposeEmergency {
		reason := strings.TrimSpace(req.Reason)
		if reason == "" || len(reason) > maxReason || !utf8.ValidString(reason) {
			return nil, fhir.Errorf(fhir.Invalid, "breaking the glass (purpose ETREAT) needs a reason in X-Break-Glass-Reason, at most %d bytes", maxReason)
		}
		s.req.Reason = reason
	}
	if (p.Role == RoleClinician || p.Role == RoleFacility) && req.Patient != "" {
		switch req.Purpose {
		case PurposeEmergency:
			s.treating, s.breakGlass = true, true
		case PurposeTreatment:
			ok, err := pol.inCare(ctx, rd, p.Facility, req.Patient)
			if err != nil {
				return nil, err
			}
			s.treating = ok
		}
	}
	s.deidentified = p.Role == RoleRegulator && !slices.Contains(regulatorPurposes, req.Purpose)
	if p.Facility != "" && (p.Role == RoleClinician || p.Role == RoleFacility || p.Role == RolePharmacist) && !s.breakGlass {
		d, read, err := pol.denials(ctx, rd)
		if err != nil {
			return nil, err
		}
		s.denials, s.denialsRead = d, read
	}
	return s, nil
}

// Principal is who the session acts for.
func (s *Session) Principal() *Principal { return s.p }

// Request is what the request stated.
func (s *Session) Request() Request { return s.req }

// BrokeGlass reports whether the request (or one of its batch entries)
// opened a patient by breaking the glass.
func (s *Session) BrokeGlass() bool {
	s.trace.mu.Lock()
	defer s.trace.mu.Unlock()
	return s.breakGlass || s.trace.brokeGlass
}

// Focus returns the session of one entry of a batch that is about patient
// (its path or search names them): the same principal, purpose and audit
// record, with treatment decided for that patient, as for a request of its own.
func (s *Session) Focus(ctx context.Context, rd store.Reader, patient string) (*Session, error) {
	if patient == s.req.Patient {
		return s, nil
	}
	req := s.req
	req.Patient = patient
	f, err := s.pol.Session(ctx, rd, s.p, req)
	if err != nil {
		return nil, err
	}
	f.trace = s.trace
	if f.breakGlass {
		s.trace.mu.Lock()
		s.trace.brokeGlass = true
		s.trace.mu.Unlock()
	}
	return f, nil
}

// Touched returns the resources (Type/id) and patients (Patient/id) the
// request read or wrote, each once, in the order met.
func (s *Session) Touched() (resources, patients []string) {
	s.trace.mu.Lock()
	defer s.trace.mu.Unlock()
	return slices.Clone(s.trace.resources), slices.Sorted(maps.Keys(s.trace.patients))
}

// touch records a resource the request read or wrote and its patients.
func (s *Session) touch(res *store.Resource) {
	patients := patientRefs(res.Type, res.ID, res.Body)
	t := s.trace
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.resources) < maxTouched {
		t.resources = append(t.resources, res.Type+"/"+res.ID)
	}
	for _, p := range patients {
		t.patients[p] = true
	}
}

// maxTouched bounds the resource ids one audit record lists; patients are
// always listed in full.
const maxTouched = 1000

// patientRefs returns the patients (Patient/id) a stored resource is about:
// itself for a Patient, else every patient it refers to. The stored JSON is
// compact (the store writes it), so references are found by scanning its
// bytes, without decoding it: the audit reads every resource a request
// returns. A resource referring to a patient outside its Patient
// compartment (Observation.focus) tells about them too, and is counted.
func patientRefs(typ, id string, body []byte) []string {
	if typ == "Patient" {
		return []string{"Patient/" + id}
	}
	const marker = `"reference":"`
	var out []string
	for rest := body; ; {
		i := bytes.Index(rest, []byte(marker))
		if i < 0 {
			break
		}
		rest = rest[i+len(marker):]
		j := bytes.IndexByte(rest, '"')
		if j < 0 {
			break
		}
		ref := rest[:j]
		rest = rest[j:]
		k := bytes.LastIndex(ref, []byte("Patient/"))
		if k < 0 || k > 0 && ref[k-1] != '/' {
			continue
		}
		pid := ref[k+len("Patient/"):]
		if m := bytes.IndexByte(pid, '/'); m >= 0 {
			pid = pid[:m] // …/_history/2
		}
		if p := "Patient/" + string(pid); validID(pid) && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// validID reports whether b is a FHIR id.
func validID(b []byte) bool {
	if len(b) == 0 || len(b) > 64 {
		return false
	}
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// limits returns the clauses a resource of typ must meet for perm, and
// false when the principal may not do perm on typ at all.
func (s *Session) limits(typ string, perm Perm) ([]search.Clause, bool, error) {
	grants := s.p.Scopes.Grants(typ, perm)
	var best []search.Clause
	found := false
	for _, g := range grants {
		clauses, ok, err := s.scopeLimits(typ, perm, g)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			continue
		}
		if !found || len(clauses) == 0 {
			best, found = clauses, true
		}
		if len(clauses) == 0 {
			break // one scope opens the type fully
		}
	}
	if !found || len(s.denials) == 0 || IsDirectory(typ) {
		return best, found, nil
	}
	withheld, err := s.pol.consentClauses(s.denials, typ, s.p.Facility)
	if err != nil {
		return nil, false, err
	}
	return append(slices.Clone(best), withheld...), true, nil
}

// scopeLimits are the limits one granting scope gives.
func (s *Session) scopeLimits(typ string, perm Perm, g ResourceScope) ([]search.Clause, bool, error) {
	var clauses []search.Clause
	ok := true
	var err error
	switch {
	case IsDirectory(typ):
	case g.Context == ContextPatient:
		clauses, ok, err = s.pol.compartmentClauses(typ, s.p.Patients)
	default:
		clauses, ok, err = s.roleLimits(typ, perm)
	}
	if err != nil || !ok {
		return nil, false, err
	}
	if len(g.Query) > 0 {
		extra, err := s.pol.clauses(typ, g.Query)
		if err != nil {
			return nil, false, err
		}
		clauses = append(slices.Clone(clauses), extra...)
	}
	return clauses, true, nil
}

// roleLimits are the limits of the principal's role on patient data.
func (s *Session) roleLimits(typ string, perm Perm) ([]search.Clause, bool, error) {
	switch s.p.Role {
	case RoleAdmin:
		return nil, true, nil
	case RoleRegulator:
		// Everything; without a stated purpose de-identified (the reader
		// rewrites what it returns).
		return nil, true, nil
	case RoleClinician, RoleFacility:
		if s.treating {
			return s.pol.compartmentClauses(typ, []string{s.req.Patient})
		}
		c, err := s.pol.facilityClauses(typ, s.p.Facility)
		return c, err == nil, err
	case RolePharmacist:
		if !slices.Contains(pharmacistTypes, typ) {
			return nil, false, nil
		}
		c, err := s.pol.facilityClauses(typ, s.p.Facility)
		return c, err == nil, err
	case RoleResident:
		return s.pol.compartmentClauses(typ, s.p.Patients)
	}
	return nil, false, nil
}

// searchAccess is the Access of the request's searches: every type the
// principal may read, under its limits.
func (s *Session) searchAccess() (*search.Access, error) {
	s.accessMu.Lock()
	a := s.access[PermRead]
	s.accessMu.Unlock()
	if a != nil {
		return a, nil
	}
	key := s.accessKey()
	if a = s.pol.accesses.get(key); a != nil {
		s.accessMu.Lock()
		s.access[PermRead] = a
		s.accessMu.Unlock()
		return a, nil
	}
	a = &search.Access{Types: map[string][]search.Clause{}}
	for _, t := range s.pol.types {
		clauses, ok, err := s.limits(t, PermRead)
		if err != nil {
			return nil, err
		}
		if ok {
			a.Types[t] = clauses
		}
	}
	s.accessMu.Lock()
	s.access[PermRead] = a
	s.accessMu.Unlock()
	s.pol.accesses.put(key, a)
	return a, nil
}

// accessKey is everything the read limits of a session depend on.
func (s *Session) accessKey() string {
	p := s.p
	return strings.Join([]string{p.Subject, p.Client, string(p.Role), p.Facility, strings.Join(p.Patients, ","),
		p.Scopes.String(), s.req.Purpose, s.req.Patient, fmt.Sprint(s.treating, s.breakGlass, s.deidentified, s.denialsRead.UnixNano())}, "\x00")
}

// accessCache keeps the read limits of recent sessions: building them reads
// every resource type's limits, which a principal's requests share.
type accessCache struct {
	mu      sync.Mutex
	entries map[string]accessEntry
}

type accessEntry struct {
	access *search.Access
	at     time.Time
}

// accessTTL bounds how long limits are reused: the care relationships they
// hold are read again after it.
const accessTTL = 10 * time.Second

func (c *accessCache) get(key string) *search.Access {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok && time.Since(e.at) < accessTTL {
		return e.access
	}
	return nil
}

func (c *accessCache) put(key string, a *search.Access) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= 10_000 {
		c.entries = map[string]accessEntry{}
	}
	c.entries[key] = accessEntry{access: a, at: time.Now()}
}

// forbidden is the refusal of a whole kind of interaction, which tells
// nothing about any one resource.
func forbidden(format string, args ...any) error {
	return fhir.Errorf(fhir.Forbidden, format, args...)
}

// notFound answers for a resource the principal may not see exactly as for
// one that does not exist.
func notFound(typ, id string) error {
	return fhir.Errorf(fhir.NotFound, "%s/%s not found", typ, id)
}

// matches reports whether a stored resource meets clauses: checked in Go
// for the kinds the policy writes (ids, tokens, references), else by a
// search for the resource's id under the clauses.
func (s *Session) matches(ctx context.Context, rd store.Reader, res *store.Resource, body fhir.Resource, clauses []search.Clause) (bool, error) {
	if ok, known := s.pol.matchInGo(res.ID, body, clauses); known {
		return ok, nil
	}
	values := url.Values{"_id": {res.ID}}
	q, _, err := s.pol.parser.Parse([]string{res.Type}, values, true)
	if err != nil {
		return false, err
	}
	q.Clauses = append(q.Clauses, clauses...)
	q.Count, q.Total = 1, search.TotalNone
	page, err := rd.Search(ctx, q)
	if err != nil {
		return false, err
	}
	return len(page.Resources) == 1, nil
}

// matchInGo evaluates clauses of _id, token and reference parameters on a
// resource; known is false when a clause is of another kind.
func (pol *Policy) matchInGo(id string, body fhir.Resource, clauses []search.Clause) (ok, known bool) {
	for _, c := range clauses {
		if len(c.Conditions) == 0 {
			continue
		}
		first := &c.Conditions[0]
		if first.None != nil {
			ok, known := pol.matchNone(id, body, c)
			if !known || !ok {
				return false, known
			}
			continue
		}
		if first.Param == nil || first.Chain != nil || first.Has != nil {
			return false, false
		}
		code := first.Param.Code
		var entries []search.Entry
		if code != "_id" {
			if first.Token == nil && first.Reference == nil {
				return false, false
			}
			var err error
			if entries, err = pol.ix.Evaluate(body, code); err != nil {
				return false, true
			}
		}
		any := false
		for i := range c.Conditions {
			cond := &c.Conditions[i]
			switch {
			case code == "_id":
				any = cond.Token != nil && cond.Token.Code == id
			case cond.Token != nil && (cond.Modifier == search.ModifierNone || cond.Modifier == search.ModifierNot):
				hit := slices.ContainsFunc(entries, func(e search.Entry) bool {
					return e.Kind == search.KindToken && e.Code == cond.Token.Code && (!cond.Token.HasSystem || e.System == cond.Token.System)
				})
				any = hit != (cond.Modifier == search.ModifierNot)
			case cond.Reference != nil && cond.Modifier == search.ModifierNone && cond.Reference.Type != "":
				any = slices.ContainsFunc(entries, func(e search.Entry) bool {
					return e.Kind == search.KindReference && e.RefType == cond.Reference.Type && e.RefID == cond.Reference.ID
				})
			default:
				return false, false
			}
			if any {
				break
			}
		}
		if !any {
			return false, true
		}
	}
	return true, true
}

// matchNone evaluates a clause of None conditions: one of them holds when
// the resource does not meet all of its clauses.
func (pol *Policy) matchNone(id string, body fhir.Resource, c search.Clause) (ok, known bool) {
	for i := range c.Conditions {
		all, known := pol.matchInGo(id, body, c.Conditions[i].None)
		if !known {
			return false, false
		}
		if !all {
			return true, true
		}
	}
	return false, true
}

// decode parses a stored body for the checks; nil for a delete marker.
func decode(res *store.Resource) (fhir.Resource, error) {
	if res == nil || res.Body == nil {
		return nil, nil
	}
	body, err := fhir.Parse(res.Body)
	if err != nil {
		return nil, fmt.Errorf("auth: stored %s/%s: %w", res.Type, res.ID, err)
	}
	return body, nil
}

// Reader returns rd under the session's checks.
func (s *Session) Reader(rd store.Reader) store.Reader { return &reader{s: s, rd: rd} }

// Tx returns tx under the session's checks.
func (s *Session) Tx(tx store.Tx) store.Tx { return &writer{reader: reader{s: s, rd: tx}, tx: tx} }

type reader struct {
	s  *Session
	rd store.Reader
}

// readable checks one stored version against the principal's read limits.
func (r *reader) readable(ctx context.Context, res *store.Resource, typ, id string) (bool, error) {
	clauses, ok, err := r.s.limits(typ, PermRead)
	if err != nil || !ok {
		return false, err
	}
	if res == nil || res.Body == nil {
		return clauses == nil, nil
	}
	if clauses != nil {
		body, err := decode(res)
		if err != nil {
			return false, err
		}
		if ok, err := r.s.matches(ctx, r.rd, res, body, clauses); err != nil || !ok {
			return false, err
		}
	}
	r.s.touch(res)
	return true, nil
}

func (r *reader) checkType(typ string, perm Perm) error {
	if _, ok, err := r.s.limits(typ, perm); err != nil || !ok {
		if err != nil {
			return err
		}
		return forbidden("you may not %s %s resources", permVerb(perm), typ)
	}
	return nil
}

func permVerb(p Perm) string {
	switch p {
	case PermCreate:
		return "create"
	case PermRead:
		return "read"
	case PermUpdate:
		return "update"
	case PermDelete:
		return "delete"
	}
	return "search"
}

func (r *reader) Read(ctx context.Context, typ, id string) (*store.Resource, error) {
	if err := r.checkType(typ, PermRead); err != nil {
		return nil, err
	}
	res, err := r.rd.Read(ctx, typ, id)
	if err != nil && !isCode(err, fhir.Gone) {
		return nil, err
	}
	ok, cerr := r.readable(ctx, res, typ, id)
	if cerr != nil {
		return nil, cerr
	}
	if !ok {
		return nil, notFound(typ, id)
	}
	if derr := r.shape(res); derr != nil {
		return nil, derr
	}
	return res, err
}

// shape de-identifies a resource for a session that reads de-identified.
func (r *reader) shape(res *store.Resource) error {
	if !r.s.deidentified || res == nil {
		return nil
	}
	return deidentify(res)
}

func (r *reader) VRead(ctx context.Context, typ, id string, version int64) (*store.Resource, error) {
	if err := r.checkType(typ, PermRead); err != nil {
		return nil, err
	}
	res, err := r.rd.VRead(ctx, typ, id, version)
	if err != nil && !isCode(err, fhir.Gone) {
		return nil, err
	}
	ok, cerr := r.readable(ctx, res, typ, id)
	if cerr != nil {
		return nil, cerr
	}
	if !ok {
		return nil, fhir.Errorf(fhir.NotFound, "version %d of %s/%s not found", version, typ, id)
	}
	if derr := r.shape(res); derr != nil {
		return nil, derr
	}
	return res, err
}

// History of one resource lists the versions the principal may read (none:
// not found); type and system history, which no limit can narrow in the
// database, needs unlimited read of the types.
func (r *reader) History(ctx context.Context, q store.HistoryQuery) (*store.HistoryPage, error) {
	types := r.s.pol.types
	if q.Type != "" {
		types = []string{q.Type}
	}
	if q.ID == "" {
		for _, t := range types {
			clauses, ok, err := r.s.limits(t, PermRead)
			if err != nil {
				return nil, err
			}
			if ok && clauses == nil {
				continue
			}
			if q.Type == "" {
				return nil, forbidden("system history needs unlimited read of every resource type")
			}
			return nil, forbidden("history of all %s resources needs unlimited read of them: read the history of one resource instead", t)
		}
		page, err := r.rd.History(ctx, q)
		if err != nil {
			return nil, err
		}
		for i := range page.Versions {
			if err := r.shape(&page.Versions[i]); err != nil {
				return nil, err
			}
		}
		return page, nil
	}
	if err := r.checkType(q.Type, PermRead); err != nil {
		return nil, err
	}
	head, err := r.rd.Read(ctx, q.Type, q.ID)
	if err != nil && !isCode(err, fhir.Gone) {
		return nil, err
	}
	page, err := r.rd.History(ctx, q)
	if err != nil {
		return nil, err
	}
	kept := page.Versions[:0]
	for i := range page.Versions {
		v := &page.Versions[i]
		ok, err := r.readable(ctx, v, q.Type, q.ID)
		if err != nil {
			return nil, err
		}
		if ok {
			kept = append(kept, *v)
		}
	}
	// A resource whose current version the principal may not read is not
	// theirs to know of, whatever its earlier versions said.
	if headOK, err := r.readable(ctx, head, q.Type, q.ID); err != nil {
		return nil, err
	} else if !headOK && !(head != nil && head.Deleted && len(kept) > 0) {
		return nil, notFound(q.Type, q.ID)
	}
	if len(kept) < len(page.Versions) {
		page.Total = -1 // the count of all versions would tell what was hidden
	}
	page.Versions = kept
	for i := range page.Versions {
		if err := r.shape(&page.Versions[i]); err != nil {
			return nil, err
		}
	}
	return page, nil
}

// Search runs q limited to what the principal may read, after checking
// that they may search its types.
func (r *reader) Search(ctx context.Context, q *search.Query) (*store.SearchPage, error) {
	if r.s.deidentified {
		if err := checkDeidentifiedQuery(q); err != nil {
			return nil, err
		}
	}
	access, err := r.s.searchAccess()
	if err != nil {
		return nil, err
	}
	types := q.Types
	if len(types) == 0 {
		types = slices.Sorted(maps.Keys(access.Types))
	}
	limited := &search.Access{Types: maps.Clone(access.Types)}
	for _, t := range types {
		clauses, ok, err := r.s.limits(t, PermSearch)
		if err != nil {
			return nil, err
		}
		if !ok {
			if len(q.Types) == 0 {
				delete(limited.Types, t) // a system search covers what may be searched
				continue
			}
			return nil, forbidden("you may not search %s resources", t)
		}
		limited.Types[t] = clauses
	}
	lq := *q
	lq.Access = limited
	if unlimited(limited, len(r.s.pol.types)) {
		lq.Access = nil // an administrator's search: nothing to add to its SQL
		return r.searched(r.rd.Search(ctx, &lq))
	}
	if len(q.Types) == 0 {
		lq.Types = nil
		for _, t := range types {
			if _, ok := limited.Types[t]; ok {
				lq.Types = append(lq.Types, t)
			}
		}
		if len(lq.Types) == 0 {
			return nil, forbidden("you may not search any resource type")
		}
		if len(lq.Types) == len(r.s.pol.types) {
			lq.Types = nil
		}
	}
	return r.searched(r.rd.Search(ctx, &lq))
}

// unlimited reports whether an Access lets every one of n types be read
// without limits.
func unlimited(a *search.Access, n int) bool {
	if len(a.Types) < n {
		return false
	}
	for _, c := range a.Types {
		if len(c) > 0 {
			return false
		}
	}
	return true
}

// searched records what a search returned and shapes it for the session.
func (r *reader) searched(page *store.SearchPage, err error) (*store.SearchPage, error) {
	if err != nil {
		return nil, err
	}
	for _, list := range [][]store.Resource{page.Resources, page.Included} {
		for i := range list {
			r.s.touch(&list[i])
			if err := r.shape(&list[i]); err != nil {
				return nil, err
			}
		}
	}
	return page, nil
}

func isCode(err error, code fhir.Code) bool {
	var fe *fhir.Error
	return errors.As(err, &fe) && fe.Code == code
}

type writer struct {
	reader
	tx store.Tx
}

func (w *writer) Now() time.Time { return w.tx.Now() }

func (w *writer) Lock(ctx context.Context, ids map[string][]string) error { return w.tx.Lock(ctx, ids) }

func (w *writer) Serialize(ctx context.Context, key string) error { return w.tx.Serialize(ctx, key) }

func (w *writer) Put(ctx context.Context, res fhir.Resource, pre store.Precondition) (*store.Resource, bool, error) {
	if err := w.prepare(res); err != nil {
		return nil, false, err
	}
	stored, created, err := w.tx.Put(ctx, res, w.guard(ctx, pre))
	if err == nil {
		w.s.touch(stored)
		w.changed(res.Type())
	}
	return stored, created, err
}

// PutIndexed indexes the resource again when the policy changed it (the
// facility tag), as the entries computed before would miss it.
func (w *writer) PutIndexed(ctx context.Context, res fhir.Resource, entries []search.Entry, pre store.Precondition) (*store.Resource, bool, error) {
	before, _ := res.MarshalJSON()
	if err := w.prepare(res); err != nil {
		return nil, false, err
	}
	if after, _ := res.MarshalJSON(); string(after) != string(before) {
		var err error
		if entries, err = w.s.pol.ix.Index(res); err != nil {
			var pe *search.ParamError
			if !errors.As(err, &pe) {
				return nil, false, err
			}
		}
	}
	stored, created, err := w.tx.PutIndexed(ctx, res, entries, w.guard(ctx, pre))
	if err == nil {
		w.s.touch(stored)
		w.changed(res.Type())
	}
	return stored, created, err
}

// errAsMissing makes a delete of a resource the principal may not see
// answer as the delete of a missing one.
var errAsMissing = errors.New("auth: delete of a hidden resource")

func (w *writer) Delete(ctx context.Context, typ, id string, pre store.Precondition) (*store.Resource, error) {
	if err := w.checkType(typ, PermDelete); err != nil {
		return nil, err
	}
	var existing *store.Resource
	pre = withCheck(pre, func(cur *store.Resource, current func() (*store.Resource, error)) error {
		var err error
		if existing, err = current(); err != nil {
			return err
		}
		if err := w.mayChange(ctx, existing, typ, id, PermDelete); err != nil {
			if isCode(err, fhir.NotFound) {
				return errAsMissing
			}
			return err
		}
		return nil
	})
	marker, err := w.tx.Delete(ctx, typ, id, pre)
	if errors.Is(err, errAsMissing) {
		return nil, nil
	}
	if err == nil && existing != nil {
		w.s.touch(existing)
		w.changed(typ)
	}
	return marker, err
}

// withCheck adds decide to pre's Check, after the one there; decide gets
// the head and reads the current version whole only if it needs it.
func withCheck(pre store.Precondition, decide func(cur *store.Resource, current func() (*store.Resource, error)) error) store.Precondition {
	check := pre.Check
	pre.Check = func(cur *store.Resource, body func() ([]byte, error)) error {
		if check != nil {
			if err := check(cur, body); err != nil {
				return err
			}
		}
		return decide(cur, func() (*store.Resource, error) {
			b, err := body()
			if err != nil {
				return nil, err
			}
			c := *cur
			c.Body = b
			return &c, nil
		})
	}
	return pre
}

// prepare applies what a write of res needs whatever is stored: the role
// may write the type, a facility's writes carry its source tag, a
// resident writes about themselves only.
func (w *writer) prepare(res fhir.Resource) error {
	typ, id := res.Type(), res.ID()
	if err := w.mayWrite(typ); err != nil {
		return err
	}
	switch w.s.p.Role {
	case RoleClinician, RoleFacility, RolePharmacist:
		stampFacility(res, w.s.p.Facility)
	case RoleResident:
		clauses, ok, err := w.s.pol.compartmentClauses(typ, w.s.p.Patients)
		if err != nil {
			return err
		}
		if match, known := w.s.pol.matchInGo(id, res, clauses); !ok || !known || !match {
			return forbidden("you may only write %s resources about yourself", typ)
		}
	}
	return nil
}

// guard adds to pre the decision that needs the stored head: creating
// needs the c permission, updating u and a resource the principal may
// change. The store reads the current body only for an update.
func (w *writer) guard(ctx context.Context, pre store.Precondition) store.Precondition {
	return withCheck(pre, func(cur *store.Resource, current func() (*store.Resource, error)) error {
		exists := cur.Version > 0 && !cur.Deleted
		perm := PermCreate
		if exists {
			perm = PermUpdate
		}
		if err := w.checkType(cur.Type, perm); err != nil {
			return err
		}
		if !exists {
			return nil
		}
		existing, err := current()
		if err != nil {
			return err
		}
		return w.mayChange(ctx, existing, cur.Type, cur.ID, perm)
	})
}

// changed notes a write that changes what the policy decides (a Consent),
// for Committed.
func (w *writer) changed(typ string) {
	if typ == "Consent" {
		w.s.trace.mu.Lock()
		w.s.trace.consentChanged = true
		w.s.trace.mu.Unlock()
	}
}

// Committed tells the session that its writes are committed: a changed
// Consent binds the next request of this process (others read consents
// again within ten seconds).
func (s *Session) Committed() {
	s.trace.mu.Lock()
	changed := s.trace.consentChanged
	s.trace.consentChanged = false
	s.trace.mu.Unlock()
	if changed {
		s.pol.consents.invalidate()
	}
}

// mayWrite applies the role's rules on the kind of resource written.
func (w *writer) mayWrite(typ string) error {
	switch {
	case typ == "AuditEvent":
		return forbidden("AuditEvent resources are written by the platform alone")
	case w.s.p.Role == RoleAdmin:
		return nil
	case slices.Contains(conformanceTypes, typ):
		return forbidden("only an administrator may write %s resources", typ)
	case w.s.p.Role == RoleRegulator:
		return forbidden("a regulator does not write records")
	case w.s.p.Role == RoleResident && IsDirectory(typ):
		return forbidden("a resident may not write %s resources", typ)
	case w.s.p.Role == RolePharmacist && typ != "MedicationDispense":
		return forbidden("a pharmacist writes dispenses only")
	}
	return nil
}

// mayChange decides an update or delete of an existing resource: a
// facility changes only what it wrote, a resident only their own records;
// what the principal may not read answers as missing.
func (w *writer) mayChange(ctx context.Context, existing *store.Resource, typ, id string, perm Perm) error {
	body, err := decode(existing)
	if err != nil {
		return err
	}
	if ok, err := w.readable(ctx, existing, typ, id); err != nil {
		return err
	} else if !ok {
		return notFound(typ, id)
	}
	switch w.s.p.Role {
	case RoleClinician, RoleFacility, RolePharmacist:
		if sourceFacility(body) != w.s.p.Facility {
			return forbidden("%s/%s was written by another facility: only it may %s it", typ, id, permVerb(perm))
		}
	case RoleResident:
		clauses, ok, err := w.s.pol.compartmentClauses(typ, w.s.p.Patients)
		if err != nil {
			return err
		}
		if match, known := w.s.pol.matchInGo(id, body, clauses); !ok || !known || !match {
			return notFound(typ, id)
		}
	}
	return nil
}

// stampFacility sets the resource's source facility tag to facility,
// replacing any other: a client cannot write as another facility.
func stampFacility(res fhir.Resource, facility string) {
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		res["meta"] = meta
	}
	tags, _ := meta["tag"].([]any)
	kept := tags[:0:0]
	for _, t := range tags {
		if m, ok := t.(map[string]any); ok && m["system"] == SystemSourceFacility {
			continue
		}
		kept = append(kept, t)
	}
	meta["tag"] = append(kept, map[string]any{"system": SystemSourceFacility, "code": facility})
}

// sourceFacility is the facility that wrote a resource, from its tag.
func sourceFacility(res fhir.Resource) string {
	meta, _ := res["meta"].(map[string]any)
	tags, _ := meta["tag"].([]any)
	for _, t := range tags {
		if m, ok := t.(map[string]any); ok && m["system"] == SystemSourceFacility {
			code, _ := m["code"].(string)
			return code
		}
	}
	return ""
}

// TouchPatients records patients whose data the request read by other means
// than the store (the audit trail).
func (s *Session) TouchPatients(patients []string) {
	s.trace.mu.Lock()
	defer s.trace.mu.Unlock()
	for _, p := range patients {
		s.trace.patients[p] = true
	}
}

// AuditScope is what of the audit trail a principal may read.
type AuditScope struct {
	all      bool
	patients []string // Patient/id: the records whose accesses they may see
}

// AuditScope decides access to the audit trail: an administrator reads all
// of it, a regulator too with a stated purpose, a resident the accesses to
// their own records.
func (s *Session) AuditScope() (*AuditScope, error) {
	if len(s.p.Scopes.Grants("AuditEvent", PermRead)) == 0 {
		return nil, forbidden("you may not read AuditEvent resources")
	}
	switch s.p.Role {
	case RoleAdmin:
		return &AuditScope{all: true}, nil
	case RoleRegulator:
		if slices.Contains(regulatorPurposes, s.req.Purpose) {
			return &AuditScope{all: true}, nil
		}
		return nil, forbidden("reading the audit trail needs a stated purpose of use (%s)", headerPurposeName)
	case RoleResident:
		a := &AuditScope{}
		for _, p := range s.p.Patients {
			a.patients = append(a.patients, "Patient/"+p)
		}
		return a, nil
	}
	return nil, forbidden("the audit trail is read by administrators, regulators and, for their own records, residents")
}

// headerPurposeName names the purpose header in messages.
const headerPurposeName = "X-Purpose-Of-Use"

// Only is nil for a scope that sees whole entries, else the patients whose
// part of an entry it may see (audit.EventFor).
func (a *AuditScope) Only() []string {
	if a.all {
		return nil
	}
	return a.patients
}

// Allows reports whether the scope covers an entry.
func (a *AuditScope) Allows(e *store.AuditEntry) bool {
	return a.all || slices.ContainsFunc(e.Patients, func(p string) bool { return slices.Contains(a.patients, p) })
}

// Limit narrows a query of the trail to the scope: a resident's queries
// name one of their records (the only one, when they have one).
func (a *AuditScope) Limit(q store.AuditQuery) (store.AuditQuery, error) {
	if a.all {
		return q, nil
	}
	switch {
	case q.Patient == "" && len(a.patients) == 1:
		q.Patient = a.patients[0]
	case q.Patient == "":
		return q, forbidden("name one of your records with patient=")
	case !slices.Contains(a.patients, q.Patient):
		return q, forbidden("you may see the accesses to your own records only")
	}
	return q, nil
}
