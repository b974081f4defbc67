package integrity

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/bits"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// PruneVersion is the version of the pruning record encoding that
// PruneRecord.Body writes; it is the first line of the body.
const PruneVersion = 1

// pruneHeader is the first line of a version 1 body.
const pruneHeader = "activitylog/prune/v1"

// maxPruneText bounds a record's Policy and Actor, in bytes.
const maxPruneText = 256

// PruneRecord is a signed statement that a chain's events 1..UpToSeq
// were deleted on purpose (by retention), written before they are
// deleted. The cut is always at a checkpoint: Checkpoint is the hash of
// the chain's checkpoint whose ToSeq is UpToSeq, CutHash the event hash
// of seq UpToSeq (the Prev of seq UpToSeq+1), and Tree the compact
// range of the chain's tree over the event hashes 1..UpToSeq-1, so that
// the tree over 1..UpToSeq, which that checkpoint's TreeRoot signs, is
// Tree with LeafHash(CutHash) appended. From it a verifier continues
// the tree and checks the TreeRoot of every later checkpoint without
// the pruned events.
//
// Body is the canonical text that the Ed25519 signature covers;
// docs/integrity.md defines it. The JSON form (MarshalJSON) is how a
// store carries a record.
type PruneRecord struct {
	Version    int       // PruneVersion
	Chain      string    // chain id
	UpToSeq    uint64    // events 1..UpToSeq may be absent; >= 1
	Checkpoint Hash      // Checkpoint.Hash of the chain's checkpoint with ToSeq == UpToSeq
	CutHash    Hash      // the event hash of seq UpToSeq
	Tree       []Hash    // compact range of the tree over leaves 1..UpToSeq-1, left to right
	Policy     string    // the retention policy that pruned, e.g. "retention 90d"
	Actor      string    // who or what pruned, e.g. "retention-job" or a user id
	Time       time.Time // when the record was made; encoded in UTC to the nanosecond
	KeyID      string    // KeyID of the signing key
	Signature  []byte    // Ed25519 over Body; 64 bytes
}

// PruneSource is what a Source implements when it can give pruning
// records; the Verifier finds it by type assertion, so a Source without
// it stays valid (and then no gap is accepted). Prunes returns chain's
// records, by ascending UpToSeq; a record it cannot read whole is
// returned with the fields it could read and no signature, so that the
// verifier reports it as bad_signature. Errors are the Source's own
// failures, never findings.
type PruneSource interface {
	Prunes(ctx context.Context, chain string) ([]PruneRecord, error)
}

// validText checks a Policy or Actor: 1 to 256 bytes of UTF-8 without
// control characters, so that it stays one line of the body.
func validText(field, s string) error {
	if s == "" || len(s) > maxPruneText {
		return activitylog.Invalid(field, truncate(s, 80), "must be 1 to 256 bytes")
	}
	if !utf8.ValidString(s) {
		return activitylog.Invalid(field, truncate(strings.ToValidUTF8(s, "\uFFFD"), 80), "is not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || 0x80 <= r && r < 0xa0 || r == '\u2028' || r == '\u2029' {
			return activitylog.Invalid(field, truncate(strconv.Quote(s), 80), "must not hold control characters or line separators")
		}
	}
	return nil
}

// Validate checks the fields that Body encodes. Its error wraps
// activitylog.ErrInvalid and names the field.
func (p *PruneRecord) Validate() error {
	if p.Version != PruneVersion {
		return activitylog.Invalid("version", strconv.Itoa(p.Version), "must be "+strconv.Itoa(PruneVersion))
	}
	if err := ValidateChainID(p.Chain); err != nil {
		return err
	}
	if p.UpToSeq < 1 {
		return activitylog.Invalid("up_to_seq", "0", "must be at least 1")
	}
	if got, want := len(p.Tree), bits.OnesCount64(p.UpToSeq-1); got != want {
		return activitylog.Invalid("tree", strconv.Itoa(got)+" hashes", fmt.Sprintf("must hold %d hashes, the compact range of %d leaves", want, p.UpToSeq-1))
	}
	if err := validText("policy", p.Policy); err != nil {
		return err
	}
	if err := validText("actor", p.Actor); err != nil {
		return err
	}
	if y := p.Time.UTC().Year(); y < 0 || y > 9999 {
		return activitylog.Invalid("time", p.Time.String(), "must be within the years 0 to 9999")
	}
	if !isLowerHex(p.KeyID, 16) {
		return activitylog.Invalid("key_id", truncate(p.KeyID, 40), "is not 16 lowercase hex digits")
	}
	return nil
}

