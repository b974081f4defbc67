package server

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
)

// PurgeFunc deletes the events a PurgeRequest selects (Options.Purge).
type PurgeFunc func(ctx context.Context, r activitylog.PurgeRequest) (activitylog.PurgeResult, error)

// purgeAuditTimeout bounds the recording of a purge's events.
const purgeAuditTimeout = 5 * time.Second

// purgeRequest is the body of POST /api/v1/events/purge.
type purgeRequest struct {
	Kinds   []string `json:"kinds"`
	Tenant  *string  `json:"tenant"`
	Confirm string   `json:"confirm"`
}

var purgeRequestType = reflect.TypeFor[purgeRequest]()

// purgeAnswer is the answer of POST /api/v1/events/purge.
type purgeAnswer struct {
	Before     time.Time          `json:"before"`
	Kinds      []activitylog.Kind `json:"kinds"`
	Tenant     *string            `json:"tenant"` // null: every tenant
	StartedBy  string             `json:"started_by"`
	StartEvent activitylog.ID     `json:"purge_started_event"`
	activitylog.PurgeResult
}

// purgeHandler handles POST /api/v1/events/purge:
//
//	{"kinds": ["crud"], "confirm": "purge crud"}    one kind (or several, comma-joined in confirm)
//	{"confirm": "purge all"}                         every kind
//
// It deletes every event of those kinds recorded before the request,
// in the principal's tenant (a principal without a tenant: every
// tenant, or the one "tenant" names). confirm must repeat what is
// purged, as typed by a person. It is audited: a system event (action
// security, category retention) with operation purge_started before
// anything is deleted (after the cut, so the purge keeps it), and one
// with operation purge or purge_failed and the counts after. Without Options.Audit the route answers 501:
// a purge is never unrecorded. It takes no query parameter: one (such
// as ?dry_run=1, which it does not have) is refused before anything is
// read or deleted.
func (s *server) purgeHandler(purge PurgeFunc, audit Auditor) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if purge == nil || audit == nil {
			s.writeError(w, http.StatusNotImplemented, apiError{Code: "not_implemented",
				Message: "this server cannot purge: its store has no purge, or it has no audit recorder to record the purge with"})
			return
		}
		if err := NoParams(r); err != nil {
			s.fail(w, r, err)
			return
		}
		body, ok := s.jsonBody(w, r)
		if !ok {
			return
		}
		req, err := decodePurgeRequest(body)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		ctx := r.Context()
		p := activitylog.PrincipalFrom(ctx)
		pr := activitylog.PurgeRequest{Before: time.Now().UTC()}
		what := "all"
		if len(req.Kinds) > 0 {
			for i, k := range req.Kinds {
				kind := activitylog.Kind(k)
				if !kind.Valid() {
					s.fail(w, r, activitylog.Invalid("kinds["+strconv.Itoa(i)+"]", clip(k), "is not a kind; known are "+kindNames()))
					return
				}
				if !slices.Contains(pr.Kinds, kind) {
					pr.Kinds = append(pr.Kinds, kind)
				}
			}
			names := make([]string, len(pr.Kinds))
			for i, k := range pr.Kinds {
				names[i] = string(k)
			}
			what = strings.Join(names, ",")
		}
		switch {
		case p.Tenant != "":
			if req.Tenant != nil && *req.Tenant != p.Tenant {
				s.fail(w, r, &activitylog.ForbiddenError{Field: "tenant", Value: clip(*req.Tenant), Reason: "is not the principal's tenant " + strconv.Quote(p.Tenant)})
				return
			}
			pr.Tenant = p.Tenant
		case req.Tenant != nil:
			pr.Tenant = *req.Tenant
		default:
			pr.AllTenants = true
		}
		if want := "purge " + what; req.Confirm != want {
			s.fail(w, r, activitylog.Invalid("confirm", clip(req.Confirm), "must be "+strconv.Quote(want)+": type it to confirm that every such event recorded before now is deleted"))
			return
		}
		ans := purgeAnswer{Before: pr.Before, Kinds: pr.Kinds, StartedBy: principalName(p)}
		if ans.Kinds == nil {
			ans.Kinds = []activitylog.Kind{}
		}
		if !pr.AllTenants {
			ans.Tenant = &pr.Tenant
		}
		extra := map[string]any{"operation": activitylog.PurgeStarted, "kinds": what, "before": pr.Before.Format(time.RFC3339Nano)}
		if ans.Tenant != nil {
			extra["tenant"] = *ans.Tenant
		} else {
			extra["tenant"] = "*"
		}
		started := activitylog.Event{ID: activitylog.NewID(time.Now()), Kind: activitylog.KindSystem, Category: activitylog.CategoryRetention,
			Action: "security", Severity: activitylog.SeverityWarning, Tenant: pr.Tenant, Extra: extra,
			Object:  activitylog.Object{Type: "events"},
			Message: "purge of " + what + " events recorded before " + pr.Before.Format(time.RFC3339) + " started by " + principalName(p)}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), purgeAuditTimeout)
		defer cancel()
		if err := audit.Record(actx, started); err != nil {
			// Not recorded: not done.
			s.fail(w, r, err)
			return
		}
		ans.StartEvent = started.ID
		res, err := purge(context.WithoutCancel(ctx), pr) // a purge under way finishes even if the client goes
		ans.PurgeResult = res
		done := started
		done.ID = activitylog.NewID(time.Now())
		done.Extra = map[string]any{"operation": activitylog.PurgeDone, "kinds": what, "tenant": extra["tenant"], "before": extra["before"], "deleted": res.Deleted,
			"kept_sealed": res.KeptSealed, "pruned": res.Pruned, "started": started.ID.String()}
		for k, n := range res.ByKind {
			done.Extra["deleted_"+string(k)] = n
		}
		done.Message = "purged " + strconv.FormatInt(res.Deleted+res.Pruned, 10) + " " + what + " events recorded before " + pr.Before.Format(time.RFC3339)
		if err != nil {
			done.Extra["operation"], done.Severity = activitylog.PurgeFailed, activitylog.SeverityError
			done.Extra["error"] = clipN(err.Error(), 1024)
			done.Message = "purge failed after " + strings.TrimPrefix(done.Message, "purged ") + ": " + clipN(err.Error(), 256)
		}
		if aerr := audit.Record(actx, done); aerr != nil {
			s.log.ErrorContext(ctx, "activitylog server: record the end of a purge", "err", aerr, "deleted", res.Deleted)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.writeJSON(w, http.StatusOK, ans)
	}
}

// kindNames lists the kinds for an error message.
func kindNames() string {
	names := make([]string, len(activitylog.Kinds))
	for i, k := range activitylog.Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// decodePurgeRequest decodes the body of a purge strictly: one JSON
// object with kinds, tenant and confirm only. Every error is a
// *activitylog.FieldError naming "body" or the field.
func decodePurgeRequest(body []byte) (purgeRequest, error) {
	var req purgeRequest
	err := decodeObject(body, &req, purgeRequestType, `{"kinds": […], "confirm": "purge …"}`, "a purge", "kinds, tenant, confirm")
	return req, err
}
