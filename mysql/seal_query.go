package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/internal/eventjson"
)

// Chains lists the chains of the store: those with a stored state, and
// any other that seals name (its key id then unknown, "").
func (s *Store) Chains(ctx context.Context) ([]integrity.ChainInfo, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("list chains: %w", errClosed)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT chain, key_id FROM chains WHERE state IS NOT NULL
		UNION SELECT DISTINCT chain, '' FROM seals WHERE chain NOT IN (SELECT chain FROM chains WHERE state IS NOT NULL)
		ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	var cs []integrity.ChainInfo
	for rows.Next() {
		var c integrity.ChainInfo
		if err := rows.Scan(&c.ID, &c.KeyID); err != nil {
			return nil, fmt.Errorf("list chains: %w", unavailable(ctx, err))
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list chains: %w", unavailable(ctx, err))
	}
	return cs, nil
}

// An Entry is made of the seal (s.seq, s.id, s.prev, s.hash,
// s.canon_version: NULLs for an unsealed event) and eventColumns: the
// event's time and document (as Get returns them), and the columns that
// filters, searches and the analytics read, which must agree with the
// document.
const eventColumns = `e.time, e.data, e.status, e.duration, ` +
	`e.kind, e.action, e.severity, e.tenant, e.actor_id, e.object_type, e.object_id, e.remote_ip, e.method, e.origin, ` +
	`e.category, e.tool, e.actor_name, e.route, e.geo_code, e.geo_country, ` +
	`e.search_message, e.search_path, e.search_repr, e.search_name, e.changes, e.extra`

// The positions of the columns of an entry's row.
const (
	colSeq = iota
	colID
	colPrev
	colHash
	colVersion
	colTime
	colData
	colStatus
	colDuration
	colKind    // the first of the text columns, in the order of mismatch
	colChanges = colKind + 20
	colExtra   = colChanges + 1
	entryCols  = colExtra + 1
)

// Entries calls fn for each sealed event of chain, by seq, with its
// canonical bytes recomputed from what is stored. It reads the chain's
// seals through their primary key, each joined to its event's row
// through the events' primary key. A seal whose event row is gone is
// given with canonical bytes that hash to nothing, so the verifier
// reports its seq as modified (or inserted, when nothing vouches for
// the seal).
func (s *Store) Entries(ctx context.Context, chain string, fn func(integrity.Entry) error) error {
	return s.entries(ctx, `SELECT s.seq, s.id, s.prev, s.hash, s.canon_version, `+eventColumns+`
		FROM seals s LEFT JOIN events e ON e.id = s.id
		WHERE s.chain = ? ORDER BY s.seq`, chain, fn)
}

// Unsealed calls fn for each event without a seal: an event whose id
// no seal names.
func (s *Store) Unsealed(ctx context.Context, fn func(integrity.Entry) error) error {
	return s.entries(ctx, `SELECT NULL, e.id, NULL, NULL, NULL, `+eventColumns+`
		FROM events e WHERE NOT EXISTS (SELECT 1 FROM seals s WHERE s.id = e.id)`, "", fn)
}

// entries runs query (with chain as its argument, when not "") and
// calls fn with the Entry of each row.
func (s *Store) entries(ctx context.Context, query string, chain string, fn func(integrity.Entry) error) error {
	if s.closed.Load() {
		return fmt.Errorf("read events: %w", errClosed)
	}
	var args []any
	if chain != "" {
		args = append(args, chain)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read events: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	r := entryReader{chain: chain}
	dest := make([]any, entryCols)
	for i := range r.raw {
		dest[i] = &r.raw[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("read events: %w", unavailable(ctx, err))
		}
		if err := fn(r.build()); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read events: %w", unavailable(ctx, err))
	}
	return nil
}

// entryReader turns rows into Entries, reusing its buffers from one
// row to the next.
type entryReader struct {
	raw   [entryCols]sql.RawBytes // the row; nil for NULL
	canon []byte
	seal  integrity.Seal
	chain string
}

// missingRow is the canonical encoding given for a seal whose event row
// is not found: no event encodes to it.
const missingRow = "\x00the sealed event's row is not stored"

// build makes the Entry of the row in r.raw. The canonical bytes are
// those of the event as Get returns it: decoded from data, its time
// from the time column. A column that disagrees with the document adds
// a note to the bytes, so that an edit of data or of a column shows as
// modified.
func (r *entryReader) build() integrity.Entry {
	v := &r.raw
	var e integrity.Entry
	copy(e.EventID[:], v[colID])
	ns, okTime := intOf(v[colTime])
	switch {
	case v[colTime] == nil:
		r.canon = append(r.canon[:0], missingRow...)
	case !okTime:
		r.canon = append(append(r.canon[:0], "\x00time column "...), v[colTime]...)
	default:
		e.Kind = activitylog.Kind(v[colKind])
		e.Time = time.Unix(0, ns).UTC()
		ev, err := eventjson.Decode(v[colData], ns)
		if err != nil {
			// Not an event any more: its bytes are what is stored.
			r.canon = append(r.canon[:0], v[colData]...)
		} else {
			if r.canon, err = activitylog.AppendCanonical(r.canon[:0], &ev); err != nil {
				r.canon = append(r.canon[:0], v[colData]...)
			}
			if col := mismatch(&ev, e.EventID, v); col != "" {
				r.canon = append(r.canon, "\x00column "+col+" differs from data"...)
			}
		}
	}
	e.Canonical = r.canon
	seq, _ := intOf(v[colSeq])
	version, _ := intOf(v[colVersion])
	if seq > 0 && len(v[colPrev]) == 32 && len(v[colHash]) == 32 && version == activitylog.CanonicalVersion {
		r.seal = integrity.Seal{Chain: r.chain, Seq: uint64(seq)}
		copy(r.seal.Prev[:], v[colPrev])
		copy(r.seal.Hash[:], v[colHash])
		e.Seal = &r.seal
	}
	return e
}

// intOf parses a column of the text protocol as a decimal integer;
// false for NULL or anything else.
func intOf(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	neg := b[0] == '-'
	if neg {
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<63-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	if neg {
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// mismatch returns the name of the first column of row v that differs
// from the field of the decoded event ev it copies, "" when all agree.
// Write stores the fields' bytes as they are, and data as encoding/json
// writes them (an invalid UTF-8 byte becomes U+FFFD): a column is
// compared as that encoding repairs it.
func mismatch(ev *activitylog.Event, id activitylog.ID, v *[entryCols]sql.RawBytes) string {
	if ev.ID != id {
		return "id"
	}
	if n, ok := intOf(v[colStatus]); !ok || n != int64(ev.Response.Status) {
		return "status"
	}
	if n, ok := intOf(v[colDuration]); !ok || n != int64(ev.Response.Duration) {
		return "duration"
	}
	for k, f := range [...]struct {
		name   string
		v      string
		prefix bool // the column keeps the first filterWidth bytes
	}{
		{"kind", string(ev.Kind), false}, {"action", ev.Action, false}, {"severity", string(ev.Severity), true},
		{"tenant", ev.Tenant, false}, {"actor_id", ev.Actor.ID, false}, {"object_type", ev.Object.Type, false},
		{"object_id", ev.Object.ID, true}, {"remote_ip", ev.Request.RemoteIP, true}, {"method", ev.Request.Method, true},
		{"origin", ev.Request.Origin, true}, {"category", ev.Category, true}, {"tool", ev.Tool, true},
		{"actor_name", ev.Actor.Name, false}, {"route", activitylog.RouteOf(ev), false},
		{"geo_code", ev.Request.Geo.CountryCode, false}, {"geo_country", ev.Request.Geo.Country, false},
		{"search_message", asciiLower(ev.Message), false}, {"search_path", asciiLower(ev.Request.Path), false},
		{"search_repr", asciiLower(ev.Object.Repr), false}, {"search_name", asciiLower(ev.Actor.Name), false},
	} {
		if !sameColumn(v[colKind+k], f.v, f.prefix) {
			return f.name
		}
	}
	// changes and extra hold the document's objects byte for byte.
	var parts struct {
		Changes json.RawMessage `json:"changes"`
		Extra   json.RawMessage `json:"extra"`
	}
	if err := json.Unmarshal(v[colData], &parts); err != nil {
		return "data"
	}
	if !sameJSON(v[colChanges], parts.Changes) {
		return "changes"
	}
	if !sameJSON(v[colExtra], parts.Extra) {
		return "extra"
	}
	return ""
}

// sameJSON reports whether a JSON column (nil for NULL) holds the
// object doc (nil when the document has none).
func sameJSON(col []byte, doc json.RawMessage) bool {
	if col == nil || doc == nil {
		return col == nil && doc == nil
	}
	return string(col) == string(doc)
}

// sameColumn reports whether col holds the field whose decoded value
// is v; with prefix, the column holds at most filterWidth bytes of it.
func sameColumn(col []byte, v string, prefix bool) bool {
	if !prefix || len(col) < filterWidth {
		return repaired(col) == v
	}
	// Cut where the original was cut: a rune cut in two is left out.
	cut := col
	for n := 1; n <= utf8.UTFMax-1 && n <= len(cut); n++ {
		if c := cut[len(cut)-n]; c >= 0xc0 { // a rune's first byte
			if !utf8.FullRune(cut[len(cut)-n:]) {
				cut = cut[:len(cut)-n]
			}
			break
		} else if c < 0x80 {
			break
		}
	}
	return strings.HasPrefix(v, repaired(cut))
}

// repaired returns b as encoding/json writes it into a document: each
// byte that is not part of valid UTF-8 replaced by U+FFFD.
func repaired(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}

// Checkpoints returns chain's stored checkpoints by to_seq. One whose
// JSON is no longer valid is returned with the fields that could be
// read and no signature, so that the verifier reports it as
// bad_signature.
func (s *Store) Checkpoints(ctx context.Context, chain string) ([]integrity.Checkpoint, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("read checkpoints: %w", errClosed)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT to_seq, from_seq, body FROM checkpoints WHERE chain = ? ORDER BY to_seq`, chain)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	var cps []integrity.Checkpoint
	for rows.Next() {
		var (
			to, from int64
			body     sql.RawBytes
		)
		if err := rows.Scan(&to, &from, &body); err != nil {
			return nil, fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
		}
		var cp integrity.Checkpoint
		if err := json.Unmarshal(body, &cp); err != nil {
			cp = integrity.Checkpoint{Version: integrity.CheckpointVersion, Chain: chain, FromSeq: uint64(from), ToSeq: uint64(to)}
		}
		cps = append(cps, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
	}
	return cps, nil
}

// Hashes returns the stored event hashes of chain's seqs from to to,
// both included, in seq order: what integrity.WriteBundle's proofs
// read. It is an error, never a short slice, when a seq of the range
// holds no seal with a full hash: a proof cannot be made over a gap.
func (s *Store) Hashes(ctx context.Context, chain string, from, to uint64) ([]integrity.Hash, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("read hashes: %w", errClosed)
	}
	if from < 1 || to < from || to-from >= 1<<31 || to > 1<<63-1 {
		return nil, fmt.Errorf("read hashes of chain %s: %w", chain, activitylog.Invalid("seq range", fmt.Sprintf("%d..%d", from, to), "must be 1 <= from <= to"))
	}
	rows, err := s.db.QueryContext(ctx, `SELECT seq, hash FROM seals WHERE chain = ? AND seq BETWEEN ? AND ? ORDER BY seq`,
		chain, int64(from), int64(to))
	if err != nil {
		return nil, fmt.Errorf("read hashes of chain %s: %w", chain, unavailable(ctx, err))
	}
	defer rows.Close()
	hs := make([]integrity.Hash, 0, min(to-from+1, 1<<16))
	want := from
	for rows.Next() {
		var (
			seq int64
			h   sql.RawBytes
		)
		if err := rows.Scan(&seq, &h); err != nil {
			return nil, fmt.Errorf("read hashes of chain %s: %w", chain, unavailable(ctx, err))
		}
		if uint64(seq) != want || len(h) != 32 {
			break
		}
		hs = append(hs, integrity.Hash(h))
		want++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read hashes of chain %s: %w", chain, unavailable(ctx, err))
	}
	if want != to+1 {
		return nil, fmt.Errorf("read hashes of chain %s: seq %d has no stored event with a hash", chain, want)
	}
	return hs, nil
}
