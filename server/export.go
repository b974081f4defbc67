package server

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/activitylog/activitylog"
)

// Auditor records one event. The export handler uses it to record each
// export as an event of kind export. *activitylog.Recorder's Record
// method fits it.
//
// Record may be called from several goroutines at once. Its error is
// logged, never shown to the client, whose download has already ended.
type Auditor interface {
	Record(ctx context.Context, e activitylog.Event) error
}

var _ Auditor = (*activitylog.Recorder)(nil)

// ExportFormats lists the formats of GET /api/v1/events/export.
var ExportFormats = []string{"csv", "json", "ndjson", "xlsx"}

// ExportColumns are the columns of a CSV or XLSX export, in order.
// changes and extra hold compact JSON.
var ExportColumns = []string{
	"id", "time", "kind", "action", "severity", "tenant", "service",
	"actor_id", "actor_name", "actor_type", "object_type", "object_id", "object_repr",
	"message", "method", "path", "route", "status", "duration_ms", "remote_ip",
	"user_agent", "country", "city", "category", "tool", "changes", "extra",
}

// exportPageSize is how many events an export reads from the store at a
// time; the writer is flushed to the client after each page.
const exportPageSize = activitylog.MaxPageSize

// exportAuditTimeout bounds the recording of an export event.
const exportAuditTimeout = 5 * time.Second

// exportMaxXLSXRows is the most data rows a sheet holds (Excel's limit
// less the header row).
const exportMaxXLSXRows = 1_048_576 - 1

// exportRefused are the list parameters an export does not take: it
// returns every matching event.
var exportRefused = []string{"cursor", "page", "page_size"}

// exportHandler handles GET /api/v1/events/export?format=…: every event
// that the list's filters select, streamed page by page in one file.
// When audit is not nil, each export is recorded through it.
func (s *server) exportHandler(audit Auditor) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.export(w, r, audit)
	}
}

func (s *server) export(w http.ResponseWriter, r *http.Request, audit Auditor) {
	v := r.URL.Query()
	format := "csv"
	if vs, ok := v["format"]; ok {
		if len(vs) > 1 {
			s.fail(w, r, activitylog.Invalid("format", clip(vs[1]), "is given more than once"))
			return
		}
		if len(vs) == 1 && vs[0] != "" {
			format = vs[0]
		}
	}
	if !slices.Contains(ExportFormats, format) {
		s.fail(w, r, activitylog.Invalid("format", clip(format), "must be one of "+strings.Join(ExportFormats, ", ")))
		return
	}
	fv := make(url.Values, len(v))
	for name, vs := range v {
		if name == "format" {
			continue
		}
		if slices.Contains(exportRefused, name) {
			first := ""
			if len(vs) > 0 {
				first = vs[0]
			}
			s.fail(w, r, activitylog.Invalid(name, clip(first), "is not allowed in an export, which returns every matching event"))
			return
		}
		fv[name] = vs
	}
	f, err := ParseFilter(fv)
	if err == nil {
		f, err = scope(r, f)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f.PageSize = exportPageSize
	// Normalize once, so that last_hours is fixed to one From for every
	// page of the export.
	now := time.Now()
	if f, err = f.Normalize(now); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	// The first page is read before anything is written, so that a store
	// error can still get its status.
	page, err := s.q.Query(ctx, f)
	if err != nil {
		s.fail(w, r, err)
		return
	}

	cw := &exportCounter{w: w}
	enc := newExportEncoder(format, cw)
	h := w.Header()
	h.Set("Content-Type", exportContentType(format))
	h.Set("Content-Disposition", `attachment; filename="activitylog-events-`+now.UTC().Format("20060102T150405Z")+"."+format+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Trailer", "X-Export-Status")

	records, err := s.exportPages(ctx, w, cw, enc, f, page)
	if err == nil {
		err = enc.end()
	}
	enc.close()
	if err != nil && cw.n == 0 {
		// Nothing has been sent: the status can still tell.
		h.Del("Content-Disposition")
		h.Del("Trailer")
		s.fail(w, r, err)
	} else if err != nil {
		// The status is sent: end the body, visibly incomplete for JSON
		// and XLSX, and say so in the trailer.
		h.Set("X-Export-Status", "truncated")
		s.log.ErrorContext(ctx, "activitylog server: export ended early", "format", format, "records", records, "bytes", cw.n, "err", err)
	} else {
		h.Set("X-Export-Status", "complete")
	}

	if audit != nil {
		e := exportAuditEvent(format, fv, records, cw.n, err)
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exportAuditTimeout)
		defer cancel()
		if aerr := audit.Record(actx, e); aerr != nil {
			s.log.ErrorContext(ctx, "activitylog server: record export", "format", format, "records", records, "err", aerr)
		}
	}
}

// exportPages writes page and the pages after it to enc, flushing to the
// client after each one, and returns how many events it wrote.
func (s *server) exportPages(ctx context.Context, w http.ResponseWriter, cw *exportCounter, enc exportEncoder, f activitylog.Filter, page activitylog.Page) (int64, error) {
	rc := http.NewResponseController(w)
	var records int64
	if err := enc.begin(); err != nil {
		return 0, err
	}
	for {
		for i := range page.Events {
			if err := enc.write(&page.Events[i], records); err != nil {
				return records, err
			}
			records++
		}
		if err := enc.flush(); err != nil {
			return records, err
		}
		if cw.n > 0 {
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return records, fmt.Errorf("flush export: %w", err)
			}
		}
		if page.Next == "" {
			return records, nil
		}
		f.Cursor = page.Next
		var err error
		if page, err = s.q.Query(ctx, f); err != nil {
			return records, fmt.Errorf("query export page: %w", err)
		}
	}
}

