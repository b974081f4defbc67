//go:build race

package main

// raceEnabled: the race detector's instrumentation slows Go code many
// times over and C-transpiled SQLite differently, so the ratios it would
// measure say nothing about a real build.
const raceEnabled = true
