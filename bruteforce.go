package activitylog

import (
	"container/list"
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"
)

// BruteForceOptions configures a BruteForce. The zero value, or nil,
// means the defaults written beside each field.
type BruteForceOptions struct {
	// Threshold is how many failed logins within Window make a source
	// address or a username an offender. Default: 5.
	Threshold int
	// Window is the sliding window failures are counted in. Default: 1h.
	Window time.Duration
	// MaxKeys bounds how many addresses, and separately how many
	// usernames, are tracked; past it the one whose last failure is
	// oldest is forgotten. Default: 10000.
	MaxKeys int
	// OnThreshold, when set, is called once when an address or a
	// username reaches Threshold failures within Window, and again
	// only after its count has fallen below Threshold and reached it
	// anew. It runs in the Recorder's batcher goroutine and delays every
	// event behind it, so it must be fast: hand the Alert to a channel
	// or a goroutine to block an address or notify someone. A panic in
	// it is recovered and logged. Default: nil.
	OnThreshold func(Alert)
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Logger receives a panic of OnThreshold. Default: slog.Default().
	Logger *slog.Logger
}

// What an Offender's Key is.
const (
	OffenderIP       = "ip"
	OffenderUsername = "username"
)

// Offender is a client address or a username with many failed logins.
type Offender struct {
	Type     string    `json:"type"`     // OffenderIP or OffenderUsername
	Key      string    `json:"key"`      // the address, or the username in lower case
	Failures int       `json:"failures"` // failed logins within the window
	First    time.Time `json:"first"`    // the earliest of them
	Last     time.Time `json:"last"`     // the latest of them
}

// Alert is what BruteForceOptions.OnThreshold receives: the offender,
// as of the failed login that made it one.
type Alert struct {
	Offender
	Event ID // the login_failed event that reached the threshold
}

// maxFailuresPerKey bounds the failure times kept per key; Failures
// saturates there (at Threshold if that is larger).
const maxFailuresPerKey = 256

// BruteForce counts failed logins (auth events of action
// login_failed) by client address (Request.RemoteIP) and by username
// (Extra["username"], compared in lower case) over a sliding window,
// and reports those that reach a threshold. It is an Enricher: put it
// in Options.Enrichers, and it sees every event the Recorder writes,
// whichever way it was recorded (LoginFailed, httpaudit.Logins, an
// ingested batch). It never changes an event.
//
// Memory is bounded: MaxKeys addresses and MaxKeys usernames, each
// with at most max(Threshold, 256) failure times. Counts live in memory
// only and start at zero in each process; FailedLogins asks the store
// instead. A successful login does not reset a count, so an attacker
// cannot clear its record by logging in to an account of its own.
//
// A BruteForce is safe for concurrent use, and may serve several
// Recorders.
type BruteForce struct {
	threshold int
	window    time.Duration
	maxKeys   int
	perKey    int
	hook      func(Alert)
	now       func() time.Time
	logger    *slog.Logger

	mu    sync.Mutex
	ips   bfTable
	users bfTable
}

var _ Enricher = (*BruteForce)(nil)

type bfTable struct {
	m   map[string]*list.Element // of *bfEntry
	lru list.List                // front: most recent failure
}

type bfEntry struct {
	key     string
	times   []time.Time // within the window, oldest first
	alerted bool
}

// NewBruteForce returns a BruteForce; opts may be nil.
func NewBruteForce(opts *BruteForceOptions) *BruteForce {
	var o BruteForceOptions
	if opts != nil {
		o = *opts
	}
	if o.Threshold <= 0 {
		o.Threshold = 5
	}
	if o.Window <= 0 {
		o.Window = time.Hour
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 10000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	b := &BruteForce{
		threshold: o.Threshold, window: o.Window, maxKeys: o.MaxKeys,
		perKey: max(o.Threshold, maxFailuresPerKey),
		hook:   o.OnThreshold, now: o.Now, logger: o.Logger,
	}
	b.ips.m = make(map[string]*list.Element)
	b.users.m = make(map[string]*list.Element)
	return b
}

// Enrich counts e if it is a failed login. It implements Enricher and
// leaves e unchanged.
func (b *BruteForce) Enrich(e *Event) {
	if e.Kind != KindAuth || e.Action != ActionLoginFailed {
		return
	}
	now := b.now()
	t := e.Time
	if t.IsZero() || t.After(now) {
		t = now
	}
	if t.Before(now.Add(-b.window)) {
		return // already outside the window: an old event, ingested late
	}
	var alerts [2]Alert
	n := 0
	b.mu.Lock()
	if ip := e.Request.RemoteIP; ip != "" {
		if o, ok := b.ips.add(b, OffenderIP, ip, t, now); ok {
			alerts[n] = Alert{Offender: o, Event: e.ID}
			n++
		}
	}
	if u := usernameOf(e); u != "" {
		if o, ok := b.users.add(b, OffenderUsername, u, t, now); ok {
			alerts[n] = Alert{Offender: o, Event: e.ID}
			n++
		}
	}
	b.mu.Unlock()
	for _, a := range alerts[:n] {
		b.fire(a)
	}
}

func usernameOf(e *Event) string {
	s, _ := e.Extra["username"].(string)
	return strings.ToLower(strings.TrimSpace(s))
}

// fire calls the hook outside the lock, so that it may call Offenders.
func (b *BruteForce) fire(a Alert) {
	if b.hook == nil {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			b.logger.Error("activitylog: BruteForce OnThreshold panicked", "type", a.Type, "key", a.Key, "panic", fmt.Sprint(p))
		}
	}()
	b.hook(a)
}

