package activitylog

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"
)

// ID identifies an event. It is a UUID; the Recorder makes version 7
// UUIDs (RFC 9562), whose first 48 bits are the Unix time in
// milliseconds, so ids sort in time order. The zero ID means "not set".
type ID [16]byte

// String returns the canonical 36-character form of id.
func (id ID) String() string {
	var b [36]byte
	id.encode(b[:])
	return string(b[:])
}

func (id ID) encode(b []byte) {
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
}

// IsZero reports whether id is unset.
func (id ID) IsZero() bool { return id == ID{} }

// Time returns the millisecond timestamp embedded in a version 7 id.
func (id ID) Time() time.Time {
	ms := int64(id[0])<<40 | int64(id[1])<<32 | int64(id[2])<<24 | int64(id[3])<<16 | int64(id[4])<<8 | int64(id[5])
	return time.UnixMilli(ms).UTC()
}

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) {
	b := make([]byte, 36)
	id.encode(b)
	return b, nil
}

// AppendText implements encoding.TextAppender.
func (id ID) AppendText(b []byte) ([]byte, error) {
	n := len(b)
	b = append(b, make([]byte, 36)...)
	id.encode(b[n:])
	return b, nil
}

// UnmarshalText implements encoding.TextUnmarshaler. It accepts the
// canonical form only, in either case, and refuses the nil UUID.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseID parses the canonical 36-character form of a UUID. Its error
// wraps ErrInvalid and names the field "id".
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return id, invalid("id", truncate(s, 40), "is not a UUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx")
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := fromHex(s[i])
		lo, ok2 := fromHex(s[i+1])
		if !ok1 || !ok2 {
			return ID{}, invalid("id", s, "is not a UUID: bad hex digit")
		}
		id[j] = hi<<4 | lo
		j++
		i += 2
	}
	if id.IsZero() {
		return ID{}, invalid("id", s, "must not be the nil UUID")
	}
	return id, nil
}

func fromHex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// idGen makes version 7 UUIDs. Within one millisecond it increments a
// 42-bit counter seeded at random (RFC 9562 method 1, "fixed bit-length
// dedicated counter"), so ids made by one process are strictly
// increasing. Randomness is read from crypto/rand in blocks to keep the
// cost per id low.
type idGen struct {
	mu      sync.Mutex
	lastMS  int64
	counter uint64 // 42 bits: 12 in rand_a, 30 at the top of rand_b
	pool    [512]byte
	used    int
}

var defaultIDs = &idGen{used: 512}

// NewID returns a new version 7 UUID for time now.
func NewID(now time.Time) ID { return defaultIDs.next(now.UnixMilli()) }

func (g *idGen) random(n int) []byte {
	if g.used+n > len(g.pool) {
		rand.Read(g.pool[:])
		g.used = 0
	}
	b := g.pool[g.used : g.used+n]
	g.used += n
	return b
}

func (g *idGen) next(ms int64) ID {
	var id ID
	g.mu.Lock()
	// A clock that stepped back a little (NTP) keeps the last time and
	// counts on, so ids stay increasing; a time far from the last one
	// (a caller's own clock) starts afresh rather than pin every later
	// id to it.
	if ms > g.lastMS || ms < g.lastMS-10_000 {
		g.lastMS = ms
		// Seed the counter with its top bit clear, leaving room to count.
		r := g.random(6)
		g.counter = (uint64(binary.BigEndian.Uint16(r))<<32 | uint64(binary.BigEndian.Uint32(r[2:]))) & (1<<41 - 1)
	} else {
		// Same millisecond, or a small step back: keep the last time and count on.
		g.counter++
		if g.counter >= 1<<42 {
			g.lastMS++
			g.counter = 0
		}
	}
	ms, ctr := g.lastMS, g.counter
	tail := g.random(4)
	g.mu.Unlock()

	id[0], id[1], id[2], id[3], id[4], id[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	id[6] = 0x70 | byte(ctr>>38)&0x0f // version 7 and the counter's top 4 bits
	id[7] = byte(ctr >> 30)
	id[8] = 0x80 | byte(ctr>>24)&0x3f // variant 10 and 6 more counter bits
	id[9] = byte(ctr >> 16)
	id[10] = byte(ctr >> 8)
	id[11] = byte(ctr)
	copy(id[12:], tail)
	return id
}
