// Package metrics exposes activitylog's counters to Prometheus, with
// client_golang: the Recorder's events by kind (recorded, written,
// dropped, refused, failed), its queue depth, batch sizes and write
// latency; each fan-out target's counters; the spool; retention runs;
// verification failures; live-stream subscribers.
//
// Nothing is counted twice: the Collector reads the counters the
// components keep anyway (activitylog.Recorder.Stats, multi.Writer.Stats,
// spool.Fallback.Stats, …) when Prometheus scrapes, so recording an
// event costs nothing more with metrics on. Every metric's name starts
// with "activitylog_". No label holds a tenant, an actor or any other
// value of an event: the label values are kinds, writer names and
// fixed words, so a scrape reveals volumes, never content.
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(metrics.New(&metrics.Options{Recorder: rec}))
//	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
package metrics

import (
	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/multi"
	"github.com/activitylog/activitylog/spool"
	"github.com/prometheus/client_golang/prometheus"
)

// Namespace starts every metric's name.
const Namespace = "activitylog"

// RetentionStats are the retention scheduler's totals since start.
type RetentionStats struct {
	Runs     uint64 // policy runs, finished or failed
	Failures uint64 // of those, failed
	Deleted  uint64 // events deleted by the runs
}

// VerifyStats are the verifier's totals since start.
type VerifyStats struct {
	Runs     uint64 // verifications run
	Failures uint64 // of those, with a finding
	Findings uint64 // findings of every run: modified, missing, …
}

// Options says what a Collector reads. Every field is optional: a nil
// one's metrics are left out.
type Options struct {
	// Recorder gives the events by kind, the queue depth and the write
	// histograms (*activitylog.Recorder fits).
	Recorder interface{ Stats() activitylog.Stats }
	// Writer names the Recorder's Writer in the writer label. Default:
	// "store".
	Writer string
	// Targets gives a fan-out's targets (multi.Writer.Stats fits).
	Targets func() map[string]multi.TargetStats
	// Spool gives the local spool's counters (spool.Fallback.Stats
	// fits).
	Spool func() spool.FallbackStats
	// Retention, Verify and Subscribers give those totals.
	Retention   func() RetentionStats
	Verify      func() VerifyStats
	Subscribers func() int
}

// Collector is a prometheus.Collector over Options. It is safe for
// concurrent use.
type Collector struct {
	o Options

	events, queue, latency, batch                   *prometheus.Desc
	tBatches, tWritten, tFailures, tDropped, tQueue *prometheus.Desc
	tSpilled, tLost                                 *prometheus.Desc
	spEvents, spBytes, spSpooled, spReplayed        *prometheus.Desc
	spFailed                                        *prometheus.Desc
	rRuns, rFailures, rDeleted                      *prometheus.Desc
	vRuns, vFailures, vFindings                     *prometheus.Desc
	subs                                            *prometheus.Desc
	retries, lossEvents, spilled                    *prometheus.Desc
}

// New returns a Collector over o (nil means no source at all).
func New(o *Options) *Collector {
	c := &Collector{}
	if o != nil {
		c.o = *o
	}
	if c.o.Writer == "" {
		c.o.Writer = "store"
	}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(Namespace+"_"+name, help, labels, nil)
	}
	c.events = d("events_total", "Events by kind and outcome: recorded (accepted by Record), written (committed by the writer), dropped (not accepted: queue full under drop or block), refused (not accepted: queue full under fail), failed (accepted but never stored; each is reported in an audit_loss event).", "kind", "outcome", "writer")
	c.queue = d("queue_depth", "Events waiting in the Recorder's queue now.")
	c.latency = d("write_duration_seconds", "Time of each committed write to the writer, retries included.", "writer")
	c.batch = d("batch_size", "Events in each committed write.", "writer")
	c.retries = d("write_retries_total", "Write attempts that were retries.", "writer")
	c.spilled = d("events_spilled_total", "Events the writer failed to take for good (retries spent, or the shutdown deadline passed) that went to the spill (the local spool) instead of being lost.", "writer")
	c.lossEvents = d("loss_events_total", "audit_loss system events written (each reports events lost).")
	c.tBatches = d("target_batches_total", "Batches committed by each fan-out target.", "target")
	c.tWritten = d("target_events_written_total", "Events committed by each fan-out target.", "target")
	c.tFailures = d("target_write_failures_total", "Failed write attempts of each fan-out target.", "target")
	c.tDropped = d("target_events_dropped_total", "Events a fan-out target dropped (queue full, no spill).", "target")
	c.tSpilled = d("target_events_spilled_total", "Events a fan-out target handed to its spill.", "target")
	c.tLost = d("target_events_lost_total", "Events left in a fan-out target's queue at close.", "target")
	c.tQueue = d("target_queue_batches", "Batches waiting for or being written by each fan-out target.", "target")
	c.spEvents = d("spool_events", "Events waiting in the local spool now.")
	c.spBytes = d("spool_bytes", "Size of the local spool on disk now.")
	c.spSpooled = d("spool_events_spooled_total", "Events written to the spool because the store failed.")
	c.spReplayed = d("spool_events_replayed_total", "Events replayed from the spool into the store.")
	c.spFailed = d("spool_events_failed_total", "Events refused by both the store and the spool.")
	c.rRuns = d("retention_runs_total", "Retention policy runs.")
	c.rFailures = d("retention_run_failures_total", "Retention policy runs that failed.")
	c.rDeleted = d("retention_events_deleted_total", "Events deleted by retention runs.")
	c.vRuns = d("verify_runs_total", "Integrity verifications run.")
	c.vFailures = d("verify_failures_total", "Integrity verifications that reported a finding (the trail is not intact).")
	c.vFindings = d("verify_findings_total", "Findings of integrity verifications: modified, missing, inserted, reordered, truncated, bad signature, missing hash.")
	c.subs = d("stream_subscribers", "Live stream (SSE and WebSocket) subscribers now.")
	return c
}

