package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	driver "github.com/go-sql-driver/mysql"
)

var (
	_ integrity.SealStore    = (*Store)(nil)
	_ integrity.Source       = (*Store)(nil)
	_ integrity.BundleSource = (*Store)(nil)
)

// errStoredBefore ends a first try of writeSealed in which an event of
// the batch was already stored.
var errStoredBefore = errors.New("an event is stored already")

// sealTries bounds the transactions one WriteSealed runs: a first try,
// then again after a stored id or a deadlock.
const sealTries = 4

// WriteSealed stores events with their seals in chain, in one
// transaction, as integrity.SealStore says. The transaction first locks
// the chain's row in chains, inserting it when the chain has none yet,
// so that writers of one chain, in this process or another, go one at
// a time; then reads the chain's state and checks it against its last
// seal (a plain read: InnoDB makes a REPEATABLE READ transaction's
// snapshot at its first plain read, which comes after the lock, so it
// sees what the chain's last writer committed, and takes no gap locks); leaves out the events already stored (and
// all but the first of one id); calls seal for the others; inserts
// them with plain multi-row INSERTs (as Write builds them, without ON
// DUPLICATE KEY UPDATE) and their seals, and stores the chain's new
// state and the checkpoint, if any. A first try takes every event as
// new (the common case, no lookup); when an INSERT finds an id stored,
// it starts again in a new transaction and looks the ids up first. A
// deadlock with a concurrent Write is retried. Events are refused as
// Write refuses them; errors are classified as Write's, and a stored
// state that does not match the chain's last seal wraps
// integrity.ErrTornChain.
func (s *Store) WriteSealed(ctx context.Context, chain integrity.ChainInfo, events []activitylog.Event, seal integrity.SealFunc) error {
	if s.closed.Load() {
		return fmt.Errorf("write sealed events: %w", errClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write sealed events: %w", err)
	}
	// The indexes of the events to store: the first of each id.
	all := make([]int, 0, len(events))
	seen := make(map[activitylog.ID]struct{}, len(events))
	for i := range events {
		if _, ok := seen[events[i].ID]; ok {
			continue
		}
		seen[events[i].ID] = struct{}{}
		all = append(all, i)
	}
	buf := writeBufs.Get().(*writeBuf)
	defer func() {
		clear(buf.stmts)
		buf.stmts = buf.stmts[:0]
		if cap(buf.stmt) <= 2*s.maxBytes && cap(buf.doc) <= 1<<20 {
			writeBufs.Put(buf)
		}
	}()
	// Every event is checked and encoded before any transaction.
	load := !s.inserts.Load()
	if err := s.encode(buf, pick(events, all), load); err != nil {
		return fmt.Errorf("write sealed events: %w", err)
	}
	lookup := false
	for try := 1; ; try++ {
		err := s.writeSealed(ctx, chain, events, seal, buf, load, all, lookup)
		if err == nil {
			return nil
		}
		if load && isLoadRefused(err) {
			// As in Write: INSERTs from now on, this batch included.
			s.inserts.Store(true)
			load = false
			if err := s.encode(buf, pick(events, all), load); err != nil {
				return fmt.Errorf("write sealed events: %w", err)
			}
			continue
		}
		if errors.Is(err, activitylog.ErrInvalid) {
			return fmt.Errorf("write sealed events: %w", err) // refused by the server: a retry cannot help
		}
		if try < sealTries && ctx.Err() == nil {
			if errors.Is(err, errStoredBefore) {
				// An id was stored before (a retry), or by a concurrent
				// Write between the lookup and the INSERT: look up anew.
				lookup = true
				continue
			}
			if retryable(err) {
				time.Sleep(time.Duration(try) * 5 * time.Millisecond)
				continue
			}
		}
		if me, ok := errors.AsType[*driver.MySQLError](err); ok && refusedValue[me.Number] {
			return fmt.Errorf("write sealed events: %w", activitylog.Invalid("event", "", "the server refused a value: "+me.Message))
		}
		return fmt.Errorf("write sealed events: %w", err)
	}
}

// pick returns the events at the indexes idx, in their order.
func pick(events []activitylog.Event, idx []int) []activitylog.Event {
	if len(idx) == len(events) {
		return events
	}
	out := make([]activitylog.Event, len(idx))
	for k, i := range idx {
		out[k] = events[i]
	}
	return out
}

// encode builds events into buf as load files when load is set (and
// the store loads), else as plain INSERT statements (which fail on an
// id stored already).
func (s *Store) encode(buf *writeBuf, events []activitylog.Event, load bool) error {
	if load {
		return s.buildLoad(buf, events)
	}
	clear(buf.stmts)
	buf.stmts = buf.stmts[:0]
	return s.build(buf, events, "")
}

// insertFresh inserts the events in tx, as buf holds them (encode).
// An event stored already is errStoredBefore; an event the server
// refused (load files only), an error wrapping activitylog.ErrInvalid.
func (s *Store) insertFresh(ctx context.Context, tx *sql.Tx, buf *writeBuf, load bool, fresh []activitylog.Event) error {
	if load {
		dups, err := s.load(ctx, tx, buf, fresh)
		switch {
		case errors.Is(err, activitylog.ErrInvalid) || isLoadRefused(err):
			return err
		case err != nil:
			return fmt.Errorf("insert events: %w", unavailable(ctx, err))
		case dups > 0:
			return errStoredBefore // fresh holds each id once: a duplicate was stored before
		}
		return nil
	}
	for _, st := range buf.stmts {
		if _, err := tx.ExecContext(ctx, st); err != nil {
			if isDuplicate(err) && ctx.Err() == nil {
				return errStoredBefore
			}
			return fmt.Errorf("insert events: %w", unavailable(ctx, err))
		}
	}
	return nil
}

// writeSealed is one transaction of WriteSealed. buf holds the events
// at the indexes all, encoded as load files when load is set, else as
// INSERTs; lookup says to look up which are stored first, else all are
// taken as new.
func (s *Store) writeSealed(ctx context.Context, chain integrity.ChainInfo, events []activitylog.Event, seal integrity.SealFunc,
	buf *writeBuf, load bool, all []int, lookup bool) error {
	// The server's isolation level, REPEATABLE READ by default: not READ
	// COMMITTED, with which InnoDB refuses writes when the binary log is
	// statement-based. What follows needs a snapshot made after the lock
	// (the first plain read is), or READ COMMITTED.
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", unavailable(ctx, err))
	}
	defer tx.Rollback() // a no-op after Commit

	// The lock: the chain's row, inserted when there is none (with
	// state NULL, which is never committed: the row is rolled back, or
	// updated below). ON DUPLICATE KEY UPDATE takes an exclusive lock
	// on the stored row. It must be the transaction's first statement:
	// no plain read may come before it (see WriteSealed).
	if _, err := tx.ExecContext(ctx, `INSERT INTO chains (chain, key_id, state, seq, updated) VALUES (?, ?, NULL, 0, 0)
		ON DUPLICATE KEY UPDATE chain = chain`, chain.ID, chain.KeyID); err != nil {
		return fmt.Errorf("lock chain %s: %w", chain.ID, unavailable(ctx, err))
	}
	var (
		keyID   sql.NullString
		state   []byte
		lastSeq sql.NullInt64
		last    []byte
	)
	if err := tx.QueryRowContext(ctx, `SELECT c.key_id, c.state, l.seq, l.hash FROM chains c
		LEFT JOIN (SELECT seq, hash FROM seals WHERE chain = ? ORDER BY seq DESC LIMIT 1) l ON 1 = 1
		WHERE c.chain = ?`, chain.ID, chain.ID).Scan(&keyID, &state, &lastSeq, &last); err != nil {
		return fmt.Errorf("read chain %s: %w", chain.ID, unavailable(ctx, err))
	}
	if state == nil {
		keyID.Valid = false // the row this transaction inserted: no state
	}
	tail, err := checkTail(chain, keyID, state, lastSeq, last)
	if err != nil {
		return err
	}
	fresh := all
	if lookup {
		stored, err := storedIDs(ctx, tx, events, all)
		if err != nil {
			return err
		}
		if len(stored) > 0 {
			fresh = make([]int, 0, len(all))
			for _, i := range all {
				if !stored[events[i].ID] {
					fresh = append(fresh, i)
				}
			}
			buf = &writeBuf{}
			if err := s.encode(buf, pick(events, fresh), load); err != nil {
				return err
			}
		}
	}
	sb, err := seal(tail, fresh)
	if err != nil {
		return err
	}
	if len(sb.Seals) != len(fresh) {
		return fmt.Errorf("seal returned %d seals for %d events", len(sb.Seals), len(fresh))
	}
	if len(sb.Seals) == 0 && sb.Checkpoint == nil {
		return nil // nothing to store; the deferred Rollback ends the transaction
	}
	for k, sl := range sb.Seals {
		if sl.Chain != chain.ID {
			return fmt.Errorf("seal of event %s names chain %s, not %s", events[fresh[k]].ID, sl.Chain, chain.ID)
		}
	}
	if len(fresh) > 0 {
		if err := s.insertFresh(ctx, tx, buf, load, pick(events, fresh)); err != nil {
			return err
		}
		for _, st := range s.sealStatements(events, fresh, sb.Seals) {
			if _, err := tx.ExecContext(ctx, st); err != nil {
				if me, ok := errors.AsType[*driver.MySQLError](err); ok && isDuplicate(err) && ctx.Err() == nil {
					return fmt.Errorf("insert seals: %s: %w", me.Message, integrity.ErrTornChain)
				}
				return fmt.Errorf("insert seals: %w", unavailable(ctx, err))
			}
		}
	}
	st, err := json.Marshal(sb.State)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE chains SET state = ?, seq = ?, updated = ? WHERE chain = ?`,
		st, int64(sb.State.Seq), time.Now().UnixNano(), chain.ID); err != nil {
		return fmt.Errorf("store chain state: %w", unavailable(ctx, err))
	}
	if cp := sb.Checkpoint; cp != nil {
		body, err := json.Marshal(cp)
		if err != nil {
			return fmt.Errorf("encode checkpoint: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (chain, to_seq, from_seq, body) VALUES (?, ?, ?, ?)`,
			cp.Chain, int64(cp.ToSeq), int64(cp.FromSeq), body); err != nil {
			return fmt.Errorf("store checkpoint: %w", unavailable(ctx, err))
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", unavailable(ctx, err))
	}
	return nil
}

