package mysql_test

import (
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/integrity/integrityhttp"
	"github.com/activitylog/activitylog/mysql"
	"github.com/activitylog/activitylog/storetest"
)

// The store serves the integrity API (activitylog serve mounts it over
// the event store when that is this one).
var _ integrityhttp.Store = (*mysql.Store)(nil)

// Seals gives the seal of each stored sealed event asked for, over more
// ids than one statement takes (1000), and leaves out unsealed events,
// unknown ids and a sealed event whose row is gone.
func TestSeals(t *testing.T) {
	serverDSN(t)
	s := open(t, nil)
	_, priv, _ := integrity.GenerateKey()
	es := storetest.Fixture(1300)
	sealed, plain := es[:1200], es[1200:]
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(ctx, sealed); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, plain); err != nil {
		t.Fatal(err)
	}
	gone := sealed[7]
	if _, err := s.DB().ExecContext(ctx, `DELETE FROM events WHERE id = ?`, gone.ID[:]); err != nil {
		t.Fatal(err)
	}

	ids := []activitylog.ID{activitylog.NewID(time.Now())}
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	got, err := s.Seals(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(sealed)-1 {
		t.Fatalf("%d seals, want %d", len(got), len(sealed)-1)
	}
	if _, ok := got[gone.ID]; ok {
		t.Fatal("the seal of an event whose row is gone is given")
	}
	hs, err := s.Hashes(ctx, w.Chain().ID, 1, uint64(len(sealed)))
	if err != nil {
		t.Fatal(err)
	}
	var prev integrity.Hash
	byID := map[activitylog.ID]integrity.Seal{}
	for seq := range hs {
		// The writer seals a batch in its order.
		byID[sealed[seq].ID] = integrity.Seal{Chain: w.Chain().ID, Seq: uint64(seq + 1), Prev: prev, Hash: hs[seq]}
		prev = hs[seq]
	}
	for id, seal := range got {
		want := byID[id]
		if want.Seq == 1 {
			want.Prev = seal.Prev // the chain's genesis value
		}
		if seal != want {
			t.Fatalf("seal of %s = %+v, want %+v", id, seal, want)
		}
	}
	if got, err := s.Seals(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("Seals(nil) = %v, %v", got, err)
	}
}

// LastCheckpoint gives the chain's newest checkpoint, false before it
// has one, and an error when its body no longer parses.
func TestLastCheckpoint(t *testing.T) {
	serverDSN(t)
	s := open(t, nil)
	pub, priv, _ := integrity.GenerateKey()
	w, err := integrity.NewWriter(s, &integrity.WriterOptions{SigningKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	chain := w.Chain().ID
	if _, ok, err := s.LastCheckpoint(ctx, chain); ok || err != nil {
		t.Fatalf("before any write: ok %v, %v", ok, err)
	}
	es := storetest.Fixture(30)
	for i := 0; i < 30; i += 10 {
		if err := w.Write(ctx, es[i:i+10]); err != nil {
			t.Fatal(err)
		}
	}
	cp, ok, err := s.LastCheckpoint(ctx, chain)
	if err != nil || !ok || cp.Chain != chain || cp.ToSeq != 30 {
		t.Fatalf("LastCheckpoint = %+v, %v, %v; want to_seq 30", cp, ok, err)
	}
	if err := cp.Verify(pub); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, `UPDATE checkpoints SET body = 'x' WHERE chain = ? AND to_seq = 30`, chain); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LastCheckpoint(ctx, chain); err == nil {
		t.Fatal("a body that does not parse: no error")
	}
}
