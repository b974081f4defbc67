package retention

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/activitylog/activitylog"
)

// PurgeFunc deletes the events a PurgeRequest selects, in bounded
// batches: a store's Purge (activitylog.Purger), or activitylog serve's,
// which also prunes sealed chains under a signed pruning record. It has
// the type of server.PurgeFunc.
type PurgeFunc func(ctx context.Context, r activitylog.PurgeRequest) (activitylog.PurgeResult, error)

// ArchiveFunc archives the events a PurgeRequest selects, durably,
// before they are deleted: when it returns nil, they may be deleted. It
// returns how many events it archived; a purge that then deletes more
// (events that arrived late, with times before the cut, after the
// archive was written) is reported, never silent.
type ArchiveFunc func(ctx context.Context, r activitylog.PurgeRequest) (archived int64, err error)

// Auditor records the events of runs and of policy changes. An
// *activitylog.Recorder is one; so is any server.Auditor.
type Auditor interface {
	Record(ctx context.Context, e activitylog.Event) error
}

// Counter counts the events a filter selects, for Plan. Every
// activitylog.Querier is one.
type Counter interface {
	Count(ctx context.Context, f activitylog.Filter) (int64, error)
}

var _ Auditor = (*activitylog.Recorder)(nil)

// ErrNoArchiver: a policy archives before it deletes, and the Runner has
// no RunnerOptions.Archive. Nothing was deleted.
var ErrNoArchiver = errors.New("the policy archives before it deletes, and no archiver is configured: nothing was deleted")

// ObjectType is the object type of the events that record runs and
// changes of policies.
const ObjectType = "retention_policy"

// DefaultName is the Rule.Name of RunnerOptions.DefaultRetentionDays.
const DefaultName = "default"

// auditTimeout bounds the recording of one event.
const auditTimeout = 5 * time.Second

// RunnerOptions configures a Runner. The zero value, or nil, means the
// defaults written beside each field; Audit is required.
type RunnerOptions struct {
	// Audit records each run: a system event of category retention
	// (operation purge_started) before anything is deleted, and one
	// (purge or purge_failed) with the counts after. Required: a
	// deletion is never unrecorded; when the first event cannot be
	// recorded, nothing is deleted.
	Audit Auditor
	// Count counts events for Plan (an activitylog.Querier over the
	// same store as the purge). Default: nil, and Plan fails.
	Count Counter
	// Archive archives a policy's events before they are deleted, for
	// the policies with Archive set. Default: nil, and such a policy's
	// run fails with ErrNoArchiver, deleting nothing.
	Archive ArchiveFunc
	// DefaultRetentionDays is how long the events that no active policy
	// covers are kept (see the package doc). Default: 0, forever.
	DefaultRetentionDays int
	// Now is the clock of the cut. Default: time.Now.
	Now func() time.Time
	// Logger receives the failures of runs. Default: slog.Default().
	Logger *slog.Logger
}

// Runner runs retention policies. It is safe for concurrent use; one
// run (Run, RunPolicy) at a time, the others waiting.
type Runner struct {
	repo        Repository
	purge       PurgeFunc
	audit       Auditor
	count       Counter
	archive     ArchiveFunc
	defaultDays int
	now         func() time.Time
	log         *slog.Logger
	mu          sync.Mutex // one run at a time
}

