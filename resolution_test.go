package activitylog_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

func TestResolutionValidate(t *testing.T) {
	t.Parallel()
	// Not NewID: TestNewIDIsVersion7AndOrdered, which runs in parallel,
	// needs the id generator to itself.
	id := activitylog.ID{0x01, 0x90, 0xc2, 0xa1, 6: 0x70, 8: 0x80, 15: 1}
	for _, tc := range []struct {
		name         string
		r            activitylog.Resolution
		field, value string // "" field: valid
	}{
		{"minimal", activitylog.Resolution{EventID: id, ResolvedBy: "ann"}, "", ""},
		{"full", activitylog.Resolution{EventID: id, ResolvedBy: "ann", ResolvedAt: time.Now(), Note: "fixed"}, "", ""},
		{"longest", activitylog.Resolution{EventID: id, ResolvedBy: strings.Repeat("a", activitylog.MaxShortField),
			Note: strings.Repeat("n", activitylog.MaxTextField)}, "", ""},
		{"no event id", activitylog.Resolution{ResolvedBy: "ann"}, "event_id", ""},
		{"no resolved_by", activitylog.Resolution{EventID: id}, "resolved_by", ""},
		{"blank resolved_by", activitylog.Resolution{EventID: id, ResolvedBy: "  "}, "resolved_by", "  "},
		{"long resolved_by", activitylog.Resolution{EventID: id, ResolvedBy: strings.Repeat("a", activitylog.MaxShortField+1)},
			"resolved_by", strings.Repeat("a", 32) + "…"},
		{"long note", activitylog.Resolution{EventID: id, ResolvedBy: "ann", Note: strings.Repeat("n", activitylog.MaxTextField+1)},
			"note", strings.Repeat("n", 32) + "…"},
		{"resolved_at before 1970", activitylog.Resolution{EventID: id, ResolvedBy: "ann", ResolvedAt: time.Unix(-1, 0).UTC()},
			"resolved_at", "1969-12-31T23:59:59Z"},
	} {
		err := tc.r.Validate()
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		fe, ok := errors.AsType[*activitylog.FieldError](err)
		if !ok || !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("%s: %v, want a *FieldError", tc.name, err)
			continue
		}
		if fe.Field != tc.field || fe.Value != tc.value {
			t.Errorf("%s: field %q value %q, want %q %q", tc.name, fe.Field, fe.Value, tc.field, tc.value)
		}
	}
}

func TestErrNotResolvedIsNotFound(t *testing.T) {
	if !errors.Is(activitylog.ErrNotResolved, activitylog.ErrNotFound) {
		t.Error("ErrNotResolved does not wrap ErrNotFound")
	}
}
