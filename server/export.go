package server

import (
	"bufio"
	"bytes"
	"context"
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
	"unicode"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/jsonenc"
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

// exportFlushEvery is how many events an export writes between flushes
// to the client.
const exportFlushEvery = activitylog.MaxPageSize

// exportBufferSize is how much a CSV export buffers before it writes to
// the response.
const exportBufferSize = 32 << 10

// exportAuditTimeout bounds the recording of an export event.
const exportAuditTimeout = 5 * time.Second

// exportMaxXLSXRows is the most data rows a sheet holds (Excel's limit
// less the header row).
const exportMaxXLSXRows = 1_048_576 - 1

// exportRefused are the list parameters an export does not take: it
// returns every matching event.
var exportRefused = []string{"cursor", "page", "page_size"}

// exportHandler handles GET /api/v1/events/export?format=…: every event
// that the list's filters select, streamed in one file.
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
			s.fail(w, r, activitylog.Invalid("format", showValue(vs[1]), "is given more than once"))
			return
		}
		if len(vs) == 1 && vs[0] != "" {
			format = vs[0]
		}
	}
	if !slices.Contains(ExportFormats, format) {
		s.fail(w, r, activitylog.Invalid("format", showValue(format), "must be one of "+strings.Join(ExportFormats, ", ")))
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
			s.fail(w, r, activitylog.Invalid(name, showValue(first), "is not allowed in an export, which returns every matching event"))
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
	// Normalize once, so that last_hours is fixed to one From for the
	// whole export, and a bad filter is refused before anything is sent.
	now := time.Now()
	if f, err = f.Normalize(now); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	cw := &exportCounter{w: w}
	enc := newExportEncoder(format, cw)
	h := w.Header()
	h.Set("Content-Type", exportContentType(format))
	h.Set("Content-Disposition", `attachment; filename="activitylog-events-`+now.UTC().Format("20060102T150405Z")+"."+format+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Trailer", "X-Export-Status")

	records, err := s.exportEvents(ctx, w, cw, enc, f)
	if err == nil {
		err = enc.end()
	} else if cw.n > 0 {
		// The download has started: send the events that are buffered
		// too, so that the file holds every event it counts.
		enc.flush()
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

// exportEvents writes every event that f selects to enc, and returns
// how many it wrote. It reads them with activitylog.Scan: in one pass
// when the store is an activitylog.Scanner, else page by page. enc
// buffers what it writes, so nothing reaches the client before the
// store has answered and filled the buffer: a store that fails at once
// still gets its status. The client gets what there is after every
// exportFlushEvery events.
func (s *server) exportEvents(ctx context.Context, w http.ResponseWriter, cw *exportCounter, enc exportEncoder, f activitylog.Filter) (int64, error) {
	rc := http.NewResponseController(w)
	var records int64
	if err := enc.begin(); err != nil {
		return 0, err
	}
	err := activitylog.Scan(ctx, s.q, f, func(e *activitylog.Event) error {
		if err := enc.write(e, records); err != nil {
			return err
		}
		records++
		if records%exportFlushEvery != 0 {
			return nil
		}
		if err := enc.flush(); err != nil {
			return err
		}
		if cw.n > 0 {
			if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				return fmt.Errorf("flush export: %w", err)
			}
		}
		return nil
	})
	return records, err
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
	return &csvExport{w: w}
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

// csvExport writes CSV with a header row, in the dialect of
// encoding/csv's Writer (comma, LF line ends, a field quoted only when
// it must be), and the cells of exportCells. It formats each row into
// one buffer, which it writes to the response when it holds
// exportBufferSize bytes: encoding/csv's Writer and exportCells' strings
// cost an allocation per cell.
type csvExport struct {
	w    io.Writer
	buf  []byte
	cell []byte        // scratch for cells that are formatted first
	js   *json.Encoder // writes to jsb
	jsb  bytes.Buffer
}

func (c *csvExport) begin() error {
	for i, name := range ExportColumns {
		if i > 0 {
			c.buf = append(c.buf, ',')
		}
		c.buf = appendCSVCell(c.buf, name)
	}
	c.buf = append(c.buf, '\n')
	return nil
}

func (c *csvExport) write(e *activitylog.Event, _ int64) error {
	n := len(c.buf)
	b, err := c.appendRow(c.buf, e)
	if err != nil {
		c.buf = c.buf[:n]
		return err
	}
	c.buf = b
	if len(c.buf) >= exportBufferSize {
		return c.flush()
	}
	return nil
}

// appendRow appends e's row, in the order of ExportColumns.
func (c *csvExport) appendRow(b []byte, e *activitylog.Event) ([]byte, error) {
	b, _ = e.ID.AppendText(b)
	b = append(b, ',')
	c.cell = e.Time.UTC().AppendFormat(c.cell[:0], time.RFC3339Nano)
	b = appendCSVCell(b, c.cell)
	for _, s := range [...]string{string(e.Kind), e.Action, string(e.Severity), e.Tenant, e.Service,
		e.Actor.ID, e.Actor.Name, string(e.Actor.Type), e.Object.Type, e.Object.ID, e.Object.Repr,
		e.Message, e.Request.Method, e.Request.Path, e.Request.Route} {
		b = append(b, ',')
		b = appendCSVCell(b, s)
	}
	b = append(b, ',')
	if e.Response.Status != 0 {
		c.cell = strconv.AppendInt(c.cell[:0], int64(e.Response.Status), 10)
		b = appendCSVCell(b, c.cell)
	}
	b = append(b, ',')
	if e.Response.Duration != 0 {
		c.cell = strconv.AppendFloat(c.cell[:0], float64(e.Response.Duration)/float64(time.Millisecond), 'f', -1, 64)
		b = appendCSVCell(b, c.cell)
	}
	for _, s := range [...]string{e.Request.RemoteIP, e.Request.UserAgent, e.Request.Geo.Country, e.Request.Geo.City, e.Category, e.Tool} {
		b = append(b, ',')
		b = appendCSVCell(b, s)
	}
	b = append(b, ',')
	if len(e.Changes) > 0 {
		js, err := c.json(e.Changes)
		if err != nil {
			return b, fmt.Errorf("encode changes of event %s: %w", e.ID, err)
		}
		b = appendCSVCell(b, js)
	}
	b = append(b, ',')
	if len(e.Extra) > 0 {
		js, err := c.json(e.Extra)
		if err != nil {
			return b, fmt.Errorf("encode extra of event %s: %w", e.ID, err)
		}
		b = appendCSVCell(b, js)
	}
	return append(b, '\n'), nil
}

// json returns v as compact JSON, as json.Marshal makes it, in a buffer
// that the next call reuses. appendJSON writes what a store decodes
// from JSON; anything else goes to encoding/json.
func (c *csvExport) json(v any) ([]byte, error) {
	if b, ok := appendJSON(c.cell[:0], v, 0); ok {
		c.cell = b
		return b, nil
	}
	if c.js == nil {
		c.js = json.NewEncoder(&c.jsb)
	}
	c.jsb.Reset()
	if err := c.js.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(c.jsb.Bytes(), []byte("\n")), nil
}

func (c *csvExport) flush() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.w.Write(c.buf)
	c.buf = c.buf[:0]
	if err != nil {
		return fmt.Errorf("write csv export: %w", err)
	}
	return nil
}

func (c *csvExport) end() error { return c.flush() }
func (c *csvExport) close()     {}

// appendCSVCell appends s as one CSV field: escaped as EscapeCell
// escapes it, then quoted where encoding/csv's Writer would quote it
// (when it contains a comma, a quote, CR or LF, starts with a space as
// unicode.IsSpace has it, or is \.), with quotes doubled.
func appendCSVCell[T string | []byte](b []byte, s T) []byte {
	if len(s) == 0 {
		return b
	}
	formula := false
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		formula = true
	}
	quote := false
	i := 0
	for ; i+8 <= len(s) && !csvSpecial8(s[i:i+8]); i += 8 {
	}
	for ; i < len(s); i++ {
		if c := s[i]; c == ',' || c == '"' || c == '\n' || c == '\r' {
			quote = true
			break
		}
	}
	if !quote && !formula {
		// With a quote prepended, the field starts with neither.
		quote = len(s) == 2 && s[0] == '\\' && s[1] == '.' || startsWithSpace(s)
	}
	if quote {
		b = append(b, '"')
	}
	if formula {
		b = append(b, '\'')
	}
	if !quote {
		return append(b, s...)
	}
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, s[start:i+1]...)
			b = append(b, '"')
			start = i + 1
		}
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// csvSpecial8 reports whether one of the eight bytes of s may be a
// comma, a quote, CR or LF (haszero of "Bit Twiddling Hacks": it never
// misses one, and may flag a byte above one).
func csvSpecial8[T string | []byte](s T) bool {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	c, q, n, r := w^(lsb*','), w^(lsb*'"'), w^(lsb*'\n'), w^(lsb*'\r')
	return ((c-lsb)&^c|(q-lsb)&^q|(n-lsb)&^n|(r-lsb)&^r)&msb != 0
}

