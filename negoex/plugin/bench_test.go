package plugin_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/negoex/plugin"
	"github.com/gossp/gossp/packages/psk"
	pluginv1 "github.com/gossp/gossp/proto/gossp/plugin/v1"
	"github.com/gossp/gossp/sspi"
)

// The process boundary's cost, measured against a baseline in the same run: the same
// PSK scheme through NegoEx in process and in a plugin process (AutoMTLS over a unix
// socket); one gRPC call to the plugin against the same call to a bare gRPC server; a
// plugin's start in a warm host and in a fresh process.
//
//	go test -run '^$' -bench . -benchmem ./negoex/plugin
//
// A PSK handshake is four NegoEx legs: (Plugin - InProcess) / 4 is what the boundary
// adds to a leg. calls/op counts the handshake's calls into the plugin, the deletion
// in the background included (it is shared by the closes of several handshakes);
// cpu-ns/op is the CPU time of the host and its plugin processes together, which
// shows what the machine spends, beyond the latency.

func benchHandshakes(b *testing.B, scheme negoex.Scheme, material any, procs []string) {
	nx, err := negoex.New(negoex.Config{Schemes: []negoex.Scheme{scheme}})
	if err != nil {
		b.Fatal(err)
	}
	m := negoex.Options{Material: map[string]any{psk.Name: material}}
	ctx := context.Background()
	ini, err := nx.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound, Material: m})
	if err != nil {
		b.Fatal(err)
	}
	acc, err := nx.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsInbound, Material: m})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := startCPU(procs)
	for b.Loop() {
		c, s, err := hostHandshake(ini, acc)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
		s.Close()
	}
	cpu.report(b)
}

func BenchmarkHandshakeInProcess(b *testing.B) {
	benchHandshakes(b, negoex.Scheme{Package: psk.New(psk.Config{})},
		psk.Credentials{ClientKey: psk.ClientKey{Identity: "alice", Key: hostKey}, KeyStore: psk.Keys{"alice": hostKey}}, nil)
}

func BenchmarkHandshakePlugin(b *testing.B) {
	pskBin, _ := binaries(b)
	root := b.TempDir()
	installPackage(b, root, "psk", pskBin, nil)
	calls, restore := plugin.CountCalls()
	defer restore()
	h := openHost(b, root, plugin.HostConfig{})
	calls()
	benchHandshakes(b, h.Schemes()[0], pskMaterial, pluginPIDs(root))
	time.Sleep(50 * time.Millisecond) // the last closes' deletion
	n := 0
	for _, c := range calls() {
		n += c
	}
	b.ReportMetric(float64(n)/float64(b.N), "calls/op")
}

// BenchmarkPluginStart is a plugin's start in a host that has started one before:
// sha256 check, process, go-plugin handshake with AutoMTLS, Describe; and its end.
func BenchmarkPluginStart(b *testing.B) {
	pskBin, _ := binaries(b)
	root := b.TempDir()
	installPackage(b, root, "psk", pskBin, nil)
	for b.Loop() {
		h, err := plugin.Open(context.Background(), plugin.HostConfig{Dir: root})
		if err != nil || h.Status()[0].State != plugin.StateRunning {
			b.Fatalf("%v %+v", err, h.Status())
		}
		h.Close()
	}
}

// BenchmarkPluginStartCold is the start a host pays once: plugin.Open in a fresh
// process (this test binary, run again). ns/op is the child's whole life; open-ns/op
// is what its Open took.
func BenchmarkPluginStartCold(b *testing.B) {
	pskBin, _ := binaries(b)
	root := b.TempDir()
	installPackage(b, root, "psk", pskBin, nil)
	var open time.Duration
	for b.Loop() {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "GOSSP_TEST_OPEN_DIR="+root)
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		d, err := time.ParseDuration(strings.TrimSpace(string(out)))
		if err != nil {
			b.Fatalf("%q: %v", out, err)
		}
		open += d
	}
	b.ReportMetric(float64(open.Nanoseconds())/float64(b.N), "open-ns/op")
}

// openOnce is the child of BenchmarkPluginStartCold: it opens dir, says how long that
// took, and exits.
func openOnce(dir string) {
	start := time.Now()
	h, err := plugin.Open(context.Background(), plugin.HostConfig{Dir: dir})
	took := time.Since(start)
	if err != nil || h.Status()[0].State != plugin.StateRunning {
		os.Exit(2)
	}
	h.Close()
	os.Stdout.WriteString(took.String() + "\n")
	os.Exit(0)
}