// Body returns the signed bytes: ten lines, each ended by "\n", in
// this order and with nothing else:
//
//	activitylog/prune/v1
//	chain <chain id>
//	upto <UpToSeq in decimal, no leading zero>
//	checkpoint <Checkpoint, 64 lowercase hex digits>
//	cut <CutHash, 64 lowercase hex digits>
//	tree[ <hash>]... (each of Tree as " " and 64 lowercase hex digits; "tree" alone when empty)
//	policy <Policy>
//	actor <Actor>
//	time <Time as YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ, in UTC>
//	key <KeyID>
//
// Body does not validate; Sign, Verify and ParsePruneRecord do.
func (p *PruneRecord) Body() []byte {
	b := make([]byte, 0, 420+65*len(p.Tree)+len(p.Policy)+len(p.Actor))
	b = append(b, pruneHeader+"\nchain "...)
	b = append(b, p.Chain...)
	b = append(b, "\nupto "...)
	b = strconv.AppendUint(b, p.UpToSeq, 10)
	b = append(b, "\ncheckpoint "...)
	b = hex.AppendEncode(b, p.Checkpoint[:])
	b = append(b, "\ncut "...)
	b = hex.AppendEncode(b, p.CutHash[:])
	b = append(b, "\ntree"...)
	for _, h := range p.Tree {
		b = append(b, ' ')
		b = hex.AppendEncode(b, h[:])
	}
	b = append(b, "\npolicy "...)
	b = append(b, p.Policy...)
	b = append(b, "\nactor "...)
	b = append(b, p.Actor...)
	b = append(b, "\ntime "...)
	b = p.Time.UTC().AppendFormat(b, checkpointTime)
	b = append(b, "\nkey "...)
	b = append(b, p.KeyID...)
	b = append(b, '\n')
	return b
}

// Hash returns SHA-256(Body()). The signature is not part of it.
func (p *PruneRecord) Hash() Hash { return sha256.Sum256(p.Body()) }

// Sign sets KeyID to KeyID of priv's public key and Signature to the
// Ed25519 signature of Body.
func (p *PruneRecord) Sign(priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("sign prune record: %w", activitylog.Invalid("signing key", fmt.Sprintf("%d bytes", len(priv)), "is not an Ed25519 private key"))
	}
	p.KeyID = KeyID(priv.Public().(ed25519.PublicKey))
	if err := p.Validate(); err != nil {
		return fmt.Errorf("sign prune record: %w", err)
	}
	p.Signature = ed25519.Sign(priv, p.Body())
	return nil
}

// Verify checks that p is valid and signed by pub. Its error wraps
// ErrBadSignature when the key id is not pub's or the signature does
// not verify, and activitylog.ErrInvalid when a field is not valid.
func (p *PruneRecord) Verify(pub ed25519.PublicKey) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("verify prune record: %w", err)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("verify prune record: %w", activitylog.Invalid("public key", fmt.Sprintf("%d bytes", len(pub)), "is not an Ed25519 public key"))
	}
	if id := KeyID(pub); p.KeyID != id {
		return fmt.Errorf("verify prune record: signed by key %s, not %s: %w", p.KeyID, id, ErrBadSignature)
	}
	if len(p.Signature) != ed25519.SignatureSize || !ed25519.Verify(pub, p.Body(), p.Signature) {
		return fmt.Errorf("verify prune record: signature of key %s does not verify: %w", p.KeyID, ErrBadSignature)
	}
	return nil
}

// maxPruneBody bounds a body: 64 tree hashes, the texts and the rest.
const maxPruneBody = 8192

