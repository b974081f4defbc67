// Package reliability holds the project's reliability tests, and
// nothing else: they start the real thing (the demo shop behind
// httpaudit, the REST API, the Recorder, the spool) over real stores,
// drive it from a load generator running as its own process
// (internal/loadgen), and check that every event is accounted for.
//
// # Tests
//
//   - TestLoad: the demo shop at a sustained rate and at its maximum,
//     audited and not, over SQLite and PostgreSQL. Under on_full=block
//     the events stored match the requests answered exactly. Throughput,
//     p99 latency and the server's CPU time per request are reported as
//     ratios, never asserted.
//   - TestOverload: a store slower than the traffic. Block loses
//     nothing; Drop and Fail count every loss exactly and record it in
//     audit_loss events; the ingest API answers 503 queue_full; the heap
//     stays bounded.
//   - TestFault*: PostgreSQL stopped and restarted under load with the
//     spool on, a spool that fills up, a process killed with SIGKILL
//     mid-batch, a clock that jumps by hours.
//
// # Running
//
// Under go test the runs are short (ACTIVITYLOG_TEST_RELIABILITY_SECONDS
// defaults to 3, ACTIVITYLOG_TEST_RELIABILITY_OUTAGE to 3);
// bench/reliability.sh runs the full versions (60 s of load, a 30 s
// outage). The PostgreSQL tests run when ACTIVITYLOG_TEST_POSTGRES_DSN
// (and, for the outage, ACTIVITYLOG_TEST_POSTGRES_BIN) is set. Each
// figure is logged as a line starting "reliability-result: " followed
// by JSON, for scripts; run with -v to see them. docs/reliability.md has
// the figures measured.
package reliability
