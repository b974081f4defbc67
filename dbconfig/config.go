package dbconfig

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
)

// An Engine is the kind of database a Config points at.
type Engine string

// The engines. Only the ones an Opener is registered for can be routed
// to; the others can be stored and checked.
const (
	SQLite     Engine = "sqlite"
	Postgres   Engine = "postgres"
	MySQL      Engine = "mysql"
	ClickHouse Engine = "clickhouse"
	MongoDB    Engine = "mongodb"
)

// Engines lists every Engine, for validation and help text.
var Engines = []Engine{SQLite, Postgres, MySQL, ClickHouse, MongoDB}

// Valid reports whether e is one of Engines.
func (e Engine) Valid() bool { return slices.Contains(Engines, e) }

// DefaultPort is the port URL uses for an engine when Config.Port is 0;
// 0 for SQLite, which has none.
func (e Engine) DefaultPort() int {
	switch e {
	case Postgres:
		return 5432
	case MySQL:
		return 3306
	case ClickHouse:
		return 9000 // the native protocol
	case MongoDB:
		return 27017
	}
	return 0
}

// RouteAll is the RouteFor of a config that takes every kind of event
// of its tenant that no config for the event's own kind takes.
const RouteAll = "all"

// Limits of a Config's fields.
const (
	MaxNameLen    = 128
	MaxHostLen    = 253
	MaxFieldLen   = 1024 // database, user, tenant, an option's value
	MaxOptions    = 64
	MaxOptionKey  = 64
	MaxPassword   = 1024
	idPrefix      = "dbc_"
	maxIDLen      = 64
	redactedValue = "[REDACTED]"
)

