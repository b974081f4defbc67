// Package config is the configuration of the activitylog command: one
// Config struct, and the loader that fills it from four layers, each
// winning over the one before:
//
//  1. the defaults (Default);
//  2. an optional YAML file, named by --config or ACTIVITYLOG_CONFIG;
//  3. environment variables, ACTIVITYLOG_ and the key in upper case
//     (ACTIVITYLOG_ADDR, ACTIVITYLOG_ON_FULL, …);
//  4. flags, the key with "-" for "_" (--addr, --on-full, …).
//
// Every setting has one key, and Settings lists them all with their
// flag, environment variable, default and meaning, so that help texts
// and docs are made from the same table as the loader.
//
// # Errors
//
// Every error names the setting, the value that was refused and where
// it came from, as in
//
//	config: on_full "sometimes": must be one of block, drop, fail (set by --on-full)
//	config: /etc/activitylog.yaml line 3: unknown key "adr"; known keys: addr, db, …
//
// Unknown YAML keys are refused, so that a misspelt key cannot be
// silently ignored.
package config

import (
	"errors"
	"fmt"
	"github.com/activitylog/activitylog/internal/urlsecret"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/jwtaudit"
)

// Config is everything the activitylog command can be told. Default
// returns it with every default filled in; the loader never leaves a
// field at a zero value that means "default".
type Config struct {
	Addr            string        // listen address, host:port
	DB              string        // SQLite database path, or :memory:
	Service         string        // service name set on events that name none
	Mode            string        // async or sync
	OnFull          string        // block, drop or fail
	QueueSize       int           // events waiting to be written
	BatchSize       int           // most events in one write
	FlushInterval   time.Duration // longest an event waits for its batch
	BlockTimeout    time.Duration // how long on_full=block waits for room
	WriteTimeout    time.Duration // bound on one write attempt
	MaxBodyBytes    int64         // bound on a POST /api/v1/events body
	MaxBatch        int           // most events one POST may carry; at most QueueSize
	IngestRate      int           // POST /api/v1/events per second per principal; 0 is unlimited
	IngestBurst     int           // requests a principal may make at once above IngestRate
	Demo            bool          // mount the demo shop and drive it
	DemoInterval    time.Duration // period of the demo traffic generator
	LogLevel        string        // debug, info, warn or error
	LogFormat       string        // text or json
	ShutdownTimeout time.Duration // bound on the graceful shutdown
	ConsoleReadOnly bool          // the web console hides every control that changes something

	// Storage (docs/storage.md).
	Store                 string        // event store URL; "" for the SQLite database DB
	DatabaseConfigKeys    string        // keyring of database config passwords; "" turns them off
	DatabaseConfigRefresh time.Duration // how often the router reads the configs again
	SpoolDir              string        // disk spool for outages; "" for none
	SpoolMaxBytes         int64         // cap on the spool's size
	NATSURL               string        // JetStream between recorders and workers; "" for none
	NATSStream            string        // stream name
	NATSPrefix            string        // subject prefix

	// Authentication (package access; docs/authentication.md).
	SessionTTL     time.Duration // absolute life of a session
	SessionIdle    time.Duration // a session unused this long ends
	CookieSecure   bool          // Secure session cookie without TLS here (a proxy terminates it)
	JWTSecretFile  string        // file holding the HS256/384/512 secret
	JWTPublicKeys  string        // PEM file of public keys
	JWTJWKSURL     string        // JSON Web Key Set address
	JWTIssuer      string        // required iss, when set
	JWTAudience    string        // required aud, when set
	JWTAlgorithms  string        // comma-separated allow-list; "" for what the keys verify
	JWTTenantClaim string        // claim naming the principal's tenant
	JWTPermClaim   string        // claim listing the principal's permissions

	// Integrity (package integrity; docs/integrity.md). Sealing is on
	// when Integrity is true or IntegritySigningKey is set (Sealing).
	Integrity                   bool          // seal events into a hash chain
	IntegritySigningKey         string        // Ed25519 private key PEM that signs checkpoints
	IntegrityHMACKey            string        // HMAC key file: keyed chains
	IntegrityWitness            string        // witness file path or http(s):// URL
	IntegrityWitnessToken       string        // bearer token of a URL witness; secret
	IntegrityWitnessTokenFile   string        // file holding that token
	IntegrityCheckpointInterval time.Duration // how often a checkpoint is stored; 0: every batch
	IntegrityChain              string        // chain id; "" for the host name's
	IntegrityAllowUnsealed      bool          // write unsealed events into a store holding sealed chains

	// Operations: retention, archives, the log (docs/retention.md,
	// docs/archive.md, docs/metrics.md).
	DefaultRetentionDays int           // days kept when no retention policy matches; 0 keeps forever
	RetentionTime        string        // HH:MM UTC of the daily retention run
	RetentionInterval    time.Duration // run retention this often instead of daily; 0: daily
	RetentionScheduler   bool          // this replica runs the retention scheduler
	ArchiveDir           string        // directory of archive files; "" for none
	LogFile              string        // log to this file (reopened on SIGHUP); "" for stderr
}

