// Command readmeexample is the README's "Add it to a net/http service"
// snippet as a whole program, so that every build compiles it and a test
// runs it: its lines are the README's, in the same order
// (TestREADMESnippetIsThisProgram), with only a handler and the imports
// around them.
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/httpaudit"
	"github.com/activitylog/activitylog/sqlite"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })

	store, err := sqlite.Open("audit.db", nil) // github.com/activitylog/activitylog/sqlite
	if err != nil {
		log.Fatal(err)
	}
	rec := activitylog.NewRecorder(store, &activitylog.Options{Service: "shop"})
	srv := &http.Server{Addr: "127.0.0.1:3000", Handler: httpaudit.Middleware(rec, nil)(mux)} // one request event per call

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(); stop() }() // until Ctrl-C, SIGTERM or a listen error
	<-ctx.Done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(ctx)                         // lets the requests in flight finish,
	if err := rec.Shutdown(ctx); err != nil { // then writes everything still queued
		log.Print(err)
	}
	store.Close()
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err) // the port was taken, say: exit 1
	}
}
