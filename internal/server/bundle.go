package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/auth"
	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// rawJSON embeds stored JSON in a rendered resource without decoding it.
func rawJSON(b []byte) json.RawMessage { return json.RawMessage(b) }

// entry is one Bundle.entry of a batch or transaction.
type entry struct {
	index   int
	fullURL string
	req     *request
	rt      route
	newID   string // the id a create gets, fixed before the store may retry the transaction
	create  bool   // a conditional update that matched nothing: it must not overwrite
	target  string // Type/id the entry writes, once known
	exists  *store.Resource
	resp    *response
	err     error
}

// processing order of a transaction (http.html#trules): DELETE, POST, PUT/PATCH, GET/HEAD.
func methodRank(m string) int {
	switch m {
	case http.MethodDelete:
		return 0
	case http.MethodPost:
		return 1
	case http.MethodPut, http.MethodPatch:
		return 2
	}
	return 3
}

func entryIssue(i int, format string, args ...any) *fhir.Error {
	msg := fmt.Sprintf("Bundle.entry[%d]: ", i) + fmt.Sprintf(format, args...)
	return &fhir.Error{Code: fhir.Invalid, Message: msg,
		Issues: []fhir.Issue{{Severity: "error", Code: "invalid", Diagnostics: msg, Expression: []string{fmt.Sprintf("Bundle.entry[%d]", i)}}}}
}

// entryError names the failing entry: issue expressions move under
// Bundle.entry[i].resource and the message says which entry failed.
func entryError(i int, err error) error {
	e := fhir.AsError(err)
	if e.Code == fhir.Internal {
		return err
	}
	out := &fhir.Error{Code: e.Code, Message: fmt.Sprintf("Bundle.entry[%d]: %s", i, e.Message), Err: e.Err}
	prefix := fmt.Sprintf("Bundle.entry[%d]", i)
	for _, is := range e.Issues {
		is.Diagnostics = prefix + ": " + is.Diagnostics
		exprs := make([]string, 0, len(is.Expression)+1)
		for _, x := range is.Expression {
			if _, rest, ok := strings.Cut(x, "."); ok && x[0] >= 'A' && x[0] <= 'Z' {
				exprs = append(exprs, prefix+".resource."+rest)
			} else {
				exprs = append(exprs, prefix+".resource."+x)
			}
		}
		if len(exprs) == 0 {
			exprs = append(exprs, prefix)
		}
		is.Expression = exprs
		out.Issues = append(out.Issues, is)
	}
	if len(out.Issues) == 0 {
		out.Issues = []fhir.Issue{{Severity: "error", Code: e.Code.IssueType(), Diagnostics: out.Message, Expression: []string{prefix}}}
	}
	return out
}

// parseEntries reads Bundle.entry into requests. Structural problems of an entry are
// left in entry.err (a batch answers them per entry; a transaction fails on them).
func (s *Server) parseEntries(ctx context.Context, b fhir.Resource, base string, pref prefer) ([]*entry, error) {
	raw, present := b["entry"]
	if !present {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, entryIssue(0, "Bundle.entry must be an array")
	}
	entries := make([]*entry, len(list))
	for i, item := range list {
		e := &entry{index: i}
		entries[i] = e
		m, ok := item.(map[string]any)
		if !ok {
			e.err = entryIssue(i, "an entry must be an object")
			continue
		}
		e.fullURL, _ = m["fullUrl"].(string)
		r, ok := m["request"].(map[string]any)
		if !ok {
			e.err = entryIssue(i, "entry.request is required in a batch or transaction")
			continue
		}
		method, _ := r["method"].(string)
		rawURL, _ := r["url"].(string)
		if rawURL == "" {
			e.err = entryIssue(i, "entry.request.url is required")
			continue
		}
		u, err := url.Parse(rawURL)
		if err != nil {
			e.err = entryIssue(i, "entry.request.url %q is not a URL: %v", rawURL, err)
			continue
		}
		path := u.Path
		if u.IsAbs() {
			path = strings.TrimPrefix(rawURL, base)
			if path == rawURL {
				e.err = entryIssue(i, "entry.request.url %q is not on this server", rawURL)
				continue
			}
			u, _ = url.Parse(path)
			path = u.Path
		}
		req := &request{method: method, path: splitPath(path), query: u.Query(), prefer: pref, base: base, entry: i}
		req.ifMatch, _ = r["ifMatch"].(string)
		req.ifNoneExist, _ = r["ifNoneExist"].(string)
		req.ifNoneMatch, _ = r["ifNoneMatch"].(string)
		req.ifModSince, _ = r["ifModifiedSince"].(string)
		if res, ok := m["resource"].(map[string]any); ok {
			req.resource = fhir.Resource(res)
		}
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodDelete:
		case http.MethodPost, http.MethodPut:
			if req.resource == nil {
				e.err = entryIssue(i, "a %s entry needs a resource", method)
				continue
			}
		case http.MethodPatch:
			body, err := patchBody(req.resource)
			if err != nil {
				e.err = entryIssue(i, "%v", err)
				continue
			}
			req.body, req.resource, req.contentType = body, nil, "application/json-patch+json"
		default:
			e.err = entryIssue(i, "entry.request.method %q is not GET, HEAD, POST, PUT, PATCH or DELETE", method)
			continue
		}
		e.req = req
		rt, err := s.resolve(req)
		if err != nil {
			e.err = entryError(i, err)
			continue
		}
		if rt.interaction == iTransaction || rt.interaction == iCapabilities && method != http.MethodGet {
			e.err = entryIssue(i, "a bundle entry cannot be a batch or transaction")
			continue
		}
		if req.resource != nil && (method == http.MethodPost || method == http.MethodPut) {
			// Validate before any transaction starts: writers queue for the lock,
			// so work done outside it is work that runs in parallel.
			if err := s.checkResource(ctx, req, req.resource, rt.typ); err != nil {
				e.err = entryError(i, err)
				continue
			}
			req.validated = true
		}
		e.rt = rt
	}
	return entries, nil
}

