package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/activitylog/activitylog"
)

// An Annotator adds one member to each event that the API answers
// with: the lists (GET /api/v1/events, the per-kind lists, the object
// history, the failed logins, the critical and the slow requests) and
// the single event (GET /api/v1/events/{id} and its per-kind form).
// The integrityhttp package's Service is one: it adds "integrity", the
// event's seal status.
//
// Annotate is called once per answer, after the events were held to
// the principal, with the events in the order they are answered. It
// returns one JSON value per event, in the same order, or nil for an
// event that gets no member. It must not change or keep the slice,
// and may be called from several goroutines at once. Its error fails
// the answer with the error's category (ErrUnavailable: 503), so that
// a member is never silently left out.
type Annotator interface {
	// Member is the name of the member. It must not be a member of the
	// event's JSON form, nor another Annotator's.
	Member() string
	Annotate(ctx context.Context, events []activitylog.Event) ([]json.RawMessage, error)
}

// eventMembers are the members of an event's JSON form, which an
// Annotator may not take.
var eventMembers = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[activitylog.Event]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		m[name] = true
	}
	return m
}()

// checkAnnotators panics on an Annotator that cannot be served: nil, a
// member that is empty, taken by the event or by another Annotator, or
// that needs escaping in JSON. It is a programming error, as a nil
// Querier is.
func checkAnnotators(as []Annotator) {
	seen := map[string]bool{}
	for i, a := range as {
		if a == nil {
			panic(fmt.Sprintf("server.New: Options.Annotators[%d] is nil", i))
		}
		m := a.Member()
		q, _ := json.Marshal(m)
		switch {
		case m == "" || string(q) != `"`+m+`"`:
			panic(fmt.Sprintf("server.New: Options.Annotators[%d]: member %q must be a non-empty name that JSON writes as it is", i, m))
		case eventMembers[m]:
			panic(fmt.Sprintf("server.New: Options.Annotators[%d]: member %q is a member of the event", i, m))
		case seen[m]:
			panic(fmt.Sprintf("server.New: Options.Annotators[%d]: member %q is taken by another Annotator", i, m))
		}
		seen[m] = true
	}
}

// annotated is events with the members of the Annotators, ready for
// json.Marshal.
type annotated struct {
	events  []activitylog.Event
	members []string            // the Annotators' members
	values  [][]json.RawMessage // per Annotator, per event
}

// annotate returns what an answer holds for events: events itself when
// the server has no Annotator, else the events with their members.
func (s *server) annotate(ctx context.Context, events []activitylog.Event) (any, error) {
	if events == nil {
		events = []activitylog.Event{}
	}
	if len(s.annotators) == 0 {
		return events, nil
	}
	a := &annotated{events: events, members: make([]string, len(s.annotators)), values: make([][]json.RawMessage, len(s.annotators))}
	for i, an := range s.annotators {
		vs, err := an.Annotate(ctx, events)
		if err != nil {
			return nil, fmt.Errorf("annotate events with %s: %w", an.Member(), err)
		}
		if len(vs) != len(events) {
			return nil, fmt.Errorf("annotate events with %s: got %d values for %d events", an.Member(), len(vs), len(events))
		}
		a.members[i], a.values[i] = an.Member(), vs
	}
	return a, nil
}

// annotateOne is annotate for a single event.
func (s *server) annotateOne(ctx context.Context, e *activitylog.Event) (any, error) {
	if len(s.annotators) == 0 {
		return e, nil
	}
	a, err := s.annotate(ctx, []activitylog.Event{*e})
	if err != nil {
		return nil, err
	}
	return annotatedEvent{a.(*annotated), 0}, nil
}

// writeArray writes the events as a JSON array into buf, each as
// encoding/json writes it with the members added before its closing
// brace.
func (a *annotated) writeArray(buf *bytes.Buffer) error {
	enc := json.NewEncoder(buf)
	buf.WriteByte('[')
	for i := range a.events {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(&a.events[i]); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 2) // "}\n"
		first := buf.Bytes()[buf.Len()-1] == '{'
		for j, m := range a.members {
			v := a.values[j][i]
			if v == nil {
				continue
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			buf.WriteByte('"')
			buf.WriteString(m)
			buf.WriteString(`":`)
			buf.Write(v)
		}
		buf.WriteByte('}')
	}
	buf.WriteByte(']')
	return nil
}

// MarshalJSON writes the events as a JSON array.
func (a *annotated) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	if err := a.writeArray(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// annotatedEvent is one event of an annotated, as a detail answer.
type annotatedEvent struct {
	a *annotated
	i int
}

func (ae annotatedEvent) MarshalJSON() ([]byte, error) {
	one := &annotated{events: ae.a.events[ae.i : ae.i+1], members: ae.a.members, values: make([][]json.RawMessage, len(ae.a.values))}
	for j, vs := range ae.a.values {
		one.values[j] = vs[ae.i : ae.i+1]
	}
	var buf bytes.Buffer
	if err := one.writeArray(&buf); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return b[1 : len(b)-1], nil // without the brackets
}

// writeListAnswer answers a list. Annotated results are written into the
// answer as they are, rather than through a json.Marshaler, whose output
// encoding/json would scan once more: the rest of the answer is
// encoded first, with results null, which is its last member.
func (s *server) writeListAnswer(w http.ResponseWriter, a *listAnswer) {
	ann, ok := a.Results.(*annotated)
	if !ok {
		s.writeJSON(w, http.StatusOK, a)
		return
	}
	a.Results = nil
	head, err := json.Marshal(a)
	if err == nil && !bytes.HasSuffix(head, []byte(`"results":null}`)) {
		err = fmt.Errorf("the list answer does not end with its results: %.40q", head)
	}
	var buf bytes.Buffer
	if err == nil {
		buf.Grow(len(head) + 2048*len(ann.events))
		buf.Write(head[:len(head)-len("null}")])
		err = ann.writeArray(&buf)
	}
	if err != nil {
		s.log.Error("activitylog server: encode response", "err", err)
		s.writeError(w, http.StatusInternalServerError, apiError{Code: "internal", Message: "internal error"})
		return
	}
	buf.WriteString("}\n")
	writeJSONBytes(w, http.StatusOK, buf.Bytes())
}
