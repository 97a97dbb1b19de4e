package storetest

import (
	"fmt"
	"testing"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/store"
)

// observation is a typical lab result of about 700 bytes.
func observation(b *testing.B) fhir.Resource {
	res, err := fhir.Parse([]byte(`{"resourceType":"Observation","status":"final",
		"category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
		"code":{"coding":[{"system":"http://loinc.org","code":"718-7","display":"Hemoglobin [Mass/volume] in Blood"}],"text":"血红蛋白"},
		"subject":{"reference":"Patient/p-1"},"encounter":{"reference":"Encounter/e-1"},
		"effectiveDateTime":"2025-03-01T08:30:00+08:00","issued":"2025-03-01T09:12:00.000+08:00",
		"performer":[{"reference":"Organization/county-hospital"}],
		"valueQuantity":{"value":13.2,"unit":"g/dL","system":"http://unitsofmeasure.org","code":"g/dL"},
		"referenceRange":[{"low":{"value":12.0,"unit":"g/dL"},"high":{"value":16.0,"unit":"g/dL"}}]}`))
	if err != nil {
		b.Fatal(err)
	}
	return res
}

// BenchPut writes one new resource per transaction.
func BenchPut(b *testing.B, s store.Store) {
	benchTx(b, s, 1)
}

// BenchTxBatch writes 100 new resources per transaction, as a bulk import does.
func BenchTxBatch(b *testing.B, s store.Store) {
	benchTx(b, s, 100)
}

func benchTx(b *testing.B, s store.Store, batch int) {
	ctx := b.Context()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		res := make([]fhir.Resource, batch)
		for i := range res {
			res[i] = observation(b)
			res[i]["id"] = fmt.Sprint("obs-", n+i)
		}
		err := s.Tx(ctx, func(tx store.Tx) error {
			for _, r := range res {
				if _, _, err := tx.Put(ctx, r, store.Precondition{}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		n += batch
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "resources/s")
}
