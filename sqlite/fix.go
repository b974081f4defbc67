package sqlite

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// FixChainPrefix starts the id of every chain that SealUnsealed makes,
// so that an auditor sees which events were sealed after the fact, and
// so that such a chain never moves the time at which integrity began.
const FixChainPrefix = "fix-"

// FixOptions configures SealUnsealed. SigningKey is required.
type FixOptions struct {
	// SigningKey signs the new chain's checkpoints, one per transaction.
	SigningKey ed25519.PrivateKey
	// HMACKey, when set, keys the new chain's hashes. Zero: SHA-256.
	HMACKey *integrity.HMACKey
	// Batch is the number of events sealed per transaction. Zero: 1000.
	Batch int
	// Now is the clock of the chain id and checkpoint times. Zero:
	// time.Now.
	Now func() time.Time
}

// FixReport says what SealUnsealed did and left alone.
type FixReport struct {
	// Chain is the new chain the events were sealed into, "" when none
	// was sealed.
	Chain string `json:"chain,omitempty"`
	// Sealed counts the events sealed, Checkpoints the checkpoints
	// stored with them.
	Sealed      int `json:"sealed"`
	Checkpoints int `json:"checkpoints"`
	// Began is when integrity began: the time of the earliest event of a
	// chain that a writer, not a fix, sealed; zero when there is none,
	// and then nothing is sealed.
	Began time.Time `json:"began,omitzero"`
	// Resumed is the time of the last event an earlier fix sealed, zero
	// when there was none: only events after it are sealed now.
	Resumed time.Time `json:"resumed,omitzero"`
	// The events without a seal left alone, by why:
	After       int `json:"left_after_integrity_began"` // time >= Began: possibly inserted; stay missing_hash
	BeforeFix   int `json:"left_before_earlier_fix"`    // before what an earlier fix sealed: appeared since
	Partial     int `json:"left_partial_seal"`          // part of a seal: evidence of tampering
	Unreadable  int `json:"left_unreadable"`            // data not an event, or a column differs from it
	NoIntegrity int `json:"left_no_sealed_event"`       // no writer ever sealed an event here
}

// cleanUnsealed selects the rows that carry no part of a seal at all:
// what Store.Write leaves (migrations/0006_integrity.sql).
const cleanUnsealed = `chain = '' AND chain_seq = 0 AND prev IS NULL AND hash IS NULL AND canon_version = 0`