// Default returns the defaults. The listen address is loopback only: the
// API requires authentication, but serves plain HTTP.
func Default() Config {
	return Config{
		Addr:            "127.0.0.1:8080",
		DB:              "./activitylog.db",
		Mode:            "async",
		OnFull:          "block",
		QueueSize:       8192,
		BatchSize:       500,
		FlushInterval:   200 * time.Millisecond,
		BlockTimeout:    time.Second,
		WriteTimeout:    10 * time.Second,
		MaxBodyBytes:    10 << 20,
		MaxBatch:        1000,
		DemoInterval:    200 * time.Millisecond,
		LogLevel:        "info",
		LogFormat:       "text",
		ShutdownTimeout: 30 * time.Second,

		SessionTTL:     12 * time.Hour,
		SessionIdle:    time.Hour,
		JWTTenantClaim: "tenant",
		JWTPermClaim:   "permissions",

		IntegrityCheckpointInterval: 10 * time.Second,

		DatabaseConfigRefresh: 30 * time.Second,
		SpoolMaxBytes:         1 << 30,
		NATSStream:            "ACTIVITYLOG",
		NATSPrefix:            "activitylog",

		RetentionTime:      "03:00",
		RetentionScheduler: true,
	}
}

// Limits of the numeric settings.
const (
	MaxQueueSize    = 1_000_000 // each queued event takes about 750 bytes up front
	MaxBatchSize    = 100_000
	MaxMaxBodyBytes = 1 << 30
	MinInterval     = time.Millisecond // flush_interval and demo_interval
)

// Setting describes one key of Config.
type Setting struct {
	Key   string // YAML key, e.g. "on_full"
	Flag  string // flag name without dashes, e.g. "on-full"
	Env   string // environment variable, e.g. "ACTIVITYLOG_ON_FULL"
	Arg   string // what the value is, for help texts, e.g. "POLICY"; "" for a bool
	Usage string // one or two sentences
	// Commands lists the subcommands that take the setting as a flag.
	// Every setting is read from the file and the environment by every
	// subcommand, and validated.
	Commands []string

	// Secret says the value is a secret: Value masks it, so that no
	// error or help text shows it.
	Secret bool
	// redact, when set, hides the secret part of a value in Value (a
	// URL's password).
	redact func(string) string

	field func(c *Config) any // pointer to the field: *string, *int, *int64, *bool or *time.Duration
	check func(c *Config) string
}

// Default returns the setting's default value, formatted as a flag or
// environment variable would give it.
func (s *Setting) Default() string {
	c := Default()
	return format(s.field(&c))
}

// Value returns the setting's value in c, formatted as Default is; a
// Secret setting's non-empty value as activitylog.DefaultMask.
func (s *Setting) Value(c *Config) string {
	v := format(s.field(c))
	if s.Secret && v != "" {
		return activitylog.DefaultMask
	}
	if s.redact != nil {
		return s.redact(v)
	}
	return v
}

