package activitylog_test

import (
	"context"
	"log/slog"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func failedLogin(t time.Time, ip, user string) activitylog.Event {
	e := activitylog.Event{Time: t, Kind: activitylog.KindAuth, Action: "login_failed"}
	e.Request.RemoteIP = ip
	if user != "" {
		e.Extra = map[string]any{"username": user}
	}
	return e
}

func TestBruteForceThresholdFiresOncePerCrossing(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	var alerts []activitylog.Alert
	bf := activitylog.NewBruteForce(&activitylog.BruteForceOptions{
		Threshold:   3,
		Window:      10 * time.Minute,
		Now:         clk.Now,
		OnThreshold: func(a activitylog.Alert) { alerts = append(alerts, a) },
	})
	fail := func(ip, user string) {
		e := failedLogin(clk.Now(), ip, user)
		bf.Enrich(&e)
	}
	// Different users from one address: the address crosses, no user does.
	fail("192.0.2.1", "ann")
	clk.Add(time.Minute)
	fail("192.0.2.1", "bob")
	if len(alerts) != 0 {
		t.Fatalf("alerts after 2 failures: %+v", alerts)
	}
	clk.Add(time.Minute)
	fail("192.0.2.1", "Ann") // usernames compare in lower case
	if len(alerts) != 1 || alerts[0].Type != activitylog.OffenderIP || alerts[0].Key != "192.0.2.1" || alerts[0].Failures != 3 {
		t.Fatalf("alerts = %+v, want one for 192.0.2.1 with 3 failures", alerts)
	}
	fail("192.0.2.1", "ann") // ann reaches 3; the address does not alert again
	if len(alerts) != 2 || alerts[1].Type != activitylog.OffenderUsername || alerts[1].Key != "ann" {
		t.Fatalf("alerts = %+v, want a second one for username ann", alerts)
	}
	for i := 0; i < 5; i++ {
		fail("192.0.2.1", "")
	}
	if len(alerts) != 2 {
		t.Fatalf("alerted again without falling below the threshold: %+v", alerts)
	}

	now := clk.Now()
	got := bf.Offenders(now)
	want := []activitylog.Offender{
		{Type: "ip", Key: "192.0.2.1", Failures: 9, First: now.Add(-2 * time.Minute), Last: now},
		{Type: "username", Key: "ann", Failures: 3, First: now.Add(-2 * time.Minute), Last: now},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Offenders =\n%+v\nwant\n%+v", got, want)
	}

	// The window slides past every failure: nobody is an offender, and
	// a new crossing alerts again.
	clk.Add(11 * time.Minute)
	if got := bf.Offenders(clk.Now()); len(got) != 0 {
		t.Fatalf("Offenders after the window = %+v, want none", got)
	}
	for i := 0; i < 3; i++ {
		fail("192.0.2.1", "")
	}
	if len(alerts) != 3 || alerts[2].Key != "192.0.2.1" || alerts[2].Failures != 3 {
		t.Fatalf("alerts = %+v, want a new one for the address", alerts)
	}
}

func TestBruteForceIgnoresOtherEventsAndOldOnes(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	bf := activitylog.NewBruteForce(&activitylog.BruteForceOptions{Threshold: 2, Window: time.Minute, Now: clk.Now})
	for _, e := range []activitylog.Event{
		{Kind: activitylog.KindAuth, Action: "login", Request: activitylog.Request{RemoteIP: "192.0.2.1"}, Time: clk.Now()},
		{Kind: activitylog.KindAuth, Action: "blocked", Request: activitylog.Request{RemoteIP: "192.0.2.1"}, Time: clk.Now()},
		{Kind: activitylog.KindCustom, Action: "login_failed", Request: activitylog.Request{RemoteIP: "192.0.2.1"}, Time: clk.Now()},
		failedLogin(clk.Now().Add(-2*time.Minute), "192.0.2.1", ""), // outside the window
		failedLogin(clk.Now(), "192.0.2.1", ""),
	} {
		bf.Enrich(&e)
	}
	if got := bf.Offenders(clk.Now()); len(got) != 0 {
		t.Fatalf("Offenders = %+v, want none: only one failure counts", got)
	}
}

func TestBruteForceBoundedKeys(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	bf := activitylog.NewBruteForce(&activitylog.BruteForceOptions{Threshold: 1, MaxKeys: 2, Now: clk.Now})
	for _, ip := range []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"} {
		e := failedLogin(clk.Now(), ip, "")
		bf.Enrich(&e)
		clk.Add(time.Second)
	}
	var keys []string
	for _, o := range bf.Offenders(clk.Now()) {
		keys = append(keys, o.Key)
	}
	if want := []string{"192.0.2.2", "192.0.2.3"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("tracked %v, want %v: the oldest is evicted", keys, want)
	}
}

