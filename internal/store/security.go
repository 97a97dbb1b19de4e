package store

import (
	"context"
	"time"
)

// Accounts holds the platform's own security records: users, OAuth clients
// and token signing keys, each a JSON document under a kind and a unique name.
// They live beside the resources, never in them, so that no FHIR read, search
// or export can reach a password hash or a private key.
type Accounts interface {
	// PutAccount creates or replaces the record kind/name.
	PutAccount(ctx context.Context, kind, name string, body []byte) error
	// Account returns the record; a missing one is a fhir.NotFound error.
	Account(ctx context.Context, kind, name string) ([]byte, error)
	// Accounts lists the records of a kind in name order.
	Accounts(ctx context.Context, kind string) ([]AccountRecord, error)
	// DeleteAccount removes the record and reports whether it was there; of
	// two concurrent deletes of one record only one sees it (single-use
	// records such as authorisation codes rely on that).
	DeleteAccount(ctx context.Context, kind, name string) (bool, error)
}

// AccountRecord is one record of Accounts.
type AccountRecord struct {
	Name    string
	Body    []byte
	Updated time.Time
}

// AuditLog is the append-only audit trail. Entries are numbered 1, 2, 3, …
// without gaps and each carries a hash over its predecessor's, so that an
// edited, inserted or deleted entry breaks the chain (the audit package
// computes and checks it; the store only keeps it in order).
type AuditLog interface {
	// AppendAudit appends entries in one transaction. chain is called once,
	// while no other append can run, with the last entry's number and hash (0
	// and nil on an empty trail); it must set Seq and Hash of every entry.
	AppendAudit(ctx context.Context, entries []AuditEntry, chain func(lastSeq int64, lastHash []byte, entries []AuditEntry)) error
	// ScanAudit calls fn for the entries q selects, in number order (newest
	// first when q.Descending), until fn returns an error or q.Limit is
	// reached.
	ScanAudit(ctx context.Context, q AuditQuery, fn func(*AuditEntry) error) error
}

// AuditEntry is one entry of the trail.
type AuditEntry struct {
	Seq      int64
	Recorded time.Time // millisecond precision
	Agent    string    // who acted: a user name or client id
	Patients []string  // the patients whose data the action touched (Patient/id)
	Body     []byte    // the record as hashed: canonical JSON of the audit package
	Hash     []byte
}

// AuditQuery selects audit entries; zero fields select everything.
type AuditQuery struct {
	After, Before int64  // only entries with After < Seq < Before (0: unbounded)
	Agent         string // only this agent's entries
	Patient       string // only entries that touched this patient (Patient/id)
	Since, Until  time.Time
	Limit         int
	Descending    bool
}
