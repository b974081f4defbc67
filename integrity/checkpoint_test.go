package integrity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
)

// goldenKey is a fixed key, so that the golden signature is fixed too
// (Ed25519 signatures are deterministic).
var goldenKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

func goldenCheckpoint(t testing.TB) Checkpoint {
	cp := Checkpoint{
		Version:   1,
		Chain:     "0190a6e0-5c1a-7b3e-9f00-0000000000c1",
		FromSeq:   101,
		ToSeq:     200,
		RangeRoot: hx("8a45cf81a2461b7393f2fa2f2ecb7c79e1d76a2c84dd568f4218d87fed558f62"),
		TreeRoot:  hx("5c804048fd510620e3a7f28943893d5324157f348ab1eaedd30d250711ed71e8"),
		Prev:      hx("b24c3e68522d3bb642bbc53ff874a732ba8cb12e535ef485faf1476f5a6e64c9"),
		Time:      time.Date(2026, 11, 24, 10, 0, 0, 5000, time.FixedZone("CET", 3600)),
	}
	if err := cp.Sign(goldenKey); err != nil {
		t.Fatal(err)
	}
	return cp
}

const goldenBody = `activitylog/checkpoint/v1
chain 0190a6e0-5c1a-7b3e-9f00-0000000000c1
from 101
to 200
range 8a45cf81a2461b7393f2fa2f2ecb7c79e1d76a2c84dd568f4218d87fed558f62
tree 5c804048fd510620e3a7f28943893d5324157f348ab1eaedd30d250711ed71e8
prev b24c3e68522d3bb642bbc53ff874a732ba8cb12e535ef485faf1476f5a6e64c9
time 2026-11-24T09:00:00.000005000Z
key 
`

func TestCheckpointBody(t *testing.T) {
	cp := goldenCheckpoint(t)
	want := strings.Replace(goldenBody, "key \n", "key "+KeyID(goldenKey.Public().(ed25519.PublicKey))+"\n", 1)
	if got := string(cp.Body()); got != want {
		t.Errorf("body:\n%s\nwant:\n%s", got, want)
	}
	if err := cp.Verify(goldenKey.Public().(ed25519.PublicKey)); err != nil {
		t.Error(err)
	}
	p, err := ParseCheckpoint(cp.Body())
	if err != nil {
		t.Fatal(err)
	}
	p.Signature = cp.Signature
	if err := p.Verify(goldenKey.Public().(ed25519.PublicKey)); err != nil || !p.Time.Equal(cp.Time) {
		t.Errorf("parsed body: %v, time %v", err, p.Time)
	}
}

// What the checkpoint says an auditor can check with openssl alone:
// the signature over the body, with the public key file.
func TestCheckpointWithOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	cp := goldenCheckpoint(t)
	pub, _ := MarshalPublicKey(goldenKey.Public().(ed25519.PublicKey))
	os.WriteFile(filepath.Join(dir, "pub.pem"), pub, 0o644)
	os.WriteFile(filepath.Join(dir, "body"), cp.Body(), 0o644)
	os.WriteFile(filepath.Join(dir, "sig"), cp.Signature, 0o644)
	out, err := exec.Command("openssl", "pkeyutl", "-verify", "-pubin", "-inkey", filepath.Join(dir, "pub.pem"), "-rawin",
		"-in", filepath.Join(dir, "body"), "-sigfile", filepath.Join(dir, "sig")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Signature Verified Successfully") {
		t.Errorf("openssl: %v\n%s", err, out)
	}
}

func TestParseCheckpointRefuses(t *testing.T) {
	g := goldenCheckpoint(t)
	good := string(g.Body())
	cases := map[string]string{
		"empty":         "",
		"no newline":    strings.TrimSuffix(good, "\n"),
		"crlf":          strings.ReplaceAll(good, "\n", "\r\n"),
		"extra line":    good + "x y\n",
		"blank line":    good + "\n",
		"leading zero":  strings.Replace(good, "from 101", "from 0101", 1),
		"plus sign":     strings.Replace(good, "from 101", "from +101", 1),
		"upper hex":     strings.Replace(good, "range 8a45", "range 8A45", 1),
		"short time":    strings.Replace(good, ".000005000Z", ".000005Z", 1),
		"offset time":   strings.Replace(good, "09:00:00.000005000Z", "10:00:00.000005000+01:00", 1),
		"two spaces":    strings.Replace(good, "to 200", "to  200", 1),
		"order":         strings.Replace(strings.Replace(good, "from 101\n", "", 1), "to 200\n", "to 200\nfrom 101\n", 1),
		"from > to":     strings.Replace(good, "from 101", "from 201", 1),
		"from 0":        strings.Replace(good, "from 101", "from 0", 1),
		"bad chain":     strings.Replace(good, "chain 0190", "chain a b", 1),
		"version":       strings.Replace(good, "/v1", "/v2", 1),
		"short key":     strings.Replace(good, "\nkey ", "\nkey 0", 1),
		"hour 24":       strings.Replace(good, "T09:", "T24:", 1),
		"overflow":      strings.Replace(good, "to 200", "to 18446744073709551616", 1),
		"trailing junk": strings.Replace(good, "to 200", "to 200 ", 1),
	}
	for name, body := range cases {
		if _, err := ParseCheckpoint([]byte(body)); !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("%s: ParseCheckpoint = %v, want ErrInvalid", name, err)
		}
	}
}

