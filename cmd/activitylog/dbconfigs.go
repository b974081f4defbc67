package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
)

var databaseConfigsCommand = &command{
	name:    "database-configs",
	summary: "create, update, list and delete database configurations; make and rotate the keys of their passwords",
	about: "Manages the database configurations that route tenants' events to their own databases (docs/database-configs.md), " +
		"in the database db, as POST/PUT /api/v1/database-configs does; a running serve picks a change up within database_config_refresh. " +
		"create and update take a flag per field, checked as the API checks them; update changes only the flags given, and refuses to move a config " +
		"to another engine, host, port, user or database without its password. A password is never a flag's value (which lands in shell history): " +
		"it is read from --password-file FILE or --password-stdin, one line. " +
		"Passwords are encrypted with database_config_keys; rotate-keys encrypts every stored one again with the current (first) key, " +
		"after which the older keys can be removed. Every change is recorded in the trail.",
	flags: true,
	subs: []*subcommand{
		{name: "create", summary: "create a configuration; its password is read from --password-file or --password-stdin", define: defineConfigsCreate},
		{name: "update", args: "ID", nargs: 1, summary: "change the fields given of a configuration, the others kept", define: defineConfigsUpdate},
		{name: "list", summary: "list the configurations, never their passwords", define: defineConfigsList},
		{name: "delete", args: "ID", nargs: 1, summary: "delete a configuration (its events stay where they are)", define: defineConfigsDelete},
		{name: "generate-key", args: "KEY_ID", nargs: 1, summary: "print a new random key for database_config_keys, as KEY_ID:base64", define: defineConfigsGenerateKey},
		{name: "rotate-keys", summary: "encrypt every stored password again with the current key", define: defineConfigsRotate},
	},
}

func defineConfigsList(fs *flag.FlagSet) func(context.Context, *cli) error {
	asJSON := fs.Bool("json", false, "print JSON, one array, as GET /api/v1/database-configs answers its results")
	return func(ctx context.Context, c *cli) (err error) {
		a, err := c.open()
		if err != nil {
			return err
		}
		defer a.close(&err)
		cs, err := a.store.DatabaseConfigs().List(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if cs == nil {
				cs = []dbconfig.Config{}
			}
			return writeJSONTo(c.stdout, cs) // Config's JSON never holds the password
		}
		w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tENGINE\tTENANT\tROUTE_FOR\tSTATUS")
		for _, cf := range cs {
			status := "inactive"
			switch {
			case cf.Active && cf.ReadOnly:
				status = "read-only"
			case cf.Active && cf.Primary:
				status = "primary"
			case cf.Active:
				status = "active"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", cf.ID, cf.Name, cf.Engine, orDash(cf.Tenant), cf.RouteFor, status)
		}
		return w.Flush()
	}
}

func defineConfigsDelete(fs *flag.FlagSet) func(context.Context, *cli) error {
	return func(ctx context.Context, c *cli) (err error) {
		a, err := c.open()
		if err != nil {
			return err
		}
		defer a.close(&err)
		repo := a.store.DatabaseConfigs()
		cf, err := repo.Get(ctx, c.args[0])
		if errors.Is(err, activitylog.ErrNotFound) {
			return fmt.Errorf("no database configuration %q", clipArg(c.args[0]))
		}
		if err != nil {
			return err
		}
		if err := repo.Delete(ctx, cf.ID); err != nil {
			return err
		}
		if err := a.rec.Record(ctx, configEvent(cf, "delete", "database config "+cf.Name+" deleted with the CLI")); err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "deleted %s (%s)\n", cf.ID, cf.Name)
		return err
	}
}

func defineConfigsGenerateKey(fs *flag.FlagSet) func(context.Context, *cli) error {
	return func(ctx context.Context, c *cli) error {
		k, err := dbconfig.GenerateKey(c.args[0])
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(c.stdout, k.String())
		return err
	}
}

func defineConfigsRotate(fs *flag.FlagSet) func(context.Context, *cli) error {
	return func(ctx context.Context, c *cli) (err error) {
		if c.cfg.DatabaseConfigKeys == "" {
			return usageError("database_config_keys is not set: give the keys, the new one first (--database-config-keys or ACTIVITYLOG_DATABASE_CONFIG_KEYS)")
		}
		kr, err := dbconfig.ParseKeyring(c.cfg.DatabaseConfigKeys)
		if err != nil {
			return err
		}
		a, err := c.open()
		if err != nil {
			return err
		}
		defer a.close(&err)
		res, rerr := kr.Rotate(ctx, a.store.DatabaseConfigs())
		e := activitylog.Event{
			Kind: activitylog.KindSystem, Action: "security", Severity: activitylog.SeverityNotice, Category: "database_config",
			Message: fmt.Sprintf("database config passwords re-encrypted with key %s: %d rotated, %d current, %d skipped, %d failed",
				kr.Current(), res.Rotated, res.Current, res.Skipped, res.Failed),
			Actor: activitylog.Actor{ID: "cli", Type: activitylog.ActorSystem},
			Extra: map[string]any{"operation": "rotate_keys", "key_id": kr.Current(), "rotated": res.Rotated, "failed": res.Failed},
		}
		if err := a.rec.Record(ctx, e); err != nil {
			return errors.Join(rerr, err)
		}
		fmt.Fprintf(c.stdout, "key %s: %d rotated, %d already current, %d skipped (changed meanwhile), %d failed\n",
			kr.Current(), res.Rotated, res.Current, res.Skipped, res.Failed)
		return rerr
	}
}

// configEvent is the record of a change to cf made with the CLI.
func configEvent(cf dbconfig.Config, op, msg string) activitylog.Event {
	return activitylog.Event{
		Time: time.Now(), Kind: activitylog.KindSystem, Action: "security", Severity: activitylog.SeverityNotice,
		Category: "database_config", Message: msg, Tenant: cf.Tenant,
		Actor:  activitylog.Actor{ID: "cli", Type: activitylog.ActorSystem},
		Object: activitylog.Object{Type: "database_config", ID: cf.ID, Repr: cf.Name},
		Extra:  map[string]any{"operation": op, "engine": string(cf.Engine), "route_for": cf.RouteFor},
	}
}
