// Package storetest is the conformance suite every store.Store backend passes.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
	"github.com/hip-platform/hip/internal/store"
)

// Run runs the suite. open returns an empty store of its own for each subtest,
// closed by the backend in t.Cleanup; subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s store.Store)
	}{
		{"Ping", testPing},
		{"CreateReadUpdate", testCreateReadUpdate},
		{"Missing", testMissing},
		{"InvalidPut", testInvalidPut},
		{"Delete", testDelete},
		{"RecreateAfterDelete", testRecreateAfterDelete},
		{"IfMatch", testIfMatch},
		{"IfNoneExist", testIfNoneExist},
		{"InstanceHistory", testInstanceHistory},
		{"TypeAndSystemHistory", testTypeAndSystemHistory},
		{"HistoryDefaultCount", testHistoryDefaultCount},
		{"SearchTypesAndIDs", testSearchTypesAndIDs},
		{"SearchLastUpdated", testSearchLastUpdated},
		{"SearchPaging", testSearchPaging},
		{"IndexFollowsWrites", testIndexFollowsWrites},
		{"CursorPaging", testCursorPaging},
		{"Totals", testTotals},
		{"LargeClauses", testLargeClauses},
		{"WriteOrder", testWriteOrder},
		{"RareHas", testRareHas},
		{"TxRollback", testTxRollback},
		{"TxSeesOwnWrites", testTxSeesOwnWrites},
		{"ConcurrentIfMatch", testConcurrentIfMatch},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ConcurrentLockedUpdates", testConcurrentLockedUpdates},
		{"ConcurrentCreates", testConcurrentCreates},
		{"ConcurrentCreateSameID", testConcurrentCreateSameID},
		{"LateWriterStaysNewest", testLateWriterStaysNewest},
		{"Accounts", testAccounts},
		{"AuditLog", testAuditLog},
		{"Access", testAccess},
		{"WriteCheck", testWriteCheck},
		{"MPI", testMPI},
		{"MPIRollback", testMPIRollback},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.test(t, open(t))
		})
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Ping(ctx); err == nil {
		t.Errorf("Ping with a cancelled context succeeded")
	}
}

func resource(typ, id string) fhir.Resource {
	return fhir.Resource{"resourceType": typ, "id": id, "active": true}
}

// put writes res in a transaction of its own.
func put(t *testing.T, s store.Store, res fhir.Resource, pre store.Precondition) (*store.Resource, bool, error) {
	t.Helper()
	var stored *store.Resource
	var created bool
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		var err error
		stored, created, err = tx.Put(t.Context(), res, pre)
		return err
	})
	return stored, created, err
}

func mustPut(t *testing.T, s store.Store, typ, id string) *store.Resource {
	t.Helper()
	stored, _, err := put(t, s, resource(typ, id), store.Precondition{})
	if err != nil {
		t.Fatalf("put %s/%s: %v", typ, id, err)
	}
	return stored
}

func del(t *testing.T, s store.Store, typ, id string, pre store.Precondition) (*store.Resource, error) {
	t.Helper()
	var marker *store.Resource
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		var err error
		marker, err = tx.Delete(t.Context(), typ, id, pre)
		return err
	})
	return marker, err
}

func wantCode(t *testing.T, err error, want fhir.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s", want)
	}
	var fe *fhir.Error
	if !errors.As(err, &fe) || fe.Code != want {
		t.Fatalf("err = %v, want a *fhir.Error coded %s", err, want)
	}
}

// wantResource checks a stored version's identity and that its body carries it.
func wantResource(t *testing.T, got *store.Resource, typ, id string, version int64) {
	t.Helper()
	if got == nil {
		t.Fatalf("got nil, want %s/%s version %d", typ, id, version)
	}
	if got.Type != typ || got.ID != id || got.Version != version || got.Deleted {
		t.Fatalf("got %s/%s version %d deleted %v, want %s/%s version %d", got.Type, got.ID, got.Version, got.Deleted, typ, id, version)
	}
	body, err := fhir.Parse(got.Body)
	if err != nil {
		t.Fatalf("body %q: %v", got.Body, err)
	}
	if body.Type() != typ || body.ID() != id || body.VersionID() != fmt.Sprint(version) {
		t.Errorf("body %s: want %s/%s versionId %d", got.Body, typ, id, version)
	}
	if want := fhir.FormatInstant(got.Updated); body.Meta()["lastUpdated"] != want {
		t.Errorf("body %s: want lastUpdated %s", got.Body, want)
	}
	if got.Updated.Location() != time.UTC || !got.Updated.Equal(got.Updated.Truncate(time.Millisecond)) {
		t.Errorf("Updated = %v, want UTC with millisecond precision", got.Updated)
	}
}

