package mysql_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/mysql"
)

func writePkt(c net.Conn, seq byte, p []byte) error {
	h := []byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), seq}
	_, err := c.Write(append(h, p...))
	return err
}

func readPkt(c net.Conn) ([]byte, byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c, h[:]); err != nil {
		return nil, 0, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	p := make([]byte, n)
	_, err := io.ReadFull(c, p)
	return p, h[3], err
}

// rogueServer is a "database server" chosen by whoever may write a
// database config: it signs anyone in and answers every query by asking
// the client for the local file path (LOAD DATA LOCAL INFILE). It
// returns its port, and a channel of what clients sent back.
func rogueServer(t *testing.T, path string) (int, chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []byte, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveRogue(c, path, got)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, got
}

func serveRogue(c net.Conn, path string, got chan<- []byte) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	caps := uint32(0x1 | 0x8 | 0x80 | 0x200 | 0x2000 | 0x8000 | 0x80000)
	var g bytes.Buffer
	g.WriteByte(10)
	g.WriteString("5.7.0\x00")
	g.Write([]byte{1, 0, 0, 0})
	g.WriteString("abcdefgh")
	g.WriteByte(0)
	binary.Write(&g, binary.LittleEndian, uint16(caps))
	g.WriteByte(0x21)
	g.Write([]byte{2, 0})
	binary.Write(&g, binary.LittleEndian, uint16(caps>>16))
	g.WriteByte(21)
	g.Write(make([]byte, 10))
	g.WriteString("ijklmnopqrst\x00")
	g.WriteString("mysql_native_password\x00")
	writePkt(c, 0, g.Bytes())
	if _, _, err := readPkt(c); err != nil { // handshake response
		return
	}
	writePkt(c, 2, []byte{0, 0, 0, 2, 0, 0, 0}) // OK: signed in
	for {
		q, _, err := readPkt(c)
		if err != nil {
			return
		}
		if q[0] != 3 { // not COM_QUERY: answer OK
			writePkt(c, 1, []byte{0, 0, 0, 2, 0, 0, 0})
			continue
		}
		writePkt(c, 1, append([]byte{0xfb}, path...))
		var file []byte
		for {
			p, _, err := readPkt(c)
			if err != nil || len(p) == 0 {
				break
			}
			file = append(file, p...)
		}
		got <- file
		return
	}
}

// A DSN that lets the server read local files, or have the password in
// the clear, is refused by Open with an error naming the parameter,
// before anything is sent to the server: a rogue server gets no file.
func TestOpenRefusesUnsafeParameters(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(secret, []byte("TOPSECRET-KEYRING"), 0o600); err != nil {
		t.Fatal(err)
	}
	port, got := rogueServer(t, secret)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for _, param := range []string{"allowAllFiles", "allowCleartextPasswords", "allowOldPasswords"} {
		for _, dsn := range []string{
			"mysql://u:pw@" + addr + "/audit?" + param + "=true",
			"u:pw@tcp(" + addr + ")/audit?" + param + "=1",
		} {
			t.Run(param+" "+dsn[:5], func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				s, err := mysql.Open(ctx, dsn, nil)
				if err == nil {
					s.Close()
					t.Fatalf("Open(%s) = nil error", dsn)
				}
				var fe *activitylog.FieldError
				if !errors.As(err, &fe) || fe.Field != param || !errors.Is(err, activitylog.ErrInvalid) {
					t.Fatalf("Open(%s) = %v, want a *FieldError naming %s", dsn, err, param)
				}
				if bytes.Contains([]byte(err.Error()), []byte(":pw@")) {
					t.Fatalf("the error shows the password: %v", err)
				}
			})
		}
	}
	select {
	case f := <-got:
		t.Fatalf("the server was sent a file: %q", f)
	default:
	}
}

// Without the parameter, the rogue server's request for a file is
// refused by the driver, and Open fails.
func TestRogueServerGetsNoFile(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(secret, []byte("TOPSECRET-KEYRING"), 0o600); err != nil {
		t.Fatal(err)
	}
	port, got := rogueServer(t, secret)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s, err := mysql.Open(ctx, "mysql://u:pw@127.0.0.1:"+strconv.Itoa(port)+"/audit", nil); err == nil {
		s.Close()
		t.Fatal("Open against the rogue server succeeded")
	}
	select {
	case f := <-got:
		if bytes.Contains(f, []byte("TOPSECRET")) {
			t.Fatalf("the server read %s: %q", secret, f)
		}
	default:
	}
}
