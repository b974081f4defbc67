package activitylog

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Resolution records that someone dealt with an event: typically a
// system event (an error, a warning, a security signal) that an
// operator looked into. It is kept beside the event and never changes
// it: the stored event stays byte for byte what was written.
type Resolution struct {
	EventID    ID        `json:"event_id"`
	ResolvedBy string    `json:"resolved_by"`    // who resolved it; required, at most MaxShortField bytes
	ResolvedAt time.Time `json:"resolved_at"`    // when; the zero time means "now" to Resolve
	Note       string    `json:"note,omitempty"` // optional, at most MaxTextField bytes
}

// ErrNotResolved is returned by Resolver.Resolution for an event that
// exists but has no resolution. It wraps ErrNotFound, so that callers
// that only care whether there is a resolution need test for
// ErrNotFound alone, and those that must tell "no such event" from "not
// resolved" can test for ErrNotResolved first.
var ErrNotResolved = fmt.Errorf("not resolved: %w", ErrNotFound)

// Resolver records and reads back resolutions of stored events. Its
// methods may be called from several goroutines at once.
//
// Resolve stores r after checking it with Resolution.Validate, filling
// in a zero ResolvedAt with the current time first. It fails with an
// error wrapping ErrNotFound when no event has r.EventID, and with a
// *FieldError (wrapping ErrInvalid) for a refused field. Resolving an
// event again is allowed: every resolution is kept, none is changed or
// removed, and the one stored last is the event's resolution (the last
// to be stored, not the one with the latest ResolvedAt). Resolve never
// changes the event itself.
//
// Resolution returns the last resolution stored for the event with id.
// Its error wraps ErrNotFound both when no event has that id and when
// the event has no resolution; in the second case it also wraps
// ErrNotResolved.
type Resolver interface {
	Resolve(ctx context.Context, r Resolution) error
	Resolution(ctx context.Context, id ID) (Resolution, error)
}

// Validate reports the first field of r that is not acceptable, as a
// *FieldError wrapping ErrInvalid, named as in the JSON form
// ("resolved_by"). Like Event.Validate it fills in nothing: a zero
// ResolvedAt is accepted here, and Resolve sets it.
func (r *Resolution) Validate() error {
	if r.EventID.IsZero() {
		return invalid("event_id", "", "is required")
	}
	if strings.TrimSpace(r.ResolvedBy) == "" {
		return invalid("resolved_by", r.ResolvedBy, "is required")
	}
	if len(r.ResolvedBy) > MaxShortField {
		return invalid("resolved_by", truncate(r.ResolvedBy, 32), "is longer than "+strconv.Itoa(MaxShortField)+" bytes")
	}
	if len(r.Note) > MaxTextField {
		return invalid("note", truncate(r.Note, 32), "is longer than "+strconv.Itoa(MaxTextField)+" bytes")
	}
	if t := r.ResolvedAt; !t.IsZero() && (t.Before(MinTime) || !t.Before(MaxTime)) {
		return invalid("resolved_at", t.Format(time.RFC3339Nano), "must be between 1970 and 2200")
	}
	return nil
}
