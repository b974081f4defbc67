package retention

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// AllKinds is the Kind of a policy that covers every kind of event of
// its tenants that no policy for the event's own kind covers.
const AllKinds = "all"

// Limits of a Policy's fields.
const (
	MaxNameLen    = 128
	MaxRetainDays = 36500 // a hundred years
	idPrefix      = "rtp_"
	maxIDLen      = 64
)

// ErrConflict: a policy's name, or its scope, is taken by another
// policy. The error is a *ConflictError.
var ErrConflict = errors.New("conflict")

// ConflictError says which field of a policy collides with another
// policy, and how. It wraps ErrConflict; the API answers it with 409.
type ConflictError struct {
	Field  string // "name", or "kind" for a second active policy of the same scope
	Value  string
	Reason string
}

func (e *ConflictError) Error() string {
	return "conflicting " + e.Field + " " + strconv.Quote(e.Value) + ": " + e.Reason
}

// Unwrap returns ErrConflict.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Policy is one retention policy: the events of Kind (or every kind) of
// Tenant (or of every tenant) are deleted once they are older than
// RetainDays whole days.
//
// Tenant and AllTenants select the tenants as in
// activitylog.PurgeRequest: with AllTenants, every tenant's events (and
// those without a tenant); without it, only Tenant's events, and ""
// means the events without a tenant.
type Policy struct {
	ID         string // "rtp_" and 16 hex digits, made by NewID; immutable
	Name       string // unique, without regard to ASCII case
	Kind       string // an activitylog.Kind, or AllKinds
	RetainDays int    // 1 to MaxRetainDays
	// Active: the scheduler runs only active policies. At most one
	// active policy has a given Kind, Tenant and AllTenants.
	Active     bool
	Tenant     string
	AllTenants bool
	// Archive: the events are archived (RunnerOptions.Archive) before
	// they are deleted; a run fails, deleting nothing, when there is no
	// archiver or it fails.
	Archive bool

	// What the runs did, kept by Repository.RecordRun; a Create or an
	// Update does not change them.
	LastRun        time.Time // the start of the newest run; zero: never
	RecordsDeleted int64     // events deleted by every run, summed
	LastError      string    // the newest run's error; "": it succeeded

	CreatedAt time.Time
	UpdatedAt time.Time
}

