package integrityhttp_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/integrity/integrityhttp"
	"github.com/activitylog/activitylog/server"
	"github.com/activitylog/activitylog/sqlite"
)

// listAll pages through url (as root) and returns the events by id.
func (e *env) listAll(t *testing.T, url string) map[activitylog.ID]answeredEvent {
	t.Helper()
	out := map[activitylog.ID]answeredEvent{}
	for {
		var p page
		e.getJSON(t, url, 200, &p)
		for _, ev := range p.Results {
			out[ev.ID] = ev
		}
		if p.Next == nil {
			return out
		}
		base, _, _ := cutQuery(url)
		url = base + *p.Next
	}
}

func cutQuery(u string) (string, string, bool) {
	for i := range u {
		if u[i] == '?' {
			return u[:i], u[i:], true
		}
	}
	return u, "", false
}

// editMessage changes the message in the stored JSON of the event at
// seq of chain, as someone with write access to the file would.
func (e *env) editMessage(t *testing.T, chain string, seq int) {
	t.Helper()
	db := e.db(t)
	var data []byte
	if err := db.QueryRow(`SELECT data FROM events WHERE chain = ? AND chain_seq = ?`, chain, seq).Scan(&data); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	doc["message"] = "nothing happened"
	data, _ = json.Marshal(doc)
	e.exec(t, `UPDATE events SET data = ? WHERE chain = ? AND chain_seq = ?`, data, chain, seq)
}

