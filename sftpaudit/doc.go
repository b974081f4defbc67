// Package sftpaudit is an SFTP client whose connections and file
// operations are recorded as activitylog events: which file went to or
// came from which server, how many bytes, how long it took, and whether
// it failed.
//
//	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(cfg.SFTPHostKey)) // "ssh-ed25519 AAAA…"
//	if err != nil { … }
//	client, err := sftpaudit.Dial(ctx, rec, "files.example.com:22", &ssh.ClientConfig{
//		User:            "reports",
//		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
//		HostKeyCallback: sftpaudit.HostKey(hostKey),
//		Timeout:         10 * time.Second,
//	}, nil)
//	if err != nil { … }
//	defer client.Close()
//
//	n, err := client.Upload(ctx, "outbox/invoices-2025-06.csv", file)
//
// # Host keys
//
// The server's host key is always verified. [Dial] refuses a
// configuration whose HostKeyCallback is nil, or accepts any key
// (ssh.InsecureIgnoreHostKey, or a hand-written callback that returns
// nil: Dial offers it a random key first, and refuses it if it accepts).
// [HostKey] pins one or more keys; [KnownHosts] reads OpenSSH
// known_hosts files. When the server presents a key that the callback
// rejects, Dial fails with an error that wraps [ErrHostKey], and records
// the failed connect with severity error and category "security".
//
// # The events
//
// Every call of Dial, Upload, Download, Remove, Rename, Mkdir and
// MkdirAll records one activitylog.Event when it ends, and returns its
// error, if any, to the caller unchanged by the recording:
//
//   - Kind "external", Tool "sftp", Action "connect", "upload",
//     "download", "remove", "rename" or "mkdir" (MkdirAll too, with
//     Extra["parents"] true).
//   - Object: Type "file" (upload, download, remove, rename) or
//     "directory" (mkdir), ID the remote path; for connect, Type "host"
//     and ID the address dialled. Rename's object is the old path.
//   - Extra: "host", the address dialled; "user", the SSH user; "path"
//     and, for rename, "new_path"; "bytes" for transfers; "error", the
//     error text, for failures; for connect, "host_key", the SHA256
//     fingerprint of the key the server presented.
//   - Response: the duration; for an upload, RequestBytes, the bytes
//     sent; for a download, ResponseBytes, the bytes received.
//   - Severity: info, or error when the operation failed.
//   - Message: "upload outbox/a.csv (1024 bytes)", "remove a.txt
//     failed: remove a.txt: file does not exist".
//
// Paths are clipped to the limits [activitylog.Event.Validate] sets
// (the object id to 1 KiB, Extra's paths to 64 KiB), and error texts to
// 1 KiB, so that no path can make its own record invalid. The actor,
// tenant and request come from the context, as the Recorder fills them
// in.
//
// Each event is recorded with [context.WithoutCancel] of the call's
// context: a cancelled call still leaves its record. An error from
// Record goes to [Options].OnError.
//
// # Contexts
//
// The sftp package takes no contexts. Dial honours ctx throughout the
// connection, the handshake and the start of the session. Upload and
// Download check ctx between reads and writes, so cancelling it stops a
// transfer. Remove, Rename and Mkdir check it before they start, and a
// request once sent is waited for.
//
// # Everything else
//
// [Client.Raw] returns the *sftp.Client underneath for what this
// package does not wrap (Stat, ReadDir, Chmod, random access). What is
// done through it is not recorded.
package sftpaudit
