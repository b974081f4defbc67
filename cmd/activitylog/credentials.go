package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/access"
	"github.com/activitylog/activitylog/internal/config"
	"github.com/activitylog/activitylog/sqlite"
)

// A subcommand is one verb of a command that has several: activitylog
// users create.
type subcommand struct {
	name    string
	args    string // its positional arguments, for help: "USERNAME"
	nargs   int
	summary string
	// define defines the subcommand's own flags on fs and returns what
	// runs it once they are parsed.
	define func(fs *flag.FlagSet) func(ctx context.Context, c *cli) error
}

// cli is what a subcommand runs with.
type cli struct {
	cfg            config.Config
	args           []string
	stdin          io.Reader
	stdout, stderr io.Writer
}

// errUsage marks an error as a bad command line: exit status 2.
var errUsage = errors.New("usage")

func usageError(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}

var usersCommand = &command{
	name:    "users",
	summary: "create, list, disable and enable the users who sign in to the API",
	about: "Manages the users of the API's sign-in (POST /api/v1/auth/login) in the database. " +
		"A password is read from standard input (--password-stdin) and stored as an argon2id hash. " +
		"Permissions are view_logs, view_all_logs, resolve_events, ingest, manage_retention, manage_database_config; " +
		"superuser (everything, across tenants) only with --superuser. Disabling a user ends its sessions at once.",
	flags: true,
	subs: []*subcommand{
		{name: "create", summary: "create a user; its password is read from standard input", define: defineUsersCreate},
		{name: "list", summary: "list the users", define: defineUsersList},
		{name: "disable", args: "USERNAME", nargs: 1, summary: "disable a user and end its sessions", define: defineUsersDisable(true)},
		{name: "enable", args: "USERNAME", nargs: 1, summary: "enable a disabled user again", define: defineUsersDisable(false)},
	},
}

var apiKeysCommand = &command{
	name:    "api-keys",
	summary: "create, list and revoke the API keys that programs use",
	about: "Manages the API keys (Authorization: Bearer alk_…) in the database. A key is printed once, when it is made, " +
		"on standard output alone; only a hash of its secret is stored. Its scopes are permissions; " +
		"superuser only with --superuser, which only this command can grant (POST /api/v1/api-keys cannot).",
	flags: true,
	subs: []*subcommand{
		{name: "create", summary: "create a key and print it, once", define: defineKeysCreate},
		{name: "list", summary: "list the keys, never their secrets", define: defineKeysList},
		{name: "revoke", args: "ID", nargs: 1, summary: "revoke a key (its id alk_…, or the whole key)", define: defineKeysRevoke},
	},
}

func (c *command) sub(name string) *subcommand {
	for _, s := range c.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

// runSub runs `activitylog <cmd> <sub> [flags] [args]`.
func runSub(ctx context.Context, cmd *command, args []string, stdin io.Reader, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	// A command whose subcommand is named "" (verify) runs it when no
	// subcommand is named: activitylog verify --json.
	if cmd.sub("") != nil && (len(args) == 0 || strings.HasPrefix(args[0], "-") && !slices.Contains([]string{"-h", "-help", "--help"}, args[0])) {
		args = append([]string{""}, args...)
	}
	if len(args) == 0 {
		fmt.Fprintf(stderr, "activitylog %s: no subcommand given\n%s", cmd.name, subList(cmd))
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		commandUsage(stdout, cmd)
		return exitOK
	}
	sub := cmd.sub(args[0])
	if sub == nil {
		fmt.Fprintf(stderr, "activitylog %s: unknown subcommand %q\n%s", cmd.name, args[0], subList(cmd))
		return exitUsage
	}
	name := strings.TrimSpace(cmd.name + " " + sub.name)
	fs := flag.NewFlagSet("activitylog "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := config.Bind(fs, cmd.name)
	runFn := sub.define(fs)
	positional, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		subUsage(stdout, cmd, sub)
		return exitOK
	}
	if err == nil && len(positional) != sub.nargs {
		if len(positional) > sub.nargs {
			err = fmt.Errorf("unexpected argument %q", positional[sub.nargs])
		} else {
			err = fmt.Errorf("needs %s", sub.args)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "activitylog %s: %s\nRun 'activitylog %s --help' for usage.\n", name, flagErrorIn(fs, err), name)
		return exitUsage
	}
	cfg, err := flags.Load(lookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "activitylog %s: %v\n", name, err)
		return exitUsage
	}
	if errs := unknownEnv(); len(errs) > 0 {
		fmt.Fprintf(stderr, "activitylog %s: %v\n", name, errors.Join(errs...))
		return exitUsage
	}
	err = runFn(ctx, &cli{cfg: cfg, args: positional, stdin: stdin, stdout: stdout, stderr: stderr})
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "activitylog %s: %s\nRun 'activitylog %s --help' for usage.\n", name, strings.TrimPrefix(err.Error(), errUsage.Error()+": "), name)
		return exitUsage
	case errors.Is(err, activitylog.ErrInvalid):
		fmt.Fprintf(stderr, "activitylog %s: %v\n", name, err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "activitylog %s: %v\n", name, err)
	return exitFailure
}

