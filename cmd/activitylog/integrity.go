package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
)

// The integrity commands: signing keys, and the verifier over the store
// or an offline bundle. serve seals what it stores when a signing key is
// configured (serve_integrity.go, docs/sealing.md).

var keysCommand = &command{
	name:    "keys",
	summary: "generate the Ed25519 key pair that signs integrity checkpoints",
	about: "Writes a new Ed25519 key pair: the private key (PKCS#8 PEM, mode 0600) that signs checkpoints, " +
		"and the public key (PKIX PEM) that verify and auditors trust. Existing files are never replaced.",
	subs: []*subcommand{
		{name: "generate", summary: "write NAME.key and NAME.pub into --dir", define: defineKeysGenerate},
	},
}

func defineKeysGenerate(fs *flag.FlagSet) func(context.Context, *cli) error {
	dir := fs.String("dir", ".", "directory to write the key files into")
	name := fs.String("name", "activitylog-signing", "file name stem: NAME.key and NAME.pub")
	return func(ctx context.Context, c *cli) error {
		if *name == "" || strings.ContainsAny(*name, `/\`) || !utf8.ValidString(*name) || strings.ContainsFunc(*name, unicode.IsControl) {
			return usageError("--name %q must be a plain file name", *name)
		}
		priv, pub := filepath.Join(*dir, *name+".key"), filepath.Join(*dir, *name+".pub")
		k, err := integrity.GenerateKeyFiles(priv, pub)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "private key: %s (keep it secret; it signs checkpoints)\npublic key:  %s\nkey id:      %s\n",
			priv, pub, integrity.KeyID(k))
		return nil
	}
}

// errVerifyFailed makes verify exit 1 after it has printed its report.
var errVerifyFailed = errors.New("the trail did not verify")

var verifyCommand = &command{
	name:    "verify",
	summary: "check the stored trail's hash chains and signed checkpoints",
	about: "Reads every event of the database (or of the store), recomputes each chain's hashes and Merkle trees, and checks every checkpoint's " +
		"signature against --public-key (and a witness file's checkpoints, with --witness). It prints totals and each finding " +
		"(modified, missing, inserted, reordered, truncated, bad_signature, missing_hash, checkpoint_mismatch) with its chain, " +
		"sequence number and event id, and exits 1 when there is any. An event without a seal is a finding, never fine. " +
		"--chain, --kind, --from and --to limit the report to those events. --fix first seals the events written before integrity was on " +
		"(older than the earliest sealed event) into a chain of its own and says so; it never re-stamps an event whose seal does not match. " +
		"--bundle checks a file written by activitylog export --with-proofs instead, with no access to the database. " +
		"With store set (--store, ACTIVITYLOG_STORE, or the --config file) it reads that event store, as serve and worker write it, instead of db; " +
		"a store that keeps no seals (clickhouse, mongodb) is refused, and --fix only where the store can seal old events (sqlite).",
	subs: []*subcommand{
		{name: "", summary: "verify the database", define: defineVerify},
	},
}

// keyFiles is a repeatable flag.
type keyFiles []string

func (k *keyFiles) String() string     { return strings.Join(*k, ",") }
func (k *keyFiles) Set(v string) error { *k = append(*k, v); return nil }

// filterFlags are the selection flags that verify and export share.
type filterFlags struct {
	chains, kinds keyFiles
	from, to      string
}

func (f *filterFlags) define(fs *flag.FlagSet, what string) {
	fs.Var(&f.chains, "chain", what+" only this chain, by `ID` (repeatable)")
	fs.Var(&f.kinds, "kind", what+" only events of this `KIND`: "+kindList()+" (repeatable)")
	fs.StringVar(&f.from, "from", "", what+" only events at or after this `TIME` (RFC 3339, as 2026-11-24T10:00:00Z)")
	fs.StringVar(&f.to, "to", "", what+" only events before this `TIME` (RFC 3339)")
}

func kindList() string {
	var ks []string
	for _, k := range activitylog.Kinds {
		ks = append(ks, string(k))
	}
	return strings.Join(ks, ", ")
}

// apply checks the flags and sets them on o: a bad value is a usage
// error naming the flag and the value.
func (f *filterFlags) apply(o *integrity.VerifierOptions) error {
	for _, c := range f.chains {
		if err := integrity.ValidateChainID(c); err != nil {
			return usageError("--chain %q: %v", c, err)
		}
		o.Chains = append(o.Chains, c)
	}
	for _, k := range f.kinds {
		if !activitylog.Kind(k).Valid() {
			return usageError("--kind %q: must be one of %s", k, kindList())
		}
		o.Kinds = append(o.Kinds, activitylog.Kind(k))
	}
	var err error
	if o.From, err = parseTimeFlag("from", f.from); err != nil {
		return err
	}
	if o.To, err = parseTimeFlag("to", f.to); err != nil {
		return err
	}
	if !o.From.IsZero() && !o.To.IsZero() && !o.From.Before(o.To) {
		return usageError("--from %s is not before --to %s", f.from, f.to)
	}
	return nil
}

func parseTimeFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, usageError("--%s %q: not an RFC 3339 time such as 2026-11-24T10:00:00Z", name, v)
	}
	return t.UTC(), nil
}

// filtered says whether a kind or time filter is set: what selects
// events inside a chain rather than whole chains.
func (f *filterFlags) filtered() bool { return len(f.kinds) > 0 || f.from != "" || f.to != "" }

func defineVerify(fs *flag.FlagSet) func(context.Context, *cli) error {
	var pubs, hmacs keyFiles
	var filters filterFlags
	fs.Var(&pubs, "public-key", "PEM public key `FILE` whose checkpoints are trusted (repeatable)")
	fs.Var(&hmacs, "hmac-key", "HMAC key `FILE` of keyed chains (repeatable)")
	witness := fs.String("witness", "", "witness `FILE` of checkpoints to check the store against"+witnessURLHelp)
	witnessToken := fs.String("witness-token-file", "", "`FILE` holding the bearer token of a URL --witness")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	max := fs.Int("max-findings", 100, "`N` findings to list at most; all are counted")
	filters.define(fs, "verify")
	bundle := fs.String("bundle", "", "check this bundle `FILE` (activitylog export --with-proofs) instead of the database, with no access to it")
	trustBundleKeys := fs.Bool("trust-bundle-keys", false, "with --bundle and no --public-key: trust the keys inside the bundle (proves it consistent with itself, not who signed it)")
	fix := fs.Bool("fix", false, "first seal the events written before integrity was on (needs --signing-key; docs/integrity.md says which), then verify")
	signingKey := fs.String("signing-key", "", "with --fix: PEM private key `FILE` that signs the checkpoints of the chain --fix makes")
	storeURL := defineStoreFlag(fs)
	return func(ctx context.Context, c *cli) (err error) {
		// The verifier reads 0 as its default and a negative bound as
		// none: neither is the "at most N" the flag says.
		if *max < 1 {
			return usageError("--max-findings %d: must be at least 1 (every finding is counted either way)", *max)
		}
		o := &integrity.VerifierOptions{MaxFindings: *max}
		if err := filters.apply(o); err != nil {
			return err
		}
		for _, f := range pubs {
			k, err := integrity.LoadPublicKey(f)
			if err != nil {
				return usageError("--public-key: %v", err)
			}
			o.PublicKeys = append(o.PublicKeys, ed25519.PublicKey(k))
		}
		for _, f := range hmacs {
			k, err := integrity.LoadHMACKey(f)
			if err != nil {
				return usageError("--hmac-key: %v", err)
			}
			o.HMACKeys = append(o.HMACKeys, k)
		}
		if *witness == "" && *witnessToken != "" {
			return usageError("--witness-token-file goes with --witness URL")
		}
		if *witness != "" {
			if o.Witness, err = readWitness(ctx, *witness, *witnessToken); err != nil {
				var st *integrity.WitnessStatusError
				if errors.Is(err, activitylog.ErrUnavailable) && !(errors.As(err, &st) && st.Refused()) {
					// A witness that does not answer is a failed check
					// (exit 1); one that refuses the token (or its
					// absence) asks for --witness-token-file (exit 2).
					return fmt.Errorf("--witness: %w", err)
				}
				return usageError("--witness: %v", err)
			}
		}
		if *bundle != "" {
			if *fix || *signingKey != "" {
				return usageError("--fix and --signing-key change a database; they do not go with --bundle")
			}
			if len(filters.chains)+len(filters.kinds) > 0 || filters.from != "" || filters.to != "" {
				return usageError("--chain, --kind, --from and --to select at export time; a bundle is checked whole")
			}
			return verifyBundle(ctx, c, *bundle, o, *asJSON, *trustBundleKeys)
		}
		if *trustBundleKeys {
			return usageError("--trust-bundle-keys goes with --bundle")
		}
		var signer ed25519.PrivateKey
		switch {
		case *fix && *signingKey == "":
			return usageError("--fix needs --signing-key: the chain it makes is anchored by signed checkpoints")
		case !*fix && *signingKey != "":
			return usageError("--signing-key is used only with --fix")
		case *fix:
			if signer, err = integrity.LoadPrivateKey(*signingKey); err != nil {
				return usageError("--signing-key: %v", err)
			}
		}
		url := storeURL(c)
		check := checkSource
		if *fix {
			check = checkFixable
		}
		store, err := openTrail(ctx, c.cfg.DB, url, !*fix, check)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, store.Close()) }()
		if url != "" && !*asJSON {
			fmt.Fprintf(c.stdout, "store %s\n", trailName(c.cfg.DB, url))
		}
		if *fix {
			fr, err := store.(sealUnsealer).SealUnsealed(ctx, &sqlite.FixOptions{SigningKey: signer})
			if fr != nil {
				w := c.stdout
				if *asJSON {
					w = c.stderr // standard output holds the JSON report alone
				}
				printFix(w, fr)
			}
			if err != nil {
				return err
			}
		}
		if err := knownChains(ctx, store.(integrity.Source), o); err != nil {
			return err
		}
		// The store itself, not a view of it: the verifier finds its
		// pruning records by asserting integrity.PruneSource on it.
		rep, err := integrity.NewVerifier(store.(integrity.Source), o).Verify(ctx)
		if err != nil {
			return err
		}
		return printReport(c.stdout, rep, *asJSON)
	}
}

// knownChains refuses, as a usage error naming --chain, a chain of
// o.Chains that neither src nor o.Witness holds: the verifier would
// report it as an empty chain with no finding, and print OK for a
// mistyped id, having verified nothing. A chain that only the witness
// knows is verified (the store lost it: truncated).
func knownChains(ctx context.Context, src integrity.Source, o *integrity.VerifierOptions) error {
	if len(o.Chains) == 0 {
		return nil
	}
	infos, err := src.Chains(ctx)
	if err != nil {
		return fmt.Errorf("list chains: %w", err)
	}
	for _, id := range o.Chains {
		if slices.ContainsFunc(infos, func(c integrity.ChainInfo) bool { return c.ID == id }) ||
			slices.ContainsFunc(o.Witness, func(cp integrity.Checkpoint) bool { return cp.Chain == id }) {
			continue
		}
		where := "in the store"
		if o.Witness != nil {
			where = "in the store or the witness"
		}
		return usageError("--chain %q: %v %s, so nothing would be verified", id, integrity.ErrNoSuchChain, where)
	}
	return nil
}

// mustExist refuses a database file that does not exist, which opening
// would create empty.
func mustExist(path string) error { return mustExistAs("--db", path) }

// mustExistAs is mustExist for the file that the flag name names.
func mustExistAs(name, path string) error {
	if path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil
	}
	if _, err := os.Stat(path); err != nil {
		return usageError("%s %q: %v", name, path, err)
	}
	return nil
}

// printFix says what --fix did and left alone.
func printFix(w io.Writer, r *sqlite.FixReport) {
	switch {
	case r.Sealed > 0:
		fmt.Fprintf(w, "fix: sealed %d events written before integrity was on (before %s) into new chain %s, with %d signed checkpoints\n",
			r.Sealed, r.Began.Format(time.RFC3339Nano), r.Chain, r.Checkpoints)
	case r.Began.IsZero():
		fmt.Fprintln(w, "fix: sealed nothing: no writer has sealed an event in this store, so there is no time at which integrity began; turn sealing on first")
	default:
		fmt.Fprintf(w, "fix: sealed nothing: no event without a seal is older than integrity (%s)\n", r.Began.Format(time.RFC3339Nano))
	}
	if !r.Resumed.IsZero() {
		fmt.Fprintf(w, "fix: an earlier fix sealed events up to %s; only later ones were candidates\n", r.Resumed.Format(time.RFC3339Nano))
	}
	for _, l := range []struct {
		n   int
		why string
	}{
		{r.NoIntegrity, "no writer sealed any event here, so none is known to predate integrity"},
		{r.After, "they are not older than integrity: written while it was on, possibly inserted; they stay missing_hash findings"},
		{r.BeforeFix, "they are older than what an earlier fix sealed, so they appeared since; they stay missing_hash findings"},
		{r.Partial, "they carry part of a seal, which is evidence of tampering; never touched"},
		{r.Unreadable, "their stored data is not an event, or a column differs from it; not sealed"},
	} {
		if l.n > 0 {
			fmt.Fprintf(w, "fix: left %d events without a seal: %s\n", l.n, l.why)
		}
	}
}

// printReport prints a verifier's report and returns errVerifyFailed
// when it has a finding.
func printReport(w io.Writer, rep *integrity.Report, asJSON bool) error {
	if asJSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\n", b)
	} else {
		fmt.Fprintf(w, "events %d, verified %d, unsealed %d, chains %d, checkpoints %d (%d verified)\n",
			rep.Total, rep.Verified, rep.Unsealed, len(rep.Chains), rep.Checkpoints, rep.CheckpointsVerified)
		for _, f := range rep.Findings {
			fmt.Fprintln(w, f.String())
		}
		if rep.FindingsOmitted > 0 {
			fmt.Fprintf(w, "… and %d more findings\n", rep.FindingsOmitted)
		}
	}
	if !rep.OK() {
		return errVerifyFailed
	}
	if !asJSON {
		fmt.Fprintln(w, "OK")
	}
	return nil
}
