package sspi

import (
	"crypto"
	"crypto/md5"
	_ "crypto/sha256" // registers the hashes TLSServerEndPoint picks
	_ "crypto/sha512"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
)

// ChannelBindings tie an authentication to the channel it runs over, as
// gss_channel_bindings_struct (RFC 2744) and SEC_CHANNEL_BINDINGS do. For TLS only
// ApplicationData is set, by the TLS helpers below; the address fields exist for
// protocols that bind to network addresses and are almost always left empty.
type ChannelBindings struct {
	InitiatorAddrType uint32
	InitiatorAddress  []byte
	AcceptorAddrType  uint32
	AcceptorAddress   []byte
	ApplicationData   []byte
}

// Marshal returns the flat encoding GSS-API mechanisms hash: each address type and
// length as a little-endian uint32 followed by its bytes, then the application data's
// length and bytes. Kerberos (RFC 4121 4.1.1.2) and NTLM (MsvAvChannelBindings) both
// take the MD5 of this.
func (cb *ChannelBindings) Marshal() []byte {
	b := make([]byte, 0, 20+len(cb.InitiatorAddress)+len(cb.AcceptorAddress)+len(cb.ApplicationData))
	b = binary.LittleEndian.AppendUint32(b, cb.InitiatorAddrType)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(cb.InitiatorAddress)))
	b = append(b, cb.InitiatorAddress...)
	b = binary.LittleEndian.AppendUint32(b, cb.AcceptorAddrType)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(cb.AcceptorAddress)))
	b = append(b, cb.AcceptorAddress...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(cb.ApplicationData)))
	return append(b, cb.ApplicationData...)
}

// MD5 is the MD5 of Marshal: the 16-byte value Kerberos and NTLM put on the wire. A nil
// *ChannelBindings gives the all-zero value both protocols send when there are none.
func (cb *ChannelBindings) MD5() [16]byte {
	if cb == nil {
		return [16]byte{}
	}
	return md5.Sum(cb.Marshal())
}

// secChannelBindingsHeader is the size of SEC_CHANNEL_BINDINGS: eight uint32 fields.
const secChannelBindingsHeader = 32

// MarshalSSPI returns the SEC_CHANNEL_BINDINGS structure Windows passes in a
// SECBUFFER_CHANNEL_BINDINGS buffer: a 32-byte header of types, lengths and offsets
// followed by the data.
func (cb *ChannelBindings) MarshalSSPI() []byte {
	b := make([]byte, secChannelBindingsHeader, secChannelBindingsHeader+len(cb.InitiatorAddress)+len(cb.AcceptorAddress)+len(cb.ApplicationData))
	put := func(i int, v uint32) { binary.LittleEndian.PutUint32(b[4*i:], v) }
	field := func(lenIdx int, data []byte) {
		put(lenIdx, uint32(len(data)))
		if len(data) > 0 {
			put(lenIdx+1, uint32(len(b)))
			b = append(b, data...)
		}
	}
	put(0, cb.InitiatorAddrType)
	field(1, cb.InitiatorAddress)
	put(3, cb.AcceptorAddrType)
	field(4, cb.AcceptorAddress)
	field(6, cb.ApplicationData)
	return b
}

// ParseSSPIChannelBindings parses a SEC_CHANNEL_BINDINGS structure, checking that every
// field lies inside b.
func ParseSSPIChannelBindings(b []byte) (*ChannelBindings, error) {
	if len(b) < secChannelBindingsHeader {
		return nil, Errorf(ErrInvalidParameter, "SEC_CHANNEL_BINDINGS: %d bytes, need at least %d", len(b), secChannelBindingsHeader)
	}
	get := func(i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }
	field := func(name string, lenIdx int) ([]byte, error) {
		n, off := uint64(get(lenIdx)), uint64(get(lenIdx+1))
		if n == 0 {
			return nil, nil
		}
		if off < secChannelBindingsHeader || off+n > uint64(len(b)) {
			return nil, Errorf(ErrInvalidParameter, "SEC_CHANNEL_BINDINGS: %s (offset %d, length %d) outside the %d-byte structure", name, off, n, len(b))
		}
		return append([]byte(nil), b[off:off+n]...), nil
	}
	cb := &ChannelBindings{InitiatorAddrType: get(0), AcceptorAddrType: get(3)}
	var err error
	if cb.InitiatorAddress, err = field("initiator address", 1); err != nil {
		return nil, err
	}
	if cb.AcceptorAddress, err = field("acceptor address", 4); err != nil {
		return nil, err
	}
	if cb.ApplicationData, err = field("application data", 6); err != nil {
		return nil, err
	}
	return cb, nil
}

