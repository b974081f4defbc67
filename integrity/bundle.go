package integrity

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
)

// An offline bundle is one file that holds what is needed to check a
// trail, or part of one, with no access to the store: the public keys,
// the chains, their signed checkpoints, the events with their seals and,
// when the bundle holds only some events of a chain, an RFC 6962
// inclusion proof for each and consistency proofs between the
// checkpoints. It is gzip-compressed NDJSON: one JSON object, a record,
// per line, each with a member "type". docs/integrity.md defines every
// record, so that an auditor can check a bundle with their own code.

// BundleFormat and BundleVersion name the format in the header record.
const (
	BundleFormat  = "activitylog-bundle"
	BundleVersion = 1
)

// maxBundleLine bounds one record line: an event's bodies are at most
// 1 MiB each, so no record the exporter writes comes near it.
const maxBundleLine = 64 << 20

// A bundle's reader keeps its keys, chains, checkpoints, prune records
// and consistency proofs in memory (the events it reads again from the
// file, one at a time). These bound them: together at most
// MaxBundleKept records and MaxBundleKeptBytes bytes of their lines
// (decompressed). A bundle over either is refused with an error that
// names the limit and the line. A checkpoint record is some 550 bytes
// and a consistency proof up to some 2 KiB, so a bundle may hold about
// 900,000 checkpoints of whole chains, or 200,000 with their
// consistency proofs (a bundle of selected events).
const (
	MaxBundleKept      = 1 << 20   // records kept in memory
	MaxBundleKeptBytes = 512 << 20 // bytes of their lines
)

// bundleKeptLimits are MaxBundleKept and MaxBundleKeptBytes; tests
// lower them.
var bundleKeptLimits = [2]int{MaxBundleKept, MaxBundleKeptBytes}

// ErrBundle is wrapped by the errors of a bundle that cannot be read: not
// gzip or NDJSON, truncated, a record that is not valid. They name the
// line.
var ErrBundle = errors.New("bundle is damaged")

// BundleFilters are the filters an export was made with, as the header
// records them; empty means none.
type BundleFilters struct {
	Chains []string `json:"chains,omitempty"`
	Kinds  []string `json:"kinds,omitempty"`
	From   string   `json:"from,omitempty"` // RFC 3339, included
	To     string   `json:"to,omitempty"`   // RFC 3339, excluded
}

// BundleHeader is the first record of a bundle.
type BundleHeader struct {
	Format  string `json:"format"`  // BundleFormat
	Version int    `json:"version"` // BundleVersion
	Created string `json:"created"` // RFC 3339, UTC, nanoseconds
	// WholeChains says that every event of each chain in the bundle is
	// in it (no filter, or only a chain filter): the bundle is checked
	// as the store is, by the Verifier. Otherwise each event comes with
	// an inclusion proof.
	WholeChains      bool          `json:"whole_chains"`
	CanonicalVersion int           `json:"canonical_version"` // activitylog.CanonicalVersion
	Filters          BundleFilters `json:"filters"`
}

// BundleProof is an event's inclusion proof: its audit path in the tree
// of TreeSize leaves, whose root is the TreeRoot of the chain's
// checkpoint with ToSeq = TreeSize.
type BundleProof struct {
	TreeSize uint64 `json:"tree_size"`
	Path     []Hash `json:"path"`
}

// BundleConsistency is a consistency proof between two checkpoints of a
// chain, of tree sizes Size1 < Size2.
type BundleConsistency struct {
	Chain string `json:"chain"`
	Size1 uint64 `json:"size1"`
	Size2 uint64 `json:"size2"`
	Path  []Hash `json:"path"`
}

