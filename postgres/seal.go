package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

var (
	_ integrity.SealStore    = (*Store)(nil)
	_ integrity.Source       = (*Store)(nil)
	_ integrity.BundleSource = (*Store)(nil)
)

// sealLock is the first key of the transaction-scoped advisory lock
// that serializes the writers of one chain; the second is a hash of the
// schema's and the chain's names. (Two chains whose hashes collide wait
// for each other; nothing worse.)
const sealLock = migrateLock + 2

// copySeals is the COPY of a batch's seals.
const copySeals = "COPY seals (chain, seq, id, time, prev, hash, canon_version) FROM STDIN (FORMAT binary)"

// errStoredBefore ends a first try of writeSealed in which an event of
// the batch was already stored.
var errStoredBefore = errors.New("an event is stored already")

// WriteSealed stores events with their seals in chain, in one
// transaction, as integrity.SealStore says. The transaction first takes
// the chain's advisory lock (pg_advisory_xact_lock), so that writers of
// one chain, in this process or another, go one at a time; then reads
// the chain's state and checks it against its last seal; leaves out the
// events already stored; calls seal for the others; and COPYs them into
// event_ids, events and seals, and stores the chain's new state and the
// checkpoint, if any. A first try takes every event as new (the common
// case, no lookup); when event_ids refuses an id as stored, it starts
// again in a new transaction and looks the ids up first. Events are
// refused as Write refuses them; errors are classified as Write's.
func (s *Store) WriteSealed(ctx context.Context, chain integrity.ChainInfo, events []activitylog.Event, seal integrity.SealFunc) error {
	if s.closed.Load() {
		return fmt.Errorf("write sealed events: %w", errClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write sealed events: %w", err)
	}
	buf := writeBufs.Get().(*writeBuf)
	defer func() {
		clear(buf.events)
		buf.events = buf.events[:0]
		if cap(buf.data) <= 4<<20 && len(buf.seen) <= 1<<14 {
			writeBufs.Put(buf)
		}
	}()
	if err := buf.encode(events); err != nil {
		return fmt.Errorf("write sealed events: %w", err)
	}
	if err := s.ensurePartitions(ctx, buf.times); err != nil {
		return fmt.Errorf("write sealed events: %w", err)
	}
	// The indexes of the events encode kept: the first of each id.
	all := make([]int, 0, len(buf.events))
	for i, k := 0, 0; i < len(events) && k < len(buf.events); i++ {
		if buf.events[k] == &events[i] {
			all = append(all, i)
			k++
		}
	}
	lookup := false
	for try := 0; ; try++ {
		err := s.writeSealed(ctx, chain, events, seal, buf, all, lookup)
		if errors.Is(err, errStoredBefore) && try < 3 && ctx.Err() == nil {
			// An id was stored before (a retry), or by a concurrent
			// Write between the lookup and the COPY: look up anew.
			lookup = true
			continue
		}
		if err != nil {
			return fmt.Errorf("write sealed events: %w", err)
		}
		return nil
	}
}

// writeSealed is one transaction of WriteSealed. all are the indexes of
// the events that buf holds; lookup says to look up which are stored
// first, else all are taken as new.
func (s *Store) writeSealed(ctx context.Context, chain integrity.ChainInfo, events []activitylog.Event, seal integrity.SealFunc,
	buf *writeBuf, all []int, lookup bool) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", unavailable(ctx, err))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	// One round trip: the lock, then (each statement sees what the
	// last holder committed) the tail, and the stored ids.
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(sealLock), s.schema+"\n"+chain.ID) // a chain id has no newline
	b.Queue(`SELECT c.key_id, c.state, l.seq, l.hash FROM (SELECT 1) o
		LEFT JOIN chains c ON c.chain = $1
		LEFT JOIN LATERAL (SELECT seq, hash FROM seals WHERE chain = $1 ORDER BY seq DESC LIMIT 1) l ON true`, chain.ID)
	if lookup {
		ids := make([]string, len(buf.events))
		for k, e := range buf.events {
			ids[k] = e.ID.String()
		}
		b.Queue(`SELECT id FROM event_ids WHERE id = ANY($1::uuid[])`, ids)
	}
	br := tx.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return fmt.Errorf("lock chain %s: %w", chain.ID, unavailable(ctx, err))
	}
	var (
		keyID   *string
		state   []byte
		lastSeq *int64
		last    []byte
	)
	if err := br.QueryRow().Scan(&keyID, &state, &lastSeq, &last); err != nil {
		br.Close()
		return fmt.Errorf("read chain %s: %w", chain.ID, unavailable(ctx, err))
	}
	stored := map[activitylog.ID]bool{}
	if lookup {
		rows, err := br.Query()
		if err == nil {
			var id [16]byte
			_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
				stored[activitylog.ID(id)] = true
				return nil
			})
		}
		if err != nil {
			br.Close()
			return fmt.Errorf("read stored ids: %w", unavailable(ctx, err))
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("read chain %s: %w", chain.ID, unavailable(ctx, err))
	}
	tail, err := checkTail(chain, keyID, state, lastSeq, last)
	if err != nil {
		return err
	}
	fresh := all
	w := buf // the buffer of the fresh events
	if len(stored) > 0 {
		fresh = make([]int, 0, len(all))
		var evs []activitylog.Event
		for _, i := range all {
			if !stored[events[i].ID] {
				fresh = append(fresh, i)
				evs = append(evs, events[i])
			}
		}
		w = &writeBuf{seen: map[activitylog.ID]struct{}{}}
		if err := w.encode(evs); err != nil {
			return err
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
		pc := tx.Conn().PgConn()
		if err := copyFrom(ctx, pc, bytes.NewReader(w.appendIDs()), copyIDs); err != nil {
			if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "23505" && ctx.Err() == nil {
				return errStoredBefore
			}
			return fmt.Errorf("copy ids: %w", unavailable(ctx, err))
		}
		if err := copyFrom(ctx, pc, &copyReader{ctx: ctx, b: w}, copyEvents); err != nil {
			return fmt.Errorf("copy events: %w", unavailable(ctx, err))
		}
		if err := copyFrom(ctx, pc, bytes.NewReader(appendSeals(w, sb.Seals)), copySeals); err != nil {
			if pe, ok := errors.AsType[*pgconn.PgError](err); ok && pe.Code == "23505" && ctx.Err() == nil {
				return fmt.Errorf("copy seals: %v: %w", pe.Message, integrity.ErrTornChain)
			}
			return fmt.Errorf("copy seals: %w", unavailable(ctx, err))
		}
	}
	st, err := json.Marshal(sb.State)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	b = &pgx.Batch{}
	b.Queue(`INSERT INTO chains (chain, key_id, state, seq, updated) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (chain) DO UPDATE SET state = excluded.state, seq = excluded.seq, updated = excluded.updated`,
		chain.ID, chain.KeyID, st, int64(sb.State.Seq), time.Now().UnixNano())
	if cp := sb.Checkpoint; cp != nil {
		body, err := json.Marshal(cp)
		if err != nil {
			return fmt.Errorf("encode checkpoint: %w", err)
		}
		b.Queue(`INSERT INTO checkpoints (chain, to_seq, from_seq, body) VALUES ($1, $2, $3, $4)`,
			cp.Chain, int64(cp.ToSeq), int64(cp.FromSeq), body)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("store chain state: %w", unavailable(ctx, err))
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", unavailable(ctx, err))
	}
	return nil
}

