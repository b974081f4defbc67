package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/dbconfig"
)

// database-configs create and update: a configuration record from
// flags, checked by dbconfig's Validate as POST and PUT
// /api/v1/database-configs check it (dbconfighttp), its password read
// from a file or standard input, never from a flag's value.

// configFlags are the flags of every field of a configuration record.
type configFlags struct {
	fs                                       *flag.FlagSet
	name, engine, host, port, database, user *string
	routeFor, tenant                         *string
	primary, active, readOnly                *bool
	options                                  keyFiles // --option KEY=VALUE: a repeatable string flag
	noOptions, noPassword                    *bool    // update only
	passwordFile                             *string
	passwordStdin                            *bool
	password                                 refusedFlag
	asJSON                                   *bool
	fieldFlags                               []string // the flags that set a field, for update
}

// refusedFlag is --password: a value given on the command line lands in
// shell history and in the process list, so it is refused, and never
// shown or kept.
type refusedFlag struct{ given bool }

func (r *refusedFlag) String() string     { return "" }
func (r *refusedFlag) Set(v string) error { r.given = true; return nil }

func defineConfigFlags(fs *flag.FlagSet, update bool) *configFlags {
	f := &configFlags{fs: fs}
	// either is the create text a, or the update text b.
	either := func(a, b string) string {
		if update {
			return b
		}
		return a
	}
	keep := either("", " (not given: kept)")
	f.name = fs.String("name", "", "the config's unique `NAME`, at most 128 bytes"+keep)
	f.engine = fs.String("engine", "", "the `ENGINE`: "+engineList()+keep)
	f.host = fs.String("host", "", "the server's `HOST` name or IP address; none for sqlite"+keep)
	f.port = fs.String("port", "", "the server's `PORT`; 0 for the engine's default (5432, 3306, 9000, 27017); none for sqlite"+keep)
	f.database = fs.String("database", "", "the `DATABASE` name; for sqlite the file's path"+keep)
	f.user = fs.String("user", "", "the `USER` to sign in as"+keep)
	fs.Var(&f.options, "option", "a driver parameter as `KEY=VALUE`, put in the URL's query (repeatable; only the names docs/database-configs.md lists for the engine)"+
		either("", "; given, they replace every stored one"))
	f.routeFor = fs.String("route-for", "", "the `KIND` of event the config takes, or all"+either(" (default all)", keep))
	f.tenant = fs.String("tenant", "", "the `TENANT` whose events it takes; empty: the events without a tenant"+keep)
	f.primary = fs.Bool("primary", false, "the config the router writes to, at most one per tenant and route-for"+either(" (default: true unless --read-only)", keep))
	f.active = fs.Bool("active", false, "routed to; --active=false keeps it but routes nothing to it"+either(" (default true)", keep))
	f.readOnly = fs.Bool("read-only", false, "never written to, so not a primary"+keep)
	f.passwordFile = fs.String("password-file", "", "read the password from this `FILE`, one line (stored encrypted with database_config_keys)")
	f.passwordStdin = fs.Bool("password-stdin", false, "read the password from standard input, one line")
	fs.Var(&f.password, "password", "refused: a `PASSWORD` on the command line lands in shell history; use --password-file or --password-stdin")
	if update {
		f.noOptions = fs.Bool("no-options", false, "remove every stored option")
		f.noPassword = fs.Bool("no-password", false, "remove the stored password")
	}
	f.asJSON = fs.Bool("json", false, "print the config as JSON, as the API answers it (never the password)")
	f.fieldFlags = []string{"name", "engine", "host", "port", "database", "user", "option", "route-for", "tenant",
		"primary", "active", "read-only", "password-file", "password-stdin", "no-options", "no-password"}
	return f
}

func engineList() string {
	var es []string
	for _, e := range dbconfig.Engines {
		es = append(es, string(e))
	}
	return strings.Join(es, ", ")
}

// given returns the names of the field flags given.
func (f *configFlags) given() map[string]bool {
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) {
		if slices.Contains(f.fieldFlags, fl.Name) {
			set[fl.Name] = true
		}
	})
	return set
}

