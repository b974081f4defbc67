package config

import (
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/activitylog/activitylog/internal/urlsecret"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// Bounds of integrity_checkpoint_interval, apart from 0.
const (
	MinCheckpointInterval = 100 * time.Millisecond
	MaxCheckpointInterval = 24 * time.Hour
)

// Sealing reports whether serve (or, with nats_url, each worker) seals
// what it stores: integrity is true, or a signing key is set.
func (c *Config) Sealing() bool { return c.Integrity || c.IntegritySigningKey != "" }

// WitnessIsURL reports whether integrity_witness is an http(s) URL
// rather than a file path.
func (c *Config) WitnessIsURL() bool { return isURL(c.IntegrityWitness) }

func isURL(s string) bool { return strings.Contains(s, "://") }

// integritySettings are the integrity_ settings, at the end of Settings.
var integritySettings = []*Setting{
	{
		Key: "integrity", Commands: []string{serve, worker, cleanup, purge},
		Usage: "Seal every event serve stores (with nats_url: every event each worker stores) into a hash chain (docs/integrity.md), without signed checkpoints unless integrity_signing_key is set. " +
			"Setting integrity_signing_key turns sealing on by itself; this switch is for chains without checkpoints, " +
			"which show an edit but not the deletion of the newest events.",
		field: func(c *Config) any { return &c.Integrity },
	},
	{
		Key: "integrity_signing_key", Arg: "PATH", Commands: []string{serve, worker, cleanup, purge},
		Usage: "Ed25519 private key (PKCS #8 PEM, the NAME.key that activitylog keys generate writes) that signs checkpoints. " +
			"Setting it turns sealing on, with a signed checkpoint at least every integrity_checkpoint_interval.",
		field: func(c *Config) any { return &c.IntegritySigningKey },
		check: func(c *Config) string { return checkSigningKey(c.IntegritySigningKey) },
	},
	{
		Key: "integrity_hmac_key", Arg: "PATH", Commands: []string{serve, worker, cleanup, purge},
		Usage: "HMAC key file (PEM block ACTIVITYLOG HMAC KEY, at least 32 bytes) that keys the chain's hashes, " +
			"so that someone who can write to the database but lacks the key cannot forge them. A chain keeps the key it began with.",
		field: func(c *Config) any { return &c.IntegrityHMACKey },
		check: func(c *Config) string {
			if c.IntegrityHMACKey == "" {
				return ""
			}
			if r := needsSealing(c); r != "" {
				return r
			}
			return checkHMACKey(c.IntegrityHMACKey)
		},
	},
	{
		Key: "integrity_witness", Arg: "PATH|URL", Commands: []string{serve, worker},
		Usage: "Where a copy of every checkpoint goes, outside the database: a file (appended to, one line per checkpoint) " +
			"or an http:// or https:// URL (each checkpoint POSTed as that line). Needs integrity_signing_key.",
		field:  func(c *Config) any { return &c.IntegrityWitness },
		check:  func(c *Config) string { return checkWitness(c) },
		redact: redactURL,
	},
	{
		Key: "integrity_witness_token", Arg: "TOKEN", Commands: []string{serve, worker}, Secret: true,
		Usage: "Bearer token sent to a URL witness (Authorization: Bearer TOKEN); https only, or http on loopback. " +
			"A secret: it is never printed or logged.",
		field: func(c *Config) any { return &c.IntegrityWitnessToken },
		check: func(c *Config) string {
			if c.IntegrityWitnessToken == "" {
				return ""
			}
			if !c.WitnessIsURL() {
				return "needs integrity_witness to be an http:// or https:// URL"
			}
			if _, err := integrity.NewURLWitness(c.IntegrityWitness, &integrity.URLWitnessOptions{Token: c.IntegrityWitnessToken}); err != nil {
				return reasonOf(err)
			}
			return ""
		},
	},
	{
		Key: "integrity_witness_token_file", Arg: "PATH", Commands: []string{serve, worker},
		Usage: "File holding the URL witness's bearer token (trailing newlines are dropped), instead of integrity_witness_token, " +
			"so that the token is not on a command line (ps shows those) or in the environment.",
		field: func(c *Config) any { return &c.IntegrityWitnessTokenFile },
		check: func(c *Config) string {
			if c.IntegrityWitnessTokenFile == "" {
				return ""
			}
			if c.IntegrityWitnessToken != "" {
				return "give integrity_witness_token or integrity_witness_token_file, not both"
			}
			if !c.WitnessIsURL() {
				return "needs integrity_witness to be an http:// or https:// URL"
			}
			tok, err := readTokenFile(c.IntegrityWitnessTokenFile)
			if err != nil {
				return err.Error()
			}
			if _, err := integrity.NewURLWitness(c.IntegrityWitness, &integrity.URLWitnessOptions{Token: tok}); err != nil {
				return "its token: " + reasonOf(err)
			}
			return ""
		},
	},
	{
		Key: "integrity_checkpoint_interval", Arg: "DURATION", Commands: []string{serve, worker},
		Usage: "Most time between signed checkpoints: a batch written once the last checkpoint is this old gets one, " +
			"and serve stores one this often for events not yet covered (and once more at shutdown). 0: one with every batch.",
		field: func(c *Config) any { return &c.IntegrityCheckpointInterval },
		check: func(c *Config) string {
			d := c.IntegrityCheckpointInterval
			switch {
			case d < 0:
				return "must not be negative"
			case d == 0:
				return ""
			}
			return between(d, MinCheckpointInterval, MaxCheckpointInterval)
		},
	},
	{
		Key: "integrity_allow_unsealed", Commands: []string{serve, worker, cleanup, purge, users, apiKeys},
		Usage: "Let a command with sealing off store its events in a store that holds sealed chains. " +
			"Without it, serve, worker, cleanup, purge, users and api-keys refuse to start there: each event they stored would lack a seal, " +
			"and verify would report it as missing_hash (a deploy that lost integrity_signing_key must not go on unsealed unnoticed).",
		field: func(c *Config) any { return &c.IntegrityAllowUnsealed },
		check: func(c *Config) string {
			if c.IntegrityAllowUnsealed && c.Sealing() {
				return "has no use with sealing on (integrity or integrity_signing_key)"
			}
			return ""
		},
	},
	{
		Key: "integrity_chain", Arg: "ID", Commands: []string{serve, worker, cleanup, purge},
		Usage: "Chain serve appends to, continued across restarts from its stored tail: 1 to 128 ASCII letters, digits, '.', '_', ':' and '-'. " +
			"Empty: serve- and the host name. Give each serve writing to one database its own. " +
			"A worker claims ID.worker, ID.worker.2, … (empty: worker- and the host name, then .2, …), one chain per running worker.",
		field: func(c *Config) any { return &c.IntegrityChain },
		check: func(c *Config) string {
			if c.IntegrityChain == "" {
				return ""
			}
			if r := needsSealing(c); r != "" {
				return r
			}
			if err := integrity.ValidateChainID(c.IntegrityChain); err != nil {
				return reasonOf(err)
			}
			return ""
		},
	},
}

// WitnessToken returns the URL witness's bearer token: integrity_witness_token,
// or what integrity_witness_token_file holds (checked when the
// configuration was loaded, read again here).
func (c *Config) WitnessToken() (string, error) {
	if c.IntegrityWitnessTokenFile == "" {
		return c.IntegrityWitnessToken, nil
	}
	tok, err := readTokenFile(c.IntegrityWitnessTokenFile)
	if err != nil {
		return "", &Error{Key: "integrity_witness_token_file", Value: c.IntegrityWitnessTokenFile, Reason: err.Error()}
	}
	return tok, nil
}

// readTokenFile reads a token file: its bytes without trailing newlines,
// which must leave something.
func readTokenFile(path string) (string, error) {
	b, err := readSmallFile(path)
	if err != nil {
		return "", errors.New("cannot read: " + unwrapPathError(err))
	}
	tok := strings.TrimRight(string(b), "\r\n")
	if tok == "" {
		return "", errors.New("is empty")
	}
	return tok, nil
}

// redactURL hides the password and the query of a URL: a witness
// endpoint may carry a credential in either (?token=…), and the value
// appears in configuration errors and `config print`.
func redactURL(s string) string {
	if !isURL(s) {
		return s
	}
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return "REDACTED" // a password may be anywhere in it
		}
		return s
	}
	if urlsecret.StrayAt(u) {
		return "REDACTED"
	}
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = "REDACTED", false
	}
	if u.Fragment != "" {
		u.Fragment, u.RawFragment = "REDACTED", ""
	}
	if u.User == nil {
		return u.String()
	}
	return u.Redacted()
}