// exportAuditEvent is the event that records an export, in the shape of
// activitylog.ExportInfo's.
func exportAuditEvent(format string, filters url.Values, records, bytes int64, err error) activitylog.Event {
	fm := make(map[string]any, len(filters))
	for name, vs := range filters {
		if len(vs) > 0 && vs[0] != "" {
			fm[name] = vs[0]
		}
	}
	e := activitylog.Event{
		Kind:     activitylog.KindExport,
		Action:   activitylog.ActionExport,
		Severity: activitylog.SeverityInfo,
		Object:   activitylog.Object{Type: "events"},
		Extra: map[string]any{
			"format":      format,
			"records":     records,
			"bytes":       bytes,
			"filters":     fm,
			"destination": "download",
		},
	}
	e.Message = "exported " + strconv.FormatInt(records, 10) + " events as " + format +
		" (" + strconv.FormatInt(bytes, 10) + " bytes) to download"
	if err != nil {
		e.Action, e.Severity = activitylog.ActionExportFailed, activitylog.SeverityError
		msg := clipN(err.Error(), 1024)
		e.Extra["error"] = msg
		e.Message = "export failed after " + strings.TrimPrefix(e.Message, "exported ") + ": " + msg
	}
	return e
}

func exportContentType(format string) string {
	switch format {
	case "json":
		return "application/json; charset=utf-8"
	case "ndjson":
		return "application/x-ndjson"
	case "xlsx":
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "text/csv; charset=utf-8"
}

// exportCounter counts the bytes written to the response.
type exportCounter struct {
	w io.Writer
	n int64
}

func (c *exportCounter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// exportEncoder writes events in one format. begin, write… and end are
// called in that order; flush after any write, to hand what is buffered
// to the response; close always, last, to release resources.
type exportEncoder interface {
	begin() error
	write(e *activitylog.Event, index int64) error
	flush() error
	end() error
	close()
}

func newExportEncoder(format string, w io.Writer) exportEncoder {
	switch format {
	case "json":
		return newJSONExport(w, true)
	case "ndjson":
		return newJSONExport(w, false)
	case "xlsx":
		return &xlsxExport{w: w}
	}
	return &csvExport{w: csv.NewWriter(w), row: make([]string, len(ExportColumns))}
}

// EscapeCell makes a spreadsheet cell safe against formula injection: a
// value that starts with =, +, -, @, tab or carriage return gets a
// leading single quote, so that a spreadsheet shows it as text rather
// than evaluating it.
func EscapeCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}

// exportCells fills row, which has len(ExportColumns) entries, with e's
// cells as text, escaped.
func exportCells(row []string, e *activitylog.Event) error {
	status, duration := "", ""
	if e.Response.Status != 0 {
		status = strconv.Itoa(e.Response.Status)
	}
	if e.Response.Duration != 0 {
		duration = strconv.FormatFloat(float64(e.Response.Duration)/float64(time.Millisecond), 'f', -1, 64)
	}
	changes, err := compactJSON(e.Changes, len(e.Changes))
	if err != nil {
		return fmt.Errorf("encode changes of event %s: %w", e.ID, err)
	}
	extra, err := compactJSON(e.Extra, len(e.Extra))
	if err != nil {
		return fmt.Errorf("encode extra of event %s: %w", e.ID, err)
	}
	cells := [...]string{
		e.ID.String(), e.Time.UTC().Format(time.RFC3339Nano), string(e.Kind), e.Action, string(e.Severity), e.Tenant, e.Service,
		e.Actor.ID, e.Actor.Name, string(e.Actor.Type), e.Object.Type, e.Object.ID, e.Object.Repr,
		e.Message, e.Request.Method, e.Request.Path, e.Request.Route, status, duration, e.Request.RemoteIP,
		e.Request.UserAgent, e.Request.Geo.Country, e.Request.Geo.City, e.Category, e.Tool, changes, extra,
	}
	for i, c := range cells {
		row[i] = EscapeCell(c)
	}
	return nil
}

func compactJSON(v any, n int) (string, error) {
	if n == 0 {
		return "", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// csvExport writes CSV with a header row.
type csvExport struct {
	w   *csv.Writer
	row []string
}

func (c *csvExport) begin() error { return c.w.Write(ExportColumns) }

func (c *csvExport) write(e *activitylog.Event, _ int64) error {
	if err := exportCells(c.row, e); err != nil {
		return err
	}
	return c.w.Write(c.row)
}

func (c *csvExport) flush() error {
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return fmt.Errorf("write csv export: %w", err)
	}
	return nil
}

func (c *csvExport) end() error { return c.flush() }
func (c *csvExport) close()     {}

// jsonExport writes one JSON array, element by element, or NDJSON, one
// event per line.
type jsonExport struct {
	bw    *bufio.Writer
	enc   *json.Encoder
	array bool
}

func newJSONExport(w io.Writer, array bool) *jsonExport {
	bw := bufio.NewWriterSize(w, 32<<10)
	return &jsonExport{bw: bw, enc: json.NewEncoder(bw), array: array}
}

func (j *jsonExport) begin() error {
	if j.array {
		_, err := j.bw.WriteString("[\n")
		return err
	}
	return nil
}

func (j *jsonExport) write(e *activitylog.Event, index int64) error {
	if j.array && index > 0 {
		if err := j.bw.WriteByte(','); err != nil {
			return err
		}
	}
	if err := j.enc.Encode(e); err != nil {
		return fmt.Errorf("write json export: %w", err)
	}
	return nil
}

func (j *jsonExport) flush() error {
	if err := j.bw.Flush(); err != nil {
		return fmt.Errorf("write json export: %w", err)
	}
	return nil
}

func (j *jsonExport) end() error {
	if j.array {
		if _, err := j.bw.WriteString("]\n"); err != nil {
			return err
		}
	}
	return j.flush()
}

func (j *jsonExport) close() {}

// xlsxExport writes one sheet, "events", with a header row, through
// excelize's StreamWriter, which keeps memory bounded by spilling large
// sheets to a temporary file. The workbook is written to the response
// when it ends: an XLSX file is a zip archive that cannot be sent in
// pieces.
type xlsxExport struct {
	w    io.Writer
	file *excelize.File
	sw   *excelize.StreamWriter
	text []string
	row  []any
}

func (x *xlsxExport) begin() error {
	x.file = excelize.NewFile()
	if err := x.file.SetSheetName("Sheet1", "events"); err != nil {
		return fmt.Errorf("create xlsx export: %w", err)
	}
	sw, err := x.file.NewStreamWriter("events")
	if err != nil {
		return fmt.Errorf("create xlsx export: %w", err)
	}
	x.sw = sw
	x.text = make([]string, len(ExportColumns))
	x.row = make([]any, len(ExportColumns))
	for i, c := range ExportColumns {
		x.row[i] = c
	}
	if err := sw.SetRow("A1", x.row); err != nil {
		return fmt.Errorf("write xlsx export: %w", err)
	}
	return nil
}

func (x *xlsxExport) write(e *activitylog.Event, index int64) error {
	if index >= exportMaxXLSXRows {
		return activitylog.Invalid("format", "xlsx", "holds at most "+strconv.Itoa(exportMaxXLSXRows)+" rows; narrow the filters or use csv")
	}
	if err := exportCells(x.text, e); err != nil {
		return err
	}
	for i, c := range x.text {
		x.row[i] = c
	}
	// Status and duration are numbers in a spreadsheet.
	if e.Response.Status != 0 {
		x.row[17] = e.Response.Status
	}
	if e.Response.Duration != 0 {
		x.row[18] = float64(e.Response.Duration) / float64(time.Millisecond)
	}
	cell, err := excelize.CoordinatesToCellName(1, int(index)+2)
	if err != nil {
		return fmt.Errorf("write xlsx export: %w", err)
	}
	if err := x.sw.SetRow(cell, x.row); err != nil {
		return fmt.Errorf("write xlsx export: %w", err)
	}
	return nil
}

func (x *xlsxExport) flush() error { return nil }

func (x *xlsxExport) end() error {
	if err := x.sw.Flush(); err != nil {
		return fmt.Errorf("write xlsx export: %w", err)
	}
	if _, err := x.file.WriteTo(x.w); err != nil {
		return fmt.Errorf("write xlsx export: %w", err)
	}
	return nil
}

func (x *xlsxExport) close() {
	if x.file != nil {
		x.file.Close()
	}
}