func wantMarker(t *testing.T, got *store.Resource, typ, id string, version int64) {
	t.Helper()
	if got == nil || got.Type != typ || got.ID != id || got.Version != version || !got.Deleted || got.Body != nil {
		t.Fatalf("got %+v, want the delete marker %s/%s version %d", got, typ, id, version)
	}
}

func testCreateReadUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	res := resource("Patient", "p1")
	v1, created, err := put(t, s, res, store.Precondition{})
	if err != nil || !created {
		t.Fatalf("create: created %v, err %v; want true, nil", created, err)
	}
	wantResource(t, v1, "Patient", "p1", 1)
	if res.VersionID() != "1" {
		t.Errorf("Put did not stamp the caller's resource: %v", res)
	}
	if v1.Method() != "POST" {
		t.Errorf("Method() = %s, want POST", v1.Method())
	}
	got, err := s.Read(ctx, "Patient", "p1")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Body) != string(v1.Body) || got.Seq != v1.Seq || !got.Updated.Equal(v1.Updated) {
		t.Errorf("Read = %+v, want %+v", got, v1)
	}

	upd := resource("Patient", "p1")
	upd["active"] = false
	v2, created, err := put(t, s, upd, store.Precondition{})
	if err != nil || created {
		t.Fatalf("update: created %v, err %v; want false, nil", created, err)
	}
	wantResource(t, v2, "Patient", "p1", 2)
	if v2.Seq <= v1.Seq || v2.Method() != "PUT" {
		t.Errorf("v2 seq %d method %s, want seq > %d and PUT", v2.Seq, v2.Method(), v1.Seq)
	}
	got, err = s.Read(ctx, "Patient", "p1")
	if err != nil || string(got.Body) != string(v2.Body) {
		t.Fatalf("Read after update = %+v, %v; want version 2", got, err)
	}
	old, err := s.VRead(ctx, "Patient", "p1", 1)
	if err != nil || string(old.Body) != string(v1.Body) {
		t.Fatalf("VRead 1 = %+v, %v; want the first version", old, err)
	}
	_, err = s.VRead(ctx, "Patient", "p1", 3)
	wantCode(t, err, fhir.NotFound)
}

func testMissing(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.Read(ctx, "Patient", "nope")
	wantCode(t, err, fhir.NotFound)
	_, err = s.VRead(ctx, "Patient", "nope", 1)
	wantCode(t, err, fhir.NotFound)
	marker, err := del(t, s, "Patient", "nope", store.Precondition{})
	if marker != nil || err != nil {
		t.Errorf("Delete missing = %+v, %v; want nil, nil", marker, err)
	}
	// Same id, other type.
	mustPut(t, s, "Observation", "x")
	_, err = s.Read(ctx, "Patient", "x")
	wantCode(t, err, fhir.NotFound)
}

func testInvalidPut(t *testing.T, s store.Store) {
	for _, res := range []fhir.Resource{{"resourceType": "Patient"}, {"id": "a"}} {
		_, _, err := put(t, s, res, store.Precondition{})
		wantCode(t, err, fhir.Invalid)
	}
}

func testDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "Patient", "p1")
	marker, err := del(t, s, "Patient", "p1", store.Precondition{})
	if err != nil {
		t.Fatal(err)
	}
	wantMarker(t, marker, "Patient", "p1", 2)
	if marker.Method() != "DELETE" {
		t.Errorf("Method() = %s, want DELETE", marker.Method())
	}
	got, err := s.Read(ctx, "Patient", "p1")
	wantCode(t, err, fhir.Gone)
	wantMarker(t, got, "Patient", "p1", 2)
	got, err = s.VRead(ctx, "Patient", "p1", 2)
	wantCode(t, err, fhir.Gone)
	wantMarker(t, got, "Patient", "p1", 2)
	got, err = s.VRead(ctx, "Patient", "p1", 1)
	if err != nil {
		t.Fatal(err)
	}
	wantResource(t, got, "Patient", "p1", 1)

	again, err := del(t, s, "Patient", "p1", store.Precondition{})
	if again != nil || err != nil {
		t.Errorf("second Delete = %+v, %v; want nil, nil", again, err)
	}
	h, err := s.History(ctx, store.HistoryQuery{Type: "Patient", ID: "p1"})
	if err != nil || h.Total != 2 {
		t.Fatalf("History = %+v, %v; want 2 versions", h, err)
	}
	page, err := s.Search(ctx, Query(t, "Patient", "_total=accurate"))
	if err != nil || page.Total != 0 || len(page.Resources) != 0 {
		t.Errorf("Search after delete = %+v, %v; want nothing", page, err)
	}
}

