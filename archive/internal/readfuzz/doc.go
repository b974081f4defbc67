// Package readfuzz holds the fuzz target of the archive reader
// (archive.ReadArchive), FuzzReadArchive. It lives apart from the
// archive package's tests because those link the SQLite store, whose
// coverage counters make coverage-guided fuzzing about seven times
// slower; this test binary links only the reader. Keep the
// minimization short, or a new input stalls the run for a minute:
//
//	go test ./archive/internal/readfuzz -run XXX -fuzz FuzzReadArchive -fuzztime 60s -fuzzminimizetime 2s
package readfuzz
