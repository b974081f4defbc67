package integrity

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/activitylog/activitylog"
)

// CheckpointVersion is the version of the checkpoint encoding that
// Body writes; it is the first line of the body.
const CheckpointVersion = 1

// checkpointHeader is the first line of a version 1 body.
const checkpointHeader = "activitylog/checkpoint/v1"

// checkpointTime is the layout of the time line: UTC, nine fractional
// digits, always.
const checkpointTime = "2006-01-02T15:04:05.000000000Z"

// ErrBadSignature is wrapped by the errors of Checkpoint.Verify.
var ErrBadSignature = errors.New("bad checkpoint signature")

// Checkpoint is a signed statement about one chain: its events
// FromSeq..ToSeq have the Merkle root RangeRoot, and its events
// 1..ToSeq the root TreeRoot, so that a consistency proof links any two
// checkpoints of the chain. Prev is the Hash of the chain's previous
// checkpoint (zero for the first, whose FromSeq is 1), so checkpoints
// form a chain of their own, as CloudTrail's digest files do.
//
// Body is the canonical text that the Ed25519 signature covers;
// docs/integrity.md defines it. The JSON form (MarshalJSON) is how
// stores, witnesses and bundles carry a checkpoint.
type Checkpoint struct {
	Version   int       // CheckpointVersion
	Chain     string    // chain id
	FromSeq   uint64    // first seq covered, >= 1
	ToSeq     uint64    // last seq covered, >= FromSeq: the tree size
	RangeRoot Hash      // RFC 6962 root over the event hashes FromSeq..ToSeq
	TreeRoot  Hash      // RFC 6962 root over the event hashes 1..ToSeq
	Prev      Hash      // Hash of the previous checkpoint; zero for the first
	Time      time.Time // when it was made; encoded in UTC to the nanosecond
	KeyID     string    // KeyID of the signing key
	Signature []byte    // Ed25519 over Body; 64 bytes
}

// Validate checks the fields that Body encodes. Its error wraps
// activitylog.ErrInvalid and names the field.
func (cp *Checkpoint) Validate() error {
	if cp.Version != CheckpointVersion {
		return activitylog.Invalid("version", strconv.Itoa(cp.Version), "must be "+strconv.Itoa(CheckpointVersion))
	}
	if err := ValidateChainID(cp.Chain); err != nil {
		return err
	}
	if cp.FromSeq < 1 {
		return activitylog.Invalid("from_seq", "0", "must be at least 1")
	}
	if cp.ToSeq < cp.FromSeq {
		return activitylog.Invalid("to_seq", strconv.FormatUint(cp.ToSeq, 10), "must be at least from_seq "+strconv.FormatUint(cp.FromSeq, 10))
	}
	if y := cp.Time.UTC().Year(); y < 0 || y > 9999 {
		return activitylog.Invalid("time", cp.Time.String(), "must be within the years 0 to 9999")
	}
	if !isLowerHex(cp.KeyID, 16) {
		return activitylog.Invalid("key_id", truncate(cp.KeyID, 40), "is not 16 lowercase hex digits")
	}
	return nil
}

// Body returns the signed bytes: nine lines, each ended by "\n", in
// this order and with nothing else:
//
//	activitylog/checkpoint/v1
//	chain <chain id>
//	from <FromSeq in decimal, no leading zero>
//	to <ToSeq in decimal>
//	range <RangeRoot, 64 lowercase hex digits>
//	tree <TreeRoot, 64 lowercase hex digits>
//	prev <Prev, 64 lowercase hex digits>
//	time <Time as YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ, in UTC>
//	key <KeyID>
//
// Body does not validate; Sign, Verify and ParseCheckpoint do.
func (cp *Checkpoint) Body() []byte {
	b := make([]byte, 0, 400)
	b = append(b, checkpointHeader+"\nchain "...)
	b = append(b, cp.Chain...)
	b = append(b, "\nfrom "...)
	b = strconv.AppendUint(b, cp.FromSeq, 10)
	b = append(b, "\nto "...)
	b = strconv.AppendUint(b, cp.ToSeq, 10)
	b = append(b, "\nrange "...)
	b = hex.AppendEncode(b, cp.RangeRoot[:])
	b = append(b, "\ntree "...)
	b = hex.AppendEncode(b, cp.TreeRoot[:])
	b = append(b, "\nprev "...)
	b = hex.AppendEncode(b, cp.Prev[:])
	b = append(b, "\ntime "...)
	b = cp.Time.UTC().AppendFormat(b, checkpointTime)
	b = append(b, "\nkey "...)
	b = append(b, cp.KeyID...)
	b = append(b, '\n')
	return b
}