// The records, as they are written. Each is decoded with unknown
// members refused.
type (
	bundleType struct {
		Type string `json:"type"`
	}
	bundleHeaderRec struct {
		Type string `json:"type"`
		BundleHeader
	}
	bundleKeyRec struct {
		Type      string `json:"type"`
		KeyID     string `json:"key_id"`
		PublicKey string `json:"public_key"` // PEM, PUBLIC KEY (PKIX)
	}
	bundleChainRec struct {
		Type  string `json:"type"`
		Chain string `json:"chain"`
		KeyID string `json:"key_id,omitempty"`
	}
	bundleCheckpointRec struct {
		Type       string      `json:"type"`
		Checkpoint *Checkpoint `json:"checkpoint"`
	}
	bundlePruneRec struct {
		Type  string       `json:"type"`
		Prune *PruneRecord `json:"prune"`
	}
	bundleConsistencyRec struct {
		Type string `json:"type"`
		BundleConsistency
	}
	bundleEventRec struct {
		Type      string          `json:"type"`
		Seal      *Seal           `json:"seal,omitempty"`
		Event     json.RawMessage `json:"event,omitempty"`
		Canonical []byte          `json:"canonical,omitempty"`
		Proof     *BundleProof    `json:"proof,omitempty"`
	}
	bundleEndRec struct {
		Type        string `json:"type"`
		Chains      int    `json:"chains"`
		Checkpoints int    `json:"checkpoints"`
		Consistency int    `json:"consistency"`
		Prunes      int    `json:"prunes"`
		Events      int    `json:"events"`
		Unsealed    int    `json:"unsealed"`
		// Uncovered counts the events the filters selected that the
		// export left out, since no checkpoint covered them yet (a
		// bundle of selected events only). It is informative: it is not
		// signed, and no record is counted against it.
		Uncovered int `json:"uncovered,omitempty"`
	}
)

// BundleWriter writes a bundle, record by record, in constant memory.
// The caller writes, in this order: the keys, then for each chain its
// chain record, its checkpoints, its consistency proofs and its events
// by seq, then the events without a seal; Close writes the end record.
// It is not safe for concurrent use.
type BundleWriter struct {
	gz     *gzip.Writer
	bw     *bufio.Writer
	line   []byte
	counts bundleEndRec
	chains map[string]bool
	err    error
}

// NewBundleWriter writes the header to w and returns the writer of the
// rest. Header.Format, Version and CanonicalVersion are filled in.
func NewBundleWriter(w io.Writer, h BundleHeader) (*BundleWriter, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	gz, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed)
	b := &BundleWriter{gz: gz, bw: bw, chains: map[string]bool{}}
	h.Format, h.Version, h.CanonicalVersion = BundleFormat, BundleVersion, activitylog.CanonicalVersion
	if h.Created == "" {
		h.Created = time.Now().UTC().Format(time.RFC3339Nano)
	}
	b.write(bundleHeaderRec{Type: "header", BundleHeader: h})
	return b, b.err
}

func (b *BundleWriter) write(rec any) {
	if b.err != nil {
		return
	}
	line, err := json.Marshal(rec)
	if err != nil {
		b.err = fmt.Errorf("write bundle: %w", err)
		return
	}
	line = append(line, '\n')
	if _, err := b.gz.Write(line); err != nil {
		b.err = fmt.Errorf("write bundle: %w", err)
	}
}

// Key writes a public key whose checkpoints the bundle holds.
func (b *BundleWriter) Key(pub ed25519.PublicKey) error {
	pem, err := MarshalPublicKey(pub)
	if err != nil {
		return err
	}
	b.write(bundleKeyRec{Type: "key", KeyID: KeyID(pub), PublicKey: string(pem)})
	return b.err
}

// Chain starts a chain: its checkpoints, proofs and events follow.
func (b *BundleWriter) Chain(info ChainInfo) error {
	b.chains[info.ID] = true
	b.counts.Chains++
	b.write(bundleChainRec{Type: "chain", Chain: info.ID, KeyID: info.KeyID})
	return b.err
}

// Checkpoint writes a checkpoint of the current chain.
func (b *BundleWriter) Checkpoint(cp Checkpoint) error {
	b.counts.Checkpoints++
	b.write(bundleCheckpointRec{Type: "checkpoint", Checkpoint: &cp})
	return b.err
}