// policyJSON is a Policy as the API shows it and reads it.
type policyJSON struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Kind           string     `json:"kind"`
	RetainDays     int        `json:"retain_days"`
	Active         bool       `json:"active"`
	Tenant         string     `json:"tenant"`
	AllTenants     bool       `json:"all_tenants"`
	Archive        bool       `json:"archive"`
	LastRun        *time.Time `json:"last_run"` // null: never
	RecordsDeleted int64      `json:"records_deleted"`
	LastError      string     `json:"last_error"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// Fields lists the JSON fields of a Policy, for error messages.
const Fields = "id, name, kind, retain_days, active, tenant, all_tenants, archive, last_run, records_deleted, last_error, created_at, updated_at"

// MarshalJSON writes p with snake_case fields, times in UTC, and
// last_run null when the policy never ran.
func (p Policy) MarshalJSON() ([]byte, error) {
	j := policyJSON{ID: p.ID, Name: p.Name, Kind: p.Kind, RetainDays: p.RetainDays, Active: p.Active,
		Tenant: p.Tenant, AllTenants: p.AllTenants, Archive: p.Archive, RecordsDeleted: p.RecordsDeleted,
		LastError: p.LastError, CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC()}
	if !p.LastRun.IsZero() {
		t := p.LastRun.UTC()
		j.LastRun = &t
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes, strictly: an unknown
// field, or a value of the wrong type, is a *activitylog.FieldError
// naming it. It does not validate (Validate does).
func (p *Policy) UnmarshalJSON(b []byte) error {
	var j policyJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return JSONError(err, "a retention policy", Fields)
	}
	*p = Policy{ID: j.ID, Name: j.Name, Kind: j.Kind, RetainDays: j.RetainDays, Active: j.Active,
		Tenant: j.Tenant, AllTenants: j.AllTenants, Archive: j.Archive, RecordsDeleted: j.RecordsDeleted,
		LastError: j.LastError, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt}
	if j.LastRun != nil {
		p.LastRun = *j.LastRun
	}
	return nil
}

// JSONError turns an error of encoding/json into a
// *activitylog.FieldError naming the field (or "body"), without quoting
// the input. what names the object ("a retention policy"), fields its
// fields.
func JSONError(err error, what, fields string) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return activitylog.Invalid("body", "", "is not valid JSON at byte "+strconv.FormatInt(se.Offset, 10))
	case errors.As(err, &te):
		if te.Field == "" {
			return activitylog.Invalid("body", "", "must be a JSON object with the fields "+fields)
		}
		return activitylog.Invalid(te.Field, "", "must be a JSON "+jsonType(te.Type.String()))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return activitylog.Invalid("body", "", "is empty or cut short: send a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return activitylog.Invalid(clip(name), "", "is not a field of "+what+"; known are "+fields)
	}
	var fe *activitylog.FieldError
	if errors.As(err, &fe) {
		return err
	}
	return activitylog.Invalid("body", "", "cannot be decoded: "+clip(err.Error()))
}

func jsonType(goType string) string {
	switch {
	case strings.Contains(goType, "int"):
		return "integer"
	case strings.Contains(goType, "bool"):
		return "boolean"
	case strings.Contains(goType, "Time"):
		return "RFC 3339 time"
	}
	return "string"
}

// NewID returns a new random policy id: "rtp_" and 16 hex digits.
func NewID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return idPrefix + hex.EncodeToString(b[:])
}

// ValidKind reports whether s is AllKinds or an activitylog.Kind.
func ValidKind(s string) bool {
	return s == AllKinds || activitylog.Kind(s).Valid()
}

// Kinds returns the kinds p covers before other policies take theirs:
// its Kind, or every kind for AllKinds.
func (p *Policy) Kinds() []activitylog.Kind {
	if p.Kind == AllKinds {
		return append([]activitylog.Kind(nil), activitylog.Kinds...)
	}
	return []activitylog.Kind{activitylog.Kind(p.Kind)}
}

// Validate reports the first field of p that is not acceptable, as a
// *activitylog.FieldError naming the field (as in the JSON form) and the
// value. It does not fill in defaults, and does not look at the run
// fields (LastRun, RecordsDeleted, LastError).
func (p *Policy) Validate() error {
	if p.ID != "" && !validID(p.ID) {
		return activitylog.Invalid("id", clip(p.ID), "must be 1 to 64 letters, digits, _ or -")
	}
	if p.Name == "" {
		return activitylog.Invalid("name", "", "is required")
	}
	if len(p.Name) > MaxNameLen || !printable(p.Name) {
		return activitylog.Invalid("name", clip(p.Name), "must be at most 128 bytes of printable text")
	}
	if !ValidKind(p.Kind) {
		return activitylog.Invalid("kind", clip(p.Kind), "must be all or one of "+kindNames())
	}
	if p.RetainDays < 1 || p.RetainDays > MaxRetainDays {
		return activitylog.Invalid("retain_days", strconv.Itoa(p.RetainDays), "must be between 1 and "+strconv.Itoa(MaxRetainDays))
	}
	if len(p.Tenant) > activitylog.MaxShortField || !printable(p.Tenant) {
		return activitylog.Invalid("tenant", clip(p.Tenant), "must be at most 1024 bytes of printable text")
	}
	if p.AllTenants && p.Tenant != "" {
		return activitylog.Invalid("tenant", clip(p.Tenant), "must be empty when all_tenants is true")
	}
	return nil
}

// TenantText describes the tenants p covers, for messages: "every
// tenant", "events without a tenant" or `tenant "acme"`.
func (p *Policy) TenantText() string {
	return tenantText(p.Tenant, p.AllTenants)
}

func tenantText(tenant string, all bool) string {
	switch {
	case all:
		return "every tenant"
	case tenant == "":
		return "events without a tenant"
	}
	return "tenant " + strconv.Quote(tenant)
}

func kindNames() string {
	names := make([]string, len(activitylog.Kinds))
	for i, k := range activitylog.Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// ValidID reports whether s can be an id: letters, digits, _ and -, at
// most 64 bytes.
func ValidID(s string) bool { return validID(s) }

func validID(s string) bool {
	if len(s) > maxIDLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return s != ""
}

// printable reports whether s is valid UTF-8 without control
// characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

func clip(s string) string { return clipN(s, 64) }

// clipN shortens s to n bytes, at a rune boundary.
func clipN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}
