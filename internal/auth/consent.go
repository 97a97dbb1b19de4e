package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

// A resident restricts sharing with a Consent (scope patient-privacy,
// status active) whose provision denies:
//
//   - one facility: provision.actor.reference Organization/X — X sees none
//     of the resident's records but those it wrote itself;
//   - one category: provision.securityLabel, e.g. v3-ActCode PSY (mental
//     health) or HIV — records labelled so in meta.security are seen only
//     by the facility that wrote them; with an actor as well, only that
//     facility is refused them.
//
// Breaking the glass (ETREAT, with a reason) overrides consent, and the
// audit record says so. Administrators and regulators acting under a
// stated purpose are not bound by it (legal reporting).

// SystemActCode is the code system of confidentiality labels (PSY, HIV …).
const SystemActCode = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

// denial is what one resident's consents withhold.
type denial struct {
	patient    string
	facilities []string // Organization ids refused everything
	labels     []label  // categories refused
}

type label struct {
	system, code string
	facility     string // "" for everyone
}

// consentCache holds the active denials, read again after ttl or after a
// Consent is written through this process.
type consentCache struct {
	ttl time.Duration

	mu      sync.Mutex
	read    time.Time
	denials []denial
}

func (c *consentCache) invalidate() {
	c.mu.Lock()
	c.read = time.Time{}
	c.mu.Unlock()
}

// maxConsents bounds the consents read at once; beyond it the policy
// refuses rather than ignore some (a region's opt-outs are far fewer).
const maxConsents = search.MaxCount

// denials returns the active denials of the region and when they were read.
func (pol *Policy) denials(ctx context.Context, rd store.Reader) ([]denial, time.Time, error) {
	c := &pol.consents
	c.mu.Lock()
	if !c.read.IsZero() && time.Since(c.read) < c.ttl {
		d, read := c.denials, c.read
		c.mu.Unlock()
		return d, read, nil
	}
	c.mu.Unlock()
	q, _, err := pol.parser.Parse([]string{"Consent"}, url.Values{"status": {"active"}, "scope": {"patient-privacy"}}, true)
	if err != nil {
		return nil, time.Time{}, err
	}
	q.Count, q.Total = maxConsents, search.TotalNone
	byPatient := map[string]*denial{}
	now := time.Now()
	for {
		page, err := rd.Search(ctx, q)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("auth: read consents: %w", err)
		}
		for _, r := range page.Resources {
			if err := addDenial(byPatient, r.Body, now); err != nil {
				return nil, time.Time{}, fmt.Errorf("auth: Consent/%s: %w", r.ID, err)
			}
		}
		if page.Next == "" {
			break
		}
		q.Cursor = page.Next
	}
	out := make([]denial, 0, len(byPatient))
	for _, d := range byPatient {
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b denial) int { return strings.Compare(a.patient, b.patient) })
	read := time.Now()
	c.mu.Lock()
	c.denials, c.read = out, read
	c.mu.Unlock()
	return out, read, nil
}

// consentBody is the part of a Consent the policy reads.
type consentBody struct {
	Patient   struct{ Reference string } `json:"patient"`
	Provision struct {
		Type   string `json:"type"`
		Period struct {
			Start string `json:"start"`
			End   string `json:"end"`
		} `json:"period"`
		Actor []struct {
			Reference struct{ Reference string } `json:"reference"`
		} `json:"actor"`
		SecurityLabel []struct{ System, Code string } `json:"securityLabel"`
	} `json:"provision"`
}

func addDenial(byPatient map[string]*denial, body []byte, now time.Time) error {
	var c consentBody
	if err := json.Unmarshal(body, &c); err != nil {
		return err
	}
	pv := c.Provision
	patient, ok := strings.CutPrefix(c.Patient.Reference, "Patient/")
	if !ok || pv.Type != "deny" || !inPeriod(pv.Period.Start, pv.Period.End, now) {
		return nil
	}
	d := byPatient[patient]
	if d == nil {
		d = &denial{patient: patient}
		byPatient[patient] = d
	}
	var facilities []string
	for _, a := range pv.Actor {
		if org, ok := strings.CutPrefix(a.Reference.Reference, "Organization/"); ok {
			facilities = append(facilities, org)
		}
	}
	if len(pv.SecurityLabel) == 0 {
		d.facilities = append(d.facilities, facilities...)
		return nil
	}
	for _, l := range pv.SecurityLabel {
		if len(facilities) == 0 {
			d.labels = append(d.labels, label{system: l.System, code: l.Code})
		}
		for _, f := range facilities {
			d.labels = append(d.labels, label{system: l.System, code: l.Code, facility: f})
		}
	}
	return nil
}

// inPeriod reports whether now is within [start, end] (either open).
func inPeriod(start, end string, now time.Time) bool {
	parse := func(s string) (time.Time, bool) {
		for _, layout := range []string{time.RFC3339, "2006-01-02", "2006-01", "2006"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, true
			}
		}
		return time.Time{}, false
	}
	if t, ok := parse(start); ok && now.Before(t) {
		return false
	}
	if t, ok := parse(end); ok && now.After(t) {
		return false
	}
	return true
}

// consentClauses are the clauses that withhold from facility what the
// residents' consents withhold, for resources of typ: NOT (the patient is
// one who refused AND [the record has the label AND] the record was not
// written by facility).
func (pol *Policy) consentClauses(denials []denial, typ, facility string) ([]search.Clause, error) {
	param := "_id"
	if typ != "Patient" {
		if param = pol.patientParam(typ); param == "" {
			return nil, nil
		}
	}
	ref := func(p string) string {
		if typ == "Patient" {
			return p
		}
		return "Patient/" + p
	}
	var refused []string
	byLabel := map[label][]string{}
	for _, d := range denials {
		if slices.Contains(d.facilities, facility) {
			refused = append(refused, ref(d.patient))
		}
		for _, l := range d.labels {
			if l.facility == "" || l.facility == facility {
				k := label{system: l.system, code: l.code}
				byLabel[k] = append(byLabel[k], ref(d.patient))
			}
		}
	}
	notOurs, err := pol.clauses(typ, url.Values{"_tag:not": {SystemSourceFacility + "|" + facility}})
	if err != nil {
		return nil, err
	}
	var out []search.Clause
	withhold := func(values url.Values) error {
		inner, err := pol.clauses(typ, values)
		if err != nil {
			return err
		}
		out = append(out, search.Clause{Conditions: []search.Condition{{None: append(inner, notOurs...)}}})
		return nil
	}
	if len(refused) > 0 {
		if err := withhold(url.Values{param: {strings.Join(refused, ",")}}); err != nil {
			return nil, err
		}
	}
	labels := make([]label, 0, len(byLabel))
	for l := range byLabel {
		labels = append(labels, l)
	}
	slices.SortFunc(labels, func(a, b label) int { return strings.Compare(a.system+"|"+a.code, b.system+"|"+b.code) })
	for _, l := range labels {
		if err := withhold(url.Values{param: {strings.Join(byLabel[l], ",")}, "_security": {l.system + "|" + l.code}}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