// Prune writes a signed pruning record of the current chain.
func (b *BundleWriter) Prune(p PruneRecord) error {
	b.counts.Prunes++
	b.write(bundlePruneRec{Type: "prune", Prune: &p})
	return b.err
}

// Consistency writes a consistency proof between two checkpoints.
func (b *BundleWriter) Consistency(c BundleConsistency) error {
	b.counts.Consistency++
	b.write(bundleConsistencyRec{Type: "consistency", BundleConsistency: c})
	return b.err
}

// Event writes an event: its JSON form (e), or, when e is nil, the
// canonical bytes as the store gave them (an event that no longer
// decodes, whose bytes must still be carried so that the check reports
// it). seal is nil for an event without one; proof is nil in a bundle of
// whole chains. In a bundle of selected events an event without a proof
// never verifies: leave out those no checkpoint covers yet, and count
// them with Uncovered.
func (b *BundleWriter) Event(e *activitylog.Event, canonical []byte, seal *Seal, proof *BundleProof) error {
	rec := bundleEventRec{Type: "event", Seal: seal, Proof: proof}
	if e != nil {
		ev, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("write bundle: event %s: %w", e.ID, err)
		}
		rec.Event = ev
	} else {
		rec.Canonical = canonical
	}
	if seal != nil {
		if !b.chains[seal.Chain] {
			return fmt.Errorf("write bundle: event of chain %s before its chain record", seal.Chain)
		}
		b.counts.Events++
	} else {
		b.counts.Unsealed++
	}
	b.write(rec)
	return b.err
}

// Uncovered counts n events the filters selected that are left out of
// a bundle of selected events because no checkpoint covers them yet;
// the end record carries the count (Bundle.Uncovered).
func (b *BundleWriter) Uncovered(n int) {
	b.counts.Uncovered += n
}

// Close writes the end record and flushes; it does not close the
// underlying writer.
func (b *BundleWriter) Close() error {
	b.counts.Type = "end"
	b.write(b.counts)
	if b.err != nil {
		return b.err
	}
	if err := b.gz.Close(); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	if err := b.bw.Flush(); err != nil {
		return fmt.Errorf("write bundle: %w", err)
	}
	return nil
}

// bundleLines reads a bundle's lines: gzip when it starts with the gzip
// magic, plain NDJSON otherwise (a bundle an auditor decompressed).
type bundleLines struct {
	br   *bufio.Reader
	gz   *gzip.Reader
	n    int // line number of the last line read
	line []byte
}

func newBundleLines(r io.Reader) (*bundleLines, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	l := &bundleLines{br: br}
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read bundle: gzip header: %v: %w", err, ErrBundle)
		}
		gz.Multistream(false)
		l.gz = gz
		l.br = bufio.NewReaderSize(gz, 1<<16)
	}
	return l, nil
}

// next returns the next line without its newline; io.EOF at the end.
func (l *bundleLines) next() ([]byte, error) {
	l.line = l.line[:0]
	for {
		part, err := l.br.ReadSlice('\n')
		l.line = append(l.line, part...)
		if len(l.line) > maxBundleLine {
			return nil, fmt.Errorf("read bundle: line %d: longer than %d bytes: %w", l.n+1, maxBundleLine, ErrBundle)
		}
		switch {
		case err == nil:
			l.n++
			return l.line[:len(l.line)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(l.line) == 0:
			return nil, io.EOF
		case err == io.EOF:
			return nil, fmt.Errorf("read bundle: line %d: no newline at its end: the bundle is truncated: %w", l.n+1, ErrBundle)
		default:
			return nil, fmt.Errorf("read bundle: after line %d: %v (the file is truncated or damaged): %w", l.n, err, ErrBundle)
		}
	}
}

// decodeStrict decodes one record, refusing unknown members and
// anything after the object.
func decodeStrict(line []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("data after the object")
	}
	return nil
}

