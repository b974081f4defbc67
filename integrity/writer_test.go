package integrity

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// memSealStore is a SealStore over a memSource; fail makes the next
// WriteSealed call seal and then store nothing, as a failed commit.
type memSealStore struct {
	src   *memSource
	state map[string]State
	ids   map[activitylog.ID]bool
	fail  bool
}

func newMemSealStore() *memSealStore {
	return &memSealStore{src: &memSource{entries: map[string][]Entry{}, cps: map[string][]Checkpoint{}},
		state: map[string]State{}, ids: map[activitylog.ID]bool{}}
}

func (m *memSealStore) WriteSealed(ctx context.Context, chain ChainInfo, events []activitylog.Event, seal SealFunc) error {
	var tail *State
	if st, ok := m.state[chain.ID]; ok {
		tail = &st
	}
	var fresh []int
	seen := map[activitylog.ID]bool{}
	for i, e := range events {
		if !m.ids[e.ID] && !seen[e.ID] {
			seen[e.ID] = true
			fresh = append(fresh, i)
		}
	}
	b, err := seal(tail, fresh)
	if err != nil {
		return err
	}
	if m.fail {
		m.fail = false
		return errors.New("commit failed")
	}
	if len(b.Seals) == 0 && b.Checkpoint == nil {
		return nil
	}
	if tail == nil {
		m.src.chains = append(m.src.chains, chain)
	}
	for i, j := range fresh {
		e := events[j]
		c, err := activitylog.Canonical(&e)
		if err != nil {
			return err
		}
		s := b.Seals[i]
		m.src.entries[chain.ID] = append(m.src.entries[chain.ID], Entry{EventID: e.ID, Seal: &s, Canonical: c})
		m.ids[e.ID] = true
	}
	if b.Checkpoint != nil {
		m.src.cps[chain.ID] = append(m.src.cps[chain.ID], *b.Checkpoint)
	}
	m.state[chain.ID] = b.State
	return nil
}

func writerEvents(from, n int) []activitylog.Event {
	es := make([]activitylog.Event, n)
	for i := range es {
		es[i] = activitylog.Event{ID: testID(from + i), Time: testTime.Add(time.Duration(from+i) * time.Second),
			Kind: "crud", Action: "update", Severity: "info"}
	}
	return es
}

func TestWriterFailedCommit(t *testing.T) {
	ctx := context.Background()
	m := newMemSealStore()
	var wit memWitness
	clock := testTime
	w, err := NewWriter(m, &WriterOptions{SigningKey: testPriv, HMACKey: testHMAC, Witness: &wit,
		CheckpointInterval: time.Minute, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, writerEvents(0, 10)); err != nil { // checkpoint 1..10
		t.Fatal(err)
	}
	m.fail = true
	if err := w.Write(ctx, writerEvents(10, 10)); err == nil {
		t.Fatal("failed commit: no error")
	}
	if err := w.Write(ctx, writerEvents(10, 20)); err != nil { // no checkpoint: within the interval
		t.Fatal(err)
	}
	if err := w.Write(ctx, writerEvents(0, 30)); err != nil { // a retry: nothing new
		t.Fatal(err)
	}
	if got := len(m.src.cps[w.Chain().ID]); got != 1 {
		t.Fatalf("%d checkpoints within the interval, want 1", got)
	}
	clock = clock.Add(time.Hour)
	if err := w.Flush(ctx); err != nil { // checkpoint 11..30
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil { // nothing pending
		t.Fatal(err)
	}
	rep, err := NewVerifier(m.src, &VerifierOptions{PublicKeys: []ed25519.PublicKey{testPub}, HMACKeys: []*HMACKey{testHMAC}, Witness: wit.cps}).Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Total != 30 || rep.Chains[0].Length != 30 || rep.Chains[0].Anchored != 30 || rep.CheckpointsVerified != 2 || len(wit.cps) != 2 {
		t.Fatalf("OK %v total %d chains %+v witness %d findings %v", rep.OK(), rep.Total, rep.Chains, len(wit.cps), rep.Findings)
	}
}

type memWitness struct{ cps []Checkpoint }

func (m *memWitness) Write(ctx context.Context, cp Checkpoint) error {
	m.cps = append(m.cps, cp)
	return nil
}
