package integrityhttp_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/integrity/integrityhttp"
)

// Who may call each route: scenario tables by principal.
func TestPermissions(t *testing.T) {
	e := newEnv(t, nil)
	ann := e.a[0]   // acme, ann's
	bob := e.a[1]   // acme, bob's
	gil := e.a[2]   // globex
	noTen := e.a[3] // no tenant, sam's
	proof := func(ev activitylog.Event) string { return "/api/v1/events/" + ev.ID.String() + "/proof" }
	consistency := "/api/v1/integrity/consistency?chain=" + e.chainA + "&from=10&to=30"
	cases := []struct {
		name, url, token string
		want             int
	}{
		{"public key, anonymous", "/api/v1/integrity/public-key", "", 200},
		{"public key, ingest key", "/api/v1/integrity/public-key", "acme-ingest", 200},

		{"verify, anonymous", "/api/v1/integrity/verify", "", 401},
		{"verify, ingest key", "/api/v1/integrity/verify", "acme-ingest", 403},
		{"verify, viewer", "/api/v1/integrity/verify", "ann", 403},
		{"verify, viewer without tenant", "/api/v1/integrity/verify", "single-viewer", 403},
		{"verify, tenant's view_all_logs", "/api/v1/integrity/verify", "acme-admin", 403},
		{"verify, view_all_logs without tenant", "/api/v1/integrity/verify", "single-admin", 200},
		{"verify, superuser", "/api/v1/integrity/verify", "root", 200},

		{"consistency, anonymous", consistency, "", 401},
		{"consistency, ingest key", consistency, "acme-ingest", 403},
		{"consistency, viewer", consistency, "ann", 200},
		{"consistency, tenant's view_all_logs", consistency, "acme-admin", 200},
		{"consistency, superuser", consistency, "root", 200},

		{"proof, anonymous", proof(ann), "", 401},
		{"proof, ingest key", proof(ann), "acme-ingest", 403},
		{"proof, viewer, own event", proof(ann), "ann", 200},
		{"proof, viewer, colleague's event", proof(bob), "ann", 404},
		{"proof, viewer, other tenant's event", proof(gil), "ann", 404},
		{"proof, tenant's view_all_logs, tenant's event", proof(bob), "acme-admin", 200},
		{"proof, tenant's view_all_logs, other tenant's event", proof(gil), "acme-admin", 404},
		{"proof, tenant's view_all_logs, untenanted event", proof(noTen), "acme-admin", 404},
		{"proof, view_all_logs without tenant, untenanted event", proof(noTen), "single-admin", 200},
		{"proof, view_all_logs without tenant, tenant's event", proof(ann), "single-admin", 404},
		{"proof, superuser", proof(gil), "root", 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.get(t, c.url, c.token)
			if w.Code != c.want {
				t.Fatalf("GET %s as %q: %d, want %d: %s", c.url, c.token, w.Code, c.want, w.Body)
			}
			if c.want == 404 && strings.Contains(w.Body.String(), "GLOBEX") {
				t.Fatal("the 404 tells something of the event")
			}
		})
	}
}

