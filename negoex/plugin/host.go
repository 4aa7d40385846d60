package plugin

import (
	"bufio"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gossp/gossp/negoex"
	pluginv1 "github.com/gossp/gossp/proto/gossp/plugin/v1"
	"github.com/gossp/gossp/sspi"
)

// HostConfig configures a Host.
type HostConfig struct {
	// Dir is the packages directory: one folder per package, each with a manifest
	// (package.json) and its binary.
	Dir string
	// Overrides are the operator's pins and switches by package name, from outside Dir
	// (see LoadOverrides).
	Overrides map[string]Override
	// Env names the environment variables plugins may see; everything else of the
	// host's environment is withheld.
	Env []string
	// StartTimeout bounds a plugin's start (handshake included); zero means 5 s.
	StartTimeout time.Duration
	// CallTimeout bounds every call into a plugin; zero means 10 s.
	CallTimeout time.Duration
	// MaxRestarts is how many crashes a plugin is restarted after before it is dropped;
	// zero means 3.
	MaxRestarts int
	// RestartBackoff is the first restart's delay, doubled each time; zero means 200 ms.
	RestartBackoff time.Duration
	// Logger receives the host's events and the plugins' logs; nil discards them.
	Logger *slog.Logger
}

// State is a package's state in the host.
type State string

// Package states.
const (
	StateRunning  State = "running"
	StateRefused  State = "refused"  // never started: see Reason
	StateDisabled State = "disabled" // turned off by its manifest or an override
	StateCrashed  State = "crashed"  // exited; a restart is pending
	StateDropped  State = "dropped"  // crashed too often; no longer offered
)

// PackageStatus describes one package folder as the host sees it.
type PackageStatus struct {
	Name       string
	AuthScheme string
	Version    string
	Dir        string
	Priority   int
	State      State
	Reason     string // why refused, disabled, crashed or dropped
	Restarts   int
}