// Bool reports whether the setting is a boolean, given as a flag
// without a value.
func (s *Setting) Bool() bool {
	_, ok := s.field(&Config{}).(*bool)
	return ok
}

const (
	serve   = "serve"
	migrate = "migrate"
	users   = "users"
	apiKeys = "api-keys"
	verify  = "verify"

	databaseConfigs = "database-configs"
	worker          = "worker"
	export          = "export"
	cleanup         = "cleanup"
	purge           = "purge"
)

func oneOf(v string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return ""
		}
	}
	return "must be one of " + strings.Join(allowed, ", ")
}

func between[T int | int64 | time.Duration](v, lo, hi T) string {
	if v < lo || v > hi {
		return fmt.Sprintf("must be between %v and %v", lo, hi)
	}
	return ""
}

func positive(d time.Duration) string {
	if d <= 0 {
		return "must be positive"
	}
	return ""
}

// ConfigFlag and ConfigEnv name the YAML file. They are not a Setting:
// the file cannot name itself.
const (
	ConfigFlag = "config"
	ConfigEnv  = "ACTIVITYLOG_CONFIG"
)

// Settings lists every setting, in the order help texts show them.
var Settings = append([]*Setting{
	{
		Key: "addr", Arg: "HOST:PORT", Commands: []string{serve},
		Usage: "Address the HTTP server listens on. The default is loopback only: the API requires authentication (docs/authentication.md), " +
			"but serves plain HTTP, so put TLS in front of it (and set cookie_secure) before you listen on another interface. Port 0 picks a free port.",
		field: func(c *Config) any { return &c.Addr },
		check: func(c *Config) string { return checkAddr(c.Addr) },
	},
	{
		Key: "db", Arg: "PATH", Commands: []string{serve, migrate, users, apiKeys, databaseConfigs, verify, worker, cleanup, purge},
		Usage: "SQLite database file; migrations run on open. :memory: keeps events in memory until exit. " +
			"serve, migrate, worker, users, api-keys and database-configs create it if missing; verify, cleanup and purge refuse a missing one, " +
			"except cleanup and purge with store set, which then read no retention policies or tenant databases from it.",
		field: func(c *Config) any { return &c.DB },
		check: func(c *Config) string {
			if c.DB == "" {
				return "must not be empty"
			}
			return ""
		},
	},
	{
		Key: "service", Arg: "NAME", Commands: []string{serve},
		Usage: "Service name set on recorded and ingested events that name none.",
		field: func(c *Config) any { return &c.Service },
		check: func(c *Config) string {
			if len(c.Service) > activitylog.MaxShortField {
				return "is longer than " + strconv.Itoa(activitylog.MaxShortField) + " bytes"
			}
			// Set on every event: a byte that is not text would make
			// each one unreadable (or refused by a store) downstream.
			if !utf8.ValidString(c.Service) || strings.ContainsFunc(c.Service, unicode.IsControl) {
				return "must be UTF-8 text without control characters"
			}
			return ""
		},
	},
	{
		Key: "mode", Arg: "MODE", Commands: []string{serve},
		Usage: "async: Record returns once the event is queued. sync: Record returns once the event is stored. " +
			"POST /api/v1/events always waits for the store.",
		field: func(c *Config) any { return &c.Mode },
		check: func(c *Config) string { return oneOf(c.Mode, "async", "sync") },
	},
	{
		Key: "on_full", Arg: "POLICY", Commands: []string{serve},
		Usage: "What recording does when the queue is full. block: wait up to block_timeout, then drop. " +
			"drop: drop at once. fail: refuse (fail-closed). Drops and refusals are counted and recorded as audit_loss events.",
		field: func(c *Config) any { return &c.OnFull },
		check: func(c *Config) string { return oneOf(c.OnFull, "block", "drop", "fail") },
	},
	{
		Key: "queue_size", Arg: "N", Commands: []string{serve},
		Usage: "Most events waiting to be written.",
		field: func(c *Config) any { return &c.QueueSize },
		check: func(c *Config) string { return between(c.QueueSize, 1, MaxQueueSize) },
	},
	{
		Key: "batch_size", Arg: "N", Commands: []string{serve},
		Usage: "Most events written to the database in one transaction.",
		field: func(c *Config) any { return &c.BatchSize },
		check: func(c *Config) string { return between(c.BatchSize, 1, MaxBatchSize) },
	},
	{
		Key: "flush_interval", Arg: "DURATION", Commands: []string{serve},
		Usage: "Longest an event waits for its batch to fill.",
		field: func(c *Config) any { return &c.FlushInterval },
		check: func(c *Config) string { return between(c.FlushInterval, MinInterval, time.Hour) },
	},
	{
		Key: "block_timeout", Arg: "DURATION", Commands: []string{serve},
		Usage: "How long on_full=block waits for room in the queue.",
		field: func(c *Config) any { return &c.BlockTimeout },
		check: func(c *Config) string { return positive(c.BlockTimeout) },
	},
	{
		Key: "write_timeout", Arg: "DURATION", Commands: []string{serve, worker},
		Usage: "Bound on one attempt to write a batch; a failed write is retried with backoff.",
		field: func(c *Config) any { return &c.WriteTimeout },
		check: func(c *Config) string { return positive(c.WriteTimeout) },
	},
	{
		Key: "max_body_bytes", Arg: "BYTES", Commands: []string{serve},
		Usage: "Largest body POST /api/v1/events accepts.",
		field: func(c *Config) any { return &c.MaxBodyBytes },
		check: func(c *Config) string { return between(c.MaxBodyBytes, 1, MaxMaxBodyBytes) },
	},
	{
		Key: "max_batch", Arg: "N", Commands: []string{serve},
		Usage: "Most events one POST /api/v1/events may carry; at most queue_size, and queue_size when that is smaller and this is not set.",
		field: func(c *Config) any { return &c.MaxBatch },
		check: func(c *Config) string {
			if c.MaxBatch > c.QueueSize && c.QueueSize > 0 {
				return "must not be more than queue_size " + strconv.Itoa(c.QueueSize)
			}
			return between(c.MaxBatch, 1, MaxQueueSize)
		},
	},
	{
		Key: "ingest_rate", Arg: "N", Commands: []string{serve},
		Usage: "POST /api/v1/events requests each principal (API key, user) may make per second on average; over it is 429. 0 is unlimited.",
		field: func(c *Config) any { return &c.IngestRate },
		check: func(c *Config) string { return between(c.IngestRate, 0, 1_000_000) },
	},
	{
		Key: "ingest_burst", Arg: "N", Commands: []string{serve},
		Usage: "Requests a principal may make at once before ingest_rate applies; 0 means ingest_rate's value.",
		field: func(c *Config) any { return &c.IngestBurst },
		check: func(c *Config) string { return between(c.IngestBurst, 0, 1_000_000) },
	},
	{
		Key: "demo", Commands: []string{serve},
		Usage: "Mount a small instrumented demo shop under /demo/ and drive it with generated traffic, so that events appear at once.",
		field: func(c *Config) any { return &c.Demo },
	},
	{
		Key: "demo_interval", Arg: "DURATION", Commands: []string{serve},
		Usage: "Period of the demo traffic generator: one request to the demo shop each time.",
		field: func(c *Config) any { return &c.DemoInterval },
		check: func(c *Config) string { return between(c.DemoInterval, MinInterval, time.Hour) },
	},
	{
		Key: "log_level", Arg: "LEVEL", Commands: []string{serve, worker},
		Usage: "Least important log messages written to stderr: debug, info, warn or error.",
		field: func(c *Config) any { return &c.LogLevel },
		check: func(c *Config) string { return oneOf(c.LogLevel, "debug", "info", "warn", "error") },
	},
	{
		Key: "log_format", Arg: "FORMAT", Commands: []string{serve, worker},
		Usage: "Format of the log on stderr: text or json.",
		field: func(c *Config) any { return &c.LogFormat },
		check: func(c *Config) string { return oneOf(c.LogFormat, "text", "json") },
	},
	{
		Key: "shutdown_timeout", Arg: "DURATION", Commands: []string{serve, worker},
		Usage: "On SIGINT or SIGTERM, how long to wait for requests in flight and for queued events to be written before giving up.",
		field: func(c *Config) any { return &c.ShutdownTimeout },
		check: func(c *Config) string { return positive(c.ShutdownTimeout) },
	},
	{
		Key: "session_ttl", Arg: "DURATION", Commands: []string{serve},
		Usage: "Longest a sign-in session lasts, however active.",
		field: func(c *Config) any { return &c.SessionTTL },
		check: func(c *Config) string { return between(c.SessionTTL, time.Minute, 30*24*time.Hour) },
	},
	{
		Key: "session_idle", Arg: "DURATION", Commands: []string{serve},
		Usage: "A sign-in session not used for this long ends.",
		field: func(c *Config) any { return &c.SessionIdle },
		check: func(c *Config) string { return between(c.SessionIdle, time.Minute, 30*24*time.Hour) },
	},
	{
		Key: "console_read_only", Commands: []string{serve},
		Usage: "Serve the web console read-only: it hides every control that changes something (resolving events, API keys, users). " +
			"The API's permissions apply either way; this is for a console that should only be read.",
		field: func(c *Config) any { return &c.ConsoleReadOnly },
	},
	{
		Key: "cookie_secure", Commands: []string{serve},
		Usage: "Mark the session cookie Secure even on requests that did not arrive over TLS: set it when a proxy in front terminates TLS. " +
			"Without it the cookie is Secure exactly on TLS requests.",
		field: func(c *Config) any { return &c.CookieSecure },
	},
	{
		Key: "jwt_secret_file", Arg: "PATH", Commands: []string{serve},
		Usage: "File holding the shared secret of HS256/384/512 bearer JWTs (trailing newlines are dropped). Setting any jwt_ key file or URL makes JWTs a way in.",
		field: func(c *Config) any { return &c.JWTSecretFile },
		check: func(c *Config) string {
			if c.JWTSecretFile == "" {
				return ""
			}
			if _, err := readTokenFile(c.JWTSecretFile); err != nil {
				return err.Error()
			}
			return ""
		},
	},
	{
		Key: "jwt_public_keys", Arg: "PATH", Commands: []string{serve},
		Usage: "PEM file of the RSA, ECDSA or Ed25519 public keys (or certificates) that verify bearer JWTs.",
		field: func(c *Config) any { return &c.JWTPublicKeys },
		check: func(c *Config) string {
			if c.JWTPublicKeys == "" {
				return ""
			}
			if _, err := readSmallFile(c.JWTPublicKeys); err != nil {
				return "cannot read: " + unwrapPathError(err)
			}
			return jwtReason(&jwtaudit.Options{PublicKeyFile: c.JWTPublicKeys}, "public_key_file")
		},
	},
	{
		Key: "jwt_jwks_url", Arg: "URL", Commands: []string{serve},
		Usage: "JSON Web Key Set of an identity provider (https, or http on loopback), whose keys verify bearer JWTs.",
		field: func(c *Config) any { return &c.JWTJWKSURL },
		check: func(c *Config) string {
			if c.JWTJWKSURL == "" {
				return ""
			}
			if u, err := url.Parse(c.JWTJWKSURL); err == nil && urlsecret.StrayAt(u) {
				return strayAtReason
			}
			return jwtReason(&jwtaudit.Options{JWKSURL: c.JWTJWKSURL}, "jwks_url")
		},
		redact: redactURL,
	},
	{
		Key: "jwt_issuer", Arg: "ISS", Commands: []string{serve},
		Usage: "When set, a bearer JWT's iss claim must equal it.",
		field: func(c *Config) any { return &c.JWTIssuer },
		check: func(c *Config) string { return needsJWTKey(c, c.JWTIssuer) },
	},
	{
		Key: "jwt_audience", Arg: "AUD", Commands: []string{serve},
		Usage: "When set, a bearer JWT's aud claim must hold it.",
		field: func(c *Config) any { return &c.JWTAudience },
		check: func(c *Config) string { return needsJWTKey(c, c.JWTAudience) },
	},
	{
		Key: "jwt_algorithms", Arg: "LIST", Commands: []string{serve},
		Usage: "Comma-separated signing algorithms accepted for bearer JWTs, from HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512 and EdDSA; " +
			"empty for every one the keys can verify. none is never accepted.",
		field: func(c *Config) any { return &c.JWTAlgorithms },
		check: func(c *Config) string {
			if r := needsJWTKey(c, c.JWTAlgorithms); r != "" || c.JWTAlgorithms == "" {
				return r
			}
			return jwtReason(c.jwtOptions(), "algorithms")
		},
	},
	{
		Key: "jwt_tenant_claim", Arg: "CLAIM", Commands: []string{serve},
		Usage: "Claim of a bearer JWT that names the principal's tenant.",
		field: func(c *Config) any { return &c.JWTTenantClaim },
		check: func(c *Config) string { return nonEmpty(c.JWTTenantClaim) },
	},
	{
		Key: "jwt_perm_claim", Arg: "CLAIM", Commands: []string{serve},
		Usage: "Claim of a bearer JWT that lists the principal's permissions (an array, or names separated by spaces); " +
			"an unknown name, or superuser, refuses the token.",
		field: func(c *Config) any { return &c.JWTPermClaim },
		check: func(c *Config) string { return nonEmpty(c.JWTPermClaim) },
	},
}, append(storageSettings, append(integritySettings, operationSettings...)...)...)