// SealUnsealed seals the events written before integrity was on into a
// new chain of their own (id FixChainPrefix + integrity.NewChainID), in
// time order (ties by id), in transactions of opts.Batch events, each
// storing the events' seals, the chain's state and a signed checkpoint
// as WriteSealed does. The rule (docs/integrity.md):
//
//   - only an event that carries no part of a seal (chain ”, chain_seq
//     0, prev and hash NULL, canon_version 0) is sealed; a row with part
//     of a seal is evidence and is never touched;
//   - only an event whose time is before Began, the time of the
//     earliest event sealed by a writer (a chain whose id does not start
//     with FixChainPrefix); with no such event nothing is sealed;
//   - when an earlier fix sealed events, only events after the last of
//     them (by time, then id) are sealed: what was before it and is
//     unsealed now appeared since;
//   - an event whose stored data does not decode, or whose columns
//     differ from its data, is left alone.
//
// An event whose seal does not verify is never re-stamped: it has a
// seal, so it is not selected. Everything left is counted by why.
func (s *Store) SealUnsealed(ctx context.Context, opts *FixOptions) (*FixReport, error) {
	var o FixOptions
	if opts != nil {
		o = *opts
	}
	if len(o.SigningKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("seal unsealed events: %w", activitylog.Invalid("signing key", fmt.Sprintf("%d bytes", len(o.SigningKey)), "is required, an Ed25519 private key"))
	}
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if s.closed.Load() {
		return nil, fmt.Errorf("seal unsealed events: %w", errClosed)
	}
	rep := &FixReport{}
	var began, resumed sql.NullInt64
	var resumedID []byte
	if err := s.r.QueryRowContext(ctx, `SELECT MIN(time) FROM events WHERE chain <> '' AND substr(chain, 1, ?) <> ?`, len(FixChainPrefix), FixChainPrefix).Scan(&began); err != nil {
		return nil, fmt.Errorf("seal unsealed events: %w", unavailable(ctx, err))
	}
	err := s.r.QueryRowContext(ctx, `SELECT time, id FROM events WHERE chain <> '' AND substr(chain, 1, ?) = ? ORDER BY time DESC, id DESC LIMIT 1`, len(FixChainPrefix), FixChainPrefix).Scan(&resumed, &resumedID)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("seal unsealed events: %w", unavailable(ctx, err))
	}
	if began.Valid {
		rep.Began = time.Unix(0, began.Int64).UTC()
	}
	if resumed.Valid {
		rep.Resumed = time.Unix(0, resumed.Int64).UTC()
	}

	// The keyset: events after (lastT, lastID), before began.
	lastT, lastID := int64(-1<<63), []byte{}
	if resumed.Valid {
		lastT, lastID = resumed.Int64, resumedID
	}
	var chainer *integrity.Chainer
	if began.Valid {
		id := FixChainPrefix + integrity.NewChainID(o.Now())
		if chainer, err = integrity.NewChainer(&integrity.Options{Chain: id, HMACKey: o.HMACKey, SigningKey: o.SigningKey}); err != nil {
			return nil, fmt.Errorf("seal unsealed events: %w", err)
		}
		for {
			n, done, err := s.fixBatch(ctx, chainer, &o, began.Int64, &lastT, &lastID, rep)
			if err != nil {
				return rep, fmt.Errorf("seal unsealed events: %w", err)
			}
			if n > 0 {
				rep.Chain = chainer.Info().ID
			}
			if done {
				break
			}
		}
	}
	if err := s.countLeft(ctx, began, resumed, resumedID, rep); err != nil {
		return rep, fmt.Errorf("seal unsealed events: %w", err)
	}
	if rep.Sealed > 0 && s.ckpt != nil {
		s.ckpt.poke()
	}
	return rep, nil
}

