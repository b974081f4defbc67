package activitylog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// ExportInfo describes data leaving the system: a download, a report
// sent by mail, a dump to a bucket.
type ExportInfo struct {
	// Type is what was exported: "orders", "users". It is the event's
	// object type.
	Type string
	// Format is the file format: "csv", "xlsx", "json", "pdf".
	Format string
	// Records is how many rows or records left.
	Records int64
	// Bytes is how many bytes left. ExportWriter counts them itself.
	Bytes int64
	// Filters are the parameters that selected the data, as the user
	// gave them. A url.Values fits after conversion:
	// for k, v := range q { filters[k] = v }. Sensitive keys are masked
	// like any Extra.
	Filters map[string]any
	// Destination is where the data went: "download", "email:…",
	// "s3://bucket/key".
	Destination string
	// Extra is copied into the event's Extra; the keys above win.
	Extra map[string]any
}

// Export actions.
const (
	ActionExport       = "export"
	ActionExportFailed = "export_failed"
)

// Export records an export event (action "export") for info. The actor,
// tenant and request come from ctx, as for every event.
func Export(ctx context.Context, info ExportInfo) error {
	return recordApp(ctx, exportEvent(info, nil))
}

func exportEvent(info ExportInfo, err error) Event {
	e := Event{Kind: KindExport, Action: ActionExport, Severity: SeverityInfo}
	e.Object = Object{Type: clipText(info.Type, MaxShortField)}
	e.Extra = copyExtra(info.Extra, 7)
	if info.Format != "" {
		e.Extra["format"] = clipText(info.Format, 64)
	}
	e.Extra["records"] = info.Records
	e.Extra["bytes"] = info.Bytes
	if len(info.Filters) > 0 {
		e.Extra["filters"] = info.Filters
	}
	if info.Destination != "" {
		e.Extra["destination"] = clipText(info.Destination, MaxShortField)
	}
	what := info.Type
	if what == "" {
		what = "data"
	}
	msg := "exported " + strconv.FormatInt(info.Records, 10) + " " + clipText(what, 256)
	if info.Format != "" {
		msg += " as " + clipText(info.Format, 64)
	}
	msg += " (" + strconv.FormatInt(info.Bytes, 10) + " bytes)"
	if info.Destination != "" {
		msg += " to " + clipText(info.Destination, 256)
	}
	if err != nil {
		e.Action, e.Severity = ActionExportFailed, SeverityError
		e.Extra["error"] = clipText(err.Error(), MaxTextField)
		msg = "export failed after " + msg[len("exported "):] + ": " + clipText(err.Error(), 1024)
	}
	e.Message = msg
	return e
}

// ExportWriter counts the bytes written through it to an export, and
// records the export exactly once: when it is closed, or at the first
// write error (action "export_failed", severity error). Make it with
// NewExportWriter and always Close it. It is safe for concurrent use.
type ExportWriter struct {
	ctx  context.Context
	w    io.Writer
	info ExportInfo

	mu       sync.Mutex
	recorded bool
	closed   bool
	err      error // the record error, returned by Close
}

var _ io.WriteCloser = (*ExportWriter)(nil)

// errExportClosed is returned by a Write after Close.
var errExportClosed = errors.New("write export: writer is closed")

// NewExportWriter returns an ExportWriter that writes to w and records
// info, its Bytes and Records counted, through RecorderFrom(ctx). The
// event is recorded with ctx's values even when ctx has been cancelled
// by then, so a client that goes away cannot erase its export.
func NewExportWriter(ctx context.Context, w io.Writer, info ExportInfo) *ExportWriter {
	if ctx == nil {
		ctx = context.Background()
	}
	return &ExportWriter{ctx: context.WithoutCancel(ctx), w: w, info: info}
}

// Write writes p to the underlying writer and counts the bytes. The
// first error is recorded as a failed export; later writes still go
// through, but nothing more is recorded.
func (x *ExportWriter) Write(p []byte) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return 0, errExportClosed
	}
	n, err := x.w.Write(p)
	x.info.Bytes += int64(n)
	if err != nil {
		x.recordLocked(err)
	}
	return n, err
}

// CountRecord adds one to the records exported.
func (x *ExportWriter) CountRecord() { x.AddRecords(1) }

// AddRecords adds n to the records exported.
func (x *ExportWriter) AddRecords(n int64) {
	x.mu.Lock()
	x.info.Records += n
	x.mu.Unlock()
}

// Info returns the export as counted so far.
func (x *ExportWriter) Info() ExportInfo {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.info
}

// Close closes the underlying writer if it is an io.Closer, and records
// the export unless a write error already did: as "export" if the
// close succeeded, else as "export_failed". It returns the close error
// and the record error, joined. Later calls return nil.
func (x *ExportWriter) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return nil
	}
	x.closed = true
	var cerr error
	if c, ok := x.w.(io.Closer); ok {
		if cerr = c.Close(); cerr != nil {
			cerr = fmt.Errorf("close export: %w", cerr)
		}
	}
	x.recordLocked(cerr)
	return errors.Join(cerr, x.err)
}

func (x *ExportWriter) recordLocked(err error) {
	if x.recorded {
		return
	}
	x.recorded = true
	if rerr := recordApp(x.ctx, exportEvent(x.info, err)); rerr != nil {
		x.err = fmt.Errorf("record export: %w", rerr)
	}
}
