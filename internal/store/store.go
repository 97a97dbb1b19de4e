// Package store defines the resource store every capability reads and writes: versioned
// CRUD, history, search and transactions. Backends (sqlite, postgres) implement it and
// pass the one conformance suite in storetest.
package store

import (
	"context"
	"log/slog"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
	"github.com/hip-platform/hip/internal/fhir/search"
)

// Resource is one stored version of a resource.
type Resource struct {
	Type    string
	ID      string
	Version int64     // meta.versionId, 1 for the first version
	Updated time.Time // meta.lastUpdated, the transaction's clock
	Deleted bool      // a delete marker: Body is nil
	Body    []byte    // the JSON as stored, id and meta stamped
	Seq     int64     // store-wide write order; history cursors use it
}

// Method is the HTTP verb that produced this version, as history bundles show it.
func (r *Resource) Method() string {
	switch {
	case r.Deleted:
		return "DELETE"
	case r.Version == 1:
		return "POST"
	default:
		return "PUT"
	}
}

// Store is a resource store. Reads outside Tx see committed data.
type Store interface {
	Reader
	Accounts
	AuditLog
	MPI
	// Tx runs fn in one serialisable unit: all of its writes commit, or none do. fn
	// must not retain tx. An error from fn rolls back and is returned as is. fn may
	// run more than once when the backend retries a transaction that lost a race
	// with another writer, so it must have no effects outside tx.
	Tx(ctx context.Context, fn func(tx Tx) error) error
	// Reindex recomputes the search index of every current resource of types
	// (all when nil) with the Indexer's parameters now, so that a parameter
	// added later finds resources written before it. progress, if not nil, is
	// told the running count. It returns how many resources it indexed.
	Reindex(ctx context.Context, types []string, progress func(done int)) (int, error)
	// Analyze refreshes the statistics the database plans searches with; a
	// bulk load calls it at its end, as search plans go wrong without them.
	Analyze(ctx context.Context) error
	// Ping checks that the database answers (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// Reader is what both a Store and a Tx can read.
type Reader interface {
	// Read returns the current version. A missing resource is a fhir.NotFound error;
	// a deleted one is a fhir.Gone error and the delete marker is returned with it.
	Read(ctx context.Context, typ, id string) (*Resource, error)
	// VRead returns one version; fhir.NotFound if it never existed, fhir.Gone (with
	// the marker) if that version is a delete.
	VRead(ctx context.Context, typ, id string, version int64) (*Resource, error)
	// History lists versions, newest first.
	History(ctx context.Context, q HistoryQuery) (*HistoryPage, error)
	// Search lists current, non-deleted resources matching q, with what its
	// includes add. Count 0 asks for the total alone.
	Search(ctx context.Context, q *search.Query) (*SearchPage, error)
}

// Tx writes inside a transaction. Every write in one Tx carries the same Now().
type Tx interface {
	Reader
	// Now is the transaction's clock, read once.
	Now() time.Time
	// Put writes a new version of res (which must have resourceType and id). It stamps
	// res with meta.versionId and meta.lastUpdated before storing it, and indexes
	// it for search before commit: res must not change until the transaction ends.
	// Preconditions: IfMatch > 0 requires the current version to be IfMatch, else
	// fhir.PreconditionFailed (also when the resource is missing or deleted);
	// IfNoneExist requires that the id is not in use now (fhir.Conflict); a deleted
	// id may be reused.
	// created is true when this is version 1 or the resource was deleted before.
	Put(ctx context.Context, res fhir.Resource, pre Precondition) (stored *Resource, created bool, err error)
	// PutIndexed is Put with res's search index entries computed by the
	// caller with the store's Indexer, e.g. in parallel before the
	// transaction, so that the write holds the database for less time.
	PutIndexed(ctx context.Context, res fhir.Resource, entries []search.Entry, pre Precondition) (stored *Resource, created bool, err error)
	// Lock may read and lock the heads of resources the transaction is about
	// to write (type → ids) in a few statements, so that their writes need no
	// statement each to do it; a store may instead read them at the writes.
	// Calling it is optional.
	Lock(ctx context.Context, ids map[string][]string) error
	// Serialize makes transactions that name the same key run one after the other
	// from this call to commit. Conditional creates take it on their criteria, so
	// that two of them cannot both find nothing and both create.
	Serialize(ctx context.Context, key string) error
	// Delete writes a delete marker. Deleting a missing or already deleted resource
	// writes nothing and returns (nil, nil); with IfMatch it is fhir.PreconditionFailed.
	Delete(ctx context.Context, typ, id string, pre Precondition) (*Resource, error)
}

// Precondition guards a write.
type Precondition struct {
	IfMatch     int64 // the version the client last saw; 0 for none
	IfNoneExist bool  // fail if the id is in use now (a deleted id may be reused)
	// Check, if set, decides the write once the store has the current head
	// (Version 0 when the resource does not exist), before anything is
	// written; body reads the current version's JSON. Its error is returned
	// as is and nothing is written. The authorisation policy decides writes
	// this way, without reading the resource a second time.
	Check func(cur *Resource, body func() ([]byte, error)) error
}

// HistoryQuery selects versions: Type and ID empty for the system level, ID empty for
// the type level.
type HistoryQuery struct {
	Type, ID string
	Since    time.Time // only versions updated at or after Since (zero: all)
	Before   int64     // cursor: only versions with Seq < Before (0: from the newest)
	Count    int       // page size; the store caps it
}

// HistoryPage is one page of history, newest first. Next is the cursor of the next
// page (its Before), 0 when this is the last page. Total is the number of versions
// matching the query without the cursor.
type HistoryPage struct {
	Versions []Resource
	Next     int64
	Total    int
}

// SearchPage is one page of matches and the resources its _include and
// _revinclude parameters add (each resource once, none that is a match). Total
// is -1 when not computed. More tells whether another page follows; Next and
// Prev are the cursors (search.Query.Cursor) of the pages after and before
// this one, "" when there is none. Pages cut by cursor stay exact while
// resources are written between them.
type SearchPage struct {
	Resources  []Resource
	Included   []Resource
	Total      int
	More       bool
	Next, Prev string
}

// Indexer computes the search index entries of a resource (*search.Indexer).
// An error naming single parameters (search.ParamError) still comes with the
// entries of the others, which are stored.
type Indexer interface {
	Index(res fhir.Resource) ([]search.Entry, error)
}

// Options are what every backend takes besides its address.
type Options struct {
	Indexer Indexer      // required
	Logger  *slog.Logger // for index failures of single parameters; slog.Default() when nil
}