// patchBody reads a JSON Patch carried in a Binary, as FHIR bundles carry it.
func patchBody(res fhir.Resource) ([]byte, error) {
	if res.Type() != "Binary" {
		return nil, fmt.Errorf("a PATCH entry needs a Binary resource holding a JSON Patch (FHIRPath Patch is not supported)")
	}
	if ct, _ := res["contentType"].(string); mediaType(ct) != "application/json-patch+json" {
		return nil, fmt.Errorf("the PATCH Binary must have contentType application/json-patch+json")
	}
	data, _ := res["data"].(string)
	body, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, fmt.Errorf("the PATCH Binary data is not base64: %v", err)
	}
	return body, nil
}

// bundle runs a batch or transaction.
func (s *Server) bundle(ctx context.Context, req *request, info *requestInfo) (*response, error) {
	b, err := fhir.Parse(req.body)
	if err != nil {
		return nil, err
	}
	if b.Type() != "Bundle" {
		return nil, fhir.Errorf(fhir.Invalid, "POST to the base needs a Bundle of type batch or transaction, not %q", b.Type())
	}
	entries, err := s.parseEntries(ctx, b, req.base, req.prefer)
	if err != nil {
		return nil, err
	}
	switch bt, _ := b["type"].(string); bt {
	case "transaction":
		info.interaction = iTransaction
		return s.transaction(ctx, entries, info.session)
	case "batch":
		info.interaction = iBatch
		return s.batch(ctx, entries, info.session), nil
	default:
		return nil, &fhir.Error{Code: fhir.Invalid, Message: fmt.Sprintf("Bundle.type %q cannot be processed: POST a batch or transaction", bt),
			Issues: []fhir.Issue{{Severity: "error", Code: "invalid", Diagnostics: fmt.Sprintf("Bundle.type must be batch or transaction, not %q", bt), Expression: []string{"Bundle.type"}}}}
	}
}

// batch runs each entry on its own, under the request's session (nil: none),
// focused on the patient the entry is about, as a request of its own would be.
func (s *Server) batch(ctx context.Context, entries []*entry, sess *auth.Session) *response {
	for _, e := range entries {
		if e.err != nil {
			continue
		}
		sess := sess
		if patient := focusPatient(e.rt, e.req); sess != nil && patient != "" {
			if sess, e.err = sess.Focus(ctx, s.store, patient); e.err != nil {
				continue
			}
		}
		if isWrite(e.rt.interaction) {
			e.err = s.store.Tx(ctx, func(tx store.Tx) error {
				gtx := guardTx(sess, tx)
				var err error
				e.resp, err = s.do(ctx, gtx, gtx, e.req, e.rt)
				return err
			})
			if e.err == nil && sess != nil {
				sess.Committed()
			}
		} else {
			e.resp, e.err = s.do(ctx, guardReader(sess, s.store), nil, e.req, e.rt)
		}
		if e.err == nil && e.resp != nil {
			s.committed(ctx, e.resp.stored)
		}
	}
	return responseBundle("batch-response", entries)
}

