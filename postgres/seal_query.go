package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/internal/eventjson"
	"github.com/jackc/pgx/v5"
)

// Chains lists the chains of the store: those with a stored state, and
// any other that seals name (its key id then unknown, "").
func (s *Store) Chains(ctx context.Context) ([]integrity.ChainInfo, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("list chains: %w", errClosed)
	}
	rows, err := s.pool.Query(ctx, `SELECT chain, key_id FROM chains
		UNION SELECT DISTINCT chain, '' FROM seals WHERE chain NOT IN (SELECT chain FROM chains)
		ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("list chains: %w", unavailable(ctx, err))
	}
	var cs []integrity.ChainInfo
	var c integrity.ChainInfo
	if _, err := pgx.ForEachRow(rows, []any{&c.ID, &c.KeyID}, func() error {
		cs = append(cs, c)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list chains: %w", unavailable(ctx, err))
	}
	return cs, nil
}

// An Entry is made of the seal (s.seq, s.id, s.prev, s.hash,
// s.canon_version: NULLs for an unsealed event) and eventColumns: the
// event's time and document (as Get returns them), and the columns that
// filters and the analytics read, which must agree with the document.
// Rows are read raw, in the binary format (entryReader.build).
const eventColumns = `e.time, e.data, e.status, e.duration, ` +
	`e.kind, e.action, e.severity, e.tenant, e.actor_id, e.actor_name, e.object_type, e.object_id, e.object_repr, ` +
	`e.message, e.path, e.route, e.remote_ip, e.method, e.origin, e.category, e.tool, e.country_code, e.country`

// The positions of entryColumns.
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
	colKind   // the first of the text columns, in the order of entryReader.mismatch
	entryCols = colKind + 19
)

// Entries calls fn for each sealed event of chain, by seq, with its
// canonical bytes recomputed from what is stored. It reads the chain's
// seals through their primary key, each joined to its event's row
// through the primary key (time, id) of the event's partition. A seal
// whose event row is gone (or whose time column was changed, which
// moves the row away from the sealed time) is given with canonical
// bytes that hash to nothing, so the verifier reports its seq as
// modified (or inserted, when nothing vouches for the seal).
func (s *Store) Entries(ctx context.Context, chain string, fn func(integrity.Entry) error) error {
	return s.entries(ctx, `SELECT s.seq, s.id, s.prev, s.hash, s.canon_version, `+eventColumns+`
		FROM seals s LEFT JOIN events e ON e.time = s.time AND e.id = s.id
		WHERE s.chain = $1 ORDER BY s.seq`, chain, fn)
}

// Unsealed calls fn for each event without a seal: an event whose id
// no seal names.
func (s *Store) Unsealed(ctx context.Context, fn func(integrity.Entry) error) error {
	return s.entries(ctx, `SELECT NULL::bigint, e.id, NULL::bytea, NULL::bytea, NULL::smallint, `+eventColumns+`
		FROM events e WHERE NOT EXISTS (SELECT 1 FROM seals s WHERE s.id = e.id)`, "", fn)
}

// entries runs query (with chain as $1, when not "") and calls fn with
// the Entry of each row, its values read raw in the binary format.
func (s *Store) entries(ctx context.Context, query string, chain string, fn func(integrity.Entry) error) error {
	if s.closed.Load() {
		return fmt.Errorf("read events: %w", errClosed)
	}
	args := []any{pgx.QueryResultFormats{pgx.BinaryFormatCode}}
	if chain != "" {
		args = append(args, chain)
	}
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("read events: %w", unavailable(ctx, err))
	}
	defer rows.Close()
	r := entryReader{chain: chain}
	for rows.Next() {
		vals := rows.RawValues()
		if len(vals) != entryCols {
			return fmt.Errorf("read events: %d columns, want %d", len(vals), entryCols)
		}
		if err := fn(r.build(vals)); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read events: %w", unavailable(ctx, err))
	}
	return nil
}

// entryReader turns rows of entryColumns into Entries, reusing its
// buffers from one row to the next.
type entryReader struct {
	canon []byte
	seal  integrity.Seal
	chain string
}

// missingRow is the canonical encoding given for a seal whose event row
// is not found: no event encodes to it.
const missingRow = "\x00the sealed event's row is not stored at its sealed time"

// build makes the Entry of one row. The canonical bytes are those of
// the event as Get returns it: decoded from data, its time from the
// time column. A column that disagrees with the document adds a note to
// the bytes, so that an edit of data or of a column shows as modified.
func (r *entryReader) build(v [][]byte) integrity.Entry {
	var e integrity.Entry
	copy(e.EventID[:], v[colID])
	if v[colTime] == nil {
		r.canon = append(r.canon[:0], missingRow...)
	} else {
		ns := int64Of(v[colTime])
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
	if seq := int64Of(v[colSeq]); seq > 0 && len(v[colPrev]) == 32 && len(v[colHash]) == 32 && len(v[colVersion]) == 2 &&
		int(binary.BigEndian.Uint16(v[colVersion])) == activitylog.CanonicalVersion {
		r.seal = integrity.Seal{Chain: r.chain, Seq: uint64(seq)}
		copy(r.seal.Prev[:], v[colPrev])
		copy(r.seal.Hash[:], v[colHash])
		e.Seal = &r.seal
	}
	return e
}

// int64Of decodes a binary int8 (0 for NULL or another size).
func int64Of(b []byte) int64 {
	if len(b) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// mismatch returns the name of the first column of row v that differs
// from the field of the decoded event ev it copies, "" when all agree.
// The columns hold the fields as Write stores them: text repairs them.
func mismatch(ev *activitylog.Event, id activitylog.ID, v [][]byte) string {
	if ev.ID != id {
		return "id"
	}
	if len(v[colStatus]) != 4 || int32(binary.BigEndian.Uint32(v[colStatus])) != int32(ev.Response.Status) {
		return "status"
	}
	if len(v[colDuration]) != 8 || int64Of(v[colDuration]) != int64(ev.Response.Duration) {
		return "duration"
	}
	for k, f := range [...]struct {
		name, v string
	}{
		{"kind", string(ev.Kind)}, {"action", ev.Action}, {"severity", string(ev.Severity)}, {"tenant", ev.Tenant},
		{"actor_id", ev.Actor.ID}, {"actor_name", ev.Actor.Name}, {"object_type", ev.Object.Type}, {"object_id", ev.Object.ID},
		{"object_repr", ev.Object.Repr}, {"message", ev.Message}, {"path", ev.Request.Path}, {"route", activitylog.RouteOf(ev)},
		{"remote_ip", ev.Request.RemoteIP}, {"method", ev.Request.Method}, {"origin", ev.Request.Origin},
		{"category", ev.Category}, {"tool", ev.Tool}, {"country_code", ev.Request.Geo.CountryCode}, {"country", ev.Request.Geo.Country},
	} {
		if string(v[colKind+k]) != text(f.v) {
			return f.name
		}
	}
	return ""
}

// Checkpoints returns chain's stored checkpoints by to_seq. One whose
// JSON is no longer valid is returned with the fields that could be
// read and no signature, so that the verifier reports it as
// bad_signature.
func (s *Store) Checkpoints(ctx context.Context, chain string) ([]integrity.Checkpoint, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("read checkpoints: %w", errClosed)
	}
	rows, err := s.pool.Query(ctx, `SELECT to_seq, from_seq, body FROM checkpoints WHERE chain = $1 ORDER BY to_seq`, chain)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
	}
	var cps []integrity.Checkpoint
	var to, from int64
	var body []byte
	if _, err := pgx.ForEachRow(rows, []any{&to, &from, &body}, func() error {
		var cp integrity.Checkpoint
		if err := json.Unmarshal(body, &cp); err != nil {
			cp = integrity.Checkpoint{Version: integrity.CheckpointVersion, Chain: chain, FromSeq: uint64(from), ToSeq: uint64(to)}
		}
		cps = append(cps, cp)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", unavailable(ctx, err))
	}
	return cps, nil
}

// errGap ends Hashes' reading at a seq without a full hash.
var errGap = errors.New("gap")

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
	rows, err := s.pool.Query(ctx, `SELECT seq, hash FROM seals WHERE chain = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq`,
		chain, int64(from), int64(to))
	if err != nil {
		return nil, fmt.Errorf("read hashes of chain %s: %w", chain, unavailable(ctx, err))
	}
	hs := make([]integrity.Hash, 0, min(to-from+1, 1<<16))
	want := from
	var seq int64
	var h []byte
	gap := false
	if _, err := pgx.ForEachRow(rows, []any{&seq, &h}, func() error {
		if uint64(seq) != want || len(h) != 32 {
			gap = true
			return errGap
		}
		hs = append(hs, integrity.Hash(h))
		want++
		return nil
	}); err != nil && !gap {
		return nil, fmt.Errorf("read hashes of chain %s: %w", chain, unavailable(ctx, err))
	}
	if gap || want != to+1 {
		return nil, fmt.Errorf("read hashes of chain %s: seq %d has no stored event with a hash", chain, want)
	}
	return hs, nil
}
