package dbconfighttp

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
	"github.com/activitylog/activitylog/internal/strictjson"
	"github.com/activitylog/activitylog/server"
)

// Category is the category of the audit events of config changes and
// tests.
const Category = "database_config"

// ObjectType is the object type of those events.
const ObjectType = "database_config"

// Reloader is what the Handler tells about each change, so that routing
// follows it at once. *dbconfig.Router fits it; when it also has
// Health (as *dbconfig.Router does), health-check reports the route.
type Reloader interface {
	Reload(ctx context.Context) error
}

// healthReporter is the Router's view of one config.
type healthReporter interface {
	Health(id string) dbconfig.RouteHealth
}

var (
	_ Reloader       = (*dbconfig.Router)(nil)
	_ healthReporter = (*dbconfig.Router)(nil)
)

// Options configures a Handler. The zero value, or nil, means the
// defaults written beside each field; Audit is required.
type Options struct {
	// Audit records every change and test-connection (an
	// *activitylog.Recorder fits). Required: a change to where events
	// are stored is never unrecorded.
	Audit server.Auditor
	// Router is reloaded after each change, before the answer. Default:
	// nil, none.
	Router Reloader
	// Check connects with a config (its password opened) for
	// test-connection and health-check. Default: dbconfig.DialCheck,
	// which only dials the server (or finds the SQLite file).
	Check dbconfig.Checker
	// CheckTimeout bounds one check. Default: 5s.
	CheckTimeout time.Duration
	// MaxBodyBytes bounds a request's body. Default: 64 KiB.
	MaxBodyBytes int64
	// Now is the clock of created_at and updated_at. Default: time.Now.
	Now func() time.Time
	// Logger receives what clients are not told. Default:
	// slog.Default().
	Logger *slog.Logger
}

// Defaults of Options.
const (
	DefaultCheckTimeout = 5 * time.Second
	DefaultMaxBodyBytes = 64 << 10
	auditTimeout        = 5 * time.Second
	reloadTimeout       = 30 * time.Second
	maxErrorText        = 512
)

// Handler serves the database config routes. It is safe for concurrent
// use.
type Handler struct {
	repo    dbconfig.Repository
	keys    *dbconfig.Keyring
	audit   server.Auditor
	router  Reloader
	check   dbconfig.Checker
	timeout time.Duration
	maxBody int64
	now     func() time.Time
	log     *slog.Logger
	failer  server.Failer
}

// New returns the Handler over repo, sealing passwords with keys. An
// error is a *activitylog.FieldError naming what is missing.
func New(repo dbconfig.Repository, keys *dbconfig.Keyring, opts *Options) (*Handler, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case repo == nil:
		return nil, activitylog.Invalid("repository", "nil", "is required")
	case keys == nil:
		return nil, activitylog.Invalid("keyring", "nil", "is required: passwords are stored only sealed")
	case o.Audit == nil:
		return nil, activitylog.Invalid("audit", "nil", "is required: every change to a database config is recorded")
	case o.CheckTimeout < 0:
		return nil, activitylog.Invalid("check_timeout", o.CheckTimeout.String(), "must not be negative")
	}
	if o.Check == nil {
		o.Check = dbconfig.DialCheck
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &Handler{
		repo: repo, keys: keys, audit: o.Audit, router: o.Router, check: o.Check, now: o.Now,
		timeout: cmp.Or(o.CheckTimeout, DefaultCheckTimeout),
		maxBody: cmp.Or(o.MaxBodyBytes, DefaultMaxBodyBytes),
		log:     cmp.Or(o.Logger, slog.Default()),
	}
	h.failer = h.newFailer()
	return h, nil
}