// BenchmarkRoundTrip is the floor under every leg: one gRPC call (Describe), answered
// by another process over TLS on a unix socket. Plugin is a plugin process through the
// host's connection (go-plugin, AutoMTLS); Bare is a plain gRPC server with the same
// settings as the plugin's, and BareDefaults one with gRPC's defaults (dynamic flow
// control windows, a goroutine per call).
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("Plugin", func(b *testing.B) {
		pskBin, _ := binaries(b)
		root := b.TempDir()
		installPackage(b, root, "psk", pskBin, nil)
		h := openHost(b, root, plugin.HostConfig{})
		benchDescribe(b, plugin.RawClient(h), pluginPIDs(root))
	})
	b.Run("Bare", func(b *testing.B) {
		c, pids := bareServer(b, true)
		benchDescribe(b, c, pids)
	})
	b.Run("BareDefaults", func(b *testing.B) {
		c, pids := bareServer(b, false)
		benchDescribe(b, c, pids)
	})
}

func benchDescribe(b *testing.B, c pluginv1.AuthSchemeServiceClient, procs []string) {
	ctx := context.Background()
	b.ReportAllocs()
	cpu := startCPU(procs)
	for b.Loop() {
		if _, err := c.Describe(ctx, &pluginv1.DescribeRequest{}); err != nil {
			b.Fatal(err)
		}
	}
	cpu.report(b)
}

// bareServer runs this test binary again as a plain gRPC server that answers Describe
// over TLS on a unix socket, and returns a client of it and the server's pid.
func bareServer(b *testing.B, tuned bool) (pluginv1.AuthSchemeServiceClient, []string) {
	dir := b.TempDir()
	sock := filepath.Join(dir, "grpc.sock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GOSSP_TEST_BARE_GRPC="+sock, "GOSSP_TEST_BARE_TUNED="+strconv.FormatBool(tuned))
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "serving\n" {
		b.Fatalf("the bare server says %q", line)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{InsecureSkipVerify: true}))}
	if tuned {
		opts = append(opts, plugin.GRPCDialOptions()...)
	}
	conn, err := grpc.NewClient("unix://"+sock, opts...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	return pluginv1.NewAuthSchemeServiceClient(conn), []string{strconv.Itoa(cmd.Process.Pid)}
}

// serveBare is the child of bareServer.
func serveBare(sock string, tuned bool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	creds := grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}))
	var s *grpc.Server
	if tuned {
		s = plugin.NewPluginGRPCServer([]grpc.ServerOption{creds})
	} else {
		s = grpc.NewServer(creds)
	}
	pluginv1.RegisterAuthSchemeServiceServer(s, describer{})
	l, err := net.Listen("unix", sock)
	if err != nil {
		panic(err)
	}
	os.Stdout.WriteString("serving\n")
	s.Serve(l)
	os.Exit(0)
}

type describer struct {
	pluginv1.UnimplementedAuthSchemeServiceServer
}

func (describer) Describe(context.Context, *pluginv1.DescribeRequest) (*pluginv1.DescribeResponse, error) {
	return &pluginv1.DescribeResponse{Name: psk.Name, AuthScheme: psk.AuthScheme.String(), ProtocolVersions: []uint32{1}}, nil
}

// pluginPIDs lists the processes running a binary under dir.
func pluginPIDs(dir string) []string {
	var pids []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && strings.HasPrefix(exe, dir) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// cpuClock measures the CPU time (user and system) of this process and of others.
// Linux only; elsewhere it reports nothing.
type cpuClock struct {
	pids  []string
	start time.Duration
	ok    bool
}

func startCPU(pids []string) cpuClock {
	d, ok := cpuTime(pids)
	return cpuClock{pids: pids, start: d, ok: ok}
}

func (c cpuClock) report(b *testing.B) {
	if d, ok := cpuTime(c.pids); ok && c.ok {
		b.ReportMetric(float64((d-c.start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime(pids []string) (time.Duration, bool) {
	total, ok := procCPU("self")
	for _, pid := range pids {
		d, ok2 := procCPU(pid)
		total, ok = total+d, ok && ok2
	}
	return total, ok
}

// procCPU reads utime and stime from /proc/PID/stat, in clock ticks of 10 ms.
func procCPU(pid string) (time.Duration, bool) {
	data, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, false
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, false
	}
	user, err1 := strconv.ParseInt(f[11], 10, 64)
	sys, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(user+sys) * 10 * time.Millisecond, true
}