// NewRunner returns a Runner of repo's policies that deletes with purge.
// An error is a *activitylog.FieldError naming what is missing or wrong.
func NewRunner(repo Repository, purge PurgeFunc, opts *RunnerOptions) (*Runner, error) {
	var o RunnerOptions
	if opts != nil {
		o = *opts
	}
	switch {
	case repo == nil:
		return nil, activitylog.Invalid("repository", "nil", "is required")
	case purge == nil:
		return nil, activitylog.Invalid("purge", "nil", "is required: the store must be able to purge")
	case o.Audit == nil:
		return nil, activitylog.Invalid("audit", "nil", "is required: every retention run is recorded")
	case o.DefaultRetentionDays < 0 || o.DefaultRetentionDays > MaxRetainDays:
		return nil, activitylog.Invalid("default_retention_days", strconv.Itoa(o.DefaultRetentionDays),
			"must be between 1 and "+strconv.Itoa(MaxRetainDays)+", or 0 to keep events forever")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Runner{repo: repo, purge: purge, audit: o.Audit, count: o.Count, archive: o.Archive,
		defaultDays: o.DefaultRetentionDays, now: o.Now, log: cmp.Or(o.Logger, slog.Default())}, nil
}

// Repository returns the Runner's repository.
func (r *Runner) Repository() Repository { return r.repo }

// A Rule is what one policy (or the default) deletes in one run: the
// events of Kinds of the tenants, recorded before Before.
type Rule struct {
	PolicyID   string             `json:"policy_id"` // "": DefaultRetentionDays
	Name       string             `json:"name"`      // the policy's, or "default"
	Kinds      []activitylog.Kind `json:"kinds"`     // empty: nothing left to it (policies for each of its kinds win)
	Tenant     string             `json:"tenant"`
	AllTenants bool               `json:"all_tenants"`
	RetainDays int                `json:"retain_days"`
	Before     time.Time          `json:"before"`
	Archive    bool               `json:"archive"`
}

// Request returns the purge request of r.
func (r *Rule) Request() activitylog.PurgeRequest {
	return activitylog.PurgeRequest{Before: r.Before, Kinds: slices.Clone(r.Kinds), Tenant: r.Tenant, AllTenants: r.AllTenants}
}

// kindsText is r's kinds as the purge events write them: "all" for
// every kind, else comma-joined.
func (r *Rule) kindsText() string {
	if len(r.Kinds) == len(activitylog.Kinds) {
		return "all"
	}
	names := make([]string, len(r.Kinds))
	for i, k := range r.Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ",")
}

// Cut returns the start of the day, in UTC, days whole days before
// now's: the events recorded before it are older than days days.
func Cut(now time.Time, days int) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d-days, 0, 0, 0, 0, time.UTC)
}

// Rules returns what a run at now deletes, given every policy and the
// default retention (0: none), in the order of policies, the default
// last. Inactive policies are left out. See the package doc for how
// policies combine.
func Rules(policies []Policy, defaultDays int, now time.Time) []Rule {
	var out []Rule
	coversAll := false
	for _, p := range policies {
		if !p.Active {
			continue
		}
		if p.Kind == AllKinds && p.AllTenants {
			coversAll = true
		}
		out = append(out, ruleOf(p, policies, now))
	}
	if defaultDays > 0 && !coversAll {
		def := Policy{Name: DefaultName, Kind: AllKinds, RetainDays: defaultDays, AllTenants: true, Active: true}
		out = append(out, ruleOf(def, policies, now))
	}
	return out
}

// Rule returns what p deletes in a run at now, given the other
// policies: its kinds less those an active policy for one kind, of the
// same tenants, takes. For a policy that is not stored (the CLI's
// cleanup, through PlanRules and RunRules), others is nil.
func (p Policy) Rule(others []Policy, now time.Time) Rule { return ruleOf(p, others, now) }

// ruleOf returns p's rule: its kinds less those that an active policy
// for one kind, of the same tenants, takes.
func ruleOf(p Policy, policies []Policy, now time.Time) Rule {
	r := Rule{PolicyID: p.ID, Name: p.Name, Tenant: p.Tenant, AllTenants: p.AllTenants,
		RetainDays: p.RetainDays, Before: Cut(now, p.RetainDays), Archive: p.Archive, Kinds: []activitylog.Kind{}}
	for _, k := range p.Kinds() {
		taken := p.Kind == AllKinds && slices.ContainsFunc(policies, func(q Policy) bool {
			return q.Active && q.ID != p.ID && q.Kind == string(k) && q.Tenant == p.Tenant && q.AllTenants == p.AllTenants
		})
		if !taken {
			r.Kinds = append(r.Kinds, k)
		}
	}
	return r
}

// RuleRun is what a run of one rule did.
type RuleRun struct {
	Rule
	activitylog.PurgeResult
	// Archived: the events were archived before they were deleted.
	Archived bool `json:"archived"`
	// Unarchived counts the events the purge deleted beyond those
	// archived: stored late, after the archive was written. The run
	// reports it as an error.
	Unarchived int64 `json:"unarchived,omitempty"`
	// StartEvent is the id of the event that recorded the start
	// (operation purge_started); zero when nothing was started.
	StartEvent string `json:"purge_started_event,omitempty"`
	Error      string `json:"error,omitempty"`
}

// Report is what a run did.
type Report struct {
	StartedAt time.Time `json:"started_at"`
	Rules     []RuleRun `json:"rules"`
	// Deleted counts the events deleted by every rule, those pruned
	// from sealed chains included.
	Deleted int64 `json:"deleted"`
}