// Routes returns the Handler's routes, for server.Options.Routes; each
// needs manage_database_config.
func (h *Handler) Routes() []server.Route {
	need := activitylog.ManageDatabaseConfig
	return []server.Route{
		{Pattern: "GET /api/v1/database-configs", Need: need, Handler: h.list},
		{Pattern: "POST /api/v1/database-configs", Need: need, Handler: h.create},
		{Pattern: "GET /api/v1/database-configs/{id}", Need: need, Handler: h.get},
		{Pattern: "PUT /api/v1/database-configs/{id}", Need: need, Handler: h.update},
		{Pattern: "DELETE /api/v1/database-configs/{id}", Need: need, Handler: h.delete},
		{Pattern: "POST /api/v1/database-configs/{id}/test-connection", Need: need, Handler: h.testConnection},
		{Pattern: "POST /api/v1/database-configs/{id}/health-check", Need: need, Handler: h.healthCheck},
	}
}

// input is the body of POST and PUT, and of test-connection: every
// field optional, so that PUT changes only what it names. id,
// has_password, created_at and updated_at are accepted, so that a GET's
// answer can be sent back, and are not applied (id must be the
// config's).
type input struct {
	ID          *string            `json:"id"`
	Name        *string            `json:"name"`
	Engine      *string            `json:"engine"`
	Host        *string            `json:"host"`
	Port        *int               `json:"port"`
	Database    *string            `json:"database"`
	User        *string            `json:"user"`
	Password    *string            `json:"password"`
	Options     *map[string]string `json:"options"`
	RouteFor    *string            `json:"route_for"`
	Tenant      *string            `json:"tenant"`
	Primary     *bool              `json:"primary"`
	Active      *bool              `json:"active"`
	ReadOnly    *bool              `json:"read_only"`
	HasPassword *bool              `json:"has_password"`
	CreatedAt   *time.Time         `json:"created_at"`
	UpdatedAt   *time.Time         `json:"updated_at"`
}

const fieldList = "name, engine, host, port, database, user, password, options, route_for, tenant, primary, active, read_only"

// apply sets the fields in names onto c, and reports whether the
// password was given.
func (in *input) apply(c *dbconfig.Config) (passwordGiven bool) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&c.Name, in.Name)
	if in.Engine != nil {
		c.Engine = dbconfig.Engine(*in.Engine)
	}
	set(&c.Host, in.Host)
	if in.Port != nil {
		c.Port = *in.Port
	}
	set(&c.Database, in.Database)
	set(&c.User, in.User)
	if in.Options != nil {
		c.Options = maps.Clone(*in.Options)
	}
	set(&c.RouteFor, in.RouteFor)
	set(&c.Tenant, in.Tenant)
	for _, b := range []struct {
		dst *bool
		src *bool
	}{{&c.Primary, in.Primary}, {&c.Active, in.Active}, {&c.ReadOnly, in.ReadOnly}} {
		if b.src != nil {
			*b.dst = *b.src
		}
	}
	if in.Password != nil {
		c.Password = *in.Password
		return true
	}
	return false
}

// decode reads one JSON object into in, strictly (internal/strictjson:
// members given twice, in another case than the field's, unknown, null,
// or with strings that are not UTF-8 are refused). An empty body is
// allowed when optional; a body needs the Content-Type
// application/json (a *strictjson.MediaTypeError, answered 415). Every
// other error is a *activitylog.FieldError
// naming the field, or "body", and the value sent (never a password's).
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, in *input, optional bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		return jsonError(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return activitylog.Invalid("body", "", "is empty or cut short: send a JSON object")
	}
	if err := strictjson.ContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if err := strictjson.Check(body, inputType, strictjson.Options{What: "a database config", Known: fieldList, NoNull: true}); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(in); err != nil {
		if fe, ok := errors.AsType[*activitylog.FieldError](jsonError(err)); ok && fe.Field != "body" && fe.Value == "" {
			// The value sent, as strictjson shows it (a password's never).
			if se, ok := errors.AsType[*activitylog.FieldError](strictjson.DecodeError(body, err, "")); ok &&
				(se.Field == fe.Field || strings.HasPrefix(se.Field, fe.Field+".")) {
				return activitylog.Invalid(se.Field, se.Value, fe.Reason)
			}
			return fe
		}
		return jsonError(err)
	}
	if dec.Decode(new(json.RawMessage)) != io.EOF {
		return activitylog.Invalid("body", "", "must hold one JSON object")
	}
	return nil
}

