// Package plugin is the bridge between NegoEx and auth schemes served by plugin
// processes over hashicorp/go-plugin and gRPC: Serve for plugin authors, and Host for
// applications, which discovers, verifies, starts and supervises plugins from a
// packages directory.
package plugin

import (
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/gossp/gossp/sspi"
)

// ProtocolVersion is the plugin protocol version this build speaks (gossp.plugin.v1).
const ProtocolVersion = 1

// pluginName is the name the scheme is dispensed under in go-plugin's plugin set.
const pluginName = "authscheme"

// Handshake is the go-plugin handshake both sides must agree on. The magic cookie only
// keeps a plugin binary from being run by hand by mistake; it is no security measure
// (the sha256 check and AutoMTLS are).
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "GOSSP_PLUGIN",
	MagicCookieValue: "negoex-auth-scheme-7c1d",
}

// maxMessageSize is the gRPC message limit on both sides: schemes' tokens (a PKU2U
// AS-REP with a certificate chain) and sealed messages can exceed grpc's 4 MiB default.
const maxMessageSize = 64 << 20

// MaterialDecoder is implemented by schemes whose credentials need package-specific
// material: the host passes material as JSON (the application's value marshalled with
// encoding/json), and the plugin turns it back into what AcquireCredentials expects.
type MaterialDecoder interface {
	DecodeMaterial(use sspi.CredentialUse, data []byte) (any, error)
}

// Configurable is implemented by schemes that take the manifest's package
// configuration (JSON) before serving.
type Configurable interface {
	Configure(config []byte) error
}