func needsJWTKey(c *Config, v string) string {
	if v != "" && !c.JWTEnabled() {
		return "needs a JWT key: set jwt_secret_file, jwt_public_keys or jwt_jwks_url"
	}
	return ""
}

// jwtOptions are the verifier options that serve makes of c, as far
// as they can be checked here: the keys that can be read, and the
// algorithms.
func (c *Config) jwtOptions() *jwtaudit.Options {
	o := &jwtaudit.Options{PublicKeyFile: c.JWTPublicKeys, JWKSURL: c.JWTJWKSURL}
	if c.JWTSecretFile != "" {
		if secret, err := readTokenFile(c.JWTSecretFile); err == nil {
			o.HMACSecret = []byte(secret)
		}
	}
	for a := range strings.SplitSeq(c.JWTAlgorithms, ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.Algorithms = append(o.Algorithms, a)
		}
	}
	return o
}

// jwtReason is why the JWT verifier refuses o, when it is for field:
// the setting of each field judges its own value, so that serve never
// meets, after opening its database, a JWT setting the loader let by.
func jwtReason(o *jwtaudit.Options, field string) string {
	_, err := jwtaudit.NewVerifier(o)
	var fe *activitylog.FieldError
	if errors.As(err, &fe) && fe.Field == field {
		return fe.Reason
	}
	return ""
}

