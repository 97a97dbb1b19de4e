package server

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

// searchParams that this server implements; the CapabilityStatement lists them.
var implementedSearchParams = []string{"_id", "_lastUpdated"}

// parseSearch parses search parameters with the search package, which checks
// every R4 parameter, and keeps what the store runs today: _id, _lastUpdated
// and the result parameters. Other parameters are valid but not executable yet:
// refused, or with lenient handling ignored and reported. It returns the store
// query, the part of the search that runs (for the bundle's links) and what was
// ignored.
func (s *Server) parseSearch(types []string, values url.Values, lenient bool) (store.Query, *search.Query, []string, error) {
	q, warnings, err := s.parser.Parse(types, values, !lenient)
	if err != nil {
		return store.Query{}, nil, nil, err
	}
	var ignored []string
	for _, w := range warnings {
		ignored = append(ignored, w.Param+": "+w.Issue.Diagnostics)
	}
	var unsupported []fhir.Issue
	notYet := func(name, what string) {
		msg := fmt.Sprintf("search parameter %s: %s is not supported yet", name, what)
		ignored = append(ignored, msg)
		unsupported = append(unsupported, fhir.Issue{Severity: "error", Code: "not-supported", Diagnostics: msg, Expression: []string{name}})
	}
	sq := store.Query{Types: q.Types, Count: q.Count, Offset: q.Offset, Total: q.Total != search.TotalNone}
	run := *q // the part of q that runs
	run.Clauses = nil
	now := time.Now()
	for _, c := range q.Clauses {
		first := c.Conditions[0]
		name := "_has"
		if first.Param != nil {
			name = first.Param.Code
		}
		switch {
		case first.Chain != nil || first.Has != nil || first.Modifier != search.ModifierNone:
			notYet(name, "this form")
			continue
		case name == "_id":
			if len(c.Conditions) > search.MaxCount {
				return store.Query{}, nil, nil, fhir.Errorf(fhir.Invalid, "_id: at most %d ids in one search", search.MaxCount)
			}
			ids := make([]string, len(c.Conditions))
			for i, cond := range c.Conditions {
				ids[i] = cond.Token.Code
			}
			if sq.IDs == nil {
				sq.IDs = ids
			} else {
				sq.IDs = slices.DeleteFunc(sq.IDs, func(id string) bool { return !slices.Contains(ids, id) })
			}
		case name == "_lastUpdated" && len(c.Conditions) == 1:
			d := first.Date
			low, high := d.Range(now)
			prefix := string(d.Prefix)
			if d.Prefix == search.PrefixAp {
				prefix = "eq"
			}
			sq.LastUpdated = append(sq.LastUpdated, store.DateFilter{Prefix: prefix, Low: time.UnixMilli(low), High: time.UnixMilli(high)})
		default:
			notYet(name, "this parameter")
			continue
		}
		run.Clauses = append(run.Clauses, c)
	}
	switch {
	case len(q.Sort) == 0:
	case len(q.Sort) == 1 && q.Sort[0].Param.Code == "_lastUpdated":
		sq.SortUpdated = store.SortAscending
		if q.Sort[0].Descending {
			sq.SortUpdated = store.SortDescending
		}
	default:
		notYet("_sort", "sorting by these keys")
		run.Sort = nil
	}
	switch q.Summary {
	case "", search.SummaryFalse:
	case search.SummaryCount:
		sq.Count, sq.Total = 0, true
	default:
		notYet("_summary", "_summary="+string(q.Summary))
		run.Summary = ""
	}
	for name, set := range map[string]bool{"_elements": len(q.Elements) > 0, "_include": len(q.Include) > 0,
		"_revinclude": len(q.RevInclude) > 0, "_cursor": q.Cursor != ""} {
		if set {
			notYet(name, name)
		}
	}
	run.Elements, run.Include, run.RevInclude, run.Cursor = nil, nil, nil, ""
	if len(unsupported) > 0 && !lenient {
		slices.SortFunc(unsupported, func(a, b fhir.Issue) int { return strings.Compare(a.Diagnostics, b.Diagnostics) })
		return store.Query{}, nil, nil, &fhir.Error{Code: fhir.Invalid, Message: unsupported[0].Diagnostics, Issues: unsupported}
	}
	return sq, &run, ignored, nil
}

// search runs a search and renders the searchset Bundle.
func (s *Server) search(ctx context.Context, rd store.Reader, req *request, types []string) (*response, error) {
	q, run, ignored, err := s.parseSearch(types, req.query, req.prefer.lenient)
	if err != nil {
		return nil, err
	}
	countOnly := q.Count == 0
	if countOnly {
		q.Count, q.Total = 1, true // the store's smallest page; its entries are dropped
	}
	page, err := rd.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	if countOnly {
		page.Resources, page.More = nil, false
	}
	path := ""
	if len(types) == 1 {
		path = "/" + types[0]
	}
	bundle := fhir.Resource{"resourceType": "Bundle", "id": newID(), "type": "searchset",
		"meta": map[string]any{"lastUpdated": fhir.FormatInstant(time.Now())}}
	if page.Total >= 0 {
		bundle["total"] = page.Total
	}
	pageAt := func(offset int) url.Values {
		at := *run
		at.Offset = offset
		v := at.Encode()
		if offset == 0 {
			v.Del("_offset")
		}
		return v
	}
	links := []any{link("self", req.base+path, pageAt(run.Offset))}
	if page.More {
		links = append(links, link("next", req.base+path, pageAt(run.Offset+run.Count)))
	}
	if run.Offset > 0 {
		links = append(links, link("previous", req.base+path, pageAt(max(run.Offset-run.Count, 0))))
	}
	bundle["link"] = links
	entries := make([]any, 0, len(page.Resources)+1)
	for i := range page.Resources {
		r := &page.Resources[i]
		entries = append(entries, map[string]any{
			"fullUrl":  req.base + "/" + r.Type + "/" + r.ID,
			"resource": rawJSON(r.Body),
			"search":   map[string]any{"mode": "match"},
		})
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
	return &response{status: http.StatusOK, resource: bundle}, nil
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
