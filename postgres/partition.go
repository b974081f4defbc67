package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// interval is the width of the events table's partitions.
type interval int

const (
	daily interval = iota + 1
	weekly
	monthly
	yearly
)

func parseInterval(s string) (interval, bool) {
	switch s {
	case "day":
		return daily, true
	case "week":
		return weekly, true
	case "month":
		return monthly, true
	case "year":
		return yearly, true
	}
	return 0, false
}

func (iv interval) name() string {
	switch iv {
	case daily:
		return "day"
	case weekly:
		return "week"
	case monthly:
		return "month"
	case yearly:
		return "year"
	}
	return ""
}

// start returns the start of the period that holds t, in UTC.
func (iv interval) start(t time.Time) time.Time {
	t = t.UTC()
	y, m, d := t.Date()
	switch iv {
	case daily:
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	case weekly:
		wd := (int(t.Weekday()) + 6) % 7 // days since Monday
		return time.Date(y, m, d-wd, 0, 0, 0, 0, time.UTC)
	case yearly:
		return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
}

// next returns the start of the period after the one that starts at t.
func (iv interval) next(t time.Time) time.Time {
	switch iv {
	case daily:
		return t.AddDate(0, 0, 1)
	case weekly:
		return t.AddDate(0, 0, 7)
	case yearly:
		return t.AddDate(1, 0, 0)
	}
	return t.AddDate(0, 1, 0)
}

// partName returns the name of the partition that starts at t:
// events_d20261124, events_w20261123 (the Monday), events_m202611,
// events_y2026.
func (iv interval) partName(t time.Time) string {
	switch iv {
	case daily:
		return "events_d" + t.Format("20060102")
	case weekly:
		return "events_w" + t.Format("20060102")
	case yearly:
		return "events_y" + t.Format("2006")
	}
	return "events_m" + t.Format("200601")
}

// parseName returns the start of the partition called name, and false
// for a name this interval does not make.
func (iv interval) parseName(name string) (time.Time, bool) {
	var prefix, layout string
	switch iv {
	case daily:
		prefix, layout = "events_d", "20060102"
	case weekly:
		prefix, layout = "events_w", "20060102"
	case yearly:
		prefix, layout = "events_y", "2006"
	default:
		prefix, layout = "events_m", "200601"
	}
	if len(name) != len(prefix)+len(layout) || name[:len(prefix)] != prefix {
		return time.Time{}, false
	}
	t, err := time.Parse(layout, name[len(prefix):])
	if err != nil || !iv.start(t).Equal(t) {
		return time.Time{}, false
	}
	return t, true
}

// Nanosecond times that a partition bound can hold.
var (
	minNS = time.Unix(0, math.MinInt64).UTC()
	maxNS = time.Unix(0, math.MaxInt64).UTC()
)

// bound returns t as a partition bound: Unix nanoseconds, or MINVALUE
// and MAXVALUE beyond what they can hold.
func bound(t time.Time) string {
	switch {
	case !t.After(minNS):
		return "MINVALUE"
	case !t.Before(maxNS):
		return "MAXVALUE"
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

// partitions caches the starts (Unix nanoseconds) of the partitions
// that are known to exist.
type partitions struct {
	mu    sync.Mutex
	known map[int64]bool
}

func (p *partitions) has(start int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.known[start]
}

func (p *partitions) set(start int64, exists bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.known == nil {
		p.known = map[int64]bool{}
	}
	if exists {
		p.known[start] = true
	} else {
		delete(p.known, start)
	}
}

// partitionInfo is one partition of the events table.
type partitionInfo struct {
	name     string
	from, to time.Time
}

// listPartitions returns the events table's partitions that this
// store's interval names, oldest first.
func (s *Store) listPartitions(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]partitionInfo, error) {
	rows, err := q.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'events'::regclass`)
	if err != nil {
		return nil, unavailable(ctx, err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, unavailable(ctx, err)
	}
	var ps []partitionInfo
	for _, n := range names {
		if t, ok := s.interval.parseName(n); ok {
			ps = append(ps, partitionInfo{name: n, from: t, to: s.interval.next(t)})
		}
	}
	slices.SortFunc(ps, func(a, b partitionInfo) int { return a.from.Compare(b.from) })
	return ps, nil
}

// loadPartitions fills the cache with the partitions that exist.
func (s *Store) loadPartitions(ctx context.Context) error {
	ps, err := s.listPartitions(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("list partitions: %w", err)
	}
	for _, p := range ps {
		s.parts.set(p.from.UnixNano(), true)
	}
	return nil
}

// partitionLock is the first key of the advisory lock that serializes
// the creation and dropping of partitions (the second: the schema's).
const partitionLock = migrateLock + 1

// ensurePartitions creates, before a write, the partitions that the
// times (Unix nanoseconds) fall in and that are not known to exist, and
// the partition after the latest of them, so that the next period's
// first write finds its partition made, weeks ahead in the monthly
// case. CREATE TABLE … PARTITION OF takes a short exclusive lock on the
// events table, so it is done in a transaction of its own, never inside
// a Write's, under an advisory lock that makes concurrent creators (of
// this process or of other replicas) wait for each other; IF NOT EXISTS
// makes the second one a no-op.
func (s *Store) ensurePartitions(ctx context.Context, times []int64) error {
	var missing []time.Time
	var latest time.Time
	var lo, hi int64 = 1, 0 // the period last looked at: a batch's times mostly share one
	for _, ns := range times {
		if lo <= ns && ns < hi {
			continue
		}
		st := s.interval.start(time.Unix(0, ns))
		lo, hi = st.UnixNano(), s.interval.next(st).UnixNano()
		if hi < lo { // past what nanoseconds hold
			hi = math.MaxInt64
		}
		if st.After(latest) || latest.IsZero() {
			latest = st
		}
		if !s.parts.has(st.UnixNano()) && !slices.ContainsFunc(missing, st.Equal) {
			missing = append(missing, st)
		}
	}
	if !latest.IsZero() {
		if nx := s.interval.next(latest); nx.Before(maxNS) && !s.parts.has(nx.UnixNano()) && !slices.ContainsFunc(missing, nx.Equal) {
			missing = append(missing, nx)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(partitionLock), s.schema); err != nil {
			return unavailable(ctx, err)
		}
		for _, st := range missing {
			name := s.interval.partName(st)
			_, err := tx.Exec(ctx, "SAVEPOINT p")
			if err == nil {
				_, err = tx.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+quoteIdent(name)+" PARTITION OF events FOR VALUES FROM ("+
					bound(st)+") TO ("+bound(s.interval.next(st))+")")
			}
			var pe *pgconn.PgError
			if errors.As(err, &pe) && (pe.Code == "42P17" || pe.Code == "23514") {
				// 42P17, "would overlap partition": a partition made by
				// hand covers (part of) the period; rows go where it
				// says. 23514: the default partition holds rows of the
				// period (written while another replica had dropped its
				// partition), so it cannot be made; rows go to the
				// default partition, as those did.
				if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT p"); err != nil {
					return unavailable(ctx, err)
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("create partition %s: %w", name, unavailable(ctx, err))
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create partitions: %w", err)
	}
	for _, st := range missing {
		s.parts.set(st.UnixNano(), true)
	}
	return nil
}

// dropLock makes writes wait while a partition is dropped: taken before
// the partition's ids are deleted, so that no event is written into it
// between that and the DROP, and on the parent first, as a Write locks
// it first, so that the two never wait for each other.
const dropLock = "LOCK TABLE events IN SHARE MODE"

// DropBefore drops the partitions of the events table that lie wholly
// before t, the retention fast path: each partition goes with one DROP
// TABLE rather than a DELETE of its rows, so that neither the table nor
// the write-ahead log grows with what is removed. The ids of the
// dropped events are deleted from event_ids in the same transaction
// (a narrow table: some 50 bytes an event), so that a dropped event
// written again is stored again. Everything in those partitions goes,
// the records of earlier purges included; the partition that holds t,
// and the default partition, are kept (Purge deletes from them row by
// row). It returns the names of the partitions dropped, oldest first.
//
// Each partition is dropped in a transaction of its own, in which writes
// wait (a SHARE lock on the events table) while the partition's ids are
// deleted, and then reads too, for the moment of the DROP, which waits
// for the queries in progress.
func (s *Store) DropBefore(ctx context.Context, t time.Time) ([]string, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("drop partitions: %w", errClosed)
	}
	if t.IsZero() {
		return nil, fmt.Errorf("drop partitions: %w", activitylog.Invalid("before", "", "is required"))
	}
	ps, err := s.listPartitions(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("drop partitions: %w", err)
	}
	var dropped []string
	for _, p := range ps {
		if p.to.After(t) {
			break
		}
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(partitionLock), s.schema); err != nil {
				return unavailable(ctx, err)
			}
			q := quoteIdent(p.name)
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, q).Scan(&exists); err != nil {
				return unavailable(ctx, err)
			}
			if !exists { // another replica dropped it first
				return nil
			}
			if _, err := tx.Exec(ctx, dropLock); err != nil {
				return unavailable(ctx, err)
			}
			if _, err := tx.Exec(ctx, "DELETE FROM event_ids i USING "+q+" p WHERE i.id = p.id"); err != nil {
				return unavailable(ctx, err)
			}
			if _, err := tx.Exec(ctx, "DROP TABLE "+q); err != nil {
				return unavailable(ctx, err)
			}
			return nil
		})
		if err != nil {
			return dropped, fmt.Errorf("drop partition %s: %w", p.name, err)
		}
		s.parts.set(p.from.UnixNano(), false)
		dropped = append(dropped, p.name)
	}
	return dropped, nil
}
