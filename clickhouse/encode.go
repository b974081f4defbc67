package clickhouse

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
)

// The data column holds what the other columns do not of each event:
// its JSON form without the fields that have columns or are in attrs
// (appendRest), written by eventjson.AppendOptional, the encoder of the
// SQL stores, byte for byte what encoding/json writes.

// appendRest appends the JSON document of what the data column keeps
// of e: e without the fields that have columns of their own or are in
// attrs (see schema.go), which eventRow.event takes back from those. Its keys
// are those of the event's JSON form.
func appendRest(b []byte, e *activitylog.Event) ([]byte, error) {
	r := rest(e)
	return eventjson.AppendOptional(b, &r)
}

// rest returns a copy of e without the fields that have columns of
// their own or are in attrs.
func rest(e *activitylog.Event) activitylog.Event {
	r := *e
	r.ID, r.Time, r.Kind, r.Action, r.Severity = activitylog.ID{}, time.Time{}, "", "", ""
	r.Message, r.Tenant, r.Tool, r.Category = "", "", "", ""
	r.Actor.ID, r.Actor.Name = "", ""
	r.Object = activitylog.Object{}
	q := &r.Request
	q.Method, q.Path, q.RemoteIP, q.Origin, q.Geo.Country, q.Geo.CountryCode = "", "", "", "", "", ""
	r.Response.Status, r.Response.Duration = 0, 0
	return r
}

// checkGeo refuses coordinates that JSON cannot hold: NaN and the
// infinities, which Event.Validate lets through.
func checkGeo(g *activitylog.Geo) error {
	for _, c := range [...]struct {
		name string
		v    float64
	}{{"request.geo.lat", g.Lat}, {"request.geo.lon", g.Lon}} {
		if math.IsNaN(c.v) || math.IsInf(c.v, 0) {
			return activitylog.Invalid(c.name, strconv.FormatFloat(c.v, 'g', -1, 64), "is not a number")
		}
	}
	return nil
}

// eventRow is one row of the events table as Query reads it
// (selectEvents).
type eventRow struct {
	id         string
	time       int64
	kind       string
	tenant     string
	action     string
	actorID    string
	objectType string
	status     int32
	duration   int64
	attrs      []string
	data       []byte
}

// selectEvents reads the columns of an eventRow, in its order.
const selectEvents = "SELECT id, time, kind, tenant, action, actor_id, object_type, status, duration, attrs, data FROM "

func (r *eventRow) dest() []any {
	return []any{&r.id, &r.time, &r.kind, &r.tenant, &r.action, &r.actorID, &r.objectType, &r.status, &r.duration,
		&r.attrs, &r.data}
}

// event returns the stored event: its data decoded, with the fields of
// the columns and attrs put back, its time in UTC.
func (r *eventRow) event() (activitylog.Event, error) {
	var e activitylog.Event
	if len(r.data) > 0 {
		if err := json.Unmarshal(r.data, &e); err != nil {
			return e, err
		}
	}
	if len(r.id) != len(e.ID) || len(r.attrs) != numAttrs {
		return e, fmt.Errorf("a row of %d id bytes and %d attrs", len(r.id), len(r.attrs))
	}
	copy(e.ID[:], r.id)
	e.Time = time.Unix(0, r.time).UTC()
	e.Kind, e.Tenant, e.Action = activitylog.Kind(r.kind), r.tenant, r.action
	e.Actor.ID, e.Object.Type = r.actorID, r.objectType
	e.Response.Status, e.Response.Duration = int(r.status), time.Duration(r.duration)
	a := func(i int) string { return r.attrs[i-1] }
	e.Severity = activitylog.Severity(a(aSeverity))
	e.Object.ID, e.Object.Repr = a(aObjectID), a(aObjectRepr)
	q := &e.Request
	q.RemoteIP, q.Method, q.Origin, q.Path = a(aRemoteIP), a(aMethod), a(aOrigin), a(aPath)
	q.Geo.CountryCode, q.Geo.Country = a(aCountryCode), a(aCountry)
	e.Category, e.Tool = a(aCategory), a(aTool)
	e.Actor.Name, e.Message = a(aActorName), a(aMessage)
	return e, nil
}
