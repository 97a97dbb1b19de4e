package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

const (
	defaultCount = 20
	maxCount     = 1000
)

// searchParams that this server implements; the CapabilityStatement lists them.
var implementedSearchParams = []string{"_id", "_lastUpdated"}

// resultParams control the result set rather than select resources.
var resultParams = map[string]bool{
	"_count": true, "_offset": true, "_total": true, "_sort": true, "_summary": true,
	"_format": true, "_pretty": true, "_type": true,
}

// parseSearch turns search parameters into a store query. It returns the
// parameters it ignored (lenient handling); with strict, any of them is an error.
func (s *Server) parseSearch(types []string, values url.Values, strict bool) (store.Query, []string, error) {
	q := store.Query{Types: types, Count: defaultCount, Total: true}
	var ignored []string
	ignore := func(name, why string) error {
		if strict {
			return &fhir.Error{Code: fhir.Invalid, Message: fmt.Sprintf("search parameter %s: %s", name, why),
				Issues: []fhir.Issue{{Severity: "error", Code: "not-supported", Diagnostics: fmt.Sprintf("search parameter %s: %s", name, why)}}}
		}
		ignored = append(ignored, name+": "+why)
		return nil
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, name := range names {
		vals := values[name]
		var err error
		switch name {
		case "_id":
			q.IDs, err = parseIDs(vals)
			if err == nil && q.IDs == nil {
				q.IDs = []string{} // nothing can match two different ids
			}
		case "_lastUpdated":
			for _, v := range vals {
				var f []store.DateFilter
				if f, err = parseDateFilter(v, s.cfg.Location, time.Now()); err != nil {
					break
				}
				q.LastUpdated = append(q.LastUpdated, f...)
			}
		case "_count":
			q.Count, err = parseInt(name, vals, 0, maxCount)
		case "_offset":
			q.Offset, err = parseInt(name, vals, 0, 1<<31-1)
		case "_total":
			switch vals[len(vals)-1] {
			case "none":
				q.Total = false
			case "estimate", "accurate":
				q.Total = true
			default:
				err = fhir.Errorf(fhir.Invalid, "_total must be none, estimate or accurate")
			}
		case "_sort":
			switch vals[len(vals)-1] {
			case "_lastUpdated":
				q.SortUpdated = store.SortAscending
			case "-_lastUpdated":
				q.SortUpdated = store.SortDescending
			default:
				err = ignore(name, fmt.Sprintf("sorting by %q is not supported yet", vals[len(vals)-1]))
			}
		case "_summary":
			if vals[len(vals)-1] == "count" {
				q.Count, q.Total = 0, true
			} else {
				err = ignore(name, "only _summary=count is supported yet")
			}
		case "_type":
			if len(types) == 1 {
				err = ignore(name, "_type applies to system search only")
				break
			}
			var ts []string
			for _, v := range vals {
				for _, t := range strings.Split(v, ",") {
					if !s.defs.IsResourceType(t) {
						return q, nil, fhir.Errorf(fhir.Invalid, "_type: unknown resource type %q", t)
					}
					ts = append(ts, t)
				}
			}
			q.Types = ts
		case "_format", "_pretty":
		default:
			err = ignore(name, "not supported yet")
		}
		if err != nil {
			return q, nil, err
		}
	}
	return q, ignored, nil
}

// parseIDs intersects repeated _id parameters, each a comma-separated OR list.
func parseIDs(vals []string) ([]string, error) {
	var result []string
	for i, v := range vals {
		ids := strings.Split(v, ",")
		for _, id := range ids {
			if !idPattern.MatchString(id) {
				return nil, fhir.Errorf(fhir.Invalid, "_id: invalid id %q", id)
			}
		}
		if i == 0 {
			result = ids
			continue
		}
		result = slices.DeleteFunc(result, func(id string) bool { return !slices.Contains(ids, id) })
	}
	return result, nil
}

func parseInt(name string, vals []string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(vals[len(vals)-1])
	if err != nil || n < lo {
		return 0, fhir.Errorf(fhir.Invalid, "%s must be an integer ≥ %d", name, lo)
	}
	return min(n, hi), nil
}

var datePattern = regexp.MustCompile(`^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$`)

// parseDateFilter reads a date search value with an optional prefix as the range
// its precision implies. Values without a zone are in loc (China has one zone).
func parseDateFilter(v string, loc *time.Location, now time.Time) ([]store.DateFilter, error) {
	prefix := "eq"
	if len(v) >= 2 && v[0] >= 'a' && v[0] <= 'z' {
		prefix, v = v[:2], v[2:]
	}
	switch prefix {
	case "eq", "ne", "lt", "gt", "le", "ge", "sa", "eb", "ap":
	default:
		return nil, fhir.Errorf(fhir.Invalid, "unknown date prefix %q", prefix)
	}
	low, high, err := dateRange(v, loc)
	if err != nil {
		return nil, err
	}
	if prefix == "ap" {
		// Approximately: widen by 10% of the distance from now, at least one day.
		gap := now.Sub(low)
		if gap < 0 {
			gap = -gap
		}
		widen := max(gap/10, 24*time.Hour)
		low, high, prefix = low.Add(-widen), high.Add(widen), "eq"
	}
	return []store.DateFilter{{Prefix: prefix, Low: low, High: high}}, nil
}

func dateRange(v string, loc *time.Location) (time.Time, time.Time, error) {
	m := datePattern.FindStringSubmatch(v)
	if m == nil {
		return time.Time{}, time.Time{}, fhir.Errorf(fhir.Invalid, "invalid date %q: expected YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]][Z|±hh:mm]", v)
	}
	num := func(s string, def int) int {
		if s == "" {
			return def
		}
		n, _ := strconv.Atoi(s)
		return n
	}
	zone := loc
	if m[8] != "" {
		t, err := time.Parse("Z07:00", m[8])
		if err != nil {
			return time.Time{}, time.Time{}, fhir.Errorf(fhir.Invalid, "invalid time zone in %q", v)
		}
		zone = t.Location()
	}
	y, mo, d, h, mi, sec := num(m[1], 0), num(m[2], 1), num(m[3], 1), num(m[4], 0), num(m[5], 0), num(m[6], 0)
	var nanos int
	if m[7] != "" {
		f, _ := strconv.ParseFloat("0"+m[7], 64)
		nanos = int(f * 1e9)
	}
	if mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, time.Time{}, fhir.Errorf(fhir.Invalid, "invalid date %q", v)
	}
	low := time.Date(y, time.Month(mo), d, h, mi, sec, nanos, zone)
	if low.Day() != d {
		return time.Time{}, time.Time{}, fhir.Errorf(fhir.Invalid, "invalid date %q: no such day", v)
	}
	var high time.Time
	switch {
	case m[2] == "":
		high = low.AddDate(1, 0, 0)
	case m[3] == "":
		high = low.AddDate(0, 1, 0)
	case m[4] == "":
		high = low.AddDate(0, 0, 1)
	case m[6] == "":
		high = low.Add(time.Minute)
	case m[7] == "":
		high = low.Add(time.Second)
	default:
		digits := len(m[7]) - 1
		step := time.Second
		for range min(digits, 9) {
			step /= 10
		}
		high = low.Add(step)
	}
	return low.UTC(), high.UTC(), nil
}