// apply sets the fields whose flags are in set onto cf, and returns the
// password read, and whether one was given (--password-file,
// --password-stdin, or --no-password for none).
func (f *configFlags) apply(cf *dbconfig.Config, set map[string]bool, stdin io.Reader) (password string, passwordGiven bool, err error) {
	if err := f.refusePassword(); err != nil {
		return "", false, err
	}
	str := func(name string, dst *string, v string) {
		if set[name] {
			*dst = v
		}
	}
	str("name", &cf.Name, *f.name)
	if set["engine"] {
		cf.Engine = dbconfig.Engine(*f.engine)
	}
	str("host", &cf.Host, *f.host)
	if set["port"] {
		p, err := strconv.Atoi(*f.port)
		if err != nil {
			return "", false, usageError("--port %q: must be a number between 1 and 65535, or 0 for the engine's default", clipArg(*f.port))
		}
		cf.Port = p
	}
	str("database", &cf.Database, *f.database)
	str("user", &cf.User, *f.user)
	str("route-for", &cf.RouteFor, *f.routeFor)
	str("tenant", &cf.Tenant, *f.tenant)
	for name, b := range map[string]struct {
		dst *bool
		v   bool
	}{"primary": {&cf.Primary, *f.primary}, "active": {&cf.Active, *f.active}, "read-only": {&cf.ReadOnly, *f.readOnly}} {
		if set[name] {
			*b.dst = b.v
		}
	}
	if set["option"] && set["no-options"] {
		return "", false, usageError("--option and --no-options go apart: --option replaces every stored option, --no-options removes them")
	}
	if set["no-options"] && *f.noOptions {
		cf.Options = nil
	}
	if set["option"] {
		opts := map[string]string{}
		for _, kv := range f.options {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return "", false, usageError("--option %q: must be KEY=VALUE, as sslmode=require", clipOption(kv))
			}
			if _, dup := opts[k]; dup {
				return "", false, usageError("--option %q: %s is given twice", clipArg(k), clipArg(k))
			}
			opts[k] = v
		}
		cf.Options = opts
	}

	n := 0
	for _, name := range []string{"password-file", "password-stdin", "no-password"} {
		if set[name] {
			n++
		}
	}
	if n > 1 {
		return "", false, usageError("--password-file, --password-stdin and --no-password go apart: give one")
	}
	switch {
	case set["password-file"]:
		if *f.passwordFile == "" {
			return "", false, usageError("--password-file: names no file")
		}
		fh, err := os.Open(*f.passwordFile)
		if err != nil {
			return "", false, usageError("--password-file: %v", err)
		}
		defer fh.Close()
		if fi, err := fh.Stat(); err == nil && fi.IsDir() {
			return "", false, usageError("--password-file %q: is a directory, not a file holding the password", *f.passwordFile)
		}
		password, err = readConfigPassword(fh, "--password-file "+strconv.Quote(*f.passwordFile))
		return password, true, err
	case set["password-stdin"] && *f.passwordStdin:
		password, err = readConfigPassword(stdin, "--password-stdin: standard input")
		return password, true, err
	case set["no-password"] && *f.noPassword:
		return "", true, nil
	}
	return "", false, nil
}

// refusePassword refuses --password, without a word of its value.
func (f *configFlags) refusePassword() error {
	if !f.password.given {
		return nil
	}
	return usageError("--password is refused: a password on the command line lands in shell history and the process list; " +
		"use --password-file FILE or --password-stdin")
}

// clipOption shortens an --option for a message, and never shows what
// follows = when the name may be a secret's.
func clipOption(kv string) string {
	k, _, ok := strings.Cut(kv, "=")
	if ok && secretLike(k) {
		return k + "=[REDACTED]"
	}
	return clipArg(kv)
}

