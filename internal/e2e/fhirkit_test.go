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
	node, dir := nodePackage(t, "fhirclient", "fhir-kit-client")
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

// nodePackage returns the node binary and the absolute path of the npm package in
// dir, installing its locked dependencies (npm ci) when module is missing. Without
// node and npm it skips, except in CI.
func nodePackage(t *testing.T, dir, module string) (node, abs string) {
	t.Helper()
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node and npm are required in CI: node: %v; npm: %v", errNode, errNpm)
		}
		t.Skipf("node or npm not installed: test with %s skipped", module)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "node_modules", module, "package.json")); err != nil {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = abs
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", abs, err, out)
		}
	}
	return node, abs
}
