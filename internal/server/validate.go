package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// iValidate is the $validate operation
// (http://hl7.org/fhir/R4/resource-operation-validate.html).
const iValidate = "operation-validate"

// validateRoute resolves Type/$validate and Type/{id}/$validate.
func validateRoute(p []string) (route, bool) {
	switch {
	case len(p) == 2 && p[1] == "$validate":
		return route{typ: p[0], interaction: iValidate}, true
	case len(p) == 3 && p[2] == "$validate":
		return route{typ: p[0], id: p[1], interaction: iValidate}, true
	}
	return route{}, false
}

// validate checks a resource without storing it: the body (the resource, or
// Parameters with resource, mode and profile) or, at instance level with no
// body, the stored resource. The answer is 200 with an OperationOutcome of
// the findings, or one information issue when there are none.
func (s *Server) validate(ctx context.Context, rd store.Reader, req *request, rt route) (*response, error) {
	var res fhir.Resource
	mode, profile := req.query.Get("mode"), req.query.Get("profile")
	if len(req.body) > 0 || req.resource != nil {
		body := req.resource
		if body == nil {
			var err error
			if body, err = fhir.Parse(req.body); err != nil {
				return &response{status: http.StatusOK, resource: fhir.OperationOutcome(fhir.AsError(err).Issues...)}, nil
			}
		}
		if body.Type() == "Parameters" && rt.typ != "Parameters" {
			ps, err := parametersOf(&request{method: http.MethodPost, resource: body})
			if err != nil {
				return nil, err
			}
			res = ps.resource("resource")
			if m := ps.str("mode"); m != "" {
				mode = m
			}
			if p := ps.str("profile"); p != "" {
				profile = p
			}
		} else {
			res = body
		}
	}
	switch mode {
	case "", "create", "update", "delete":
	default:
		return nil, fhir.Errorf(fhir.Invalid, "$validate mode must be create, update or delete, not %q", mode)
	}
	if res == nil && rt.id != "" {
		stored, err := rd.Read(ctx, rt.typ, rt.id)
		if err != nil {
			return nil, err
		}
		if mode == "delete" {
			return &response{status: http.StatusOK, resource: fhir.OperationOutcome(fhir.Issue{Severity: "information", Code: "informational",
				Diagnostics: "可以删除 the resource may be deleted"})}, nil
		}
		if res, err = fhir.Parse(stored.Body); err != nil {
			return nil, err
		}
	}
	if res == nil {
		return nil, fhir.Errorf(fhir.Invalid, "$validate needs a resource: in the body, or in a Parameters resource parameter")
	}
	var issues []fhir.Issue
	if got := res.Type(); got != rt.typ {
		issues = append(issues, fhir.Issue{Severity: "error", Code: "invalid",
			Diagnostics: fmt.Sprintf("resourceType %q does not match the type %q in the URL", got, rt.typ), Expression: []string{"resourceType"}})
	} else {
		var profiles []string
		if profile != "" {
			profiles = []string{profile}
		}
		issues = append(issues, s.validator.Validate(ctx, s.venv, res, profiles)...)
	}
	if rt.id != "" && (mode == "update" || mode == "") {
		if id := res.ID(); id != "" && id != rt.id {
			issues = append(issues, fhir.Issue{Severity: "error", Code: "invalid",
				Diagnostics: "id " + id + " does not match the URL's " + rt.id, Expression: []string{rt.typ + ".id"}})
		}
	}
	if !slices.ContainsFunc(issues, func(is fhir.Issue) bool { return is.Severity == "error" || is.Severity == "fatal" }) {
		issues = append([]fhir.Issue{{Severity: "information", Code: "informational", Diagnostics: "校验通过 the resource is valid"}}, issues...)
	}
	return &response{status: http.StatusOK, resource: fhir.OperationOutcome(issues...)}, nil
}
