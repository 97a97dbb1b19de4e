package auth

import (
	"testing"
)

func TestParseScopes(t *testing.T) {
	tests := []struct {
		in, want string // want: the scopes written back; "error" for a refusal
	}{
		{"patient/*.rs", "patient/*.rs"},
		{"user/Observation.cruds openid fhirUser", "user/Observation.cruds openid fhirUser"},
		{"patient/Observation.read", "patient/Observation.rs"},
		{"user/*.write", "user/*.cud"},
		{"system/*.*", "system/*.cruds"},
		{"patient/Observation.rs?category=laboratory", "patient/Observation.rs?category=laboratory"},
		{"launch/patient  offline_access openid openid", "launch/patient offline_access openid"},
		{"", ""},
		{"patient/Observation.sr", "error"}, // out of order
		{"patient/Observation.rr", "error"}, // repeated
		{"patient/Observation.x", "error"},  // unknown letter
		{"patient/Observation", "error"},    // no permissions
		{"patient/observation.rs", "error"}, // not a type name
		{"patient/Observation.read?code=1", "error"},
		{"patient/Observation.rs?", "error"},
		{"user/*.", "error"},
	}
	for _, tc := range tests {
		got, err := ParseScopes(tc.in)
		if tc.want == "error" {
			if err == nil {
				t.Errorf("ParseScopes(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got.String() != tc.want {
			t.Errorf("ParseScopes(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestGrant(t *testing.T) {
	tests := []struct {
		role      Role
		requested string
		want      string
	}{
		{RoleResident, "", RoleResident.Ceiling().String()},
		{RoleResident, "patient/Observation.rs launch/patient", "patient/Observation.rs launch/patient"},
		// A resident cannot widen to user or system scopes, nor write results.
		{RoleResident, "user/*.cruds system/*.cruds patient/Observation.cruds", "patient/Observation.rs"},
		{RoleResident, "patient/*.cruds", "patient/*.rs patient/Consent.cruds"},
		{RoleRegulator, "user/*.cruds", "user/*.rs"},
		{RolePharmacist, "user/MedicationDispense.cu user/Patient.d", "user/MedicationDispense.cu"},
		{RoleFacility, "system/Observation.c user/*.rs", "system/Observation.c"},
		{RoleClinician, "user/Observation.rs?category=laboratory", "user/Observation.rs?category=laboratory"},
		{RoleClinician, "openid unknown_scope", "openid"},
	}
	for _, tc := range tests {
		got, err := tc.role.Grant(tc.requested)
		if err != nil || got.String() != tc.want {
			t.Errorf("%s.Grant(%q) = %q, %v; want %q", tc.role, tc.requested, got, err, tc.want)
		}
	}
}

func TestScopesGrants(t *testing.T) {
	s, err := ParseScopes("user/Observation.rs user/*.c patient/Condition.r")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ  string
		perm Perm
		n    int
	}{
		{"Observation", PermRead, 1},
		{"Observation", PermRead | PermSearch, 1},
		{"Observation", PermCreate, 1},
		{"Observation", PermUpdate, 0},
		{"Condition", PermSearch, 0},
		{"Condition", PermRead, 1},
		{"Patient", PermCreate, 1},
	} {
		if got := s.Grants(tc.typ, tc.perm); len(got) != tc.n {
			t.Errorf("Grants(%s, %s) = %v, want %d scopes", tc.typ, tc.perm, got, tc.n)
		}
	}
}

func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{"patient/*.rs", "user/Observation.cruds?category=vital-signs openid", "system/*.*", "patient/x.read", "a/b.c?%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseScopes(s)
		if err != nil {
			return
		}
		// What parses writes back to something that parses to the same.
		again, err := ParseScopes(got.String())
		if err != nil || again.String() != got.String() {
			t.Fatalf("%q → %q → %q, %v", s, got, again, err)
		}
	})
}