func testRecreateAfterDelete(t *testing.T, s store.Store) {
	mustPut(t, s, "Patient", "p1")
	if _, err := del(t, s, "Patient", "p1", store.Precondition{}); err != nil {
		t.Fatal(err)
	}
	v3, created, err := put(t, s, resource("Patient", "p1"), store.Precondition{})
	if err != nil || !created {
		t.Fatalf("re-create: created %v, err %v; want true, nil", created, err)
	}
	wantResource(t, v3, "Patient", "p1", 3)
	got, err := s.Read(t.Context(), "Patient", "p1")
	if err != nil {
		t.Fatal(err)
	}
	wantResource(t, got, "Patient", "p1", 3)
}

func testIfMatch(t *testing.T, s store.Store) {
	mustPut(t, s, "Patient", "p1")
	v2, _, err := put(t, s, resource("Patient", "p1"), store.Precondition{IfMatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	wantResource(t, v2, "Patient", "p1", 2)
	_, _, err = put(t, s, resource("Patient", "p1"), store.Precondition{IfMatch: 1})
	wantCode(t, err, fhir.PreconditionFailed)
	_, _, err = put(t, s, resource("Patient", "missing"), store.Precondition{IfMatch: 1})
	wantCode(t, err, fhir.PreconditionFailed)
	_, err = del(t, s, "Patient", "p1", store.Precondition{IfMatch: 1})
	wantCode(t, err, fhir.PreconditionFailed)
	marker, err := del(t, s, "Patient", "p1", store.Precondition{IfMatch: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantMarker(t, marker, "Patient", "p1", 3)
	// A deleted resource matches no version, not even its marker's.
	for _, v := range []int64{2, 3} {
		_, _, err = put(t, s, resource("Patient", "p1"), store.Precondition{IfMatch: v})
		wantCode(t, err, fhir.PreconditionFailed)
	}
	got, err := s.Read(t.Context(), "Patient", "p1")
	wantCode(t, err, fhir.Gone)
	wantMarker(t, got, "Patient", "p1", 3)
}

func testIfNoneExist(t *testing.T, s store.Store) {
	create := store.Precondition{IfNoneExist: true}
	v1, created, err := put(t, s, resource("Patient", "p1"), create)
	if err != nil || !created {
		t.Fatalf("create: created %v, err %v; want true, nil", created, err)
	}
	wantResource(t, v1, "Patient", "p1", 1)
	_, _, err = put(t, s, resource("Patient", "p1"), create)
	wantCode(t, err, fhir.Conflict)
	if _, err := del(t, s, "Patient", "p1", store.Precondition{}); err != nil {
		t.Fatal(err)
	}
	v3, created, err := put(t, s, resource("Patient", "p1"), create)
	if err != nil || !created {
		t.Fatalf("re-create deleted id: created %v, err %v; want true, nil", created, err)
	}
	wantResource(t, v3, "Patient", "p1", 3)
}

// versions lists a history page as type/id/version strings.
func versions(page *store.HistoryPage) []string {
	var out []string
	for _, v := range page.Versions {
		out = append(out, fmt.Sprintf("%s/%s/%d", v.Type, v.ID, v.Version))
	}
	return out
}

func history(t *testing.T, s store.Reader, q store.HistoryQuery) *store.HistoryPage {
	t.Helper()
	page, err := s.History(t.Context(), q)
	if err != nil {
		t.Fatalf("History(%+v): %v", q, err)
	}
	return page
}

// tick waits until the clock has moved past the last transaction's millisecond,
// so that the next write gets a later lastUpdated.
func tick() { time.Sleep(3 * time.Millisecond) }

func testInstanceHistory(t *testing.T, s store.Store) {
	mustPut(t, s, "Patient", "p1")
	mustPut(t, s, "Patient", "p1")
	tick()
	v3 := mustPut(t, s, "Patient", "p1")
	if _, err := del(t, s, "Patient", "p1", store.Precondition{}); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "Patient", "other")

	q := store.HistoryQuery{Type: "Patient", ID: "p1", Count: 2}
	page := history(t, s, q)
	if got, want := versions(page), []string{"Patient/p1/4", "Patient/p1/3"}; !slices.Equal(got, want) {
		t.Fatalf("page 1 = %v, want %v", got, want)
	}
	if page.Total != 4 || page.Next == 0 {
		t.Fatalf("page 1 Total %d Next %d, want 4 and a cursor", page.Total, page.Next)
	}
	wantMarker(t, &page.Versions[0], "Patient", "p1", 4)
	if page.Versions[0].Method() != "DELETE" || page.Versions[1].Method() != "PUT" {
		t.Errorf("methods %s %s, want DELETE PUT", page.Versions[0].Method(), page.Versions[1].Method())
	}
	q.Before = page.Next
	page = history(t, s, q)
	if got, want := versions(page), []string{"Patient/p1/2", "Patient/p1/1"}; !slices.Equal(got, want) {
		t.Fatalf("page 2 = %v, want %v", got, want)
	}
	if page.Total != 4 || page.Next != 0 {
		t.Fatalf("page 2 Total %d Next %d, want 4 and no cursor", page.Total, page.Next)
	}

	page = history(t, s, store.HistoryQuery{Type: "Patient", ID: "p1", Since: v3.Updated})
	if got, want := versions(page), []string{"Patient/p1/4", "Patient/p1/3"}; !slices.Equal(got, want) || page.Total != 2 {
		t.Fatalf("since v3 = %v total %d, want %v total 2", got, page.Total, want)
	}
	page = history(t, s, store.HistoryQuery{Type: "Patient", ID: "p1", Since: v3.Updated.Add(time.Millisecond)})
	if page.Total > 1 {
		t.Fatalf("since after v3 = %v, want at most the delete", versions(page))
	}
}

func testTypeAndSystemHistory(t *testing.T, s store.Store) {
	mustPut(t, s, "Patient", "a")
	mustPut(t, s, "Observation", "o")
	mustPut(t, s, "Patient", "b")
	mustPut(t, s, "Patient", "a")

	page := history(t, s, store.HistoryQuery{Type: "Patient"})
	if got, want := versions(page), []string{"Patient/a/2", "Patient/b/1", "Patient/a/1"}; !slices.Equal(got, want) || page.Total != 3 {
		t.Fatalf("type history = %v total %d, want %v total 3", got, page.Total, want)
	}
	want := []string{"Patient/a/2", "Patient/b/1", "Observation/o/1", "Patient/a/1"}
	page = history(t, s, store.HistoryQuery{})
	if got := versions(page); !slices.Equal(got, want) || page.Total != 4 || page.Next != 0 {
		t.Fatalf("system history = %v total %d next %d, want %v total 4", got, page.Total, page.Next, want)
	}
	for i := 1; i < len(page.Versions); i++ {
		if page.Versions[i].Seq >= page.Versions[i-1].Seq {
			t.Errorf("seq not decreasing: %d then %d", page.Versions[i-1].Seq, page.Versions[i].Seq)
		}
	}
	// Walk the system history one version per page.
	var walked []string
	q := store.HistoryQuery{Count: 1}
	for {
		page := history(t, s, q)
		walked = append(walked, versions(page)...)
		if page.Total != 4 {
			t.Fatalf("Total = %d on a later page, want 4", page.Total)
		}
		if page.Next == 0 {
			break
		}
		q.Before = page.Next
	}
	if !slices.Equal(walked, want) {
		t.Fatalf("paged system history = %v, want %v", walked, want)
	}
}

func testHistoryDefaultCount(t *testing.T, s store.Store) {
	err := s.Tx(t.Context(), func(tx store.Tx) error {
		for range 55 {
			if _, _, err := tx.Put(t.Context(), resource("Patient", "p"), store.Precondition{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	page := history(t, s, store.HistoryQuery{Type: "Patient", ID: "p"})
	if len(page.Versions) != 50 || page.Total != 55 || page.Next == 0 {
		t.Fatalf("default page: %d versions, total %d, next %d; want 50, 55, a cursor", len(page.Versions), page.Total, page.Next)
	}
	if v := page.Versions[0]; v.Version != 55 {
		t.Errorf("newest = version %d, want 55", v.Version)
	}
}

// keys lists a search page as type/id strings.
func keys(page *store.SearchPage) []string {
	var out []string
	for _, r := range page.Resources {
		out = append(out, r.Type+"/"+r.ID)
	}
	return out
}

func run(t *testing.T, s store.Reader, q *search.Query) *store.SearchPage {
	t.Helper()
	page, err := s.Search(t.Context(), q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	return page
}

func testSearchTypesAndIDs(t *testing.T, s store.Store) {
	for _, k := range [][2]string{{"Patient", "a"}, {"Patient", "b"}, {"Patient", "c"}, {"Observation", "a"}, {"Encounter", "e"}} {
		mustPut(t, s, k[0], k[1])
	}
	mustPut(t, s, "Patient", "b") // a second version is still one match
	if _, err := del(t, s, "Patient", "c", store.Precondition{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, types, params string
		want                []string
	}{
		{"type", "Patient", "", []string{"Patient/a", "Patient/b"}},
		{"types", "", "_type=Patient,Observation", []string{"Observation/a", "Patient/a", "Patient/b"}},
		{"system", "", "", []string{"Encounter/e", "Observation/a", "Patient/a", "Patient/b"}},
		{"_id", "Patient", "_id=b,c,zz", []string{"Patient/b"}},
		{"system _id", "", "_id=a", []string{"Observation/a", "Patient/a"}},
		{"no such type", "Claim", "", nil},
		{"no id can match", "Patient", "_id=a&_id=b", nil},
		{"_id:not", "Patient", "_id:not=a", []string{"Patient/b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := Query(t, tc.types, tc.params+"&_total=none")
			page := run(t, s, q)
			got := keys(page)
			slices.Sort(got) // store order is stable but unspecified
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if page.Total != -1 || page.More {
				t.Errorf("Total %d More %v, want -1 (not asked) and false", page.Total, page.More)
			}
			for _, r := range page.Resources {
				if r.Deleted || r.Body == nil {
					t.Errorf("%s/%s: a deleted resource matched", r.Type, r.ID)
				}
			}
			q.Total = search.TotalAccurate
			if page := run(t, s, q); page.Total != len(tc.want) {
				t.Errorf("Total = %d, want %d", page.Total, len(tc.want))
			}
		})
	}
	page := run(t, s, Query(t, "Patient", "_id=b"))
	if len(page.Resources) != 1 || page.Resources[0].Version != 2 {
		t.Fatalf("search returned %+v, want the current version 2", page.Resources)
	}
	wantResource(t, &page.Resources[0], "Patient", "b", 2)
}

func testSearchLastUpdated(t *testing.T, s store.Store) {
	a := mustPut(t, s, "Patient", "a")
	tick()
	b := mustPut(t, s, "Patient", "b")
	tick()
	mustPut(t, s, "Patient", "c")
	mustPut(t, s, "Observation", "o") // other type, same time as c
	ms := time.Millisecond
	at := func(prefix string, when time.Time) string {
		return "_lastUpdated=" + prefix + when.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	tests := []struct {
		name   string
		params string
		want   []string
	}{
		{"eq", at("eq", b.Updated), []string{"b"}},
		{"no prefix", at("", b.Updated), []string{"b"}},
		{"ne", at("ne", b.Updated), []string{"a", "c"}},
		{"lt", at("lt", b.Updated), []string{"a"}},
		{"eb", at("eb", b.Updated), []string{"a"}},
		{"le", at("le", b.Updated), []string{"a", "b"}},
		{"gt", at("gt", b.Updated), []string{"c"}},
		{"sa", at("sa", b.Updated), []string{"c"}},
		{"ge", at("ge", b.Updated), []string{"b", "c"}},
		{"and", at("gt", a.Updated) + "&" + at("lt", b.Updated.Add(ms)), []string{"b"}},
		{"empty range", at("lt", a.Updated), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			page := run(t, s, Query(t, "Patient", tc.params+"&_sort=_lastUpdated&_total=accurate"))
			var got []string
			for _, r := range page.Resources {
				got = append(got, r.ID)
			}
			if !slices.Equal(got, tc.want) || page.Total != len(tc.want) {
				t.Errorf("got %v (total %d), want %v", got, page.Total, tc.want)
			}
		})
	}
}

func testSearchPaging(t *testing.T, s store.Store) {
	var order []string
	for _, id := range []string{"e", "c", "a", "d", "b"} {
		mustPut(t, s, "Patient", id)
		order = append(order, "Patient/"+id)
		tick()
	}
	mustPut(t, s, "Patient", "e") // e is now the most recently updated
	order = append(order[1:], "Patient/e")
	reversed := slices.Clone(order)
	slices.Reverse(reversed)

	tests := []struct {
		name, sort string
		want       []string
	}{
		{"ascending", "_lastUpdated", order},
		{"descending", "-_lastUpdated", reversed},
		{"store order", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var all []string
			q := Query(t, "Patient", "_count=2&_total=accurate&_sort="+tc.sort)
			for page := 0; ; page++ {
				p := run(t, s, q)
				if p.Total != 5 {
					t.Fatalf("Total = %d, want 5", p.Total)
				}
				if want := min(2, 5-q.Offset); len(p.Resources) != want {
					t.Fatalf("page %d has %d resources, want %d", page, len(p.Resources), want)
				}
				all = append(all, keys(p)...)
				if !p.More {
					break
				}
				q.Offset += q.Count
			}
			if q.Offset != 4 {
				t.Errorf("last page at offset %d, want 4 (More wrong)", q.Offset)
			}
			want := tc.want
			if want == nil { // stable: the same order as one big page
				want = keys(run(t, s, Query(t, "Patient", "")))
			}
			if !slices.Equal(all, want) {
				t.Errorf("paged %v, want %v", all, want)
			}
		})
	}
	p := run(t, s, Query(t, "Patient", "_count=5"))
	if len(p.Resources) != 5 || p.More {
		t.Errorf("exact page: %d resources, More %v; want 5, false", len(p.Resources), p.More)
	}
	p = run(t, s, Query(t, "Patient", "_offset=10"))
	if len(p.Resources) != 0 || p.More {
		t.Errorf("past the end: %v, More %v; want nothing", keys(p), p.More)
	}
}

func testTxRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "Patient", "kept")
	boom := errors.New("boom")
	tests := []struct {
		name string
		err  error
	}{
		{"plain error", boom},
		{"coded error", fhir.Errorf(fhir.Unprocessable, "business rule")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Tx(ctx, func(tx store.Tx) error {
				for _, id := range []string{"new1", "new2", "kept"} {
					if _, _, err := tx.Put(ctx, resource("Patient", id), store.Precondition{}); err != nil {
						return err
					}
				}
				if _, err := tx.Delete(ctx, "Patient", "kept", store.Precondition{}); err != nil {
					return err
				}
				if _, err := tx.Search(ctx, Query(t, "", "")); err != nil { // flushes the writes
					return err
				}
				_, _, err := tx.Put(ctx, resource("Patient", "new3"), store.Precondition{})
				return errors.Join(err, tc.err)
			})
			if !errors.Is(err, tc.err) || fhir.ErrorCode(err) != fhir.ErrorCode(tc.err) {
				t.Fatalf("Tx = %v, want %v", err, tc.err)
			}
			for _, id := range []string{"new1", "new2", "new3"} {
				_, err := s.Read(ctx, "Patient", id)
				wantCode(t, err, fhir.NotFound)
			}
			kept, err := s.Read(ctx, "Patient", "kept")
			if err != nil {
				t.Fatal(err)
			}
			wantResource(t, kept, "Patient", "kept", 1)
			if h := history(t, s, store.HistoryQuery{}); h.Total != 1 {
				t.Errorf("history has %v, want only kept/1", versions(h))
			}
		})
	}
	// A rejected write fails the transaction only if fn says so.
	err := s.Tx(ctx, func(tx store.Tx) error {
		_, _, err := tx.Put(ctx, resource("Patient", "kept"), store.Precondition{IfMatch: 9})
		if fhir.ErrorCode(err) != fhir.PreconditionFailed {
			return fmt.Errorf("Put = %v, want precondition-failed", err)
		}
		_, _, err = tx.Put(ctx, resource("Patient", "after"), store.Precondition{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(ctx, "Patient", "after"); err != nil {
		t.Fatal(err)
	}
}

func testTxSeesOwnWrites(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "Patient", "old")
	err := s.Tx(ctx, func(tx store.Tx) error {
		now := tx.Now()
		if now.Location() != time.UTC || !now.Equal(now.Truncate(time.Millisecond)) {
			t.Errorf("Now() = %v, want UTC milliseconds", now)
		}
		v1, created, err := tx.Put(ctx, resource("Patient", "p1"), store.Precondition{IfNoneExist: true})
		if err != nil || !created || !v1.Updated.Equal(now) {
			return fmt.Errorf("create = %+v, %v, %v", v1, created, err)
		}
		got, err := tx.Read(ctx, "Patient", "p1")
		if err != nil {
			return err
		}
		wantResource(t, got, "Patient", "p1", 1)
		v2, created, err := tx.Put(ctx, resource("Patient", "p1"), store.Precondition{IfMatch: 1})
		if err != nil || created || v2.Version != 2 || !v2.Updated.Equal(now) {
			return fmt.Errorf("update in tx = %+v, %v, %v", v2, created, err)
		}
		if _, _, err := tx.Put(ctx, resource("Patient", "p1"), store.Precondition{IfNoneExist: true}); fhir.ErrorCode(err) != fhir.Conflict {
			return fmt.Errorf("IfNoneExist on own create = %v, want conflict", err)
		}
		got, err = tx.VRead(ctx, "Patient", "p1", 2)
		if err != nil {
			return err
		}
		wantResource(t, got, "Patient", "p1", 2)
		page, err := tx.Search(ctx, Query(t, "Patient", "_total=accurate"))
		if err != nil {
			return err
		}
		if got, want := keys(page), []string{"Patient/old", "Patient/p1"}; !slices.Equal(got, want) || page.Total != 2 {
			t.Errorf("search in tx = %v (total %d), want %v", got, page.Total, want)
		}
		h, err := tx.History(ctx, store.HistoryQuery{Type: "Patient", ID: "p1"})
		if err != nil {
			return err
		}
		if got, want := versions(h), []string{"Patient/p1/2", "Patient/p1/1"}; !slices.Equal(got, want) {
			t.Errorf("history in tx = %v, want %v", got, want)
		}
		if _, err := tx.Delete(ctx, "Patient", "old", store.Precondition{IfMatch: 1}); err != nil {
			return err
		}
		if _, err := tx.Read(ctx, "Patient", "old"); fhir.ErrorCode(err) != fhir.Gone {
			return fmt.Errorf("read of own delete = %v, want gone", err)
		}
		// Outside the transaction none of it is visible yet.
		if _, err := s.Read(ctx, "Patient", "p1"); fhir.ErrorCode(err) != fhir.NotFound {
			t.Errorf("read outside the open tx = %v, want not-found", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Read(ctx, "Patient", "p1")
	if err != nil {
		t.Fatal(err)
	}
	wantResource(t, got, "Patient", "p1", 2)
	if h := history(t, s, store.HistoryQuery{Type: "Patient", ID: "p1"}); h.Total != 2 || h.Versions[0].Seq <= h.Versions[1].Seq {
		t.Errorf("history after commit = %+v", h)
	}
}

// concurrently runs fn(i) for i in [0, n) at once and returns the errors.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

const writers = 8

// racePuts has writers goroutines put Patient/id at once, each in its own
// transaction, and returns their errors and how many saw created.
func racePuts(t *testing.T, s store.Store, id string, pre store.Precondition) ([]error, int) {
	created := make([]bool, writers)
	errs := concurrently(writers, func(i int) error {
		var err error
		_, created[i], err = put(t, s, resource("Patient", id), pre)
		return err
	})
	return errs, len(slices.DeleteFunc(created, func(c bool) bool { return !c }))
}

// wantOneWinner checks that exactly one of errs is nil and the others are
// *fhir.Errors coded lost.
func wantOneWinner(t *testing.T, errs []error, lost fhir.Code) {
	t.Helper()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case fhir.ErrorCode(err) != lost:
			t.Errorf("err = %v, want nil or %s", err, lost)
		}
	}
	if ok != 1 {
		t.Errorf("%d writers succeeded, want exactly 1", ok)
	}
}

func wantNoErrors(t *testing.T, errs []error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func testConcurrentIfMatch(t *testing.T, s store.Store) {
	mustPut(t, s, "Patient", "p1")
	errs, _ := racePuts(t, s, "p1", store.Precondition{IfMatch: 1})
	wantOneWinner(t, errs, fhir.PreconditionFailed)
	wantHistory(t, s, "p1", 2)
}

func testConcurrentUpdates(t *testing.T, s store.Store) {
	mustPut(t, s, "Patient", "p1")
	errs, created := racePuts(t, s, "p1", store.Precondition{})
	wantNoErrors(t, errs)
	if created != 0 {
		t.Errorf("%d updates saw created, want 0", created)
	}
	wantHistory(t, s, "p1", writers+1)
}

// testConcurrentLockedUpdates has writers lock a shared resource and one of
// their own with Tx.Lock before writing both: the shared one gets one
// version per writer, and a new one is created exactly once.
func testConcurrentLockedUpdates(t *testing.T, s store.Store) {
	mustPut(t, s, "Patient", "shared")
	created := make([]bool, writers)
	errs := concurrently(writers, func(i int) error {
		own := fmt.Sprintf("own%d", i)
		return s.Tx(t.Context(), func(tx store.Tx) error {
			if err := tx.Lock(t.Context(), map[string][]string{"Patient": {own, "shared"}}); err != nil {
				return err
			}
			if _, _, err := tx.Put(t.Context(), resource("Patient", "shared"), store.Precondition{}); err != nil {
				return err
			}
			var err error
			_, created[i], err = tx.Put(t.Context(), resource("Patient", own), store.Precondition{})
			return err
		})
	})
	wantNoErrors(t, errs)
	if slices.Contains(created, false) {
		t.Errorf("created = %v, want all true", created)
	}
	wantHistory(t, s, "shared", writers+1)
	wantHistory(t, s, "own0", 1)
}

// wantHistory checks that Patient/id has versions n..1, each exactly once.
func wantHistory(t *testing.T, s store.Store, id string, n int) {
	t.Helper()
	page := history(t, s, store.HistoryQuery{Type: "Patient", ID: id})
	var want []string
	for v := n; v >= 1; v-- {
		want = append(want, fmt.Sprintf("Patient/%s/%d", id, v))
	}
	if got := versions(page); !slices.Equal(got, want) || page.Total != n {
		t.Errorf("history = %v (total %d), want %v", got, page.Total, want)
	}
}

func testConcurrentCreates(t *testing.T, s store.Store) {
	wantNoErrors(t, concurrently(writers, func(i int) error {
		return s.Tx(t.Context(), func(tx store.Tx) error {
			for j := range 3 {
				res := resource("Patient", fmt.Sprintf("p%d-%d", i, j))
				if _, _, err := tx.Put(t.Context(), res, store.Precondition{IfNoneExist: true}); err != nil {
					return err
				}
			}
			return nil
		})
	}))
	if page := run(t, s, Query(t, "Patient", "_total=accurate")); page.Total != 3*writers {
		t.Errorf("Total = %d, want %d", page.Total, 3*writers)
	}
	if h := history(t, s, store.HistoryQuery{}); h.Total != 3*writers {
		t.Errorf("history Total = %d, want %d", h.Total, 3*writers)
	}
}

func testConcurrentCreateSameID(t *testing.T, s store.Store) {
	t.Run("IfNoneExist", func(t *testing.T) {
		errs, _ := racePuts(t, s, "once", store.Precondition{IfNoneExist: true})
		wantOneWinner(t, errs, fhir.Conflict)
		wantHistory(t, s, "once", 1)
	})
	t.Run("unconditional", func(t *testing.T) {
		errs, created := racePuts(t, s, "many", store.Precondition{})
		wantNoErrors(t, errs)
		if created != 1 {
			t.Errorf("%d writers saw created, want 1", created)
		}
		wantHistory(t, s, "many", writers)
	})
}

// A transaction that began (and reserved sequence numbers) before another
// transaction updated a resource, and updates it afterwards, writes the newest
// version: history lists it first and its lastUpdated is not earlier.
func testLateWriterStaysNewest(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustPut(t, s, "Basic", "h")
	other := make(chan error, 1)
	err := s.Tx(ctx, func(tx store.Tx) error {
		if _, _, err := tx.Put(ctx, resource("Basic", "first"), store.Precondition{}); err != nil {
			return err
		}
		// Another writer updates h and commits meanwhile (where the backend lets
		// it run concurrently; SQLite serialises writers, so it waits).
		go func() {
			other <- s.Tx(ctx, func(tx2 store.Tx) error {
				_, _, err := tx2.Put(ctx, resource("Basic", "h"), store.Precondition{})
				return err
			})
		}()
		select {
		case err := <-other:
			if err != nil {
				return err
			}
			other <- nil
		case <-time.After(500 * time.Millisecond):
		}
		_, _, err := tx.Put(ctx, resource("Basic", "h"), store.Precondition{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-other; err != nil {
		t.Fatal(err)
	}
	h := history(t, s, store.HistoryQuery{Type: "Basic", ID: "h"})
	if len(h.Versions) != 3 {
		t.Fatalf("%d versions, want 3", len(h.Versions))
	}
	for i := 1; i < len(h.Versions); i++ {
		newer, older := h.Versions[i-1], h.Versions[i]
		if newer.Version <= older.Version || newer.Updated.Before(older.Updated) {
			t.Errorf("history lists version %d (%s) before version %d (%s)", newer.Version, newer.Updated, older.Version, older.Updated)
		}
	}
}
