//go:build noconsole

package main

import "net/http"

// consoleBuilt says whether this build serves the web console: not
// with the noconsole build tag.
const consoleBuilt = false

// mountAPI mounts the API at /, which answers every path: without the
// console, an unknown path gets the API's JSON 404.
func mountAPI(mux *http.ServeMux, api http.Handler, _ bool) {
	mux.Handle("/", api)
}
