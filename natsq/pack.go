package natsq

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/activitylog/activitylog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of a packed message.
const (
	// HeaderPack marks a message that packs several events; its value is
	// the format version, PackVersion.
	HeaderPack = "Activitylog-Pack"
	// HeaderEvents is the number of events a packed message holds.
	HeaderEvents = "Activitylog-Events"
	// PackVersion is the packed format this package writes and reads:
	// the body is the events' compact JSON forms, one per line, joined
	// by "\n" (no trailing newline).
	PackVersion = "1"
)

// headerRoom is what the headers of a message may take at most, kept
// free of the connection's max payload, which counts headers too.
const headerRoom = 512

// outMsg is one message a Write publishes and the number of events it
// carries.
type outMsg struct {
	msg    nats.Msg
	events int
}

// packLimits are the bounds of one packed message.
type packLimits struct {
	events     int   // most events in one message
	bytes      int   // most body bytes in one packed message
	maxPayload int64 // the connection's max payload, headers included
}

// packMessages encodes events and packs them into messages: the events
// of one kind, in the order of the batch, fill a message up to
// lim.events events and lim.bytes bytes, and go to
// <prefix>.events.<kind>. A message that holds one event is today's
// single-event form (the body is the event, Nats-Msg-Id its id); one
// that holds more carries HeaderPack, HeaderEvents and, as Nats-Msg-Id,
// the hex SHA-256 of its events' ids in order, so the same batch packs
// into the same messages again and JetStream drops a retry. An event
// that JSON cannot hold, or whose message would exceed the max payload,
// refuses the batch with an *activitylog.FieldError naming it.
func packMessages(events []activitylog.Event, prefix string, lim packLimits) ([]outMsg, error) {
	type open struct {
		kind activitylog.Kind
		idx  []int // events of the pack, by index in events
		size int   // body bytes so far
	}
	data := make([][]byte, len(events))
	for i := range events {
		e := &events[i]
		d, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("publish event %s: %w", e.ID, activitylog.Invalid("event", e.ID.String(), "cannot be encoded as JSON: "+err.Error()))
		}
		if lim.maxPayload > 0 && int64(len(d)+headerRoom) > lim.maxPayload {
			return nil, fmt.Errorf("publish event %s: %w", e.ID, activitylog.Invalid("event", e.ID.String(),
				fmt.Sprintf("is %d bytes as JSON, more than the NATS server's max payload of %d bytes", len(d), lim.maxPayload)))
		}
		data[i] = d
	}
	maxBytes := lim.bytes
	if lim.maxPayload > 0 {
		maxBytes = int(min(int64(maxBytes), lim.maxPayload-headerRoom))
	}
	out := make([]outMsg, 0, len(events)/max(lim.events, 1)+len(activitylog.Kinds))
	flush := func(p *open) {
		if len(p.idx) == 0 {
			return
		}
		subject := prefix + ".events." + string(p.kind)
		if len(p.idx) == 1 {
			i := p.idx[0]
			out = append(out, outMsg{events: 1, msg: nats.Msg{
				Subject: subject, Data: data[i],
				Header: nats.Header{jetstream.MsgIDHeader: []string{events[i].ID.String()}},
			}})
		} else {
			body := make([]byte, 0, p.size)
			h := sha256.New()
			for k, i := range p.idx {
				if k > 0 {
					body = append(body, '\n')
				}
				body = append(body, data[i]...)
				h.Write(events[i].ID[:])
			}
			out = append(out, outMsg{events: len(p.idx), msg: nats.Msg{
				Subject: subject, Data: body,
				Header: nats.Header{
					jetstream.MsgIDHeader: []string{hex.EncodeToString(h.Sum(nil))},
					HeaderPack:            []string{PackVersion},
					HeaderEvents:          []string{strconv.Itoa(len(p.idx))},
				},
			}})
		}
		p.idx, p.size = nil, 0
	}
	var packs []*open // one per kind, in the order the kinds first appear
	for i := range events {
		var p *open
		for _, q := range packs {
			if q.kind == events[i].Kind {
				p = q
				break
			}
		}
		if p == nil {
			p = &open{kind: events[i].Kind}
			packs = append(packs, p)
		}
		n := len(data[i])
		if len(p.idx) > 0 && (len(p.idx) >= lim.events || p.size+1+n > maxBytes) {
			flush(p)
		}
		if len(p.idx) > 0 {
			p.size++ // the newline
		}
		p.idx = append(p.idx, i)
		p.size += n
		if n >= maxBytes || len(p.idx) >= lim.events {
			flush(p) // an event as large as a message goes alone
		}
	}
	for _, p := range packs {
		flush(p)
	}
	return out, nil
}

// splitPack returns the lines of a packed message's body: one event's
// JSON each, not yet decoded. A body that is empty holds one empty
// line, which is not an event.
func splitPack(body []byte) [][]byte {
	lines := make([][]byte, 0, bytes.Count(body, []byte{'\n'})+1)
	for {
		i := bytes.IndexByte(body, '\n')
		if i < 0 {
			return append(lines, body)
		}
		lines = append(lines, body[:i])
		body = body[i+1:]
	}
}

// packCount returns the event count a message declares: 1 for a
// single-event message, HeaderEvents for a packed one (1 when missing
// or not a positive number). The Worker sizes its batches by it.
func packCount(h nats.Header) int {
	if h == nil || h.Get(HeaderPack) == "" {
		return 1
	}
	n, err := strconv.Atoi(h.Get(HeaderEvents))
	if err != nil || n < 1 {
		return 1
	}
	return n
}
