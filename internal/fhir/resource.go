package fhir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// Resource is a FHIR resource as its JSON object. Numbers are json.Number so that
// decimals keep their exact text (1.50 stays 1.50).
type Resource map[string]any

// Parse decodes one JSON object. It does not check FHIR structure (see package validate).
func Parse(data []byte) (Resource, error) {
	if depth := nesting(data); depth > MaxDepth {
		msg := fmt.Sprintf("JSON nested %d deep, at most %d", depth, MaxDepth)
		return nil, &Error{Code: Invalid, Message: msg, Issues: []Issue{{Severity: "error", Code: "too-costly", Diagnostics: msg}}}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &Error{Code: Invalid, Message: "malformed JSON: " + err.Error(),
			Issues: []Issue{{Severity: "error", Code: "structure", Diagnostics: "malformed JSON: " + err.Error()}}}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &Error{Code: Invalid, Message: "malformed JSON: trailing data after the resource",
			Issues: []Issue{{Severity: "error", Code: "structure", Diagnostics: "malformed JSON: trailing data after the resource"}}}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &Error{Code: Invalid, Message: "a resource must be a JSON object",
			Issues: []Issue{{Severity: "error", Code: "structure", Diagnostics: "a resource must be a JSON object"}}}
	}
	return Resource(m), nil
}

// MaxDepth bounds the nesting of objects and arrays in a resource: real
// resources (contained resources, nested extensions) stay far below it, and a
// deeper document only costs the decoder and every walk over it.
const MaxDepth = 100

// nesting returns the deepest nesting of objects and arrays in JSON text,
// stopping early past MaxDepth; strings are skipped.
func nesting(data []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			if depth > deepest {
				deepest = depth
				if deepest > MaxDepth {
					return deepest
				}
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// Type returns resourceType, or "" when absent or not a string.
func (r Resource) Type() string { s, _ := r["resourceType"].(string); return s }

// ID returns id, or "" when absent or not a string.
func (r Resource) ID() string { s, _ := r["id"].(string); return s }

// Meta returns the meta object, creating it when absent.
func (r Resource) Meta() map[string]any {
	if m, ok := r["meta"].(map[string]any); ok {
		return m
	}
	m := map[string]any{}
	r["meta"] = m
	return m
}

// VersionID returns meta.versionId, or "".
func (r Resource) VersionID() string {
	m, _ := r["meta"].(map[string]any)
	s, _ := m["versionId"].(string)
	return s
}

// Stamp sets the server-assigned id, meta.versionId and meta.lastUpdated.
func (r Resource) Stamp(id string, version int64, updated time.Time) {
	r["id"] = id
	m := r.Meta()
	m["versionId"] = fmt.Sprint(version)
	m["lastUpdated"] = FormatInstant(updated)
}

// FormatInstant renders t as a FHIR instant in UTC with millisecond precision.
func FormatInstant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
