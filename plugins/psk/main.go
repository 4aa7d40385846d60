// Command psk is an example gossp NegoEx plugin, meant to be copied: it serves the PSK
// security package (github.com/gossp/gossp/packages/psk) to a host such as gossp's
// negoex/plugin.Host.
//
// A plugin is an sspi.Package handed to plugin.Serve. PSK's credentials need material
// (keys), which reaches the plugin as JSON; implementing plugin.MaterialDecoder turns it
// back into what psk.Package.AcquireCredentials takes:
//
//	outbound: {"identity": "alice", "key": "<base64>"}
//	inbound:  {"keys": {"alice": "<base64>", "bob": "<base64>"}}
//	both:     {"identity": "alice", "key": "<base64>", "keys": {...}}
//
// A plugin must never write to stdout: go-plugin's handshake goes there. Log to stderr,
// as plugin.NewLogger does.
package main

import (
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/gossp/gossp/negoex/plugin"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

func main() {
	plugin.Serve(scheme{psk.New(psk.Config{Logger: plugin.NewLogger(slog.LevelInfo)})})
}

// scheme is PSK with a decoder for its credential material.
type scheme struct{ *psk.Package }

// material is PSK's credential material as JSON; encoding/json reads []byte as base64.
type material struct {
	Identity string            `json:"identity"`
	Key      []byte            `json:"key"`
	Keys     map[string][]byte `json:"keys"`
}

// DecodeMaterial implements plugin.MaterialDecoder.
func (scheme) DecodeMaterial(use sspi.CredentialUse, data []byte) (any, error) {
	var m material
	if err := json.Unmarshal(data, &m); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			// A syntax error quotes the input, which may be key: say only where.
			return nil, sspi.Errorf(sspi.ErrUnknownCredentials, "psk material: invalid JSON at offset %d", syntax.Offset)
		}
		return nil, sspi.Errorf(sspi.ErrUnknownCredentials, "psk material: %w", err)
	}
	client := psk.ClientKey{Identity: m.Identity, Key: m.Key}
	if use.Inbound() && len(m.Keys) == 0 {
		return nil, sspi.Errorf(sspi.ErrUnknownCredentials, "psk material: inbound credentials need \"keys\"")
	}
	for id, k := range m.Keys {
		if len(k) < psk.MinKeyLen {
			return nil, sspi.Errorf(sspi.ErrUnknownCredentials, "psk material: the key of %q is shorter than %d bytes", id, psk.MinKeyLen)
		}
	}
	switch use {
	case sspi.CredentialsOutbound:
		return client, nil // psk checks the identity and key
	case sspi.CredentialsInbound:
		return psk.Keys(m.Keys), nil
	}
	return psk.Credentials{ClientKey: client, KeyStore: psk.Keys(m.Keys)}, nil
}