// Describe sends the descriptions of the metrics c's sources give.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	if c.o.Recorder != nil {
		for _, d := range []*prometheus.Desc{c.events, c.queue, c.latency, c.batch, c.retries, c.lossEvents, c.spilled} {
			ch <- d
		}
	}
	if c.o.Targets != nil {
		for _, d := range []*prometheus.Desc{c.tBatches, c.tWritten, c.tFailures, c.tDropped, c.tSpilled, c.tLost, c.tQueue} {
			ch <- d
		}
	}
	if c.o.Spool != nil {
		for _, d := range []*prometheus.Desc{c.spEvents, c.spBytes, c.spSpooled, c.spReplayed, c.spFailed} {
			ch <- d
		}
	}
	if c.o.Retention != nil {
		ch <- c.rRuns
		ch <- c.rFailures
		ch <- c.rDeleted
	}
	if c.o.Verify != nil {
		ch <- c.vRuns
		ch <- c.vFailures
		ch <- c.vFindings
	}
	if c.o.Subscribers != nil {
		ch <- c.subs
	}
}

// Collect reads every source once and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if c.o.Recorder != nil {
		s := c.o.Recorder.Stats()
		for _, k := range activitylog.Kinds {
			ks := s.ByKind[k]
			counter(c.events, ks.Recorded, string(k), "recorded", c.o.Writer)
			counter(c.events, ks.Written, string(k), "written", c.o.Writer)
			counter(c.events, ks.Dropped, string(k), "dropped", c.o.Writer)
			counter(c.events, ks.Refused, string(k), "refused", c.o.Writer)
			counter(c.events, ks.Failed, string(k), "failed", c.o.Writer)
		}
		// Reserve's refusals have no kind yet.
		var refused uint64
		for _, ks := range s.ByKind {
			refused += ks.Refused
		}
		if s.Refused > refused {
			counter(c.events, s.Refused-refused, "", "refused", c.o.Writer)
		}
		gauge(c.queue, float64(s.QueueDepth))
		counter(c.retries, s.Retries, c.o.Writer)
		counter(c.lossEvents, s.LossEvents)
		counter(c.spilled, s.Spilled, c.o.Writer)
		histogram(ch, c.latency, s.WriteLatency, c.o.Writer)
		histogram(ch, c.batch, s.BatchSize, c.o.Writer)
	}
	if c.o.Targets != nil {
		for name, t := range c.o.Targets() {
			counter(c.tBatches, t.Batches, name)
			counter(c.tWritten, t.Written, name)
			counter(c.tFailures, t.Failures, name)
			counter(c.tDropped, t.Dropped, name)
			counter(c.tSpilled, t.Spilled, name)
			counter(c.tLost, t.Lost, name)
			gauge(c.tQueue, float64(t.Queued), name)
		}
	}
	if c.o.Spool != nil {
		s := c.o.Spool()
		gauge(c.spEvents, float64(s.SpoolEvents))
		gauge(c.spBytes, float64(s.SpoolBytes))
		counter(c.spSpooled, s.Spooled)
		counter(c.spReplayed, s.Replayed)
		counter(c.spFailed, s.Failed)
	}
	if c.o.Retention != nil {
		s := c.o.Retention()
		counter(c.rRuns, s.Runs)
		counter(c.rFailures, s.Failures)
		counter(c.rDeleted, s.Deleted)
	}
	if c.o.Verify != nil {
		s := c.o.Verify()
		counter(c.vRuns, s.Runs)
		counter(c.vFailures, s.Failures)
		counter(c.vFindings, s.Findings)
	}
	if c.o.Subscribers != nil {
		gauge(c.subs, float64(c.o.Subscribers()))
	}
}

func histogram(ch chan<- prometheus.Metric, d *prometheus.Desc, h activitylog.Histogram, labels ...string) {
	buckets := make(map[float64]uint64, len(h.Bounds))
	for i, b := range h.Bounds {
		buckets[b] = h.Counts[i]
	}
	ch <- prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets, labels...)
}
