// Package eventjson writes an event's JSON document by hand, byte for
// byte what encoding/json makes of it, and reads it back. It is the
// encoder of the SQL stores (sqlite, postgres, mysql), which keep each
// event's document in a column beside the columns that filters use.
//
// # Why by hand
//
// encoding/json's reflection took an eighth of the sqlite store's Write
// time; Append takes a fifth of that. The tests hold the two to each
// other, so that anything reading a stored document sees the documented
// event format. Values in the any-typed maps that are not the types
// JSON decodes to (nil, bool, float64, string, []any, map[string]any)
// and a few common others go through encoding/json.
//
// # Spans
//
// Stores that also keep changes and extra in JSON columns of their own
// pass a *Spans to Append, which records where those two objects lie in
// the document, so that the columns are slices of it and not a second
// encoding.
//
// # Optional fields
//
// AppendOptional writes the document without the five fields Append
// always writes (id, time, kind, action, severity), as an object of its
// own. The clickhouse store, which keeps those and others in columns,
// writes the rest of each event with it, from a copy of the event with
// the columns' fields emptied.
//
// # Errors
//
// A value that cannot be encoded (NaN, a channel, a map that contains
// itself) is an *Error naming the field it was found in, such as
// "extra.price"; Refused turns it into the *activitylog.FieldError that
// Write returns.
package eventjson
