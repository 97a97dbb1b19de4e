package server

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var urnUUID = regexp.MustCompile(`urn:uuid:[0-9a-f-]{36}`)

// BenchmarkTransaction posts a Synthea bundle per iteration from concurrent clients,
// with fresh urn:uuids each time, to a server over real HTTP; it reports resources/s.
func BenchmarkTransaction(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(sharedDir, "synthea", "bundle-008.json"))
	if err != nil {
		b.Skip("../shared/synthea absent: benchmark skipped")
	}
	entries := len(entriesOf(b, raw))
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			ts := newTestServer(b, be.open(b), 64<<20)
			b.SetParallelism(2) // 4 clients on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					fresh := map[string][]byte{}
					body := urnUUID.ReplaceAllFunc(raw, func(m []byte) []byte {
						if r, ok := fresh[string(m)]; ok {
							return r
						}
						r := []byte("urn:uuid:" + newID())
						fresh[string(m)] = r
						return r
					})
					if status, _, resp := call(b, "POST", ts.URL+"/fhir", nil, body); status != 200 {
						b.Errorf("%d %.300s", status, resp)
						return
					}
				}
			})
			b.ReportMetric(float64(entries*b.N)/b.Elapsed().Seconds(), "resources/s")
		})
	}
}

func entriesOf(t testing.TB, raw []byte) []any {
	list, _ := decode(t, raw)["entry"].([]any)
	return list
}
