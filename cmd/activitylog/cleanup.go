package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/internal/config"
	"github.com/activitylog/activitylog/retention"
	"github.com/activitylog/activitylog/sqlite"
)

// The commands that delete events at once: cleanup (by age) and purge
// (every event of some kinds). Both go through retention.Runner, as the
// scheduler does: each is recorded in the trail before anything is
// deleted and after, and sealed chains are cut only under a signed
// pruning record.

var cleanupCommand = &command{
	name:    "cleanup",
	summary: "delete the events older than --days (of one kind, one tenant), or with --dry-run count them",
	about: "Deletes, in bounded batches, the events recorded more than --days days ago (cut at midnight UTC), of --kind (default: every kind) " +
		"and of --tenant (default: every tenant; --tenant '' means events without a tenant), from the event store (store, else db). " +
		"--dry-run deletes nothing and prints the exact count per kind that would go. The records of purges and retention runs are never deleted. " +
		"With integrity sealing configured, sealed events leave their chains only under a signed pruning record, which needs every kind and every tenant; " +
		"otherwise they are kept and counted as kept_sealed. The run is recorded in the trail (docs/retention.md).",
	flags: true,
	subs:  []*subcommand{{name: "", summary: "delete (or count) the old events", define: defineCleanup}},
}

var purgeCommand = &command{
	name:    "purge",
	summary: "delete every event of some kinds (or all) at once; needs --confirm",
	about: "Deletes every event recorded until now of --kind (repeat it, or a comma list) or, with --all, of every kind, of --tenant (default: every tenant), " +
		"through the store's fast path (whole partitions dropped on PostgreSQL where the purge covers them), in bounded batches otherwise. " +
		"It does nothing without --confirm. The records of purges are kept, and the purge itself is recorded in the trail before and after. " +
		"Use --dry-run to count first (docs/retention.md).",
	flags: true,
	subs:  []*subcommand{{name: "", summary: "delete every event of the kinds given", define: definePurge}},
}

// kindsFlag collects --kind values, each a kind or a comma list.
type kindsFlag []activitylog.Kind

func (k *kindsFlag) String() string {
	s := make([]string, len(*k))
	for i, kind := range *k {
		s[i] = string(kind)
	}
	return strings.Join(s, ",") // as --kind takes it
}
func (k *kindsFlag) Set(s string) error {
	for _, name := range strings.Split(s, ",") {
		kind := activitylog.Kind(strings.TrimSpace(name))
		if !kind.Valid() {
			return fmt.Errorf("%q is not a kind; known are %s", name, kindList())
		}
		if !slices.Contains(*k, kind) {
			*k = append(*k, kind)
		}
	}
	return nil
}

// tenantFlag is --tenant: set or not, since "" is a tenant too.
type tenantFlag struct {
	v   string
	set bool
}

func (t *tenantFlag) String() string     { return t.v }
func (t *tenantFlag) Set(s string) error { t.v, t.set = s, true; return nil }

func defineCleanup(fs *flag.FlagSet) func(context.Context, *cli) error {
	days := fs.Int("days", 0, "delete the events older than this many `N` days (1 to 36500)")
	var kinds kindsFlag
	fs.Var(&kinds, "kind", "only events of this `KIND` (repeat, or a comma list); default every kind")
	var tenant tenantFlag
	fs.Var(&tenant, "tenant", "only events of this `TENANT` ('' for events without one); default every tenant")
	dry := fs.Bool("dry-run", false, "delete nothing: print how many events of each kind would go")
	asJSON := fs.Bool("json", false, "print the plan or the report as JSON")
	return func(ctx context.Context, c *cli) error {
		if *days < 1 || *days > retention.MaxRetainDays {
			return usageError("--days %q: must be a number of days from 1 to %d", strconv.Itoa(*days), retention.MaxRetainDays)
		}
		rule := retention.Rule{Name: "cleanup", Kinds: kinds, Tenant: tenant.v, AllTenants: !tenant.set,
			RetainDays: *days, Before: retention.Cut(time.Now(), *days)}
		if len(rule.Kinds) == 0 {
			rule.Kinds = slices.Clone(activitylog.Kinds)
		}
		return runRule(ctx, c, rule, *dry, *asJSON)
	}
}

