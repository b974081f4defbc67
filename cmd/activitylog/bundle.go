package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/activitylog/activitylog/integrity"
)

// witnessURLHelp is added to --witness's help: a witness is read over
// HTTP too.
const witnessURLHelp = ", or the http(s):// URL of a URL witness (its token in --witness-token-file)"

// readWitness reads the checkpoints of a witness: a file, or an
// http(s):// URL (integrity.ReadWitnessURL), with the bearer token read
// from tokenFile, if given.
func readWitness(ctx context.Context, src, tokenFile string) ([]integrity.Checkpoint, error) {
	if !strings.HasPrefix(src, "http://") && !strings.HasPrefix(src, "https://") {
		if tokenFile != "" {
			return nil, fmt.Errorf("--witness-token-file goes with a URL witness, not the file %s", src)
		}
		return integrity.ReadWitnessFile(src)
	}
	var token string
	if tokenFile != "" {
		f, err := os.Open(tokenFile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		// A token is short: a wrong path (/dev/zero, a log) is refused,
		// not read whole into memory.
		b, err := io.ReadAll(io.LimitReader(f, 64<<10+1))
		if err != nil {
			return nil, err
		}
		if len(b) > 64<<10 {
			return nil, fmt.Errorf("--witness-token-file %s: is larger than 64 KiB: is it the token file?", tokenFile)
		}
		token = strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return integrity.ReadWitnessURL(ctx, src, token)
}

// verifyBundle checks a bundle file with no access to the store. With no
// --public-key it refuses (exit 2), unless --trust-bundle-keys says to
// trust the keys the bundle carries, which it then says loudly: that
// proves the bundle consistent, not who signed it.
func verifyBundle(ctx context.Context, c *cli, path string, o *integrity.VerifierOptions, asJSON, trustBundleKeys bool) error {
	if trustBundleKeys && len(o.PublicKeys) > 0 {
		return usageError("--trust-bundle-keys goes without --public-key: give the signer's public key, or trust the bundle's own keys, not both")
	}
	if len(o.PublicKeys) == 0 && !trustBundleKeys {
		return usageError("--bundle needs --public-key: the signer's published public key, from a source other than the bundle " +
			"(anyone who edits a bundle can re-sign it with a key of their own); --trust-bundle-keys trusts the bundle's own keys instead, which shows only that it is consistent with itself")
	}
	if fi, err := os.Stat(path); err != nil {
		return usageError("--bundle %q: %v", path, err)
	} else if fi.IsDir() {
		return usageError("--bundle %q: is a directory, not a bundle file", path)
	}
	b, err := integrity.OpenBundle(path)
	if err != nil {
		return err
	}
	if trustBundleKeys {
		var ids []string
		for _, k := range b.Keys {
			ids = append(ids, integrity.KeyID(k))
		}
		msg := fmt.Sprintf("WARNING: --trust-bundle-keys: TRUSTING THE KEY(S) INSIDE THE BUNDLE %v. "+
			"This shows only that the bundle is consistent with itself; anyone who edits a bundle can re-sign it with a key of their own. "+
			"Give the signer's published public key with --public-key.", ids)
		if len(ids) == 0 {
			msg = "WARNING: --trust-bundle-keys, but the bundle carries no key: no checkpoint can be trusted. Give the signer's published public key with --public-key."
		}
		fmt.Fprintln(c.stderr, msg)
		if !asJSON {
			fmt.Fprintln(c.stdout, msg)
		}
		o.PublicKeys = b.Keys
	}
	rep, err := b.Verify(ctx, o)
	if err != nil {
		return err
	}
	if !asJSON {
		mode := "whole chains, verified as the store is"
		if !b.Header.WholeChains {
			mode = "selected events, each with an inclusion proof"
		}
		fmt.Fprintf(c.stdout, "bundle %s: created %s, %s\n", path, b.Header.Created, mode)
		if n := b.Uncovered(); n > 0 {
			fmt.Fprintf(c.stdout, "the export left out %d selected events that no checkpoint covered yet (its own count, not signed)\n", n)
		}
	}
	return printReport(c.stdout, rep, asJSON)
}
