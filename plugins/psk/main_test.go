package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gossp/gossp/negoex/plugin/plugintest"
	"github.com/gossp/gossp/packages/psk"
	pluginv1 "github.com/gossp/gossp/proto/gossp/plugin/v1"
	"github.com/gossp/gossp/sspi"
)

var key = []byte("0123456789abcdef0123456789abcdef")

func TestDecodeMaterial(t *testing.T) {
	k := base64.StdEncoding.EncodeToString(key)
	both := fmt.Sprintf(`{"identity": "alice", "key": %q, "keys": {"alice": %q}}`, k, k)
	s := scheme{psk.New(psk.Config{})}

	m, err := s.DecodeMaterial(sspi.CredentialsOutbound, []byte(both))
	if ck, ok := m.(psk.ClientKey); err != nil || !ok || ck.Identity != "alice" || string(ck.Key) != string(key) {
		t.Errorf("outbound: %#v, %v", m, err)
	}
	m, err = s.DecodeMaterial(sspi.CredentialsInbound, []byte(both))
	if ks, ok := m.(psk.Keys); err != nil || !ok || string(ks["alice"]) != string(key) {
		t.Errorf("inbound: %#v, %v", m, err)
	}
	m, err = s.DecodeMaterial(sspi.CredentialsBoth, []byte(both))
	if c, ok := m.(psk.Credentials); err != nil || !ok || c.Identity != "alice" || c.KeyStore == nil {
		t.Errorf("both: %#v, %v", m, err)
	}
	// Each use acquires a credential from what was decoded.
	for _, use := range []sspi.CredentialUse{sspi.CredentialsOutbound, sspi.CredentialsInbound, sspi.CredentialsBoth} {
		m, _ := s.DecodeMaterial(use, []byte(both))
		c, err := s.AcquireCredentials(context.Background(), sspi.CredentialRequest{Use: use, Material: m})
		if err != nil {
			t.Errorf("%v: %v", use, err)
			continue
		}
		c.Close()
	}

	for _, tc := range []struct {
		use  sspi.CredentialUse
		data string
		msg  string
	}{
		{sspi.CredentialsOutbound, `{"identity": "alice", "key": "secret-bytes!"}`, "base64"},
		{sspi.CredentialsOutbound, `{"identity": "alice", "key": "AAAA", x}`, "offset"},
		{sspi.CredentialsInbound, `{"identity": "alice"}`, "need \"keys\""},
		{sspi.CredentialsInbound, `{"keys": {"bob": "c2hvcnQ="}}`, "shorter"},
		{sspi.CredentialsBoth, `{"identity": "alice", "key": "` + k + `"}`, "need \"keys\""},
	} {
		_, err := s.DecodeMaterial(tc.use, []byte(tc.data))
		if !errors.Is(err, sspi.ErrUnknownCredentials) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want SEC_E_UNKNOWN_CREDENTIALS mentioning %q", tc.data, err, tc.msg)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("the error quotes the material: %v", err)
		}
	}
}

// TestThroughBridge runs the plugin's scheme through the gRPC bridge, both sides in one
// plugin serving a CredentialsBoth credential.
func TestThroughBridge(t *testing.T) {
	ctx := t.Context()
	c := plugintest.Client(t, scheme{psk.New(psk.Config{})})
	k := base64.StdEncoding.EncodeToString(key)
	a, err := c.AcquireCredentials(ctx, &pluginv1.AcquireCredentialsRequest{
		Credential: 1, Use: pluginv1.CredentialUse_CREDENTIAL_USE_BOTH, Principal: "host/server.test",
		Material: fmt.Appendf(nil, `{"identity": "alice", "key": %q, "keys": {"alice": %q}}`, k, k),
	})
	if err != nil || a.GetResult().GetStatus() != 0 {
		t.Fatalf("AcquireCredentials: %v, %v", a, err)
	}
	for h, ini := range map[uint64]bool{1: true, 2: false} {
		r, err := c.NewContext(ctx, &pluginv1.NewContextRequest{Context: h, Credential: 1, Initiator: ini, Target: "host/server.test"})
		if err != nil || r.GetResult().GetStatus() != 0 {
			t.Fatalf("NewContext: %v, %v", r, err)
		}
	}
	var token []byte
	for leg, h := 0, uint64(1); leg < 4; leg, h = leg+1, 3-h { // PSK: three messages, four calls
		r, err := c.Step(ctx, &pluginv1.StepRequest{Context: h, Input: token})
		if err != nil || sspi.Status(r.GetResult().GetStatus()).IsFailure() {
			t.Fatalf("Step %d: %v, %v", leg, r, err)
		}
		token = r.GetOutput()
	}
	for h := uint64(1); h <= 2; h++ {
		q, err := c.QueryContext(ctx, &pluginv1.QueryContextRequest{Context: h, VerifyKeys: true})
		if err != nil || !q.GetEstablished() || !q.GetHasVerifyKeys() {
			t.Errorf("context %d: %v, %v", h, q, err)
		}
	}
}
