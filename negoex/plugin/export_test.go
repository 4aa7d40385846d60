package plugin

import (
	"context"
	"path"
	"sync"

	"google.golang.org/grpc"

	pluginv1 "github.com/gossp/gossp/proto/gossp/plugin/v1"
)

// CountCalls makes the hosts opened until restore count their calls into plugins, by
// method name. calls returns the counts since the last calls and starts again.
func CountCalls() (calls func() map[string]int, restore func()) {
	var mu sync.Mutex
	counts := map[string]int{}
	testDialOptions = []grpc.DialOption{grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		mu.Lock()
		counts[path.Base(method)]++
		mu.Unlock()
		return invoker(ctx, method, req, reply, cc, opts...)
	})}
	calls = func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		c := counts
		counts = map[string]int{}
		return c
	}
	return calls, func() { testDialOptions = nil }
}

// RawClient is the generated client of the live process of h's first package.
func RawClient(h *Host) pluginv1.AuthSchemeServiceClient {
	m := h.pkgs[0]
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rpc
}

// NewPluginGRPCServer and GRPCDialOptions are the two ends' gRPC settings.
var (
	NewPluginGRPCServer = newPluginGRPCServer
	GRPCDialOptions     = grpcDialOptions
)
