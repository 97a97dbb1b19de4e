package auth

import (
	"fmt"
	"slices"
)

// Role is what a principal is in the region's care system; with the granted
// scopes it decides what they may do (policy.go).
type Role string

// Roles.
const (
	// RoleResident sees only their own person's records.
	RoleResident Role = "resident"
	// RoleClinician works at one facility: its patients' records, and another
	// facility's records of those patients for treatment.
	RoleClinician Role = "clinician"
	// RolePharmacist sees the prescriptions presented to their pharmacy.
	RolePharmacist Role = "pharmacist"
	// RoleRegulator sees aggregates and de-identified data; identified data
	// only with a stated purpose.
	RoleRegulator Role = "regulator"
	// RoleFacility is a facility's system: it writes and reads its own
	// facility's data.
	RoleFacility Role = "facility"
	// RoleAdmin administers the platform.
	RoleAdmin Role = "admin"
)

// Roles lists every role.
var Roles = []Role{RoleResident, RoleClinician, RolePharmacist, RoleRegulator, RoleFacility, RoleAdmin}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	if r := Role(s); slices.Contains(Roles, r) {
		return r, nil
	}
	return "", fmt.Errorf("auth: unknown role %q (one of resident, clinician, pharmacist, regulator, facility, admin)", s)
}

// NeedsFacility reports whether principals of the role act for a facility.
func (r Role) NeedsFacility() bool {
	return r == RoleClinician || r == RolePharmacist || r == RoleFacility
}

// ceilings are the most each role's tokens may carry; requested scopes are
// narrowed to them and an empty request gets all of them. The policy then
// decides on each resource within what the scopes allow.
var ceilings = map[Role]string{
	RoleResident:   "patient/*.rs patient/Consent.cruds openid fhirUser launch/patient offline_access online_access",
	RoleClinician:  "user/*.cruds openid fhirUser offline_access online_access",
	RolePharmacist: "user/*.rs user/MedicationDispense.cruds openid fhirUser offline_access online_access",
	RoleRegulator:  "user/*.rs openid fhirUser offline_access online_access",
	RoleFacility:   "system/*.cruds",
	RoleAdmin:      "system/*.cruds user/*.cruds openid fhirUser offline_access online_access",
}

// Ceiling returns the most a token of the role may carry.
func (r Role) Ceiling() Scopes {
	s, err := ParseScopes(ceilings[r])
	if err != nil {
		panic(err) // the table above is wrong
	}
	return s
}

// Grant narrows the requested scopes to the role's ceiling; an empty
// request is granted the whole ceiling.
func (r Role) Grant(requested string) (Scopes, error) {
	ceiling := r.Ceiling()
	req, err := ParseScopes(requested)
	if err != nil {
		return Scopes{}, err
	}
	if len(req.Resources) == 0 && len(req.Other) == 0 {
		return ceiling, nil
	}
	return req.Within(ceiling), nil
}
