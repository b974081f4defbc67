package mongo_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/mongo"
)

// purger returns s as an activitylog.Purger, failing t when it is not
// one.
func purger(t *testing.T, s *mongo.Store) activitylog.Purger {
	t.Helper()
	p, ok := any(s).(activitylog.Purger)
	if !ok {
		t.Fatalf("%T does not implement activitylog.Purger", s)
	}
	return p
}

// purgeEvent returns a small event of kind k and tenant at t, with
// category cat (the records of purges are system events of category
// retention).
func purgeEvent(t time.Time, k activitylog.Kind, tenant, cat string) activitylog.Event {
	action := "create"
	switch k {
	case activitylog.KindSystem:
		action = "security"
	case activitylog.KindAuth:
		action = "login"
	}
	return activitylog.Event{ID: activitylog.NewID(t), Time: t, Kind: k, Action: action, Tenant: tenant,
		Category: cat, Severity: activitylog.SeverityWarning, Message: "purge test"}
}

// writeBatches writes es in batches of 2000, as a Recorder would.
func writeBatches(t *testing.T, s *mongo.Store, es []activitylog.Event) {
	t.Helper()
	for i := 0; i < len(es); i += 2000 {
		if err := s.Write(ctx, es[i:min(i+2000, len(es))]); err != nil {
			t.Fatal(err)
		}
	}
}

// wantPurge runs p.Purge(r) and fails t unless it deleted exactly want,
// by kind.
func wantPurge(t *testing.T, p activitylog.Purger, r activitylog.PurgeRequest, want map[activitylog.Kind]int64) {
	t.Helper()
	res, err := p.Purge(ctx, r)
	if err != nil {
		t.Fatalf("Purge(%+v): %v", r, err)
	}
	got := maps.Clone(res.ByKind)
	maps.DeleteFunc(got, func(_ activitylog.Kind, n int64) bool { return n == 0 })
	var n int64
	for _, c := range want {
		n += c
	}
	if res.Deleted != n || !maps.Equal(got, want) || res.KeptSealed != 0 || res.Pruned != 0 {
		t.Fatalf("Purge(%+v) = %+v, want deleted %d by kind %v", r, res, n, want)
	}
}