// isDuplicate reports whether err is the server's duplicate-key error.
func isDuplicate(err error) bool {
	me, ok := errors.AsType[*driver.MySQLError](err)
	return ok && me.Number == 1062 // ER_DUP_ENTRY
}

// storedIDs returns which of the events at the indexes idx are stored
// already, looked up in statements of at most 1000 ids.
func storedIDs(ctx context.Context, tx *sql.Tx, events []activitylog.Event, idx []int) (map[activitylog.ID]bool, error) {
	stored := map[activitylog.ID]bool{}
	var q []byte
	for len(idx) > 0 {
		n := min(len(idx), sealsBatch)
		q = append(q[:0], "SELECT id FROM events WHERE id IN ("...)
		for k, i := range idx[:n] {
			if k > 0 {
				q = append(q, ',')
			}
			q = append(q, "X'"...)
			q = appendHex(q, events[i].ID[:])
			q = append(q, '\'')
		}
		q = append(q, ')')
		idx = idx[n:]
		rows, err := tx.QueryContext(ctx, string(q))
		if err != nil {
			return nil, fmt.Errorf("read stored ids: %w", unavailable(ctx, err))
		}
		for rows.Next() {
			var id []byte
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, fmt.Errorf("read stored ids: %w", unavailable(ctx, err))
			}
			if len(id) == 16 {
				stored[activitylog.ID(id)] = true
			}
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("read stored ids: %w", unavailable(ctx, err))
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read stored ids: %w", unavailable(ctx, err))
		}
	}
	return stored, nil
}

