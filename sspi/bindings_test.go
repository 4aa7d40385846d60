package sspi_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/gossp/gossp/sspi"
)

func TestChannelBindingsMarshal(t *testing.T) {
	cb := &sspi.ChannelBindings{
		InitiatorAddrType: 2, InitiatorAddress: []byte{192, 0, 2, 1},
		AcceptorAddrType: 2, AcceptorAddress: []byte{192, 0, 2, 2, 9},
		ApplicationData: []byte("app"),
	}
	want := []byte{
		2, 0, 0, 0, 4, 0, 0, 0, 192, 0, 2, 1, // initiator: type, length, address
		2, 0, 0, 0, 5, 0, 0, 0, 192, 0, 2, 2, 9, // acceptor
		3, 0, 0, 0, 'a', 'p', 'p', // application data
	}
	if got := cb.Marshal(); !bytes.Equal(got, want) {
		t.Errorf("Marshal = %x\nwant      %x", got, want)
	}
	if got := cb.MD5(); got != md5.Sum(want) {
		t.Errorf("MD5 = %x, want %x", got, md5.Sum(want))
	}

	// No bindings at all and empty bindings differ: nil sends zeros, an empty struct
	// sends the MD5 of twenty zero bytes, as Kerberos and NTLM do.
	var none *sspi.ChannelBindings
	if none.MD5() != ([16]byte{}) {
		t.Errorf("nil MD5 = %x, want zeros", none.MD5())
	}
	empty := &sspi.ChannelBindings{}
	if got := empty.Marshal(); !bytes.Equal(got, make([]byte, 20)) {
		t.Errorf("empty Marshal = %x, want 20 zero bytes", got)
	}
	if got := empty.MD5(); got != md5.Sum(make([]byte, 20)) {
		t.Errorf("empty MD5 = %x", got)
	}
}