// Bad parameters are refused with a 400 naming the parameter and the
// value; well-formed requests the trail cannot answer get 404 or 409
// with a code that says why.
func TestBadParams(t *testing.T) {
	e := newEnv(t, nil)
	id := e.a[0].ID.String()
	cases := []struct {
		name, url string
		want      int
		field     string // of a 400
		value     string
		code      string // of any other error
	}{
		{"public key, a parameter", "/api/v1/integrity/public-key?x=1", 400, "x", "1", ""},
		{"verify, unknown parameter", "/api/v1/integrity/verify?colour=red", 400, "colour", "red", ""},
		{"verify, repeated parameter", "/api/v1/integrity/verify?kind=crud&kind=auth", 400, "kind", "crud,auth", ""},
		{"verify, bad kind", "/api/v1/integrity/verify?kind=crud,crudd", 400, "kind", "crud,crudd", ""},
		{"verify, bad chain", "/api/v1/integrity/verify?chain=a%20b", 400, "chain", "a b", ""},
		{"verify, empty chain in list", "/api/v1/integrity/verify?chain=a,,b", 400, "chain", "a,,b", ""},
		{"verify, bad from", "/api/v1/integrity/verify?from=yesterday", 400, "from", "yesterday", ""},
		{"verify, to before from", "/api/v1/integrity/verify?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "to", "2026-01-01T00:00:00Z", ""},
		{"verify, max_findings 0", "/api/v1/integrity/verify?max_findings=0", 400, "max_findings", "0", ""},
		{"verify, max_findings too many", "/api/v1/integrity/verify?max_findings=100001", 400, "max_findings", "100001", ""},
		{"verify, max_findings not a number", "/api/v1/integrity/verify?max_findings=ten", 400, "max_findings", "ten", ""},
		// A chain id the store does not hold: the verifier would report
		// it as an empty chain and answer ok, having verified nothing.
		{"verify, unknown chain", "/api/v1/integrity/verify?chain=nosuch", 400, "chain", "nosuch", ""},
		{"verify, a known and an unknown chain", "/api/v1/integrity/verify?chain=" + e.chainA + ",nosuch", 400, "chain", e.chainA[:32] + "…", ""},
		{"verify, unknown chain among filters", "/api/v1/integrity/verify?kind=crud&chain=nosuch&max_findings=5", 400, "chain", "nosuch", ""},
		{"bundle, unknown chain", "/api/v1/integrity/bundle?chain=nosuch", 400, "chain", "nosuch", ""},
		// Names and values that are not UTF-8 are shown as Go escapes.
		{"verify, a name not UTF-8", "/api/v1/integrity/verify?%ff=1", 400, `\xff`, "1", ""},
		{"verify, chain not UTF-8", "/api/v1/integrity/verify?chain=%ff", 400, "chain", `\xff`, ""},
		{"verify, from not UTF-8", "/api/v1/integrity/verify?from=%ff", 400, "from", `\xff`, ""},
		{"public key, a value not UTF-8", "/api/v1/integrity/public-key?x=%ff", 400, "x", `\xff`, ""},
		{"proof, an id not UTF-8", "/api/v1/events/%ff/proof", 400, "id", `\xff`, ""},
		{"proof, checkpoint not UTF-8", "/api/v1/events/" + id + "/proof?checkpoint=%ff", 400, "checkpoint", `\xff`, ""},
		{"consistency, to not UTF-8", "/api/v1/integrity/consistency?chain=" + e.chainA + "&from=10&to=%ff", 400, "to", `\xff`, ""},
		{"proof, not a UUID", "/api/v1/events/nope/proof", 400, "id", "nope", ""},
		{"proof, unknown parameter", "/api/v1/events/" + id + "/proof?seq=1", 400, "seq", "1", ""},
		{"proof, checkpoint 0", "/api/v1/events/" + id + "/proof?checkpoint=0", 400, "checkpoint", "0", ""},
		{"proof, checkpoint negative", "/api/v1/events/" + id + "/proof?checkpoint=-10", 400, "checkpoint", "-10", ""},
		{"proof, checkpoint below the event", "/api/v1/events/" + e.a[14].ID.String() + "/proof?checkpoint=10", 400, "checkpoint", "10", ""},
		{"proof, no such checkpoint", "/api/v1/events/" + id + "/proof?checkpoint=15", 404, "", "", "not_found"},
		{"proof, unknown event", "/api/v1/events/" + activitylog.NewID(e.a[0].Time).String() + "/proof", 404, "", "", "not_found"},
		{"proof, unsealed event", "/api/v1/events/" + e.un[0].ID.String() + "/proof", 409, "", "", "unsealed"},
		{"proof, event not checkpointed yet", "/api/v1/events/" + e.b[0].ID.String() + "/proof", 409, "", "", "not_checkpointed"},
		{"consistency, no chain", "/api/v1/integrity/consistency?from=10&to=20", 400, "chain", "", ""},
		{"consistency, no from", "/api/v1/integrity/consistency?chain=" + e.chainA + "&to=20", 400, "from", "", ""},
		{"consistency, bad to", "/api/v1/integrity/consistency?chain=" + e.chainA + "&from=10&to=2x", 400, "to", "2x", ""},
		{"consistency, from after to", "/api/v1/integrity/consistency?chain=" + e.chainA + "&from=20&to=10", 400, "from", "20", ""},
		{"consistency, unknown parameter", "/api/v1/integrity/consistency?chain=" + e.chainA + "&from=10&to=20&x=1", 400, "x", "1", ""},
		{"consistency, no such checkpoint", "/api/v1/integrity/consistency?chain=" + e.chainA + "&from=10&to=25", 404, "", "", "not_found"},
		{"consistency, unknown chain", "/api/v1/integrity/consistency?chain=nope&from=10&to=20", 404, "", "", "not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := e.get(t, c.url, "root")
			if w.Code != c.want {
				t.Fatalf("GET %s: %d, want %d: %s", c.url, w.Code, c.want, w.Body)
			}
			got := decodeErr(t, w)
			if c.want == 400 {
				if got.Error.Code != "invalid" || got.Error.Field != c.field || got.Error.Value == nil || *got.Error.Value != c.value {
					t.Fatalf("GET %s: error %+v, want field %q value %q", c.url, got.Error, c.field, c.value)
				}
				return
			}
			if got.Error.Code != c.code || got.Error.Message == "" {
				t.Fatalf("GET %s: error %+v, want code %q", c.url, got.Error, c.code)
			}
		})
	}
}

