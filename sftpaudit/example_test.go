package sftpaudit_test

import (
	"bytes"
	"context"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/sftpaudit"
	"golang.org/x/crypto/ssh"
)

// discardWriter stands in for a store.
type discardWriter struct{}

func (discardWriter) Write(context.Context, []activitylog.Event) error { return nil }

// The example needs an SFTP server, so it is compiled but not run.
func ExampleDial() {
	rec := activitylog.NewRecorder(discardWriter{}, &activitylog.Options{Service: "billing"})
	defer rec.Shutdown(context.Background())

	// The server's host key, from a trusted place: its
	// /etc/ssh/ssh_host_ed25519_key.pub, copied into configuration.
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBNCcefbfj3uwt3xX1NIV+KcWzI4JPqdmUTi22Bhl4hR files.example.com"))
	if err != nil {
		log.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey([]byte(os.Getenv("SFTP_KEY")))
	if err != nil {
		log.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctx = activitylog.WithActor(ctx, activitylog.Actor{ID: "invoice-job", Type: activitylog.ActorService})

	client, err := sftpaudit.Dial(ctx, rec, "files.example.com:22", &ssh.ClientConfig{
		User:              "billing",
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   sftpaudit.HostKey(hostKey),
		HostKeyAlgorithms: []string{hostKey.Type()},
		Timeout:           10 * time.Second,
	}, nil)
	if err != nil {
		log.Fatal(err) // recorded too, as a failed connect
	}
	defer client.Close()

	if err := client.MkdirAll(ctx, "outbox/2025-06"); err != nil {
		log.Fatal(err)
	}
	if _, err := client.Upload(ctx, "outbox/2025-06/invoices.csv", strings.NewReader("id,total\n7,12.50\n")); err != nil {
		log.Fatal(err)
	}
	var receipt bytes.Buffer
	if _, err := client.Download(ctx, "inbox/receipt.txt", &receipt); err != nil {
		log.Fatal(err)
	}
	if err := client.Rename(ctx, "inbox/receipt.txt", "inbox/done/receipt.txt"); err != nil {
		log.Fatal(err)
	}

	// What the package does not wrap goes through Raw, unrecorded.
	if _, err := client.Raw().ReadDir("outbox"); err != nil {
		log.Fatal(err)
	}
}

func ExampleKnownHosts() {
	home, _ := os.UserHomeDir()
	cb, err := sftpaudit.KnownHosts(filepath.Join(home, ".ssh", "known_hosts"))
	if err != nil {
		log.Fatal(err)
	}
	_ = &ssh.ClientConfig{User: "billing", HostKeyCallback: cb}
}