func needsSealing(c *Config) string {
	if !c.Sealing() {
		return "needs sealing on: set integrity_signing_key, or integrity to true for chains without checkpoints"
	}
	return ""
}

// reasonOf returns the reason of a *activitylog.FieldError, else the
// error's text.
func reasonOf(err error) string {
	var fe *activitylog.FieldError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return err.Error()
}

func checkSigningKey(path string) string {
	if path == "" {
		return ""
	}
	b, err := readSmallFile(path)
	if err != nil {
		return "cannot read: " + unwrapPathError(err)
	}
	blk, _ := pem.Decode(b)
	switch {
	case blk == nil:
		return "is not a PEM file: give the NAME.key file that activitylog keys generate writes"
	case blk.Type == "PUBLIC KEY":
		return "is a public key: give the private key, the NAME.key file that activitylog keys generate writes"
	case blk.Type != "PRIVATE KEY":
		return "holds a PEM block of type " + strconv.Quote(blk.Type) + ", not PRIVATE KEY"
	}
	if _, err := integrity.ParsePrivateKey(b); err != nil {
		var fe *activitylog.FieldError
		if errors.As(err, &fe) && fe.Value != "" {
			return "holds a " + fe.Value + ", not an Ed25519 private key"
		}
		return "is not a PKCS #8 Ed25519 private key: " + reasonOf(err)
	}
	return ""
}