// Hash returns SHA-256(Body()): what the next checkpoint's Prev holds.
// The signature is not part of it.
func (cp *Checkpoint) Hash() Hash { return sha256.Sum256(cp.Body()) }

// Sign sets KeyID to KeyID of priv's public key and Signature to the
// Ed25519 signature of Body.
func (cp *Checkpoint) Sign(priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return fmt.Errorf("sign checkpoint: %w", activitylog.Invalid("signing key", fmt.Sprintf("%d bytes", len(priv)), "is not an Ed25519 private key"))
	}
	cp.KeyID = KeyID(priv.Public().(ed25519.PublicKey))
	if err := cp.Validate(); err != nil {
		return fmt.Errorf("sign checkpoint: %w", err)
	}
	cp.Signature = ed25519.Sign(priv, cp.Body())
	return nil
}

// Verify checks that cp is valid and signed by pub. Its error wraps
// ErrBadSignature when the key id is not pub's or the signature does
// not verify, and activitylog.ErrInvalid when a field is not valid.
func (cp *Checkpoint) Verify(pub ed25519.PublicKey) error {
	if err := cp.Validate(); err != nil {
		return fmt.Errorf("verify checkpoint: %w", err)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("verify checkpoint: %w", activitylog.Invalid("public key", fmt.Sprintf("%d bytes", len(pub)), "is not an Ed25519 public key"))
	}
	if id := KeyID(pub); cp.KeyID != id {
		return fmt.Errorf("verify checkpoint: signed by key %s, not %s: %w", cp.KeyID, id, ErrBadSignature)
	}
	if len(cp.Signature) != ed25519.SignatureSize || !ed25519.Verify(pub, cp.Body(), cp.Signature) {
		return fmt.Errorf("verify checkpoint: signature of key %s does not verify: %w", cp.KeyID, ErrBadSignature)
	}
	return nil
}

// ParseCheckpoint parses a body in the exact form Body writes; anything
// else (another order, a missing or extra line, a leading zero, upper
// case hex, another time form) is refused, so that one checkpoint has
// one body. The result has no signature. Errors wrap
// activitylog.ErrInvalid.
func ParseCheckpoint(body []byte) (Checkpoint, error) {
	var cp Checkpoint
	fail := func(reason string) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("parse checkpoint: %w", activitylog.Invalid("checkpoint", truncate(string(body), 80), reason))
	}
	if len(body) > 1024 {
		return fail("is longer than 1024 bytes")
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		return fail("does not end with a newline")
	}
	lines := bytes.Split(body[:len(body)-1], []byte{'\n'})
	names := []string{"", "chain", "from", "to", "range", "tree", "prev", "time", "key"}
	if len(lines) != len(names) {
		return fail(fmt.Sprintf("has %d lines, want %d", len(lines), len(names)))
	}
	if string(lines[0]) != checkpointHeader {
		return fail("does not begin with " + checkpointHeader)
	}
	vals := make([]string, len(names))
	for i := 1; i < len(lines); i++ {
		name, val, ok := bytes.Cut(lines[i], []byte{' '})
		if !ok || string(name) != names[i] {
			return fail(fmt.Sprintf("line %d is not %q and a value", i+1, names[i]))
		}
		vals[i] = string(val)
	}
	var err error
	cp.Version = CheckpointVersion
	cp.Chain = vals[1]
	if cp.FromSeq, err = strconv.ParseUint(vals[2], 10, 64); err != nil {
		return fail("from is not a decimal number")
	}
	if cp.ToSeq, err = strconv.ParseUint(vals[3], 10, 64); err != nil {
		return fail("to is not a decimal number")
	}
	for i, h := range []*Hash{&cp.RangeRoot, &cp.TreeRoot, &cp.Prev} {
		if *h, err = ParseHash(vals[4+i]); err != nil {
			return fail(names[4+i] + " is not 64 lowercase hex digits")
		}
	}
	if cp.Time, err = time.Parse(checkpointTime, vals[7]); err != nil {
		return fail("time is not in the form " + checkpointTime)
	}
	cp.KeyID = vals[8]
	if err := cp.Validate(); err != nil {
		return Checkpoint{}, fmt.Errorf("parse checkpoint: %w", err)
	}
	if !bytes.Equal(cp.Body(), body) {
		return fail("is not in canonical form")
	}
	return cp, nil
}