// TestPurge purges by kind and tenant, then every tenant: exact counts
// by kind, the records of purges and the events at or after the cut
// kept, the purged events' latest resolutions deleted and the
// resolution log kept.
func TestPurge(t *testing.T) {
	uri := serverURI(t)
	db := randomName()
	raw := rawDatabase(t, uri, db)
	s, err := mongo.Open(ctx, uri, &mongo.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := purger(t, s)

	cut := time.Date(2025, 6, 1, 12, 0, 0, 500, time.UTC)
	var es []activitylog.Event
	add := func(at time.Time, k activitylog.Kind, tenant, cat string) activitylog.Event {
		e := purgeEvent(at, k, tenant, cat)
		es = append(es, e)
		return e
	}
	for i := range 6 {
		at := cut.Add(-time.Duration(i+1) * time.Hour)
		for _, tenant := range []string{"acme", "globex", ""} {
			add(at, activitylog.KindCRUD, tenant, "")
			add(at.Add(time.Second), activitylog.KindAuth, tenant, "")
			add(at.Add(2*time.Second), activitylog.KindSystem, tenant, "disk")
			add(at.Add(3*time.Second), activitylog.KindSystem, tenant, activitylog.CategoryRetention)
		}
	}
	atCut := add(cut, activitylog.KindCRUD, "acme", "")
	after := add(cut.Add(time.Nanosecond), activitylog.KindAuth, "globex", "")
	retention := es[3]    // acme's record of a purge, before the cut
	crudAcme := es[0]     // purged by the first request
	authGlobex := es[4+1] // purged only by the all-tenants one
	writeBatches(t, s, es)
	for _, e := range []activitylog.Event{crudAcme, authGlobex, retention, atCut} {
		if err := s.Resolve(ctx, activitylog.Resolution{EventID: e.ID, ResolvedBy: "ann", Note: "seen"}); err != nil {
			t.Fatal(err)
		}
	}

	// acme's crud and system events (not its records of purges).
	wantPurge(t, p, activitylog.PurgeRequest{Before: cut, Tenant: "acme",
		Kinds: []activitylog.Kind{activitylog.KindCRUD, activitylog.KindSystem}},
		map[activitylog.Kind]int64{activitylog.KindCRUD: 6, activitylog.KindSystem: 6})
	if _, err := s.Get(ctx, crudAcme.ID); !errors.Is(err, activitylog.ErrNotFound) {
		t.Fatalf("Get of a purged event: %v, want ErrNotFound", err)
	}
	if _, err := s.Resolution(ctx, crudAcme.ID); !errors.Is(err, activitylog.ErrNotFound) || errors.Is(err, activitylog.ErrNotResolved) {
		t.Fatalf("Resolution of a purged event: %v, want ErrNotFound (no such event)", err)
	}
	if _, err := s.Resolution(ctx, authGlobex.ID); err != nil {
		t.Fatalf("Resolution of an event another tenant's purge kept: %v", err)
	}
	// The events of no tenant, of one kind.
	wantPurge(t, p, activitylog.PurgeRequest{Before: cut, Kinds: []activitylog.Kind{activitylog.KindAuth}},
		map[activitylog.Kind]int64{activitylog.KindAuth: 6})
	// Every tenant: what is left before the cut but the records of purges.
	wantPurge(t, p, activitylog.PurgeRequest{Before: cut, AllTenants: true},
		map[activitylog.Kind]int64{activitylog.KindCRUD: 12, activitylog.KindAuth: 12, activitylog.KindSystem: 12})
	wantPurge(t, p, activitylog.PurgeRequest{Before: cut, AllTenants: true}, map[activitylog.Kind]int64{})

	n, err := s.Count(ctx, activitylog.Filter{})
	if err != nil || n != 18+2 {
		t.Fatalf("Count after the purges = %d, %v; want the 18 records of purges and the 2 events at and after the cut", n, err)
	}
	for _, e := range []activitylog.Event{retention, atCut, after} {
		if _, err := s.Get(ctx, e.ID); err != nil {
			t.Fatalf("Get(%s %s at %s) after the purges: %v, want it kept", e.Kind, e.Category, e.Time.Format(time.RFC3339Nano), err)
		}
	}
	for _, e := range []activitylog.Event{retention, atCut} {
		if r, err := s.Resolution(ctx, e.ID); err != nil || r.ResolvedBy != "ann" {
			t.Fatalf("Resolution of a kept event = %+v, %v", r, err)
		}
	}
	if n, err := raw.Collection(mongo.DefaultResolutions).CountDocuments(ctx, bson.D{}); err != nil || n != 2 {
		t.Fatalf("latest resolutions left = %d, %v; want the 2 of the kept events", n, err)
	}
	if n, err := raw.Collection(mongo.DefaultResolutions+"_log").CountDocuments(ctx, bson.D{}); err != nil || n != 4 {
		t.Fatalf("resolution log = %d, %v; want every resolution (4) kept", n, err)
	}
}

// TestPurgeManyBatches purges more than two batches' worth of events
// (5000 each) of one tenant, among events of another tenant and after
// the cut that it keeps.
func TestPurgeManyBatches(t *testing.T) {
	s := open(t, nil)
	p := purger(t, s)
	cut := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	const n = 10_321
	ks := []activitylog.Kind{activitylog.KindCRUD, activitylog.KindAuth, activitylog.KindSystem}
	es := make([]activitylog.Event, 0, n+300)
	want := map[activitylog.Kind]int64{}
	for i := range n {
		k := ks[i%len(ks)]
		es = append(es, purgeEvent(cut.Add(-time.Duration(i+1)*time.Second), k, "acme", "disk"))
		want[k]++
	}
	for i := range 100 {
		es = append(es,
			purgeEvent(cut.Add(-time.Duration(i+1)*time.Second), activitylog.KindCRUD, "globex", ""),
			purgeEvent(cut.Add(time.Duration(i)*time.Second), activitylog.KindCRUD, "acme", ""),
			purgeEvent(cut.Add(-time.Duration(i+1)*time.Second), activitylog.KindSystem, "acme", activitylog.CategoryRetention))
	}
	writeBatches(t, s, es)
	wantPurge(t, p, activitylog.PurgeRequest{Before: cut, Tenant: "acme"}, want)
	if got, err := s.Count(ctx, activitylog.Filter{}); err != nil || got != 300 {
		t.Fatalf("Count after the purge = %d, %v; want 300", got, err)
	}
	if got, err := s.Count(ctx, activitylog.Filter{Tenant: "acme", To: cut}); err != nil || got != 100 {
		t.Fatalf("acme's events before the cut = %d, %v; want its 100 records of purges", got, err)
	}
}

// TestPurgeClamps: a Before past the last Unix nanosecond deletes every
// event (but the records of purges); one before the first deletes none.
func TestPurgeClamps(t *testing.T) {
	s := open(t, nil)
	p := purger(t, s)
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	writeBatches(t, s, []activitylog.Event{
		purgeEvent(t0, activitylog.KindCRUD, "", ""),
		purgeEvent(t0, activitylog.KindSystem, "", activitylog.CategoryRetention),
		purgeEvent(time.Date(2261, 1, 1, 0, 0, 0, 0, time.UTC), activitylog.KindAuth, "", ""),
	})
	wantPurge(t, p, activitylog.PurgeRequest{Before: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), AllTenants: true},
		map[activitylog.Kind]int64{})
	wantPurge(t, p, activitylog.PurgeRequest{Before: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), AllTenants: true},
		map[activitylog.Kind]int64{activitylog.KindCRUD: 1, activitylog.KindAuth: 1})
	if got, err := s.Count(ctx, activitylog.Filter{}); err != nil || got != 1 {
		t.Fatalf("Count = %d, %v; want the record of a purge", got, err)
	}
}