func definePurge(fs *flag.FlagSet) func(context.Context, *cli) error {
	var kinds kindsFlag
	fs.Var(&kinds, "kind", "purge this `KIND` (repeat, or a comma list)")
	all := fs.Bool("all", false, "purge every kind")
	var tenant tenantFlag
	fs.Var(&tenant, "tenant", "only events of this `TENANT` ('' for events without one); default every tenant")
	confirm := fs.Bool("confirm", false, "do it: without it, purge refuses")
	dry := fs.Bool("dry-run", false, "delete nothing: print how many events of each kind would go")
	asJSON := fs.Bool("json", false, "print the plan or the report as JSON")
	return func(ctx context.Context, c *cli) error {
		switch {
		case len(kinds) == 0 && !*all:
			return usageError("give --kind KIND (or a comma list), or --all for every kind")
		case len(kinds) > 0 && *all:
			return usageError("--kind %q and --all: give one or the other", kinds.String())
		case !*confirm && !*dry:
			return usageError("purge deletes every event of %s at once: add --confirm to do it, or --dry-run to count them", purgeWhat(kinds))
		}
		rule := retention.Rule{Name: "purge", Kinds: kinds, Tenant: tenant.v, AllTenants: !tenant.set, Before: time.Now().UTC()}
		if *all {
			rule.Kinds = slices.Clone(activitylog.Kinds)
		}
		return runRule(ctx, c, rule, *dry, *asJSON)
	}
}

func purgeWhat(kinds kindsFlag) string {
	if len(kinds) == 0 {
		return "every kind"
	}
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return "kind " + strings.Join(s, ", ")
}