// Host runs the plugins of a packages directory and offers their schemes to NegoEx.
// It is safe for concurrent use.
type Host struct {
	cfg    HostConfig
	logger *slog.Logger
	pkgs   []*managed

	ctx    context.Context // ends with Close; restarts watch it
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// managed is one plugin package and its process.
type managed struct {
	host *Host
	cand *candidate

	mu       sync.Mutex
	state    State
	reason   string
	restarts int
	gen      uint64 // process generation: handles of an older one are gone
	client   *goplugin.Client
	rpc      pluginv1.AuthSchemeServiceClient
	features features // of the live process
	info     sspi.PackageInfo
	nextID   uint64

	// Contexts closed and not yet deleted in the plugin, all of generation delGen;
	// the deleter goroutine sends them in batches.
	delMu   sync.Mutex
	dels    []uint64
	delGen  uint64
	delWake chan struct{}
}

// features is a set of protocol additions (pluginv1.Feature) a plugin process serves.
type features uint64

func featuresOf(fs []pluginv1.Feature) features {
	var set features
	for _, f := range fs {
		if f > 0 && f < 64 {
			set |= 1 << f
		}
	}
	return set
}

func (s features) has(f pluginv1.Feature) bool { return f > 0 && f < 64 && s&(1<<f) != 0 }

func (s features) list() []pluginv1.Feature {
	var fs []pluginv1.Feature
	for f := pluginv1.Feature(1); f < 64; f++ {
		if s.has(f) {
			fs = append(fs, f)
		}
	}
	return fs
}

// Open scans the packages directory, checks every package and starts the enabled ones.
// A package that fails its checks or its start is refused and reported by Status; it
// never keeps the others from running.
func Open(ctx context.Context, cfg HostConfig) (*Host, error) {
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 5 * time.Second
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.MaxRestarts == 0 {
		cfg.MaxRestarts = 3
	}
	if cfg.RestartBackoff == 0 {
		cfg.RestartBackoff = 200 * time.Millisecond
	}
	h := &Host{cfg: cfg, logger: cfg.Logger}
	if h.logger == nil {
		h.logger = slog.New(slog.DiscardHandler)
	}
	warmAutoMTLS()
	cands, err := scan(cfg.Dir, cfg.Overrides)
	if err != nil {
		return nil, err
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	// Plugins start side by side: each start is mostly waiting on its own process.
	var starting sync.WaitGroup
	errs := make([]error, len(cands))
	for i, c := range cands {
		m := &managed{host: h, cand: c}
		h.pkgs = append(h.pkgs, m)
		switch {
		case c.refused != nil:
			m.state, m.reason = StateRefused, c.refused.Error()
			h.logger.WarnContext(ctx, "plugin refused", "dir", c.dir, "reason", m.reason)
		case !c.enabled():
			m.state, m.reason = StateDisabled, "disabled"
		default:
			starting.Go(func() { errs[i] = m.start(ctx) })
		}
	}
	starting.Wait()
	for i, m := range h.pkgs {
		switch {
		case errs[i] != nil:
			m.state, m.reason = StateRefused, errs[i].Error()
			h.logger.WarnContext(ctx, "plugin failed to start", "package", m.cand.manifest.Name, "reason", m.reason)
		case m.state == StateRunning:
			m.delWake = make(chan struct{}, 1)
			h.wg.Add(1)
			go m.deleter()
		}
	}
	return h, nil
}

// warmAutoMTLS computes, once per process and while the first start hashes its binary,
// the P-521 tables of go-plugin's AutoMTLS, which makes an ECDSA P-521 certificate on
// each start: about 9 ms the first start would otherwise spend before its process runs.
var warmAutoMTLS = sync.OnceFunc(func() {
	go ecdh.P521().GenerateKey(rand.Reader)
})

// start runs the plugin process, verifies it and configures it. The caller holds m.mu
// or has the only reference.
func (m *managed) start(ctx context.Context) error {
	h, c := m.host, m.cand
	cmd := exec.Command(c.binary, c.manifest.Args...)
	cmd.Dir = c.dir
	dieWithHost(cmd)
	for _, name := range h.cfg.Env {
		if v, ok := os.LookupEnv(name); ok {
			cmd.Env = append(cmd.Env, name+"="+v)
		}
	}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: map[int]goplugin.PluginSet{ProtocolVersion: {pluginName: &GRPCPlugin{}}},
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		SecureConfig:     &goplugin.SecureConfig{Checksum: c.sum, Hash: sha256.New()},
		SkipHostEnv:      true,
		StartTimeout:     h.cfg.StartTimeout,
		Logger:           newHCLogger(h.logger.With("plugin", c.manifest.Name)),
		GRPCDialOptions:  grpcDialOptions(),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			if err := c.checkSum(); err != nil {
				return err
			}
		}
		return fmt.Errorf("start: %w", err)
	}
	raw, err := rpc.Dispense(pluginName)
	if err != nil {
		client.Kill()
		return fmt.Errorf("start: %w", err)
	}
	svc, ok := raw.(pluginv1.AuthSchemeServiceClient)
	if !ok {
		client.Kill()
		return fmt.Errorf("start: the plugin dispensed %T", raw)
	}
	cctx, cancel := context.WithTimeout(ctx, h.cfg.CallTimeout)
	defer cancel()
	desc, err := svc.Describe(cctx, &pluginv1.DescribeRequest{})
	if err != nil {
		client.Kill()
		return fmt.Errorf("describe: %w", err)
	}
	guid, err := sspi.ParseGUID(desc.GetAuthScheme())
	switch {
	case err != nil:
		err = fmt.Errorf("the plugin describes auth scheme %q, not a GUID", desc.GetAuthScheme())
	case !strings.EqualFold(desc.GetName(), c.manifest.Name):
		err = fmt.Errorf("the plugin calls itself %q, the manifest %q", desc.GetName(), c.manifest.Name)
	case guid != c.guid:
		err = fmt.Errorf("the plugin's auth scheme %v differs from the manifest's %v", guid, c.guid)
	case !slices.Contains(desc.GetProtocolVersions(), ProtocolVersion):
		err = fmt.Errorf("the plugin speaks protocol %v, not %d", desc.GetProtocolVersions(), ProtocolVersion)
	}
	if err != nil {
		client.Kill()
		return fmt.Errorf("%w: %v", errRefused, err)
	}
	if len(c.manifest.Config) > 0 {
		r, err := svc.Configure(cctx, &pluginv1.ConfigureRequest{Config: c.manifest.Config})
		if err != nil {
			client.Kill()
			return fmt.Errorf("configure: %w", err)
		}
		if r.GetResult().GetStatus() != 0 {
			client.Kill()
			return fmt.Errorf("configure: %s", r.GetResult().GetMessage())
		}
	}
	m.client, m.rpc, m.state, m.reason = client, svc, StateRunning, ""
	m.features = featuresOf(desc.GetFeatures())
	m.gen++
	m.info = sspi.PackageInfo{
		Name:         desc.GetName(),
		Comment:      desc.GetComment(),
		Capabilities: sspi.Capabilities(desc.GetCapabilities()) | sspi.CapNegotiable2,
		Version:      uint16(desc.GetVersion()),
		RPCID:        0xFFFF,
		MaxToken:     int(desc.GetMaxToken()),
		AuthScheme:   guid,
		Origin:       sspi.OriginPlugin,
	}
	return nil
}