func nonEmpty(s string) string {
	if s == "" {
		return "must not be empty"
	}
	return ""
}

// JWTEnabled reports whether a JWT key is configured, which makes bearer
// JWTs a way in.
func (c *Config) JWTEnabled() bool {
	return c.JWTSecretFile != "" || c.JWTPublicKeys != "" || c.JWTJWKSURL != ""
}

func init() {
	for _, s := range Settings {
		s.Flag = strings.ReplaceAll(s.Key, "_", "-")
		s.Env = "ACTIVITYLOG_" + strings.ToUpper(s.Key)
	}
}

// Lookup returns the setting with that YAML key, or nil.
func Lookup(key string) *Setting {
	for _, s := range Settings {
		if s.Key == key {
			return s
		}
	}
	return nil
}

// For returns the settings that command takes as flags, in order.
func For(command string) []*Setting {
	var out []*Setting
	for _, s := range Settings {
		for _, c := range s.Commands {
			if c == command {
				out = append(out, s)
			}
		}
	}
	return out
}

func checkAddr(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "must be host:port, like 127.0.0.1:8080"
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return "must have a port number between 0 and 65535"
	}
	return ""
}

// Validate checks every setting of c, and returns the first that is
// not acceptable, naming the key and the value.
func (c *Config) Validate() error {
	for _, s := range Settings {
		if err := s.validate(c); err != nil {
			return err
		}
	}
	return nil
}