func TestPublicKey(t *testing.T) {
	e := newEnv(t, nil)
	var got struct {
		Keys []struct {
			KeyID     string `json:"key_id"`
			Algorithm string `json:"algorithm"`
			PEM       string `json:"pem"`
		} `json:"keys"`
	}
	e.getJSON(t, "/api/v1/integrity/public-key", 200, &got)
	if len(got.Keys) != 1 || got.Keys[0].KeyID != integrity.KeyID(e.pub) || got.Keys[0].Algorithm != "Ed25519" {
		t.Fatalf("keys %+v", got.Keys)
	}
	pub, err := integrity.ParsePublicKey([]byte(got.Keys[0].PEM))
	if err != nil || !pub.Equal(e.pub) {
		t.Fatalf("the PEM is not the key: %v", err)
	}
}

type proofBody struct {
	EventID        activitylog.ID       `json:"event_id"`
	Seal           integrity.Seal       `json:"seal"`
	Integrity      statusMember         `json:"integrity"`
	Checkpoint     integrity.Checkpoint `json:"checkpoint"`
	CheckpointBody string               `json:"checkpoint_body"`
	KeyID          string               `json:"key_id"`
	LeafIndex      uint64               `json:"leaf_index"`
	LeafHash       integrity.Hash       `json:"leaf_hash"`
	TreeSize       uint64               `json:"tree_size"`
	Proof          []integrity.Hash     `json:"proof"`
}

// The proof verifies: the checkpoint's signature with the published
// key, its body is the one signed, and the audit path leads from the
// seal's hash to the checkpoint's tree root; by default to the newest
// checkpoint, or to the one asked for.
func TestProof(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range []struct {
		ev    activitylog.Event
		query string
		size  uint64
	}{
		{e.a[0], "", 30},
		{e.a[0], "?checkpoint=10", 10},
		{e.a[12], "?checkpoint=20", 20},
		{e.a[29], "", 30},
		{e.a[9], "?checkpoint=10", 10},
		{e.k[2], "", 5},
	} {
		var p proofBody
		e.getJSON(t, "/api/v1/events/"+c.ev.ID.String()+"/proof"+c.query, 200, &p)
		if p.EventID != c.ev.ID || p.TreeSize != c.size || p.Checkpoint.ToSeq != c.size || p.LeafIndex != p.Seal.Seq-1 {
			t.Fatalf("%s%s: event %s tree %d checkpoint %d leaf %d seq %d", c.ev.ID, c.query, p.EventID, p.TreeSize, p.Checkpoint.ToSeq, p.LeafIndex, p.Seal.Seq)
		}
		if err := p.Checkpoint.Verify(e.pub); err != nil {
			t.Fatalf("checkpoint signature: %v", err)
		}
		if string(p.Checkpoint.Body()) != p.CheckpointBody || p.KeyID != integrity.KeyID(e.pub) {
			t.Fatalf("body %q is not the checkpoint's", p.CheckpointBody)
		}
		if err := integrity.VerifyInclusion(p.Seal.Seq, p.TreeSize, p.Seal.Hash, p.Proof, p.Checkpoint.TreeRoot); err != nil {
			t.Fatalf("inclusion proof of %s%s: %v", c.ev.ID, c.query, err)
		}
		if p.LeafHash != integrity.LeafHash(p.Seal.Hash) || p.Integrity.Status != integrityhttp.StatusCheckpointed {
			t.Fatalf("leaf hash %s, status %+v", p.LeafHash, p.Integrity)
		}
		// The proof is not valid for another event's hash.
		other := p.Seal.Hash
		other[0] ^= 1
		if integrity.VerifyInclusion(p.Seal.Seq, p.TreeSize, other, p.Proof, p.Checkpoint.TreeRoot) == nil {
			t.Fatal("the proof verifies a wrong hash too")
		}
	}
}

