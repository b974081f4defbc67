package integrity_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/activitylog/activitylog/integrity"
)

// trail is the smallest Source: one chain in memory.
type trail struct {
	info    integrity.ChainInfo
	entries []integrity.Entry
	cps     []integrity.Checkpoint
}

func (t *trail) Chains(context.Context) ([]integrity.ChainInfo, error) {
	return []integrity.ChainInfo{t.info}, nil
}

func (t *trail) Entries(_ context.Context, _ string, fn func(integrity.Entry) error) error {
	for _, e := range t.entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (t *trail) Checkpoints(context.Context, string) ([]integrity.Checkpoint, error) {
	return t.cps, nil
}

func (t *trail) Unsealed(context.Context, func(integrity.Entry) error) error { return nil }

// A writer seals each event's canonical bytes and checkpoints its
// batch; the verifier, given the public key, recomputes it all.
func Example() {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	c, _ := integrity.NewChainer(&integrity.Options{
		Chain:      "0190a6e0-5c1a-7b3e-9f00-0000000000c1",
		SigningKey: priv,
	})
	t := &trail{info: c.Info()}
	for _, canon := range []string{
		`{"action":"login","kind":"auth","severity":"info","time":"2026-11-24T10:00:00.000000000Z","v":1}`,
		`{"action":"logout","kind":"auth","severity":"info","time":"2026-11-24T10:05:00.000000000Z","v":1}`,
	} {
		seal := c.Next([]byte(canon))
		t.entries = append(t.entries, integrity.Entry{Seal: &seal, Canonical: []byte(canon)})
		fmt.Println(seal.Seq, seal.Hash)
	}
	cp, _ := c.Checkpoint(time.Date(2026, 11, 24, 10, 5, 0, 500_000_000, time.UTC))
	t.cps = append(t.cps, cp)
	fmt.Println("checkpoint", cp.FromSeq, cp.ToSeq, cp.TreeRoot)

	v := integrity.NewVerifier(t, &integrity.VerifierOptions{
		PublicKeys: []ed25519.PublicKey{priv.Public().(ed25519.PublicKey)},
	})
	rep, _ := v.Verify(context.Background())
	fmt.Println("ok:", rep.OK(), rep.Verified, "of", rep.Total)

	t.entries[0].Canonical = bytes.Replace(t.entries[0].Canonical, []byte("login"), []byte("LOGIN"), 1)
	rep, _ = v.Verify(context.Background())
	fmt.Println("ok:", rep.OK(), rep.Findings[0].Reason, rep.Findings[0].Seq)
	// Output:
	// 1 b24c3e68522d3bb642bbc53ff874a732ba8cb12e535ef485faf1476f5a6e64c9
	// 2 32dcd83cf76bd7b25c87f5a0849286a9ef38deb3b783fd42901b5207aaae9dc8
	// checkpoint 1 2 8a45cf81a2461b7393f2fa2f2ecb7c79e1d76a2c84dd568f4218d87fed558f62
	// ok: true 2 of 2
	// ok: false modified 1
}
