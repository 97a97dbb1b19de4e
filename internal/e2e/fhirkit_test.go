package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestFHIRKitClient drives hip with fhir-kit-client (npm), a FHIR client we did not
// write: create, read, update, vread, search by _id and a transaction with a urn:uuid
// reference, each checked by fhirclient/client.mjs.
func TestFHIRKitClient(t *testing.T) {
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and npm are required in CI: node: %v; npm: %v", errNode, errNpm)
		}
		t.Skip("node or npm not installed: fhir-kit-client test skipped")
	}
	dir, err := filepath.Abs("fhirclient")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "fhir-kit-client", "package.json")); err != nil {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	forEachBackend(t, func(t *testing.T, db string) {
		s := startServer(t, db)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "client.mjs", s.Base)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("node client.mjs %s: %v\n%s", s.Base, err, out)
		} else {
			t.Logf("fhir-kit-client:\n%s", out)
		}
	})
}