func secretLike(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"password", "passwd", "pwd", "secret", "token"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// readConfigPassword reads one line from r, the password, without its
// line ending. what names the source in errors, which never hold the
// password.
func readConfigPassword(r io.Reader, what string) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, dbconfig.MaxPassword+3))
	if err != nil {
		return "", fmt.Errorf("read the password: %s: %w", what, err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	switch {
	case len(b) > dbconfig.MaxPassword:
		return "", usageError("%s: the password is longer than %d bytes", what, dbconfig.MaxPassword)
	case bytes.ContainsAny(b, "\r\n"):
		return "", usageError("%s holds more than one line: give the password alone", what)
	case len(b) == 0:
		return "", usageError("%s is empty: give the password there (to remove a stored one: update --no-password)", what)
	}
	return string(b), nil
}

// configFlagNames maps a dbconfig field (its JSON name) to the flag that
// sets it.
var configFlagNames = map[string]string{
	"route_for": "--route-for", "read_only": "--read-only", "options": "--option",
	"password": "--password-file or --password-stdin", "id": "ID",
}

// asFlagError restates dbconfig's *activitylog.FieldError with the flag
// that sets the field, and the value refused (never a password's), as
// a usage error. Any other error is returned as it is.
func asFlagError(err error) error {
	var fe *activitylog.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	if k, ok := strings.CutPrefix(fe.Field, "options."); ok {
		if fe.Value == "[REDACTED]" {
			return usageError("--option %s: %s", k, fe.Reason)
		}
		return usageError("--option %s=%q: %s", k, fe.Value, fe.Reason)
	}
	name, ok := configFlagNames[fe.Field]
	if !ok {
		name = "--" + fe.Field
	}
	if fe.Field == "password" {
		return usageError("%s: %s", name, fe.Reason)
	}
	return usageError("%s %q: %s", name, fe.Value, fe.Reason)
}

// configKeyring returns the keyring of database_config_keys, which a
// password needs.
func configKeyring(c *cli) (*dbconfig.Keyring, error) {
	if c.cfg.DatabaseConfigKeys == "" {
		return nil, usageError("database_config_keys is not set: a password is stored encrypted with it " +
			"(--database-config-keys or ACTIVITYLOG_DATABASE_CONFIG_KEYS; database-configs generate-key makes one)")
	}
	return dbconfig.ParseKeyring(c.cfg.DatabaseConfigKeys)
}

func defineConfigsCreate(fs *flag.FlagSet) func(context.Context, *cli) error {
	f := defineConfigFlags(fs, false)
	return func(ctx context.Context, c *cli) (err error) {
		if err := f.refusePassword(); err != nil {
			return err
		}
		set := f.given()
		now := time.Now().UTC()
		// The API's defaults (dbconfighttp create): route_for all, no
		// tenant, active, primary unless read-only.
		cf := dbconfig.Config{ID: dbconfig.NewID(), RouteFor: dbconfig.RouteAll, Active: true, CreatedAt: now, UpdatedAt: now}
		password, _, err := f.apply(&cf, set, c.stdin)
		if err != nil {
			return err
		}
		if !set["primary"] {
			cf.Primary = !cf.ReadOnly
		}
		cf.Password = password
		if err := cf.Validate(); err != nil {
			return asFlagError(err)
		}
		if password != "" {
			kr, err := configKeyring(c)
			if err != nil {
				return err
			}
			if cf, err = kr.Conceal(cf); err != nil {
				return err
			}
		}
		a, err := c.open()
		if err != nil {
			return err
		}
		defer a.close(&err)
		if err := a.store.DatabaseConfigs().Create(ctx, cf); err != nil {
			return asFlagError(err)
		}
		e := configEvent(cf, "create", "database config "+cf.Name+" created with the CLI")
		maps.Copy(e.Extra, cf.AuditFields())
		if err := a.rec.Record(ctx, e); err != nil {
			return err
		}
		return printConfig(c, "created", cf, *f.asJSON)
	}
}

func defineConfigsUpdate(fs *flag.FlagSet) func(context.Context, *cli) error {
	f := defineConfigFlags(fs, true)
	return func(ctx context.Context, c *cli) (err error) {
		if err := f.refusePassword(); err != nil {
			return err
		}
		set := f.given()
		if len(set) == 0 {
			return usageError("nothing to change: give the flags of the fields to change (activitylog database-configs update --help)")
		}
		a, err := c.open()
		if err != nil {
			return err
		}
		defer a.close(&err)
		repo := a.store.DatabaseConfigs()
		old, err := repo.Get(ctx, c.args[0])
		if errors.Is(err, activitylog.ErrNotFound) {
			// As delete, enable and revoke answer a name that is not
			// there: the command failed (exit 1); its line was good.
			return fmt.Errorf("no database configuration %q (database-configs list shows their ids)", clipArg(c.args[0]))
		}
		if err != nil {
			return err
		}
		cf := old
		cf.Options = maps.Clone(old.Options)
		password, pwGiven, err := f.apply(&cf, set, c.stdin)
		if err != nil {
			return err
		}
		cf.Password = password
		cf.UpdatedAt = time.Now().UTC()
		if err := cf.Validate(); err != nil {
			return asFlagError(err)
		}
		if err := checkMovedConfig(old, cf, pwGiven); err != nil {
			return err
		}
		if pwGiven {
			cf.Secret = ""
			if password != "" {
				kr, err := configKeyring(c)
				if err != nil {
					return err
				}
				if cf, err = kr.Conceal(cf); err != nil {
					return err
				}
			}
		}
		if err := repo.Update(ctx, cf); err != nil {
			return asFlagError(err)
		}
		e := configEvent(cf, "update", "database config "+cf.Name+" updated with the CLI")
		maps.Copy(e.Extra, cf.AuditFields())
		e.Extra["password_changed"] = pwGiven
		e.Changes = dbconfig.AuditChanges(old, cf)
		if err := a.rec.Record(ctx, e); err != nil {
			return err
		}
		return printConfig(c, "updated", cf, *f.asJSON)
	}
}

// checkMovedConfig refuses, as PUT /api/v1/database-configs/{id} does,
// to keep old's stored password for cf when cf connects elsewhere or as
// another user (engine, host, port, user or database changed): the
// stored password is only ever sent to the server it was given for.
func checkMovedConfig(old, cf dbconfig.Config, passwordGiven bool) error {
	if passwordGiven || old.Secret == "" {
		return nil
	}
	if f := dbconfig.Moved(old, cf); f != "" {
		was := map[string]string{"engine": string(old.Engine), "host": old.Host, "port": strconv.Itoa(old.Port), "user": old.User, "database": old.Database}[f]
		return usageError("--%s changes where the config connects (from %q): give its password again with --password-file or --password-stdin, "+
			"or --no-password; the stored password is sent only to the server it was given for", f, clipArg(was))
	}
	return nil
}

// printConfig says what was done to cf: its id, name and URL without
// the password, or its JSON.
func printConfig(c *cli, done string, cf dbconfig.Config, asJSON bool) error {
	if asJSON {
		return writeJSONTo(c.stdout, cf) // Config's JSON never holds the password
	}
	pw := "no password"
	if cf.Secret != "" {
		pw = "password stored encrypted"
	}
	_, err := fmt.Fprintf(c.stdout, "%s %s (%s): %s, %s\n", done, cf.ID, cf.Name, cf.URL(""), pw)
	return err
}