// sealRowBytes bounds the length of one row of a seals INSERT, its
// chain id left out: a seq of up to 20 digits, the id, prev and hash in
// hex, the punctuation.
const sealRowBytes = 20 + 2*(16+32+32) + 24

// sealStatements returns the INSERTs of seals, the seals of the events
// at the indexes fresh, of at most s.maxBytes each.
func (s *Store) sealStatements(events []activitylog.Event, fresh []int, seals []integrity.Seal) []string {
	const prefix = "INSERT INTO seals (chain, seq, id, prev, hash, canon_version) VALUES "
	var out []string
	b := make([]byte, 0, min(len(prefix)+len(seals)*(len(seals[0].Chain)+sealRowBytes), s.maxBytes))
	b = append(b, prefix...)
	rows := 0
	for k := range seals {
		sl := &seals[k]
		if rows > 0 {
			if len(b)+len(sl.Chain)+sealRowBytes > s.maxBytes {
				out = append(out, string(b))
				b, rows = append(b[:0], prefix...), 0
			} else {
				b = append(b, ',')
			}
		}
		b = append(b, "('"...)
		b = append(b, sl.Chain...) // ValidateChainID: letters, digits and .:_- only
		b = append(b, "',"...)
		b = strconv.AppendUint(b, sl.Seq, 10)
		b = append(b, ",X'"...)
		b = appendHex(b, events[fresh[k]].ID[:])
		b = append(b, "',X'"...)
		b = appendHex(b, sl.Prev[:])
		b = append(b, "',X'"...)
		b = appendHex(b, sl.Hash[:])
		b = append(b, "',"...)
		b = strconv.AppendInt(b, activitylog.CanonicalVersion, 10)
		b = append(b, ')')
		rows++
	}
	return append(out, string(b))
}

