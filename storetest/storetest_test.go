package storetest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/storetest"
)

// memStore is the simplest store that means what the interfaces say: a
// slice under a mutex, with every query a filter and a sort. The suite
// must pass against it, which checks the suite as much as the store.
type memStore struct {
	mu     sync.Mutex
	events map[activitylog.ID][]byte // JSON, as a real store keeps no references
}

func (m *memStore) Write(ctx context.Context, events []activitylog.Event) error {
	docs := make(map[activitylog.ID][]byte, len(events))
	for i := range events {
		e := events[i]
		e.Time = e.Time.UTC()
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("write events: %w", err)
		}
		if _, ok := docs[e.ID]; !ok {
			docs[e.ID] = b
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	for id, b := range docs {
		if _, ok := m.events[id]; !ok {
			m.events[id] = b
		}
	}
	return nil
}

func decode(b []byte) activitylog.Event {
	var e activitylog.Event
	if err := json.Unmarshal(b, &e); err != nil {
		panic(err)
	}
	e.Time = e.Time.UTC()
	return e
}

func (m *memStore) Get(ctx context.Context, id activitylog.ID) (activitylog.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.events[id]
	if !ok {
		return activitylog.Event{}, fmt.Errorf("get event %s: %w", id, activitylog.ErrNotFound)
	}
	return decode(b), nil
}

// matching returns the events that f selects, in f's ordering.
func (m *memStore) matching(f activitylog.Filter) []activitylog.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []activitylog.Event
	for _, b := range m.events {
		if e := decode(b); storetest.Matches(f, &e) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b activitylog.Event) int { return compare(f, &a, &b) })
	return out
}

// compare orders a before b in f's ordering.
func compare(f activitylog.Filter, a, b *activitylog.Event) int {
	ai, as := activitylog.OrderingValue(a, f.Field())
	bi, bs := activitylog.OrderingValue(b, f.Field())
	c := 0
	switch {
	case ai != bi:
		c = map[bool]int{true: -1, false: 1}[ai < bi]
	case as != bs:
		c = strings.Compare(as, bs)
	default:
		c = slices.Compare(a.ID[:], b.ID[:])
	}
	if f.Descending() {
		return -c
	}
	return c
}

func (m *memStore) Count(ctx context.Context, f activitylog.Filter) (int64, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return 0, err
	}
	return int64(len(m.matching(f))), nil
}

func (m *memStore) Query(ctx context.Context, f activitylog.Filter) (activitylog.Page, error) {
	f, err := f.Normalize(time.Now())
	if err != nil {
		return activitylog.Page{}, err
	}
	es := m.matching(f)
	if f.Cursor == "" {
		lo := min((f.Page-1)*f.PageSize, len(es))
		hi := min(lo+f.PageSize, len(es))
		return activitylog.PageOf(f, es[lo:hi], false, false, hi < len(es)), nil
	}
	c, err := activitylog.DecodeCursor(f.Cursor)
	if err != nil {
		return activitylog.Page{}, err
	}
	key := activitylog.Event{ID: c.ID, Time: time.Unix(0, c.Int).UTC(), Kind: activitylog.Kind(c.Str), Action: c.Str,
		Tenant: c.Str, Actor: activitylog.Actor{ID: c.Str}, Object: activitylog.Object{Type: c.Str},
		Response: activitylog.Response{Status: int(c.Int), Duration: time.Duration(c.Int)}}
	// The first event after the cursor's key.
	i, _ := slices.BinarySearchFunc(es, key, func(e, k activitylog.Event) int {
		if compare(f, &e, &k) <= 0 {
			return -1
		}
		return 1
	})
	if c.Before {
		j, _ := slices.BinarySearchFunc(es, key, func(e, k activitylog.Event) int {
			if compare(f, &e, &k) < 0 {
				return -1
			}
			return 1
		})
		lo := max(0, j-f.PageSize)
		return activitylog.PageOf(f, es[lo:j], true, true, lo > 0), nil
	}
	hi := min(i+f.PageSize, len(es))
	return activitylog.PageOf(f, es[i:hi], true, false, hi < len(es)), nil
}

func (m *memStore) Close() error { return nil }

var _ activitylog.Store = (*memStore)(nil)

func TestMemStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) activitylog.Store {
		return &memStore{events: map[activitylog.ID][]byte{}}
	})
}

func TestNewEventIsValid(t *testing.T) {
	for _, e := range storetest.Fixture(50) {
		if err := e.Validate(); err != nil {
			t.Errorf("event %s: %v", e.Message, err)
		}
	}
}

func TestTrailEventIsValid(t *testing.T) {
	kinds := map[activitylog.Kind]int{}
	for i := range 1000 {
		e := storetest.TrailEvent(i, storetest.Base.Add(time.Duration(i)*time.Second))
		if err := e.Validate(); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
		kinds[e.Kind]++
	}
	for _, k := range activitylog.Kinds {
		if k != activitylog.KindCustom && kinds[k] == 0 {
			t.Errorf("a trail of 1000 events has no %s event", k)
		}
	}
}
