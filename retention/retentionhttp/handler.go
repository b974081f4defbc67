package retentionhttp

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/strictjson"
	"github.com/activitylog/activitylog/retention"
	"github.com/activitylog/activitylog/server"
)

// Options configures a Handler. The zero value, or nil, means the
// defaults written beside each field; Audit is required.
type Options struct {
	// Audit records every change (an *activitylog.Recorder fits).
	// Required: a change to what is deleted is never unrecorded.
	Audit server.Auditor
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
	DefaultMaxBodyBytes = 64 << 10
	auditTimeout        = 5 * time.Second
)

// Handler serves the retention policy routes. It is safe for
// concurrent use.
type Handler struct {
	repo    retention.Repository
	runner  *retention.Runner
	audit   server.Auditor
	maxBody int64
	now     func() time.Time
	log     *slog.Logger
	failer  server.Failer
}

// New returns the Handler over repo, running policies with runner (over
// the same repository). An error is a *activitylog.FieldError naming
// what is missing.
func New(repo retention.Repository, runner *retention.Runner, opts *Options) (*Handler, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	switch {
	case repo == nil:
		return nil, activitylog.Invalid("repository", "nil", "is required")
	case runner == nil:
		return nil, activitylog.Invalid("runner", "nil", "is required: run-now runs the policies")
	case o.Audit == nil:
		return nil, activitylog.Invalid("audit", "nil", "is required: every change to a retention policy is recorded")
	case o.MaxBodyBytes < 0:
		return nil, activitylog.Invalid("max_body_bytes", strconv.FormatInt(o.MaxBodyBytes, 10), "must not be negative")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &Handler{repo: repo, runner: runner, audit: o.Audit, now: o.Now,
		maxBody: cmp.Or(o.MaxBodyBytes, DefaultMaxBodyBytes), log: cmp.Or(o.Logger, slog.Default())}
	h.failer = h.newFailer()
	return h, nil
}

// Routes returns the Handler's routes, for server.Options.Routes; each
// needs manage_retention.
func (h *Handler) Routes() []server.Route {
	need := activitylog.ManageRetention
	return []server.Route{
		{Pattern: "GET /api/v1/retention-policies", Need: need, Handler: h.list},
		{Pattern: "POST /api/v1/retention-policies", Need: need, Handler: h.create},
		{Pattern: "POST /api/v1/retention-policies/dry-run", Need: need, Handler: h.dryRun},
		{Pattern: "GET /api/v1/retention-policies/{id}", Need: need, Handler: h.get},
		{Pattern: "PUT /api/v1/retention-policies/{id}", Need: need, Handler: h.update},
		{Pattern: "DELETE /api/v1/retention-policies/{id}", Need: need, Handler: h.delete},
		{Pattern: "POST /api/v1/retention-policies/{id}/run-now", Need: need, Handler: h.runNow},
	}
}

// input is the body of POST and PUT: every field optional, so that PUT
// changes only what it names. id and the read-only fields are accepted,
// so that a GET's answer can be sent back, and are never applied: PUT
// refuses one that is not the policy's (readOnly), POST refuses id and
// ignores the others.
type input struct {
	ID             *string         `json:"id"`
	Name           *string         `json:"name"`
	Kind           *string         `json:"kind"`
	RetainDays     *int            `json:"retain_days"`
	Active         *bool           `json:"active"`
	Tenant         *string         `json:"tenant"`
	AllTenants     *bool           `json:"all_tenants"`
	Archive        *bool           `json:"archive"`
	LastRun        json.RawMessage `json:"last_run"` // not a pointer: null is kept, as "null"
	RecordsDeleted *int64          `json:"records_deleted"`
	LastError      *string         `json:"last_error"`
	CreatedAt      *time.Time      `json:"created_at"`
	UpdatedAt      *time.Time      `json:"updated_at"`
}

const fieldList = "name, kind, retain_days, active, tenant, all_tenants, archive"

// apply sets the fields given onto p.
func (in *input) apply(p *retention.Policy) {
	for _, s := range []struct {
		dst *string
		src *string
	}{{&p.Name, in.Name}, {&p.Kind, in.Kind}, {&p.Tenant, in.Tenant}} {
		if s.src != nil {
			*s.dst = *s.src
		}
	}
	if in.RetainDays != nil {
		p.RetainDays = *in.RetainDays
	}
	for _, b := range []struct {
		dst *bool
		src *bool
	}{{&p.Active, in.Active}, {&p.AllTenants, in.AllTenants}, {&p.Archive, in.Archive}} {
		if b.src != nil {
			*b.dst = *b.src
		}
	}
}

// decode reads one JSON object into in, strictly (internal/strictjson:
// members given twice, in another case than the field's, unknown, null,
// or with strings that are not UTF-8 are refused). Every error is a
// *activitylog.FieldError naming the field, or "body", and the value
// sent; a Content-Type other than application/json is a
// *strictjson.MediaTypeError, answered 415.
func (h *Handler) decode(w http.ResponseWriter, r *http.Request, in *input) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if mbe, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return activitylog.Invalid("body", "", "is larger than "+strconv.FormatInt(mbe.Limit, 10)+" bytes")
		}
		return activitylog.Invalid("body", "", "cannot be read")
	}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := strictjson.ContentType(r.Header.Get("Content-Type")); err != nil {
			return err
		}
	}
	if len(bytes.TrimSpace(body)) > 0 && bytes.TrimSpace(body)[0] != '{' {
		return activitylog.Invalid("body", "", "must be a JSON object with the fields "+fieldList)
	}
	if err := strictjson.Check(body, inputType, strictjson.Options{What: "a retention policy", Known: fieldList, NoNull: true, Nullable: []string{"last_run"}}); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(in); err != nil {
		re := retention.JSONError(err, "a retention policy", fieldList)
		if fe, ok := errors.AsType[*activitylog.FieldError](re); ok && fe.Field != "body" && fe.Value == "" {
			if se, ok := errors.AsType[*activitylog.FieldError](strictjson.DecodeError(body, err, "")); ok && se.Field == fe.Field {
				return activitylog.Invalid(fe.Field, se.Value, fe.Reason)
			}
		}
		return re
	}
	if dec.Decode(new(json.RawMessage)) != io.EOF {
		return activitylog.Invalid("body", "", "must hold one JSON object")
	}
	return nil
}

