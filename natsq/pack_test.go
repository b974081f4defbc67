package natsq

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// unpack decodes every message as the Worker does, without a server.
func unpack(t *testing.T, msgs []outMsg) []activitylog.Event {
	t.Helper()
	var out []activitylog.Event
	for _, m := range msgs {
		var items []item
		items = split(items, 0, m.msg.Header, m.msg.Data)
		if len(items) != m.events {
			t.Fatalf("message on %s splits into %d events, packed %d", m.msg.Subject, len(items), m.events)
		}
		for _, it := range items {
			var e activitylog.Event
			if it.err != nil {
				t.Fatal(it.err)
			}
			if err := decodeEvent(it.data, &e); err != nil {
				t.Fatalf("line %d: %v", it.line, err)
			}
			out = append(out, e)
		}
	}
	return out
}

func TestPackMessages(t *testing.T) {
	t.Parallel()
	evs := events(1000) // 8 kinds in turn: 125 of each
	lim := packLimits{events: 100, bytes: 256 << 10, maxPayload: 1 << 20}
	msgs, err := packMessages(evs, "p", lim)
	if err != nil {
		t.Fatal(err)
	}
	// Per kind: a pack of 100 and a pack of 25.
	if len(msgs) != 16 {
		t.Fatalf("%d messages, want 16", len(msgs))
	}
	for _, m := range msgs {
		if m.events != 100 && m.events != 25 || m.msg.Header.Get(HeaderPack) != PackVersion || m.msg.Header.Get(HeaderEvents) != strconv.Itoa(m.events) {
			t.Errorf("message on %s: %d events, headers %v", m.msg.Subject, m.events, m.msg.Header)
		}
		if id := m.msg.Header.Get(jetstream.MsgIDHeader); len(id) != 64 {
			t.Errorf("msg id %q is not a hex SHA-256", id)
		}
	}
	got := unpack(t, msgs)
	if len(got) != len(evs) {
		t.Fatalf("%d events unpacked, want %d", len(got), len(evs))
	}
	byID := map[activitylog.ID]activitylog.Event{}
	for _, e := range got {
		byID[e.ID] = e
	}
	for _, e := range evs {
		g, ok := byID[e.ID]
		if !ok || g.Kind != e.Kind || g.Message != e.Message || !g.Time.Equal(e.Time) {
			t.Fatalf("event %s unpacked as %+v", e.ID, g)
		}
	}
	for _, m := range msgs { // the subject carries the kind of every event
		for _, l := range splitPack(m.msg.Data) {
			var e activitylog.Event
			_ = json.Unmarshal(l, &e)
			if m.msg.Subject != "p.events."+string(e.Kind) {
				t.Fatalf("%s event on %s", e.Kind, m.msg.Subject)
			}
		}
	}

	// The same batch packs into the same messages (a retry is dropped by
	// JetStream); another order, into others.
	again, _ := packMessages(evs, "p", lim)
	for i := range msgs {
		if again[i].msg.Header.Get(jetstream.MsgIDHeader) != msgs[i].msg.Header.Get(jetstream.MsgIDHeader) || string(again[i].msg.Data) != string(msgs[i].msg.Data) {
			t.Fatal("packing is not deterministic")
		}
	}
	swapped := append([]activitylog.Event(nil), evs...)
	swapped[0], swapped[8] = swapped[8], swapped[0]
	other, _ := packMessages(swapped, "p", lim)
	if other[0].msg.Header.Get(jetstream.MsgIDHeader) == msgs[0].msg.Header.Get(jetstream.MsgIDHeader) {
		t.Error("packs of the same events in another order share a msg id")
	}

	// MessageEvents 1: today's single-event messages.
	single, _ := packMessages(evs[:10], "p", packLimits{events: 1, bytes: 256 << 10})
	if len(single) != 10 {
		t.Fatalf("%d messages, want 10", len(single))
	}
	for i, m := range single {
		if m.msg.Header.Get(jetstream.MsgIDHeader) != evs[i].ID.String() || m.msg.Header.Get(HeaderPack) != "" {
			t.Errorf("single message %d headers %v", i, m.msg.Header)
		}
	}
}

