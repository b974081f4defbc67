// Package racebuild tells tests whether the race detector is built in.
//
// Under the race detector, code runs several times slower, and SQLite
// (C translated to Go) slower still. A few long property and size tests
// use it to check fewer cases there: CI runs every test in full without
// the detector first, and the race step is for finding data races, which
// the shorter form still exercises.
package racebuild
