// Command loadgen sends HTTP requests at a constant rate (open loop) or
// from a fixed number of workers (closed loop) and prints the
// throughput, the latency quantiles and the answers by status:
//
//	loadgen -target http://127.0.0.1:8080/demo/products -rate 500 -duration 60s
//	loadgen -target 'POST http://127.0.0.1:8080/demo/orders {"product_id":"p-1","quantity":1}' -workers 32 -json
//
// It runs apart from the server so that the server's CPU time can be
// measured alone. See package internal/loadgen.
package main

import (
	"os"

	"github.com/activitylog/activitylog/internal/loadgen"
)

func main() {
	os.Exit(loadgen.Main(os.Args[1:], os.Stdout, os.Stderr))
}