// MessageBytes bounds a pack; an event larger than it goes alone; one
// larger than the max payload refuses the batch, naming it.
func TestPackMessagesBytes(t *testing.T) {
	t.Parallel()
	evs := events(40)
	for i := range evs {
		evs[i].Kind = activitylog.KindCustom
		evs[i].Action = "x"
	}
	evs[5].Message = strings.Repeat("m", 5000)
	lim := packLimits{events: 100, bytes: 4096, maxPayload: 1 << 20}
	msgs, err := packMessages(evs, "p", lim)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		n += m.events
		if len(m.msg.Data) > lim.bytes && m.events != 1 {
			t.Errorf("a pack of %d events is %d bytes, more than %d", m.events, len(m.msg.Data), lim.bytes)
		}
		if strings.Contains(string(m.msg.Data), evs[5].Message) && (m.events != 1 || m.msg.Header.Get(jetstream.MsgIDHeader) != evs[5].ID.String()) {
			t.Errorf("the large event shares a message of %d events", m.events)
		}
	}
	if n != len(evs) || len(unpack(t, msgs)) != len(evs) {
		t.Errorf("%d events packed, want %d", n, len(evs))
	}
	// The max payload caps MessageBytes.
	capped, _ := packMessages(evs, "p", packLimits{events: 100, bytes: 1 << 20, maxPayload: headerRoom + 6000})
	for _, m := range capped {
		if len(m.msg.Data)+headerRoom > headerRoom+6000 {
			t.Errorf("message of %d bytes above the max payload", len(m.msg.Data))
		}
	}
	_, err = packMessages(evs, "p", packLimits{events: 100, bytes: 4096, maxPayload: 4096})
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) || fe.Value != evs[5].ID.String() || !strings.Contains(fe.Reason, "max payload") {
		t.Fatalf("err = %v, want a FieldError naming event %s", err, evs[5].ID)
	}
}

// A packed message with one line that is not a valid event: the others
// are stored with an ingest_rejected report in its place, and the
// message is acknowledged once all of them are committed. A pack whose
// count header disagrees with its lines is reported too.
func TestWorkerPackWithBadEvent(t *testing.T) {
	nc := sharedNATS(t)
	stream, prefix := names(t, nc)
	newPublisher(t, nc, &PublisherOptions{Stream: stream, Prefix: prefix})
	js := newJS(t, nc)
	ctx := context.Background()
	good := events(3)
	var lines []string
	for i := range good {
		d, _ := json.Marshal(&good[i])
		lines = append(lines, string(d))
	}
	body := lines[0] + "\n" + `{"id":"not an id"}` + "\n" + lines[1]
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: prefix + ".events.crud", Data: []byte(body),
		Header: nats.Header{HeaderPack: []string{"1"}, HeaderEvents: []string{"3"}, jetstream.MsgIDHeader: []string{"a"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: prefix + ".events.crud", Data: []byte(lines[2]),
		Header: nats.Header{HeaderPack: []string{"1"}, HeaderEvents: []string{"2"}, jetstream.MsgIDHeader: []string{"b"}}}); err != nil {
		t.Fatal(err)
	}
	store := newMemStore()
	w := newWorker(t, nc, store, &WorkerOptions{Stream: stream, Prefix: prefix})
	stop := runWorker(t, w)
	eventually(t, 20*time.Second, "both messages handled", func() bool { s := w.Stats(); return s.Acked+s.Terminated == 2 })
	stop()
	if s := w.Stats(); s.Acked != 2 || s.Terminated != 0 || s.Rejected != 2 || s.Written != 5 {
		t.Errorf("stats = %+v, want 2 acked, 2 rejected, 5 written", s)
	}
	for _, e := range good {
		if !store.has(e.ID) {
			t.Errorf("valid event %s of a pack is not stored", e.ID)
		}
	}
	var reports []string
	for _, e := range store.stored {
		if e.Category == CategoryIngestRejected {
			if err := e.Validate(); err != nil {
				t.Errorf("report invalid: %v", err)
			}
			reports = append(reports, e.Message)
		}
	}
	if len(reports) != 2 {
		t.Fatalf("reports = %q, want 2", reports)
	}
	c, err := js.Consumer(ctx, stream, DefaultConsumer)
	if err != nil {
		t.Fatal(err)
	}
	if ci, err := c.Info(ctx); err != nil || ci.NumAckPending != 0 || ci.NumPending != 0 {
		t.Errorf("consumer info %+v, %v: want nothing pending", ci, err)
	}
}

