package mysql

import (
	"bytes"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/internal/eventjson"
	"github.com/activitylog/activitylog/storetest"
)

// TestBuildLoadSplits checks how buildLoad cuts a batch into files: at
// most maxBytes each (a single larger row alone), at most maxLoadRows
// rows each, every row in exactly one file, and firsts naming each
// file's first event.
func TestBuildLoadSplits(t *testing.T) {
	es := make([]activitylog.Event, 2*maxLoadRows+123)
	for i := range es {
		es[i] = storetest.NewEvent(i)
		es[i].Time = storetest.Base.Add(time.Duration(i) * time.Millisecond)
	}
	es[7].Message = string(bytes.Repeat([]byte("m"), 100<<10)) // larger than a file
	for _, maxBytes := range []int{64 << 10, 1 << 30} {
		s := &Store{maxBytes: maxBytes, maxPacket: 1 << 20}
		var buf writeBuf
		if err := s.buildLoad(&buf, es); err != nil {
			t.Fatal(err)
		}
		if len(buf.ends) != len(buf.firsts) || buf.firsts[0] != 0 || buf.ends[len(buf.ends)-1] != len(buf.stmt) {
			t.Fatalf("maxBytes %d: ends %v, firsts %v", maxBytes, buf.ends, buf.firsts)
		}
		start := 0
		for k, end := range buf.ends {
			file := buf.stmt[start:end]
			rows := bytes.Count(file, []byte{'\n'})
			next := len(es)
			if k+1 < len(buf.firsts) {
				next = buf.firsts[k+1]
			}
			if rows != next-buf.firsts[k] || rows < 1 || rows > maxLoadRows || file[len(file)-1] != '\n' {
				t.Fatalf("maxBytes %d: file %d has %d rows, firsts %v", maxBytes, k, rows, buf.firsts)
			}
			if len(file) > maxBytes && rows > 1 {
				t.Fatalf("maxBytes %d: file %d is %d bytes of %d rows", maxBytes, k, len(file), rows)
			}
			// The file's first row is the event firsts names.
			e := &es[buf.firsts[k]]
			var sp eventjson.Spans
			doc, err := eventjson.Append(nil, e, &sp)
			if err != nil {
				t.Fatal(err)
			}
			if want := appendLoadRow(nil, e, doc, &sp); !bytes.HasPrefix(file, want) {
				t.Fatalf("maxBytes %d: file %d does not start with event %d", maxBytes, k, buf.firsts[k])
			}
			start = end
		}
		if maxBytes == 1<<30 && len(buf.ends) != 3 {
			t.Errorf("unbounded bytes: %d files, want 3 (rows bound them)", len(buf.ends))
		}
	}
}
