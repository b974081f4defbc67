package sftpaudit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/activitylog/activitylog"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ErrHostKey is wrapped by the error Dial returns when the
// HostKeyCallback rejected the server's key, whichever callback it is:
// the key is not the pinned one, the host is not in known_hosts, or its
// key there differs.
var ErrHostKey = errors.New("host key rejected")

// HostKey returns a HostKeyCallback that accepts the given keys only: a
// server that presents any other key, a certificate included, is
// refused with an error that wraps ErrHostKey and names the key's
// SHA256 fingerprint. Pass more than one key while a server's key is
// being rotated. When the server has keys of several types, set
// ssh.ClientConfig.HostKeyAlgorithms to the pinned key's type
// (pub.Type()), so that the server presents that one.
//
// Take the key from a trusted place: the server's
// /etc/ssh/ssh_host_ed25519_key.pub, or ssh.ParseAuthorizedKey of a
// line in configuration.
func HostKey(keys ...ssh.PublicKey) ssh.HostKeyCallback {
	pinned := make([][]byte, 0, len(keys))
	for _, k := range keys {
		if k != nil {
			pinned = append(pinned, k.Marshal())
		}
	}
	return func(hostname string, _ net.Addr, key ssh.PublicKey) error {
		b := key.Marshal()
		for _, p := range pinned {
			if bytes.Equal(p, b) {
				return nil
			}
		}
		return fmt.Errorf("%w: %s key %s of %s is not pinned", ErrHostKey, key.Type(), ssh.FingerprintSHA256(key), hostname)
	}
}

// KnownHosts returns a HostKeyCallback that accepts the keys that the
// given OpenSSH known_hosts files list for the host, and nothing else:
// an unknown host is refused, as is a known host with another key (the
// error is then a *knownhosts.KeyError). It reads the files once, now.
// At least one file is required.
func KnownHosts(files ...string) (ssh.HostKeyCallback, error) {
	if len(files) == 0 {
		return nil, activitylog.Invalid("files", "", "must name at least one known_hosts file")
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("read known hosts: %w", err)
	}
	return cb, nil
}

// checkConfig refuses a configuration that would not verify the
// server's host key: no config, no HostKeyCallback, or one that accepts
// a key it cannot know. See Dial.
func checkConfig(cfg *ssh.ClientConfig) error {
	if cfg == nil {
		return activitylog.Invalid("cfg", "nil", "is required")
	}
	if cfg.HostKeyCallback == nil {
		return activitylog.Invalid("cfg.HostKeyCallback", "nil",
			"is required: pin the server's key with sftpaudit.HostKey or read known_hosts with sftpaudit.KnownHosts")
	}
	key, err := probeKey()
	if err != nil {
		return fmt.Errorf("make probe key: %w", err)
	}
	if cfg.HostKeyCallback(probeHost, probeAddr, key) == nil {
		return activitylog.Invalid("cfg.HostKeyCallback", "accepts any key",
			"must verify the host key (ssh.InsecureIgnoreHostKey and the like are refused): use sftpaudit.HostKey or sftpaudit.KnownHosts")
	}
	return nil
}

// The probe: a host that cannot exist (RFC 6761 reserves .invalid, RFC
// 5737 192.0.2.0/24) presenting a key made at random in this process.
var (
	probeHost = "sftpaudit-probe.invalid:22"
	probeAddr = &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 22}
	probeKey  = sync.OnceValues(func() (ssh.PublicKey, error) {
		pub, _, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		return ssh.NewPublicKey(pub)
	})
)

// watchedKey wraps a HostKeyCallback to learn what it saw: the
// fingerprint of the key the server presented, and whether the callback
// rejected it. The handshake calls it from its own goroutine, and again
// at every key exchange.
type watchedKey struct {
	cb ssh.HostKeyCallback

	mu          sync.Mutex
	fingerprint string
	rejected    bool
}

func (w *watchedKey) check(hostname string, remote net.Addr, key ssh.PublicKey) error {
	err := w.cb(hostname, remote, key)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.fingerprint = ssh.FingerprintSHA256(key)
	w.rejected = err != nil
	if err != nil && !errors.Is(err, ErrHostKey) {
		err = fmt.Errorf("%w: %w", ErrHostKey, err)
	}
	return err
}

func (w *watchedKey) result() (fingerprint string, rejected bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fingerprint, w.rejected
}