// ParsePruneRecord parses a body in the exact form Body writes; anything
// else is refused, so that one record has one body. The result has no
// signature. Errors wrap activitylog.ErrInvalid.
func ParsePruneRecord(body []byte) (PruneRecord, error) {
	var p PruneRecord
	fail := func(reason string) (PruneRecord, error) {
		return PruneRecord{}, fmt.Errorf("parse prune record: %w", activitylog.Invalid("prune record", truncate(string(body), 80), reason))
	}
	if len(body) > maxPruneBody {
		return fail("is longer than 8192 bytes")
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		return fail("does not end with a newline")
	}
	lines := bytes.Split(body[:len(body)-1], []byte{'\n'})
	names := []string{"", "chain", "upto", "checkpoint", "cut", "tree", "policy", "actor", "time", "key"}
	if len(lines) != len(names) {
		return fail(fmt.Sprintf("has %d lines, want %d", len(lines), len(names)))
	}
	if string(lines[0]) != pruneHeader {
		return fail("does not begin with " + pruneHeader)
	}
	vals := make([]string, len(names))
	for i := 1; i < len(lines); i++ {
		if names[i] == "tree" && string(lines[i]) == "tree" {
			continue // an empty compact range
		}
		name, val, ok := bytes.Cut(lines[i], []byte{' '})
		if !ok || string(name) != names[i] {
			return fail(fmt.Sprintf("line %d is not %q and a value", i+1, names[i]))
		}
		vals[i] = string(val)
	}
	var err error
	p.Version = PruneVersion
	p.Chain = vals[1]
	if p.UpToSeq, err = strconv.ParseUint(vals[2], 10, 64); err != nil {
		return fail("upto is not a decimal number")
	}
	if p.Checkpoint, err = ParseHash(vals[3]); err != nil {
		return fail("checkpoint is not 64 lowercase hex digits")
	}
	if p.CutHash, err = ParseHash(vals[4]); err != nil {
		return fail("cut is not 64 lowercase hex digits")
	}
	if vals[5] != "" {
		for _, s := range strings.Split(vals[5], " ") {
			h, err := ParseHash(s)
			if err != nil {
				return fail("tree is not hashes of 64 lowercase hex digits, one space before each")
			}
			p.Tree = append(p.Tree, h)
		}
	}
	p.Policy, p.Actor = vals[6], vals[7]
	if p.Time, err = time.Parse(checkpointTime, vals[8]); err != nil {
		return fail("time is not in the form " + checkpointTime)
	}
	p.KeyID = vals[9]
	if err := p.Validate(); err != nil {
		return PruneRecord{}, fmt.Errorf("parse prune record: %w", err)
	}
	if !bytes.Equal(p.Body(), body) {
		return fail("is not in canonical form")
	}
	return p, nil
}

// pruneJSON is the JSON form of a PruneRecord.
type pruneJSON struct {
	Version    int    `json:"version"`
	Chain      string `json:"chain"`
	UpToSeq    uint64 `json:"up_to_seq"`
	Checkpoint Hash   `json:"checkpoint"`
	CutHash    Hash   `json:"cut"`
	Tree       []Hash `json:"tree"`
	Policy     string `json:"policy"`
	Actor      string `json:"actor"`
	Time       string `json:"time"`
	KeyID      string `json:"key_id"`
	Signature  string `json:"signature"`
}

// MarshalJSON writes the record as one JSON object with the members
// version, chain, up_to_seq, checkpoint, cut, tree (an array of hex
// hashes), policy, actor, time (as in Body), key_id and signature (128
// lowercase hex digits). A reader rebuilds the body with Body.
func (p PruneRecord) MarshalJSON() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("marshal prune record: %w", err)
	}
	tree := p.Tree
	if tree == nil {
		tree = []Hash{}
	}
	return json.Marshal(pruneJSON{
		Version: p.Version, Chain: p.Chain, UpToSeq: p.UpToSeq, Checkpoint: p.Checkpoint, CutHash: p.CutHash,
		Tree: tree, Policy: p.Policy, Actor: p.Actor, Time: p.Time.UTC().Format(checkpointTime),
		KeyID: p.KeyID, Signature: hex.EncodeToString(p.Signature),
	})
}

// UnmarshalJSON reads the form MarshalJSON writes. It refuses unknown
// members, a time in another form and a signature that is not 64
// bytes, and validates the fields; it does not verify the signature.
func (p *PruneRecord) UnmarshalJSON(b []byte) error {
	var j pruneJSON
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return fmt.Errorf("unmarshal prune record: %w", activitylog.Invalid("prune record", truncate(string(b), 80), err.Error()))
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("unmarshal prune record: %w", activitylog.Invalid("prune record", truncate(string(b), 80), "has data after the object"))
	}
	t, err := time.Parse(checkpointTime, j.Time)
	if err != nil || t.Format(checkpointTime) != j.Time {
		return fmt.Errorf("unmarshal prune record: %w", activitylog.Invalid("time", truncate(j.Time, 40), "is not in the form "+checkpointTime))
	}
	if !isLowerHex(j.Signature, 2*ed25519.SignatureSize) {
		return fmt.Errorf("unmarshal prune record: %w", activitylog.Invalid("signature", truncate(j.Signature, 40), "is not 128 lowercase hex digits"))
	}
	sig, _ := hex.DecodeString(j.Signature)
	r := PruneRecord{
		Version: j.Version, Chain: j.Chain, UpToSeq: j.UpToSeq, Checkpoint: j.Checkpoint, CutHash: j.CutHash,
		Tree: j.Tree, Policy: j.Policy, Actor: j.Actor, Time: t, KeyID: j.KeyID, Signature: sig,
	}
	if len(r.Tree) == 0 {
		r.Tree = nil
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("unmarshal prune record: %w", err)
	}
	*p = r
	return nil
}

