// Command faultplugin is a PSK plugin that misbehaves on request, for the host's fault
// tests: -fault=stdout|kill-on-step|panic-on-step|hang-on-step|wrong-name.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/negoex/plugin"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

var (
	fault = flag.String("fault", "none", "how to misbehave")
	name  = flag.String("name", "", "describe the scheme by this name instead of PSK's")
	need  = flag.String("require-env", "", "exit at once unless this variable is set")
	deny  = flag.String("forbid-env", "", "exit at once if this variable is set")
	guid  = flag.String("guid", "", "describe the scheme by this auth scheme GUID instead of PSK's")
)

func main() {
	flag.Parse()
	if _, ok := os.LookupEnv(*need); *need != "" && !ok {
		os.Exit(3)
	}
	if _, ok := os.LookupEnv(*deny); *deny != "" && ok {
		os.Exit(3)
	}
	if *fault == "stdout" {
		fmt.Println("garbage before the handshake line")
	}
	plugin.Serve(&faulty{Package: psk.New(psk.Config{})})
}

type faulty struct{ *psk.Package }

func (f *faulty) Info() sspi.PackageInfo {
	i := f.Package.Info()
	if *fault == "wrong-name" {
		i.Name = "NOT-PSK"
	}
	if *name != "" {
		i.Name = *name
	}
	if *guid != "" {
		i.AuthScheme = sspi.MustParseGUID(*guid)
	}
	return i
}

// DecodeMaterial takes {"identity", "key"} and {"keys"} with base64 keys.
func (f *faulty) DecodeMaterial(use sspi.CredentialUse, data []byte) (any, error) {
	var m struct {
		Identity string            `json:"identity"`
		Key      string            `json:"key"`
		Keys     map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	key, _ := base64.StdEncoding.DecodeString(m.Key)
	keys := psk.Keys{}
	for id, k := range m.Keys {
		keys[id], _ = base64.StdEncoding.DecodeString(k)
	}
	return psk.Credentials{ClientKey: psk.ClientKey{Identity: m.Identity, Key: key}, KeyStore: keys}, nil
}

func (f *faulty) AcquireCredentials(ctx context.Context, req sspi.CredentialRequest) (sspi.Credential, error) {
	c, err := f.Package.AcquireCredentials(ctx, req)
	if err != nil {
		return nil, err
	}
	return faultyCred{c}, nil
}

type faultyCred struct{ sspi.Credential }

func (c faultyCred) NewAcceptor(cfg sspi.ContextConfig) (sspi.Acceptor, error) {
	a, err := c.Credential.NewAcceptor(cfg)
	if err != nil {
		return nil, err
	}
	return &faultyAcc{Acceptor: a}, nil
}

type faultyAcc struct {
	sspi.Acceptor
	legs int
}

// The second leg (the AUTHENTICATE) misbehaves: mid-handshake.
func (a *faultyAcc) AcceptContext(ctx context.Context, in []byte) ([]byte, sspi.Status, error) {
	a.legs++
	if a.legs == 2 {
		switch *fault {
		case "kill-on-step":
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			time.Sleep(time.Second)
		case "panic-on-step":
			panic("faultplugin: panic on request")
		case "hang-on-step":
			time.Sleep(time.Hour)
		}
	}
	return a.Acceptor.AcceptContext(ctx, in)
}

// VerifyKeys passes PSK's NegoEx keys through the wrapper.
func (a *faultyAcc) VerifyKeys() (sign, verify negoex.Key, ok bool) {
	return a.Acceptor.(negoex.KeyedContext).VerifyKeys()
}
