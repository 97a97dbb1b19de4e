package e2e

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/bench"
	_ "modernc.org/sqlite" // PRAGMA integrity_check on the server's SQLite file
)

const (
	crashWorkers      = 4
	crashPatients     = 2  // created per bundle
	crashObservations = 16 // created per bundle, each referencing one of its patients
)

// TestKillDuringLoad kills hip (SIGKILL) while several clients post transactions, restarts
// it on the same database and checks what survived: every acknowledged transaction is
// there in full, no transaction is there in part, and every resource's history has no
// gaps. Each client sends its bundles one after the other, each bundle with ids of its
// own, so the test knows exactly what each one wrote:
//
//   - creates (PUT) of crashPatients patients and crashObservations observations;
//   - an update (PUT) of the first patient of the client's previous bundle (to version 2);
//   - an update of the client's "hot" patient, whose version therefore counts the
//     client's committed bundles and whose name says which bundle wrote it.
func TestKillDuringLoad(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db string) {
		s := startServer(t, db)
		run := randomHex(4)
		work := make([][]*loadBundle, crashWorkers)
		var acked atomic.Int64
		var killed atomic.Bool
		var wg sync.WaitGroup
		for w := range crashWorkers {
			wg.Go(func() {
				for k := 0; ; k++ {
					b := newLoadBundle(run, w, k)
					work[w] = append(work[w], b)
					resp, body, err := s.do(t.Context(), http.MethodPost, "/fhir", b.body)
					switch {
					case err != nil && killed.Load():
						return // the connection died with the server: this bundle is in doubt
					case err != nil:
						t.Errorf("worker %d bundle %d: %v", w, k, err)
						return
					case resp.StatusCode != http.StatusOK:
						if !killed.Load() {
							t.Errorf("worker %d bundle %d: POST /fhir %s: %s", w, k, resp.Status, bench.OutcomeText(body))
						}
						return
					}
					if err := b.checkResponse(body); err != nil {
						t.Errorf("worker %d bundle %d: %v", w, k, err)
						return
					}
					b.acked = true
					acked.Add(1)
				}
			})
		}
		// Load for at least 1.5s and until every client has had a few bundles
		// acknowledged, so that the kill lands on a database with history.
		start := time.Now()
		for (time.Since(start) < 1500*time.Millisecond || acked.Load() < 3*crashWorkers) && time.Since(start) < 30*time.Second {
			time.Sleep(20 * time.Millisecond)
		}
		killed.Store(true)
		s.kill()
		wg.Wait() // before any Fatal: the workers report through t
		t.Logf("killed hip after %s of load", time.Since(start).Round(time.Millisecond))
		if n := acked.Load(); n < 3*crashWorkers {
			t.Fatalf("only %d bundles acknowledged in 30s", n)
		}
		if t.Failed() {
			return
		}
		if !strings.HasPrefix(db, "postgres") {
			checkCrashImage(t, db)
		}

		restart := time.Now()
		s = startServer(t, db)
		t.Logf("restarted in %s", time.Since(restart).Round(time.Millisecond))
		verify := time.Now()
		var committed, sent atomic.Int64
		var vg sync.WaitGroup
		for w, bundles := range work {
			vg.Go(func() {
				n, err := verifyWorker(t, s, bundles)
				if err != nil {
					t.Errorf("worker %d: %v", w, err)
				}
				committed.Add(int64(n))
				sent.Add(int64(len(bundles)))
			})
		}
		vg.Wait()
		t.Logf("%d clients: %d bundles acknowledged, %d sent, %d committed after the kill; verified in %s",
			crashWorkers, acked.Load(), sent.Load(), committed.Load(), time.Since(verify).Round(time.Millisecond))

		if _, err := s.stop(); err != nil {
			t.Errorf("hip serve exited with %v after SIGTERM", err)
		}
		if !strings.HasPrefix(db, "postgres") {
			sqliteIntegrity(t, "file:"+db+"?mode=ro")
		}
	})
}

type ref struct{ typ, id string }

func (r ref) reference() string { return r.typ + "/" + r.id }

func (r ref) path() string { return "/fhir/" + r.reference() }

// loadBundle is one transaction of the crash test.
type loadBundle struct {
	seq     int
	created []ref // version 1 when the bundle commits; created[0] is updated by the next bundle
	hot     ref
	body    []byte
	acked   bool // the server answered 200
}

