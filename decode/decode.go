// Package decode dissects authentication tokens — GSS-API framing, SPNEGO, NTLM, NegoEx
// and the outline of Kerberos and PKU2U messages — into a tree a person or a JSON
// consumer can read, in the spirit of a network analyzer. Every node says where its
// bytes lie in the input. Where gossp has a parser (negotiate.ParseToken,
// ntlm.ParseNegotiate/ParseChallenge/ParseAuthenticate, negoex.ParseMessages) the
// token must pass it, so what decode shows is what gossp itself accepts; the offsets
// come from bounds-checked walks of its own.
//
// PKU2U tokens are recognised bare (TOK_ID and Kerberos message), in GSS-API framing
// with the PKU2U OID, and inside NegoEx: the AS-REQ's PA-PK-AS-REQ and the AS-REP's
// PA-PK-AS-REP are dissected down to their CMS SignedData (bare, as Windows sends it,
// or in a ContentInfo: eContentType, certificates, signer), the AuthPack
// (pkAuthenticator, the Diffie-Hellman group named by its prime, public value,
// clientDHNonce) and the KDCDHKeyInfo, with serverDHNonce; a KRB-ERROR's typed data
// (TD-TRUSTED-CERTIFIERS, TD-DH-PARAMETERS); and PKU2U's NegoEx meta-data (trusted
// issuers, target). Those structures must pass internal/pkinit's and internal/cms's
// parsers, whose values decode shows.
package decode

import (
	"errors"
	"fmt"
	"strings"
)

// Node is one field of a dissected token: its name, its value as text (empty for
// structures), and where its bytes lie in the input given to Decode.
type Node struct {
	Name     string  `json:"name"`
	Value    string  `json:"value,omitempty"`
	Offset   int     `json:"offset"`
	Length   int     `json:"length"`
	Children []*Node `json:"children,omitempty"`
}

// add appends a child and returns it.
func (n *Node) add(name, value string, off, length int) *Node {
	c := &Node{Name: name, Value: value, Offset: off, Length: length}
	n.Children = append(n.Children, c)
	return c
}

// Find returns the first node named name in n's tree (depth first, n included), nil if
// there is none.
func (n *Node) Find(name string) *Node {
	if n == nil {
		return nil
	}
	if n.Name == name {
		return n
	}
	for _, c := range n.Children {
		if f := c.Find(name); f != nil {
			return f
		}
	}
	return nil
}

// FindAll returns every node named name in n's tree, in tree order.
func (n *Node) FindAll(name string) []*Node {
	var out []*Node
	var walk func(*Node)
	walk = func(m *Node) {
		if m.Name == name {
			out = append(out, m)
		}
		for _, c := range m.Children {
			walk(c)
		}
	}
	if n != nil {
		walk(n)
	}
	return out
}

// Tree renders n as an indented tree, one field a line, like tshark -V.
func (n *Node) Tree() string {
	var sb strings.Builder
	n.write(&sb, 0)
	return sb.String()
}

func (n *Node) write(sb *strings.Builder, depth int) {
	sb.WriteString(strings.Repeat("    ", depth))
	sb.WriteString(n.Name)
	if n.Value != "" {
		sb.WriteString(": ")
		sb.WriteString(n.Value)
	}
	sb.WriteByte('\n')
	for _, c := range n.Children {
		c.write(sb, depth+1)
	}
}

// DecodeError says where (a byte offset in the input) and why a token is malformed.
type DecodeError struct {
	Offset int
	Reason string
}

func (e *DecodeError) Error() string { return fmt.Sprintf("offset %d: %s", e.Offset, e.Reason) }

func fail(off int, format string, a ...any) error {
	return &DecodeError{Offset: off, Reason: fmt.Sprintf(format, a...)}
}

// asDecodeError turns a parser's error into a DecodeError at off.
func asDecodeError(err error, off int) error {
	var d *DecodeError
	if errors.As(err, &d) {
		return d
	}
	return &DecodeError{Offset: off, Reason: err.Error()}
}

// maxInput bounds what Decode looks at.
const maxInput = 1 << 20

// maxDepth bounds how deep tokens may nest inside one another.
const maxDepth = 8

// Decode dissects a token, choosing the dissector from its first bytes: GSS-API
// InitialContextToken framing (0x60), a bare SPNEGO NegotiationToken (0xa0/0xa1),
// NTLMSSP, NegoEx, RFC 4121 Kerberos tokens, RFC 4120 Kerberos messages, or an NTLMSSP
// message signature. Malformed input yields a *DecodeError.
func Decode(b []byte) (*Node, error) {
	if len(b) > maxInput {
		return nil, fail(maxInput, "token of %d bytes is too large to dissect (limit %d)", len(b), maxInput)
	}
	d := &decoder{buf: b}
	return d.any(0, len(b), "", 0)
}

// decoder holds the whole input, so every node's offset is absolute.
type decoder struct {
	buf []byte
}

// mech hints name what a carrier said the inner token is.
const (
	hintNone     = ""
	hintNTLM     = "ntlm"
	hintKerberos = "krb5"
	hintNegoEx   = "negoex"
)

// any dissects buf[off:off+n] by its content.
func (d *decoder) any(off, n int, hint string, depth int) (*Node, error) {
	if depth > maxDepth {
		return nil, fail(off, "tokens nested more than %d deep", maxDepth)
	}
	b := d.buf[off : off+n]
	switch {
	case len(b) == 0:
		return nil, fail(off, "empty token")
	case len(b) >= 8 && string(b[:8]) == "NTLMSSP\x00":
		return d.ntlm(off, n)
	case len(b) >= 8 && string(b[:8]) == "NEGOEXTS":
		return d.negoex(off, n, depth)
	case b[0] == 0x60:
		return d.gss(off, n, depth)
	case b[0] == 0xa0 || b[0] == 0xa1:
		return d.spnego(off, n, hintNone, depth)
	case len(b) >= 4 && b[0] == 1 && b[1] == 0 && b[2] == 0 && b[3] == 0:
		return d.ntlmSignature(off, n)
	case len(b) >= 2 && isKerberosTokenID(b[0], b[1]):
		return d.krbToken(off, n, depth)
	case b[0]&0xe0 == 0x60:
		return d.krbMessage(off, n)
	}
	return nil, fail(off, "unknown token (first byte 0x%02x)", b[0])
}