// NewPruneRecord makes the unsigned record of a cut at checkpoint cp:
// Version, Chain, UpToSeq (cp.ToSeq), Checkpoint, CutHash and Tree. The
// caller sets Policy, Actor and Time, and signs it.
//
// prev is the chain's last earlier record (nil for none): its events
// may be gone already, so the tree is continued from prev's and only the
// hashes of seqs prev.UpToSeq+1..cp.ToSeq are read, through hashes, in
// ranges of at most 65536. It fails, wrapping activitylog.ErrInvalid,
// when cp is not after prev, and when the hashes read, with prev's tree,
// do not make cp's TreeRoot: pruning a chain whose stored hashes
// disagree with a signed checkpoint would destroy the evidence.
func NewPruneRecord(cp Checkpoint, prev *PruneRecord, hashes HashesFunc) (PruneRecord, error) {
	fail := func(err error) (PruneRecord, error) { return PruneRecord{}, fmt.Errorf("new prune record: %w", err) }
	if err := cp.Validate(); err != nil {
		return fail(err)
	}
	t := newTree()
	from := uint64(1)
	if prev != nil {
		if prev.Chain != cp.Chain {
			return fail(activitylog.Invalid("chain", prev.Chain, "the earlier record is of another chain than "+cp.Chain))
		}
		if prev.UpToSeq >= cp.ToSeq {
			return fail(activitylog.Invalid("up_to_seq", strconv.FormatUint(cp.ToSeq, 10), fmt.Sprintf("must be after the earlier record's %d", prev.UpToSeq)))
		}
		var err error
		if t, err = treeFrom(prev.UpToSeq-1, prev.Tree); err != nil {
			return fail(activitylog.Invalid("tree", strconv.Itoa(len(prev.Tree)), err.Error()))
		}
		t.appendLeaf(LeafHash(prev.CutHash))
		from = prev.UpToSeq + 1
	}
	var tree []Hash
	var cut Hash
	for from <= cp.ToSeq {
		to := min(cp.ToSeq, from+readChunk-1)
		hs, err := hashes(from, to)
		if err != nil {
			return fail(err)
		}
		if uint64(len(hs)) != to-from+1 {
			return fail(fmt.Errorf("read hashes of seqs %d to %d: got %d", from, to, len(hs)))
		}
		for i, h := range hs {
			if from+uint64(i) == cp.ToSeq {
				tree, cut = t.state(), h
			}
			t.appendLeaf(LeafHash(h))
		}
		from = to + 1
	}
	if t.root() != cp.TreeRoot {
		return fail(activitylog.Invalid("checkpoint", fmt.Sprintf("%d..%d", cp.FromSeq, cp.ToSeq), "does not sign the root of the stored hashes"))
	}
	if len(tree) == 0 {
		tree = nil
	}
	return PruneRecord{Version: PruneVersion, Chain: cp.Chain, UpToSeq: cp.ToSeq, Checkpoint: cp.Hash(), CutHash: cut, Tree: tree}, nil
}

// frontier returns the tree over 1..UpToSeq that the record states:
// Tree with LeafHash(CutHash) appended.
func (p *PruneRecord) frontier() (tree, error) {
	t, err := treeFrom(p.UpToSeq-1, p.Tree)
	if err != nil {
		return tree{}, err
	}
	t.appendLeaf(LeafHash(p.CutHash))
	return t, nil
}

// clone returns a tree of its own with the same leaves.
func (t tree) clone() tree {
	c, err := treeFrom(t.size(), t.state())
	if err != nil {
		panic(err) // the state of a tree is always the right size
	}
	return c
}