// runRule plans or runs rule on the configured store and prints what it
// found or did.
func runRule(ctx context.Context, c *cli, rule retention.Rule, dry, asJSON bool) (err error) {
	p, err := c.openPurge(ctx, rule.Name, dry)
	if err != nil {
		return err
	}
	defer p.close(&err)
	runner, err := retention.NewRunner(p.control.RetentionPolicies(), p.purge, &retention.RunnerOptions{
		Audit: p.rec, Count: p.count, Logger: slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	if dry {
		plan, err := runner.PlanRules(ctx, []retention.Rule{rule})
		if err != nil {
			return err
		}
		defer p.noteUnsealed(c, rule.Name)
		if asJSON {
			return writeJSONTo(c.stdout, plan)
		}
		fmt.Fprintf(c.stdout, "dry run: events recorded before %s that %s would delete (nothing was deleted):\n", rule.Before.Format(time.RFC3339), rule.Name)
		return printByKind(c, plan.ByKind, plan.Count)
	}
	rep, err := runner.RunRules(ctx, []retention.Rule{rule})
	if asJSON {
		if jerr := writeJSONTo(c.stdout, rep); jerr != nil {
			return errors.Join(err, jerr)
		}
		return err
	}
	if len(rep.Rules) == 1 {
		r := rep.Rules[0]
		fmt.Fprintf(c.stdout, "%s: deleted %d events recorded before %s", rule.Name, r.Deleted, rule.Before.Format(time.RFC3339))
		if r.Pruned > 0 {
			fmt.Fprintf(c.stdout, ", of which %d sealed, cut from %d chains under signed pruning records", r.Pruned, r.PrunedChains)
		}
		if r.KeptSealed > 0 {
			fmt.Fprintf(c.stdout, "; kept %d sealed events (a chain is cut only by a purge of every kind and tenant, up to its newest checkpoint)", r.KeptSealed)
		}
		fmt.Fprintln(c.stdout)
		if perr := printByKind(c, r.ByKind, r.Deleted-r.Pruned); perr != nil {
			return errors.Join(err, perr)
		}
	}
	return err
}

func printByKind(c *cli, byKind map[activitylog.Kind]int64, total int64) error {
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, k := range activitylog.Kinds {
		if n := byKind[k]; n > 0 {
			fmt.Fprintf(w, "  %s\t%d\t\n", k, n)
		}
	}
	fmt.Fprintf(w, "  total\t%d\t\n", total)
	return w.Flush()
}

// purgeCLI is what cleanup and purge run with: the event store, the
// control database (for the Runner's repository), a Sync recorder over
// the event store (sealed when sealing is configured, in a chain of its
// own, CHAIN.cli), and the purge that prunes sealed chains; with
// database_config_keys, the tenant router, whose databases the purge
// (purgeFunc) and the count (routedCount) reach as serve's do.
//
// For a dry run, which only counts, nothing is written: the database is
// not migrated, no sealer opens (it would store the chain's checkpoint),
// and sealing off on a sealed store is no refusal but a note
// (noteUnsealed), since nothing unsealed will be stored.
type purgeCLI struct {
	events  activitylog.Store
	control *sqlite.Store
	rec     *activitylog.Recorder
	seal    *sealer
	tenants *tenantStores
	purge   retention.PurgeFunc
	count   retention.Counter
	// unsealed are the store's sealed chains that a dry run with
	// sealing off found: a real run would refuse them.
	unsealed []integrity.ChainInfo
}

// openPurge opens what command (cleanup or purge) runs with; dry for a
// dry run, which writes nothing.
func (c *cli) openPurge(ctx context.Context, command string, dry bool) (*purgeCLI, error) {
	db, skipMigrate := c.cfg.DB, dry
	if _, err := os.Stat(db); c.cfg.Store != "" && errors.Is(err, fs.ErrNotExist) {
		// The events are in --store; --db would hold only the retention
		// policies and tenant databases. A job run with --store alone
		// (a cron job, a container) reads none, and leaves no file.
		fmt.Fprintf(c.stderr, "activitylog %s: --db %s does not exist: no retention policies or tenant databases are read, only the flags' rule applies to --store\n", command, clipArg(db))
		db, skipMigrate = ":memory:", false
	} else if err := mustExist(db); err != nil {
		// Opening would create it: a mistyped --db would leave a new
		// empty file behind and report nothing to delete.
		return nil, err
	}
	if dry {
		// Opening an empty file would write SQLite's header into it.
		if st, err := os.Stat(db); err == nil && st.Size() == 0 {
			return nil, errNoSchema(db)
		}
	}
	control, err := sqlite.Open(db, &sqlite.Options{CheckpointInterval: -1, SkipMigrate: skipMigrate})
	if err != nil {
		return nil, err
	}
	p := &purgeCLI{control: control, events: control}
	fail := func(err error) (*purgeCLI, error) {
		var errs []error
		if p.events != activitylog.Store(p.control) {
			errs = append(errs, p.events.Close())
		}
		return nil, errors.Join(append([]error{err}, append(errs, p.control.Close())...)...)
	}
	if c.cfg.Store != "" {
		open := openStore
		if dry {
			// As verify and export open it: a missing sqlite:// file is
			// refused, not made, and a server's store is opened read
			// only where it has that mode (nothing migrated or made).
			open = func(ctx context.Context, url string) (activitylog.Store, error) {
				return openTrail(ctx, "", url, true, func(activitylog.Store, string) error { return nil })
			}
		}
		if p.events, err = open(ctx, c.cfg.Store); err != nil {
			p.events = control
			return fail(err)
		}
	}
	if dry {
		if err := hasSchema(ctx, control); err != nil {
			return fail(err)
		}
		if p.unsealed, err = unsealedOnSealed(ctx, c.cfg, p.events); err != nil {
			return fail(err)
		}
	} else if err := refuseUnsealed(ctx, c.cfg, p.events, command); err != nil {
		return fail(err)
	}
	o := c.cfg.RecorderOptions(newLogger(c.cfg, c.stderr))
	o.Mode = activitylog.Sync
	var w activitylog.Writer = p.events
	if c.cfg.Sealing() && !dry {
		ss, ok := p.events.(sealStore)
		if !ok {
			return fail(usageError("integrity sealing is configured, and the store %s keeps no seals", storeName(c.cfg)))
		}
		if p.seal, err = c.sealer(ctx, ss); err != nil {
			return fail(err)
		}
		w = p.seal
	}
	p.count = p.events
	if c.cfg.DatabaseConfigKeys != "" {
		// The records of the run go where serve would send them.
		def := p.events
		if p.seal != nil {
			def = sealedDefault{Writer: p.seal, Store: p.events}
		}
		if p.tenants, err = newTenantStores(c.cfg, control, def, newLogger(c.cfg, c.stderr)); err != nil {
			if p.seal != nil {
				err = errors.Join(err, p.seal.Close(ctx))
			}
			return fail(err)
		}
		w, p.count = p.tenants.router, routedCount{router: p.tenants.router, def: p.events}
	}
	if p.purge = retention.PurgeFunc(purgeFunc(p.seal, p.events, p.tenants)); p.purge == nil {
		errs := []error{usageError("the store %s cannot delete events (it has no purge)", storeName(c.cfg))}
		if p.tenants != nil {
			errs = append(errs, p.tenants.Close())
		}
		return fail(errors.Join(errs...))
	}
	p.rec = activitylog.NewRecorder(w, o)
	return p, nil
}

// hasSchema refuses, for a dry run, a database that Open was told not to
// migrate and that has no schema at all (a new or foreign file): there
// is nothing to count, and a dry run does not create the tables.
func hasSchema(ctx context.Context, control *sqlite.Store) error {
	v, err := control.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if v == 0 {
		return errNoSchema(control.Path())
	}
	return nil
}

func errNoSchema(db string) error {
	return fmt.Errorf("--db %s: holds no activitylog schema; a dry run writes nothing, so it does not create one (activitylog migrate --db %s does)", db, db)
}

// noteUnsealed tells, after a dry run with sealing off on a store that
// holds sealed chains, that a real run refuses to start without the
// integrity settings: it would store its records unsealed beside the
// chains, and sealed events leave a chain only under a pruning record
// signed by integrity_signing_key.
func (p *purgeCLI) noteUnsealed(c *cli, command string) {
	if len(p.unsealed) == 0 {
		return
	}
	fmt.Fprintf(c.stderr, "activitylog %s: note: the store %s holds %d sealed chains (%s first), and sealing is off: "+
		"a run without --dry-run refuses to start until given %s, "+
		"which seals the run's records and signs the pruning record under which sealed events leave their chain "+
		"(every kind and every tenant only; other sealed events are kept as kept_sealed)\n",
		command, storeName(c.cfg), len(p.unsealed), p.unsealed[0].ID, settingAdvice("integrity_signing_key", takesFlag("integrity_signing_key", command)))
}

func (p *purgeCLI) close(err *error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := []error{*err, p.rec.Shutdown(ctx)}
	if p.tenants != nil {
		errs = append(errs, p.tenants.Close())
	}
	if p.seal != nil {
		errs = append(errs, p.seal.Close(ctx))
	}
	if p.events != activitylog.Store(p.control) {
		errs = append(errs, p.events.Close())
	}
	errs = append(errs, p.control.Close())
	*err = errors.Join(errs...)
}

// storeName is the event store, as messages name it: the store URL
// without its password, or the SQLite db.
func storeName(cfg config.Config) string {
	if cfg.Store != "" {
		return config.RedactStore(cfg.Store)
	}
	return cfg.DB
}