var inputType = reflect.TypeFor[input]()

// jsonError names what was wrong with a body, without quoting it (it
// may hold a password).
func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return activitylog.Invalid("body", "", "is larger than "+strconv.FormatInt(mbe.Limit, 10)+" bytes")
	case errors.As(err, &se):
		return activitylog.Invalid("body", "", "is not valid JSON at byte "+strconv.FormatInt(se.Offset, 10))
	case errors.As(err, &te):
		if te.Field == "" {
			return activitylog.Invalid("body", "", "must be a JSON object with the fields "+fieldList)
		}
		if te.Field == "options" || strings.HasPrefix(te.Field, "options.") {
			return activitylog.Invalid(te.Field, "", "must be a JSON object of strings")
		}
		return activitylog.Invalid(te.Field, "", "must be a JSON "+jsonType(te.Type.String()))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return activitylog.Invalid("body", "", "is empty or cut short: send a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return activitylog.Invalid(clip(name), "", "is not a field of a database config; known are "+fieldList)
	}
	return activitylog.Invalid("body", "", "cannot be decoded")
}

func jsonType(goType string) string {
	switch {
	case strings.Contains(goType, "map"):
		return "object of strings"
	case strings.Contains(goType, "int"):
		return "integer"
	case strings.Contains(goType, "bool"):
		return "boolean"
	case strings.Contains(goType, "Time"):
		return "RFC 3339 time"
	}
	return "string"
}

// visible reports whether p may see and change c.
func visible(p *activitylog.Principal, c dbconfig.Config) bool {
	return p.Has(activitylog.Superuser) || c.Tenant == p.Tenant
}

// load returns the config of the request's {id}, as ErrNotFound when
// the principal may not see it.
func (h *Handler) load(r *http.Request) (dbconfig.Config, error) {
	id := r.PathValue("id")
	if !dbconfig.ValidID(id) {
		return dbconfig.Config{}, activitylog.Invalid("id", server.Clip(id), "is not a database config id (letters, digits, _ and -, at most 64)")
	}
	c, err := h.repo.Get(r.Context(), id)
	if err != nil {
		return c, err
	}
	if !visible(activitylog.PrincipalFrom(r.Context()), c) {
		return dbconfig.Config{}, fmt.Errorf("read database config %s: %w", id, activitylog.ErrNotFound)
	}
	return c, nil
}

// list handles GET /api/v1/database-configs.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	if err := server.NoParams(r); err != nil {
		h.fail(w, r, err)
		return
	}
	cs, err := h.repo.List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := activitylog.PrincipalFrom(r.Context())
	out := []dbconfig.Config{}
	for _, c := range cs {
		if visible(p, c) {
			out = append(out, c)
		}
	}
	server.WriteJSON(w, http.StatusOK, struct {
		Count   int               `json:"count"`
		Results []dbconfig.Config `json:"results"`
	}{len(out), out})
}

// get handles GET /api/v1/database-configs/{id}.
func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	if err := server.NoParams(r); err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.load(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, c)
}

// checkTenant refuses a config of another tenant than the principal's,
// unless it is a superuser.
func checkTenant(p *activitylog.Principal, c dbconfig.Config) error {
	if visible(p, c) {
		return nil
	}
	return &activitylog.ForbiddenError{Field: "tenant", Value: c.Tenant, Reason: "is not the tenant of " + server.PrincipalName(p)}
}

// checkEngine refuses a sqlite config to all but superusers: its
// database is a path on the server's own disk, which the store opens
// (and creates) there.
func checkEngine(p *activitylog.Principal, c dbconfig.Config) error {
	if c.Engine != dbconfig.SQLite || p.Has(activitylog.Superuser) {
		return nil
	}
	return &activitylog.ForbiddenError{Field: "engine", Value: string(c.Engine),
		Reason: "is for superusers only: a sqlite config names a file on the server's disk"}
}

