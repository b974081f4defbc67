package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// The checkpoint file holds two 32-byte slots, written in turn:
//
//	generation uint64 | segment uint64 | offset uint64 | CRC32C of the 24 bytes before | 4 zero bytes
//
// all little-endian. The valid slot with the higher generation wins, so
// a write torn by a crash leaves the previous checkpoint in force.
// (segment, offset) means: every record of every segment numbered below
// segment, and every record of segment that starts before offset, has
// been written by Replay's writer.
const (
	checkpointName = "checkpoint"
	slotLen        = 32
)

type checkpoint struct {
	gen, seq uint64
	off      int64
}

func readCheckpoint(f *os.File) (checkpoint, error) {
	var b [2 * slotLen]byte
	n, err := f.ReadAt(b[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return checkpoint{}, fmt.Errorf("read spool checkpoint: %w", err)
	}
	var best checkpoint
	for i := 0; i+slotLen <= n; i += slotLen {
		s := b[i : i+slotLen]
		if crc32.Checksum(s[:24], castagnoli) != binary.LittleEndian.Uint32(s[24:28]) {
			continue
		}
		c := checkpoint{
			gen: binary.LittleEndian.Uint64(s[0:8]),
			seq: binary.LittleEndian.Uint64(s[8:16]),
			off: int64(binary.LittleEndian.Uint64(s[16:24])),
		}
		if c.gen > best.gen {
			best = c
		}
	}
	return best, nil
}

// writeCheckpoint makes c the next generation, writes it over the older
// slot and fsyncs.
func writeCheckpoint(f *os.File, c *checkpoint, seq uint64, off int64) error {
	var s [slotLen]byte
	gen := c.gen + 1
	binary.LittleEndian.PutUint64(s[0:8], gen)
	binary.LittleEndian.PutUint64(s[8:16], seq)
	binary.LittleEndian.PutUint64(s[16:24], uint64(off))
	binary.LittleEndian.PutUint32(s[24:28], crc32.Checksum(s[:24], castagnoli))
	if _, err := f.WriteAt(s[:], int64(gen%2)*slotLen); err != nil {
		return fmt.Errorf("write spool checkpoint: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync spool checkpoint: %w", err)
	}
	*c = checkpoint{gen: gen, seq: seq, off: off}
	return nil
}
