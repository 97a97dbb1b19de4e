package store

import (
	"context"
	"time"
)

// MPI keeps the master patient index (package empi): per indexed Patient the
// record it was linked with and the Person it belongs to, the blocking keys,
// the pairs under review and the decisions people made, and named state (the
// trained model). The index changes in the same transaction as the Person
// resources it writes, one change at a time.
type MPI interface {
	MPIReader
	// UpdateMPI runs fn in one transaction: resources through tx, the index
	// through w. Updates of the index run one after the other, across
	// processes too, so that two new records of one person cannot both found
	// a person.
	UpdateMPI(ctx context.Context, fn func(tx Tx, w MPIWriter) error) error
}

// MPIReader reads the index.
type MPIReader interface {
	// MPIRecords returns the entries of the patients that are indexed.
	MPIRecords(ctx context.Context, patients []string) ([]MPIRecord, error)
	// MPIPerson returns the entries of one person, by patient id.
	MPIPerson(ctx context.Context, person string) ([]MPIRecord, error)
	// MPICandidates returns the entries that share at least one key, leaving
	// out keys shared by more than maxBlock entries.
	MPICandidates(ctx context.Context, keys []MPIKey, maxBlock int) ([]MPIRecord, error)
	// MPIPairs lists pairs, oldest first.
	MPIPairs(ctx context.Context, q MPIPairQuery) ([]MPIPair, error)
	// MPIState returns a named document; fhir.NotFound when there is none.
	MPIState(ctx context.Context, name string) ([]byte, error)
	// ScanMPI calls fn for every entry in patient order.
	ScanMPI(ctx context.Context, fn func(*MPIRecord) error) error
}

// MPIWriter changes the index inside UpdateMPI; its reads see the changes.
type MPIWriter interface {
	MPIReader
	// PutMPIRecord creates or replaces a patient's entry and its keys.
	PutMPIRecord(ctx context.Context, rec MPIRecord, keys []MPIKey) error
	// DeleteMPIRecord removes a patient's entry and keys.
	DeleteMPIRecord(ctx context.Context, patient string) error
	// PutMPIPair creates or replaces the pair (A, B); A < B.
	PutMPIPair(ctx context.Context, p MPIPair) error
	// DeleteMPIReviews removes the pairs under review that involve patient
	// (all pairs under review when patient is ""); decisions stay.
	DeleteMPIReviews(ctx context.Context, patient string) error
	PutMPIState(ctx context.Context, name string, body []byte) error
}

// MPIRecord is one indexed patient.
type MPIRecord struct {
	Patient string
	Person  string
	Body    []byte // the record as the index read it (JSON of empi.Record)
	Updated time.Time
}

// MPIKey is one blocking key: the rule's number and the key's hash.
type MPIKey struct {
	Rule int
	Hash uint64
}

// MPIPair is a pair of patients under review, or decided by a person.
type MPIPair struct {
	A, B        string
	Status      string // review, linked (a person said one person), apart (two people)
	Probability float64
	Evidence    []byte // JSON: the comparisons' evidence
	DecidedBy   string
	Created     time.Time
	Decided     time.Time // zero while under review
}

// MPIPairQuery selects pairs; zero fields select everything.
type MPIPairQuery struct {
	Status  string
	Patient string // pairs with this patient on either side
	Limit   int
}