// add records a failure of key at t and returns the offender and true
// when it has just reached the threshold.
func (tb *bfTable) add(b *BruteForce, typ, key string, t, now time.Time) (Offender, bool) {
	key = clipText(key, MaxShortField)
	var en *bfEntry
	if el, ok := tb.m[key]; ok {
		en = el.Value.(*bfEntry)
		tb.lru.MoveToFront(el)
	} else {
		if len(tb.m) >= b.maxKeys {
			oldest := tb.lru.Back()
			delete(tb.m, oldest.Value.(*bfEntry).key)
			tb.lru.Remove(oldest)
		}
		en = &bfEntry{key: key}
		tb.m[key] = tb.lru.PushFront(en)
	}
	en.prune(now.Add(-b.window))
	if len(en.times) < b.threshold {
		en.alerted = false // fell below: the next crossing alerts again
	}
	// Keep the times sorted: events of one batch may come out of order.
	i := sort.Search(len(en.times), func(i int) bool { return en.times[i].After(t) })
	en.times = append(en.times, time.Time{})
	copy(en.times[i+1:], en.times[i:])
	en.times[i] = t
	if len(en.times) > b.perKey {
		en.times = append(en.times[:0], en.times[len(en.times)-b.perKey:]...)
	}
	if len(en.times) >= b.threshold && !en.alerted {
		en.alerted = true
		return en.offender(typ), true
	}
	return Offender{}, false
}

func (en *bfEntry) prune(since time.Time) {
	i := 0
	for i < len(en.times) && en.times[i].Before(since) {
		i++
	}
	if i > 0 {
		en.times = append(en.times[:0], en.times[i:]...)
	}
}

func (en *bfEntry) offender(typ string) Offender {
	return Offender{Type: typ, Key: en.key, Failures: len(en.times), First: en.times[0], Last: en.times[len(en.times)-1]}
}

// Offenders returns the addresses and usernames with at least Threshold
// failed logins in the window that ends at now, sorted by failures
// (most first), then type, then key.
func (b *BruteForce) Offenders(now time.Time) []Offender {
	since := now.Add(-b.window)
	var out []Offender
	b.mu.Lock()
	for _, x := range [...]struct {
		typ string
		tb  *bfTable
	}{{OffenderIP, &b.ips}, {OffenderUsername, &b.users}} {
		for _, el := range x.tb.m {
			en := el.Value.(*bfEntry)
			n, first, last := 0, time.Time{}, time.Time{}
			for _, t := range en.times {
				if t.Before(since) || t.After(now) {
					continue
				}
				if n == 0 {
					first = t
				}
				n, last = n+1, t
			}
			if n >= b.threshold {
				out = append(out, Offender{Type: x.typ, Key: en.key, Failures: n, First: first, Last: last})
			}
		}
	}
	b.mu.Unlock()
	sortOffenders(out)
	return out
}

func sortOffenders(out []Offender) {
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Failures != b.Failures {
			return a.Failures > b.Failures
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Key < b.Key
	})
}

// maxScanKeys bounds the distinct addresses and usernames FailedLogins
// keeps while it scans; past it, keys seen only once are forgotten.
const maxScanKeys = 1 << 16

// FailedLogins asks q for the failed logins (auth, login_failed) of the
// last window and returns the addresses and usernames with at least
// threshold of them, sorted as Offenders sorts. It pages through the
// events with cursors, 1000 at a time, until the last page or until
// ctx ends. Unlike BruteForce it sees every process's events and
// survives restarts. threshold < 1 counts as 1; window must be
// positive.
func FailedLogins(ctx context.Context, q Querier, window time.Duration, threshold int) ([]Offender, error) {
	if window <= 0 {
		return nil, invalid("window", window.String(), "must be positive")
	}
	threshold = max(threshold, 1)
	type agg struct {
		n           int
		first, last time.Time
	}
	counts := [2]map[string]*agg{{}, {}}
	add := func(m map[string]*agg, key string, t time.Time) {
		a := m[key]
		if a == nil {
			if len(m) >= maxScanKeys {
				for k, v := range m {
					if v.n <= 1 {
						delete(m, k)
					}
				}
				if len(m) >= maxScanKeys {
					return
				}
			}
			a = &agg{first: t, last: t}
			m[key] = a
		}
		a.n++
		if t.Before(a.first) {
			a.first = t
		}
		if t.After(a.last) {
			a.last = t
		}
	}
	f := Filter{Kind: KindAuth, Action: ActionLoginFailed, From: time.Now().Add(-window), PageSize: MaxPageSize}
	for {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("query failed logins: %w", err)
		}
		p, err := q.Query(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("query failed logins: %w", err)
		}
		for i := range p.Events {
			e := &p.Events[i]
			if ip := e.Request.RemoteIP; ip != "" {
				add(counts[0], ip, e.Time)
			}
			if u := usernameOf(e); u != "" {
				add(counts[1], u, e.Time)
			}
		}
		if p.Next == "" || p.Next == f.Cursor || len(p.Events) == 0 {
			break
		}
		f.Cursor = p.Next
	}
	var out []Offender
	for i, typ := range [...]string{OffenderIP, OffenderUsername} {
		for k, a := range counts[i] {
			if a.n >= threshold {
				out = append(out, Offender{Type: typ, Key: k, Failures: a.n, First: a.first, Last: a.last})
			}
		}
	}
	sortOffenders(out)
	return out, nil
}