var inputType = reflect.TypeFor[input]()

// visible reports whether p may see, change and run pol: a principal
// without a tenant every policy, as for purges; one with a tenant its
// tenant's.
func visible(p *activitylog.Principal, pol retention.Policy) bool {
	return p.Has(activitylog.Superuser) || p.Tenant == "" || (!pol.AllTenants && pol.Tenant == p.Tenant)
}

// ruleVisible is visible for a rule of a plan.
func ruleVisible(p *activitylog.Principal, r retention.Rule) bool {
	return visible(p, retention.Policy{Tenant: r.Tenant, AllTenants: r.AllTenants})
}

// checkTenant refuses a policy that p may not have.
func checkTenant(p *activitylog.Principal, pol retention.Policy) error {
	if visible(p, pol) {
		return nil
	}
	if pol.AllTenants {
		return &activitylog.ForbiddenError{Field: "all_tenants", Value: "true", Reason: "is not for " + server.PrincipalName(p) + ", which manages tenant " + strconv.Quote(p.Tenant) + " only"}
	}
	return &activitylog.ForbiddenError{Field: "tenant", Value: pol.Tenant, Reason: "is not the tenant of " + server.PrincipalName(p)}
}

// load returns the policy of the request's {id}, as ErrNotFound when the
// principal may not see it.
func (h *Handler) load(r *http.Request) (retention.Policy, error) {
	id := r.PathValue("id")
	if !retention.ValidID(id) {
		return retention.Policy{}, activitylog.Invalid("id", server.Clip(id), "is not a retention policy id (letters, digits, _ and -, at most 64)")
	}
	pol, err := h.repo.Get(r.Context(), id)
	if err != nil {
		return pol, err
	}
	if !visible(activitylog.PrincipalFrom(r.Context()), pol) {
		return retention.Policy{}, fmt.Errorf("read retention policy %s: %w", id, activitylog.ErrNotFound)
	}
	return pol, nil
}

