package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Machine describes where the figures come from.
type Machine struct {
	Cores      int    `json:"cores"`
	CPU        string `json:"cpu"`
	Go         string `json:"go"`
	OS         string `json:"os"`
	LoadBefore string `json:"load_before"`
	LoadAfter  string `json:"load_after"`
}

func readMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, LoadBefore: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if m.CPU == "" {
		m.CPU = "unknown"
	}
	return m
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// spread is a figure's min, median and max over the rounds.
type spread struct {
	Min, Median, Max float64
	N                int
}

func spreadOf(xs []float64) spread {
	if len(xs) == 0 {
		return spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{Min: s[0], Median: med, Max: s[len(s)-1], N: len(s)}
}

func (s spread) String() string {
	if s.N == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f / %.2f / %.2f", s.Min, s.Median, s.Max)
}

// Summary is one variant over the rounds.
type Summary struct {
	Info          variantInfo
	RPS, P50, P99 spread // req/s, µs
	CPU, Allocs   spread // per request: µs, count
	ClientCPU     spread // the load generator's µs per request
	Ratio         spread // req/s ÷ baseline's req/s, per round
	CPUDelta      spread // CPU µs per request − baseline's, per round
	CPURatio      spread
	AllocRatio    spread
	Sent, Stored  int64 // over all rounds; Stored -1: stores nothing
	Lost          uint64
	Errors        uint64
	Mismatches    []string // rounds whose stored ≠ sent
	VsTable       spread   // req/s ÷ the audit table's req/s, per round
}

// Report is a run's figures.
type Report struct {
	Config    Config
	Machine   Machine
	Command   string
	Start     time.Time
	Rounds    []Round
	Summaries []Summary
}

func newReport(cfg Config, rs []Round, m Machine, command string, start time.Time) *Report {
	if m.LoadAfter == "" {
		m.LoadAfter = loadAvg()
	}
	rep := &Report{Config: cfg, Machine: m, Command: command, Start: start, Rounds: rs}
	byRound := map[int]map[string]Round{}
	var order []string
	for _, r := range rs {
		if byRound[r.Round] == nil {
			byRound[r.Round] = map[string]Round{}
		}
		byRound[r.Round][r.Variant] = r
		if !slices.Contains(order, r.Variant) {
			order = append(order, r.Variant)
		}
	}
	for _, name := range order {
		info, _ := variantByName(name)
		s := Summary{Info: info}
		var rps, p50, p99, cpu, ccpu, allocs, ratio, cpuD, cpuR, allocR, vsT []float64
		for round := 1; round <= cfg.Rounds; round++ {
			r, ok := byRound[round][name]
			if !ok {
				continue
			}
			rps = append(rps, r.RPS)
			p50 = append(p50, float64(r.P50.Nanoseconds())/1e3)
			p99 = append(p99, float64(r.P99.Nanoseconds())/1e3)
			cpu = append(cpu, r.CPUPerReq())
			ccpu = append(ccpu, r.ClientCPUPerReq())
			allocs = append(allocs, r.AllocsPerReq())
			s.Sent += int64(r.Sent)
			s.Errors += r.Errors
			s.Lost = max(s.Lost, r.Lost)
			if r.Stored >= 0 {
				s.Stored += r.Stored
				if r.Stored != int64(r.Sent) {
					s.Mismatches = append(s.Mismatches, fmt.Sprintf("round %d: %d stored, %d sent", round, r.Stored, r.Sent))
				}
			} else {
				s.Stored = -1
			}
			if b, ok := byRound[round][info.baseline]; ok && b.RPS > 0 {
				ratio = append(ratio, r.RPS/b.RPS)
				cpuD = append(cpuD, r.CPUPerReq()-b.CPUPerReq())
				if b.CPUPerReq() > 0 {
					cpuR = append(cpuR, r.CPUPerReq()/b.CPUPerReq())
				}
				if b.AllocsPerReq() > 0 {
					allocR = append(allocR, r.AllocsPerReq()/b.AllocsPerReq())
				}
			}
			if t, ok := byRound[round][vTable]; ok && t.RPS > 0 {
				vsT = append(vsT, r.RPS/t.RPS)
			}
		}
		s.RPS, s.P50, s.P99, s.CPU, s.Allocs = spreadOf(rps), spreadOf(p50), spreadOf(p99), spreadOf(cpu), spreadOf(allocs)
		s.ClientCPU = spreadOf(ccpu)
		s.Ratio, s.CPUDelta, s.CPURatio, s.AllocRatio, s.VsTable = spreadOf(ratio), spreadOf(cpuD), spreadOf(cpuR), spreadOf(allocR), spreadOf(vsT)
		if !info.audits {
			s.Stored = -1
		}
		rep.Summaries = append(rep.Summaries, s)
	}
	return rep
}

func (rep *Report) summary(name string) (Summary, bool) {
	for _, s := range rep.Summaries {
		if s.Info.name == name {
			return s, true
		}
	}
	return Summary{}, false
}

// Failures are the two claims that must never regress: activitylog's
// throughput ratio to bare (metadata, SQLite) at least the audit
// table's, by the median over the rounds; and, for every auditing
// variant in every round, as many events stored as requests sent, none
// lost.
func (rep *Report) Failures() []error {
	var errs []error
	if err := rep.RatioFailure(); err != nil {
		errs = append(errs, err)
	}
	return append(errs, rep.CountFailures()...)
}

// RatioFailure returns an error when activitylog's throughput ratio to
// bare (metadata, SQLite) is below the audit table's; nil when it is
// not, or when either was not run. Both ratios share the round's bare,
// so the comparison is made pairwise: the median over the rounds of
// activitylog's throughput divided by the audit table's in the same
// round, which the noise of the bare runs does not reach.
func (rep *Report) RatioFailure() error {
	al, okA := rep.summary(vMetadata)
	tb, okT := rep.summary(vTable)
	if okA && okT && al.VsTable.N > 0 && al.VsTable.Median < 1 {
		return fmt.Errorf("activitylog's throughput ratio to bare (median %.3f) is below the audit table's (median %.3f): activitylog ÷ audit table, paired by round, has median %.3f over %d rounds, below 1",
			al.Ratio.Median, tb.Ratio.Median, al.VsTable.Median, al.VsTable.N)
	}
	return nil
}

// CountFailures returns an error for every auditing variant that, in a
// round, stored a different number of events than requests were sent,
// or whose Recorder lost any.
func (rep *Report) CountFailures() []error {
	var errs []error
	for _, s := range rep.Summaries {
		if !s.Info.audits {
			continue
		}
		for _, m := range s.Mismatches {
			errs = append(errs, fmt.Errorf("%s: events stored ≠ requests sent: %s", s.Info.name, m))
		}
		if s.Lost > 0 {
			errs = append(errs, fmt.Errorf("%s: the Recorder dropped, refused or failed %d events", s.Info.name, s.Lost))
		}
	}
	return errs
}

// target is one of the targets, checked.
type target struct {
	What, Measured string
	Met            bool
	Known          bool // both sides were measured
}

func (rep *Report) Targets() []target {
	var ts []target
	lg, okL := rep.summary(vLog)
	for _, name := range []string{vIntegrity, vMetadata} {
		s, ok := rep.summary(name)
		t := target{What: fmt.Sprintf("%s: throughput ratio to bare ≥ the log line's", name)}
		if ok && okL && s.Ratio.N > 0 && lg.Ratio.N > 0 {
			t.Known = true
			t.Met = s.Ratio.Median >= lg.Ratio.Median
			t.Measured = fmt.Sprintf("%.2f vs %.2f (medians; min %.2f vs %.2f)", s.Ratio.Median, lg.Ratio.Median, s.Ratio.Min, lg.Ratio.Min)
		}
		ts = append(ts, t)
	}
	for _, name := range []string{vMetadata, vIntegrity} {
		s, ok := rep.summary(name)
		t := target{What: fmt.Sprintf("%s: server CPU per request ≤ 8 µs above bare", name)}
		if ok && s.CPUDelta.N > 0 {
			t.Known = true
			t.Met = s.CPUDelta.Median <= 8
			t.Measured = fmt.Sprintf("+%.1f µs (median; min %+.1f, max %+.1f)", s.CPUDelta.Median, s.CPUDelta.Min, s.CPUDelta.Max)
		}
		ts = append(ts, t)
	}
	for _, name := range []string{vMetadata, vIntegrity} {
		s, ok := rep.summary(name)
		t := target{What: fmt.Sprintf("%s: throughput ≥ 2 × the audit table's", name)}
		if ok && s.VsTable.N > 0 {
			t.Known = true
			t.Met = s.VsTable.Median >= 2
			t.Measured = fmt.Sprintf("%.2f × (median; min %.2f, max %.2f)", s.VsTable.Median, s.VsTable.Min, s.VsTable.Max)
		}
		ts = append(ts, t)
	}
	return ts
}

// Markdown renders the report.
func (rep *Report) Markdown() string {
	var b strings.Builder
	c := rep.Config
	fmt.Fprintf(&b, "# httpbench: activitylog beside the log line and the audit table\n\n")
	fmt.Fprintf(&b, "Generated by `%s` on %s. The stores and the pipeline (ingest per backend, query latency, verify throughput) are in [stores.md](stores.md), from `-stores`.\n\n", strings.TrimSpace(rep.Command), rep.Start.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "Machine: %d cores, %s, %s, %s; load average %s before, %s after.\n\n",
		rep.Machine.Cores, rep.Machine.CPU, rep.Machine.Go, rep.Machine.OS, rep.Machine.LoadBefore, rep.Machine.LoadAfter)
	fmt.Fprintf(&b, "Load: internal/loadgen, closed loop, %d workers, in its own process; %s measured after %s of warm-up, per variant per round; %d rounds, the variants alternating (A B C … A B C …). Each variant is a server in its own process on 127.0.0.1, started afresh each round; its CPU time (getrusage) and allocations (runtime.MemStats) are read by the harness before and after the measured load, after the variant flushed what it buffers. The client shares the cores with the server.\n\n",
		c.Workers, c.Duration, c.Warmup, c.Rounds)
	fmt.Fprintf(&b, "Medians over the rounds. CPU µs/req is the server process's; the client's (the last column) is on the same cores, so a closed loop's throughput ratio is roughly (bare's server + client CPU) ÷ (the variant's server + client CPU), and CPU per request is the steadier figure on a shared machine. Ratios are min / median / max over the rounds, each to the baseline measured in the same round (bare, or bare-1k for the 1 KB variant).\n\n")
	fmt.Fprintf(&b, "| variant | req/s | ratio to bare | p50 µs | p99 µs | CPU µs/req | CPU above bare, µs | allocs/req | allocs ratio | stored / sent | client CPU µs/req |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range rep.Summaries {
		stored := "–"
		if s.Info.audits {
			stored = fmt.Sprintf("%d / %d", s.Stored, s.Sent)
			if len(s.Mismatches) > 0 || s.Lost > 0 {
				stored += " **MISMATCH**"
			}
		}
		delta := "–"
		if s.Info.baseline != s.Info.name {
			delta = fmt.Sprintf("%+.1f / %+.1f / %+.1f", s.CPUDelta.Min, s.CPUDelta.Median, s.CPUDelta.Max)
		}
		ratio, allocR := s.Ratio.String(), s.AllocRatio.String()
		fmt.Fprintf(&b, "| %s | %.0f | %s | %.0f | %.0f | %.1f | %s | %.1f | %s | %s | %.1f |\n",
			s.Info.name, s.RPS.Median, ratio, s.P50.Median, s.P99.Median, s.CPU.Median, delta, s.Allocs.Median, allocR, stored, s.ClientCPU.Median)
	}
	fmt.Fprintf(&b, "\nThe variants:\n\n")
	for _, s := range rep.Summaries {
		fmt.Fprintf(&b, "- **%s**: %s.\n", s.Info.name, s.Info.what)
	}
	fmt.Fprintf(&b, "\n## Targets (issue 10)\n\n| target | measured | |\n|---|---|---|\n")
	for _, t := range rep.Targets() {
		verdict := "not measured"
		if t.Known {
			verdict = "not met"
			if t.Met {
				verdict = "met"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.What, t.Measured, verdict)
	}
	fmt.Fprintf(&b, "\n## Claims CI guards\n\n")
	if errs := rep.Failures(); len(errs) == 0 {
		fmt.Fprintf(&b, "Both hold: activitylog's ratio to bare is at least the audit table's, and every auditing variant stored as many events as requests were sent, with none lost.\n")
	} else {
		for _, e := range errs {
			fmt.Fprintf(&b, "- FAILED: %v\n", e)
		}
	}
	fmt.Fprintf(&b, "\n## Rounds\n\n| round | variant | req/s | p50 µs | p99 µs | CPU µs/req | allocs/req | sent | errors | stored |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.Rounds {
		stored := "–"
		if r.Stored >= 0 {
			stored = fmt.Sprint(r.Stored)
		}
		fmt.Fprintf(&b, "| %d | %s | %.0f | %.0f | %.0f | %.1f | %.1f | %d | %d | %s |\n", r.Round, r.Variant, r.RPS,
			float64(r.P50.Nanoseconds())/1e3, float64(r.P99.Nanoseconds())/1e3, r.CPUPerReq(), r.AllocsPerReq(), r.Sent, r.Errors, stored)
	}
	return b.String()
}

// WriteFiles writes httpbench.md, httpbench.svg and httpbench.json into
// dir, creating it.
func (rep *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create results directory: %w", err)
	}
	raw, err := json.MarshalIndent(struct {
		Command string  `json:"command"`
		Machine Machine `json:"machine"`
		Rounds  []Round `json:"rounds"`
	}{rep.Command, rep.Machine, rep.Rounds}, "", "  ")
	if err != nil {
		return err
	}
	md := rep.Markdown() + "\n![chart](httpbench.svg)\n"
	return errors.Join(
		os.WriteFile(filepath.Join(dir, "httpbench.md"), []byte(md), 0o644),
		os.WriteFile(filepath.Join(dir, "httpbench.svg"), []byte(rep.SVG()), 0o644),
		os.WriteFile(filepath.Join(dir, "httpbench.json"), append(raw, '\n'), 0o644),
	)
}

// SVG renders two horizontal bar charts: throughput as a ratio to bare
// (median, with the min–max range), and server CPU per request (median,
// the part above the baseline shaded).
func (rep *Report) SVG() string {
	const (
		labelW = 190
		panelW = 330
		gap    = 40
		rowH   = 30
		top    = 56
	)
	n := len(rep.Summaries)
	width := labelW + 2*panelW + gap + 30
	height := top + n*rowH + 50
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14" font-weight="bold">httpbench: %d rounds × %s, %d workers, %d cores (%s)</text>`+"\n",
		rep.Config.Rounds, rep.Config.Duration, rep.Config.Workers, rep.Machine.Cores, html.EscapeString(rep.Machine.CPU))
	x1 := labelW
	x2 := labelW + panelW + gap
	fmt.Fprintf(&b, `<text x="%d" y="44" font-weight="bold">throughput ÷ bare (median; line: min–max)</text>`+"\n", x1)
	fmt.Fprintf(&b, `<text x="%d" y="44" font-weight="bold">server CPU µs per request (median)</text>`+"\n", x2)
	maxRatio := 1.0
	maxCPU := 0.0
	for _, s := range rep.Summaries {
		maxRatio = max(maxRatio, s.Ratio.Max)
		maxCPU = max(maxCPU, s.CPU.Median)
	}
	if maxCPU <= 0 {
		maxCPU = 1
	}
	scaleR := float64(panelW-50) / maxRatio
	scaleC := float64(panelW-50) / maxCPU
	bottom := top + n*rowH
	// The line at ratio 1 (bare).
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#888" stroke-dasharray="3,3"/>`+"\n", float64(x1)+scaleR, top-4, float64(x1)+scaleR, bottom)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#666" text-anchor="middle">1.0</text>`+"\n", float64(x1)+scaleR, bottom+14)
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#666">0</text>`+"\n", x1, bottom+14)
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#666">0</text>`+"\n", x2, bottom+14)
	for i, s := range rep.Summaries {
		y := top + i*rowH
		color := "#4c78a8"
		switch {
		case !s.Info.audits:
			color = "#9e9e9e"
		case strings.HasPrefix(s.Info.name, "activitylog"):
			color = "#2e7d32"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW-8, y+rowH/2+4, html.EscapeString(s.Info.name))
		// Throughput ratio.
		w := s.Ratio.Median * scaleR
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", x1, y+6, w, rowH-12, color)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`+"\n", float64(x1)+s.Ratio.Min*scaleR, y+rowH/2, float64(x1)+s.Ratio.Max*scaleR, y+rowH/2)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.2f</text>`+"\n", float64(x1)+max(w, s.Ratio.Max*scaleR)+4, y+rowH/2+4, s.Ratio.Median)
		// CPU per request, the baseline's part lighter.
		cw := s.CPU.Median * scaleC
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s" fill-opacity="0.35"/>`+"\n", x2, y+6, cw, rowH-12, color)
		if base, ok := rep.summary(s.Info.baseline); ok && s.Info.baseline != s.Info.name {
			bw := min(base.CPU.Median*scaleC, cw)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", float64(x2)+bw, y+6, cw-bw, rowH-12, color)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d">%.1f</text>`+"\n", float64(x2)+cw+4, y+rowH/2+4, s.CPU.Median)
	}
	fmt.Fprintf(&b, `<text x="10" y="%d" fill="#666">grey: no auditing; blue: the alternatives; green: activitylog. CPU: the dark part is above the baseline.</text>`+"\n", height-10)
	b.WriteString("</svg>\n")
	return b.String()
}
