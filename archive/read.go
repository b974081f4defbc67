package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/integrity"
)

// Limits of the archive reader; ReadOptions' zero fields take them.
const (
	// DefaultMaxLineBytes bounds one record line. An event's bodies
	// are at most 1 MiB each, so no event the store holds comes near
	// it.
	DefaultMaxLineBytes = 16 << 20
	// DefaultMaxEvents bounds the events of one file.
	DefaultMaxEvents = 50_000_000
	// DefaultMaxBytes bounds a file's size, compressed and
	// decompressed: a small file that inflates without end is refused.
	DefaultMaxBytes = 64 << 30
)

// ReadOptions bounds what ReadArchive accepts. The zero value, or a
// nil pointer, means the defaults.
type ReadOptions struct {
	MaxLineBytes int   // default DefaultMaxLineBytes
	MaxEvents    int   // default DefaultMaxEvents
	MaxBytes     int64 // decompressed bytes; default DefaultMaxBytes
}

func (o *ReadOptions) withDefaults() ReadOptions {
	var r ReadOptions
	if o != nil {
		r = *o
	}
	if r.MaxLineBytes <= 0 {
		r.MaxLineBytes = DefaultMaxLineBytes
	}
	if r.MaxEvents <= 0 {
		r.MaxEvents = DefaultMaxEvents
	}
	if r.MaxBytes <= 0 {
		r.MaxBytes = DefaultMaxBytes
	}
	return r
}

// Info is what ReadArchive found in a file.
type Info struct {
	Header integrity.BundleHeader
	Lines  int // records
	Events int // event records
	Sealed int // of them, with a seal
}

// The records ReadArchive decodes (integrity/bundle.go writes them;
// docs/integrity.md defines them). Unknown members are refused.
type (
	headerRec struct {
		Type string `json:"type"`
		integrity.BundleHeader
	}
	eventRec struct {
		Type      string                 `json:"type"`
		Seal      *integrity.Seal        `json:"seal,omitempty"`
		Event     json.RawMessage        `json:"event,omitempty"`
		Canonical []byte                 `json:"canonical,omitempty"`
		Proof     *integrity.BundleProof `json:"proof,omitempty"`
	}
	endRec struct {
		Type        string `json:"type"`
		Chains      int    `json:"chains"`
		Checkpoints int    `json:"checkpoints"`
		Consistency int    `json:"consistency"`
		Prunes      int    `json:"prunes"`
		Events      int    `json:"events"`
		Unsealed    int    `json:"unsealed"`
		Uncovered   int    `json:"uncovered,omitempty"`
	}
)