func TestChannelBindingsMarshalSSPI(t *testing.T) {
	app := []byte("tls-unique:0123456789ab")
	cb := &sspi.ChannelBindings{ApplicationData: app}
	b := cb.MarshalSSPI()
	if len(b) != 32+len(app) {
		t.Fatalf("MarshalSSPI length %d, want %d", len(b), 32+len(app))
	}
	// SEC_CHANNEL_BINDINGS: dwInitiatorAddrType, cbInitiatorLength, dwInitiatorOffset,
	// dwAcceptorAddrType, cbAcceptorLength, dwAcceptorOffset, cbApplicationDataLength,
	// dwApplicationDataOffset.
	hdr := make([]uint32, 8)
	for i := range hdr {
		hdr[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	if want := []uint32{0, 0, 0, 0, 0, 0, uint32(len(app)), 32}; !equalU32(hdr, want) {
		t.Errorf("header = %v, want %v", hdr, want)
	}
	if !bytes.Equal(b[32:], app) {
		t.Errorf("data = %q", b[32:])
	}

	full := &sspi.ChannelBindings{
		InitiatorAddrType: 2, InitiatorAddress: []byte{10, 0, 0, 1},
		AcceptorAddrType: 24, AcceptorAddress: bytes.Repeat([]byte{0xfe}, 16),
		ApplicationData: app,
	}
	b = full.MarshalSSPI()
	for i := range hdr {
		hdr[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	if want := []uint32{2, 4, 32, 24, 16, 36, uint32(len(app)), 52}; !equalU32(hdr, want) {
		t.Errorf("header = %v, want %v", hdr, want)
	}

	for _, in := range []*sspi.ChannelBindings{{}, cb, full, {InitiatorAddrType: 7}} {
		got, err := sspi.ParseSSPIChannelBindings(in.MarshalSSPI())
		if err != nil {
			t.Errorf("Parse(Marshal(%+v)): %v", in, err)
			continue
		}
		if !got.Equal(in) {
			t.Errorf("round trip = %+v, want %+v", got, in)
		}
	}
}

func equalU32(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseSSPIChannelBindingsRejects(t *testing.T) {
	valid := (&sspi.ChannelBindings{InitiatorAddress: []byte{1, 2, 3, 4}, ApplicationData: []byte("xyz")}).MarshalSSPI()
	set := func(b []byte, field int, v uint32) []byte {
		c := append([]byte(nil), b...)
		binary.LittleEndian.PutUint32(c[4*field:], v)
		return c
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"nil", nil},
		{"short header", valid[:31]},
		{"truncated data", valid[:len(valid)-1]},
		{"initiator offset inside header", set(valid, 2, 28)},
		{"initiator offset zero", set(valid, 2, 0)},
		{"initiator past end", set(valid, 2, uint32(len(valid)))},
		{"initiator length past end", set(valid, 1, uint32(len(valid)))},
		{"acceptor length without data", set(set(valid, 4, 1), 5, uint32(len(valid)))},
		{"app data offset overflow", set(set(valid, 6, 0xFFFFFFFF), 7, 0xFFFFFFFF)},
		{"app data length huge", set(valid, 6, 0xFFFFFFF0)},
		{"app data offset huge", set(valid, 7, 0xFFFFFFF0)},
	}
	for _, tc := range tests {
		cb, err := sspi.ParseSSPIChannelBindings(tc.b)
		if err == nil {
			t.Errorf("%s: parsed %+v, want an error", tc.name, cb)
			continue
		}
		if !errors.Is(err, sspi.ErrInvalidParameter) {
			t.Errorf("%s: error %v is not ErrInvalidParameter", tc.name, err)
		}
		if cb != nil {
			t.Errorf("%s: non-nil bindings with an error", tc.name)
		}
	}

	// A zero length makes the offset irrelevant, as Windows treats it.
	cb, err := sspi.ParseSSPIChannelBindings(set(make([]byte, 32), 7, 0xFFFFFFFF))
	if err != nil || cb.ApplicationData != nil {
		t.Errorf("zero-length field with a wild offset: %+v, %v", cb, err)
	}
}

func TestParseSSPIChannelBindingsCopies(t *testing.T) {
	b := (&sspi.ChannelBindings{ApplicationData: []byte("abc")}).MarshalSSPI()
	cb, err := sspi.ParseSSPIChannelBindings(b)
	if err != nil {
		t.Fatal(err)
	}
	b[32] = 'X'
	if string(cb.ApplicationData) != "abc" {
		t.Errorf("parsed bindings alias the input: %q", cb.ApplicationData)
	}
}

func TestChannelBindingsEqual(t *testing.T) {
	var nilCB *sspi.ChannelBindings
	a := &sspi.ChannelBindings{ApplicationData: []byte("x")}
	if !nilCB.Equal(nil) {
		t.Error("nil != nil")
	}
	if nilCB.Equal(&sspi.ChannelBindings{}) || (&sspi.ChannelBindings{}).Equal(nil) {
		t.Error("nil equals empty bindings")
	}
	if !(&sspi.ChannelBindings{InitiatorAddress: []byte{}}).Equal(&sspi.ChannelBindings{}) {
		t.Error("empty and nil slices differ")
	}
	if !a.Equal(&sspi.ChannelBindings{ApplicationData: []byte("x")}) {
		t.Error("equal values differ")
	}
	for _, b := range []*sspi.ChannelBindings{
		{ApplicationData: []byte("y")},
		{ApplicationData: []byte("x"), InitiatorAddrType: 1},
		{ApplicationData: []byte("x"), AcceptorAddrType: 1},
		{ApplicationData: []byte("x"), InitiatorAddress: []byte{1}},
		{ApplicationData: []byte("x"), AcceptorAddress: []byte{1}},
	} {
		if a.Equal(b) || b.Equal(a) {
			t.Errorf("%+v equals %+v", a, b)
		}
	}
}

func TestCheckBindings(t *testing.T) {
	cb := &sspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:abc")}
	other := &sspi.ChannelBindings{ApplicationData: []byte("tls-server-end-point:abd")}
	var zero [16]byte

	tests := []struct {
		name         string
		expected     *sspi.ChannelBindings
		got          [16]byte
		allowMissing bool
		wantBad      bool
	}{
		{"none expected, none sent", nil, zero, false, false},
		{"matching", cb, cb.MD5(), false, false},
		{"matching, allowMissing", cb, cb.MD5(), true, false},
		{"missing", cb, zero, false, true},
		{"missing, allowed", cb, zero, true, false},
		{"mismatch", cb, other.MD5(), false, true},
		{"mismatch is not excused by allowMissing", cb, other.MD5(), true, true},
		{"sent, acceptor has none", nil, cb.MD5(), false, false},
	}
	for _, tc := range tests {
		err := sspi.CheckBindings(tc.expected, tc.got, tc.allowMissing)
		if !tc.wantBad {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, sspi.ErrBadBindings) || sspi.StatusOf(err) != sspi.ErrBadBindings {
			t.Errorf("%s: err = %v, want ErrBadBindings", tc.name, err)
		}
	}
}

// testCert makes a self-signed certificate for server.test with an ECDSA key on curve,
// signed with sigAlg.
func testCert(t testing.TB, curve elliptic.Curve, sigAlg x509.SignatureAlgorithm) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(1),
		Subject:            pkix.Name{CommonName: "server.test"},
		DNSNames:           []string{"server.test"},
		NotBefore:          time.Now().Add(-time.Hour),
		NotAfter:           time.Now().Add(time.Hour),
		KeyUsage:           x509.KeyUsageDigitalSignature,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SignatureAlgorithm: sigAlg,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.SignatureAlgorithm != sigAlg {
		t.Fatalf("certificate signed with %v, want %v", leaf.SignatureAlgorithm, sigAlg)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

// handshake runs a real TLS handshake over an in-memory pipe and returns both ends'
// connection states.
func handshake(t testing.TB, cert tls.Certificate, leaf *x509.Certificate, minV, maxV uint16) (client, server tls.ConnectionState) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	deadline := time.Now().Add(10 * time.Second)
	c1.SetDeadline(deadline)
	c2.SetDeadline(deadline)
	srv := tls.Server(c2, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: minV, MaxVersion: maxV})
	cli := tls.Client(c1, &tls.Config{RootCAs: roots, ServerName: "server.test", MinVersion: minV, MaxVersion: maxV})
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	return cli.ConnectionState(), srv.ConnectionState()
}

func TestTLSServerEndPointHandshake(t *testing.T) {
	for _, tc := range []struct {
		name   string
		curve  elliptic.Curve
		sigAlg x509.SignatureAlgorithm
		hash   crypto.Hash
	}{
		{"ECDSA-P256-SHA256", elliptic.P256(), x509.ECDSAWithSHA256, crypto.SHA256},
		{"ECDSA-P256-SHA384", elliptic.P256(), x509.ECDSAWithSHA384, crypto.SHA384},
		{"ECDSA-P384-SHA512", elliptic.P384(), x509.ECDSAWithSHA512, crypto.SHA512},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cert, leaf := testCert(t, tc.curve, tc.sigAlg)
			cliState, _ := handshake(t, cert, leaf, tls.VersionTLS12, tls.VersionTLS13)

			server, err := sspi.TLSServerEndPoint(leaf)
			if err != nil {
				t.Fatal(err)
			}
			client, err := sspi.TLSServerEndPointFromState(cliState)
			if err != nil {
				t.Fatal(err)
			}
			if !server.Equal(client) {
				t.Fatalf("server and client bindings differ:\n%x\n%x", server.ApplicationData, client.ApplicationData)
			}
			// RFC 5929 4.1: the prefix, then the certificate's hash in its signature's hash.
			var sum []byte
			switch tc.hash {
			case crypto.SHA256:
				s := sha256.Sum256(leaf.Raw)
				sum = s[:]
			case crypto.SHA384:
				s := sha512.Sum384(leaf.Raw)
				sum = s[:]
			case crypto.SHA512:
				s := sha512.Sum512(leaf.Raw)
				sum = s[:]
			}
			want := append([]byte("tls-server-end-point:"), sum...)
			if !bytes.Equal(server.ApplicationData, want) {
				t.Errorf("ApplicationData = %x, want %x", server.ApplicationData, want)
			}
			if server.InitiatorAddress != nil || server.AcceptorAddress != nil ||
				server.InitiatorAddrType != 0 || server.AcceptorAddrType != 0 {
				t.Errorf("TLS bindings set address fields: %+v", server)
			}
			// Both sides agree through the hash Kerberos and NTLM carry.
			if err := sspi.CheckBindings(server, client.MD5(), false); err != nil {
				t.Errorf("CheckBindings: %v", err)
			}
			// A different certificate is a different channel.
			_, leaf2 := testCert(t, tc.curve, tc.sigAlg)
			other, _ := sspi.TLSServerEndPoint(leaf2)
			if err := sspi.CheckBindings(server, other.MD5(), false); !errors.Is(err, sspi.ErrBadBindings) {
				t.Errorf("CheckBindings of another certificate: %v, want ErrBadBindings", err)
			}
		})
	}
}

// TestTLSServerEndPointHashChoice covers signature algorithms a test cannot easily
// issue: MD5 and SHA-1 map to SHA-256 (RFC 5929 4.1), the others to their own hash.
func TestTLSServerEndPointHashChoice(t *testing.T) {
	raw := []byte("not really DER, only hashed")
	s256, s384, s512 := sha256.Sum256(raw), sha512.Sum384(raw), sha512.Sum512(raw)
	for _, tc := range []struct {
		alg  x509.SignatureAlgorithm
		want []byte
	}{
		{x509.MD5WithRSA, s256[:]},
		{x509.SHA1WithRSA, s256[:]},
		{x509.ECDSAWithSHA1, s256[:]},
		{x509.SHA256WithRSA, s256[:]},
		{x509.SHA256WithRSAPSS, s256[:]},
		{x509.ECDSAWithSHA256, s256[:]},
		{x509.SHA384WithRSA, s384[:]},
		{x509.SHA384WithRSAPSS, s384[:]},
		{x509.ECDSAWithSHA384, s384[:]},
		{x509.SHA512WithRSA, s512[:]},
		{x509.SHA512WithRSAPSS, s512[:]},
		{x509.ECDSAWithSHA512, s512[:]},
		{x509.PureEd25519, s256[:]},
		{x509.UnknownSignatureAlgorithm, s256[:]},
	} {
		cb, err := sspi.TLSServerEndPoint(&x509.Certificate{Raw: raw, SignatureAlgorithm: tc.alg})
		if err != nil {
			t.Errorf("%v: %v", tc.alg, err)
			continue
		}
		if want := append([]byte("tls-server-end-point:"), tc.want...); !bytes.Equal(cb.ApplicationData, want) {
			t.Errorf("%v: hashed with the wrong function: %x", tc.alg, cb.ApplicationData)
		}
	}
}

func TestTLSServerEndPointErrors(t *testing.T) {
	if _, err := sspi.TLSServerEndPoint(nil); !errors.Is(err, sspi.ErrInvalidParameter) {
		t.Errorf("TLSServerEndPoint(nil) = %v, want ErrInvalidParameter", err)
	}
	if _, err := sspi.TLSServerEndPointFromState(tls.ConnectionState{}); !errors.Is(err, sspi.ErrInvalidParameter) {
		t.Errorf("TLSServerEndPointFromState(no certificate) = %v, want ErrInvalidParameter", err)
	}
}

func TestTLSUnique(t *testing.T) {
	cert, leaf := testCert(t, elliptic.P256(), x509.ECDSAWithSHA256)

	t.Run("TLS1.2", func(t *testing.T) {
		cliState, srvState := handshake(t, cert, leaf, tls.VersionTLS12, tls.VersionTLS12)
		if cliState.Version != tls.VersionTLS12 {
			t.Fatalf("negotiated %x", cliState.Version)
		}
		client, err := sspi.TLSUnique(cliState)
		if err != nil {
			t.Fatal(err)
		}
		server, err := sspi.TLSUnique(srvState)
		if err != nil {
			t.Fatal(err)
		}
		if !client.Equal(server) {
			t.Fatalf("client and server tls-unique differ:\n%x\n%x", client.ApplicationData, server.ApplicationData)
		}
		// The first Finished's verify_data is 12 bytes in TLS 1.2.
		want := append([]byte("tls-unique:"), cliState.TLSUnique...)
		if !bytes.Equal(client.ApplicationData, want) || len(cliState.TLSUnique) != 12 {
			t.Errorf("ApplicationData = %q", client.ApplicationData)
		}
		// Each connection has its own value.
		cli2, _ := handshake(t, cert, leaf, tls.VersionTLS12, tls.VersionTLS12)
		again, _ := sspi.TLSUnique(cli2)
		if again.Equal(client) {
			t.Error("two connections share tls-unique")
		}
		if err := sspi.CheckBindings(server, again.MD5(), false); !errors.Is(err, sspi.ErrBadBindings) {
			t.Errorf("CheckBindings across connections = %v, want ErrBadBindings", err)
		}
	})

	t.Run("TLS1.3 refused", func(t *testing.T) {
		cliState, srvState := handshake(t, cert, leaf, tls.VersionTLS13, tls.VersionTLS13)
		for _, st := range []tls.ConnectionState{cliState, srvState} {
			cb, err := sspi.TLSUnique(st)
			if err == nil {
				t.Errorf("TLSUnique on TLS 1.3 = %+v, want an error", cb)
			} else if !errors.Is(err, sspi.ErrInvalidParameter) {
				t.Errorf("TLSUnique on TLS 1.3: %v, want ErrInvalidParameter", err)
			}
		}
	})
}

func TestTLSExporter(t *testing.T) {
	cert, leaf := testCert(t, elliptic.P256(), x509.ECDSAWithSHA256)
	for _, v := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
		cliState, srvState := handshake(t, cert, leaf, v, v)
		client, err := sspi.TLSExporter(cliState)
		if err != nil {
			t.Fatalf("version %x: %v", v, err)
		}
		server, err := sspi.TLSExporter(srvState)
		if err != nil {
			t.Fatalf("version %x: %v", v, err)
		}
		if !client.Equal(server) {
			t.Errorf("version %x: client and server tls-exporter differ", v)
		}
		if !bytes.HasPrefix(client.ApplicationData, []byte("tls-exporter:")) || len(client.ApplicationData) != len("tls-exporter:")+32 {
			t.Errorf("version %x: ApplicationData = %x", v, client.ApplicationData)
		}
		// RFC 9266: label EXPORTER-Channel-Binding, no context, 32 bytes.
		ekm, err := cliState.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
		if err != nil || !bytes.Equal(client.ApplicationData[len("tls-exporter:"):], ekm) {
			t.Errorf("version %x: exporter value is not the RFC 9266 one (%v)", v, err)
		}
		cli2, _ := handshake(t, cert, leaf, v, v)
		other, _ := sspi.TLSExporter(cli2)
		if other.Equal(client) {
			t.Errorf("version %x: two connections share tls-exporter", v)
		}
	}
	if _, err := sspi.TLSExporter(tls.ConnectionState{}); !errors.Is(err, sspi.ErrInvalidParameter) {
		t.Errorf("TLSExporter before the handshake = %v, want ErrInvalidParameter", err)
	}
}

