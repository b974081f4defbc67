package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/activitylog/activitylog/integrity"
	"github.com/activitylog/activitylog/sqlite"
)

// The integrity commands: signing keys, and the verifier over the store.
// Sealing itself is a library step for now (integrity.NewWriter); serve
// does not turn it on yet (docs/integrity.md).

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
		if *name == "" || strings.ContainsAny(*name, `/\`) {
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
	about: "Reads every event of the database, recomputes each chain's hashes and Merkle trees, and checks every checkpoint's " +
		"signature against --public-key (and a witness file's checkpoints, with --witness). It prints totals and each finding " +
		"(modified, missing, inserted, reordered, truncated, bad_signature, missing_hash, checkpoint_mismatch) with its chain, " +
		"sequence number and event id, and exits 1 when there is any. An event without a seal is a finding, never fine.",
	subs: []*subcommand{
		{name: "", summary: "verify the database", define: defineVerify},
	},
}

// keyFiles is a repeatable flag.
type keyFiles []string

func (k *keyFiles) String() string     { return strings.Join(*k, ",") }
func (k *keyFiles) Set(v string) error { *k = append(*k, v); return nil }

func defineVerify(fs *flag.FlagSet) func(context.Context, *cli) error {
	var pubs, hmacs keyFiles
	fs.Var(&pubs, "public-key", "PEM public key whose checkpoints are trusted (repeatable)")
	fs.Var(&hmacs, "hmac-key", "HMAC key file of keyed chains (repeatable)")
	witness := fs.String("witness", "", "witness file of checkpoints to check the store against")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	max := fs.Int("max-findings", 100, "findings to list; all are counted")
	return func(ctx context.Context, c *cli) (err error) {
		o := &integrity.VerifierOptions{MaxFindings: *max}
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
		if *witness != "" {
			if o.Witness, err = integrity.ReadWitnessFile(*witness); err != nil {
				return usageError("--witness: %v", err)
			}
		}
		store, err := sqlite.Open(c.cfg.DB, &sqlite.Options{CheckpointInterval: -1})
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, store.Close()) }()
		rep, err := integrity.NewVerifier(store, o).Verify(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			b, err := json.MarshalIndent(rep, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "%s\n", b)
		} else {
			fmt.Fprintf(c.stdout, "events %d, verified %d, unsealed %d, chains %d, checkpoints %d (%d verified)\n",
				rep.Total, rep.Verified, rep.Unsealed, len(rep.Chains), rep.Checkpoints, rep.CheckpointsVerified)
			for _, f := range rep.Findings {
				fmt.Fprintln(c.stdout, f.String())
			}
			if rep.FindingsOmitted > 0 {
				fmt.Fprintf(c.stdout, "… and %d more findings\n", rep.FindingsOmitted)
			}
		}
		if !rep.OK() {
			return errVerifyFailed
		}
		fmt.Fprintln(c.stdout, "OK")
		return nil
	}
}
