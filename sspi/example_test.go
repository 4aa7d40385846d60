package sspi_test

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log"

	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

// This example drives a complete handshake between an initiator and an acceptor, the
// loop an application writes around InitializeSecurityContext and
// AcceptSecurityContext, then protects a message with the established context. The
// tokens would normally travel over the network; here they are handed across directly.
func Example_handshake() {
	ctx := context.Background()
	key := []byte("0123456789abcdef0123456789abcdef") // a high-entropy pre-shared key
	pkg := psk.New(psk.Config{})

	clientCred, err := pkg.AcquireCredentials(ctx, sspi.CredentialRequest{
		Use:      sspi.CredentialsOutbound,
		Material: psk.ClientKey{Identity: "alice", Key: key},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer clientCred.Close()
	serverCred, err := pkg.AcquireCredentials(ctx, sspi.CredentialRequest{
		Use:       sspi.CredentialsInbound,
		Principal: "host/server.example.test",
		Material:  psk.Keys{"alice": key},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer serverCred.Close()

	flags := sspi.FlagMutualAuth | sspi.FlagConfidentiality | sspi.FlagIntegrity
	client, err := clientCred.NewInitiator(sspi.ContextConfig{Target: "host/server.example.test", Flags: flags})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	server, err := serverCred.NewAcceptor(sspi.ContextConfig{Flags: flags})
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()

	// Each side runs until it reports StatusOK; a token is sent whenever one is produced.
	var toServer, toClient []byte
	clientDone, serverDone := false, false
	for !clientDone || !serverDone {
		if !clientDone {
			var st sspi.Status
			toServer, st, err = client.InitializeContext(ctx, toClient)
			if err != nil {
				log.Fatal(err)
			}
			clientDone = st == sspi.StatusOK
		}
		if len(toServer) > 0 && !serverDone {
			var st sspi.Status
			toClient, st, err = server.AcceptContext(ctx, toServer)
			if err != nil {
				log.Fatal(err)
			}
			serverDone = st == sspi.StatusOK
		}
	}

	ca, sa := client.Attributes(), server.Attributes()
	fmt.Println("established:", ca.Established, sa.Established, sa.State)
	fmt.Println("package:", sa.Package.Name)
	fmt.Println("client:", sa.ClientName)
	fmt.Println("confidential:", ca.Flags&sspi.FlagConfidentiality != 0)

	sealed, err := client.EncryptMessage([]byte("hello, acceptor"))
	if err != nil {
		log.Fatal(err)
	}
	msg, err := server.DecryptMessage(sealed)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("message: %s\n", msg)

	// A replayed token is refused.
	_, err = server.DecryptMessage(sealed)
	fmt.Println("replay refused:", errors.Is(err, sspi.ErrOutOfSequence))
	// Output:
	// established: true true complete
	// package: PSK
	// client: alice
	// confidential: true
	// message: hello, acceptor
	// replay refused: true
}

func ExampleRegistry_EnumerateSecurityPackages() {
	reg, err := sspi.NewRegistry(psk.New(psk.Config{}))
	if err != nil {
		log.Fatal(err)
	}
	for _, info := range reg.EnumerateSecurityPackages() {
		fmt.Printf("%s (v%d, max token %d bytes): %s\n", info.Name, info.Version, info.MaxToken, info.Comment)
		fmt.Println("  capabilities:", info.Capabilities)
		fmt.Println("  NegoEx auth scheme:", info.AuthScheme)
	}

	_, err = reg.QuerySecurityPackageInfo("Kerberos")
	fmt.Println(errors.Is(err, sspi.ErrPackageNotFound))
	// Output:
	// PSK (v1, max token 300 bytes): gossp pre-shared key mutual authentication
	//   capabilities: INTEGRITY|PRIVACY|CONNECTION|MULTI_REQUIRED|MUTUAL_AUTH|NEGOTIABLE2
	//   NegoEx auth scheme: 7d3f1a42-6c0e-4b8a-9f15-2e9c7b5d0a61
	// true
}

// Errors from every package wrap an SSPI status; errors.Is picks it out whatever else
// wraps the error, and StatusOf returns its Windows name and number.
func ExampleStatus() {
	err := fmt.Errorf("login to %s: %w", "server.example.test",
		sspi.WithOp(sspi.ErrLogonDenied, "NTLM", "AcceptContext"))

	fmt.Println(err)
	fmt.Println(errors.Is(err, sspi.ErrLogonDenied))
	fmt.Println(errors.Is(err, sspi.ErrInvalidToken))
	// Status is an error, so %v prints its message; String gives name and number.
	fmt.Println(sspi.StatusOf(err).String())
	// Output:
	// login to server.example.test: NTLM: AcceptContext: the logon attempt failed (SEC_E_LOGON_DENIED)
	// true
	// false
	// SEC_E_LOGON_DENIED (0x8009030C)
}

// serverCertPEM is a fixed ECDSA P-256 certificate signed with ECDSA-SHA256, so the
// output below does not change between runs. Its SHA-256 can be checked with
// "openssl x509 -outform DER | sha256sum".
const serverCertPEM = `-----BEGIN CERTIFICATE-----
MIIBczCCARmgAwIBAgICFykwCgYIKoZIzj0EAwIwHjEcMBoGA1UEAxMTc2VydmVy
LmV4YW1wbGUudGVzdDAeFw0yNTAxMDEwMDAwMDBaFw0zNTAxMDEwMDAwMDBaMB4x
HDAaBgNVBAMTE3NlcnZlci5leGFtcGxlLnRlc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASIyCNQ48uHOwuObt5Dy9BpVd5rqT/gtpJfKbLvBo0CjwrQlU1RTuYh
q4IbUE5yIvfDnDb5s7Dg2ttVNABCHHZTo0cwRTAOBgNVHQ8BAf8EBAMCB4AwEwYD
VR0lBAwwCgYIKwYBBQUHAwEwHgYDVR0RBBcwFYITc2VydmVyLmV4YW1wbGUudGVz
dDAKBggqhkjOPQQDAgNIADBFAiBVEJu30sN/TsRoqjA22v2gnKBawarUgG+YiVYF
odXXtgIhANTLnIDDllT+TxwVBSvhlJFn9bGHM6DLwLJCLXIbTgkE
-----END CERTIFICATE-----
`

// A server binds authentication to its TLS certificate with TLSServerEndPoint of its
// leaf; a client computes the same value with TLSServerEndPointFromState of its
// connection. Both pass the result as ContextConfig.ChannelBindings.
func ExampleTLSServerEndPoint() {
	block, _ := pem.Decode([]byte(serverCertPEM))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		log.Fatal(err)
	}
	cb, err := sspi.TLSServerEndPoint(cert)
	if err != nil {
		log.Fatal(err)
	}
	const prefix = len("tls-server-end-point:")
	fmt.Printf("%s\n", cb.ApplicationData[:prefix])
	fmt.Println(hex.EncodeToString(cb.ApplicationData[prefix:]))

	cfg := sspi.ContextConfig{ChannelBindings: cb}
	_ = cfg
	// Output:
	// tls-server-end-point:
	// d7c9356507913805654dcad20810422c7311dff08439ee08c5e64932f92cddfb
}
