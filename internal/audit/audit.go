// Package audit keeps the platform's audit trail: one record for every
// request that touches a resident's data (who, role, facility, patients,
// resources, purpose, outcome, address, time), appended in batches to a
// hash-chained log that detects edits and deletions, and rendered as FHIR
// AuditEvent resources shaped after IHE BALP.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hip-platform/hip/internal/store"
)

// Record is one audited request.
type Record struct {
	Recorded    time.Time `json:"recorded"`
	Agent       string    `json:"agent"` // the user name, or the client id of a system
	Client      string    `json:"client,omitempty"`
	Name        string    `json:"name,omitempty"`
	Role        string    `json:"role,omitempty"`
	Facility    string    `json:"facility,omitempty"`
	Interaction string    `json:"interaction"` // FHIR restful interaction: read, search-type, create, …
	Action      string    `json:"action"`      // C, R, U, D or E (AuditEvent.action)
	Type        string    `json:"type,omitempty"`
	Query       string    `json:"query,omitempty"` // the search parameters, for searches
	Patients    []string  `json:"patients,omitempty"`
	Resources   []string  `json:"resources,omitempty"`
	Purpose     string    `json:"purpose,omitempty"`
	BreakGlass  string    `json:"breakGlass,omitempty"` // the reason, when the glass was broken
	Status      int       `json:"status"`               // the HTTP status answered
	Address     string    `json:"address,omitempty"`
	RequestID   string    `json:"requestId,omitempty"`
}

// hash chains an entry's body to its predecessor's hash.
func hash(prev, body []byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(body)
	return h.Sum(nil)
}

// maxBatch bounds the records of one append.
const maxBatch = 1000

// Trail appends records to the store's audit log. Records of concurrent
// requests are written together (group commit): each request waits for the
// one append that carries its record, so an answered request is always on
// the trail, at the cost of one database write for many requests.
type Trail struct {
	log     store.AuditLog
	logger  *slog.Logger
	queue   chan *pending
	stopped chan struct{}
	closeMu sync.RWMutex
	closed  bool
}

type pending struct {
	rec  *Record
	done chan error
}

// NewTrail starts the trail's writer; Close stops it.
func NewTrail(log store.AuditLog, logger *slog.Logger) *Trail {
	if logger == nil {
		logger = slog.Default()
	}
	t := &Trail{log: log, logger: logger, queue: make(chan *pending, 4*maxBatch), stopped: make(chan struct{})}
	go t.write()
	return t
}

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit: trail closed")

// Record appends rec and returns once it is stored.
func (t *Trail) Record(ctx context.Context, rec *Record) error {
	if rec.Recorded.IsZero() {
		rec.Recorded = time.Now()
	}
	rec.Recorded = rec.Recorded.UTC().Truncate(time.Millisecond)
	p := &pending{rec: rec, done: make(chan error, 1)}
	t.closeMu.RLock()
	if t.closed {
		t.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case t.queue <- p:
	case <-ctx.Done():
		t.closeMu.RUnlock()
		return ctx.Err()
	}
	t.closeMu.RUnlock()
	// The record is queued: it will be written whatever the request does now,
	// so wait for the outcome even if the client went away.
	return <-p.done
}

// Close writes what is queued and stops the writer.
func (t *Trail) Close() {
	t.closeMu.Lock()
	if !t.closed {
		t.closed = true
		close(t.queue)
	}
	t.closeMu.Unlock()
	<-t.stopped
}

// linger is how long the writer waits for more records when requests come
// concurrently (the last batch held more than one): a commit costs a sync
// of the log, whatever it carries.
const linger = 300 * time.Microsecond

func (t *Trail) write() {
	defer close(t.stopped)
	batch := make([]*pending, 0, maxBatch)
	busy := false
	for first := range t.queue {
		batch = append(batch[:0], first)
		var wait <-chan time.Time
		if busy {
			wait = time.After(linger)
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case p, ok := <-t.queue:
				if !ok {
					break drain
				}
				batch = append(batch, p)
				continue
			default:
			}
			if wait == nil {
				break
			}
			select {
			case p, ok := <-t.queue:
				if !ok {
					break drain
				}
				batch = append(batch, p)
			case <-wait:
				break drain
			}
		}
		busy = len(batch) > 1
		err := t.append(batch)
		if err != nil {
			t.logger.Error("audit append failed", "records", len(batch), "err", err)
		}
		for _, p := range batch {
			p.done <- err
		}
	}
}

func (t *Trail) append(batch []*pending) error {
	entries := make([]store.AuditEntry, len(batch))
	for i, p := range batch {
		body, err := json.Marshal(p.rec)
		if err != nil {
			return fmt.Errorf("audit: encode: %w", err)
		}
		entries[i] = store.AuditEntry{Recorded: p.rec.Recorded, Agent: p.rec.Agent, Patients: p.rec.Patients, Body: body}
	}
	// The context is not a request's: a batch carries many requests' records.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return t.log.AppendAudit(ctx, entries, func(lastSeq int64, lastHash []byte, entries []store.AuditEntry) {
		for i := range entries {
			lastSeq++
			entries[i].Seq = lastSeq
			entries[i].Hash = hash(lastHash, entries[i].Body)
			lastHash = entries[i].Hash
		}
	})
}

// Problem is one finding of Verify.
type Problem struct {
	Seq  int64
	What string
}

// Report is what Verify found.
type Report struct {
	Entries  int64
	Head     []byte // the last entry's hash: kept elsewhere, it also detects a cut-off tail
	Problems []Problem
}

// maxProblems bounds a report: a trail broken in one place breaks after it.
const maxProblems = 100

// Verify reads the whole trail and checks that entries are numbered from 1
// without gaps, that each hash covers its body and its predecessor's hash,
// and that the indexed columns (time, agent, patients) say what the body
// says. A deleted tail is not detectable from the trail alone: compare the
// head with one recorded before.
func Verify(ctx context.Context, log store.AuditLog) (*Report, error) {
	r := &Report{}
	var prev []byte
	var want int64 = 1
	problem := func(seq int64, format string, args ...any) {
		if len(r.Problems) < maxProblems {
			r.Problems = append(r.Problems, Problem{Seq: seq, What: fmt.Sprintf(format, args...)})
		}
	}
	err := log.ScanAudit(ctx, store.AuditQuery{}, func(e *store.AuditEntry) error {
		r.Entries++
		if e.Seq != want {
			problem(e.Seq, "entries %d to %d are missing", want, e.Seq-1)
			prev = nil // unknown: judge this entry by its own link alone
		}
		want = e.Seq + 1
		if prev != nil && !bytes.Equal(hash(prev, e.Body), e.Hash) {
			problem(e.Seq, "entry %d was altered: its hash does not cover its content and the entry before it", e.Seq)
		} else if prev == nil && e.Seq == 1 && !bytes.Equal(hash(nil, e.Body), e.Hash) {
			problem(e.Seq, "entry 1 was altered: its hash does not cover its content")
		}
		var rec Record
		if err := json.Unmarshal(e.Body, &rec); err != nil {
			problem(e.Seq, "entry %d does not hold a record: %v", e.Seq, err)
		} else if !rec.Recorded.Equal(e.Recorded) || rec.Agent != e.Agent || !slices.Equal(dedupe(rec.Patients), e.Patients) {
			problem(e.Seq, "entry %d: its indexed time, agent or patients differ from its content", e.Seq)
		}
		prev = e.Hash
		r.Head = e.Hash
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: verify: %w", err)
	}
	return r, nil
}

// dedupe is the store's view of a record's patients: each once, in order.
func dedupe(list []string) []string {
	var out []string
	for _, p := range list {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