// Bundle is an opened bundle. Its first read checked every line; it is
// a Source (reading the file again for each Entries and Unsealed call,
// in constant memory) and checks itself with Verify.
type Bundle struct {
	Header BundleHeader
	// Keys are the public keys the bundle carries. Trust them only when
	// no key was given by other means; see Verify.
	Keys []ed25519.PublicKey

	open        func() (io.ReadCloser, error)
	chains      []ChainInfo
	cps         map[string][]Checkpoint
	cons        map[string][]BundleConsistency
	prunes      map[string][]PruneRecord
	end         bundleEndRec
	got         bundleEndRec // what the records counted
	lines       int
	hasUnsealed bool
	kept        [2]int // records and bytes kept in memory
}

var (
	_ Source      = (*Bundle)(nil)
	_ PruneSource = (*Bundle)(nil)
)

// OpenBundle opens the bundle file at path and reads it through once,
// checking every record; errors wrap ErrBundle and name the line.
func OpenBundle(path string) (*Bundle, error) {
	return ReadBundle(func() (io.ReadCloser, error) { return os.Open(path) })
}

// ReadBundle is OpenBundle over any stream that open yields anew for
// each pass.
func ReadBundle(open func() (io.ReadCloser, error)) (*Bundle, error) {
	b := &Bundle{open: open, cps: map[string][]Checkpoint{}, cons: map[string][]BundleConsistency{}, prunes: map[string][]PruneRecord{}}
	err := b.scan(func(l int, typ string, line []byte) error {
		return b.first(l, typ, line)
	})
	if err != nil {
		return nil, err
	}
	if b.lines == 0 {
		return nil, fmt.Errorf("read bundle: empty: %w", ErrBundle)
	}
	if b.end.Type == "" {
		return nil, fmt.Errorf("read bundle: no end record after line %d: the bundle is truncated: %w", b.lines, ErrBundle)
	}
	for _, cps := range b.cps {
		slices.SortStableFunc(cps, func(a, c Checkpoint) int { return cmpUint(a.ToSeq, c.ToSeq) })
	}
	for _, ps := range b.prunes {
		slices.SortStableFunc(ps, func(a, c PruneRecord) int { return cmpUint(a.UpToSeq, c.UpToSeq) })
	}
	return b, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// scan reads the bundle once, calling fn with each line's number, type
// and bytes (valid until the next call).
func (b *Bundle) scan(fn func(n int, typ string, line []byte) error) error {
	rc, err := b.open()
	if err != nil {
		return fmt.Errorf("read bundle: %w", err)
	}
	defer rc.Close()
	l, err := newBundleLines(rc)
	if err != nil {
		return err
	}
	for {
		line, err := l.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		typ, ok := recordType(line)
		if !ok {
			var t bundleType
			if err := json.Unmarshal(line, &t); err != nil {
				return fmt.Errorf("read bundle: line %d: not a JSON object with a \"type\": %v: %w", l.n, err, ErrBundle)
			}
			typ = t.Type
		}
		if err := fn(l.n, typ, line); err != nil {
			return err
		}
	}
}

// recordType reads the type of a record that begins, as the writer
// writes them, with {"type":" and a name of ASCII letters; ok is false
// for any other line, which is then decoded in full to find it. Either
// way each record is decoded strictly by its type afterwards.
func recordType(line []byte) (string, bool) {
	const prefix = `{"type":"`
	if !bytes.HasPrefix(line, []byte(prefix)) {
		return "", false
	}
	rest := line[len(prefix):]
	for i, c := range rest {
		switch {
		case c == '"' && i > 0 && i+1 < len(rest) && (rest[i+1] == ',' || rest[i+1] == '}'):
			return string(rest[:i]), true
		case c < 'a' || c > 'z':
			return "", false
		}
	}
	return "", false
}

func lineErr(n int, format string, a ...any) error {
	return fmt.Errorf("read bundle: line %d: %s: %w", n, fmt.Sprintf(format, a...), ErrBundle)
}

// first checks one line on the first pass and keeps what is small.
func (b *Bundle) first(n int, typ string, line []byte) error {
	b.lines = n
	if n == 1 && typ != "header" {
		return lineErr(n, "the first record is %q, not the header", truncate(typ, 40))
	}
	if b.end.Type != "" {
		return lineErr(n, "a %q record after the end record", truncate(typ, 40))
	}
	switch typ {
	case "key", "chain", "checkpoint", "prune", "consistency":
		b.kept[0]++
		b.kept[1] += len(line)
		if b.kept[0] > bundleKeptLimits[0] {
			return lineErr(n, "%s: more than %d key, chain, checkpoint, prune and consistency records, the most a bundle may hold (MaxBundleKept)", typ, bundleKeptLimits[0])
		}
		if b.kept[1] > bundleKeptLimits[1] {
			return lineErr(n, "%s: the key, chain, checkpoint, prune and consistency records exceed %d bytes, the most a bundle may hold (MaxBundleKeptBytes)", typ, bundleKeptLimits[1])
		}
	}
	switch typ {
	case "header":
		if n != 1 {
			return lineErr(n, "a second header")
		}
		var h bundleHeaderRec
		if err := decodeStrict(line, &h); err != nil {
			return lineErr(n, "header: %v", err)
		}
		if h.Format != BundleFormat || h.Version != BundleVersion {
			return lineErr(n, "header: format %q version %d, want %s version %d", truncate(h.Format, 40), h.Version, BundleFormat, BundleVersion)
		}
		if h.CanonicalVersion != activitylog.CanonicalVersion {
			return lineErr(n, "header: canonical_version %d, this verifier knows %d", h.CanonicalVersion, activitylog.CanonicalVersion)
		}
		b.Header = h.BundleHeader
	case "key":
		var k bundleKeyRec
		if err := decodeStrict(line, &k); err != nil {
			return lineErr(n, "key: %v", err)
		}
		pub, err := ParsePublicKey([]byte(k.PublicKey))
		if err != nil {
			return lineErr(n, "key: %v", err)
		}
		if KeyID(pub) != k.KeyID {
			return lineErr(n, "key: key_id %q is not the id of the key, %s", truncate(k.KeyID, 40), KeyID(pub))
		}
		b.Keys = append(b.Keys, pub)
	case "chain":
		var c bundleChainRec
		if err := decodeStrict(line, &c); err != nil {
			return lineErr(n, "chain: %v", err)
		}
		if err := ValidateChainID(c.Chain); err != nil {
			return lineErr(n, "chain: %v", err)
		}
		if _, ok := b.cps[c.Chain]; ok {
			return lineErr(n, "chain %s: a second chain record", c.Chain)
		}
		b.cps[c.Chain] = nil
		b.chains = append(b.chains, ChainInfo{ID: c.Chain, KeyID: c.KeyID})
		b.got.Chains++
	case "checkpoint":
		var c bundleCheckpointRec
		if err := decodeStrict(line, &c); err != nil {
			return lineErr(n, "checkpoint: %v", err)
		}
		if c.Checkpoint == nil {
			return lineErr(n, "checkpoint: no member checkpoint")
		}
		if _, ok := b.cps[c.Checkpoint.Chain]; !ok {
			return lineErr(n, "checkpoint of chain %s, which no chain record before it names", c.Checkpoint.Chain)
		}
		b.cps[c.Checkpoint.Chain] = append(b.cps[c.Checkpoint.Chain], *c.Checkpoint)
		b.got.Checkpoints++
	case "prune":
		var p bundlePruneRec
		if err := decodeStrict(line, &p); err != nil {
			return lineErr(n, "prune: %v", err)
		}
		if p.Prune == nil {
			return lineErr(n, "prune: no member prune")
		}
		if _, ok := b.cps[p.Prune.Chain]; !ok {
			return lineErr(n, "prune record of chain %s, which no chain record before it names", p.Prune.Chain)
		}
		b.prunes[p.Prune.Chain] = append(b.prunes[p.Prune.Chain], *p.Prune)
		b.got.Prunes++
	case "consistency":
		var c bundleConsistencyRec
		if err := decodeStrict(line, &c); err != nil {
			return lineErr(n, "consistency: %v", err)
		}
		if _, ok := b.cps[c.Chain]; !ok {
			return lineErr(n, "consistency proof of chain %q, which no chain record before it names", truncate(c.Chain, 130))
		}
		if c.Size1 < 1 || c.Size2 <= c.Size1 || len(c.Path) > 128 {
			return lineErr(n, "consistency: sizes %d and %d with %d hashes are not a proof", c.Size1, c.Size2, len(c.Path))
		}
		b.cons[c.Chain] = append(b.cons[c.Chain], c.BundleConsistency)
		b.got.Consistency++
	case "event":
		var e bundleEventRec
		if err := decodeStrict(line, &e); err != nil {
			return lineErr(n, "event: %v", err)
		}
		if (len(e.Event) == 0) == (e.Canonical == nil) {
			return lineErr(n, "event: needs exactly one of event and canonical")
		}
		if e.Seal == nil {
			if e.Proof != nil {
				return lineErr(n, "event: a proof without a seal")
			}
			b.got.Unsealed++
			b.hasUnsealed = true
			break
		}
		if _, ok := b.cps[e.Seal.Chain]; !ok {
			return lineErr(n, "event of chain %q, which no chain record before it names", truncate(e.Seal.Chain, 130))
		}
		if e.Seal.Seq < 1 {
			return lineErr(n, "event: seal seq 0")
		}
		if e.Proof != nil && (e.Proof.TreeSize < e.Seal.Seq || len(e.Proof.Path) > 128) {
			return lineErr(n, "event: a proof in a tree of %d for seq %d with %d hashes", e.Proof.TreeSize, e.Seal.Seq, len(e.Proof.Path))
		}
		b.got.Events++
	case "end":
		if err := decodeStrict(line, &b.end); err != nil {
			b.end = bundleEndRec{}
			return lineErr(n, "end: %v", err)
		}
	default:
		return lineErr(n, "unknown record type %q", truncate(typ, 40))
	}
	return nil
}

// Chains implements Source.
func (b *Bundle) Chains(ctx context.Context) ([]ChainInfo, error) {
	return slices.Clone(b.chains), nil
}

// Checkpoints implements Source.
func (b *Bundle) Checkpoints(ctx context.Context, chain string) ([]Checkpoint, error) {
	return slices.Clone(b.cps[chain]), nil
}

// Prunes implements PruneSource.
func (b *Bundle) Prunes(ctx context.Context, chain string) ([]PruneRecord, error) {
	return slices.Clone(b.prunes[chain]), nil
}

// Uncovered returns the end record's count of selected events that the
// export left out because no checkpoint covered them yet. It is not
// signed: it says what the exporter claims, and proves nothing.
func (b *Bundle) Uncovered() int { return b.end.Uncovered }

// Consistency returns the bundle's consistency proofs of chain.
func (b *Bundle) Consistency(chain string) []BundleConsistency { return b.cons[chain] }

// Entries implements Source: it reads the file again for chain's events,
// in the bundle's order (by seq, as written).
func (b *Bundle) Entries(ctx context.Context, chain string, fn func(Entry) error) error {
	return b.events(ctx, func(e Entry, _ *BundleProof) error {
		if e.Seal != nil && e.Seal.Chain == chain {
			return fn(e)
		}
		return nil
	})
}

// Unsealed implements Source.
func (b *Bundle) Unsealed(ctx context.Context, fn func(Entry) error) error {
	if !b.hasUnsealed {
		return nil
	}
	return b.events(ctx, func(e Entry, _ *BundleProof) error {
		if e.Seal == nil {
			return fn(e)
		}
		return nil
	})
}

// eventEntry makes the Entry of an event record: the canonical bytes
// are activitylog.AppendCanonical of the event decoded from its JSON
// form (unknown members refused); when it does not decode, its bytes
// with a note, so that its hash does not match and it shows as
// modified.
type eventDecoder struct {
	ev    activitylog.Event
	canon []byte
	seal  Seal
}

func (d *eventDecoder) entry(rec *bundleEventRec) Entry {
	var e Entry
	if rec.Seal != nil {
		d.seal = *rec.Seal
		e.Seal = &d.seal
	}
	if rec.Canonical != nil {
		d.canon = append(d.canon[:0], rec.Canonical...)
		var id struct {
			ID activitylog.ID `json:"id"`
		}
		if json.Unmarshal(rec.Canonical, &id) == nil {
			e.EventID = id.ID
		}
		e.Canonical = d.canon
		return e
	}
	d.ev = activitylog.Event{}
	err := decodeStrict(rec.Event, &d.ev)
	if err == nil {
		d.canon, err = activitylog.AppendCanonical(d.canon[:0], &d.ev)
	}
	if err != nil {
		var id struct {
			ID activitylog.ID `json:"id"`
		}
		if json.Unmarshal(rec.Event, &id) == nil {
			e.EventID = id.ID
		}
		d.canon = append(append(d.canon[:0], rec.Event...), "\x00not an event: "+err.Error()...)
		e.Canonical = d.canon
		return e
	}
	e.EventID, e.Kind, e.Time, e.Canonical = d.ev.ID, d.ev.Kind, d.ev.Time, d.canon
	return e
}

func (b *Bundle) events(ctx context.Context, fn func(Entry, *BundleProof) error) error {
	var d eventDecoder
	return b.scan(func(n int, typ string, line []byte) error {
		if typ != "event" {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		var rec bundleEventRec
		if err := decodeStrict(line, &rec); err != nil {
			return lineErr(n, "event: %v (the file changed since it was opened)", err)
		}
		return fn(d.entry(&rec), rec.Proof)
	})
}

// Verify checks the bundle. With Header.WholeChains it runs the
// Verifier over it (opts as for a store); otherwise it checks each
// event against its seal and its inclusion proof, each checkpoint's
// signature and link, and the consistency proofs between consecutive
// checkpoints (docs/integrity.md, Offline bundles). opts.PublicKeys are
// the trusted keys; the caller decides whether to trust b.Keys. Either
// way a count of records that differs from the end record's is a
// finding (missing), never silent.
func (b *Bundle) Verify(ctx context.Context, opts *VerifierOptions) (*Report, error) {
	var o VerifierOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxFindings == 0 {
		o.MaxFindings = 1000
	}
	var rep *Report
	var err error
	if b.Header.WholeChains {
		rep, err = NewVerifier(b, &o).Verify(ctx)
	} else {
		rep, err = b.verifyProofs(ctx, &o)
	}
	if err != nil {
		return nil, err
	}
	if want := b.end; b.got != (bundleEndRec{Type: b.got.Type, Chains: want.Chains, Checkpoints: want.Checkpoints, Consistency: want.Consistency, Prunes: want.Prunes, Events: want.Events, Unsealed: want.Unsealed, Uncovered: b.got.Uncovered}) {
		rep.add(o.MaxFindings, Finding{Reason: ReasonMissing, Detail: fmt.Sprintf(
			"the end record counts %d chains, %d checkpoints, %d consistency proofs, %d prune records, %d sealed and %d unsealed events; the bundle holds %d, %d, %d, %d, %d and %d: records were removed or added",
			want.Chains, want.Checkpoints, want.Consistency, want.Prunes, want.Events, want.Unsealed,
			b.got.Chains, b.got.Checkpoints, b.got.Consistency, b.got.Prunes, b.got.Events, b.got.Unsealed)})
		sortFindings(rep.Findings)
	}
	return rep, nil
}

func sortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, c Finding) int {
		if r := strings.Compare(a.Chain, c.Chain); r != 0 {
			return r
		}
		if r := cmpUint(a.Seq, c.Seq); r != 0 {
			return r
		}
		return strings.Compare(string(a.Reason), string(c.Reason))
	})
}