// given reports whether the flag name was set on the command line.
func given(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// parseInterleaved parses flags that come before, between or after the
// positional arguments, and returns those.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func subList(cmd *command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: activitylog %s <subcommand> [flags]\n\nSubcommands:\n", cmd.name)
	for _, s := range cmd.subs {
		fmt.Fprintf(&b, "  %-18s  %s\n", strings.TrimSpace(s.name+" "+s.args), s.summary)
	}
	return b.String()
}

// accessCLI is what the subcommands work with: the store, a synchronous
// recorder into it (so that what they change is in the trail), and the
// Service.
type accessCLI struct {
	store *sqlite.Store
	rec   *activitylog.Recorder
	seal  *sealer // nil unless sealing is configured
	svc   *access.Service
}

func (c *cli) open() (*accessCLI, error) {
	store, err := sqlite.Open(c.cfg.DB, &sqlite.Options{CheckpointInterval: -1})
	if err != nil {
		return nil, err
	}
	o := c.cfg.RecorderOptions(newLogger(c.cfg, c.stderr))
	o.Mode = activitylog.Sync
	// With sealing configured, what the command records is sealed too,
	// into a chain of its own beside serve's (CHAIN.cli), so that a
	// serve running at the same time never shares a chain with it.
	if err := refuseUnsealed(context.Background(), c.cfg, store, "this command"); err != nil {
		return nil, errors.Join(err, store.Close())
	}
	var w activitylog.Writer = store
	var seal *sealer
	if c.cfg.Sealing() {
		if seal, err = c.sealer(context.Background(), store); err != nil {
			return nil, errors.Join(err, store.Close())
		}
		w = seal
	}
	rec := activitylog.NewRecorder(w, o)
	svc, err := access.New(store.Credentials(), &access.Options{Recorder: rec, Logger: o.Logger})
	if err != nil {
		return nil, errors.Join(err, closeSealed(context.Background(), rec, seal, store))
	}
	return &accessCLI{store: store, rec: rec, seal: seal, svc: svc}, nil
}

