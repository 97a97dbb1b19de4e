package empi

import (
	"context"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/synth"
)

// SyntheticRecords generates a synthetic region's registrations — every
// resident's own Patient and, for about 8 %, registrations at other
// facilities with variants — as index records, with the manifest holding
// the ground truth. The default model is trained on them; tests and
// benchmarks measure against their truth.
func SyntheticRecords(ctx context.Context, seed uint64, residents int) ([]Record, *synth.Manifest, error) {
	var recs []Record
	m, err := synth.Registrations(ctx, synth.Config{Seed: seed, Residents: residents, Scenarios: synth.Scenarios{Duplicates: true}},
		func(r fhir.Resource) error {
			recs = append(recs, FromPatient(r))
			return nil
		})
	return recs, m, err
}