func (s *Setting) validate(c *Config) error {
	if s.check == nil {
		return nil
	}
	if reason := s.check(c); reason != "" {
		return &Error{Key: s.Key, Value: s.Value(c), Reason: reason}
	}
	return nil
}

// Error is a setting that was refused. It wraps activitylog.ErrInvalid.
type Error struct {
	Key    string // the YAML key, e.g. "on_full"
	Value  string // the value refused
	Reason string // why, e.g. "must be one of block, drop, fail"
	Source string // where the value came from, e.g. "--on-full"; "" for a default or an unknown source
}

func (e *Error) Error() string {
	v := e.Value
	if len(v) > 100 {
		v = strings.ToValidUTF8(v[:100], "") + "…"
	}
	s := "config: " + e.Key + " " + strconv.Quote(v) + ": " + e.Reason
	if e.Source != "" {
		s += " (set by " + e.Source + ")"
	}
	return s
}

// Unwrap returns activitylog.ErrInvalid.
func (e *Error) Unwrap() error { return activitylog.ErrInvalid }

// parse sets the field ptr from text.
func parse(ptr any, text string) string {
	switch p := ptr.(type) {
	case *string:
		*p = text
	case *bool:
		v, err := strconv.ParseBool(text)
		if err != nil {
			return "is not a boolean: use true or false"
		}
		*p = v
	case *int:
		v, err := strconv.Atoi(text)
		if err != nil {
			return "is not an integer"
		}
		*p = v
	case *int64:
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return "is not an integer"
		}
		*p = v
	case *time.Duration:
		v, err := time.ParseDuration(text)
		if err != nil {
			if durationSyntax.MatchString(text) {
				return "is out of range: a duration is at most 2562047h (about 292 years)"
			}
			return "is not a duration: use a number and a unit, like 200ms, 5s or 1m30s"
		}
		*p = v
	default:
		panic(fmt.Sprintf("config: unsupported field type %T", ptr))
	}
	return ""
}

