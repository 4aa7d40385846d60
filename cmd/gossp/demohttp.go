package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gossp/gossp/decode"
	"github.com/gossp/gossp/httpauth"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

// httpDemo runs a handshake over loopback HTTP: httpauth's middleware on the server, its
// transport on the client, each HTTP leg printed with what its token carries.
func httpDemo(ctx context.Context, e *env, title string, client, server sspi.Credential) error {
	auth, err := httpauth.NewServer(server)
	if err != nil {
		return err
	}
	defer auth.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: auth.Middleware(http.HandlerFunc(whoamiHandler)),
		ConnContext: httpauth.ConnContext, ConnState: auth.ConnState}
	go srv.Serve(ln)
	defer srv.Close()

	base := http.DefaultTransport.(*http.Transport).Clone()
	base.MaxConnsPerHost = 1 // one connection: the handshake's legs stay on it
	defer base.CloseIdleConnections()
	tr := &httpauth.Transport{Credential: client, Base: &tracer{e: e, base: base}}
	defer tr.CloseIdleConnections()
	fmt.Fprintf(e.stdout, "\n%s: http://%s/\n", title, ln.Addr())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	fmt.Fprintf(e.stdout, "  %s\n", resp.Status)
	for _, l := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		fmt.Fprintf(e.stdout, "    %s\n", l)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the server answered %s", resp.Status)
	}
	return nil
}

// tracer prints each HTTP leg's token, summarised from its dissection.
type tracer struct {
	e    *env
	base http.RoundTripper
	n    int
}

func (t *tracer) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n++
	fmt.Fprintf(t.e.stdout, "  leg %d  -> %s %s%s\n", t.n, r.Method, r.URL.Path, headerSummary(r.Header.Get("Authorization")))
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	var tok string
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		if strings.Contains(v, " ") {
			tok = v
		}
	}
	fmt.Fprintf(t.e.stdout, "         <- %d%s\n", resp.StatusCode, headerSummary(tok))
	return resp, nil
}

// headerSummary names what a "Negotiate <b64>" header carries, in one line.
func headerSummary(h string) string {
	scheme, b64, ok := strings.Cut(h, " ")
	if !ok {
		return ""
	}
	tok, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return " " + scheme + " (undecodable)"
	}
	tree, err := decode.Decode(tok)
	if err != nil {
		return fmt.Sprintf(" %s %d bytes", scheme, len(tok))
	}
	var parts []string
	var walk func(n *decode.Node)
	walk = func(n *decode.Node) {
		switch {
		case strings.HasPrefix(n.Name, "negToken"), strings.HasSuffix(n.Name, "_MESSAGE"):
			parts = append(parts, n.Name)
		case n.Name == "negState", n.Name == "supportedMech":
			parts = append(parts, n.Name+"="+strings.Fields(n.Value)[0])
		case strings.Contains(n.Name, "NEGO") || n.Name == "AP_REQUEST" || n.Name == "CHALLENGE" || n.Name == "VERIFY" || n.Name == "ALERT":
			if strings.ToUpper(n.Name) == n.Name && n.Name != "NEGOEX" {
				parts = append(parts, n.Name)
			}
		case n.Name == "NTLM Message Type":
			parts = append(parts, strings.Fields(n.Value)[0])
		case n.Name == "mechListMIC":
			parts = append(parts, "mechListMIC")
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(tree)
	return fmt.Sprintf(" %s %d bytes: %s", scheme, len(tok), strings.Join(parts, " "))
}

// bundledPlugins builds the bundled PSK plugin into a packages directory in the user's
// cache, so the demo can run a scheme out of process with no setup. It needs the Go
// toolchain and this module's source, as `go run ./cmd/gossp demo` has.
func bundledPlugins(ctx context.Context) (string, error) {
	return bundlePlugin(ctx, "packages", "psk", "github.com/gossp/gossp/plugins/psk", psk.Name, psk.AuthScheme)
}

// bundlePlugin builds one of the plugins this repository ships (importPath) into
// <user cache>/gossp/<root>/<folder> with a manifest naming its package and auth scheme,
// and returns the packages directory <user cache>/gossp/<root>.
func bundlePlugin(ctx context.Context, rootName, folder, importPath, name string, scheme sspi.GUID) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	root := filepath.Join(cache, "gossp", rootName)
	dir := filepath.Join(root, folder)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, p := range []string{filepath.Join(cache, "gossp"), root, dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			return "", err
		}
	}
	bin := filepath.Join(dir, folder+"-plugin")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, importPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the bundled plugin %s: %v: %s", folder, err, strings.TrimSpace(string(out)))
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	manifest := fmt.Sprintf(`{"name": %q, "auth_scheme": %q, "command": %q, "sha256": %q, "version": "bundled", "protocol_versions": [1], "priority": 10}`+"\n",
		name, scheme.String(), folder+"-plugin", hex.EncodeToString(sum[:]))
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(manifest), 0o644); err != nil {
		return "", err
	}
	return root, nil
}