// transaction runs the entries in one store transaction, under the request's
// session (nil: none).
func (s *Server) transaction(ctx context.Context, entries []*entry, sess *auth.Session) (*response, error) {
	for _, e := range entries {
		if e.err != nil {
			return nil, e.err
		}
	}
	for _, e := range entries {
		e.newID = newID()
	}
	err := s.store.Tx(ctx, func(stx store.Tx) error {
		tx := guardTx(sess, stx)
		for _, e := range entries {
			e.resp, e.exists, e.target, e.create = nil, nil, "", false
		}
		if err := s.assignTargets(ctx, tx, entries); err != nil {
			return err
		}
		if err := tx.Lock(ctx, writeTargets(entries)); err != nil {
			return err
		}
		order := slices.Clone(entries)
		slices.SortStableFunc(order, func(a, b *entry) int { return methodRank(a.req.method) - methodRank(b.req.method) })
		for _, e := range order {
			resp, err := s.runEntry(ctx, tx, e)
			if err != nil {
				return entryError(e.index, err)
			}
			e.resp = resp
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if sess != nil {
		sess.Committed()
	}
	for _, e := range entries {
		if e.resp != nil {
			s.committed(ctx, e.resp.stored)
		}
	}
	return responseBundle("transaction-response", entries), nil
}

// writeTargets lists the resources the entries write, by type, for Tx.Lock.
func writeTargets(entries []*entry) map[string][]string {
	ids := map[string][]string{}
	for _, e := range entries {
		if e.exists != nil || !isWrite(e.rt.interaction) {
			continue
		}
		if typ, id, ok := strings.Cut(e.target, "/"); ok && id != "" {
			ids[typ] = append(ids[typ], id)
		}
	}
	return ids
}

// assignTargets gives every write its Type/id before anything runs, so that
// urn:uuid and conditional references can be rewritten (http.html#trules).
func (s *Server) assignTargets(ctx context.Context, tx store.Tx, entries []*entry) error {
	refs := map[string]string{} // fullUrl → Type/id
	seen := map[string]int{}
	for _, e := range entries {
		rt := e.rt
		switch rt.interaction {
		case iCreate:
			if e.req.ifNoneExist != "" {
				if err := tx.Serialize(ctx, "if-none-exist "+rt.typ+"?"+e.req.ifNoneExist); err != nil {
					return err
				}
				matches, err := s.matchCriteria(ctx, tx, rt.typ, e.req.ifNoneExist, 2)
				if err != nil {
					return entryError(e.index, err)
				}
				if len(matches) > 1 {
					return entryError(e.index, fhir.Errorf(fhir.PreconditionFailed, "ifNoneExist %q matches more than one %s", e.req.ifNoneExist, rt.typ))
				}
				if len(matches) == 1 {
					e.exists = &matches[0]
					e.target = rt.typ + "/" + matches[0].ID
					break
				}
			}
			e.target = rt.typ + "/" + e.newID
		case iUpdate, iPatch, iDelete:
			e.target = rt.typ + "/" + rt.id
		case iCondUpdate, iCondDelete, iCondPatch:
			if err := tx.Serialize(ctx, "conditional "+rt.typ+"?"+e.req.query.Encode()); err != nil {
				return err
			}
			matches, err := s.matchQuery(ctx, tx, rt.typ, e.req.query, 2)
			if err != nil {
				return entryError(e.index, err)
			}
			switch {
			case len(matches) > 1:
				return entryError(e.index, fhir.Errorf(fhir.PreconditionFailed, "the criteria match more than one %s", rt.typ))
			case len(matches) == 1:
				if rt.interaction == iCondUpdate {
					if id := e.req.resource.ID(); id != "" && id != matches[0].ID {
						return entryIssue(e.index, "id %q in the resource differs from the matched %s/%s", id, rt.typ, matches[0].ID)
					}
				}
				e.target = rt.typ + "/" + matches[0].ID
			case rt.interaction == iCondUpdate:
				id := e.req.resource.ID()
				if id == "" {
					id = e.newID
				}
				e.target, e.create = rt.typ+"/"+id, true
			}
		default:
			continue
		}
		if e.target != "" {
			if prev, dup := seen[e.target]; dup {
				return entryIssue(e.index, "%s is also the target of entry %d: a transaction may write a resource once", e.target, prev)
			}
			seen[e.target] = e.index
		}
		if e.fullURL != "" && e.target != "" {
			if _, dup := refs[e.fullURL]; dup {
				return entryIssue(e.index, "fullUrl %q is used by an earlier entry too", e.fullURL)
			}
			refs[e.fullURL] = e.target
		}
	}
	for _, e := range entries {
		if e.req.resource == nil {
			continue
		}
		if err := s.rewriteReferences(ctx, tx, e.req.resource, refs); err != nil {
			return entryError(e.index, err)
		}
	}
	return nil
}

// rewriteReferences replaces references to bundle entries (by fullUrl) with the
// assigned Type/id and resolves conditional references (Type?criteria).
func (s *Server) rewriteReferences(ctx context.Context, rd store.Reader, res fhir.Resource, refs map[string]string) error {
	return fhir.RewriteReferences(res, func(ref string) (string, error) {
		if target, ok := refs[ref]; ok {
			return target, nil
		}
		if strings.HasPrefix(ref, "urn:uuid:") || strings.HasPrefix(ref, "urn:oid:") {
			return "", fhir.Errorf(fhir.Invalid, "reference %q names no entry of this transaction", ref)
		}
		typ, criteria, ok := strings.Cut(ref, "?")
		if !ok || !s.defs.IsResourceType(typ) {
			return ref, nil
		}
		matches, err := s.matchCriteria(ctx, rd, typ, criteria, 2)
		if err != nil {
			return "", err
		}
		if len(matches) != 1 {
			return "", fhir.Errorf(fhir.PreconditionFailed, "conditional reference %q matches %d resources, not one", ref, len(matches))
		}
		return typ + "/" + matches[0].ID, nil
	})
}

// runEntry runs one transaction entry against its assigned target.
func (s *Server) runEntry(ctx context.Context, tx store.Tx, e *entry) (*response, error) {
	_, id, _ := strings.Cut(e.target, "/")
	switch e.rt.interaction {
	case iCreate:
		if e.exists != nil {
			return &response{status: http.StatusOK, raw: e.exists.Body, stored: e.exists, location: location(e.exists)}, nil
		}
		r := *e.req
		r.ifNoneExist = ""
		return s.createResource(ctx, tx, &r, e.req.resource, e.rt.typ, id)
	case iCondUpdate:
		res := e.req.resource
		res["id"] = id
		return s.put(ctx, tx, e.req, res, e.create)
	case iCondDelete:
		if id == "" {
			return &response{status: http.StatusNoContent}, nil
		}
		return s.remove(ctx, tx, e.req, e.rt.typ, id)
	case iCondPatch:
		if id == "" {
			return nil, fhir.Errorf(fhir.NotFound, "no %s matches the criteria", e.rt.typ)
		}
		return s.patch(ctx, tx, e.req, e.rt.typ, id)
	}
	return s.do(ctx, tx, tx, e.req, e.rt)
}

func statusLine(code int) string { return fmt.Sprintf("%d %s", code, http.StatusText(code)) }

// responseBundle renders a batch-response or transaction-response, one entry per
// request entry in the same order.
func responseBundle(typ string, entries []*entry) *response {
	out := make([]any, len(entries))
	for i, e := range entries {
		if e.err != nil {
			fe := fhir.AsError(e.err)
			out[i] = map[string]any{"response": map[string]any{
				"status":  statusLine(statusFor(fe)),
				"outcome": fe.Outcome(),
			}}
			continue
		}
		r := e.resp
		resp := map[string]any{"status": statusLine(r.status)}
		item := map[string]any{"response": resp}
		if len(e.req.findings) > 0 {
			resp["outcome"] = fhir.OperationOutcome(e.req.findings...)
		}
		if r.stored != nil {
			resp["etag"] = r.etag()
			resp["lastModified"] = fhir.FormatInstant(r.stored.Updated)
			if r.location != "" {
				resp["location"] = r.location
			}
			item["fullUrl"] = e.req.base + "/" + r.stored.Type + "/" + r.stored.ID
		}
		isRead := e.req.method == http.MethodGet || e.req.method == http.MethodHead
		if isRead || e.req.prefer.ret == "representation" {
			switch {
			case r.resource != nil:
				item["resource"] = r.resource
			case r.raw != nil:
				item["resource"] = rawJSON(r.raw)
			}
		}
		out[i] = item
	}
	b := fhir.Resource{"resourceType": "Bundle", "id": newID(), "type": typ,
		"meta": map[string]any{"lastUpdated": fhir.FormatInstant(time.Now())}}
	if len(out) > 0 {
		b["entry"] = out
	}
	return &response{status: http.StatusOK, resource: b}
}
