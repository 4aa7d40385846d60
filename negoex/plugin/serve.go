package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginv1 "github.com/gossp/gossp/proto/gossp/plugin/v1"
	"github.com/gossp/gossp/sspi"
)

// ServeOption adjusts Serve.
type ServeOption func(*serveConfig)

type serveConfig struct {
	grpcOpts []grpc.ServerOption
	logger   *slog.Logger
}

// WithGRPCServerOptions adds options to the gRPC server Serve builds. The message size
// limits of the plugin protocol are applied after them and win.
func WithGRPCServerOptions(opts ...grpc.ServerOption) ServeOption {
	return func(c *serveConfig) { c.grpcOpts = append(c.grpcOpts, opts...) }
}

// WithLogger sets the logger of the bridge's own events (a scheme that panicked, a
// context whose Close failed). The default is NewLogger(slog.LevelInfo). The logger must
// not write to stdout.
func WithLogger(l *slog.Logger) ServeOption {
	return func(c *serveConfig) { c.logger = l }
}

// Serve serves scheme as a gossp plugin and returns when the host ends the plugin. A
// plugin's main calls it and nothing else of note:
//
//	func main() {
//		plugin.Serve(myscheme.New())
//	}
//
// A plugin must never write to stdout, and above all not before Serve: go-plugin's
// handshake line goes there, and anything ahead of it makes the host refuse the plugin.
// Log to stderr (NewLogger does), which the host forwards into its own log.
//
// scheme must be a NegoEx auth scheme: its Info has CapNegotiable2 and a non-zero
// AuthScheme GUID. Otherwise, or when the binary is run by hand rather than by a host,
// Serve says why on stderr and exits with status 1.
func Serve(scheme sspi.Package, opts ...ServeOption) {
	cfg := serveConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = NewLogger(slog.LevelInfo)
	}
	if err := checkServable(scheme); err != nil {
		fmt.Fprintf(os.Stderr, "gossp plugin: %v\n", err)
		os.Exit(1)
	}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]goplugin.PluginSet{
			ProtocolVersion: {pluginName: &GRPCPlugin{Impl: scheme, Logger: cfg.logger}},
		},
		GRPCServer: func(tlsOpts []grpc.ServerOption) *grpc.Server {
			return newPluginGRPCServer(append(tlsOpts, cfg.grpcOpts...))
		},
		// hclog only here, at go-plugin's boundary: JSON lines on stderr, which the
		// host's go-plugin parses back into levelled log entries.
		Logger: hclog.New(&hclog.LoggerOptions{
			Name:       "gossp-plugin",
			Level:      hclog.Info,
			Output:     os.Stderr,
			JSONFormat: true,
		}),
	})
}

// newPluginGRPCServer builds the server Serve runs: the transport's defaults, opts, then
// the protocol's message limits.
//
// The defaults suit one host on a local socket: static flow-control windows, as the
// host's (no BDP pings and window updates with every call), and stream workers, which
// run calls on goroutines whose stacks have grown already instead of a fresh goroutine
// per call growing its stack through a scheme's cryptography each time.
func newPluginGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append([]grpc.ServerOption{
		grpc.InitialWindowSize(flowWindow),
		grpc.InitialConnWindowSize(flowWindow),
		grpc.NumStreamWorkers(uint32(runtime.GOMAXPROCS(0))),
	}, opts...)
	opts = append(opts,
		grpc.MaxRecvMsgSize(maxMessageSize),
		grpc.MaxSendMsgSize(maxMessageSize))
	return grpc.NewServer(opts...)
}

// checkServable refuses what cannot be served as a NegoEx auth scheme.
func checkServable(scheme sspi.Package) error {
	if scheme == nil {
		return errors.New("no scheme to serve")
	}
	info := scheme.Info()
	switch {
	case info.Name == "":
		return errors.New("the scheme has no name")
	case info.Capabilities&sspi.CapNegotiable2 == 0:
		return fmt.Errorf("scheme %s lacks CapNegotiable2: NegoEx cannot negotiate it", info.Name)
	case info.AuthScheme.IsZero():
		return fmt.Errorf("scheme %s has no auth scheme GUID", info.Name)
	}
	return nil
}

// GRPCPlugin is the go-plugin plugin of the gossp protocol, for both ends: the plugin
// serves Impl with it, and the host dispenses the raw generated client with it.
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin

	// Impl is the scheme served; only the plugin side sets it.
	Impl sspi.Package
	// Logger receives the bridge's own events on the plugin side; nil discards them.
	Logger *slog.Logger
}

var _ goplugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the AuthSchemeService serving p.Impl on s. It fails when Impl is
// not a NegoEx auth scheme (see Serve).
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	if err := checkServable(p.Impl); err != nil {
		return err
	}
	pluginv1.RegisterAuthSchemeServiceServer(s, newSchemeServer(p.Impl, p.Logger))
	return nil
}

// GRPCClient returns the raw generated client, a pluginv1.AuthSchemeServiceClient, for
// the host to wrap.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return pluginv1.NewAuthSchemeServiceClient(c), nil
}

// NewLogger returns a log/slog logger for plugin code: JSON lines on stderr in the shape
// hclog writes (@level, @message, @timestamp), so the host's go-plugin reads each entry
// with its level and attributes and forwards it into the application's log. Pass it to
// the scheme being served; never log to stdout.
func NewLogger(level slog.Leveler) *slog.Logger {
	return newPluginLogger(os.Stderr, level)
}

func newPluginLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				// The exact layout go-plugin's host parses.
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				return slog.String("@level", hclogLevelName(a.Value))
			case slog.MessageKey:
				return slog.Attr{Key: "@message", Value: a.Value}
			}
			return a
		},
	}))
}

// hclogLevelName names a slog level as hclog does.
func hclogLevelName(v slog.Value) string {
	l, ok := v.Any().(slog.Level)
	if !ok {
		return strings.ToLower(v.String())
	}
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}