// Run runs every active policy, and the default retention, each in
// turn; a failed rule does not stop the others. The error joins the
// failures of the rules (each also in the report). A cancelled ctx stops
// the run between rules; the rule under way finishes.
func (r *Runner) Run(ctx context.Context) (Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now().UTC()
	ps, err := r.repo.List(ctx)
	if err != nil {
		return Report{StartedAt: now, Rules: []RuleRun{}}, fmt.Errorf("run retention policies: %w", err)
	}
	return r.run(ctx, now, Rules(ps, r.defaultDays, now))
}

// RunPolicy runs the policy with that id now, active or not: its kinds
// less those an active policy for one kind takes, as in Run.
func (r *Runner) RunPolicy(ctx context.Context, id string) (Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now().UTC()
	rule, err := r.policyRule(ctx, id, now)
	if err != nil {
		return Report{StartedAt: now, Rules: []RuleRun{}}, fmt.Errorf("run retention policy: %w", err)
	}
	return r.run(ctx, now, []Rule{rule})
}

func (r *Runner) policyRule(ctx context.Context, id string, now time.Time) (Rule, error) {
	p, err := r.repo.Get(ctx, id)
	if err != nil {
		return Rule{}, err
	}
	ps, err := r.repo.List(ctx)
	if err != nil {
		return Rule{}, err
	}
	return ruleOf(p, ps, now), nil
}

func (r *Runner) run(ctx context.Context, now time.Time, rules []Rule) (Report, error) {
	rep := Report{StartedAt: now, Rules: []RuleRun{}}
	var errs []error
	for _, rule := range rules {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		rr, err := r.runRule(ctx, now, rule)
		rep.Rules = append(rep.Rules, rr)
		rep.Deleted += rr.Deleted + rr.Pruned
		if err != nil {
			r.log.ErrorContext(ctx, "activitylog retention: run failed", "policy", rule.PolicyID, "name", rule.Name, "err", err)
			errs = append(errs, fmt.Errorf("retention policy %s: %w", rule.Name, err))
		}
		if rule.PolicyID != "" {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
			if rerr := r.repo.RecordRun(rctx, rule.PolicyID, now, rr.Deleted+rr.Pruned, err); rerr != nil {
				r.log.ErrorContext(ctx, "activitylog retention: record a run", "policy", rule.PolicyID, "err", rerr)
			}
			cancel()
		}
	}
	return rep, errors.Join(errs...)
}

// startedBy names who started a run: the principal of ctx, or the
// scheduler.
func startedBy(ctx context.Context) string {
	p := activitylog.PrincipalFrom(ctx)
	switch {
	case p == nil:
		return "the retention scheduler"
	case p.Name != "":
		return p.Name
	}
	return p.ID
}

