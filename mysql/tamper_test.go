package mysql_test

import (
	"crypto/ed25519"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/mysql"
	"github.com/activitylog/activitylog/storetest"
)

// The tamper suite writes a sealed trail through integrity.Writer into
// a database of its own, then, one case at a time on a trail of its
// own, edits the tables with SQL as someone with write access to the
// database would (not through the store), and checks what the verifier
// reports: the same findings, kinds and ids as the sqlite and postgres
// suites (sqlite/tamper_test.go, postgres/tamper_test.go), since the
// edits are the same.

const tamperEvents, tamperBatch = 200, 20

// sealedTrail is a database written by an integrity.Writer, with the
// witness file of its checkpoints.
type sealedTrail struct {
	s       *mysql.Store
	witness string
	chain   string
	pub     ed25519.PublicKey
	hmac    *integrity.HMACKey
}

func writeSealedTrail(t *testing.T, keyed bool) *sealedTrail {
	t.Helper()
	tr := &sealedTrail{s: open(t, nil), witness: filepath.Join(t.TempDir(), "witness.jsonl")}
	pub, priv, err := integrity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tr.pub = pub
	opts := &integrity.WriterOptions{SigningKey: priv}
	if keyed {
		if tr.hmac, err = integrity.GenerateHMACKey(); err != nil {
			t.Fatal(err)
		}
		opts.HMACKey = tr.hmac
	}
	wit, err := integrity.OpenFileWitness(tr.witness)
	if err != nil {
		t.Fatal(err)
	}
	defer wit.Close()
	opts.Witness = wit
	w, err := integrity.NewWriter(tr.s, opts)
	if err != nil {
		t.Fatal(err)
	}
	tr.chain = w.Chain().ID
	events := storetest.Fixture(tamperEvents)
	for i := 0; i < len(events); i += tamperBatch {
		if err := w.Write(ctx, events[i:i+tamperBatch]); err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

func (tr *sealedTrail) verify(t *testing.T, witness bool) *integrity.Report {
	t.Helper()
	opts := &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{tr.pub}, MaxFindings: -1}
	if tr.hmac != nil {
		opts.HMACKeys = []*integrity.HMACKey{tr.hmac}
	}
	if witness {
		var err error
		if opts.Witness, err = integrity.ReadWitnessFile(tr.witness); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := integrity.NewVerifier(tr.s, opts).Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func (tr *sealedTrail) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := tr.s.DB().ExecContext(ctx, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// idAt returns the id of the event sealed at seq.
func (tr *sealedTrail) idAt(t *testing.T, seq int) activitylog.ID {
	t.Helper()
	var id []byte
	if err := tr.s.DB().QueryRowContext(ctx, `SELECT id FROM seals WHERE chain = ? AND seq = ?`, tr.chain, seq).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return activitylog.ID(id)
}

// dataAt returns the stored document of the event sealed at seq.
func (tr *sealedTrail) dataAt(t *testing.T, seq int) []byte {
	t.Helper()
	var data []byte
	if err := tr.s.DB().QueryRowContext(ctx, `SELECT e.data FROM events e JOIN seals s ON s.id = e.id
		WHERE s.chain = ? AND s.seq = ?`, tr.chain, seq).Scan(&data); err != nil {
		t.Fatal(err)
	}
	return data
}

// want is one expected finding: reason, seq (or first seq of a range),
// and the event id when it is not zero.
type want struct {
	reason integrity.Reason
	seq    uint64
	id     activitylog.ID
}

// check fails unless every finding is one of ws and each of ws is found.
func check(t *testing.T, rep *integrity.Report, ws ...want) {
	t.Helper()
	if len(ws) == 0 {
		if !rep.OK() || rep.Verified != tamperEvents {
			t.Fatalf("untouched trail: OK %v, verified %d of %d, findings %v", rep.OK(), rep.Verified, rep.Total, rep.Findings)
		}
		return
	}
	matches := func(f integrity.Finding, w want) bool {
		return f.Reason == w.reason && f.Seq == w.seq && (w.id.IsZero() || f.EventID == w.id)
	}
	for _, w := range ws {
		if !slices.ContainsFunc(rep.Findings, func(f integrity.Finding) bool { return matches(f, w) }) {
			t.Errorf("no finding %s at seq %d (id %s); got:", w.reason, w.seq, w.id)
			for _, f := range rep.Findings {
				t.Errorf("  %s", f)
			}
		}
	}
	for _, f := range rep.Findings {
		if !slices.ContainsFunc(ws, func(w want) bool { return matches(f, w) }) {
			t.Errorf("unexpected finding %s", f)
		}
	}
	if rep.OK() {
		t.Errorf("report is OK")
	}
}

func TestTamperMySQL(t *testing.T) {
	serverDSN(t)
	for _, keyed := range []bool{false, true} {
		t.Run(map[bool]string{false: "sha256", true: "hmac"}[keyed], func(t *testing.T) {
			tamperCases(t, keyed)
		})
	}
}

func tamperCases(t *testing.T, keyed bool) {
	r := rand.New(rand.NewPCG(1, 2))
	mid := 2 + r.IntN(tamperEvents-20) // some seq in the middle, before the last checkpoint
	// Each case has a trail of its own.
	trail := func(t *testing.T) *sealedTrail {
		t.Parallel()
		return writeSealedTrail(t, keyed)
	}

	t.Run("untouched", func(t *testing.T) {
		tr := trail(t)
		check(t, tr.verify(t, true))
	})

	t.Run("data edited", func(t *testing.T) {
		tr := trail(t)
		var doc map[string]any
		if err := json.Unmarshal(tr.dataAt(t, mid), &doc); err != nil {
			t.Fatal(err)
		}
		doc["action"] = "nothing.happened"
		data, _ := json.Marshal(doc)
		id := tr.idAt(t, mid)
		tr.exec(t, `UPDATE events SET data = ? WHERE id = ?`, data, id[:])
		check(t, tr.verify(t, true), want{integrity.ReasonModified, uint64(mid), id})
	})

	// Every column that the API filters or searches on or the analytics
	// read is authoritative: an edit of any of them is modified, and so
	// is an edit of time.
	for _, col := range []string{"actor_id", "tenant", "kind", "action", "severity", "object_type", "object_id", "remote_ip",
		"method", "origin", "category", "tool", "actor_name", "route", "geo_code", "geo_country",
		"search_message", "search_path", "search_repr", "search_name", "changes", "extra", "status", "duration", "time"} {
		t.Run("column "+col+" edited", func(t *testing.T) {
			tr := trail(t)
			id := tr.idAt(t, mid)
			val := any("x-edited")
			switch col {
			case "status", "duration", "time":
				val = 12345
			case "changes", "extra":
				val = `{"x":"edited"}`
			}
			tr.exec(t, `UPDATE events SET `+col+` = ? WHERE id = ?`, val, id[:])
			check(t, tr.verify(t, true), want{integrity.ReasonModified, uint64(mid), id})
		})
	}

	t.Run("middle event deleted", func(t *testing.T) {
		tr := trail(t)
		id := tr.idAt(t, mid)
		tr.exec(t, `DELETE FROM events WHERE id = ?`, id[:])
		tr.exec(t, `DELETE FROM seals WHERE id = ?`, id[:])
		check(t, tr.verify(t, true), want{integrity.ReasonMissing, uint64(mid), activitylog.ID{}})
	})

	t.Run("middle event's row deleted, its seal left", func(t *testing.T) {
		tr := trail(t)
		id := tr.idAt(t, mid)
		tr.exec(t, `DELETE FROM events WHERE id = ?`, id[:])
		check(t, tr.verify(t, true), want{integrity.ReasonModified, uint64(mid), id})
	})

	t.Run("newest events deleted", func(t *testing.T) {
		tr := trail(t)
		tr.exec(t, `DELETE s, e FROM seals s JOIN events e ON e.id = s.id WHERE s.seq > ?`, tamperEvents-5)
		check(t, tr.verify(t, false), want{integrity.ReasonTruncated, tamperEvents - 4, activitylog.ID{}})
	})

	t.Run("newest events and their checkpoint deleted", func(t *testing.T) {
		tr := trail(t)
		tr.exec(t, `DELETE s, e FROM seals s JOIN events e ON e.id = s.id WHERE s.seq > ?`, tamperEvents-5)
		tr.exec(t, `DELETE FROM checkpoints WHERE to_seq > ?`, tamperEvents-5)
		// Without the witness the shorter trail verifies: the documented limit.
		if rep := tr.verify(t, false); !rep.OK() {
			t.Errorf("without witness: findings %v", rep.Findings)
		}
		check(t, tr.verify(t, true),
			want{integrity.ReasonTruncated, tamperEvents - 4, activitylog.ID{}},
			want{integrity.ReasonCheckpointMismatch, tamperEvents - tamperBatch + 1, activitylog.ID{}})
	})

	t.Run("two events swapped", func(t *testing.T) {
		tr := trail(t)
		a, b := mid, mid+7
		// The two events change places in the chain: swap their seqs.
		tr.exec(t, `UPDATE seals SET seq = -1 WHERE seq = ?`, a)
		tr.exec(t, `UPDATE seals SET seq = ? WHERE seq = ?`, a, b)
		tr.exec(t, `UPDATE seals SET seq = ? WHERE seq = -1`, b)
		check(t, tr.verify(t, true),
			want{integrity.ReasonReordered, uint64(a), tr.idAt(t, a)},
			want{integrity.ReasonReordered, uint64(b), tr.idAt(t, b)})
	})

	t.Run("two events' data swapped", func(t *testing.T) {
		tr := trail(t)
		a, b := mid, mid+3
		da, db := tr.dataAt(t, a), tr.dataAt(t, b)
		ida, idb := tr.idAt(t, a), tr.idAt(t, b)
		tr.exec(t, `UPDATE events SET data = ? WHERE id = ?`, db, ida[:])
		tr.exec(t, `UPDATE events SET data = ? WHERE id = ?`, da, idb[:])
		// Their columns stayed, and disagree with the data.
		check(t, tr.verify(t, true),
			want{integrity.ReasonModified, uint64(a), ida},
			want{integrity.ReasonModified, uint64(b), idb})
	})

	t.Run("forged event inserted", func(t *testing.T) {
		tr := trail(t)
		// Make room after mid, then insert an event whose hash is
		// computed as the chain computes it (with another HMAC key when
		// the chain is keyed: the attacker lacks the chain's).
		tr.exec(t, `UPDATE seals SET seq = -(seq + 1) WHERE seq > ?`, mid)
		tr.exec(t, `UPDATE seals SET seq = -seq WHERE seq < 0`)
		forged := storetest.NewEvent(10_000)
		id := tr.insertForged(t, &forged, mid+1, keyed)
		check(t, tr.verify(t, true), want{integrity.ReasonInserted, uint64(mid + 1), id})
	})

	if keyed {
		t.Run("forged event appended", func(t *testing.T) {
			tr := trail(t)
			forged := storetest.NewEvent(10_001)
			id := tr.insertForged(t, &forged, tamperEvents+1, keyed)
			check(t, tr.verify(t, true), want{integrity.ReasonInserted, tamperEvents + 1, id})
		})
	}

	t.Run("checkpoint edited", func(t *testing.T) {
		tr := trail(t)
		cp := tr.readCheckpoint(t, 100)
		cp.RangeRoot[0] ^= 1
		body, _ := json.Marshal(cp)
		tr.exec(t, `UPDATE checkpoints SET body = ? WHERE to_seq = 100`, body)
		check(t, tr.verify(t, false), want{integrity.ReasonBadSignature, 81, activitylog.ID{}})
		// The witness still holds the true one.
		check(t, tr.verify(t, true), want{integrity.ReasonBadSignature, 81, activitylog.ID{}},
			want{integrity.ReasonCheckpointMismatch, 81, activitylog.ID{}})
	})

	t.Run("checkpoint re-signed with another key", func(t *testing.T) {
		tr := trail(t)
		cp := tr.readCheckpoint(t, 100)
		_, other, _ := integrity.GenerateKey()
		if err := cp.Sign(other); err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(cp)
		tr.exec(t, `UPDATE checkpoints SET body = ? WHERE to_seq = 100`, body)
		check(t, tr.verify(t, false), want{integrity.ReasonBadSignature, 81, activitylog.ID{}})
		// The witness still holds the true one.
		check(t, tr.verify(t, true), want{integrity.ReasonBadSignature, 81, activitylog.ID{}},
			want{integrity.ReasonCheckpointMismatch, 81, activitylog.ID{}})
	})

	t.Run("checkpoint body not JSON", func(t *testing.T) {
		tr := trail(t)
		tr.exec(t, `UPDATE checkpoints SET body = 'garbage' WHERE to_seq = 100`)
		check(t, tr.verify(t, false), want{integrity.ReasonBadSignature, 81, activitylog.ID{}})
	})

	t.Run("seal edited", func(t *testing.T) {
		tr := trail(t)
		id := tr.idAt(t, mid)
		tr.exec(t, `UPDATE seals SET canon_version = 7 WHERE id = ?`, id[:])
		rep := tr.verify(t, true)
		if rep.OK() || rep.Counts[integrity.ReasonMissingHash] != 1 {
			t.Errorf("canon_version edited: %v", rep.Findings)
		}
	})

	t.Run("seal hash shortened", func(t *testing.T) {
		tr := trail(t)
		id := tr.idAt(t, mid)
		tr.exec(t, `UPDATE seals SET hash = LEFT(hash, 31) WHERE id = ?`, id[:])
		rep := tr.verify(t, true)
		if rep.OK() || rep.Counts[integrity.ReasonMissingHash] != 1 {
			t.Errorf("hash shortened: %v", rep.Findings)
		}
	})

	t.Run("seal removed", func(t *testing.T) {
		tr := trail(t)
		id := tr.idAt(t, mid)
		tr.exec(t, `DELETE FROM seals WHERE id = ?`, id[:])
		rep := tr.verify(t, true)
		// The gap at mid, and the event without a seal.
		if rep.OK() || !slices.ContainsFunc(rep.Findings, func(f integrity.Finding) bool {
			return f.Reason == integrity.ReasonMissingHash && f.EventID == id
		}) {
			t.Errorf("seal removed: %v", rep.Findings)
		}
	})
}

func (tr *sealedTrail) readCheckpoint(t *testing.T, to int) integrity.Checkpoint {
	t.Helper()
	var body []byte
	if err := tr.s.DB().QueryRowContext(ctx, `SELECT body FROM checkpoints WHERE to_seq = ?`, to).Scan(&body); err != nil {
		t.Fatal(err)
	}
	var cp integrity.Checkpoint
	if err := json.Unmarshal(body, &cp); err != nil {
		t.Fatal(err)
	}
	return cp
}

// insertForged stores e with a seal at seq whose hash is made over its
// canonical bytes after the hash at seq-1, as an attacker who can write
// to the database would, and returns its id. The event's row is
// written by the store's plain Write (what an INSERT of every column
// would make); the seal by an INSERT.
func (tr *sealedTrail) insertForged(t *testing.T, e *activitylog.Event, seq int, keyed bool) activitylog.ID {
	t.Helper()
	var prev []byte
	if err := tr.s.DB().QueryRowContext(ctx, `SELECT hash FROM seals WHERE chain = ? AND seq = ?`, tr.chain, seq-1).Scan(&prev); err != nil {
		t.Fatal(err)
	}
	if err := tr.s.Write(ctx, []activitylog.Event{*e}); err != nil {
		t.Fatal(err)
	}
	stored, err := tr.s.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	canon, err := activitylog.Canonical(&stored)
	if err != nil {
		t.Fatal(err)
	}
	var key *integrity.HMACKey
	if keyed {
		if key, err = integrity.GenerateHMACKey(); err != nil {
			t.Fatal(err)
		}
	}
	h := integrity.ChainHash(key, integrity.Hash(prev), canon)
	tr.exec(t, `INSERT INTO seals (chain, seq, id, prev, hash, canon_version) VALUES (?, ?, ?, ?, ?, ?)`,
		tr.chain, seq, e.ID[:], prev, h[:], activitylog.CanonicalVersion)
	return e.ID
}
