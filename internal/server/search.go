package server

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

// parseSearch parses search parameters with the search package, which checks
// every R4 parameter and the custom ones. It returns the query and, with
// lenient handling, what was ignored. Absolute references into this server
// (base) are made relative, as the index stores them.
func (s *Server) parseSearch(types []string, values url.Values, lenient bool, base string) (*search.Query, []string, error) {
	q, warnings, err := s.parser.Parse(types, values, !lenient)
	if err != nil {
		return nil, nil, err
	}
	var ignored []string
	for _, w := range warnings {
		ignored = append(ignored, w.Param+": "+w.Issue.Diagnostics)
	}
	for _, c := range q.Clauses {
		if first := c.Conditions[0]; first.Param != nil && first.Param.Code == "_id" && len(c.Conditions) > search.MaxCount {
			return nil, nil, fhir.Errorf(fhir.Invalid, "_id: at most %d ids in one search", search.MaxCount)
		}
		for i := range c.Conditions {
			localReferences(&c.Conditions[i], base)
		}
	}
	return q, ignored, nil
}

// localReferences turns reference values that are absolute URLs of this
// server (base/Type/id) into the relative Type/id the index holds for them.
func localReferences(c *search.Condition, base string) {
	switch {
	case c.Has != nil:
		localReferences(&c.Has.Condition, base)
	case c.Chain != nil:
		localReferences(&c.Chain.Condition, base)
	case c.Composite != nil:
		for i := range c.Composite.Components {
			localReferences(&c.Composite.Components[i], base)
		}
	case c.Reference != nil && c.Reference.URL != "" && c.Reference.Type != "" && base != "" &&
		strings.HasPrefix(c.Reference.URL, base+"/"):
		c.Reference.URL = ""
	}
}

// search runs a search and renders the searchset Bundle.
func (s *Server) search(ctx context.Context, rd store.Reader, req *request, types []string) (*response, error) {
	q, ignored, err := s.parseSearch(types, req.query, req.prefer.lenient, req.base)
	if err != nil {
		return nil, err
	}
	path := ""
	if len(types) == 1 {
		path = "/" + types[0]
	}
	return s.searchBundle(ctx, rd, req, q, path, ignored)
}

// compartmentSearch runs GET [base]/Patient/123/Observation?… .
func (s *Server) compartmentSearch(ctx context.Context, rd store.Reader, req *request, rt route) (*response, error) {
	q, ignored, err := s.parseSearch([]string{rt.compType}, req.query, req.prefer.lenient, req.base)
	if err != nil {
		return nil, err
	}
	if err := s.parser.InCompartment(q, rt.typ, rt.id); err != nil {
		return nil, err
	}
	return s.searchBundle(ctx, rd, req, q, "/"+rt.typ+"/"+rt.id+"/"+rt.compType, ignored)
}

// searchBundle runs q and renders the searchset Bundle, its links at path.
func (s *Server) searchBundle(ctx context.Context, rd store.Reader, req *request, q *search.Query, path string, ignored []string) (*response, error) {
	run := *q
	if q.Summary == search.SummaryCount {
		run.Count, run.Total = 0, search.TotalAccurate
	}
	page, err := rd.Search(ctx, &run)
	if err != nil {
		return nil, err
	}
	pageAt := func(offset int, cursor string) url.Values {
		at := *q
		at.Offset, at.Cursor = offset, cursor
		return at.Encode()
	}
	return s.renderSearch(req, page, path, pageAt, q, ignored), nil
}

// renderSearch renders a page as a searchset Bundle: matches, then includes,
// then an OperationOutcome of what was ignored. pageAt gives the parameters
// of the page at an offset or cursor, for the self, next and previous links
// at path; next and previous follow the store's cursors, which stay exact
// while resources are written between pages.
func (s *Server) renderSearch(req *request, page *store.SearchPage, path string, pageAt func(offset int, cursor string) url.Values, q *search.Query, ignored []string) *response {
	bundle := fhir.Resource{"resourceType": "Bundle", "id": newID(), "type": "searchset",
		"meta": map[string]any{"lastUpdated": fhir.FormatInstant(time.Now())}}
	if page.Total >= 0 {
		bundle["total"] = page.Total
	}
	links := []any{link("self", req.base+path, pageAt(q.Offset, q.Cursor))}
	if page.Next != "" {
		links = append(links, link("next", req.base+path, pageAt(0, page.Next)))
	}
	if page.Prev != "" {
		links = append(links, link("previous", req.base+path, pageAt(0, page.Prev)))
	}
	bundle["link"] = links
	entries := make([]any, 0, len(page.Resources)+len(page.Included)+1)
	for _, list := range []struct {
		mode      string
		resources []store.Resource
	}{{"match", page.Resources}, {"include", page.Included}} {
		for i := range list.resources {
			r := &list.resources[i]
			entries = append(entries, map[string]any{
				"fullUrl":  req.base + "/" + r.Type + "/" + r.ID,
				"resource": s.shape(r.Body, q),
				"search":   map[string]any{"mode": list.mode},
			})
		}
	}
	if len(ignored) > 0 {
		issues := make([]fhir.Issue, len(ignored))
		for i, why := range ignored {
			issues[i] = fhir.Issue{Severity: "warning", Code: "not-supported", Diagnostics: "ignored " + why}
		}
		entries = append(entries, map[string]any{
			"resource": fhir.OperationOutcome(issues...),
			"search":   map[string]any{"mode": "outcome"},
		})
	}
	if len(entries) > 0 {
		bundle["entry"] = entries
	}
	return &response{status: http.StatusOK, resource: bundle}
}

