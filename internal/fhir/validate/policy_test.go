package validate_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hip-platform/hip/internal/fhir/validate"
)

func TestPolicy(t *testing.T) {
	t.Parallel()
	v := newValidator()
	tests := []struct {
		name, json string
		err        string // substring; "" valid
		facility   string
		mode       validate.Mode
		profiles   int
	}{
		{"default only", `{"default":{"mode":"lenient"}}`, "", "org-1", validate.Lenient, 0},
		{"empty is strict", `{}`, "", "org-1", validate.Strict, 0},
		{"a facility's own rules", `{"default":{"mode":"strict"},"facilities":{"org-1":{"mode":"lenient","profiles":{"Patient":["` + validate.ProfileCNPatient + `"]}}}}`,
			"", "org-1", validate.Lenient, 1},
		{"other facilities get the default", `{"default":{"mode":"structural"},"facilities":{"org-1":{"mode":"lenient"}}}`, "", "org-2", validate.Structural, 0},
		{"a facility without a mode inherits the default's", `{"default":{"mode":"lenient"},"facilities":{"org-1":{}}}`, "", "org-1", validate.Lenient, 0},
		{"no facility: the default", `{"default":{"mode":"lenient"},"facilities":{"org-1":{"mode":"strict"}}}`, "", "", validate.Lenient, 0},
		{"unknown mode", `{"default":{"mode":"loose"}}`, `mode "loose"`, "", "", 0},
		{"unknown field", `{"default":{"mode":"strict"},"facility":{}}`, "unknown field", "", "", 0},
		{"profile of another type", `{"default":{"profiles":{"Observation":["` + validate.ProfileCNPatient + `"]}}}`, "is for Patient, not Observation", "", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			file := filepath.Join(t.TempDir(), "policy.json")
			if err := os.WriteFile(file, []byte(tc.json), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := v.LoadPolicy(file)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := p.For(tc.facility)
			if r.Mode != tc.mode || len(r.Profiles) != tc.profiles {
				t.Errorf("rules %+v, want mode %s and %d profiles", r, tc.mode, tc.profiles)
			}
		})
	}
}