// fixBatch seals up to o.Batch events in one transaction: the rows are
// read inside it, so none can change between being read and sealed.
func (s *Store) fixBatch(ctx context.Context, c *integrity.Chainer, o *FixOptions, began int64, lastT *int64, lastID *[]byte, rep *FixReport) (int, bool, error) {
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE
	if err != nil {
		return 0, false, fmt.Errorf("begin: %w", unavailable(ctx, err))
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT `+entryColumns+` FROM events
		WHERE `+cleanUnsealed+` AND time < ? AND (time > ? OR time = ? AND id > ?)
		ORDER BY time, id LIMIT ?`, began, *lastT, *lastT, *lastID, o.Batch)
	if err != nil {
		return 0, false, fmt.Errorf("read unsealed events: %w", unavailable(ctx, err))
	}
	var b rawBatch
	var raw [rawFields]sql.RawBytes
	for rows.Next() {
		if err := scanRow(rows, &b, &raw); err != nil {
			rows.Close()
			return 0, false, fmt.Errorf("read unsealed events: %w", unavailable(ctx, err))
		}
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return 0, false, fmt.Errorf("read unsealed events: %w", unavailable(ctx, err))
	}
	if len(b.rows) == 0 {
		return 0, true, nil
	}
	done := len(b.rows) < o.Batch
	before := c.State()
	var r entryReader
	var ev activitylog.Event
	var again []byte
	n := 0
	for i := range b.rows {
		e := r.build(&b, i)
		row := &b.rows[i]
		*lastT, *lastID = row.ns, bytes.Clone(e.EventID[:])
		// Seal only bytes that are an event's canonical encoding: not the
		// stored data of a row that no longer decodes, not bytes with a
		// note that a column differs.
		ev = activitylog.Event{}
		if bytes.IndexByte(e.Canonical, 0) >= 0 || json.Unmarshal(e.Canonical, &ev) != nil {
			rep.Unreadable++
			continue
		}
		if again, err = activitylog.AppendCanonical(again[:0], &ev); err != nil || !bytes.Equal(again, e.Canonical) {
			rep.Unreadable++
			continue
		}
		sl := c.Next(e.Canonical)
		res, err := tx.ExecContext(ctx, `UPDATE events SET chain = ?, chain_seq = ?, prev = ?, hash = ?, canon_version = ?
			WHERE id = ? AND `+cleanUnsealed, sl.Chain, int64(sl.Seq), sl.Prev[:], sl.Hash[:], activitylog.CanonicalVersion, e.EventID[:])
		if err != nil {
			return 0, false, restoreFail(c, before, o, fmt.Errorf("store seal: %w", unavailable(ctx, err)))
		}
		if k, err := res.RowsAffected(); err != nil || k != 1 {
			return 0, false, restoreFail(c, before, o, fmt.Errorf("store seal of event %s: %d rows changed", e.EventID, k))
		}
		n++
	}
	if n == 0 {
		return 0, done, nil // the transaction changed nothing
	}
	cp, err := c.Checkpoint(o.Now())
	if err != nil {
		return 0, false, restoreFail(c, before, o, err)
	}
	state, err := json.Marshal(c.State())
	if err != nil {
		return 0, false, restoreFail(c, before, o, fmt.Errorf("encode state: %w", err))
	}
	info := c.Info()
	if _, err := tx.ExecContext(ctx, `INSERT INTO chains (chain, key_id, state, seq, updated) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (chain) DO UPDATE SET state = excluded.state, seq = excluded.seq, updated = excluded.updated`,
		info.ID, info.KeyID, state, int64(c.Seq()), time.Now().UnixNano()); err != nil {
		return 0, false, restoreFail(c, before, o, fmt.Errorf("store chain state: %w", unavailable(ctx, err)))
	}
	body, err := json.Marshal(cp)
	if err != nil {
		return 0, false, restoreFail(c, before, o, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (chain, to_seq, from_seq, body) VALUES (?, ?, ?, ?)`,
		cp.Chain, int64(cp.ToSeq), int64(cp.FromSeq), body); err != nil {
		return 0, false, restoreFail(c, before, o, fmt.Errorf("store checkpoint: %w", unavailable(ctx, err)))
	}
	if err := tx.Commit(); err != nil {
		return 0, false, restoreFail(c, before, o, fmt.Errorf("commit: %w", unavailable(ctx, err)))
	}
	rep.Sealed += n
	rep.Checkpoints++
	return n, done, nil
}

// restoreFail puts the chainer back to its state before a failed
// transaction (so that it never skips a seq) and returns err.
func restoreFail(c *integrity.Chainer, st integrity.State, o *FixOptions, err error) error {
	if back, rerr := integrity.Restore(st, &integrity.Options{HMACKey: o.HMACKey, SigningKey: o.SigningKey}); rerr == nil {
		*c = *back
	}
	return err
}

// countLeft counts the unsealed events left after the fix, by why.
func (s *Store) countLeft(ctx context.Context, began, resumed sql.NullInt64, resumedID []byte, rep *FixReport) error {
	q := func(where string, args ...any) (int, error) {
		var n int
		err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE `+where, args...).Scan(&n)
		if err != nil {
			return 0, unavailable(ctx, err)
		}
		return n, nil
	}
	var err error
	if rep.Partial, err = q(`coalesce(chain, '') = '' AND NOT (` + cleanUnsealed + `)`); err != nil {
		return err
	}
	if !began.Valid {
		rep.NoIntegrity, err = q(cleanUnsealed)
		return err
	}
	if rep.After, err = q(cleanUnsealed+` AND time >= ?`, began.Int64); err != nil {
		return err
	}
	if resumed.Valid {
		if rep.BeforeFix, err = q(cleanUnsealed+` AND time < ? AND (time < ? OR time = ? AND id <= ?)`, began.Int64, resumed.Int64, resumed.Int64, resumedID); err != nil {
			return err
		}
	}
	return nil
}
