package grpcaudit_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/grpcaudit"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// TestMain fails the run when goroutines started by the tests (servers,
// connections, streams) outlive them. It does not check while fuzzing,
// whose engine keeps goroutines of its own.
func TestMain(m *testing.M) {
	before := runtime.NumGoroutine()
	code := m.Run()
	if f := flag.Lookup("test.fuzz"); code == 0 && (f == nil || f.Value.String() == "") {
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			fmt.Fprintf(os.Stderr, "%d goroutines leaked:\n%s\n", n-before, buf)
			code = 1
		}
	}
	os.Exit(code)
}

// The test service needs no protoc: its messages are strings, carried
// by a codec registered under its own content subtype.
const codecName = "grpcaudit-test"

type stringCodec struct{}

func (stringCodec) Marshal(v any) ([]byte, error) { return []byte(*v.(*string)), nil }
func (stringCodec) Unmarshal(data []byte, v any) error {
	*v.(*string) = string(data)
	return nil
}
func (stringCodec) Name() string { return codecName }

func init() { encoding.RegisterCodec(stringCodec{}) }

const (
	echoMethod   = "/test.Echo/Echo"
	streamMethod = "/test.Echo/Stream"
)

// echoService answers by what it is sent:
//
//   - "panic": panics.
//   - "code:N": fails with code N.
//   - "ctxerr": fails with context.Canceled, not a status error.
//   - "actor": names actor 7 with SetActor.
//   - "request": answers with the JSON of the activitylog.Request in its
//     context and of the x-request-id and traceparent metadata.
//   - anything else: echoes it.
//
// Its stream echoes every message until the client closes, and handles
// "panic" and "code:N" as above.
var echoDesc = grpc.ServiceDesc{
	ServiceName: "test.Echo",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Echo",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := new(string)
			if err := dec(in); err != nil {
				return nil, err
			}
			if interceptor == nil {
				return echo(ctx, in)
			}
			info := &grpc.UnaryServerInfo{Server: srv, FullMethod: echoMethod}
			return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
				return echo(ctx, req.(*string))
			})
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Stream",
		ServerStreams: true,
		ClientStreams: true,
		Handler: func(_ any, ss grpc.ServerStream) error {
			for {
				var m string
				if err := ss.RecvMsg(&m); errors.Is(err, io.EOF) {
					return nil
				} else if err != nil {
					return err
				}
				if r, err := reply(ss.Context(), m); err != nil {
					return err
				} else if err := ss.SendMsg(&r); err != nil {
					return err
				}
			}
		},
	}},
}

var streamDesc = &echoDesc.Streams[0]

func echo(ctx context.Context, in *string) (any, error) {
	out, err := reply(ctx, *in)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

type seen struct {
	Request     *activitylog.Request `json:"request"`
	RequestID   []string             `json:"x_request_id"`
	Traceparent []string             `json:"traceparent"`
}

func reply(ctx context.Context, in string) (string, error) {
	switch {
	case in == "panic":
		panic("boom")
	case strings.HasPrefix(in, "code:"):
		n, _ := strconv.Atoi(strings.TrimPrefix(in, "code:"))
		return "", status.Error(codes.Code(n), "failed with "+codes.Code(n).String())
	case in == "ctxerr":
		return "", context.Canceled
	case in == "actor":
		grpcaudit.SetActor(ctx, activitylog.Actor{ID: "7", Name: "Ann"})
	case in == "request":
		md, _ := metadata.FromIncomingContext(ctx)
		b, err := json.Marshal(seen{activitylog.RequestFrom(ctx), md.Get("x-request-id"), md.Get("traceparent")})
		return string(b), err
	}
	return in, nil
}

// collector is a Recorder that keeps what it is given.
type collector struct {
	err error // returned by every Record

	mu     sync.Mutex
	events []activitylog.Event
	ctxs   []context.Context
}

func (c *collector) Record(ctx context.Context, e activitylog.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
	c.ctxs = append(c.ctxs, ctx)
	return c.err
}

func (c *collector) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events, c.ctxs = nil, nil
}

// errs collects what OnError is given, from any goroutine.
type errs struct {
	mu   sync.Mutex
	list []error
}

func (e *errs) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, err)
}

func (e *errs) get() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.list...)
}

func (c *collector) all() []activitylog.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]activitylog.Event(nil), c.events...)
}

// one returns the only event recorded, failing unless exactly one was.
// The server records before it sends the status, and the client before
// its call returns, so the event is there once the call is over.
func (c *collector) one(t *testing.T) activitylog.Event {
	t.Helper()
	e, _ := c.oneCtx(t)
	return e
}

func (c *collector) oneCtx(t *testing.T) (activitylog.Event, context.Context) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.events) != 1 {
		t.Fatalf("recorded %d events, want 1: %+v", len(c.events), c.events)
	}
	return c.events[0], c.ctxs[0]
}

// waitOne is one for events that may be recorded after the call
// returns (a stream the client abandons).
func (c *collector) waitOne(t *testing.T) activitylog.Event {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		c.mu.Lock()
		n := len(c.events)
		c.mu.Unlock()
		if n > 0 {
			break
		}
	}
	return c.one(t)
}

// setup is a server and a client connected over loopback TCP.
type setup struct {
	server, client *collector
	conn           *grpc.ClientConn
}

// start runs the echo service on 127.0.0.1 behind the server
// interceptors, with extra unary interceptors after them, and connects
// a client, through the client interceptors when clientOpts is not
// nil. Both stop when the test ends.
func start(t *testing.T, serverOpts, clientOpts *grpcaudit.Options, extra ...grpc.UnaryServerInterceptor) *setup {
	t.Helper()
	s := &setup{server: &collector{}, client: &collector{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unary := append([]grpc.UnaryServerInterceptor{grpcaudit.UnaryServerInterceptor(s.server, serverOpts)}, extra...)
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(grpcaudit.StreamServerInterceptor(s.server, serverOpts)),
	)
	srv.RegisterService(&echoDesc, struct{}{})
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(lis)
	}()

	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.CallContentSubtype(codecName)),
		grpc.WithUserAgent("audit-test/1.0"),
	}
	if clientOpts != nil {
		dial = append(dial,
			grpc.WithChainUnaryInterceptor(grpcaudit.UnaryClientInterceptor(s.client, clientOpts)),
			grpc.WithChainStreamInterceptor(grpcaudit.StreamClientInterceptor(s.client, clientOpts)),
		)
	}
	s.conn, err = grpc.NewClient("passthrough:///"+lis.Addr().String(), dial...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.conn.Close()
		srv.Stop()
		<-served
	})
	return s
}

// call makes one unary call with in and returns the reply.
func (s *setup) call(ctx context.Context, in string) (string, error) {
	var out string
	err := s.conn.Invoke(ctx, echoMethod, &in, &out)
	return out, err
}

// stream sends msgs on one stream, closes it, and reads until the end.
func (s *setup) stream(ctx context.Context, msgs ...string) ([]string, error) {
	cs, err := s.conn.NewStream(ctx, streamDesc, streamMethod)
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if err := cs.SendMsg(&m); err != nil {
			break // the status comes from RecvMsg
		}
	}
	if err := cs.CloseSend(); err != nil {
		return nil, err
	}
	var got []string
	for {
		var m string
		err := cs.RecvMsg(&m)
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, m)
	}
}
