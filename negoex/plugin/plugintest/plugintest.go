// Package plugintest lets a plugin author test a scheme through the real plugin bridge
// without building a binary: the scheme is served in process by the same gRPC service a
// plugin binary runs (plugin.GRPCPlugin), over an in-memory connection, and the test
// drives it with the raw client the host uses.
//
//	func TestHandshake(t *testing.T) {
//		c := plugintest.Client(t, myscheme.New())
//		d, err := c.Describe(t.Context(), &pluginv1.DescribeRequest{})
//		...
//	}
package plugintest

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/gossp/gossp/negoex/plugin"
	pluginv1 "github.com/gossp/gossp/proto/gossp/plugin/v1"
	"github.com/gossp/gossp/sspi"
)

// maxMessageSize mirrors the plugin protocol's gRPC message limit (64 MiB), which both
// plugin.Serve's server and the host's client apply.
const maxMessageSize = 64 << 20

// Client serves scheme in process and returns a client connected to it, the raw
// generated client a host wraps. Each call is a separate server, as each plugin binary is
// a separate process. It fails the test if scheme cannot be served (plugin.Serve would
// refuse it too); everything is stopped when the test ends.
//
// Calls go through gRPC and protobuf as in production: handles are the caller's to
// allocate (nonzero, unique among live ones), and outcomes are in each response's
// Result.
func Client(t testing.TB, scheme sspi.Package) pluginv1.AuthSchemeServiceClient {
	t.Helper()
	p := &plugin.GRPCPlugin{Impl: scheme, Logger: logger(t)}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxMessageSize), grpc.MaxSendMsgSize(maxMessageSize))
	if err := p.GRPCServer(nil, srv); err != nil {
		t.Fatalf("plugintest: cannot serve the scheme: %v", err)
	}
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///plugintest",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize), grpc.MaxCallSendMsgSize(maxMessageSize)),
	)
	if err != nil {
		srv.Stop()
		t.Fatalf("plugintest: %v", err)
	}
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
	})
	raw, err := p.GRPCClient(context.Background(), nil, conn)
	if err != nil {
		t.Fatalf("plugintest: %v", err)
	}
	return raw.(pluginv1.AuthSchemeServiceClient)
}

// logger sends the bridge's own events (a scheme that panicked, with its stack) to the
// test's log, and drops them once the test has ended.
func logger(t testing.TB) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}