// A proof is never handed out when the stored hashes no longer lead to
// the signed root, or when the checkpoint does not verify.
func TestProofOfAlteredChain(t *testing.T) {
	e := newEnv(t, nil)
	// The hash of seq 3 edited: the proof of seq 1 reads it.
	e.exec(t, `UPDATE events SET hash = ? WHERE chain = ? AND chain_seq = 3`, make([]byte, 32), e.chainA)
	w := e.get(t, "/api/v1/events/"+e.a[0].ID.String()+"/proof", "root")
	if w.Code != 409 || decodeErr(t, w).Error.Code != "proof_failed" {
		t.Fatalf("altered hash: %d %s", w.Code, w.Body)
	}
	// A checkpoint edited: its signature no longer verifies.
	var body []byte
	if err := e.db(t).QueryRow(`SELECT body FROM checkpoints WHERE chain = ? AND to_seq = 20`, e.chainA).Scan(&body); err != nil {
		t.Fatal(err)
	}
	var cp integrity.Checkpoint
	if err := json.Unmarshal(body, &cp); err != nil {
		t.Fatal(err)
	}
	cp.Time = cp.Time.Add(1)
	body, _ = json.Marshal(cp)
	e.exec(t, `UPDATE checkpoints SET body = ? WHERE chain = ? AND to_seq = 20`, body, e.chainA)
	w = e.get(t, "/api/v1/events/"+e.a[15].ID.String()+"/proof?checkpoint=20", "root")
	if w.Code != 409 || decodeErr(t, w).Error.Code != "untrusted_checkpoint" {
		t.Fatalf("edited checkpoint: %d %s", w.Code, w.Body)
	}
	w = e.get(t, "/api/v1/integrity/consistency?chain="+e.chainA+"&from=20&to=30", "root")
	if w.Code != 409 || decodeErr(t, w).Error.Code != "untrusted_checkpoint" {
		t.Fatalf("consistency from an edited checkpoint: %d %s", w.Code, w.Body)
	}
}

// The consistency proof verifies between the two signed roots, for
// every pair of checkpoints.
func TestConsistency(t *testing.T) {
	e := newEnv(t, nil)
	for _, c := range [][2]uint64{{10, 20}, {10, 30}, {20, 30}, {30, 30}} {
		var got struct {
			Chain          string               `json:"chain"`
			From           uint64               `json:"from"`
			To             uint64               `json:"to"`
			FromCheckpoint integrity.Checkpoint `json:"from_checkpoint"`
			FromBody       string               `json:"from_body"`
			ToCheckpoint   integrity.Checkpoint `json:"to_checkpoint"`
			ToBody         string               `json:"to_body"`
			Proof          []integrity.Hash     `json:"proof"`
		}
		e.getJSON(t, fmt.Sprintf("/api/v1/integrity/consistency?chain=%s&from=%d&to=%d", e.chainA, c[0], c[1]), 200, &got)
		if got.Chain != e.chainA || got.From != c[0] || got.To != c[1] || got.FromCheckpoint.ToSeq != c[0] || got.ToCheckpoint.ToSeq != c[1] {
			t.Fatalf("%v: %+v", c, got)
		}
		for _, cp := range []integrity.Checkpoint{got.FromCheckpoint, got.ToCheckpoint} {
			if err := cp.Verify(e.pub); err != nil {
				t.Fatal(err)
			}
		}
		if string(got.FromCheckpoint.Body()) != got.FromBody || string(got.ToCheckpoint.Body()) != got.ToBody {
			t.Fatal("bodies are not the checkpoints'")
		}
		if err := integrity.VerifyConsistency(c[0], c[1], got.Proof, got.FromCheckpoint.TreeRoot, got.ToCheckpoint.TreeRoot); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if c[0] != c[1] && integrity.VerifyConsistency(c[0], c[1], got.Proof, got.ToCheckpoint.TreeRoot, got.FromCheckpoint.TreeRoot) == nil {
			t.Fatalf("%v: the proof verifies with the roots swapped", c)
		}
	}
}

type verifyBody struct {
	OK       bool                     `json:"ok"`
	Total    int                      `json:"total"`
	Unsealed int                      `json:"unsealed"`
	Counts   map[integrity.Reason]int `json:"counts"`
	Findings []integrity.Finding      `json:"findings"`
	Chains   []integrity.ChainReport  `json:"chains"`
}

