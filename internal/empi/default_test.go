package empi

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/hip-platform/hip/data"
)

var update = flag.Bool("update", false, "rewrite data/empi-model.json")

// TestDefaultModelUpToDate trains the default model as documented (the
// default configuration on synth.Registrations, seed 1, 20,000 residents)
// and checks that the shipped data/empi-model.json is exactly that model;
// go test ./internal/empi -run DefaultModel -update rewrites it.
func TestDefaultModelUpToDate(t *testing.T) {
	t.Parallel()
	recs, _, err := SyntheticRecords(context.Background(), 1, DefaultModelResidents)
	if err != nil {
		t.Fatal(err)
	}
	m, err := TrainModel(recs, Config{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("..", "..", "data", "empi-model.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if string(got) != data.EMPIDefaultModel {
		t.Errorf("data/empi-model.json is not the model the default configuration trains; run go test ./internal/empi -run DefaultModel -update")
	}
}