// search runs a search and renders the searchset Bundle.
func (s *Server) search(ctx context.Context, rd store.Reader, req *request, types []string) (*response, error) {
	q, ignored, err := s.parseSearch(types, req.query, req.prefer.strict)
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
	if len(types) == 1 && req.query.Get("_type") == "" {
		path = "/" + types[0]
	}
	selfQuery := usedParams(req.query, ignored)
	bundle := fhir.Resource{"resourceType": "Bundle", "id": newID(), "type": "searchset",
		"meta": map[string]any{"lastUpdated": fhir.FormatInstant(time.Now())}}
	if page.Total >= 0 {
		bundle["total"] = page.Total
	}
	links := []any{link("self", req.base+path, selfQuery)}
	if page.More {
		next := cloneValues(selfQuery)
		next.Set("_offset", strconv.Itoa(q.Offset+q.Count))
		next.Set("_count", strconv.Itoa(q.Count))
		links = append(links, link("next", req.base+path, next))
	}
	if q.Offset > 0 {
		prev := cloneValues(selfQuery)
		prev.Set("_offset", strconv.Itoa(max(q.Offset-q.Count, 0)))
		prev.Set("_count", strconv.Itoa(q.Count))
		links = append(links, link("previous", req.base+path, prev))
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
			issues[i] = fhir.Issue{Severity: "warning", Code: "not-supported", Diagnostics: "ignored search parameter " + why}
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

// usedParams are the query's parameters less the ignored ones and paging.
func usedParams(q url.Values, ignored []string) url.Values {
	out := url.Values{}
	for k, vs := range q {
		if k == "_offset" || k == "_format" || k == "_pretty" || k == "_cursor" {
			continue
		}
		skip := false
		for _, ig := range ignored {
			if strings.HasPrefix(ig, k+":") {
				skip = true
			}
		}
		if !skip {
			out[k] = vs
		}
	}
	return out
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
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
	hq := store.HistoryQuery{Type: rt.typ, ID: rt.id, Count: defaultCount}
	for name, vals := range req.query {
		v := vals[len(vals)-1]
		var err error
		switch name {
		case "_count":
			hq.Count, err = parseInt(name, vals, 1, maxCount)
		case "_since":
			var low time.Time
			low, _, err = dateRange(v, s.cfg.Location)
			hq.Since = low
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
	self := usedParams(req.query, nil)
	links := []any{link("self", req.base+path, self)}
	if page.Next > 0 {
		next := cloneValues(self)
		next.Set("_cursor", strconv.FormatInt(page.Next, 10))
		next.Set("_count", strconv.Itoa(hq.Count))
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