// sealer seals what a command records into store, in a chain of its own
// beside serve's (CHAIN.cli), so that a serve running at the same time
// never shares a chain with it.
func (c *cli) sealer(ctx context.Context, store sealStore) (*sealer, error) {
	cfg := c.cfg
	if cfg.IntegrityChain == "" {
		cfg.IntegrityChain = defaultChain()
	}
	cfg.IntegrityChain += ".cli"
	ctx, cancel := context.WithTimeout(ctx, cfg.WriteTimeout)
	defer cancel()
	return newSealer(ctx, cfg, store, slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

func (a *accessCLI) close(err *error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	*err = errors.Join(*err, closeSealed(ctx, a.rec, a.seal, a.store))
}

// readPassword reads one line from r: the password, without its line
// ending.
func readPassword(r io.Reader) (string, error) {
	b, err := io.ReadAll(io.LimitReader(r, access.MaxPasswordLen+3))
	if err != nil {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if bytes.ContainsAny(b, "\r\n") {
		return "", usageError("standard input holds more than one line: give the password alone")
	}
	if len(b) == 0 {
		return "", usageError("standard input is empty: give the password there, as in: printf '%%s\\n' \"$PASSWORD\" | activitylog users create …")
	}
	return string(b), nil
}

func defineUsersCreate(fs *flag.FlagSet) func(context.Context, *cli) error {
	username := fs.String("username", "", "the user's `NAME`, unique: letters, digits and . _ @ + - (required)")
	id := fs.String("id", "", "the user's `ID`, which its own events carry as their actor id (default: u_ and random hex)")
	tenant := fs.String("tenant", "", "the `TENANT` whose events the user sees (default: none, the events without a tenant)")
	perms := fs.String("permissions", "", "comma-separated `PERMISSIONS`: view_logs, view_all_logs, resolve_events, ingest, manage_retention, manage_database_config")
	super := fs.Bool("superuser", false, "make the user a superuser: every permission, across tenants")
	stdin := fs.Bool("password-stdin", false, "read the password from standard input, one line (required: the password is never a flag)")
	return func(ctx context.Context, c *cli) (err error) {
		if *username == "" {
			return usageError("--username is required")
		}
		if !*stdin {
			return usageError("the password is read from standard input: pass --password-stdin")
		}
		ps, err := access.ParsePermissions("permissions", *perms)
		if err != nil {
			return err
		}
		if *super {
			ps = append(ps, activitylog.Superuser)
		}
		password, err := readPassword(c.stdin)
		if err != nil {
			return err
		}
		if err := access.CheckPassword(password); err != nil {
			return err
		}
		a, err := c.open()
		if err != nil {
			return err
		}
		defer a.close(&err)
		u, err := a.svc.CreateUser(ctx, access.NewUser{ID: *id, Username: *username, Password: password, Tenant: *tenant, Permissions: ps, AllowSuperuser: *super})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "created user %s (id %s, tenant %q, permissions %s)\n", u.Username, u.ID, u.Tenant, permissionNames(u.Permissions))
		return err
	}
}

func permissionNames(ps []activitylog.Permission) string {
	if len(ps) == 0 {
		return "none"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, ",")
}

func formatTime(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}

func defineUsersList(fs *flag.FlagSet) func(context.Context, *cli) error {
	asJSON := fs.Bool("json", false, "print JSON, one array, rather than a table")
	return func(ctx context.Context, c *cli) (err error) {
		a, err := c.open()
		if err != nil {
			return err
		}
		defer a.close(&err)
		us, err := a.store.Credentials().ListUsers(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]access.UserJSON, len(us)) // as GET /api/v1/users shows them
			for i, u := range us {
				out[i] = access.ToUserJSON(u)
			}
			return writeJSONTo(c.stdout, out)
		}
		w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tUSERNAME\tTENANT\tPERMISSIONS\tCREATED\tSTATUS")
		for _, u := range us {
			status := "active"
			if u.Disabled {
				status = "disabled"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Username, orDash(u.Tenant), permissionNames(u.Permissions), formatTime(u.CreatedAt, "-"), status)
		}
		return w.Flush()
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSONTo(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func defineUsersDisable(disabled bool) func(fs *flag.FlagSet) func(context.Context, *cli) error {
	return func(fs *flag.FlagSet) func(context.Context, *cli) error {
		return func(ctx context.Context, c *cli) (err error) {
			a, err := c.open()
			if err != nil {
				return err
			}
			defer a.close(&err)
			if err := a.svc.SetUserDisabled(ctx, c.args[0], disabled, nil); err != nil {
				if errors.Is(err, activitylog.ErrNotFound) {
					return fmt.Errorf("no user %q", c.args[0])
				}
				return err
			}
			verb := "enabled"
			if disabled {
				verb = "disabled; its sessions are ended"
			}
			_, err = fmt.Fprintf(c.stdout, "user %s %s\n", c.args[0], verb)
			return err
		}
	}
}

func defineKeysCreate(fs *flag.FlagSet) func(context.Context, *cli) error {
	name := fs.String("name", "", "`NAME` saying what the key is for, e.g. \"billing ingest\" (required)")
	scopes := fs.String("scopes", "", "comma-separated `PERMISSIONS` the key carries, e.g. ingest or view_all_logs,resolve_events (required unless --superuser)")
	tenant := fs.String("tenant", "", "the `TENANT` the key reads and writes (default: none, the events without a tenant)")
	expires := fs.Duration("expires", 0, "`DURATION` until the key stops working, e.g. 720h (default: never)")
	super := fs.Bool("superuser", false, "give the key the superuser permission: everything, across tenants; only this command can")
	return func(ctx context.Context, c *cli) (err error) {
		if *name == "" {
			return usageError("--name is required")
		}
		ps, err := access.ParsePermissions("scopes", *scopes)
		if err != nil {
			return err
		}
		if *super {
			ps = append(ps, activitylog.Superuser)
		}
		if len(ps) == 0 {
			return usageError("--scopes is required: one or more of view_logs, view_all_logs, resolve_events, ingest, manage_retention, manage_database_config")
		}
		// 0 is the default, never; given, it would make a key that
		// never expires out of a request for one that expires at once.
		if given(fs, "expires") && *expires <= 0 {
			return usageError("--expires %q: must be positive (leave --expires out for a key that never expires)", expires.String())
		}
		a, err := c.open()
		if err != nil {
			return err
		}
		defer a.close(&err)
		nk := access.NewAPIKey{Name: *name, Tenant: *tenant, Scopes: ps, AllowSuperuser: *super}
		if *expires > 0 {
			nk.ExpiresAt = time.Now().Add(*expires)
		}
		key, k, err := a.svc.CreateAPIKey(ctx, nk)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "activitylog api-keys: created %s%s %q (scopes %s, tenant %q, expires %s); the key is printed below, this once:\n",
			access.KeyPrefix, k.ID, k.Name, permissionNames(k.Scopes), k.Tenant, formatTime(k.ExpiresAt, "never"))
		_, err = fmt.Fprintln(c.stdout, key)
		return err
	}
}

func defineKeysList(fs *flag.FlagSet) func(context.Context, *cli) error {
	asJSON := fs.Bool("json", false, "print JSON, one array, rather than a table")
	return func(ctx context.Context, c *cli) (err error) {
		a, err := c.open()
		if err != nil {
			return err
		}
		defer a.close(&err)
		ks, err := a.store.Credentials().ListAPIKeys(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		status := func(k access.APIKey) string {
			switch {
			case !k.RevokedAt.IsZero():
				return "revoked"
			case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
				return "expired"
			}
			return "active"
		}
		if *asJSON {
			type keyJSON struct {
				ID         string                   `json:"id"`
				Name       string                   `json:"name"`
				Tenant     string                   `json:"tenant"`
				Scopes     []activitylog.Permission `json:"scopes"`
				CreatedAt  time.Time                `json:"created_at"`
				CreatedBy  string                   `json:"created_by"`
				ExpiresAt  *time.Time               `json:"expires_at,omitempty"`
				RevokedAt  *time.Time               `json:"revoked_at,omitempty"`
				LastUsedAt *time.Time               `json:"last_used_at,omitempty"`
				Status     string                   `json:"status"`
			}
			ptr := func(t time.Time) *time.Time {
				if t.IsZero() {
					return nil
				}
				return &t
			}
			out := make([]keyJSON, len(ks))
			for i, k := range ks {
				out[i] = keyJSON{access.KeyPrefix + k.ID, k.Name, k.Tenant, k.Scopes, k.CreatedAt, k.CreatedBy,
					ptr(k.ExpiresAt), ptr(k.RevokedAt), ptr(k.LastUsedAt), status(k)}
			}
			return writeJSONTo(c.stdout, out)
		}
		w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tNAME\tTENANT\tSCOPES\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
		for _, k := range ks {
			fmt.Fprintf(w, "%s%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", access.KeyPrefix, k.ID, k.Name, orDash(k.Tenant), permissionNames(k.Scopes),
				formatTime(k.CreatedAt, "-"), formatTime(k.ExpiresAt, "never"), formatTime(k.LastUsedAt, "never"), status(k))
		}
		return w.Flush()
	}
}

func defineKeysRevoke(fs *flag.FlagSet) func(context.Context, *cli) error {
	return func(ctx context.Context, c *cli) (err error) {
		id := access.KeyID(c.args[0])
		if id == "" {
			return usageError("%q is not an API key id: give alk_ and its 16 hex digits, as api-keys list shows them", clipArg(c.args[0]))
		}
		a, err := c.open()
		if err != nil {
			return err
		}
		defer a.close(&err)
		if err := a.svc.RevokeAPIKey(ctx, id, nil); err != nil {
			if errors.Is(err, activitylog.ErrNotFound) {
				return fmt.Errorf("no API key %s%s", access.KeyPrefix, id)
			}
			return err
		}
		_, err = fmt.Fprintf(c.stdout, "revoked %s%s\n", access.KeyPrefix, id)
		return err
	}
}

// clipArg shortens an argument for a message: one that is not a key id
// may be a whole key pasted wrong, whose secret must not be echoed.
func clipArg(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}