// checkMoved refuses to keep old's stored password for c when c
// connects elsewhere than old, or as another user: the stored password
// is only ever sent to the server it was given for, so a request that
// changes where it goes gives the password again.
func checkMoved(old, c dbconfig.Config, passwordGiven bool) error {
	if passwordGiven || old.Secret == "" {
		return nil
	}
	if f := dbconfig.Moved(old, c); f != "" {
		return activitylog.Invalid("password", "", "is required when "+f+" changes: the stored password is sent only to the server it was given for")
	}
	return nil
}

// create handles POST /api/v1/database-configs:
//
//	{"name": "acme", "engine": "postgres", "host": "db1", "port": 5432, "database": "audit_acme",
//	 "user": "audit", "password": "…", "options": {"sslmode": "require"},
//	 "route_for": "all", "tenant": "acme", "primary": true, "active": true}
//
// route_for defaults to all, tenant to the principal's, active to true,
// primary to true unless read_only. The answer, 201, is the config.
func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := activitylog.PrincipalFrom(ctx)
	var in input
	if err := h.decode(w, r, &in, false); err != nil {
		h.fail(w, r, err)
		return
	}
	if in.ID != nil {
		h.fail(w, r, activitylog.Invalid("id", clip(*in.ID), "is made by the server; leave it out"))
		return
	}
	now := h.now().UTC()
	c := dbconfig.Config{ID: dbconfig.NewID(), RouteFor: dbconfig.RouteAll, Tenant: p.Tenant, Active: true, CreatedAt: now, UpdatedAt: now}
	in.apply(&c)
	if in.Primary == nil {
		c.Primary = !c.ReadOnly
	}
	if err := c.Validate(); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkTenant(p, c); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkEngine(p, c); err != nil {
		h.fail(w, r, err)
		return
	}
	sealed, err := h.keys.Conceal(c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.repo.Create(ctx, sealed); err != nil {
		h.fail(w, r, err)
		return
	}
	h.record(ctx, sealed, "create", "security", activitylog.SeverityNotice, nil, c.Password != "",
		"database config "+sealed.Name+" created by "+server.PrincipalName(p))
	h.reload(ctx)
	server.WriteJSON(w, http.StatusCreated, sealed)
}

// update handles PUT /api/v1/database-configs/{id}: the fields given
// replace the config's, the others are kept. A password replaces the
// stored one; "password": "" removes it; no password keeps it, unless
// engine, host, port, user or database change: then the password is
// required (400 naming password), so that a stored password never
// follows the config to another server.
func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := activitylog.PrincipalFrom(ctx)
	old, err := h.load(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in input
	if err := h.decode(w, r, &in, false); err != nil {
		h.fail(w, r, err)
		return
	}
	if in.ID != nil && *in.ID != old.ID {
		h.fail(w, r, activitylog.Invalid("id", clip(*in.ID), "is not the id of the config changed, "+old.ID))
		return
	}
	c := old
	c.Options = maps.Clone(old.Options)
	pwGiven := in.apply(&c)
	c.UpdatedAt = h.now().UTC()
	if err := c.Validate(); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkTenant(p, c); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkEngine(p, c); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkMoved(old, c, pwGiven); err != nil {
		h.fail(w, r, err)
		return
	}
	if pwGiven {
		c.Secret = ""
		if c, err = h.keys.Conceal(c); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if err := h.repo.Update(ctx, c); err != nil {
		h.fail(w, r, err)
		return
	}
	h.record(ctx, c, "update", "security", activitylog.SeverityNotice, dbconfig.AuditChanges(old, c), pwGiven,
		"database config "+c.Name+" updated by "+server.PrincipalName(p))
	h.reload(ctx)
	server.WriteJSON(w, http.StatusOK, c)
}

// delete handles DELETE /api/v1/database-configs/{id}: 204.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := h.load(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.repo.Delete(ctx, c.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	h.record(ctx, c, "delete", "security", activitylog.SeverityNotice, nil, false,
		"database config "+c.Name+" deleted by "+server.PrincipalName(activitylog.PrincipalFrom(ctx)))
	h.reload(ctx)
	w.WriteHeader(http.StatusNoContent)
}

