package schemaver

import (
	"errors"
	"strings"
	"testing"

	"github.com/activitylog/activitylog"
)

func TestCheck(t *testing.T) {
	if err := Check("schema", "activitylog", 3, 3); err != nil {
		t.Fatalf("same version: %v", err)
	}
	for _, c := range []struct {
		have int
		want string
	}{{0, "holds no activitylog tables"}, {2, "is at migration 2, and this version reads 3"}, {4, "is at migration 4"}} {
		err := Check("database", "audit", c.have, 3)
		var fe *activitylog.FieldError
		if !errors.As(err, &fe) || fe.Field != "database" || fe.Value != "audit" || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check(have %d) = %v, want a FieldError naming database audit and %q", c.have, err, c.want)
		}
	}
}
