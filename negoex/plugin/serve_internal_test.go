package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/gossp/gossp/packages/psk"
	pluginv1 "github.com/gossp/gossp/proto/gossp/plugin/v1"
	"github.com/gossp/gossp/sspi"
)

// TestGRPCPluginDispense: the host dispenses GRPCPlugin through go-plugin and gets the
// raw generated client.
func TestGRPCPluginDispense(t *testing.T) {
	client, server := goplugin.TestPluginGRPCConn(t, false, map[string]goplugin.Plugin{
		pluginName: &GRPCPlugin{Impl: psk.New(psk.Config{})},
	})
	_ = server
	t.Cleanup(func() { client.Close() }) // asks the server to stop, as a host does
	raw, err := client.Dispense(pluginName)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := raw.(pluginv1.AuthSchemeServiceClient)
	if !ok {
		t.Fatalf("dispensed %T, want pluginv1.AuthSchemeServiceClient", raw)
	}
	d, err := c.Describe(t.Context(), &pluginv1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.GetName() != psk.Name || d.GetAuthScheme() != psk.AuthScheme.String() {
		t.Errorf("Describe = %v", d)
	}
}

// TestServeServerLimits: the server Serve builds takes messages beyond grpc's 4 MiB
// default, and keeps options it is given.
func TestServeServerLimits(t *testing.T) {
	var intercepted bool
	srv := newPluginGRPCServer([]grpc.ServerOption{grpc.ChainUnaryInterceptor(
		func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			intercepted = true
			return h(ctx, req)
		})})
	if err := (&GRPCPlugin{Impl: psk.New(psk.Config{})}).GRPCServer(nil, srv); err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient("passthrough:///limits",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(maxMessageSize), grpc.MaxCallRecvMsgSize(maxMessageSize)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pluginv1.NewAuthSchemeServiceClient(conn)
	big := bytes.Repeat([]byte(" "), 6<<20) // JSON whitespace: no configuration, 6 MiB of it
	r, err := c.Configure(t.Context(), &pluginv1.ConfigureRequest{Config: big})
	if err != nil {
		t.Fatalf("a 6 MiB request: %v", err)
	}
	if st := sspi.Status(r.GetResult().GetStatus()); st != sspi.StatusOK {
		t.Errorf("Configure: %v", st)
	}
	if !intercepted {
		t.Error("the caller's server option was dropped")
	}
}

// TestNewLogger: plugin logs are JSON lines go-plugin's host reads as hclog entries.
func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	l := newPluginLogger(&buf, slog.LevelDebug)
	l.Warn("hello", "k", "v", slog.Group("g", "level", "x"))
	l.Log(t.Context(), slog.LevelDebug-4, "fine")
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 1 {
		t.Fatalf("%d lines, want 1 (trace is below debug):\n%s", len(lines), buf.Bytes())
	}
	var e map[string]any
	if err := json.Unmarshal(lines[0], &e); err != nil {
		t.Fatal(err)
	}
	if e["@level"] != "warn" || e["@message"] != "hello" || e["k"] != "v" {
		t.Errorf("entry %v", e)
	}
	if g, _ := e["g"].(map[string]any); g["level"] != "x" {
		t.Errorf("a grouped attribute was renamed: %v", e)
	}
	ts, _ := e["@timestamp"].(string)
	if _, err := time.Parse("2006-01-02T15:04:05.000000Z07:00", ts); err != nil {
		t.Errorf("@timestamp %q is not in go-plugin's layout: %v", ts, err)
	}
	for _, k := range []string{"level", "msg", "time"} {
		if _, ok := e[k]; ok {
			t.Errorf("slog's own key %q is left: %v", k, e)
		}
	}
	for l, want := range map[slog.Level]string{
		slog.LevelDebug - 4: "trace", slog.LevelDebug: "debug", slog.LevelInfo: "info",
		slog.LevelWarn: "warn", slog.LevelError: "error", slog.LevelError + 4: "error",
	} {
		if got := hclogLevelName(slog.AnyValue(l)); got != want {
			t.Errorf("level %v is %q, want %q", l, got, want)
		}
	}
}
