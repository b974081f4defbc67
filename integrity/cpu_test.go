package integrity

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter reports a benchmark's CPU time per op (cpu-ns/op), every
// goroutine's: on the shared 2-core machine, where other processes take
// the cores at will, it moves far less than ns/op does.
type cpuMeter struct{ start, paused time.Duration }

func startCPU() *cpuMeter { return &cpuMeter{start: cpuTime()} }

// pause and resume leave out what runs between them, as b.StopTimer
// and b.StartTimer do.
func (m *cpuMeter) pause()  { m.paused -= cpuTime() }
func (m *cpuMeter) resume() { m.paused += cpuTime() }

func (m *cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64(cpuTime()-m.start-m.paused)/float64(b.N), "cpu-ns/op")
}