func TestBruteForceHookPanicIsRecovered(t *testing.T) {
	t.Parallel()
	clk := newFakeClock()
	calls := 0
	bf := activitylog.NewBruteForce(&activitylog.BruteForceOptions{
		Threshold: 1, Now: clk.Now, Logger: slog.New(slog.DiscardHandler),
		OnThreshold: func(activitylog.Alert) { calls++; panic("bad hook") },
	})
	e := failedLogin(clk.Now(), "192.0.2.1", "ann")
	bf.Enrich(&e) // must not panic
	if calls != 2 {
		t.Fatalf("hook called %d times, want 2 (address and username)", calls)
	}
}

// Through a Recorder: LoginFailed events reach the BruteForce in the
// batcher, and the alert names the event.
func TestBruteForceAsRecorderEnricher(t *testing.T) {
	t.Parallel()
	alerts := make(chan activitylog.Alert, 4)
	bf := activitylog.NewBruteForce(&activitylog.BruteForceOptions{
		Threshold:   3,
		OnThreshold: func(a activitylog.Alert) { alerts <- a },
	})
	ctx, _, sink := syncRecorder(t, &activitylog.Options{Enrichers: []activitylog.Enricher{bf}})
	for i := 0; i < 3; i++ {
		if err := activitylog.LoginFailed(ctx, activitylog.Login{Username: "user" + strconv.Itoa(i), IP: "198.51.100.7"}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case a := <-alerts:
		es := sink.all()
		if a.Key != "198.51.100.7" || a.Event != es[len(es)-1].ID {
			t.Fatalf("alert = %+v, want the address and the third event's id", a)
		}
	default:
		t.Fatal("no alert after 3 failed logins")
	}
}

// pagedQuerier serves events two to a page whatever PageSize says, so
// that FailedLogins must follow cursors.
type pagedQuerier struct {
	events  []activitylog.Event
	filters []activitylog.Filter
}

func (q *pagedQuerier) Query(_ context.Context, f activitylog.Filter) (activitylog.Page, error) {
	q.filters = append(q.filters, f)
	start := 0
	if f.Cursor != "" {
		start, _ = strconv.Atoi(f.Cursor)
	}
	var match []activitylog.Event
	for _, e := range q.events {
		if e.Kind == f.Kind && e.Action == f.Action && !e.Time.Before(f.From) {
			match = append(match, e)
		}
	}
	end := min(start+2, len(match))
	p := activitylog.Page{Events: match[start:end]}
	if end < len(match) {
		p.Next = strconv.Itoa(end)
	}
	return p, nil
}

func (q *pagedQuerier) Get(context.Context, activitylog.ID) (activitylog.Event, error) {
	return activitylog.Event{}, activitylog.ErrNotFound
}

func (q *pagedQuerier) Count(context.Context, activitylog.Filter) (int64, error) { return 0, nil }

func TestFailedLoginsPagesAndAggregates(t *testing.T) {
	t.Parallel()
	now := time.Now()
	q := &pagedQuerier{}
	add := func(ago time.Duration, ip, user string) {
		q.events = append(q.events, failedLogin(now.Add(-ago), ip, user))
	}
	add(time.Minute, "192.0.2.1", "ann")
	add(2*time.Minute, "192.0.2.1", "ANN")
	add(3*time.Minute, "192.0.2.1", "bob")
	add(4*time.Minute, "192.0.2.2", "ann")
	add(5*time.Minute, "192.0.2.2", "")
	add(3*time.Hour, "192.0.2.2", "ann") // outside the window
	q.events = append(q.events, activitylog.Event{Kind: activitylog.KindAuth, Action: "login", Time: now, Request: activitylog.Request{RemoteIP: "192.0.2.2"}})

	got, err := activitylog.FailedLogins(context.Background(), q, time.Hour, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.filters) != 3 {
		t.Errorf("made %d queries, want 3 (5 events, 2 a page)", len(q.filters))
	}
	f := q.filters[0]
	if f.Kind != activitylog.KindAuth || f.Action != "login_failed" || now.Add(-time.Hour).Sub(f.From).Abs() > time.Minute {
		t.Errorf("filter = %+v", f)
	}
	type brief struct {
		typ, key string
		n        int
	}
	var short []brief
	for _, o := range got {
		short = append(short, brief{o.Type, o.Key, o.Failures})
	}
	want := []brief{{"ip", "192.0.2.1", 3}, {"username", "ann", 3}}
	if !reflect.DeepEqual(short, want) {
		t.Fatalf("FailedLogins = %+v, want %+v", short, want)
	}
	if !got[0].First.Equal(now.Add(-3*time.Minute)) || !got[0].Last.Equal(now.Add(-time.Minute)) {
		t.Errorf("first, last = %v, %v", got[0].First, got[0].Last)
	}

	if _, err := activitylog.FailedLogins(context.Background(), q, 0, 3); err == nil {
		t.Error("a zero window was accepted")
	}
}