func TestCheckpointVerifyRefuses(t *testing.T) {
	pub := goldenKey.Public().(ed25519.PublicKey)
	cp := goldenCheckpoint(t)
	if err := cp.Verify(otherPub); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify with another key = %v", err)
	}
	for name, edit := range map[string]func(*Checkpoint){
		"field":     func(cp *Checkpoint) { cp.FromSeq++ },
		"time":      func(cp *Checkpoint) { cp.Time = cp.Time.Add(time.Nanosecond) },
		"signature": func(cp *Checkpoint) { cp.Signature = slices.Clone(cp.Signature); cp.Signature[0] ^= 1 },
		"short sig": func(cp *Checkpoint) { cp.Signature = cp.Signature[:10] },
		"key id":    func(cp *Checkpoint) { cp.KeyID = KeyID(otherPub) },
	} {
		c := goldenCheckpoint(t)
		edit(&c)
		if err := c.Verify(pub); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: Verify = %v, want ErrBadSignature", name, err)
		}
	}
	c := goldenCheckpoint(t)
	c.Version = 2
	if err := c.Verify(pub); !errors.Is(err, activitylog.ErrInvalid) {
		t.Errorf("version 2: Verify = %v, want ErrInvalid", err)
	}
}

func TestCheckpointJSON(t *testing.T) {
	cp := goldenCheckpoint(t)
	b, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"chain":"0190a6e0-5c1a-7b3e-9f00-0000000000c1","from_seq":101,"to_seq":200,` +
		`"range_root":"8a45cf81a2461b7393f2fa2f2ecb7c79e1d76a2c84dd568f4218d87fed558f62",` +
		`"tree_root":"5c804048fd510620e3a7f28943893d5324157f348ab1eaedd30d250711ed71e8",` +
		`"prev":"b24c3e68522d3bb642bbc53ff874a732ba8cb12e535ef485faf1476f5a6e64c9",` +
		`"time":"2026-11-24T09:00:00.000005000Z","key_id":"` + cp.KeyID + `","signature":"`
	if !strings.HasPrefix(string(b), want) {
		t.Errorf("JSON:\n%s\nwant prefix\n%s", b, want)
	}
	var back Checkpoint
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Body(), cp.Body()) || !bytes.Equal(back.Signature, cp.Signature) {
		t.Errorf("round trip changed the checkpoint")
	}
	for name, s := range map[string]string{
		"unknown member": strings.Replace(string(b), `"version":1,`, `"version":1,"x":1,`, 1),
		"short sig":      strings.Replace(string(b), `"signature":"`, `"signature":"00`, 1),
		"time form":      strings.Replace(string(b), "09:00:00.000005000Z", "09:00:00.000005Z", 1),
		"upper hex":      strings.Replace(string(b), `"prev":"b24c`, `"prev":"B24C`, 1),
		"to_seq 0":       strings.Replace(string(b), `"to_seq":200`, `"to_seq":0`, 1),
		"trailing":       string(b) + "{}",
	} {
		var c Checkpoint
		if err := c.UnmarshalJSON([]byte(s)); !errors.Is(err, activitylog.ErrInvalid) {
			t.Errorf("%s: UnmarshalJSON = %v, want ErrInvalid", name, err)
		}
	}
}

// FuzzParseCheckpoint: the parser never panics, and whatever it accepts
// is canonical: written back, it is the same bytes.
func FuzzParseCheckpoint(f *testing.F) {
	g := goldenCheckpoint(f)
	good := g.Body()
	f.Add(good)
	f.Add([]byte(goldenBody))
	f.Add(bytes.Replace(good, []byte("from 101"), []byte("from 1"), 1))
	f.Add(bytes.Replace(good, []byte(".000005000Z"), []byte(".999999999Z"), 1))
	f.Add([]byte("activitylog/checkpoint/v1\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		cp, err := ParseCheckpoint(body)
		if err != nil {
			if !errors.Is(err, activitylog.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if !bytes.Equal(cp.Body(), body) {
			t.Fatalf("accepted %q, which writes back as %q", body, cp.Body())
		}
		if err := cp.Validate(); err != nil {
			t.Fatalf("accepted an invalid checkpoint: %v", err)
		}
	})
}

// FuzzCheckpointJSON: the JSON decoder, which reads witness files and
// bundles, never panics; what it accepts is valid, survives a round
// trip and has a body that parses back to it.
func FuzzCheckpointJSON(f *testing.F) {
	b, _ := json.Marshal(goldenCheckpoint(f))
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"chain":"c","from_seq":1,"to_seq":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var cp Checkpoint
		if err := json.Unmarshal(data, &cp); err != nil {
			return
		}
		if err := cp.Validate(); err != nil {
			t.Fatalf("accepted an invalid checkpoint: %v", err)
		}
		out, err := json.Marshal(cp)
		if err != nil {
			t.Fatal(err)
		}
		var back Checkpoint
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if !bytes.Equal(back.Body(), cp.Body()) || !bytes.Equal(back.Signature, cp.Signature) {
			t.Fatal("round trip changed the checkpoint")
		}
		p, err := ParseCheckpoint(cp.Body())
		if err != nil {
			t.Fatalf("body of an accepted checkpoint does not parse: %v", err)
		}
		if !bytes.Equal(p.Body(), cp.Body()) {
			t.Fatal("body does not parse back to itself")
		}
	})
}