// conn returns the live client and its generation, or why there is none.
func (m *managed) conn() (pluginv1.AuthSchemeServiceClient, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state != StateRunning {
		return nil, 0, sspi.Errorf(sspi.ErrInternal, "plugin %s is %s: %s", m.cand.manifest.Name, m.state, m.reason)
	}
	if m.client.Exited() {
		m.crashedLocked("the process exited")
		return nil, 0, sspi.Errorf(sspi.ErrInternal, "plugin %s crashed", m.cand.manifest.Name)
	}
	return m.rpc, m.gen, nil
}

// featuresOf returns the features of process generation gen, none if it is gone.
func (m *managed) featuresOf(gen uint64) features {
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen != m.gen {
		return 0
	}
	return m.features
}

// deleteDelay is how long the deleter gathers closed contexts before it deletes them
// in the plugin: a burst of Close calls costs one call, off their callers' path.
const deleteDelay = 10 * time.Millisecond

// deleteLater queues context id of process generation gen for deletion in the plugin.
func (m *managed) deleteLater(gen, id uint64) {
	m.delMu.Lock()
	if gen != m.delGen {
		if gen < m.delGen {
			m.delMu.Unlock()
			return // its process is gone, and the context with it
		}
		m.dels, m.delGen = m.dels[:0], gen
	}
	m.dels = append(m.dels, id)
	m.delMu.Unlock()
	select {
	case m.delWake <- struct{}{}:
	default:
	}
}

// deleter deletes closed contexts in the plugin until the host closes.
func (m *managed) deleter() {
	defer m.host.wg.Done()
	done := m.host.ctx.Done()
	var ids []uint64
	for {
		select {
		case <-done:
			return
		case <-m.delWake:
		}
		select {
		case <-done:
			return
		case <-time.After(deleteDelay):
		}
		m.delMu.Lock()
		ids, m.dels = m.dels, ids[:0]
		gen := m.delGen
		m.delMu.Unlock()
		m.deleteNow(gen, ids)
	}
}

// deleteNow deletes contexts of process generation gen, if that process still runs.
func (m *managed) deleteNow(gen uint64, ids []uint64) {
	if len(ids) == 0 {
		return
	}
	cl, live, err := m.conn()
	if err != nil || live != gen {
		return
	}
	// Best effort: a process that fails now is noticed by the next call that needs it.
	del := func(req *pluginv1.DeleteContextRequest) {
		ctx, cancel := context.WithTimeout(m.host.ctx, m.host.cfg.CallTimeout)
		defer cancel()
		cl.DeleteContext(ctx, req)
	}
	if m.featuresOf(gen).has(pluginv1.Feature_FEATURE_DELETE_MANY) {
		del(&pluginv1.DeleteContextRequest{Context: ids[0], MoreContexts: ids[1:]})
		return
	}
	for _, id := range ids {
		del(&pluginv1.DeleteContextRequest{Context: id})
	}
}

// newID allocates a handle.
func (m *managed) newID() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextID++
	return m.nextID
}

// failed turns a gRPC error into an SSPI error and notices a dead process.
func (m *managed) failed(gen uint64, err error) error {
	if st, ok := status.FromError(err); ok && (st.Code() == codes.Unavailable || st.Code() == codes.Canceled) {
		// A dead plugin's connection breaks a moment before go-plugin reaps the
		// process: give it that moment, so the crash is noticed now, not on the next call.
		m.mu.Lock()
		client := m.client
		m.mu.Unlock()
		for i := 0; i < 50 && !client.Exited(); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		m.mu.Lock()
		if m.gen == gen && m.state == StateRunning && m.client.Exited() {
			m.crashedLocked("the process exited")
		}
		m.mu.Unlock()
		return sspi.Errorf(sspi.ErrInternal, "plugin %s failed: %v", m.cand.manifest.Name, st.Message())
	}
	if st, ok := status.FromError(err); ok && st.Code() == codes.DeadlineExceeded {
		return sspi.Errorf(sspi.ErrInternal, "plugin %s did not answer in %v", m.cand.manifest.Name, m.host.cfg.CallTimeout)
	}
	return sspi.Errorf(sspi.ErrInternal, "plugin %s: %v", m.cand.manifest.Name, err)
}