// list handles GET /api/v1/retention-policies.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	if err := server.NoParams(r); err != nil {
		h.fail(w, r, err)
		return
	}
	ps, err := h.repo.List(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := activitylog.PrincipalFrom(r.Context())
	out := []retention.Policy{}
	for _, pol := range ps {
		if visible(p, pol) {
			out = append(out, pol)
		}
	}
	server.WriteJSON(w, http.StatusOK, struct {
		Count   int                `json:"count"`
		Results []retention.Policy `json:"results"`
	}{len(out), out})
}

// get handles GET /api/v1/retention-policies/{id}.
func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	if err := server.NoParams(r); err != nil {
		h.fail(w, r, err)
		return
	}
	pol, err := h.load(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, pol)
}

// create handles POST /api/v1/retention-policies:
//
//	{"name": "requests 30 days", "kind": "request", "retain_days": 30}
//
// kind defaults to all, active to true; tenant to the principal's, and
// all_tenants to true for a principal without a tenant that names no
// tenant. The answer, 201, is the policy.
func (h *Handler) create(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := activitylog.PrincipalFrom(ctx)
	if err := server.NoParams(r); err != nil {
		h.fail(w, r, err)
		return
	}
	var in input
	if err := h.decode(w, r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if in.ID != nil {
		h.fail(w, r, activitylog.Invalid("id", clip(*in.ID), "is made by the server; leave it out"))
		return
	}
	now := h.now().UTC()
	pol := retention.Policy{ID: retention.NewID(), Kind: retention.AllKinds, Active: true, Tenant: p.Tenant,
		AllTenants: p.Tenant == "" && in.Tenant == nil, CreatedAt: now, UpdatedAt: now}
	in.apply(&pol)
	if err := pol.Validate(); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkTenant(p, pol); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.repo.Create(ctx, pol); err != nil {
		h.fail(w, r, err)
		return
	}
	h.record(ctx, pol, "create", nil, "retention policy "+pol.Name+" created by "+server.PrincipalName(p))
	server.WriteJSON(w, http.StatusCreated, pol)
}

// update handles PUT /api/v1/retention-policies/{id}: the fields given
// replace the policy's, the others are kept.
func (h *Handler) update(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := activitylog.PrincipalFrom(ctx)
	if err := server.NoParams(r); err != nil {
		h.fail(w, r, err)
		return
	}
	old, err := h.load(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var in input
	if err := h.decode(w, r, &in); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := readOnly(&in, old); err != nil {
		h.fail(w, r, err)
		return
	}
	pol := old
	in.apply(&pol)
	if in.Tenant != nil && *in.Tenant != "" && in.AllTenants == nil {
		pol.AllTenants = false // naming a tenant narrows the policy to it
	}
	pol.UpdatedAt = h.now().UTC()
	if err := pol.Validate(); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := checkTenant(p, pol); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.repo.Update(ctx, pol); err != nil {
		h.fail(w, r, err)
		return
	}
	if got, err := h.repo.Get(ctx, pol.ID); err == nil {
		pol = got // with the run fields as they are now
	}
	h.record(ctx, pol, "update", changes(old, pol), "retention policy "+pol.Name+" updated by "+server.PrincipalName(p))
	server.WriteJSON(w, http.StatusOK, pol)
}

// readOnly refuses a read-only field of in whose value is not old's.
// They are accepted so that a GET's answer can be sent back as it is;
// one that differs asks for a change that PUT does not make (or was
// read before the policy was changed or run), and ignoring it would
// answer 200 to a request that did not do what it says.
func readOnly(in *input, old retention.Policy) error {
	if in.ID != nil && *in.ID != old.ID {
		return activitylog.Invalid("id", clip(*in.ID), "is not the id of the policy changed, "+old.ID)
	}
	if in.RecordsDeleted != nil && *in.RecordsDeleted != old.RecordsDeleted {
		return differs("records_deleted", strconv.FormatInt(*in.RecordsDeleted, 10), strconv.FormatInt(old.RecordsDeleted, 10))
	}
	if in.LastError != nil && *in.LastError != old.LastError {
		return differs("last_error", clip(*in.LastError), strconv.Quote(clip(old.LastError)))
	}
	for _, f := range []struct {
		name   string
		sent   *time.Time
		stored time.Time
	}{{"created_at", in.CreatedAt, old.CreatedAt}, {"updated_at", in.UpdatedAt, old.UpdatedAt}} {
		if f.sent != nil && !f.sent.Equal(f.stored) {
			return differs(f.name, f.sent.Format(time.RFC3339Nano), f.stored.UTC().Format(time.RFC3339Nano))
		}
	}
	return lastRun(in.LastRun, old.LastRun)
}

// lastRun refuses a last_run sent that is not stored, the time of the
// policy's newest run, or null when it never ran.
func lastRun(raw json.RawMessage, stored time.Time) error {
	if raw == nil {
		return nil
	}
	shown := "null"
	if !stored.IsZero() {
		shown = stored.UTC().Format(time.RFC3339Nano)
	}
	var sent time.Time
	switch {
	case string(raw) == "null":
		if stored.IsZero() {
			return nil
		}
		return differs("last_run", "null", shown)
	case json.Unmarshal(raw, &sent) != nil:
		return activitylog.Invalid("last_run", clip(rawText(raw)), "must be null or a time (RFC 3339), as GET answers it: "+shown)
	case !stored.IsZero() && sent.Equal(stored):
		return nil
	}
	return differs("last_run", sent.Format(time.RFC3339Nano), shown)
}

// differs refuses a read-only field sent with another value than the
// stored one; a number or a time is shown whole, text clipped by the
// caller.
func differs(field, sent, stored string) error {
	return activitylog.Invalid(field, sent, "is read-only and the policy's is "+stored+": leave it out, or send it as GET answers it now")
}

// rawText is a JSON value as an error shows it: a string's contents,
// anything else as it was sent.
func rawText(raw json.RawMessage) string {
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// delete handles DELETE /api/v1/retention-policies/{id}: 204.
func (h *Handler) delete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := server.NoParams(r); err != nil {
		h.fail(w, r, err)
		return
	}
	pol, err := h.load(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.repo.Delete(ctx, pol.ID); err != nil {
		h.fail(w, r, err)
		return
	}
	h.record(ctx, pol, "delete", nil, "retention policy "+pol.Name+" deleted by "+server.PrincipalName(activitylog.PrincipalFrom(ctx)))
	w.WriteHeader(http.StatusNoContent)
}

// dryRunParam reads ?dry_run=true|false, refusing every other
// parameter.
func dryRunParam(r *http.Request) (bool, error) {
	dry := false
	for name, vs := range r.URL.Query() {
		if name != "dry_run" {
			return false, activitylog.Invalid(clip(name), clip(strings.Join(vs, ",")), "is not a parameter of "+r.URL.Path+", which takes dry_run only")
		}
		if len(vs) != 1 {
			return false, activitylog.Invalid("dry_run", clip(strings.Join(vs, ",")), "must be given once")
		}
		b, err := strconv.ParseBool(vs[0])
		if err != nil {
			return false, activitylog.Invalid("dry_run", clip(vs[0]), "must be true or false")
		}
		dry = b
	}
	return dry, nil
}

// emptyBody refuses a body: the run routes take none.
func (h *Handler) emptyBody(w http.ResponseWriter, r *http.Request) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil || strings.TrimSpace(string(b)) != "" && strings.TrimSpace(string(b)) != "{}" {
		return activitylog.Invalid("body", "", "must be empty: this route takes no body")
	}
	return nil
}

// runNow handles POST /api/v1/retention-policies/{id}/run-now: it runs
// the policy now, active or not, and answers the run's report; with
// ?dry_run=true it counts what the run would delete, deleting nothing.
// A run that fails answers with the error's status; its report is in
// the policy's last_error and the audit events.
func (h *Handler) runNow(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	dry, err := dryRunParam(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.emptyBody(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	pol, err := h.load(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if dry {
		plan, err := h.runner.PlanPolicy(ctx, pol.ID)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		server.WriteJSON(w, http.StatusOK, plan)
		return
	}
	rep, err := h.runner.RunPolicy(context.WithoutCancel(ctx), pol.ID) // a run under way finishes
	if err != nil {
		h.fail(w, r, err)
		return
	}
	server.WriteJSON(w, http.StatusOK, rep)
}

// dryRun handles POST /api/v1/retention-policies/dry-run: what a run of
// every active policy (and the default retention) would delete now, per
// rule and per kind, deleting nothing; a principal with a tenant sees
// its tenant's rules only.
func (h *Handler) dryRun(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if err := server.NoParams(r); err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.emptyBody(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	plan, err := h.runner.Plan(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := activitylog.PrincipalFrom(ctx)
	out := retention.Plan{At: plan.At, Rules: []retention.PlanRule{}, ByKind: map[activitylog.Kind]int64{}}
	for _, pr := range plan.Rules {
		if !ruleVisible(p, pr.Rule) {
			continue
		}
		out.Rules = append(out.Rules, pr)
		out.Count += pr.Count
		for k, n := range pr.ByKind {
			out.ByKind[k] += n
		}
	}
	server.WriteJSON(w, http.StatusOK, out)
}

// fields are a policy's recorded fields.
func fields(p retention.Policy) map[string]any {
	return map[string]any{
		"policy_id": p.ID, "name": p.Name, "kind": p.Kind, "retain_days": p.RetainDays, "active": p.Active,
		"tenant": p.Tenant, "all_tenants": p.AllTenants, "archive": p.Archive,
	}
}

// changes lists the fields that differ between a and b.
func changes(a, b retention.Policy) map[string]activitylog.Change {
	fa, fb := fields(a), fields(b)
	out := map[string]activitylog.Change{}
	for k, va := range fa {
		if vb := fb[k]; va != vb {
			out[k] = activitylog.Change{Old: va, New: vb}
		}
	}
	return out
}

// record records a change of pol, with a timeout of its own so that a
// client that went away does not drop it; a failure is logged.
func (h *Handler) record(ctx context.Context, pol retention.Policy, op string, ch map[string]activitylog.Change, msg string) {
	extra := fields(pol)
	extra["operation"] = op
	e := activitylog.Event{Kind: activitylog.KindSystem, Action: "security", Severity: activitylog.SeverityNotice,
		Category: activitylog.CategoryRetention, Tenant: pol.Tenant,
		Object:  activitylog.Object{Type: retention.ObjectType, ID: pol.ID, Repr: pol.Name},
		Changes: ch, Extra: extra, Message: msg}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if err := h.audit.Record(actx, e); err != nil {
		h.log.ErrorContext(ctx, "activitylog retention: record a retention policy event", "operation", op, "policy", pol.ID, "err", err)
	}
}

func clip(s string) string {
	const n = 32
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
	return server.Failer{Log: h.log, What: "retention", NotFound: "no retention policy has that id", Internal: "internal error; the policy's last_error and the audit trail say more",
		Map: func(w http.ResponseWriter, r *http.Request, err error) bool {
			var ce *retention.ConflictError
			switch {
			case errors.As(err, new(*strictjson.MediaTypeError)):
				me, _ := errors.AsType[*strictjson.MediaTypeError](err)
				server.WriteError(w, http.StatusUnsupportedMediaType, server.APIError{Code: "unsupported_media_type", Message: me.Error(), Field: "Content-Type", Value: &me.Value})
			case errors.As(err, &ce):
				v := ce.Value
				server.WriteError(w, http.StatusConflict, server.APIError{Code: "conflict", Message: ce.Error(), Field: ce.Field, Value: &v})
			case errors.Is(err, retention.ErrNoArchiver):
				server.WriteError(w, http.StatusConflict, server.APIError{Code: "no_archiver", Message: retention.ErrNoArchiver.Error()})
			default:
				return false
			}
			return true
		},
	}
}