// shape applies q's _summary and _elements to a stored body: a
// fhir.Resource when they remove something, the body as is otherwise.
func (s *Server) shape(body []byte, q *search.Query) any {
	if (q.Summary == "" || q.Summary == search.SummaryFalse || q.Summary == search.SummaryCount) && len(q.Elements) == 0 {
		return rawJSON(body)
	}
	res, err := fhir.Parse(body)
	if err != nil { // stored bodies are valid JSON; return it whole if not
		s.log.Error("shape stored resource", "err", err)
		return rawJSON(body)
	}
	return search.Shape(s.defs, res, q.Summary, q.Elements)
}

func link(relation, base string, q url.Values) map[string]any {
	u := base
	if enc := q.Encode(); enc != "" {
		u += "?" + enc
	}
	return map[string]any{"relation": relation, "url": u}
}

// history renders a history Bundle at instance, type or system level.
func (s *Server) history(ctx context.Context, rd store.Reader, req *request, rt route) (*response, error) {
	hq := store.HistoryQuery{Type: rt.typ, ID: rt.id, Count: search.DefaultCount}
	self := url.Values{} // the history parameters, for the links
	for name, vals := range req.query {
		v := vals[len(vals)-1]
		var err error
		switch name {
		case "_count":
			hq.Count, err = strconv.Atoi(v)
			if err != nil || hq.Count < 1 {
				err = fhir.Errorf(fhir.Invalid, "_count must be a whole number ≥ 1, not %q", v)
			}
			hq.Count = min(hq.Count, search.MaxCount) // the links carry it
		case "_since":
			low, _, ok := search.DateRange(v, s.cfg.Location)
			if !ok {
				err = fhir.Errorf(fhir.Invalid, "_since %q is not a FHIR instant", v)
			}
			hq.Since = time.UnixMilli(low)
			self.Set(name, v)
		case "_cursor":
			hq.Before, err = strconv.ParseInt(v, 10, 64)
			if err != nil || hq.Before < 1 {
				err = fhir.Errorf(fhir.Invalid, "invalid _cursor %q", v)
			}
		case "_at", "_list":
			err = fhir.Errorf(fhir.NotSupported, "history parameter %s is not supported", name)
		}
		if err != nil {
			return nil, err
		}
	}
	if rt.interaction == iHistInstance {
		// A resource that never existed has no history: 404, as for a read.
		if _, err := rd.Read(ctx, rt.typ, rt.id); err != nil && fhir.ErrorCode(err) != fhir.Gone {
			return nil, err
		}
	}
	page, err := rd.History(ctx, hq)
	if err != nil {
		return nil, err
	}
	path := ""
	if rt.typ != "" {
		path = "/" + rt.typ
		if rt.id != "" {
			path += "/" + rt.id
		}
	}
	path += "/_history"
	self.Set("_count", strconv.Itoa(hq.Count))
	if hq.Before > 0 {
		self.Set("_cursor", strconv.FormatInt(hq.Before, 10))
	}
	links := []any{link("self", req.base+path, self)}
	if page.Next > 0 {
		next := maps.Clone(self)
		next.Set("_cursor", strconv.FormatInt(page.Next, 10))
		links = append(links, link("next", req.base+path, next))
	}
	entries := make([]any, 0, len(page.Versions))
	for i := range page.Versions {
		v := &page.Versions[i]
		e := map[string]any{"fullUrl": req.base + "/" + v.Type + "/" + v.ID}
		reqURL := v.Type
		if v.Method() != http.MethodPost {
			reqURL += "/" + v.ID
		}
		e["request"] = map[string]any{"method": v.Method(), "url": reqURL}
		status := "200 OK"
		switch {
		case v.Deleted:
			status = "204 No Content"
		case v.Version == 1:
			status = "201 Created"
		}
		e["response"] = map[string]any{"status": status, "etag": fmt.Sprintf(`W/"%d"`, v.Version),
			"lastModified": fhir.FormatInstant(v.Updated)}
		if !v.Deleted {
			e["resource"] = rawJSON(v.Body)
		}
		entries = append(entries, e)
	}
	bundle := fhir.Resource{"resourceType": "Bundle", "id": newID(), "type": "history",
		"meta": map[string]any{"lastUpdated": fhir.FormatInstant(time.Now())}, "total": page.Total, "link": links}
	if len(entries) > 0 {
		bundle["entry"] = entries
	}
	return &response{status: http.StatusOK, resource: bundle}, nil
}
