package grpcaudit_test

import (
	"context"
	"net"
	"testing"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/grpcaudit"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
)

type discardRecorder struct{}

func (discardRecorder) Record(context.Context, activitylog.Event) error { return nil }

type discardWriter struct{}

func (discardWriter) Write(context.Context, []activitylog.Event) error { return nil }

// benchConn serves the echo service over an in-memory listener with
// the given server options and returns a client with the given dial
// options. Everything stops when the benchmark ends.
func benchConn(b *testing.B, sopts []grpc.ServerOption, dopts ...grpc.DialOption) *grpc.ClientConn {
	b.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(sopts...)
	srv.RegisterService(&echoDesc, struct{}{})
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(lis)
	}()
	dopts = append(dopts,
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.CallContentSubtype(codecName)),
	)
	conn, err := grpc.NewClient("passthrough:///bufnet", dopts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		conn.Close()
		srv.Stop()
		<-served
	})
	return conn
}

func runUnary(b *testing.B, conn *grpc.ClientConn) {
	ctx := context.Background()
	in := "hello"
	var out string
	if err := conn.Invoke(ctx, echoMethod, &in, &out); err != nil { // connect outside the loop
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := conn.Invoke(ctx, echoMethod, &in, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUnaryBare is the baseline: a unary call over bufconn, no
// interceptor.
func BenchmarkUnaryBare(b *testing.B) {
	runUnary(b, benchConn(b, nil))
}

// BenchmarkUnaryServer adds the server interceptor with a Recorder that
// discards: the interceptor's own cost.
func BenchmarkUnaryServer(b *testing.B) {
	runUnary(b, benchConn(b, []grpc.ServerOption{
		grpc.UnaryInterceptor(grpcaudit.UnaryServerInterceptor(discardRecorder{}, nil)),
	}))
}

// BenchmarkUnaryServerClient adds the client interceptor too, which
// sends a request id on.
func BenchmarkUnaryServerClient(b *testing.B) {
	runUnary(b, benchConn(b, []grpc.ServerOption{
		grpc.UnaryInterceptor(grpcaudit.UnaryServerInterceptor(discardRecorder{}, nil)),
	}, grpc.WithUnaryInterceptor(grpcaudit.UnaryClientInterceptor(discardRecorder{}, nil))))
}

// BenchmarkUnaryServerRecorder puts a real *activitylog.Recorder (async,
// dropping when full) in front of a Writer that discards: what a
// service pays per call. Allocations are counted across all
// goroutines, the batcher's included.
func BenchmarkUnaryServerRecorder(b *testing.B) {
	rec := activitylog.NewRecorder(discardWriter{}, &activitylog.Options{OnFull: activitylog.Drop})
	b.Cleanup(func() { rec.Shutdown(context.Background()) })
	runUnary(b, benchConn(b, []grpc.ServerOption{
		grpc.UnaryInterceptor(grpcaudit.UnaryServerInterceptor(rec, nil)),
	}))
}