// Equal reports whether two bindings carry the same values; nil equals nil only.
func (cb *ChannelBindings) Equal(o *ChannelBindings) bool {
	if cb == nil || o == nil {
		return cb == o
	}
	return cb.InitiatorAddrType == o.InitiatorAddrType && cb.AcceptorAddrType == o.AcceptorAddrType &&
		string(cb.InitiatorAddress) == string(o.InitiatorAddress) &&
		string(cb.AcceptorAddress) == string(o.AcceptorAddress) &&
		string(cb.ApplicationData) == string(o.ApplicationData)
}

// TLSServerEndPoint returns "tls-server-end-point" bindings (RFC 5929 4) for the
// server certificate cert: "tls-server-end-point:" followed by the certificate's hash,
// made with the hash of its signature algorithm, SHA-256 where that is MD5 or SHA-1.
// A server passes its own leaf certificate; a client, state.PeerCertificates[0] (see
// TLSServerEndPointFromState).
func TLSServerEndPoint(cert *x509.Certificate) (*ChannelBindings, error) {
	if cert == nil {
		return nil, Errorf(ErrInvalidParameter, "tls-server-end-point: no certificate")
	}
	h := crypto.SHA256
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = crypto.SHA384
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = crypto.SHA512
	case x509.PureEd25519:
		// RFC 5929 does not define a hash for signature algorithms without one; gossp
		// uses SHA-256, the RFC's fallback for weak hashes, and says so here because a
		// peer may differ (or refuse such certificates).
		h = crypto.SHA256
	}
	d := h.New()
	d.Write(cert.Raw)
	return &ChannelBindings{ApplicationData: d.Sum([]byte("tls-server-end-point:"))}, nil
}

// TLSServerEndPointFromState returns "tls-server-end-point" bindings from the client's
// view of a TLS connection: the server's leaf certificate in state.PeerCertificates.
func TLSServerEndPointFromState(state tls.ConnectionState) (*ChannelBindings, error) {
	if len(state.PeerCertificates) == 0 {
		return nil, Errorf(ErrInvalidParameter, "tls-server-end-point: the connection has no peer certificate")
	}
	return TLSServerEndPoint(state.PeerCertificates[0])
}

// TLSUnique returns "tls-unique" bindings (RFC 5929 3): the first Finished message of the
// connection's latest handshake. TLS 1.3 has no tls-unique; use TLSExporter there.
func TLSUnique(state tls.ConnectionState) (*ChannelBindings, error) {
	if len(state.TLSUnique) == 0 {
		return nil, Errorf(ErrInvalidParameter, "tls-unique: not available on this connection (TLS 1.3 or resumed session)")
	}
	return &ChannelBindings{ApplicationData: append([]byte("tls-unique:"), state.TLSUnique...)}, nil
}

// TLSExporter returns "tls-exporter" bindings (RFC 9266): 32 bytes exported with label
// "EXPORTER-Channel-Binding" and no context. It is the binding TLS 1.3 defines.
func TLSExporter(state tls.ConnectionState) (*ChannelBindings, error) {
	if !state.HandshakeComplete {
		return nil, Errorf(ErrInvalidParameter, "tls-exporter: handshake not complete")
	}
	ekm, err := state.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		return nil, Errorf(ErrInvalidParameter, "tls-exporter: %w", err)
	}
	return &ChannelBindings{ApplicationData: append([]byte("tls-exporter:"), ekm...)}, nil
}

var errNoBindings = errors.New("no channel bindings")

// CheckBindings compares the bindings an acceptor expects with the MD5 hash the initiator
// sent (both Kerberos and NTLM carry that hash), in constant time. An all-zero hash means
// the initiator sent none: it is refused when the acceptor expects bindings unless
// allowMissing is set (ASC_REQ_ALLOW_MISSING_BINDINGS). Failures wrap ErrBadBindings.
func CheckBindings(expected *ChannelBindings, got [16]byte, allowMissing bool) error {
	var zero [16]byte
	if got == zero {
		if expected == nil || allowMissing {
			return nil
		}
		return &Error{Status: ErrBadBindings, Err: fmt.Errorf("initiator sent %w, acceptor requires them", errNoBindings)}
	}
	if expected == nil {
		// The initiator bound to a channel the acceptor knows nothing of. Windows and MIT
		// accept this (the acceptor did not ask for bindings), so do we.
		return nil
	}
	want := expected.MD5()
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 {
		return &Error{Status: ErrBadBindings, Err: errors.New("channel bindings do not match")}
	}
	return nil
}
