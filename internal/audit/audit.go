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
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
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

// Trail appends records to the store's audit log. A request hands its
// record over and goes on; one writer appends the records of concurrent
// requests in one transaction (group commit), synced to disk. The trail
// fails closed: while appends fail, Record refuses new records (and the
// request goes unanswered), and the records already handed over are tried
// again until they are written. Between Record and the commit, a crash of
// the process loses the records in flight: at most a batch.
type Trail struct {
	log     store.AuditLog
	logger  *slog.Logger
	queue   chan *Record
	stopped chan struct{}

	// sendMu orders the hand-overs with their count, so that Sync waits for
	// exactly the records handed over before it.
	sendMu sync.Mutex
	closed bool
	queued uint64

	mu      sync.Mutex
	written uint64        // records committed, in hand-over order
	head    Anchor        // the last entry committed by this writer
	failing error         // the last append's error; nil after a success
	changed chan struct{} // closed and replaced when written or failing change
}

// NewTrail starts the trail's writer; Close stops it.
func NewTrail(log store.AuditLog, logger *slog.Logger) *Trail {
	if logger == nil {
		logger = slog.Default()
	}
	t := &Trail{log: log, logger: logger, queue: make(chan *Record, 4*maxBatch), stopped: make(chan struct{}),
		changed: make(chan struct{})}
	go t.write()
	return t
}

// ErrClosed is returned by Record after Close.
var ErrClosed = errors.New("audit: trail closed")

