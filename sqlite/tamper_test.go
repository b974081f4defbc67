package sqlite_test

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
	"github.com/activitylog/activitylog/storetest"
)

// The tamper suite writes a sealed trail through integrity.Writer into
// an SQLite file, then, one case at a time on a copy of the file, edits
// it as someone with write access to the file would (database/sql and
// the driver, not the store), and checks what the verifier reports.

const tamperEvents, tamperBatch = 200, 20

// sealedTrail is a file written by an integrity.Writer.
type sealedTrail struct {
	path, witness string
	chain         string
	pub           ed25519.PublicKey
	hmac          *integrity.HMACKey
	events        []activitylog.Event
}

func writeSealedTrail(t *testing.T, keyed bool) *sealedTrail {
	t.Helper()
	dir := t.TempDir()
	tr := &sealedTrail{path: filepath.Join(dir, "trail.db"), witness: filepath.Join(dir, "witness.jsonl")}
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
	s, err := sqlite.Open(tr.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := integrity.NewWriter(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	tr.chain = w.Chain().ID
	tr.events = storetest.Fixture(tamperEvents)
	for i := 0; i < len(tr.events); i += tamperBatch {
		if err := w.Write(context.Background(), tr.events[i:i+tamperBatch]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return tr
}

// copyDB copies the trail's database file (the store was closed, so the
// write-ahead log is in it) and opens the copy with database/sql.
func (tr *sealedTrail) copyDB(t *testing.T) (string, *sql.DB) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy.db")
	in, err := os.Open(tr.path)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dst)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return dst, db
}

func (tr *sealedTrail) verify(t *testing.T, path string, witness bool) *integrity.Report {
	t.Helper()
	s, err := sqlite.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	opts := &integrity.VerifierOptions{PublicKeys: []ed25519.PublicKey{tr.pub}, MaxFindings: -1}
	if tr.hmac != nil {
		opts.HMACKeys = []*integrity.HMACKey{tr.hmac}
	}
	if witness {
		if opts.Witness, err = integrity.ReadWitnessFile(tr.witness); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := integrity.NewVerifier(s, opts).Verify(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func exec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// idAt returns the id of the event stored at seq.
func idAt(t *testing.T, db *sql.DB, seq int) activitylog.ID {
	t.Helper()
	var b []byte
	if err := db.QueryRow(`SELECT id FROM events WHERE chain_seq = ?`, seq).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return activitylog.ID(b)
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

func TestTamperSQLite(t *testing.T) {
	for _, keyed := range []bool{false, true} {
		t.Run(map[bool]string{false: "sha256", true: "hmac"}[keyed], func(t *testing.T) {
			t.Parallel()
			tamperCases(t, writeSealedTrail(t, keyed), keyed)
		})
	}
}

func tamperCases(t *testing.T, tr *sealedTrail, keyed bool) {
	r := rand.New(rand.NewPCG(1, 2))
	mid := 2 + r.IntN(tamperEvents-20) // some seq in the middle, before the last checkpoint

	t.Run("untouched", func(t *testing.T) {
		check(t, tr.verify(t, tr.path, true))
	})

	t.Run("data edited", func(t *testing.T) {
		path, db := tr.copyDB(t)
		var data []byte
		if err := db.QueryRow(`SELECT data FROM events WHERE chain_seq = ?`, mid).Scan(&data); err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		doc["message"] = "nothing happened"
		data, _ = json.Marshal(doc)
		exec(t, db, `UPDATE events SET data = ? WHERE chain_seq = ?`, data, mid)
		check(t, tr.verify(t, path, true), want{integrity.ReasonModified, uint64(mid), idAt(t, db, mid)})
	})

	// Every column that the API returns or filters on is authoritative:
	// an edit of any of them is modified.
	for _, col := range []string{"actor_id", "tenant", "kind", "action", "object_id", "remote_ip", "category", "status", "time"} {
		t.Run("column "+col+" edited", func(t *testing.T) {
			path, db := tr.copyDB(t)
			val := any("x-edited")
			if col == "status" || col == "time" {
				val = 12345
			}
			exec(t, db, `UPDATE events SET `+col+` = ? WHERE chain_seq = ?`, val, mid)
			check(t, tr.verify(t, path, true), want{integrity.ReasonModified, uint64(mid), idAt(t, db, mid)})
		})
	}

	t.Run("middle event deleted", func(t *testing.T) {
		path, db := tr.copyDB(t)
		exec(t, db, `DELETE FROM events WHERE chain_seq = ?`, mid)
		check(t, tr.verify(t, path, true), want{integrity.ReasonMissing, uint64(mid), activitylog.ID{}})
	})

	t.Run("newest events deleted", func(t *testing.T) {
		path, db := tr.copyDB(t)
		exec(t, db, `DELETE FROM events WHERE chain_seq > ?`, tamperEvents-5)
		check(t, tr.verify(t, path, false), want{integrity.ReasonTruncated, tamperEvents - 4, activitylog.ID{}})
	})

	t.Run("newest events and their checkpoint deleted", func(t *testing.T) {
		path, db := tr.copyDB(t)
		exec(t, db, `DELETE FROM events WHERE chain_seq > ?`, tamperEvents-5)
		exec(t, db, `DELETE FROM checkpoints WHERE to_seq > ?`, tamperEvents-5)
		// Without the witness the shorter trail verifies: the documented limit.
		if rep := tr.verify(t, path, false); !rep.OK() {
			t.Errorf("without witness: findings %v", rep.Findings)
		}
		check(t, tr.verify(t, path, true),
			want{integrity.ReasonTruncated, tamperEvents - 4, activitylog.ID{}},
			want{integrity.ReasonCheckpointMismatch, tamperEvents - tamperBatch + 1, activitylog.ID{}})
	})

	t.Run("two events swapped", func(t *testing.T) {
		path, db := tr.copyDB(t)
		a, b := mid, mid+7
		// The two rows change places in the chain: swap their seqs.
		exec(t, db, `UPDATE events SET chain_seq = -1 WHERE chain_seq = ?`, a)
		exec(t, db, `UPDATE events SET chain_seq = ? WHERE chain_seq = ?`, a, b)
		exec(t, db, `UPDATE events SET chain_seq = ? WHERE chain_seq = -1`, b)
		check(t, tr.verify(t, path, true),
			want{integrity.ReasonReordered, uint64(a), idAt(t, db, a)},
			want{integrity.ReasonReordered, uint64(b), idAt(t, db, b)})
	})

	t.Run("two events' data swapped", func(t *testing.T) {
		path, db := tr.copyDB(t)
		a, b := mid, mid+3
		var da, dbb []byte
		db.QueryRow(`SELECT data FROM events WHERE chain_seq = ?`, a).Scan(&da)
		db.QueryRow(`SELECT data FROM events WHERE chain_seq = ?`, b).Scan(&dbb)
		exec(t, db, `UPDATE events SET data = ? WHERE chain_seq = ?`, dbb, a)
		exec(t, db, `UPDATE events SET data = ? WHERE chain_seq = ?`, da, b)
		// Their indexed columns stayed, and disagree with the data.
		check(t, tr.verify(t, path, true),
			want{integrity.ReasonModified, uint64(a), idAt(t, db, a)},
			want{integrity.ReasonModified, uint64(b), idAt(t, db, b)})
	})

	t.Run("forged event inserted", func(t *testing.T) {
		path, db := tr.copyDB(t)
		// Make room after mid, then insert an event whose hash is
		// computed as the chain computes it (with another HMAC key when
		// the chain is keyed: the attacker lacks the chain's).
		exec(t, db, `UPDATE events SET chain_seq = -(chain_seq + 1) WHERE chain_seq > ?`, mid)
		exec(t, db, `UPDATE events SET chain_seq = -chain_seq WHERE chain_seq < 0`)
		var prev []byte
		if err := db.QueryRow(`SELECT hash FROM events WHERE chain_seq = ?`, mid).Scan(&prev); err != nil {
			t.Fatal(err)
		}
		forged := storetest.NewEvent(10_000)
		id := insertForged(t, db, tr, &forged, mid+1, integrity.Hash(prev), keyed)
		check(t, tr.verify(t, path, true), want{integrity.ReasonInserted, uint64(mid + 1), id})
	})

	if keyed {
		t.Run("forged event appended", func(t *testing.T) {
			path, db := tr.copyDB(t)
			var prev []byte
			if err := db.QueryRow(`SELECT hash FROM events WHERE chain_seq = ?`, tamperEvents).Scan(&prev); err != nil {
				t.Fatal(err)
			}
			forged := storetest.NewEvent(10_001)
			id := insertForged(t, db, tr, &forged, tamperEvents+1, integrity.Hash(prev), keyed)
			check(t, tr.verify(t, path, true), want{integrity.ReasonInserted, tamperEvents + 1, id})
		})
	}

	t.Run("checkpoint edited", func(t *testing.T) {
		path, db := tr.copyDB(t)
		cp := readCheckpoint(t, db, 100)
		cp.RangeRoot[0] ^= 1
		body, _ := json.Marshal(cp)
		exec(t, db, `UPDATE checkpoints SET body = ? WHERE to_seq = 100`, body)
		check(t, tr.verify(t, path, false), want{integrity.ReasonBadSignature, 81, activitylog.ID{}})
		// The witness still holds the true one.
		check(t, tr.verify(t, path, true), want{integrity.ReasonBadSignature, 81, activitylog.ID{}},
			want{integrity.ReasonCheckpointMismatch, 81, activitylog.ID{}})
	})

	t.Run("checkpoint re-signed with another key", func(t *testing.T) {
		path, db := tr.copyDB(t)
		cp := readCheckpoint(t, db, 100)
		_, other, _ := integrity.GenerateKey()
		if err := cp.Sign(other); err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(cp)
		exec(t, db, `UPDATE checkpoints SET body = ? WHERE to_seq = 100`, body)
		check(t, tr.verify(t, path, false), want{integrity.ReasonBadSignature, 81, activitylog.ID{}})
		// The witness still holds the true one.
		check(t, tr.verify(t, path, true), want{integrity.ReasonBadSignature, 81, activitylog.ID{}},
			want{integrity.ReasonCheckpointMismatch, 81, activitylog.ID{}})
	})

	t.Run("NULLs written", func(t *testing.T) {
		path, db := tr.copyDB(t)
		id := idAt(t, db, mid)
		exec(t, db, `UPDATE events SET time = NULL, status = NULL, data = NULL WHERE chain_seq = ?`, mid)
		check(t, tr.verify(t, path, true), want{integrity.ReasonModified, uint64(mid), id})
		exec(t, db, `UPDATE events SET chain_seq = NULL WHERE id = ?`, id[:])
		rep := tr.verify(t, path, true)
		if rep.OK() || rep.Counts[integrity.ReasonMissingHash] != 1 {
			t.Errorf("seq NULL: %v", rep.Findings)
		}
	})

	t.Run("seal removed", func(t *testing.T) {
		path, db := tr.copyDB(t)
		id := idAt(t, db, mid)
		exec(t, db, `UPDATE events SET chain = '', chain_seq = 0, prev = NULL, hash = NULL WHERE chain_seq = ?`, mid)
		check(t, tr.verify(t, path, true), want{integrity.ReasonMissingHash, uint64(mid), id})
	})
}

func readCheckpoint(t *testing.T, db *sql.DB, to int) integrity.Checkpoint {
	t.Helper()
	var body []byte
	if err := db.QueryRow(`SELECT body FROM checkpoints WHERE to_seq = ?`, to).Scan(&body); err != nil {
		t.Fatal(err)
	}
	var cp integrity.Checkpoint
	if err := json.Unmarshal(body, &cp); err != nil {
		t.Fatal(err)
	}
	return cp
}

// insertForged stores e at seq with a hash over its canonical bytes
// after prev, as an attacker who can write to the file would, and
// returns its id.
func insertForged(t *testing.T, db *sql.DB, tr *sealedTrail, e *activitylog.Event, seq int, prev integrity.Hash, keyed bool) activitylog.ID {
	t.Helper()
	canon, err := activitylog.Canonical(e)
	if err != nil {
		t.Fatal(err)
	}
	var key *integrity.HMACKey
	if keyed {
		if key, err = integrity.GenerateHMACKey(); err != nil {
			t.Fatal(err)
		}
	}
	h := integrity.ChainHash(key, prev, canon)
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	exec(t, db, `INSERT INTO events (id, time, kind, action, severity, tenant, actor_id, actor_name, object_type, object_id, object_repr,
		message, path, remote_ip, status, duration, method, origin, category, tool, data, chain, chain_seq, prev, hash, canon_version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		e.ID[:], e.Time.UnixNano(), string(e.Kind), e.Action, string(e.Severity), e.Tenant, e.Actor.ID, e.Actor.Name,
		e.Object.Type, e.Object.ID, e.Object.Repr, e.Message, e.Request.Path, e.Request.RemoteIP, e.Response.Status,
		int64(e.Response.Duration), e.Request.Method, e.Request.Origin, e.Category, e.Tool, data, tr.chain, seq, prev[:], h[:])
	return e.ID
}
