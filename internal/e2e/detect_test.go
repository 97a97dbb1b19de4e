package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDetect runs `hip detect` as docs/surveillance.md shows it and checks
// its output file byte for byte against the reference output of R's
// surveillance package (peer.R) for the same series and settings.
func TestDetect(t *testing.T) {
	t.Parallel()
	ref, err := filepath.Abs(filepath.Join("..", "..", "..", "shared", "surveillance"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ref); err != nil {
		t.Skipf("reference data not found (../shared/surveillance): %v", err)
	}
	tests := []struct {
		name, algo, series, want string
		opts                     []string
	}{
		{"earsC C1", "earsC", "salmonella_agona", "salmonella_agona__earsC_C1", []string{"method=C1"}},
		{"earsC C3 with state", "earsC", "ha_berlin", "ha_berlin__earsC_C3", []string{"method=C3"}},
		{"cusum rossi with dates", "cusum", "campyDE", "campyDE__cusum_rossi", []string{"trans=rossi"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "result.csv")
			args := append([]string{"detect", "--algo", tt.algo, "--in", filepath.Join(ref, "data", tt.series+".csv"), "--out", out}, tt.opts...)
			msg, err := runHip(t, args...)
			if err != nil {
				t.Fatalf("hip %s: %v\n%s", strings.Join(args, " "), err, msg)
			}
			got, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(ref, "out", tt.want+".csv"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for i := 0; i < len(g) && i < len(w); i++ {
					if g[i] != w[i] {
						t.Fatalf("line %d differs from R's (%d lines, R %d):\n ours %s\n R    %s", i+1, len(g), len(w), g[i], w[i])
					}
				}
				t.Fatalf("%d lines, R's %d", len(g), len(w))
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		in := filepath.Join(ref, "data", "salmonella_agona.csv")
		for _, tc := range []struct {
			args []string
			msg  string
		}{
			{[]string{"--algo", "earsC", "--in", in}, "--algo, --in and --out are required"},
			{[]string{"--algo", "glrnb", "--in", in, "--out", "-"}, `unknown algorithm "glrnb" (known: cusum, earsC, farrington, farringtonFlexible, movingPercentile)`},
			{[]string{"--algo", "earsC", "--in", in, "--out", "-", "methd=C2"}, "unknown option methd"},
			{[]string{"--algo", "earsC", "--in", in, "--out", "-", "alpha=x"}, "option alpha=x: not a number"},
		} {
			msg, err := runHip(t, append([]string{"detect"}, tc.args...)...)
			if err == nil || !strings.Contains(msg, tc.msg) {
				t.Errorf("hip detect %s: %v, output %q; want an error with %q", strings.Join(tc.args, " "), err, msg, tc.msg)
			}
		}
	})
}