// ReadArchive reads an archive file from r: gzip-compressed NDJSON, or
// the NDJSON itself, of an offline bundle (integrity.BundleHeader
// first, the end record last). It checks every line: a JSON object
// with a known "type", the header's format and versions, each event
// record's event (strictly decoded, with an id, a time between 1970
// and 2200 and a known kind: what a store needs), the end
// record's counts against the records, and nothing after it; and it
// calls fn, when not nil, with each event and its line number, in
// order. An error of fn stops the read and is returned as it is; every
// other error wraps ErrDamaged and names the line and, for an event,
// the field. It does not check seals, proofs or signatures: that is
// integrity.ReadBundle's and Bundle.Verify's work (activitylog verify
// --bundle).
func ReadArchive(r io.Reader, opts *ReadOptions, fn func(line int, e *activitylog.Event) error) (Info, error) {
	o := opts.withDefaults()
	var info Info
	src := bufio.NewReaderSize(r, 1<<16)
	var in io.Reader = src
	var gz *gzip.Reader
	if magic, err := src.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		var err error
		if gz, err = gzip.NewReader(src); err != nil {
			return info, damaged(0, "gzip header: %v", err)
		}
		gz.Multistream(false)
		in = gz
	}
	lim := &io.LimitedReader{R: in, N: o.MaxBytes + 1}
	br := bufio.NewReaderSize(lim, 1<<16)
	var line []byte
	var end *endRec
	var got endRec
	for n := 1; ; n++ {
		var err error
		line, err = readLine(br, line[:0], o.MaxLineBytes)
		if lim.N <= 0 {
			return info, damaged(0, "after line %d: the file decompresses to more than %d bytes (MaxBytes)", n-1, o.MaxBytes)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return info, damaged(n, "%v", err)
		}
		info.Lines = n
		var t struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(line, &t); err != nil {
			return info, damaged(n, "not a JSON object with a \"type\": %v", err)
		}
		if n == 1 && t.Type != "header" {
			return info, damaged(n, "the first record is %q, not the header: not an archive file", trunc(t.Type, 40))
		}
		if end != nil {
			return info, damaged(n, "a %q record after the end record", trunc(t.Type, 40))
		}
		switch t.Type {
		case "header":
			if n != 1 {
				return info, damaged(n, "a second header")
			}
			var h headerRec
			if err := decodeStrict(line, &h); err != nil {
				return info, damaged(n, "header: %v", err)
			}
			if h.Format != integrity.BundleFormat || h.Version != integrity.BundleVersion {
				return info, damaged(n, "header: format %q version %d, want %s version %d", trunc(h.Format, 40), h.Version, integrity.BundleFormat, integrity.BundleVersion)
			}
			if h.CanonicalVersion != activitylog.CanonicalVersion {
				return info, damaged(n, "header: canonical_version %d, this reader knows %d", h.CanonicalVersion, activitylog.CanonicalVersion)
			}
			info.Header = h.BundleHeader
		case "key", "chain", "checkpoint", "prune", "consistency":
			var m map[string]json.RawMessage
			if err := json.Unmarshal(line, &m); err != nil {
				return info, damaged(n, "%s: %v", t.Type, err)
			}
			switch t.Type {
			case "chain":
				got.Chains++
			case "checkpoint":
				got.Checkpoints++
			case "prune":
				got.Prunes++
			case "consistency":
				got.Consistency++
			}
		case "event":
			if info.Events >= o.MaxEvents {
				return info, damaged(n, "more than %d events (MaxEvents)", o.MaxEvents)
			}
			e, sealed, err := decodeEvent(line)
			if err != nil {
				return info, damaged(n, "%v", err)
			}
			info.Events++
			if sealed {
				info.Sealed++
			}
			if fn != nil {
				if err := fn(n, e); err != nil {
					return info, err
				}
			}
		case "end":
			end = &endRec{}
			if err := decodeStrict(line, end); err != nil {
				return info, damaged(n, "end: %v", err)
			}
		default:
			return info, damaged(n, "unknown record type %q", trunc(t.Type, 40))
		}
	}
	if info.Lines == 0 {
		return info, damaged(0, "empty: no header")
	}
	if end == nil {
		return info, damaged(info.Lines+1, "no end record after line %d: the file is truncated", info.Lines)
	}
	got.Events, got.Unsealed = info.Sealed, info.Events-info.Sealed
	if got.Chains != end.Chains || got.Checkpoints != end.Checkpoints || got.Consistency != end.Consistency ||
		got.Prunes != end.Prunes || got.Events != end.Events || got.Unsealed != end.Unsealed {
		return info, damaged(info.Lines, "end: it counts %d chains, %d checkpoints, %d consistency proofs, %d prune records, %d sealed and %d unsealed events; the file holds %d, %d, %d, %d, %d and %d: records were removed or added",
			end.Chains, end.Checkpoints, end.Consistency, end.Prunes, end.Events, end.Unsealed,
			got.Chains, got.Checkpoints, got.Consistency, got.Prunes, got.Events, got.Unsealed)
	}
	if gz != nil {
		// Nothing may follow the compressed stream.
		if _, err := src.ReadByte(); err != io.EOF {
			return info, damaged(info.Lines, "data after the end of the gzip stream")
		}
	}
	return info, nil
}