// runRule records the start, archives when the rule asks for it,
// purges, and records the end. Nothing is deleted when the start cannot
// be recorded or the archive fails.
func (r *Runner) runRule(ctx context.Context, now time.Time, rule Rule) (RuleRun, error) {
	rr := RuleRun{Rule: rule, PurgeResult: activitylog.PurgeResult{ByKind: map[activitylog.Kind]int64{}}}
	if len(rule.Kinds) == 0 {
		return rr, nil // every kind is another policy's
	}
	if rule.Archive && r.archive == nil {
		rr.Error = ErrNoArchiver.Error()
		return rr, ErrNoArchiver
	}
	req := rule.Request()
	what, by := rule.kindsText(), startedBy(ctx)
	tenant := "*"
	if !rule.AllTenants {
		tenant = rule.Tenant
	}
	extra := map[string]any{"operation": activitylog.PurgeStarted, "kinds": what, "tenant": tenant,
		"before": rule.Before.Format(time.RFC3339Nano), "policy_id": rule.PolicyID, "policy_name": rule.Name,
		"retain_days": rule.RetainDays, "archive": rule.Archive, "started_by": by}
	obj := activitylog.Object{Type: ObjectType, ID: rule.PolicyID, Repr: rule.Name}
	if rule.PolicyID == "" {
		obj = activitylog.Object{Type: "events", Repr: DefaultName}
	}
	started := activitylog.Event{ID: activitylog.NewID(time.Now()), Kind: activitylog.KindSystem, Category: activitylog.CategoryRetention,
		Action: "security", Severity: activitylog.SeverityWarning, Tenant: rule.Tenant, Extra: extra, Object: obj,
		Message: "retention policy " + rule.Name + ": purge of " + what + " events of " + tenantText(rule.Tenant, rule.AllTenants) +
			" recorded before " + rule.Before.Format(time.RFC3339) + " started by " + by}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), auditTimeout)
	defer cancel()
	if err := r.audit.Record(actx, started); err != nil {
		// Not recorded: not done.
		err = fmt.Errorf("record the start of the run: %w", err)
		rr.Error = clipN(err.Error(), 512)
		return rr, err
	}
	rr.StartEvent = started.ID.String()

	var err error
	var archived int64
	if rule.Archive {
		if archived, err = r.archive(context.WithoutCancel(ctx), req); err != nil {
			err = fmt.Errorf("archive before delete: %w", err)
		} else {
			rr.Archived = true
		}
	}
	if err == nil {
		var res activitylog.PurgeResult
		res, err = r.purge(context.WithoutCancel(ctx), req) // a purge under way finishes
		if res.ByKind == nil {
			res.ByKind = map[activitylog.Kind]int64{}
		}
		rr.PurgeResult = res
		if err != nil {
			err = fmt.Errorf("purge: %w", err)
		}
		// The purge deletes by time; an event stored after the archive
		// was written, with a time before the cut (a late replay from a
		// spool, a back-dated ingest), is deleted unarchived. Rare, but
		// never silent: the run fails and its record counts them.
		if gap := res.Deleted + res.Pruned - archived; rule.Archive && rr.Archived && gap > 0 {
			rr.Unarchived = gap
			err = errors.Join(err, fmt.Errorf("%d events were deleted without being archived: they were stored, with times before the cut, after the archive was written", gap))
		}
	}
	res := rr.PurgeResult
	done := started
	done.ID = activitylog.NewID(time.Now())
	done.Extra = map[string]any{"operation": activitylog.PurgeDone, "kinds": what, "tenant": tenant, "before": extra["before"],
		"deleted": res.Deleted, "kept_sealed": res.KeptSealed, "pruned": res.Pruned, "started": rr.StartEvent,
		"policy_id": rule.PolicyID, "policy_name": rule.Name, "retain_days": rule.RetainDays, "archived": rr.Archived}
	if rr.Unarchived > 0 {
		done.Extra["unarchived"] = rr.Unarchived
	}
	for k, n := range res.ByKind {
		done.Extra["deleted_"+string(k)] = n
	}
	done.Message = "retention policy " + rule.Name + ": purged " + strconv.FormatInt(res.Deleted+res.Pruned, 10) + " " + what +
		" events of " + tenantText(rule.Tenant, rule.AllTenants) + " recorded before " + rule.Before.Format(time.RFC3339)
	if err != nil {
		rr.Error = clipN(err.Error(), 512)
		done.Extra["operation"], done.Severity = activitylog.PurgeFailed, activitylog.SeverityError
		done.Extra["error"] = clipN(err.Error(), 1024)
		done.Message = "retention policy " + rule.Name + ": run failed after " + strconv.FormatInt(res.Deleted+res.Pruned, 10) +
			" events deleted: " + clipN(err.Error(), 256)
	}
	if aerr := r.audit.Record(actx, done); aerr != nil {
		r.log.ErrorContext(ctx, "activitylog retention: record the end of a run", "policy", rule.PolicyID, "err", aerr, "deleted", res.Deleted)
	}
	return rr, err
}

// PlanRule is what a run would delete under one rule.
type PlanRule struct {
	Rule
	// Count is the number of events the rule selects now, ByKind by
	// kind: what a run would delete, except sealed events that cannot
	// be pruned (the run reports those as kept_sealed).
	Count  int64                      `json:"count"`
	ByKind map[activitylog.Kind]int64 `json:"by_kind"`
}

// Plan is what a run would delete: a dry run, which deletes nothing.
type Plan struct {
	At     time.Time                  `json:"at"`
	Rules  []PlanRule                 `json:"rules"`
	Count  int64                      `json:"count"`
	ByKind map[activitylog.Kind]int64 `json:"by_kind"`
}

