package auth

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Context is the first part of a SMART scope: whose data it grants.
type Context string

// SMART App Launch v2 scope contexts.
const (
	// ContextPatient grants the data of the patient in context (a resident's own).
	ContextPatient Context = "patient"
	// ContextUser grants what the user may see under their role.
	ContextUser Context = "user"
	// ContextSystem grants what a client system may see under its role.
	ContextSystem Context = "system"
)

// Perm is a set of SMART v2 permissions: create, read, update, delete, search.
type Perm uint8

// Permissions, in the order SMART v2 writes them (cruds).
const (
	PermCreate Perm = 1 << iota
	PermRead
	PermUpdate
	PermDelete
	PermSearch
	PermAll = PermCreate | PermRead | PermUpdate | PermDelete | PermSearch
)

func (p Perm) String() string {
	var b strings.Builder
	for i, c := range "cruds" {
		if p&(1<<i) != 0 {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// ResourceScope is one scope granting resources: patient/Observation.rs,
// user/*.cruds, system/Encounter.read (v1 names are read as their v2 sets).
// A v2 granular scope's query (patient/Observation.rs?category=laboratory)
// narrows it to resources matching those search parameters.
type ResourceScope struct {
	Context Context
	Type    string // a resource type or "*"
	Perms   Perm
	Query   url.Values // nil unless granular
}

func (s ResourceScope) String() string {
	out := string(s.Context) + "/" + s.Type + "." + s.Perms.String()
	if len(s.Query) > 0 {
		out += "?" + s.Query.Encode()
	}
	return out
}

// Scopes is a parsed scope string: the resource scopes and every other
// scope (openid, fhirUser, launch/patient, offline_access …) as written.
type Scopes struct {
	Resources []ResourceScope
	Other     []string
}

// maxScopes bounds the scopes of one request; no real client asks for more.
const maxScopes = 200

// ParseScopes reads a space-separated scope string (RFC 6749 §3.3). Resource
// scopes that are malformed are an error, so that a client learns of a typo
// instead of silently getting less; unknown non-resource scopes are kept in
// Other and granted nothing.
func ParseScopes(s string) (Scopes, error) {
	var out Scopes
	fields := strings.Fields(s)
	if len(fields) > maxScopes {
		return out, fmt.Errorf("auth: %d scopes, at most %d", len(fields), maxScopes)
	}
	for _, f := range fields {
		ctx, rest, ok := strings.Cut(f, "/")
		switch Context(ctx) {
		case ContextPatient, ContextUser, ContextSystem:
		default:
			ok = false
		}
		if !ok {
			if !slices.Contains(out.Other, f) {
				out.Other = append(out.Other, f)
			}
			continue
		}
		rs, err := parseResourceScope(Context(ctx), rest)
		if err != nil {
			return Scopes{}, fmt.Errorf("auth: scope %q: %w", f, err)
		}
		out.Resources = append(out.Resources, rs)
	}
	return out, nil
}

func parseResourceScope(ctx Context, rest string) (ResourceScope, error) {
	rs := ResourceScope{Context: ctx}
	rest, query, hasQuery := strings.Cut(rest, "?")
	typ, perms, ok := strings.Cut(rest, ".")
	if !ok {
		return rs, fmt.Errorf("no permissions after the resource type")
	}
	if typ != "*" && !validTypeName(typ) {
		return rs, fmt.Errorf("bad resource type %q", typ)
	}
	rs.Type = typ
	switch perms {
	case "read": // SMART v1
		rs.Perms = PermRead | PermSearch
	case "write":
		rs.Perms = PermCreate | PermUpdate | PermDelete
	case "*":
		rs.Perms = PermAll
	default:
		// v2: a subset of cruds, each letter once and in that order.
		last := -1
		for _, c := range perms {
			i := strings.IndexRune("cruds", c)
			if i <= last {
				return rs, fmt.Errorf("permissions %q are not a subset of cruds in order", perms)
			}
			last = i
			rs.Perms |= 1 << i
		}
		if rs.Perms == 0 {
			return rs, fmt.Errorf("no permissions")
		}
	}
	if hasQuery {
		if perms == "read" || perms == "write" || perms == "*" {
			return rs, fmt.Errorf("a query needs v2 permissions")
		}
		q, err := url.ParseQuery(query)
		if err != nil || len(q) == 0 {
			return rs, fmt.Errorf("bad query %q", query)
		}
		rs.Query = q
	}
	return rs, nil
}

// validTypeName reports whether s could be a FHIR resource type name.
func validTypeName(s string) bool {
	if s == "" || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// String writes the scopes back, space-separated, resource scopes first.
func (s Scopes) String() string {
	parts := make([]string, 0, len(s.Resources)+len(s.Other))
	for _, r := range s.Resources {
		parts = append(parts, r.String())
	}
	return strings.Join(append(parts, s.Other...), " ")
}

// Has reports whether a non-resource scope (openid, launch/patient …) was given.
func (s Scopes) Has(name string) bool { return slices.Contains(s.Other, name) }

// Grants returns the scopes that allow perm on typ, in any context.
func (s Scopes) Grants(typ string, perm Perm) []ResourceScope {
	var out []ResourceScope
	for _, r := range s.Resources {
		if (r.Type == "*" || r.Type == typ) && r.Perms&perm == perm {
			out = append(out, r)
		}
	}
	return out
}

// Within returns the part of s that ceiling allows: each resource scope of s
// narrowed to the permissions of a ceiling scope of the same context that
// covers its type; scopes no ceiling covers are dropped. A wildcard scope
// under a ceiling of named types becomes those types. Non-resource scopes are
// kept when ceiling lists them too.
func (s Scopes) Within(ceiling Scopes) Scopes {
	var out Scopes
	for _, r := range s.Resources {
		for _, c := range ceiling.Resources {
			if c.Context != r.Context {
				continue
			}
			perms := r.Perms & c.Perms
			if perms == 0 {
				continue
			}
			n := r
			n.Perms = perms
			switch {
			case c.Type == "*":
			case r.Type == "*" || r.Type == c.Type:
				n.Type = c.Type
			default:
				continue
			}
			if len(c.Query) > 0 {
				// A request cannot lift the ceiling's own restriction; two
				// different restrictions are not combined but refused.
				if len(r.Query) > 0 && r.Query.Encode() != c.Query.Encode() {
					continue
				}
				n.Query = c.Query
			}
			out.Resources = append(out.Resources, n)
		}
	}
	for _, o := range s.Other {
		if slices.Contains(ceiling.Other, o) {
			out.Other = append(out.Other, o)
		}
	}
	out.Resources = withoutCovered(out.Resources)
	return out
}

// withoutCovered drops the scopes another scope of the list grants already
// (patient/Consent.rs beside patient/*.rs), keeping the first of equal ones.
func withoutCovered(list []ResourceScope) []ResourceScope {
	var out []ResourceScope
	for i, r := range list {
		covered := false
		for j, o := range list {
			if i == j || !o.covers(r) || r.covers(o) && j > i {
				continue
			}
			covered = true
			break
		}
		if !covered {
			out = append(out, r)
		}
	}
	return out
}

// covers reports whether s grants everything r grants.
func (s ResourceScope) covers(r ResourceScope) bool {
	return s.Context == r.Context && (s.Type == "*" || s.Type == r.Type) && s.Perms&r.Perms == r.Perms &&
		(len(s.Query) == 0 || s.Query.Encode() == r.Query.Encode())
}
