package eventjson

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/activitylog/activitylog"
)

// Decode decodes a stored document. The time comes from the store's
// time column, ns Unix nanoseconds, so that it is in UTC whatever zone
// the event was written in.
func Decode(data []byte, ns int64) (activitylog.Event, error) {
	var e activitylog.Event
	if err := json.Unmarshal(data, &e); err != nil {
		return e, err
	}
	e.Time = time.Unix(0, ns).UTC()
	return e, nil
}

// Refused turns an error from Append into the *activitylog.FieldError
// that names the field that could not be stored.
func Refused(err error) error {
	if e, ok := errors.AsType[*Error](err); ok {
		return activitylog.Invalid(e.Field(), e.Value, "cannot be stored as JSON: "+e.Err.Error())
	}
	return activitylog.Invalid("event", "", "cannot be stored as JSON: "+err.Error())
}