// durationSyntax is what time.ParseDuration reads, so that a value it
// refuses for all that is too large.
var durationSyntax = regexp.MustCompile(`^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$`)

func format(ptr any) string {
	switch p := ptr.(type) {
	case *string:
		return *p
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return strconv.Itoa(*p)
	case *int64:
		return strconv.FormatInt(*p, 10)
	case *time.Duration:
		return p.String()
	}
	panic(fmt.Sprintf("config: unsupported field type %T", ptr))
}

// RecorderOptions maps c onto the Recorder's options.
func (c *Config) RecorderOptions(logger *slog.Logger) *activitylog.Options {
	o := &activitylog.Options{
		Service:       c.Service,
		QueueSize:     c.QueueSize,
		BlockTimeout:  c.BlockTimeout,
		BatchSize:     c.BatchSize,
		FlushInterval: c.FlushInterval,
		WriteTimeout:  c.WriteTimeout,
		Logger:        logger,
	}
	if c.Mode == "sync" {
		o.Mode = activitylog.Sync
	}
	switch c.OnFull {
	case "drop":
		o.OnFull = activitylog.Drop
	case "fail":
		o.OnFull = activitylog.Fail
	}
	return o
}

// Level returns the slog level of LogLevel.
func (c *Config) Level() slog.Level {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// IsConfigError reports whether err is a configuration error (a refused
// setting, a bad or missing file) rather than a failure at run time.
func IsConfigError(err error) bool {
	var e *Error
	var fe *FileError
	return errors.As(err, &e) || errors.As(err, &fe)
}