// checkTail returns the chain's stored state, nil when it has none
// (keyID not valid), after checking it against the chain's last seal
// (lastSeq not valid: none).
func checkTail(chain integrity.ChainInfo, keyID sql.NullString, state []byte, lastSeq sql.NullInt64, last []byte) (*integrity.State, error) {
	if !keyID.Valid {
		if lastSeq.Valid {
			return nil, fmt.Errorf("chain %s: events stored up to seq %d, no state: %w", chain.ID, lastSeq.Int64, integrity.ErrTornChain)
		}
		return nil, nil
	}
	if keyID.String != chain.KeyID {
		return nil, fmt.Errorf("chain %s: %w", chain.ID, activitylog.Invalid("hmac key", chain.KeyID, "is not the chain's key "+keyID.String))
	}
	var st integrity.State
	if err := json.Unmarshal(state, &st); err != nil {
		return nil, fmt.Errorf("chain %s: decode state: %v: %w", chain.ID, err, integrity.ErrTornChain)
	}
	if st.Chain != chain.ID || st.KeyID != keyID.String {
		return nil, fmt.Errorf("chain %s: state names chain %s key %q: %w", chain.ID, st.Chain, st.KeyID, integrity.ErrTornChain)
	}
	var seq int64
	if lastSeq.Valid {
		seq = lastSeq.Int64
	}
	if uint64(seq) != st.Seq || st.Seq > 0 && !bytes.Equal(last, st.Hash[:]) {
		return nil, fmt.Errorf("chain %s: state at seq %d, last stored event at seq %d: %w", chain.ID, st.Seq, seq, integrity.ErrTornChain)
	}
	return &st, nil
}
