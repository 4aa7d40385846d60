package httpauth_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/gossp/gossp/httpauth"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/sspi"
)

// exampleCredentials are Negotiate (over NTLM) credentials for the examples.
func exampleCredentials() (client, server sspi.Credential) {
	neg, _ := negotiate.New(negotiate.Config{Packages: []sspi.Package{ntlm.New(ntlm.Config{})}})
	ctx := context.Background()
	server, _ = neg.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsInbound,
		Material: negotiate.Options{Material: map[string]any{ntlm.Name: ntlm.Users{{Domain: "CORP", User: "alice", NTHash: ntlm.NTHash("pw")}}}}})
	client, _ = neg.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: "alice", Domain: "CORP", Password: "pw"}})
	return client, server
}

// A server that authenticates with Negotiate: the middleware, and its connection hooks
// on the http.Server.
func ExampleServer_Middleware() {
	clientCred, serverCred := exampleCredentials()
	auth, err := httpauth.NewServer(serverCred)
	if err != nil {
		panic(err)
	}
	defer auth.Close()
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := httpauth.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s (%s)", id.ClientName, id.Package)
	})
	ts := httptest.NewUnstartedServer(auth.Middleware(hello))
	ts.Config.ConnContext = httpauth.ConnContext // required for multi-leg mechanisms
	ts.Config.ConnState = auth.ConnState         // frees a closed connection's handshake
	ts.Start()
	defer ts.Close()

	// A client without credentials is challenged.
	resp, _ := http.Get(ts.URL)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))

	tr := &httpauth.Transport{Credential: clientCred}
	defer tr.CloseIdleConnections()
	resp, err = (&http.Client{Transport: tr}).Get(ts.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// 401 Negotiate
	// 200 hello CORP\alice (NTLM)
}

// A client answering Negotiate challenges: the transport runs the handshake on one
// connection and checks the server's final token.
func ExampleTransport() {
	clientCred, serverCred := exampleCredentials()
	mw, _ := httpauth.Middleware(serverCred)
	ts := httptest.NewUnstartedServer(mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "secret")
	})))
	ts.Config.ConnContext = httpauth.ConnContext
	ts.Start()
	defer ts.Close()

	tr := &httpauth.Transport{Credential: clientCred} // SPN: "HTTP/" + host
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	resp, err := client.Get(ts.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	// Output: 200 OK secret
}
