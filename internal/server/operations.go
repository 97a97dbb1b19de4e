package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

// everything answers Patient/{id}/$everything
// (http://hl7.org/fhir/R4/patient-operation-everything.html): the patient,
// the resources of its compartment, paged, and on each page the resources
// they refer to (practitioners, organizations, medications …) as includes.
// It takes _since, _type, _count and _offset.
func (s *Server) everything(ctx context.Context, rd store.Reader, req *request, rt route) (*response, error) {
	patient, err := rd.Read(ctx, rt.typ, rt.id)
	if err != nil {
		return nil, err
	}
	values := url.Values{}
	var since int64 // the patient leads only if updated since _since
	for name, vals := range req.query {
		switch name {
		case "_since":
			for _, v := range vals {
				low, _, ok := search.DateRange(v, s.cfg.Location)
				if !ok {
					return nil, fhir.Errorf(fhir.Invalid, "_since %q is not a FHIR instant", v)
				}
				since = max(since, low)
				values.Add("_lastUpdated", "ge"+v)
			}
		case "_type", "_count", "_offset", "_cursor":
			values[name] = vals
		case "_format", "_pretty":
		case "start", "end":
			return nil, fhir.Errorf(fhir.NotSupported, "$everything parameter %s is not supported", name)
		default:
			return nil, fhir.Errorf(fhir.Invalid, "unknown $everything parameter %q", name)
		}
	}
	q, _, err := s.parser.Parse(nil, values, true)
	if err != nil {
		return nil, err
	}
	wantPatient := len(q.Types) == 0
	for _, t := range q.Types {
		wantPatient = wantPatient || t == "Patient"
	}
	if err := s.parser.InCompartment(q, rt.typ, rt.id); err != nil {
		return nil, err
	}
	q.Include = []search.Include{{Wildcard: true}}
	page, err := rd.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	// The patient leads the first page, and is never repeated as an include.
	if wantPatient && q.Offset == 0 && q.Cursor == "" && patient.Updated.UnixMilli() >= since {
		page.Resources = append([]store.Resource{*patient}, page.Resources...)
	}
	included := page.Included[:0]
	for _, r := range page.Included {
		if r.Type != patient.Type || r.ID != patient.ID {
			included = append(included, r)
		}
	}
	page.Included = included
	page.Total = -1
	self := func(offset int, cursor string) url.Values {
		v := url.Values{}
		for name, vals := range req.query {
			if name != "_offset" && name != "_cursor" && name != "_format" && name != "_pretty" {
				v[name] = vals
			}
		}
		v.Set("_count", fmt.Sprint(q.Count))
		if offset > 0 {
			v.Set("_offset", fmt.Sprint(offset))
		}
		if cursor != "" {
			v.Set("_cursor", cursor)
		}
		return v
	}
	return s.renderSearch(req, page, "/"+rt.typ+"/"+rt.id+"/$everything", self, q, nil), nil
}

// reindex answers [base]/$reindex and [base]/Type/$reindex: the index rows of
// every current resource (of the type) are rebuilt from the search
// parameters known now, so that a SearchParameter added later finds older
// resources. It runs to the end before answering.
func (s *Server) reindex(ctx context.Context, req *request, rt route) (*response, error) {
	var types []string
	if rt.typ != "" {
		types = []string{rt.typ}
	}
	n, err := s.store.Reindex(ctx, types, nil)
	if err != nil {
		return nil, err
	}
	what := "all resources"
	if rt.typ != "" {
		what = rt.typ + " resources"
	}
	s.log.Info("reindexed", "types", strings.Join(types, ","), "resources", n)
	return &response{status: http.StatusOK, resource: fhir.OperationOutcome(fhir.Issue{Severity: "information", Code: "informational",
		Diagnostics: fmt.Sprintf("reindexed %d %s", n, what)})}, nil
}

// checkSearchParameter refuses a SearchParameter that the indexer could not
// use, before it is stored.
func (s *Server) checkSearchParameter(res fhir.Resource) error {
	if res.Type() != "SearchParameter" {
		return nil
	}
	sp, err := search.ParamFromResource(res)
	if err == nil {
		err = s.indexer.Check(sp)
	}
	if err != nil {
		return fhir.Errorf(fhir.Unprocessable, "SearchParameter: %v", err)
	}
	return nil
}

// registerSearchParameters makes the active SearchParameters among stored
// searchable from now on. Resources written before must be reindexed
// ($reindex) to be found by them.
func (s *Server) registerSearchParameters(stored ...*store.Resource) {
	changed := false
	for _, r := range stored {
		if r == nil || r.Type != "SearchParameter" || r.Deleted {
			continue
		}
		res, err := fhir.Parse(r.Body)
		if err != nil {
			s.log.Error("register SearchParameter", "id", r.ID, "err", err)
			continue
		}
		if status, _ := res["status"].(string); status != "active" {
			continue
		}
		sp, err := search.ParamFromResource(res)
		if err == nil {
			err = s.indexer.Add(sp)
		}
		if err != nil {
			s.log.Error("register SearchParameter", "id", r.ID, "err", err)
			continue
		}
		changed = true
	}
	if changed {
		s.refreshCapabilities()
	}
}

// LoadSearchParameters registers the active SearchParameter resources in the
// store, as at start-up.
func (s *Server) LoadSearchParameters(ctx context.Context) error {
	values := url.Values{"status": {"active"}, "_count": {fmt.Sprint(search.MaxCount)}}
	for offset := 0; ; offset += search.MaxCount {
		values.Set("_offset", fmt.Sprint(offset))
		q, _, err := s.parser.Parse([]string{"SearchParameter"}, values, true)
		if err != nil {
			return err
		}
		page, err := s.store.Search(ctx, q)
		if err != nil {
			return fmt.Errorf("server: load SearchParameters: %w", err)
		}
		list := make([]*store.Resource, len(page.Resources))
		for i := range page.Resources {
			list[i] = &page.Resources[i]
		}
		s.registerSearchParameters(list...)
		if !page.More {
			return nil
		}
	}
}
