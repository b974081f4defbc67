package integrity

import (
	"crypto/ed25519"
	"encoding/hex"
	"testing"
	"time"
)

// The worked example of docs/integrity.md, end to end: two events,
// their checkpoint signed by the test key made from the seed of 32
// bytes 0x07. A change here is a change of the format, and of the doc.
func TestDocExample(t *testing.T) {
	c, err := NewChainer(&Options{Chain: "0190a6e0-5c1a-7b3e-9f00-0000000000c1", SigningKey: goldenKey})
	if err != nil {
		t.Fatal(err)
	}
	c.Next([]byte(`{"action":"login","kind":"auth","severity":"info","time":"2026-11-24T10:00:00.000000000Z","v":1}`))
	c.Next([]byte(`{"action":"logout","kind":"auth","severity":"info","time":"2026-11-24T10:05:00.000000000Z","v":1}`))
	cp, err := c.Checkpoint(time.Date(2026, 11, 24, 10, 5, 0, 500_000_000, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := MarshalPublicKey(goldenKey.Public().(ed25519.PublicKey))
	for _, g := range []struct{ name, got, want string }{
		{"body", string(cp.Body()), docBody},
		{"hash", cp.Hash().String(), docHash},
		{"signature", hex.EncodeToString(cp.Signature), docSig},
		{"public key", string(pub), docPub},
	} {
		if g.got != g.want {
			t.Errorf("%s:\n%s\nwant\n%s", g.name, g.got, g.want)
		}
	}
}

const docBody = `activitylog/checkpoint/v1
chain 0190a6e0-5c1a-7b3e-9f00-0000000000c1
from 1
to 2
range 8a45cf81a2461b7393f2fa2f2ecb7c79e1d76a2c84dd568f4218d87fed558f62
tree 8a45cf81a2461b7393f2fa2f2ecb7c79e1d76a2c84dd568f4218d87fed558f62
prev 0000000000000000000000000000000000000000000000000000000000000000
time 2026-11-24T10:05:00.500000000Z
key fe812c12f3ab4ce6
`

const (
	docHash = "28f12ba031a6284db464a58c834223f935322726105de363d49adaebf442e6a7"
	docSig  = "a13effbf99f96fe7f7599aa305ffe6040eea697b34c3e2ec7b630eff100d618de87a9882a31a631c1e5a3d7acb1f3c9c5c2bada8b1991a548521a0903a5f1402"
	docPub  = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=
-----END PUBLIC KEY-----
`
)
