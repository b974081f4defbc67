package activitylog_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/activitylog/activitylog"
)

func TestExport(t *testing.T) {
	t.Parallel()
	ctx, _, sink := syncRecorder(t, nil)
	ctx = activitylog.WithActor(ctx, activitylog.Actor{ID: "42"})
	err := activitylog.Export(ctx, activitylog.ExportInfo{
		Type: "orders", Format: "csv", Records: 120, Bytes: 5300,
		Filters:     map[string]any{"status": []string{"paid"}, "api_token": "t0k"},
		Destination: "download",
	})
	if err != nil {
		t.Fatal(err)
	}
	e := sink.only(t)
	if e.Kind != activitylog.KindExport || e.Action != "export" || e.Object.Type != "orders" || e.Actor.ID != "42" {
		t.Errorf("event = %+v", e)
	}
	if e.Extra["records"] != float64(120) || e.Extra["bytes"] != float64(5300) || e.Extra["format"] != "csv" || e.Extra["destination"] != "download" {
		t.Errorf("extra = %v", e.Extra)
	}
	filters, _ := e.Extra["filters"].(map[string]any)
	if filters["api_token"] != activitylog.DefaultMask {
		t.Errorf("filters = %v, want the token masked", filters)
	}
	if want := "exported 120 orders as csv (5300 bytes) to download"; e.Message != want {
		t.Errorf("message = %q, want %q", e.Message, want)
	}
}

// closeBuffer is a writer that counts its Close calls and can fail.
type closeBuffer struct {
	bytes.Buffer
	closes   int
	writeErr error
	closeErr error
}

func (b *closeBuffer) Write(p []byte) (int, error) {
	if b.writeErr != nil {
		return 0, b.writeErr
	}
	return b.Buffer.Write(p)
}

func (b *closeBuffer) Close() error { b.closes++; return b.closeErr }

func TestExportWriterCountsAndRecordsOnce(t *testing.T) {
	t.Parallel()
	ctx, _, sink := syncRecorder(t, nil)
	ctx, cancel := context.WithCancel(ctx)
	dst := &closeBuffer{}
	w := activitylog.NewExportWriter(ctx, dst, activitylog.ExportInfo{Type: "users", Format: "csv"})
	io.WriteString(w, "id,name\n")
	for _, row := range []string{"1,ann\n", "2,bob\n"} {
		io.WriteString(w, row)
		w.CountRecord()
	}
	if len(sink.all()) != 0 {
		t.Fatal("recorded before Close")
	}
	cancel() // the client went away; the export still happened
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
	if dst.closes != 1 {
		t.Errorf("underlying Close called %d times, want 1", dst.closes)
	}
	e := sink.only(t)
	if e.Action != "export" || e.Extra["bytes"] != float64(20) || e.Extra["records"] != float64(2) {
		t.Errorf("event = %s %v, want export of 20 bytes and 2 records", e.Action, e.Extra)
	}
}

func TestExportWriterRecordsWriteError(t *testing.T) {
	t.Parallel()
	ctx, _, sink := syncRecorder(t, nil)
	dst := &closeBuffer{}
	w := activitylog.NewExportWriter(ctx, dst, activitylog.ExportInfo{Type: "users"})
	io.WriteString(w, "abc")
	dst.writeErr = errors.New("disk full")
	if _, err := io.WriteString(w, "def"); err == nil {
		t.Fatal("write error not returned")
	}
	io.WriteString(w, "ghi") // fails again; not recorded again
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	e := sink.only(t)
	if e.Action != "export_failed" || e.Severity != activitylog.SeverityError || e.Extra["error"] != "disk full" || e.Extra["bytes"] != float64(3) {
		t.Errorf("event = %s %s %v", e.Action, e.Severity, e.Extra)
	}
}

func TestExportWriterCloseError(t *testing.T) {
	t.Parallel()
	ctx, _, sink := syncRecorder(t, nil)
	dst := &closeBuffer{closeErr: errors.New("upload failed")}
	w := activitylog.NewExportWriter(ctx, dst, activitylog.ExportInfo{Type: "users"})
	w.AddRecords(10)
	if err := w.Close(); err == nil {
		t.Fatal("close error not returned")
	}
	if e := sink.only(t); e.Action != "export_failed" || e.Extra["records"] != float64(10) {
		t.Errorf("event = %s %v", e.Action, e.Extra)
	}
}

func TestExportWriterWithoutRecorder(t *testing.T) {
	t.Parallel()
	// A context whose recorder has been shut down: Close reports it.
	ctx, r, _ := syncRecorder(t, nil)
	r.Shutdown(context.Background())
	var buf bytes.Buffer // not a Closer
	w := activitylog.NewExportWriter(ctx, &buf, activitylog.ExportInfo{})
	io.WriteString(w, "x")
	if err := w.Close(); !errors.Is(err, activitylog.ErrClosed) {
		t.Errorf("Close = %v, want ErrClosed from recording", err)
	}
	if buf.String() != "x" {
		t.Errorf("wrote %q", buf.String())
	}
}