// Config is one database configuration record: where a database is,
// how to sign in to it, and which events the Router sends it.
//
// Password is the plain password, held in memory only: it is set on
// the way in (the API's body) and on the way out (what an Opener or a
// Checker is given), and never marshalled: MarshalJSON writes
// has_password instead. What a Repository stores is Secret, the
// password sealed by a Keyring; a Repository refuses a Config whose
// Password is set.
type Config struct {
	ID       string            // "dbc_" and 16 hex digits, made by NewID; immutable
	Name     string            // unique, without regard to ASCII case
	Engine   Engine            // one of Engines
	Host     string            // a host name or IP address; empty for SQLite
	Port     int               // 0: the engine's DefaultPort
	Database string            // the database's name; for SQLite, the file's path
	User     string            // empty: none
	Password string            // plain; never stored, never marshalled
	Secret   string            // Password sealed by a Keyring ("v1:key:…"); empty: no password
	Options  map[string]string // driver parameters, put in the URL's query (sslmode=require); not secret
	// RouteFor is the kind of event the config takes (an
	// activitylog.Kind) or RouteAll.
	RouteFor string
	// Tenant is the tenant whose events the config takes; "" the
	// events without a tenant.
	Tenant string
	// Primary marks the config the Router writes to: at most one per
	// (Tenant, RouteFor). A config that is not primary is kept, and can
	// be checked, but receives nothing.
	Primary bool
	// Active: an inactive config is kept but not routed to.
	Active bool
	// ReadOnly: the database is never written to, so it cannot be a
	// primary.
	ReadOnly  bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// configJSON is a Config as the API shows it: never the password.
type configJSON struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Engine      Engine            `json:"engine"`
	Host        string            `json:"host"`
	Port        int               `json:"port"`
	Database    string            `json:"database"`
	User        string            `json:"user"`
	HasPassword bool              `json:"has_password"`
	Options     map[string]string `json:"options"`
	RouteFor    string            `json:"route_for"`
	Tenant      string            `json:"tenant"`
	Primary     bool              `json:"primary"`
	Active      bool              `json:"active"`
	ReadOnly    bool              `json:"read_only"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// MarshalJSON writes c as the API shows it: every field but the
// password, and has_password, true when c holds one (sealed or plain).
// Options is {} rather than null; times are UTC.
func (c Config) MarshalJSON() ([]byte, error) {
	opts := c.Options
	if opts == nil {
		opts = map[string]string{}
	}
	return json.Marshal(configJSON{
		ID: c.ID, Name: c.Name, Engine: c.Engine, Host: c.Host, Port: c.Port, Database: c.Database,
		User: c.User, HasPassword: c.Secret != "" || c.Password != "", Options: opts,
		RouteFor: c.RouteFor, Tenant: c.Tenant, Primary: c.Primary, Active: c.Active, ReadOnly: c.ReadOnly,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(),
	})
}

// String describes c for logs and messages: its name, id and URL
// without the password.
func (c Config) String() string {
	return c.Name + " (" + c.ID + ", " + c.URL("") + ")"
}

// NewID returns a new random config id: "dbc_" and 16 hex digits.
func NewID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return idPrefix + hex.EncodeToString(b[:])
}

// ValidRouteFor reports whether s is RouteAll or an activitylog.Kind.
func ValidRouteFor(s string) bool {
	return s == RouteAll || activitylog.Kind(s).Valid()
}

// Validate reports the first field of c that is not acceptable, as a
// *activitylog.FieldError naming the field (as in the JSON form) and
// the value (never the password's). It does not fill in defaults.
func (c *Config) Validate() error {
	if c.ID != "" && !validID(c.ID) {
		return activitylog.Invalid("id", clip(c.ID), "must be 1 to 64 letters, digits, _ or -")
	}
	if c.Name == "" {
		return activitylog.Invalid("name", "", "is required")
	}
	if len(c.Name) > MaxNameLen || !printable(c.Name) {
		return activitylog.Invalid("name", clip(c.Name), "must be at most 128 bytes of printable text")
	}
	if !c.Engine.Valid() {
		return activitylog.Invalid("engine", clip(string(c.Engine)), "must be one of "+engineNames())
	}
	if c.Port < 0 || c.Port > 65535 {
		return activitylog.Invalid("port", strconv.Itoa(c.Port), "must be between 1 and 65535, or 0 for the engine's default")
	}
	if c.Engine == SQLite {
		if c.Host != "" {
			return activitylog.Invalid("host", clip(c.Host), "must be empty for sqlite: the database is a file, named by database")
		}
		if c.Port != 0 {
			return activitylog.Invalid("port", strconv.Itoa(c.Port), "must be 0 for sqlite")
		}
	} else if err := checkHost(c.Host); err != nil {
		return err
	}
	if c.Database == "" {
		what := "the database's name"
		if c.Engine == SQLite {
			what = "the database file's path"
		}
		return activitylog.Invalid("database", "", "is required: "+what)
	}
	for _, f := range [...]struct{ name, v string }{{"database", c.Database}, {"user", c.User}, {"tenant", c.Tenant}} {
		if len(f.v) > MaxFieldLen || !printable(f.v) {
			return activitylog.Invalid(f.name, clip(f.v), "must be at most 1024 bytes of printable text")
		}
	}
	if len(c.Password) > MaxPassword || strings.ContainsRune(c.Password, 0) {
		return activitylog.Invalid("password", redactedValue, "must be at most 1024 bytes, without NUL")
	}
	if len(c.Options) > MaxOptions {
		return activitylog.Invalid("options", strconv.Itoa(len(c.Options))+" entries", "must have at most 64 entries")
	}
	for _, k := range sortedKeys(c.Options) {
		v := c.Options[k]
		switch {
		case k == "" || len(k) > MaxOptionKey || strings.IndexFunc(k, notOptionKeyRune) >= 0:
			return activitylog.Invalid("options", clip(k), "is not an option name: 1 to 64 letters, digits, _, - or .")
		case secretOption(k):
			return activitylog.Invalid("options."+k, redactedValue, "may hold a secret, and options are not encrypted: put the password in password")
		case len(v) > MaxFieldLen || !printable(v):
			return activitylog.Invalid("options."+k, clip(v), "must be at most 1024 bytes of printable text")
		case !slices.Contains(AllowedOptions[c.Engine], k):
			return activitylog.Invalid("options."+k, clip(v), optionsReason(c.Engine))
		}
	}
	if !ValidRouteFor(c.RouteFor) {
		return activitylog.Invalid("route_for", clip(c.RouteFor), "must be all or a kind: "+kindNames())
	}
	if c.Primary && c.ReadOnly {
		return activitylog.Invalid("read_only", "true", "a primary receives its tenant's events, so it cannot be read-only")
	}
	return nil
}

// URL returns the engine's URL for c, with password as its password
// ("" leaves it out: the form to show):
//
//	sqlite://PATH?OPTIONS                  (sqlite:///var/lib/a.db for an absolute path)
//	postgres://USER:PASSWORD@HOST:PORT/DATABASE?OPTIONS
//	mysql://USER:PASSWORD@HOST:PORT/DATABASE?OPTIONS
//	clickhouse://USER:PASSWORD@HOST:PORT/DATABASE?OPTIONS
//	mongodb://USER:PASSWORD@HOST:PORT/DATABASE?OPTIONS
//
// User, password, database and options are escaped; an IPv6 host is
// bracketed; port 0 is the engine's DefaultPort. Options are sorted by
// name.
func (c Config) URL(password string) string {
	var b strings.Builder
	b.WriteString(string(c.Engine))
	b.WriteString("://")
	if c.Engine == SQLite {
		b.WriteString(escapePath(c.Database))
	} else {
		if c.User != "" || password != "" {
			var u *url.Userinfo
			if password != "" {
				u = url.UserPassword(c.User, password)
			} else {
				u = url.User(c.User)
			}
			b.WriteString(u.String())
			b.WriteByte('@')
		}
		port := c.Port
		if port == 0 {
			port = c.Engine.DefaultPort()
		}
		b.WriteString(net.JoinHostPort(c.Host, strconv.Itoa(port)))
		b.WriteByte('/')
		b.WriteString(url.PathEscape(c.Database))
	}
	if len(c.Options) > 0 {
		q := url.Values{}
		for k, v := range c.Options {
			q.Set(k, v)
		}
		b.WriteByte('?')
		b.WriteString(q.Encode())
	}
	return b.String()
}

// escapePath escapes each segment of a file path, keeping its slashes.
func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func checkHost(h string) error {
	if h == "" {
		return activitylog.Invalid("host", "", "is required")
	}
	if _, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		return nil
	}
	if len(h) > MaxHostLen || strings.IndexFunc(h, notHostRune) >= 0 || h[0] == '-' || h[0] == '.' {
		return activitylog.Invalid("host", clip(h), "is not a host name or IP address")
	}
	return nil
}

func notHostRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_')
}

func notOptionKeyRune(r rune) bool { return notHostRune(r) }

// AllowedOptions are the option names Validate accepts, by engine: the
// driver parameters that only tune the connection. Every other name is
// refused, because a driver parameter can read a file on this host
// (MySQL's allowAllFiles lets the server ask for any file with LOAD
// DATA LOCAL INFILE; PostgreSQL's sslrootcert, passfile, service;
// MongoDB's tlsCAFile), send the password in the clear
// (allowCleartextPasswords, authMechanism=PLAIN), or name another host
// than Host (PostgreSQL's host parameter). Parameters the stores set
// themselves (search_path, charset, parseTime) are not listed either.
// SQLite takes none: its store is opened by path alone.
var AllowedOptions = map[Engine][]string{
	SQLite:     nil,
	Postgres:   {"application_name", "connect_timeout", "sslmode", "target_session_attrs"},
	MySQL:      {"readTimeout", "timeout", "tls", "writeTimeout"},
	ClickHouse: {"compress", "dial_timeout", "read_timeout", "secure", "skip_verify"},
	MongoDB: {"appName", "authSource", "connectTimeoutMS", "directConnection", "readPreference",
		"replicaSet", "serverSelectionTimeoutMS", "tls", "w"},
}

func optionsReason(e Engine) string {
	if len(AllowedOptions[e]) == 0 {
		return "is not accepted: " + string(e) + " takes no options"
	}
	return "is not an option accepted for " + string(e) + "; accepted are " + strings.Join(AllowedOptions[e], ", ")
}

// secretOption reports whether an option's name says that it holds a
// secret, which belongs in the encrypted password instead.
func secretOption(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"password", "passwd", "pwd", "secret", "token"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return k == "pass"
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

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func engineNames() string {
	s := make([]string, len(Engines))
	for i, e := range Engines {
		s[i] = string(e)
	}
	return strings.Join(s, ", ")
}

func kindNames() string {
	s := make([]string, len(activitylog.Kinds))
	for i, k := range activitylog.Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

// clip shortens s for an error message, at a rune boundary.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// Moved names the first field of where c connects and signs in
// (engine, host, port, user, database) that differs from old's, or "".
// A stored password is only ever sent to the server it was given for:
// the API and the CLI refuse to keep it across such a change.
func Moved(old, c Config) string {
	switch {
	case old.Engine != c.Engine:
		return "engine"
	case old.Host != c.Host:
		return "host"
	case old.Port != c.Port:
		return "port"
	case old.User != c.User:
		return "user"
	case old.Database != c.Database:
		return "database"
	}
	return ""
}

// AuditFields are c's fields as the trail records a change to it (the
// event's Extra): never its password, only whether it has one.
func (c Config) AuditFields() map[string]any {
	opts := map[string]any{}
	for k, v := range c.Options {
		opts[k] = v
	}
	return map[string]any{
		"config_id": c.ID, "name": c.Name, "engine": string(c.Engine), "host": c.Host, "port": c.Port,
		"database": c.Database, "user": c.User, "options": opts, "route_for": c.RouteFor, "tenant": c.Tenant,
		"primary": c.Primary, "active": c.Active, "read_only": c.ReadOnly, "has_password": c.Secret != "",
	}
}

// AuditChanges lists the AuditFields that differ between a and b, the
// password as has_password only.
func AuditChanges(a, b Config) map[string]activitylog.Change {
	fa, fb := a.AuditFields(), b.AuditFields()
	out := map[string]activitylog.Change{}
	for k, va := range fa {
		vb := fb[k]
		ja, _ := json.Marshal(va)
		jb, _ := json.Marshal(vb)
		if string(ja) != string(jb) {
			out[k] = activitylog.Change{Old: va, New: vb}
		}
	}
	return out
}
