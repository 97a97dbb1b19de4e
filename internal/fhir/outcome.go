package fhir

// OperationOutcome renders issues as an OperationOutcome resource.
func OperationOutcome(issues ...Issue) Resource {
	list := make([]any, 0, len(issues))
	for _, is := range issues {
		m := map[string]any{"severity": is.Severity, "code": is.Code}
		if is.Severity == "" {
			m["severity"] = "error"
		}
		if is.Code == "" {
			m["code"] = "processing"
		}
		if is.Diagnostics != "" {
			m["diagnostics"] = is.Diagnostics
		}
		if len(is.Expression) > 0 {
			expr := make([]any, len(is.Expression))
			for i, x := range is.Expression {
				expr[i] = x
			}
			m["expression"] = expr
		}
		list = append(list, m)
	}
	return Resource{"resourceType": "OperationOutcome", "issue": list}
}

// Outcome renders an error as an OperationOutcome: its detailed issues if it has
// any, else one issue with its public message.
func (e *Error) Outcome() Resource {
	if len(e.Issues) > 0 {
		return OperationOutcome(e.Issues...)
	}
	return OperationOutcome(Issue{Severity: "error", Code: e.Code.IssueType(), Diagnostics: e.Message})
}
