package grpcaudit_test

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/activitylog/activitylog"
	"github.com/activitylog/activitylog/grpcaudit"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/test/bufconn"
)

// printWriter stands in for a store: it prints what the Recorder
// writes.
type printWriter struct{}

func (printWriter) Write(_ context.Context, events []activitylog.Event) error {
	for _, e := range events {
		fmt.Printf("%s %s %q status=%d actor=%s\n", e.Kind, e.Action, e.Message, e.Response.Status, e.Actor.ID)
	}
	return nil
}

func Example() {
	rec := activitylog.NewRecorder(printWriter{}, &activitylog.Options{Service: "orders"})

	// The server records every call but the Watch streams of load
	// balancers.
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(grpcaudit.UnaryServerInterceptor(rec, &grpcaudit.Options{
			Skip: func(method string) bool { return strings.HasSuffix(method, "/Watch") },
		})),
	)
	hs := health.NewServer()
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	lis := bufconn.Listen(1 << 16)
	go srv.Serve(lis)
	defer srv.Stop()

	// The client records every call it makes and sends the request id
	// and trace of its context on.
	conn, err := grpc.NewClient("passthrough:///orders",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(grpcaudit.UnaryClientInterceptor(rec, nil)),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()

	ctx := activitylog.WithActor(context.Background(), activitylog.Actor{ID: "42"})
	client := healthpb.NewHealthClient(conn)
	client.Check(ctx, &healthpb.HealthCheckRequest{Service: "orders"})
	client.Check(ctx, &healthpb.HealthCheckRequest{Service: "billing"})

	// The actor does not cross the wire: on the server, an
	// authentication interceptor would name it with SetActor.
	rec.Shutdown(context.Background())
	// Output:
	// request /grpc.health.v1.Health/Check "/grpc.health.v1.Health/Check → OK" status=200 actor=
	// external /grpc.health.v1.Health/Check "/grpc.health.v1.Health/Check → OK" status=200 actor=42
	// request /grpc.health.v1.Health/Check "/grpc.health.v1.Health/Check → NOT_FOUND" status=404 actor=
	// external /grpc.health.v1.Health/Check "/grpc.health.v1.Health/Check → NOT_FOUND" status=404 actor=42
}
