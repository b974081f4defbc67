//go:build !noconsole

package main

import (
	"net/http"

	"github.com/activitylog/activitylog/console"
)

// consoleBuilt says whether this build serves the web console; the
// noconsole build tag leaves it out (console_off.go).
const consoleBuilt = true

// mountAPI mounts the API and, at /, the web console (package console),
// which reads everything through the API beside it.
func mountAPI(mux *http.ServeMux, api http.Handler, readOnly bool) {
	mux.Handle("/api/", api)
	mux.Handle("/healthz", api)
	mux.Handle("/readyz", api)
	mux.Handle("/", console.Handler(&console.Options{ReadOnly: readOnly}))
}
