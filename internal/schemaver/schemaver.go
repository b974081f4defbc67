// Package schemaver checks, for a store opened read only, that the
// schema in the database is the one its code reads: such a store
// migrates nothing, so an older or a missing schema must be refused by
// name rather than fail query by query.
package schemaver

import (
	"fmt"

	"github.com/activitylog/activitylog"
)

// Check returns nil when have, the schema's last applied migration, is
// want, the code's last; else an error wrapping activitylog.ErrInvalid
// that names field (what the store calls its schema: "schema",
// "database") and its name, and says what to do.
func Check(field, name string, have, want int) error {
	switch {
	case have == want:
		return nil
	case have == 0:
		return activitylog.Invalid(field, name, "holds no activitylog tables (or this account may not read them)")
	default:
		return activitylog.Invalid(field, name, fmt.Sprintf("is at migration %d, and this version reads %d: run activitylog migrate with an account that may", have, want))
	}
}
