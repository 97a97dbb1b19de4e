package earlywarning

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

// Searcher is what the warnings need of a store.
type Searcher interface {
	Search(ctx context.Context, q *search.Query) (*store.SearchPage, error)
}

// pageSize is the Conditions read per page of a scan.
const pageSize = 1000

// Load reads from the store the Conditions of the syndromes' codes whose
// onset falls on the days from from up to to (exclusive), with their
// patients, as the nightly scan does: one indexed search, paged, the
// patients included.
func (r *Register) Load(ctx context.Context, s Searcher, p *search.Parser, from, to time.Time) (int, error) {
	codes := slices.Sorted(maps.Keys(syndromeCodes))
	for i, c := range codes {
		codes[i] = fhir.SystemICD10 + "|" + c
	}
	values := url.Values{
		"code":       {strings.Join(codes, ",")},
		"onset-date": {"ge" + from.Format(time.DateOnly), "lt" + to.Format(time.DateOnly)},
		"_include":   {"Condition:subject"},
		"_count":     {fmt.Sprint(pageSize)},
	}
	q, _, err := p.Parse([]string{"Condition"}, values, true)
	if err != nil {
		return 0, fmt.Errorf("earlywarning: load: %w", err)
	}
	q.Total = search.TotalNone
	n := 0
	for {
		page, err := s.Search(ctx, q)
		if err != nil {
			return n, fmt.Errorf("earlywarning: load Conditions: %w", err)
		}
		for _, list := range [][]store.Resource{page.Included, page.Resources} {
			for _, res := range list {
				body, err := fhir.Parse(res.Body)
				if err == nil {
					err = r.Add(body)
				}
				if err != nil {
					return n, fmt.Errorf("earlywarning: load %s/%s: %w", res.Type, res.ID, err)
				}
			}
		}
		n += len(page.Resources)
		if page.Next == "" {
			return n, nil
		}
		q.Cursor = page.Next
	}
}
