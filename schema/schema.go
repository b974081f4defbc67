// Package schema holds the JSON Schema of the activitylog event, so that
// services in any language can validate the events they send to
// POST /api/v1/events, and so that tests can hold the Go type to it.
package schema

import _ "embed"

// EventJSON is the JSON Schema (draft 2020-12) of one event.
//
//go:embed event.schema.json
var EventJSON []byte