func newLoadBundle(run string, worker, seq int) *loadBundle {
	prefix := fmt.Sprintf("%s-w%d-", run, worker)
	id := func(kind string, j int) string { return fmt.Sprintf("%sb%d-%s%d", prefix, seq, kind, j) }
	b := &loadBundle{seq: seq, hot: ref{"Patient", prefix + "hot"}}
	var entries []any
	put := func(r ref, res map[string]any) {
		res["resourceType"], res["id"] = r.typ, r.id
		entries = append(entries, map[string]any{
			"resource": res,
			"request":  map[string]any{"method": "PUT", "url": r.reference()},
		})
	}
	put(b.hot, patient("Hot", fmt.Sprintf("b%d", seq)))
	for j := range crashPatients {
		r := ref{"Patient", id("p", j)}
		b.created = append(b.created, r)
		put(r, patient("Load", fmt.Sprintf("b%d", seq)))
	}
	for j := range crashObservations {
		r := ref{"Observation", id("o", j)}
		b.created = append(b.created, r)
		put(r, map[string]any{
			"status":        "final",
			"code":          map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}}},
			"subject":       map[string]any{"reference": b.created[j%crashPatients].reference()},
			"valueQuantity": map[string]any{"value": 60 + j, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
		})
	}
	if seq > 0 {
		prev := ref{"Patient", fmt.Sprintf("%sb%d-p0", prefix, seq-1)}
		put(prev, patient("Load", fmt.Sprintf("b%d", seq-1), fmt.Sprintf("updated-by-b%d", seq)))
	}
	b.body, _ = json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	return b
}

func patient(family string, given ...string) map[string]any {
	return map[string]any{"active": true, "name": []any{map[string]any{"family": family, "given": given}}}
}

// entries is the number of entries the bundle sends.
func (b *loadBundle) entries() int {
	if b.seq == 0 {
		return 1 + len(b.created)
	}
	return 2 + len(b.created)
}

