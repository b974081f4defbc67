// Package benchcpu reports a benchmark's process CPU time per op
// (cpu-ns/op), every goroutine's, user and system, read with getrusage.
// On the shared 2-core machine, where other processes take the cores
// at will, it moves far less than ns/op does.
package benchcpu

import (
	"syscall"
	"testing"
	"time"
)

// Now returns the CPU time the process has used, user and system.
func Now() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Meter measures from Start to Report, leaving out what runs between
// Pause and Resume.
type Meter struct{ start, paused time.Duration }

// Start starts a Meter.
func Start() *Meter { return &Meter{start: Now()} }

// Pause and Resume leave out what runs between them, as b.StopTimer and
// b.StartTimer do.
func (m *Meter) Pause()  { m.paused -= Now() }
func (m *Meter) Resume() { m.paused += Now() }

// Report reports the CPU time per op as the metric cpu-ns/op.
func (m *Meter) Report(b *testing.B) {
	b.ReportMetric(float64(Now()-m.start-m.paused)/float64(b.N), "cpu-ns/op")
}