// startsWithSpace reports whether s starts with a space as
// unicode.IsSpace has it.
func startsWithSpace[T string | []byte](s T) bool {
	if s[0] < utf8.RuneSelf {
		return unicode.IsSpace(rune(s[0]))
	}
	var p [utf8.UTFMax]byte
	r, _ := utf8.DecodeRune(p[:copy(p[:], s)])
	return unicode.IsSpace(r)
}

// maxJSONDepth bounds the nesting that appendJSON follows; deeper
// values, and values that contain themselves, go to encoding/json.
const maxJSONDepth = 1000

// appendJSON appends v as json.Marshal makes it, when v is made of the
// types that encoding/json decodes JSON to (nil, bool, float64, string,
// []any, map[string]any), or is a map of Changes of them: the changes
// and extra of an event read back from a store. It reports false for
// anything else, a float that JSON cannot hold included, and then b
// holds a part of v.
func appendJSON(b []byte, v any, depth int) ([]byte, bool) {
	if depth > maxJSONDepth {
		return b, false
	}
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), true
	case string:
		return jsonenc.AppendString(b, v), true
	case bool:
		return strconv.AppendBool(b, v), true
	case float64:
		return jsonenc.AppendFloat(b, v)
	case []any:
		if v == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, x := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendJSON(b, x, depth+1); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	case map[string]any:
		return appendJSONMap(b, v, depth, func(b []byte, x any) ([]byte, bool) { return appendJSON(b, x, depth+1) })
	case map[string]activitylog.Change:
		return appendJSONMap(b, v, depth, func(b []byte, c activitylog.Change) ([]byte, bool) {
			b = append(b, `{"old":`...)
			b, ok := appendJSON(b, c.Old, depth+2)
			if !ok {
				return b, false
			}
			b = append(b, `,"new":`...)
			if b, ok = appendJSON(b, c.New, depth+2); !ok {
				return b, false
			}
			return append(b, '}'), true
		})
	}
	return b, false
}

// appendJSONMap appends m with its keys in order, as encoding/json does,
// each value by value.
func appendJSONMap[V any](b []byte, m map[string]V, depth int, value func([]byte, V) ([]byte, bool)) ([]byte, bool) {
	if m == nil {
		return append(b, "null"...), true
	}
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, k)
		b = append(b, ':')
		var ok bool
		if b, ok = value(b, m[k]); !ok {
			return b, false
		}
	}
	return append(b, '}'), true
}

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