func (b *loadBundle) checkResponse(body []byte) error {
	var reply struct {
		Type  string `json:"type"`
		Entry []struct {
			Response struct {
				Status string `json:"status"`
			} `json:"response"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &reply); err != nil {
		return fmt.Errorf("transaction response: invalid JSON: %w", err)
	}
	if reply.Type != "transaction-response" || len(reply.Entry) != b.entries() {
		return fmt.Errorf("transaction response: type %q with %d entries, want transaction-response with %d", reply.Type, len(reply.Entry), b.entries())
	}
	for i, e := range reply.Entry {
		if !strings.HasPrefix(e.Response.Status, "200") && !strings.HasPrefix(e.Response.Status, "201") {
			return fmt.Errorf("transaction response: entry %d status %q, want 200 or 201", i, e.Response.Status)
		}
	}
	return nil
}

// verifyWorker checks one client's bundles after the restart and returns how many of
// them committed. The bundles were sent one after the other, so the committed ones
// must be a prefix that includes every acknowledged one.
func verifyWorker(t *testing.T, s *server, bundles []*loadBundle) (int, error) {
	var errs []error
	versions := map[ref]int{} // current version of every resource found
	committed := 0
	for k, b := range bundles {
		present := 0
		for _, r := range b.created {
			v, err := readCurrent(t, s, r)
			if err != nil {
				errs = append(errs, err)
			}
			if v > 0 {
				present++
				versions[r] = v
			}
		}
		switch {
		case present > 0 && present < len(b.created):
			errs = append(errs, fmt.Errorf("bundle %d (acknowledged %v) is half applied: %d of its %d created resources exist", k, b.acked, present, len(b.created)))
		case present == 0 && b.acked:
			errs = append(errs, fmt.Errorf("bundle %d was acknowledged with 200 but none of its resources exist after the restart", k))
		case present > 0 && committed < k:
			errs = append(errs, fmt.Errorf("bundle %d committed although bundle %d before it did not", k, committed))
		case present > 0:
			committed++
		}
	}
	// The first patient of bundle k is at version 2 if bundle k+1 committed.
	for k, b := range bundles[:committed] {
		for i, r := range b.created {
			want := 1
			if i == 0 && k+1 < committed {
				want = 2
			}
			if versions[r] != want {
				errs = append(errs, fmt.Errorf("%s is at version %d, want %d (%d bundles committed)", r.path(), versions[r], want, committed))
			}
			// Versions 1 are checked by the read; updated ones must list both.
			if want > 1 {
				if err := checkHistory(t, s, r, versions[r], nil); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if len(bundles) > 0 {
		hot := bundles[0].hot
		v, err := readCurrent(t, s, hot)
		switch {
		case err != nil:
			errs = append(errs, err)
		case v != committed:
			errs = append(errs, fmt.Errorf("%s is at version %d, want %d: one version per committed bundle", hot.path(), v, committed))
		case v > 0:
			// Version v was written by bundle v-1, which put its number in the name.
			err := checkHistory(t, s, hot, v, func(v int, body []byte) error {
				if want := fmt.Sprintf(`"b%d"`, v-1); !strings.Contains(string(body), want) {
					return fmt.Errorf("version %d does not name bundle %s: %s", v, want, body)
				}
				return nil
			})
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	return committed, errors.Join(errs...)
}

// readCurrent reads r and returns its current version, 0 if it does not exist. It
// checks that what it reads is r as JSON, with the version that ETag announces.
func readCurrent(t *testing.T, s *server, r ref) (int, error) {
	resp, body, err := s.do(t.Context(), http.MethodGet, r.path(), nil)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", r.path(), err)
	}
	switch resp.StatusCode {
	case http.StatusNotFound:
		return 0, nil
	case http.StatusOK:
	default:
		return 0, fmt.Errorf("GET %s: %s: %s", r.path(), resp.Status, bench.OutcomeText(body))
	}
	v, err := checkVersion(r, body)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", r.path(), err)
	}
	if etag := resp.Header.Get("ETag"); etag != "" && etag != fmt.Sprintf(`W/"%d"`, v) {
		return 0, fmt.Errorf("GET %s: ETag %s for meta.versionId %d", r.path(), etag, v)
	}
	return v, nil
}

// checkVersion checks that body is resource r and returns its meta.versionId.
func checkVersion(r ref, body []byte) (int, error) {
	res, err := decodeResource(body)
	if err != nil {
		return 0, err
	}
	var v int
	if _, err := fmt.Sscan(res.Meta.VersionID, &v); err != nil || v < 1 {
		return 0, fmt.Errorf("meta.versionId %q is not a positive number", res.Meta.VersionID)
	}
	if res.ResourceType != r.typ || res.ID != r.id {
		return 0, fmt.Errorf("got %s/%s", res.ResourceType, res.ID)
	}
	return v, nil
}

// checkHistory checks that r's history lists exactly versions current..1, newest
// first (following the history's next links), and, when check is given, that each
// version reads back by vread and passes check.
func checkHistory(t *testing.T, s *server, r ref, current int, check func(v int, body []byte) error) error {
	var got []int
	for path := r.path() + "/_history"; path != ""; {
		resp, body, err := s.do(t.Context(), http.MethodGet, path, nil)
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", path, resp.Status, bench.OutcomeText(body))
		}
		var page struct {
			Type string `json:"type"`
			Link []struct {
				Relation string `json:"relation"`
				URL      string `json:"url"`
			} `json:"link"`
			Entry []struct {
				Resource json.RawMessage `json:"resource"`
			} `json:"entry"`
		}
		if err := json.Unmarshal(body, &page); err != nil || page.Type != "history" {
			return fmt.Errorf("GET %s: want a history Bundle (%v): %.300s", path, err, body)
		}
		for _, e := range page.Entry {
			v, err := checkVersion(r, e.Resource)
			if err != nil {
				return fmt.Errorf("GET %s: %w", path, err)
			}
			got = append(got, v)
		}
		if len(got) > current {
			break // more versions than expected: no need to page further
		}
		path = ""
		for _, l := range page.Link {
			if l.Relation == "next" {
				u, err := url.Parse(l.URL)
				if err != nil {
					return fmt.Errorf("GET %s: next link %q: %w", path, l.URL, err)
				}
				path = u.RequestURI()
			}
		}
	}
	want := make([]int, current)
	for i := range want {
		want[i] = current - i
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("GET %s/_history: versions %v, want %d..1", r.path(), got, current)
	}
	if check == nil {
		return nil
	}
	for v := 1; v <= current; v++ {
		path := fmt.Sprintf("%s/_history/%d", r.path(), v)
		resp, body, err := s.do(t.Context(), http.MethodGet, path, nil)
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", path, resp.Status, bench.OutcomeText(body))
		}
		if got, err := checkVersion(r, body); err != nil || got != v {
			return fmt.Errorf("GET %s: version %d (%v)", path, got, err)
		}
		if err := check(v, body); err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
	}
	return nil
}

// checkCrashImage runs an integrity check on a copy of the SQLite files exactly as the
// kill left them; opening the copy read-write lets SQLite recover its WAL as the
// restarted server would.
func checkCrashImage(t *testing.T, db string) {
	t.Helper()
	dir := t.TempDir()
	for _, suffix := range []string{"", "-wal"} {
		data, err := os.ReadFile(db + suffix)
		if errors.Is(err, os.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "crash.db"+suffix), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sqliteIntegrity(t, filepath.Join(dir, "crash.db"))
}

// sqliteIntegrity fails the test unless PRAGMA integrity_check answers ok.
func sqliteIntegrity(t *testing.T, dsn string) {
	t.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), "PRAGMA integrity_check")
	if err != nil {
		t.Fatalf("%s: PRAGMA integrity_check: %v", dsn, err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		got = append(got, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: PRAGMA integrity_check: %v", dsn, err)
	}
	if len(got) != 1 || got[0] != "ok" {
		t.Errorf("%s: PRAGMA integrity_check = %q, want ok", dsn, got)
	}
}