// TestPurgeRefuses: a bad request is a FieldError naming the field, a
// read-only store refuses naming read_only, a closed store is
// unavailable and an ended context is its error; none deletes anything.
func TestPurgeRefuses(t *testing.T) {
	uri := serverURI(t)
	db := randomName()
	rawDatabase(t, uri, db)
	w, err := mongo.Open(ctx, uri, &mongo.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	writeBatches(t, w, []activitylog.Event{purgeEvent(t0, activitylog.KindCRUD, "", ""), purgeEvent(t0, activitylog.KindAuth, "x", "")})
	all := activitylog.PurgeRequest{Before: t0.Add(time.Hour), AllTenants: true}
	p := purger(t, w)

	_, err = p.Purge(ctx, activitylog.PurgeRequest{AllTenants: true})
	wantFieldError(t, "Purge with a zero before", err, "before", "")
	_, err = p.Purge(ctx, activitylog.PurgeRequest{Before: all.Before, Kinds: []activitylog.Kind{activitylog.KindCRUD, "weather"}})
	wantFieldError(t, "Purge of an unknown kind", err, "kinds", "weather")

	r, err := mongo.Open(ctx, uri, &mongo.Options{Database: db, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = purger(t, r).Purge(ctx, all)
	wantFieldError(t, "Purge through a read-only store", err, "read_only", "true")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Purge(cctx, all); !errors.Is(err, context.Canceled) {
		t.Fatalf("Purge with an ended context: %v, want context.Canceled", err)
	}
	if got, err := w.Count(ctx, activitylog.Filter{}); err != nil || got != 2 {
		t.Fatalf("Count after the refused purges = %d, %v; want 2", got, err)
	}

	c, err := mongo.Open(ctx, uri, &mongo.Options{Database: db, SkipIndexes: true})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := purger(t, c).Purge(ctx, all); !errors.Is(err, activitylog.ErrUnavailable) {
		t.Fatalf("Purge on a closed store: %v, want ErrUnavailable", err)
	}
}

// holdingProxy forwards connections to a MongoDB server, and can hold
// the next delete command a client sends until the test releases it:
// the server then carries out a command whose client may have given up.
type holdingProxy struct {
	addr    string
	server  string
	arm     chan struct{} // a value: hold the next delete
	held    chan struct{} // a value when a delete is held
	release chan struct{} // closed: send the held delete on
	done    chan struct{} // closed when the server answered the held delete
}

func newHoldingProxy(t *testing.T, server string) *holdingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdingProxy{addr: l.Addr().String(), server: server, arm: make(chan struct{}, 1),
		held: make(chan struct{}, 1), release: make(chan struct{}), done: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(c) })
		}
	})
	return p
}