// decodeEvent decodes an event record's event and validates it.
func decodeEvent(line []byte) (*activitylog.Event, bool, error) {
	var rec eventRec
	if err := decodeStrict(line, &rec); err != nil {
		return nil, false, fmt.Errorf("event record: %v", err)
	}
	if len(rec.Event) == 0 {
		if rec.Canonical != nil {
			return nil, false, errors.New("event record: it carries only the canonical bytes of a row that was damaged in the store; such an event cannot be restored")
		}
		return nil, false, errors.New("event record: no member \"event\"")
	}
	if rec.Seal == nil && rec.Proof != nil {
		return nil, false, errors.New("event record: a proof without a seal")
	}
	e := new(activitylog.Event)
	if err := decodeStrict(rec.Event, e); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, false, fmt.Errorf("event: field %q: %s is not a %s", te.Field, te.Value, te.Type)
		}
		return nil, false, fmt.Errorf("event: %s%v", memberOf(rec.Event), err)
	}
	if err := restorable(e); err != nil {
		return nil, false, fmt.Errorf("event %s: %v", e.ID, err)
	}
	return e, rec.Seal != nil, nil
}

// restorable checks what a store needs of an event to hold it: an id,
// a time between 1970 and 2200, a known kind. It is not Event.Validate:
// an archive holds the events as the store held them, and stores keep
// events that Validate would refuse (written before a rule existed, or
// through a Writer directly); refusing them would block both the
// archive's read-back, and so every deletion, and their restore.
func restorable(e *activitylog.Event) error {
	switch {
	case e.ID.IsZero():
		return errors.New(`field "id": is required`)
	case e.Time.IsZero():
		return errors.New(`field "time": is required`)
	case e.Time.Before(activitylog.MinTime) || !e.Time.Before(activitylog.MaxTime):
		return fmt.Errorf(`field "time": value %s must be between 1970 and 2200`, e.Time.Format(time.RFC3339Nano))
	case !e.Kind.Valid():
		return fmt.Errorf(`field "kind": value %q must be one of crud, auth, request, cors, external, system, export, custom`, trunc(string(e.Kind), 40))
	}
	return nil
}

// readLine appends the next line to buf, without its newline; io.EOF
// at the end.
func readLine(br *bufio.Reader, buf []byte, max int) ([]byte, error) {
	for {
		part, err := br.ReadSlice('\n')
		buf = append(buf, part...)
		if len(buf) > max+1 || len(buf) == max+1 && buf[len(buf)-1] != '\n' {
			return nil, fmt.Errorf("longer than %d bytes (MaxLineBytes)", max)
		}
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(buf) == 0:
			return nil, io.EOF
		case err == io.EOF:
			return nil, errors.New("no newline at its end: the file is truncated")
		default:
			return nil, fmt.Errorf("%v: the file is truncated or damaged", err)
		}
	}
}

// decodeStrict decodes one JSON value, refusing unknown members and
// anything after it.
func decodeStrict(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("data after the object")
	}
	return nil
}

func damaged(line int, format string, a ...any) error {
	msg := fmt.Sprintf(format, a...)
	if line > 0 {
		msg = "line " + strconv.Itoa(line) + ": " + msg
	}
	return fmt.Errorf("read archive: %s: %w", msg, ErrDamaged)
}

// memberOf finds the member of an event's JSON object that does not
// decode, for the error: `field "time": ` or "" when none alone fails.
func memberOf(obj []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(obj, &m) != nil {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		one, err := json.Marshal(map[string]json.RawMessage{k: m[k]})
		if err != nil {
			continue
		}
		var e activitylog.Event
		if decodeStrict(one, &e) != nil {
			return "field " + strconv.Quote(trunc(k, 80)) + ": "
		}
	}
	return ""
}