// checkTail returns the chain's stored state, nil when it has none,
// after checking it against the chain's last seal (lastSeq nil: none).
func checkTail(chain integrity.ChainInfo, keyID *string, state []byte, lastSeq *int64, last []byte) (*integrity.State, error) {
	if keyID == nil {
		if lastSeq != nil {
			return nil, fmt.Errorf("chain %s: events stored up to seq %d, no state: %w", chain.ID, *lastSeq, integrity.ErrTornChain)
		}
		return nil, nil
	}
	if *keyID != chain.KeyID {
		return nil, fmt.Errorf("chain %s: %w", chain.ID, activitylog.Invalid("hmac key", chain.KeyID, "is not the chain's key "+*keyID))
	}
	var st integrity.State
	if err := json.Unmarshal(state, &st); err != nil {
		return nil, fmt.Errorf("chain %s: decode state: %v: %w", chain.ID, err, integrity.ErrTornChain)
	}
	if st.Chain != chain.ID || st.KeyID != *keyID {
		return nil, fmt.Errorf("chain %s: state names chain %s key %q: %w", chain.ID, st.Chain, st.KeyID, integrity.ErrTornChain)
	}
	var seq int64
	if lastSeq != nil {
		seq = *lastSeq
	}
	if uint64(seq) != st.Seq || st.Seq > 0 && !bytes.Equal(last, st.Hash[:]) {
		return nil, fmt.Errorf("chain %s: state at seq %d, last stored event at seq %d: %w", chain.ID, st.Seq, seq, integrity.ErrTornChain)
	}
	return &st, nil
}

// appendSeals returns the COPY stream of seals, the seals of b's events
// in their order.
func appendSeals(b *writeBuf, seals []integrity.Seal) []byte {
	out := make([]byte, 0, len(copyHeader)+len(seals)*(2+4*7+len(seals[0].Chain)+8+16+8+32+32+2)+len(copyTrailer))
	out = append(out, copyHeader...)
	for k := range seals {
		sl := &seals[k]
		out = binary.BigEndian.AppendUint16(out, 7)
		out = appendText(out, sl.Chain)
		out = appendInt8(out, int64(sl.Seq))
		out = appendField(out, b.events[k].ID[:])
		out = appendInt8(out, b.times[k])
		out = appendField(out, sl.Prev[:])
		out = appendField(out, sl.Hash[:])
		out = binary.BigEndian.AppendUint32(out, 2)
		out = binary.BigEndian.AppendUint16(out, activitylog.CanonicalVersion)
	}
	return append(out, copyTrailer...)
}