// Record hands rec over to the trail. An error means that it cannot be
// recorded now (the trail is failing or closed): the request it records
// must not be answered.
func (t *Trail) Record(ctx context.Context, rec *Record) error {
	if rec.Recorded.IsZero() {
		rec.Recorded = time.Now()
	}
	rec.Recorded = rec.Recorded.UTC().Truncate(time.Millisecond)
	t.mu.Lock()
	failing := t.failing
	t.mu.Unlock()
	if failing != nil {
		return fmt.Errorf("audit: the trail cannot be written: %w", failing)
	}
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	if t.closed {
		return ErrClosed
	}
	select {
	case t.queue <- rec:
		t.queued++
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sync waits until every record handed over before it is committed; the
// audit trail's readers call it to see what was just recorded.
func (t *Trail) Sync(ctx context.Context) error {
	t.sendMu.Lock()
	target := t.queued
	t.sendMu.Unlock()
	for {
		t.mu.Lock()
		written, failing, changed := t.written, t.failing, t.changed
		t.mu.Unlock()
		switch {
		case written >= target:
			return nil
		case failing != nil:
			return fmt.Errorf("audit: the trail cannot be written: %w", failing)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close writes what was handed over and stops the writer.
func (t *Trail) Close() {
	t.sendMu.Lock()
	if !t.closed {
		t.closed = true
		close(t.queue)
	}
	t.sendMu.Unlock()
	<-t.stopped
}

// settle records an append's outcome and wakes the waiters of Sync.
func (t *Trail) settle(n int, err error) {
	t.mu.Lock()
	if err == nil {
		t.written += uint64(n)
	}
	t.failing = err
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
}

// gather is how long the writer collects records into one commit.
const gather = 2 * time.Millisecond

// Retries of a failing append: waits growing to maxBackoff; after Close,
// closingAttempts before the records are given up (and logged as lost).
const (
	maxBackoff      = 5 * time.Second
	closingAttempts = 5
)

func (t *Trail) write() {
	defer close(t.stopped)
	batch := make([]*Record, 0, maxBatch)
	for first := range t.queue {
		batch = append(batch[:0], first)
		// Gather what comes within gather of the first record: no request
		// waits for it, and each commit syncs the disk once, whatever it holds.
		deadline := time.NewTimer(gather)
	drain:
		for len(batch) < maxBatch {
			select {
			case rec, ok := <-t.queue:
				if !ok {
					break drain
				}
				batch = append(batch, rec)
			case <-deadline.C:
				break drain
			}
		}
		deadline.Stop()
		for attempt := 1; ; attempt++ {
			err := t.append(batch)
			t.settle(len(batch), err)
			if err == nil {
				break
			}
			t.logger.Error("audit append failed; new requests are refused until it succeeds", "records", len(batch), "attempt", attempt, "err", err)
			t.sendMu.Lock()
			closing := t.closed
			t.sendMu.Unlock()
			if closing && attempt >= closingAttempts {
				t.logger.Error("audit records lost at shutdown", "records", len(batch))
				break
			}
			time.Sleep(min(time.Duration(attempt)*100*time.Millisecond, maxBackoff))
		}
	}
}

func (t *Trail) append(batch []*Record) error {
	var head Anchor
	entries := make([]store.AuditEntry, len(batch))
	for i, rec := range batch {
		body, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("audit: encode: %w", err)
		}
		entries[i] = store.AuditEntry{Recorded: rec.Recorded, Agent: rec.Agent, Patients: rec.Patients, Body: body}
	}
	// The context is not a request's: a batch carries many requests' records.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := t.log.AppendAudit(ctx, entries, func(lastSeq int64, lastHash []byte, entries []store.AuditEntry) {
		for i := range entries {
			lastSeq++
			entries[i].Seq = lastSeq
			entries[i].Hash = hash(lastHash, entries[i].Body)
			lastHash = entries[i].Hash
		}
		head = Anchor{Seq: lastSeq, Hash: lastHash}
	})
	if err == nil {
		t.mu.Lock()
		t.head = head
		t.mu.Unlock()
	}
	return err
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
	HeadSeq  int64
	Problems []Problem
}

// maxProblems bounds a report: a trail broken in one place breaks after it.
const maxProblems = 100

// Verify reads the whole trail and checks that entries are numbered from 1
// without gaps, that each hash covers its body and its predecessor's hash,
// and that the indexed columns (time, agent, patients) say what the body
// says. A deleted tail is not detectable from the trail alone: anchors,
// heads recorded before outside the database (the server logs one every
// minute, hip audit verify prints one), must still be on the trail.
func Verify(ctx context.Context, log store.AuditLog, anchors ...Anchor) (*Report, error) {
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
		for _, a := range anchors {
			if a.Seq == e.Seq && !bytes.Equal(a.Hash, e.Hash) {
				problem(e.Seq, "entry %d differs from the anchor recorded for it", e.Seq)
			}
		}
		prev = e.Hash
		r.Head, r.HeadSeq = e.Hash, e.Seq
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit: verify: %w", err)
	}
	for _, a := range anchors {
		if a.Seq > r.HeadSeq {
			problem(a.Seq, "the trail ends at entry %d, but an anchor records entry %d: its tail was cut off", r.HeadSeq, a.Seq)
		}
	}
	return r, nil
}

// Anchor is a head of the trail recorded outside it: entry Seq had Hash.
type Anchor struct {
	Seq  int64
	Hash []byte
}

func (a Anchor) String() string { return fmt.Sprintf("%d:%x", a.Seq, a.Hash) }

// ParseAnchor reads an anchor written as SEQ:HASH (hex), as String writes it.
func ParseAnchor(s string) (Anchor, error) {
	seqText, hashText, ok := strings.Cut(strings.TrimSpace(s), ":")
	seq, err := strconv.ParseInt(seqText, 10, 64)
	if !ok || err != nil || seq < 1 {
		return Anchor{}, fmt.Errorf("audit: anchor %q: want SEQ:HASH", s)
	}
	hash, err := hex.DecodeString(hashText)
	if err != nil || len(hash) != sha256.Size {
		return Anchor{}, fmt.Errorf("audit: anchor %q: the hash is not 64 hex digits", s)
	}
	return Anchor{Seq: seq, Hash: hash}, nil
}

// Anchors calls record with the trail's head every period while it moves,
// until ctx ends: the server writes them to its log, which is kept
// elsewhere, so that a cut-off tail can be found later (Verify).
func (t *Trail) Anchors(ctx context.Context, period time.Duration, record func(Anchor)) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	var last Anchor
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if head := t.Head(); head.Seq != last.Seq {
			record(head)
			last = head
		}
	}
}

// Head returns the trail's last entry as an anchor (zero on an empty trail).
func (t *Trail) Head() Anchor {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.head
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