// serve forwards one client connection, message by message from the
// client (so that a delete can be held), as it comes from the server.
func (p *holdingProxy) serve(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.server)
	if err != nil {
		return
	}
	answered := make(chan struct{}, 1) // a value when the server sent a reply to the held delete
	var waiting atomic.Bool
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 && waiting.CompareAndSwap(true, false) {
				answered <- struct{}{}
			}
			if err != nil {
				client.Close()
				return
			}
			client.Write(buf[:n]) // the client may have gone: the reply is dropped
		}
	}()
	defer server.Close()
	for {
		var head [4]byte
		if _, err := io.ReadFull(client, head[:]); err != nil {
			return
		}
		msg := make([]byte, binary.LittleEndian.Uint32(head[:]))
		copy(msg, head[:])
		if _, err := io.ReadFull(client, msg[4:]); err != nil {
			return
		}
		if bytes.Contains(msg, []byte("\x02delete\x00")) {
			select {
			case <-p.arm:
				p.held <- struct{}{}
				<-p.release
				waiting.Store(true)
				if _, err := server.Write(msg); err != nil {
					return
				}
				select {
				case <-answered:
				case <-time.After(10 * time.Second):
				}
				close(p.done)
				continue
			default:
			}
		}
		if _, err := server.Write(msg); err != nil {
			return
		}
	}
}

// TestPurgeCancelledWhileDeleting: a purge whose context ends while its
// delete is on its way to the server, which carries it out all the
// same, counts what that delete deleted.
func TestPurgeCancelledWhileDeleting(t *testing.T) {
	uri := serverURI(t)
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newHoldingProxy(t, u.Host)
	u.Host = proxy.addr
	db := randomName()
	s, err := mongo.Open(ctx, u.String(), &mongo.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Drop(ctx); err != nil {
			t.Errorf("drop test database %s: %v", db, err)
		}
		s.Close()
	})
	cut := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	var es []activitylog.Event
	for i := range 40 {
		es = append(es, purgeEvent(cut.Add(-time.Duration(i+1)*time.Hour), activitylog.KindCRUD, "acme", ""))
	}
	writeBatches(t, s, es)

	proxy.arm <- struct{}{}
	c, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		res activitylog.PurgeResult
		err error
	}
	purged := make(chan result, 1)
	go func() {
		res, err := purger(t, s).Purge(c, activitylog.PurgeRequest{Before: cut, AllTenants: true})
		purged <- result{res, err}
	}()
	<-proxy.held
	cancel()
	// The client gives up (unless the purge waits for its delete); then
	// the server gets the delete.
	time.Sleep(100 * time.Millisecond)
	close(proxy.release)
	<-proxy.done
	got := <-purged
	// Done (the delete was the round's last) or the context's error.
	if got.err != nil && !errors.Is(got.err, context.Canceled) {
		t.Errorf("Purge with a context that ends = %+v, %v, want the context's error or none", got.res, got.err)
	}
	left, err := s.Count(ctx, activitylog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if left+got.res.Deleted != int64(len(es)) {
		t.Fatalf("Purge cut off by its context reported %+v deleted; %d of %d events are left", got.res, left, len(es))
	}
}

// TestResolutionOfGoneEvent: a latest resolution left behind for an
// event that is gone (a Resolve that raced a Purge, or a Purge that
// stopped between deleting the events and their resolutions) is not an
// answer: Resolution says ErrNotFound, as for any unknown event.
func TestResolutionOfGoneEvent(t *testing.T) {
	uri := serverURI(t)
	db := randomName()
	raw := rawDatabase(t, uri, db)
	s, err := mongo.Open(ctx, uri, &mongo.Options{Database: db})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e := purgeEvent(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), activitylog.KindCRUD, "acme", "")
	if err := s.Write(ctx, []activitylog.Event{e}); err != nil {
		t.Fatal(err)
	}
	if err := s.Resolve(ctx, activitylog.Resolution{EventID: e.ID, ResolvedBy: "ann", ResolvedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Collection(mongo.DefaultCollection).DeleteOne(ctx, bson.D{{Key: "_id", Value: e.ID.String()}}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Resolution(ctx, e.ID); !errors.Is(err, activitylog.ErrNotFound) || errors.Is(err, activitylog.ErrNotResolved) {
		t.Errorf("Resolution of a gone event = %+v, %v; want ErrNotFound", r, err)
	}
}
