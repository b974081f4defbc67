// Package bench holds the benchmarks that measure activitylog's parts
// together, as a service meets them, each against a baseline measured
// in the same run: the HTTP capture with JWT verification, user-agent
// parsing and GeoIP (capture_test.go). BENCHMARKS.md reports them as
// ratios.
package bench