// checkResult is the answer of test-connection and health-check.
type checkResult struct {
	OK        bool                  `json:"ok"`
	LatencyMS float64               `json:"latency_ms"`
	Error     string                `json:"error,omitempty"`
	CheckedAt time.Time             `json:"checked_at"`
	Route     *dbconfig.RouteHealth `json:"route,omitempty"`
}

// genericCheckError is what a principal that is not a superuser is told
// of a failed check: the detail (refused, timed out, no such host, a
// server's banner) would map the server's network for it. The detail is
// logged.
const genericCheckError = "could not connect"

// run checks c (its password open), within the timeout; the error text
// never holds the password, and is genericCheckError unless ctx's
// principal is a superuser.
func (h *Handler) run(ctx context.Context, c dbconfig.Config) checkResult {
	res := checkResult{CheckedAt: h.now().UTC()}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.timeout)
	defer cancel()
	start := time.Now()
	err := h.check(cctx, c)
	res.LatencyMS = float64(time.Since(start).Microseconds()) / 1000
	if err == nil {
		res.OK = true
		return res
	}
	if errors.Is(err, context.DeadlineExceeded) && cctx.Err() != nil {
		err = fmt.Errorf("no answer within %s: %w", h.timeout, err)
	}
	res.Error = clipN(dbconfig.RedactString(err.Error(), c.Password), maxErrorText)
	if !activitylog.PrincipalFrom(ctx).Has(activitylog.Superuser) {
		h.log.WarnContext(ctx, "activitylog dbconfig: connection check failed", "config", c.ID, "name", c.Name, "err", res.Error)
		res.Error = genericCheckError
	}
	return res
}

