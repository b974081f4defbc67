//go:build race

package browser

// raceBuild stretches the default timeouts: with the race detector the
// servers under test run several times slower.
const raceBuild = true
