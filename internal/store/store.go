// Package store defines the resource store every capability reads and writes: versioned
// CRUD, history, search and transactions. Backends (sqlite, postgres) implement it and
// pass the one conformance suite in storetest.
package store

import (
	"context"
	"time"

	"github.com/hip-platform/hip/internal/fhir"
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
	// Tx runs fn in one serialisable unit: all of its writes commit, or none do. fn
	// must not retain tx. An error from fn rolls back and is returned as is. fn may
	// run more than once when the backend retries a transaction that lost a race
	// with another writer, so it must have no effects outside tx.
	Tx(ctx context.Context, fn func(tx Tx) error) error
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
	// Search lists current, non-deleted resources matching q.
	Search(ctx context.Context, q Query) (*SearchPage, error)
}

// Tx writes inside a transaction. Every write in one Tx carries the same Now().
type Tx interface {
	Reader
	// Now is the transaction's clock, read once.
	Now() time.Time
	// Put writes a new version of res (which must have resourceType and id). It stamps
	// res with meta.versionId and meta.lastUpdated before storing it.
	// Preconditions: IfMatch > 0 requires the current version to be IfMatch, else
	// fhir.PreconditionFailed (also when the resource is missing or deleted);
	// IfNoneExist requires that the id is not in use now (fhir.Conflict); a deleted
	// id may be reused.
	// created is true when this is version 1 or the resource was deleted before.
	Put(ctx context.Context, res fhir.Resource, pre Precondition) (stored *Resource, created bool, err error)
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

// Query is a storage-independent search. The search issue extends it with indexed
// parameters; today it knows _id and _lastUpdated.
type Query struct {
	Types       []string      // resource types; nil means all (system search)
	IDs         []string      // _id: any of these; nil for any id, empty for none
	LastUpdated []DateFilter  // _lastUpdated: all of these (AND)
	Count       int           // page size; ≤ 0 is the store's default (50), capped at 1000
	Offset      int           // page start
	Total       bool          // compute Total
	SortUpdated SortDirection // order; none means store order (stable)
}

// SortDirection orders search results.
type SortDirection int

const (
	SortNone SortDirection = iota
	SortAscending
	SortDescending
)

// DateFilter is one date comparison with FHIR search prefix semantics, the search
// value being the range [Low, High) and the stored instant a point v:
// eq Low<=v<High, ne not eq, lt/eb v<Low, le v<High, gt/sa v>=High, ge v>=Low.
// The caller turns ap into eq over a widened range.
type DateFilter struct {
	Prefix    string
	Low, High time.Time
}

// SearchPage is one page of matches. Total is -1 when not computed. More tells
// whether another page follows.
type SearchPage struct {
	Resources []Resource
	Total     int
	More      bool
}