func checkHMACKey(path string) string {
	b, err := readSmallFile(path)
	if err != nil {
		return "cannot read: " + unwrapPathError(err)
	}
	if _, err := integrity.ParseHMACKey(b); err != nil {
		var fe *activitylog.FieldError
		if errors.As(err, &fe) && fe.Value != "" {
			return "holds " + fe.Value + ": an HMAC key " + fe.Reason
		}
		return reasonOf(err)
	}
	return ""
}

func checkWitness(c *Config) string {
	w := c.IntegrityWitness
	if w == "" {
		return ""
	}
	if r := needsSealing(c); r != "" {
		return r
	}
	if c.IntegritySigningKey == "" {
		return "needs integrity_signing_key: a witness keeps signed checkpoints, and there are none without a key"
	}
	if isURL(w) {
		// The token is checked by its own setting.
		if _, err := integrity.NewURLWitness(w, nil); err != nil {
			return reasonOf(err)
		}
		return ""
	}
	if fi, err := os.Stat(w); err == nil {
		if !fi.Mode().IsRegular() {
			return "is not a regular file"
		}
		return ""
	} else if !errors.Is(err, os.ErrNotExist) {
		return "cannot use: " + unwrapPathError(err)
	}
	dir := filepath.Dir(w)
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		return "cannot be created: directory " + dir + ": " + unwrapPathError(err)
	case !fi.IsDir():
		return "cannot be created: " + dir + " is not a directory"
	}
	return ""
}

// readSmallFile reads a key or token file, refusing one larger than
// MaxFileBytes: a wrong path (/dev/zero, a database, a log) is refused
// instead of read whole into memory.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("the file is larger than %d MiB: is it the key file?", MaxFileBytes>>20)
	}
	return b, nil
}