// testConnection handles POST /api/v1/database-configs/{id}/test-connection:
// it connects with the stored config, or with the fields a body gives
// in its place (say, a new password to try before saving it), and
// answers {"ok", "latency_ms", "error"}. The stored password is used
// only when engine, host, port, user and database are the stored ones;
// a body that changes any of them gives the password too (else 400
// naming password). error is the detail for a superuser, "could not
// connect" for others (the detail is logged). It is recorded.
func (h *Handler) testConnection(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	stored, err := h.load(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in input
	if err := h.decode(w, r, &in, true); err != nil {
		h.fail(w, r, err)
		return
	}
	if in.ID != nil && *in.ID != stored.ID {
		h.fail(w, r, activitylog.Invalid("id", clip(*in.ID), "is not the id of the config tested, "+stored.ID))
		return
	}
	p := activitylog.PrincipalFrom(ctx)
	c := stored
	c.Options = maps.Clone(c.Options)
	pwGiven := in.apply(&c)
	if err := c.Validate(); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkTenant(p, c); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkEngine(p, c); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkMoved(stored, c, pwGiven); err != nil {
		h.fail(w, r, err)
		return
	}
	if !pwGiven {
		open, err := h.keys.Reveal(stored)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		c.Password = open.Password
	}
	res := h.run(ctx, c)
	action, sev, verdict := "security", activitylog.SeverityInfo, "succeeded"
	if !res.OK {
		action, sev, verdict = "warning", activitylog.SeverityWarning, "failed"
	}
	shown := c
	shown.Password, shown.Secret = "", stored.Secret
	h.recordTest(ctx, shown, action, sev, res, "connection test of database config "+c.Name+" "+verdict)
	server.WriteJSON(w, http.StatusOK, res)
}

// healthCheck handles POST /api/v1/database-configs/{id}/health-check:
// a check of the stored config, with the router's view of its route
// ("route": routed, open, down, error, written) when the Handler has a
// router. It is a read, and is not recorded.
func (h *Handler) healthCheck(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := server.NoParams(r); err != nil {
		h.fail(w, r, err)
		return
	}
	var in input
	if err := h.decode(w, r, &in, true); err != nil {
		h.fail(w, r, err)
		return
	}
	if in != (input{}) {
		h.fail(w, r, activitylog.Invalid("body", "", "must be empty: a health check checks the config as stored (test-connection tries other values)"))
		return
	}
	stored, err := h.load(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var res checkResult
	if c, err := h.keys.Reveal(stored); err != nil {
		res = checkResult{CheckedAt: h.now().UTC(), Error: clipN(err.Error(), maxErrorText)}
	} else {
		res = h.run(ctx, c)
	}
	if hr, ok := h.router.(healthReporter); ok {
		rh := hr.Health(stored.ID)
		if rh.Error != "" && !activitylog.PrincipalFrom(ctx).Has(activitylog.Superuser) {
			h.log.WarnContext(ctx, "activitylog dbconfig: route cannot open its store", "config", stored.ID, "name", stored.Name, "err", rh.Error)
			rh.Error = genericCheckError
		}
		res.Route = &rh
	}
	server.WriteJSON(w, http.StatusOK, res)
}

// reload tells the router about a change, and logs its failure: the
// change is stored, and the router's refresh will pick it up.
func (h *Handler) reload(ctx context.Context) {
	if h.router == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reloadTimeout)
	defer cancel()
	if err := h.router.Reload(rctx); err != nil {
		h.log.ErrorContext(ctx, "activitylog dbconfig: reload the router after a change", "err", err)
	}
}

func (h *Handler) record(ctx context.Context, c dbconfig.Config, op, action string, sev activitylog.Severity,
	ch map[string]activitylog.Change, passwordChanged bool, msg string) {
	extra := c.AuditFields()
	extra["operation"] = op
	if op == "update" {
		extra["password_changed"] = passwordChanged
	}
	h.emit(ctx, activitylog.Event{Kind: activitylog.KindSystem, Action: action, Severity: sev, Category: Category,
		Tenant: c.Tenant, Object: activitylog.Object{Type: ObjectType, ID: c.ID, Repr: c.Name},
		Changes: ch, Extra: extra, Message: msg})
}

func (h *Handler) recordTest(ctx context.Context, c dbconfig.Config, action string, sev activitylog.Severity, res checkResult, msg string) {
	extra := c.AuditFields()
	extra["operation"] = "test_connection"
	extra["ok"] = res.OK
	extra["latency_ms"] = res.LatencyMS
	if res.Error != "" {
		extra["error"] = res.Error
	}
	h.emit(ctx, activitylog.Event{Kind: activitylog.KindSystem, Action: action, Severity: sev, Category: Category,
		Tenant: c.Tenant, Object: activitylog.Object{Type: ObjectType, ID: c.ID, Repr: c.Name}, Extra: extra, Message: msg})
}

// emit records e with a timeout of its own, so that a client that went
// away does not drop it; a failure is logged.
func (h *Handler) emit(ctx context.Context, e activitylog.Event) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if err := h.audit.Record(actx, e); err != nil {
		h.log.ErrorContext(ctx, "activitylog dbconfig: record a database config event", "operation", e.Extra["operation"], "config", e.Object.ID, "err", err)
	}
}

func clip(s string) string { return clipN(s, 32) }

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

// fail answers err as the API does (server.Failer), this package's
// own errors first.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) { h.failer.Fail(w, r, err) }

// newFailer is h's Failer.
func (h *Handler) newFailer() server.Failer {
	return server.Failer{Log: h.log, What: "dbconfig", NotFound: "no database config has that id", Internal: "",
		Map: func(w http.ResponseWriter, r *http.Request, err error) bool {
			if me, ok := errors.AsType[*strictjson.MediaTypeError](err); ok {
				server.WriteError(w, http.StatusUnsupportedMediaType, server.APIError{Code: "unsupported_media_type", Message: me.Error(), Field: "Content-Type", Value: &me.Value})
				return true
			}
			if errors.Is(err, dbconfig.ErrUnknownKey) || errors.Is(err, dbconfig.ErrDecrypt) {
				h.log.ErrorContext(r.Context(), "activitylog dbconfig: stored password does not decrypt", "method", r.Method, "path", r.URL.Path, "err", err)
				server.WriteError(w, http.StatusConflict, server.APIError{Code: "undecryptable", Message: "the stored password does not decrypt with the configured keys; set it again"})
				return true
			}
			return false
		},
	}
}