// checkpointJSON is the JSON form of a Checkpoint.
type checkpointJSON struct {
	Version   int    `json:"version"`
	Chain     string `json:"chain"`
	FromSeq   uint64 `json:"from_seq"`
	ToSeq     uint64 `json:"to_seq"`
	RangeRoot Hash   `json:"range_root"`
	TreeRoot  Hash   `json:"tree_root"`
	Prev      Hash   `json:"prev"`
	Time      string `json:"time"`
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

// MarshalJSON writes the checkpoint's fields as one JSON object with
// the members version, chain, from_seq, to_seq, range_root, tree_root,
// prev, time (as in Body), key_id and signature (128 lowercase hex
// digits). The body is not in it: a reader rebuilds it with Body.
func (cp Checkpoint) MarshalJSON() ([]byte, error) {
	if err := cp.Validate(); err != nil {
		return nil, fmt.Errorf("marshal checkpoint: %w", err)
	}
	return json.Marshal(checkpointJSON{
		Version: cp.Version, Chain: cp.Chain, FromSeq: cp.FromSeq, ToSeq: cp.ToSeq,
		RangeRoot: cp.RangeRoot, TreeRoot: cp.TreeRoot, Prev: cp.Prev,
		Time:  cp.Time.UTC().Format(checkpointTime),
		KeyID: cp.KeyID, Signature: hex.EncodeToString(cp.Signature),
	})
}

// UnmarshalJSON reads the form MarshalJSON writes. It refuses unknown
// members, a time in another form and a signature that is not 64
// bytes, and validates the fields; it does not verify the signature.
func (cp *Checkpoint) UnmarshalJSON(b []byte) error {
	var j checkpointJSON
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&j); err != nil {
		return fmt.Errorf("unmarshal checkpoint: %w", activitylog.Invalid("checkpoint", truncate(string(b), 80), err.Error()))
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("unmarshal checkpoint: %w", activitylog.Invalid("checkpoint", truncate(string(b), 80), "has data after the object"))
	}
	t, err := time.Parse(checkpointTime, j.Time)
	if err != nil || t.Format(checkpointTime) != j.Time {
		return fmt.Errorf("unmarshal checkpoint: %w", activitylog.Invalid("time", truncate(j.Time, 40), "is not in the form "+checkpointTime))
	}
	if !isLowerHex(j.Signature, 2*ed25519.SignatureSize) {
		return fmt.Errorf("unmarshal checkpoint: %w", activitylog.Invalid("signature", truncate(j.Signature, 40), "is not 128 lowercase hex digits"))
	}
	sig, _ := hex.DecodeString(j.Signature)
	c := Checkpoint{
		Version: j.Version, Chain: j.Chain, FromSeq: j.FromSeq, ToSeq: j.ToSeq,
		RangeRoot: j.RangeRoot, TreeRoot: j.TreeRoot, Prev: j.Prev,
		Time: t, KeyID: j.KeyID, Signature: sig,
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("unmarshal checkpoint: %w", err)
	}
	*cp = c
	return nil
}