// crashedLocked records a crash and schedules a restart, or drops the package.
func (m *managed) crashedLocked(why string) {
	m.client.Kill()
	m.restarts++
	h := m.host
	if m.restarts > h.cfg.MaxRestarts {
		m.state, m.reason = StateDropped, fmt.Sprintf("%s; crashed %d times", why, m.restarts)
		h.logger.Error("plugin dropped", "package", m.cand.manifest.Name, "reason", m.reason)
		return
	}
	m.state, m.reason = StateCrashed, why
	h.logger.Warn("plugin crashed; restarting", "package", m.cand.manifest.Name, "restarts", m.restarts)
	delay := h.cfg.RestartBackoff << (m.restarts - 1)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		select {
		case <-h.ctx.Done():
			return
		case <-time.After(delay):
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.state != StateCrashed || h.ctx.Err() != nil {
			return
		}
		if err := m.start(h.ctx); err != nil {
			m.crashedLocked("restart failed: " + err.Error())
		}
	}()
}

// Schemes returns the running packages as NegoEx schemes, by priority.
func (h *Host) Schemes() []negoex.Scheme {
	var out []negoex.Scheme
	for _, m := range h.pkgs {
		m.mu.Lock()
		ok := m.state == StateRunning || m.state == StateCrashed
		m.mu.Unlock()
		if ok {
			out = append(out, negoex.Scheme{Package: &remotePackage{m: m}, Priority: m.cand.manifest.Priority})
		}
	}
	return out
}

// Status reports every package folder.
func (h *Host) Status() []PackageStatus {
	out := make([]PackageStatus, 0, len(h.pkgs))
	for _, m := range h.pkgs {
		m.mu.Lock()
		if m.state == StateRunning && m.client.Exited() {
			m.crashedLocked("the process exited")
		}
		out = append(out, PackageStatus{
			Name: m.cand.manifest.Name, AuthScheme: m.cand.manifest.AuthScheme, Version: m.cand.manifest.Version,
			Dir: m.cand.dir, Priority: m.cand.manifest.Priority, State: m.state, Reason: m.reason, Restarts: m.restarts,
		})
		m.mu.Unlock()
	}
	return out
}

// Close stops every plugin process and waits for pending restarts to give up.
func (h *Host) Close() error {
	h.cancel()
	for _, m := range h.pkgs {
		m.mu.Lock()
		if m.client != nil {
			m.client.Kill()
		}
		if m.state == StateRunning || m.state == StateCrashed {
			m.state, m.reason = StateDropped, "host closed"
		}
		m.mu.Unlock()
	}
	h.wg.Wait()
	return nil
}

// hclogWriter turns the JSON lines go-plugin's hclog logger writes (its own events and
// the plugin's stderr) into slog records: hclog stays at the plugin boundary.
type hclogWriter struct {
	logger *slog.Logger
	mu     sync.Mutex
	buf    []byte
}

func newHCLogger(l *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Output:     &hclogWriter{logger: l},
		JSONFormat: true,
		Level:      hclog.Debug,
	})
}

func (w *hclogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	sc := bufio.NewScanner(strings.NewReader(string(w.buf)))
	consumed := 0
	for sc.Scan() {
		line := sc.Text()
		if consumed+len(line)+1 > len(w.buf) {
			break // incomplete line: keep it for the next write
		}
		consumed += len(line) + 1
		w.log(line)
	}
	w.buf = w.buf[consumed:]
	return len(p), nil
}

func (w *hclogWriter) log(line string) {
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		w.logger.Debug(line)
		return
	}
	level := slog.LevelDebug
	switch rec["@level"] {
	case "info":
		level = slog.LevelInfo
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	msg, _ := rec["@message"].(string)
	var attrs []any
	for k, v := range rec {
		if !strings.HasPrefix(k, "@") {
			attrs = append(attrs, k, v)
		}
	}
	w.logger.Log(context.Background(), level, msg, attrs...)
}

var _ io.Writer = (*hclogWriter)(nil)