// Verify answers the Verifier's report of the stored trail: the
// unsealed events are missing_hash (never fine), an edited event is
// modified, with its id.
func TestVerify(t *testing.T) {
	e := newEnv(t, nil)
	var rep verifyBody
	e.getJSON(t, "/api/v1/integrity/verify", 200, &rep)
	if rep.OK || rep.Total != 42 || rep.Unsealed != 2 || rep.Counts[integrity.ReasonMissingHash] != 2 || len(rep.Chains) != 3 {
		t.Fatalf("report: %+v", rep)
	}
	e.editMessage(t, e.chainA, 4)
	e.getJSON(t, "/api/v1/integrity/verify?max_findings=1", 200, &rep)
	if rep.OK || rep.Counts[integrity.ReasonModified] != 1 || len(rep.Findings) != 1 {
		t.Fatalf("after an edit: %+v", rep)
	}
	e.getJSON(t, "/api/v1/integrity/verify", 200, &rep)
	found := false
	for _, f := range rep.Findings {
		if f.Reason == integrity.ReasonModified && f.Seq == 4 && f.EventID == e.a[3].ID {
			found = true
		}
	}
	if !found {
		t.Fatalf("no modified finding at seq 4: %+v", rep.Findings)
	}
	// The parameters reach the Verifier: a chain of its own.
	e.getJSON(t, "/api/v1/integrity/verify?chain="+e.chainB, 200, &rep)
	if len(rep.Chains) != 1 || rep.Chains[0].ID != e.chainB {
		t.Fatalf("chain=%s: chains %+v", e.chainB, rep.Chains)
	}
	// Every run is counted for metrics, with its findings.
	st := e.svc.VerifyStats()
	want := integrityhttp.VerifyStats{Runs: 4, Failures: 3}
	if !rep.OK {
		want.Failures++
	}
	want.Findings = 2 + 3 + 3 // the two unsealed; those and the edit, twice
	for _, n := range rep.Counts {
		want.Findings += uint64(n)
	}
	if st != want {
		t.Fatalf("VerifyStats %+v, want %+v", st, want)
	}
}

// Verify checks the store against the witness: a chain that only the
// witness knows (its events and checkpoints gone from the store) is
// truncated.
func TestVerifyWitness(t *testing.T) {
	gone := newEnv(t, nil) // another trail, whose checkpoints the witness holds
	var witness []integrity.Checkpoint
	e := newEnv(t, &integrityhttp.Options{
		PublicKeys: []ed25519.PublicKey{gone.pub},
		Witness:    func(ctx context.Context) ([]integrity.Checkpoint, error) { return witness, nil },
	})
	cps, err := gone.store.Checkpoints(context.Background(), gone.chainA)
	if err != nil || len(cps) != 3 {
		t.Fatal(err, len(cps))
	}
	witness = cps
	var rep verifyBody
	e.getJSON(t, "/api/v1/integrity/verify", 200, &rep)
	if rep.Counts[integrity.ReasonTruncated] == 0 || !slices.ContainsFunc(rep.Chains, func(c integrity.ChainReport) bool { return c.ID == gone.chainA }) {
		t.Fatalf("the witness was not consulted: %+v %+v", rep.Counts, rep.Chains)
	}
	// A chain only the witness knows may be asked for: it is verified,
	// and truncated; one that neither knows is refused.
	e.getJSON(t, "/api/v1/integrity/verify?chain="+gone.chainA, 200, &rep)
	if rep.OK || rep.Counts[integrity.ReasonTruncated] == 0 || len(rep.Chains) != 1 || rep.Chains[0].ID != gone.chainA {
		t.Fatalf("chain=%s, which the witness alone holds: %+v %+v", gone.chainA, rep.Counts, rep.Chains)
	}
	w := e.get(t, "/api/v1/integrity/verify?chain=nosuch", "root")
	if got := decodeErr(t, w); w.Code != 400 || got.Error.Field != "chain" || got.Error.Value == nil || *got.Error.Value != "nosuch" ||
		!strings.Contains(got.Error.Message, "in the store or the witness") {
		t.Fatalf("chain=nosuch with a witness: %d %s", w.Code, w.Body)
	}
	witness = nil
	e.getJSON(t, "/api/v1/integrity/verify", 200, &rep)
	if slices.ContainsFunc(rep.Chains, func(c integrity.ChainReport) bool { return c.ID == gone.chainA }) {
		t.Fatalf("without the witness: %+v", rep.Chains)
	}
	if w := e.get(t, "/api/v1/integrity/verify?chain="+gone.chainA, "root"); w.Code != 400 {
		t.Fatalf("chain=%s, which nobody holds now: %d %s", gone.chainA, w.Code, w.Body)
	}
}