// An event larger than the server's max payload is refused with a
// FieldError naming it; the Recorder, bisecting the refusal, stores
// every other event of the batch and counts that one failed.
func TestPublishRefusesEventOverMaxPayload(t *testing.T) {
	nc := sharedNATS(t)
	stream, prefix := names(t, nc)
	p := newPublisher(t, nc, &PublisherOptions{Stream: stream, Prefix: prefix})
	huge := strings.Repeat("h", int(nc.MaxPayload())+1)
	batch := events(20)
	batch[7].Extra = map[string]any{"blob": huge}
	err := p.Write(context.Background(), batch)
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) || fe.Value != batch[7].ID.String() || !errors.Is(err, activitylog.ErrInvalid) {
		t.Fatalf("err = %v, want a FieldError naming event %s", err, batch[7].ID)
	}
	st, _ := newJS(t, nc).Stream(context.Background(), stream)
	if info, _ := st.Info(context.Background()); info.State.Msgs != 0 {
		t.Fatalf("%d messages published from a refused batch", info.State.Msgs)
	}

	rec := activitylog.NewRecorder(p, &activitylog.Options{BatchSize: 100, FlushInterval: time.Hour})
	for i := range 20 {
		e := activitylog.Event{Kind: activitylog.KindCustom, Action: "tick", Message: "e" + strconv.Itoa(i)}
		if i == 7 {
			e.Extra = map[string]any{"blob": huge}
		}
		if err := rec.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := rec.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if s := rec.Stats(); s.Failed != 1 {
		t.Errorf("recorder stats = %+v, want 1 failed", s)
	}
	store := newMemStore()
	runWorker(t, newWorker(t, nc, store, &WorkerOptions{Stream: stream, Prefix: prefix}))
	eventually(t, 20*time.Second, "the other 19 events stored", func() bool { return store.len() >= 19 })
	store.mu.Lock()
	defer store.mu.Unlock()
	n := 0
	for _, e := range store.stored {
		if e.Kind == activitylog.KindCustom && e.Action == "tick" {
			n++
			if e.Message == "e7" {
				t.Error("the oversized event is stored")
			}
		}
	}
	if n != 19 {
		t.Errorf("%d recorded events stored, want 19", n)
	}
}

// The worker's reading of a pack matches encoding/json line by line:
// each line is decoded, or refused, exactly as a single-event message
// with that body would be.
func FuzzDecodePack(f *testing.F) {
	r := rand.New(rand.NewPCG(7, 8))
	var evs []activitylog.Event
	for range 4 {
		evs = append(evs, richEvent(r))
	}
	msgs, _ := packMessages(evs, "p", packLimits{events: 100, bytes: 1 << 20})
	f.Add(msgs[0].msg.Data, "1", "4")
	f.Add([]byte(`{"id":"x"}`+"\n\n"), "1", "3")
	f.Add([]byte("a"), "2", "1")
	f.Fuzz(func(t *testing.T, body []byte, version, count string) {
		items := split(nil, 0, nats.Header{HeaderPack: []string{version}, HeaderEvents: []string{count}}, body)
		switch {
		case version == "": // a single-event message
			if len(items) != 1 || items[0].err != nil || items[0].line != -1 {
				t.Fatalf("single message: items %+v", items)
			}
			return
		case version != PackVersion:
			if len(items) != 1 || items[0].err == nil {
				t.Fatalf("unknown version %q: items %+v", version, items)
			}
			return
		}
		lines := strings.Split(string(body), "\n")
		extra := 0
		if count != strconv.Itoa(len(lines)) {
			extra = 1
		}
		if len(items) != len(lines)+extra {
			t.Fatalf("%d items for %d lines (count %q)", len(items), len(lines), count)
		}
		for k, l := range lines {
			var got, std activitylog.Event
			err := decodeEvent(items[k].data, &got)
			serr := json.Unmarshal([]byte(l), &std)
			if serr == nil {
				serr = std.Validate()
			}
			if (err == nil) != (serr == nil) {
				t.Fatalf("line %d: decodeEvent err %v, encoding/json %v", k, err, serr)
			}
			if err == nil && !reflect.DeepEqual(mustJSON(&got), mustJSON(&std)) {
				t.Fatalf("line %d decoded differently", k)
			}
		}
	})
}

func mustJSON(e *activitylog.Event) string {
	b, _ := json.Marshal(e)
	return string(b)
}