// Plan counts, without deleting anything, what Run would delete now:
// per rule and per kind. It needs RunnerOptions.Count.
//
// The counts are exact for the rules that policies make, where an event
// falls under at most two rules (one for every tenant, one for its own):
// the events of two rules are counted under the one that runs first.
// They include the sealed events that a run keeps (as kept_sealed)
// when it cannot prune their chain, and do not see events written
// between the plan and a run.
func (r *Runner) Plan(ctx context.Context) (Plan, error) {
	now := r.now().UTC()
	ps, err := r.repo.List(ctx)
	if err != nil {
		return Plan{}, fmt.Errorf("plan retention run: %w", err)
	}
	return r.plan(ctx, now, Rules(ps, r.defaultDays, now))
}

// PlanPolicy counts, without deleting anything, what RunPolicy would
// delete now.
func (r *Runner) PlanPolicy(ctx context.Context, id string) (Plan, error) {
	now := r.now().UTC()
	rule, err := r.policyRule(ctx, id, now)
	if err != nil {
		return Plan{}, fmt.Errorf("plan retention run: %w", err)
	}
	return r.plan(ctx, now, []Rule{rule})
}

// PlanRules counts what rules would delete: for the CLI's cleanup
// --dry-run, whose rule is no stored policy.
func (r *Runner) PlanRules(ctx context.Context, rules []Rule) (Plan, error) {
	return r.plan(ctx, r.now().UTC(), rules)
}

// RunRules runs rules that are no stored policy (the CLI's cleanup):
// audited as Run's; no policy's run is recorded (PolicyID is ignored).
func (r *Runner) RunRules(ctx context.Context, rules []Rule) (Report, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rs := slices.Clone(rules)
	for i := range rs {
		rs[i].PolicyID = ""
	}
	return r.run(ctx, r.now().UTC(), rs)
}

func (r *Runner) plan(ctx context.Context, now time.Time, rules []Rule) (Plan, error) {
	pl := Plan{At: now, Rules: []PlanRule{}, ByKind: map[activitylog.Kind]int64{}}
	if r.count == nil {
		return pl, fmt.Errorf("plan retention run: %w: the runner has no counter", activitylog.ErrUnavailable)
	}
	for i, rule := range rules {
		pr := PlanRule{Rule: rule, ByKind: map[activitylog.Kind]int64{}}
		for _, k := range rule.Kinds {
			n, err := r.countKind(ctx, rule, k)
			if err != nil {
				return pl, fmt.Errorf("plan retention policy %s: %w", rule.Name, err)
			}
			// Less what an earlier rule deletes first: the events of
			// both rules' kind and tenants, before both cuts.
			for _, prev := range rules[:i] {
				both, ok := overlap(prev, rule, k)
				if !ok {
					continue
				}
				m, err := r.countKind(ctx, both, k)
				if err != nil {
					return pl, fmt.Errorf("plan retention policy %s: %w", rule.Name, err)
				}
				n -= m
			}
			pr.ByKind[k] = n
			pr.Count += n
			pl.ByKind[k] += n
			pl.Count += n
		}
		pl.Rules = append(pl.Rules, pr)
	}
	return pl, nil
}

// overlap returns the rule that selects the events of kind k that both
// a and b select, and whether there are any such.
func overlap(a, b Rule, k activitylog.Kind) (Rule, bool) {
	if !slices.Contains(a.Kinds, k) || !slices.Contains(b.Kinds, k) {
		return Rule{}, false
	}
	both := Rule{Before: a.Before, AllTenants: a.AllTenants && b.AllTenants}
	if b.Before.Before(both.Before) {
		both.Before = b.Before
	}
	switch {
	case both.AllTenants:
	case a.AllTenants:
		both.Tenant = b.Tenant
	case b.AllTenants:
		both.Tenant = a.Tenant
	case a.Tenant == b.Tenant:
		both.Tenant = a.Tenant
	default:
		return Rule{}, false
	}
	return both, true
}

// countKind counts the events of kind k that rule's purge selects: those
// recorded before the cut, of its tenants, less the records of purges
// and runs (system events of category retention), which a purge keeps.
func (r *Runner) countKind(ctx context.Context, rule Rule, k activitylog.Kind) (int64, error) {
	f := activitylog.Filter{Kind: k, To: rule.Before}
	if !rule.AllTenants {
		f.Tenant = rule.Tenant
		f.NoTenant = rule.Tenant == ""
	}
	n, err := r.count.Count(ctx, f)
	if err != nil || k != activitylog.KindSystem {
		return n, err
	}
	f.Category = activitylog.CategoryRetention
	kept, err := r.count.Count(ctx, f)
	return n - kept, err
}