// FuzzParseSSPIChannelBindings checks that parsing never panics, that every failure is
// ErrInvalidParameter, and that what it accepts survives MarshalSSPI and parses back to
// the same value. The second half builds bindings from fuzzed fields and checks the
// marshal-then-parse direction too.
func FuzzParseSSPIChannelBindings(f *testing.F) {
	seeds := []*sspi.ChannelBindings{
		{},
		{ApplicationData: []byte("tls-server-end-point:" + string(make([]byte, 32)))},
		{ApplicationData: []byte("tls-unique:0123456789ab")},
		{InitiatorAddrType: 2, InitiatorAddress: []byte{10, 0, 0, 1}, AcceptorAddrType: 2, AcceptorAddress: []byte{10, 0, 0, 2}},
		{InitiatorAddrType: 24, InitiatorAddress: bytes.Repeat([]byte{0xfe}, 16), ApplicationData: []byte("x")},
	}
	for _, s := range seeds {
		f.Add(s.MarshalSSPI(), s.InitiatorAddrType, s.InitiatorAddress, s.AcceptorAddrType, s.AcceptorAddress, s.ApplicationData)
	}
	// Hand-made structures with overlapping and out-of-range fields.
	overlap := make([]byte, 40)
	binary.LittleEndian.PutUint32(overlap[4:], 8)
	binary.LittleEndian.PutUint32(overlap[8:], 32)
	binary.LittleEndian.PutUint32(overlap[24:], 8)
	binary.LittleEndian.PutUint32(overlap[28:], 32)
	f.Add(overlap, uint32(0), []byte(nil), uint32(0), []byte(nil), []byte(nil))
	wild := make([]byte, 32)
	binary.LittleEndian.PutUint32(wild[24:], 0xFFFFFFFF)
	binary.LittleEndian.PutUint32(wild[28:], 0xFFFFFFFF)
	f.Add(wild, uint32(1), []byte{1}, uint32(2), []byte{2}, []byte{3})

	f.Fuzz(func(t *testing.T, raw []byte, it uint32, ia []byte, at uint32, aa, app []byte) {
		cb, err := sspi.ParseSSPIChannelBindings(raw)
		if err != nil {
			if cb != nil || !errors.Is(err, sspi.ErrInvalidParameter) {
				t.Fatalf("failure returned %+v, %v", cb, err)
			}
		} else {
			again, err := sspi.ParseSSPIChannelBindings(cb.MarshalSSPI())
			if err != nil {
				t.Fatalf("re-parse of MarshalSSPI: %v", err)
			}
			if !again.Equal(cb) {
				t.Fatalf("parse(marshal(x)) = %+v, want %+v", again, cb)
			}
			// Fields may overlap, but each must lie after the header.
			for _, fld := range [][]byte{cb.InitiatorAddress, cb.AcceptorAddress, cb.ApplicationData} {
				if len(fld) > len(raw)-32 {
					t.Fatalf("parsed a %d-byte field out of a %d-byte structure", len(fld), len(raw))
				}
			}
		}

		built := &sspi.ChannelBindings{InitiatorAddrType: it, InitiatorAddress: ia, AcceptorAddrType: at, AcceptorAddress: aa, ApplicationData: app}
		b := built.MarshalSSPI()
		if len(b) != 32+len(ia)+len(aa)+len(app) {
			t.Fatalf("MarshalSSPI length %d", len(b))
		}
		back, err := sspi.ParseSSPIChannelBindings(b)
		if err != nil {
			t.Fatalf("parse(MarshalSSPI(%+v)): %v", built, err)
		}
		if !back.Equal(built) {
			t.Fatalf("parse(MarshalSSPI(x)) = %+v, want %+v", back, built)
		}
		if flat := built.Marshal(); len(flat) != 20+len(ia)+len(aa)+len(app) {
			t.Fatalf("Marshal length %d", len(flat))
		}
	})
}