// Every event of every list and detail answer carries its status, and
// the status is what the stored trail says: checkpointed (with the
// first checkpoint over it), sealed, unchecked, unsealed, and modified
// for an event edited in the file.
func TestStatus(t *testing.T) {
	e := newEnv(t, nil)
	e.editMessage(t, e.chainA, 4)
	// A seal removed in the file: the event is unsealed now.
	e.exec(t, `UPDATE events SET chain = '', chain_seq = 0, prev = NULL, hash = NULL, canon_version = 0 WHERE chain = ? AND chain_seq = ?`, e.chainA, 7)

	type want struct {
		status     string
		chain      string
		seq        uint64
		checkpoint uint64
	}
	wants := map[activitylog.ID]want{}
	for i, ev := range e.a {
		seq := uint64(i + 1)
		w := want{integrityhttp.StatusCheckpointed, e.chainA, seq, (seq + 9) / 10 * 10}
		switch seq {
		case 4:
			w.status = integrityhttp.StatusModified
		case 7:
			w = want{status: integrityhttp.StatusUnsealed}
		}
		wants[ev.ID] = w
	}
	for i, ev := range e.b {
		wants[ev.ID] = want{integrityhttp.StatusSealed, e.chainB, uint64(i + 1), 0}
	}
	for i, ev := range e.k {
		wants[ev.ID] = want{integrityhttp.StatusCheckpointed, e.chainK, uint64(i + 1), 5}
	}
	for _, ev := range e.un {
		wants[ev.ID] = want{status: integrityhttp.StatusUnsealed}
	}
	check := func(where string, ev answeredEvent) {
		t.Helper()
		w, ok := wants[ev.ID]
		if !ok {
			t.Errorf("%s: unknown event %s", where, ev.ID)
			return
		}
		got := ev.Integrity
		if got == nil {
			t.Errorf("%s: event %s has no integrity member", where, ev.ID)
			return
		}
		if got.Status != w.status || got.Chain != w.chain || got.Seq != w.seq || got.Checkpoint != w.checkpoint {
			t.Errorf("%s: event %s: %+v, want %+v", where, ev.ID, *got, w)
		}
		if w.chain != "" && len(got.Hash) != 64 {
			t.Errorf("%s: event %s: hash %q", where, ev.ID, got.Hash)
		}
	}

	all := e.listAll(t, "/api/v1/events?page_size=7")
	if len(all) != len(wants) {
		t.Errorf("listed %d events, want %d", len(all), len(wants))
	}
	for _, ev := range all {
		check("list", ev)
	}
	for _, ev := range e.listAll(t, "/api/v1/crud-events?page_size=100") {
		check("crud-events", ev)
	}
	for _, ev := range e.listAll(t, "/api/v1/objects/invoice/4/events") {
		check("object history", ev)
	}
	for _, ev := range []activitylog.Event{e.a[3], e.a[6], e.b[0], e.k[0], e.un[0]} {
		var got answeredEvent
		e.getJSON(t, "/api/v1/events/"+ev.ID.String(), 200, &got)
		check("detail", got)
		e.getJSON(t, "/api/v1/"+map[activitylog.Kind]string{activitylog.KindCRUD: "crud-events", activitylog.KindAuth: "login-events", activitylog.KindCustom: "events"}[ev.Kind]+"/"+ev.ID.String(), 200, &got)
		check("kind detail", got)
	}

	// The hash the status gives is the stored one.
	seals, err := e.store.Seals(context.Background(), []activitylog.ID{e.a[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	if h := seals[e.a[0].ID].Hash.String(); all[e.a[0].ID].Integrity.Hash != h {
		t.Errorf("hash %s, want the stored %s", all[e.a[0].ID].Integrity.Hash, h)
	}
}

// A keyed chain whose HMAC key the server lacks is unchecked; a
// checkpoint signed by a key it does not trust does not count.
func TestStatusWithoutKeys(t *testing.T) {
	other, _, _ := integrity.GenerateKey()
	e := newEnv(t, &integrityhttp.Options{HMACKeys: []*integrity.HMACKey{}, PublicKeys: []ed25519.PublicKey{other}})
	all := e.listAll(t, "/api/v1/events?page_size=100")
	for _, ev := range e.k {
		if got := all[ev.ID].Integrity; got == nil || got.Status != integrityhttp.StatusUnchecked || got.Checkpoint != 0 {
			t.Errorf("keyed event without its key: %+v, want unchecked without checkpoint", got)
		}
	}
	for _, ev := range e.a {
		if got := all[ev.ID].Integrity; got == nil || got.Status != integrityhttp.StatusSealed {
			t.Errorf("event under an untrusted checkpoint: %+v, want sealed", got)
		}
	}
}

// A server without the Annotator answers events as before, without the
// member.
func TestNoStatusWithoutAnnotator(t *testing.T) {
	e := newEnv(t, nil)
	h := server.New(e.store, nil, &server.Options{Authenticate: auth, Logger: slog.New(slog.DiscardHandler)})
	e.h = h
	for _, ev := range e.listAll(t, "/api/v1/events?page_size=100") {
		if ev.Integrity != nil {
			t.Fatalf("event %s has an integrity member", ev.ID)
		}
	}
}

// countingStore counts the reads of checkpoints and chains.
type countingStore struct {
	*sqlite.Store
	checkpoints, chains int
}

func (s *countingStore) Checkpoints(ctx context.Context, chain string) ([]integrity.Checkpoint, error) {
	s.checkpoints++
	return s.Store.Checkpoints(ctx, chain)
}

func (s *countingStore) Chains(ctx context.Context) ([]integrity.ChainInfo, error) {
	s.chains++
	return s.Store.Chains(ctx)
}

// The status reads a chain's checkpoints only for an event beyond the
// newest it knows, at most once per CheckpointRefresh; events it knows
// are covered never cause a read.
func TestStatusCheckpointCache(t *testing.T) {
	e := newEnv(t, nil)
	now := e.a[0].Time
	cs := &countingStore{Store: e.store}
	svc, err := integrityhttp.New(cs, &integrityhttp.Options{
		PublicKeys: []ed25519.PublicKey{e.pub}, HMACKeys: []*integrity.HMACKey{e.mac},
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	annotate := func(events ...activitylog.Event) []statusMember {
		t.Helper()
		vs, err := svc.Annotate(ctx, events)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]statusMember, len(vs))
		for i, v := range vs {
			if err := json.Unmarshal(v, &out[i]); err != nil {
				t.Fatalf("%v: %s", err, v)
			}
		}
		return out
	}
	annotate(e.a...)
	if cs.checkpoints != 1 || cs.chains != 1 {
		t.Fatalf("first page of chain A: %d checkpoint reads, %d chain reads; want 1, 1", cs.checkpoints, cs.chains)
	}
	annotate(e.a...)
	annotate(e.a[:3]...)
	if cs.checkpoints != 1 {
		t.Fatalf("covered events read checkpoints again: %d reads", cs.checkpoints)
	}
	// Chain B has no checkpoint: read once, then not again within the
	// refresh interval, then again after it.
	annotate(e.b...)
	annotate(e.b...)
	if cs.checkpoints != 2 {
		t.Fatalf("chain B within the interval: %d reads, want 2", cs.checkpoints)
	}
	now = now.Add(integrityhttp.DefaultCheckpointRefresh)
	if st := annotate(e.b...); st[0].Status != integrityhttp.StatusSealed {
		t.Fatalf("chain B: %+v", st[0])
	}
	if cs.checkpoints != 3 {
		t.Fatalf("chain B after the interval: %d reads, want 3", cs.checkpoints)
	}
}
