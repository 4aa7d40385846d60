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

// A server that authenticates with Negotiate (here over NTLM), and a client that
// answers its challenges.
func Example() {
	neg, _ := negotiate.New(negotiate.Config{Packages: []sspi.Package{ntlm.New(ntlm.Config{})}})
	ctx := context.Background()
	serverCred, _ := neg.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsInbound,
		Material: negotiate.Options{Material: map[string]any{"NTLM": ntlm.Users{{Domain: "CORP", User: "alice", NTHash: ntlm.NTHash("pw")}}}}})
	clientCred, _ := neg.AcquireCredentials(ctx, sspi.CredentialRequest{Use: sspi.CredentialsOutbound,
		Identity: &sspi.Identity{User: "alice", Domain: "CORP", Password: "pw"}})

	// Server: the middleware, with its connection hooks on the http.Server.
	auth := httpauth.NewServer(serverCred)
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := httpauth.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s (%s)", id.ClientName, id.Package)
	})
	ts := httptest.NewUnstartedServer(auth.Middleware(hello))
	ts.Config.ConnContext, ts.Config.ConnState = auth.ConnContext, auth.ConnState
	ts.Start()
	defer ts.Close()

	// Client: the transport answers the 401 challenges.
	client := &http.Client{Transport: &httpauth.Transport{Credential: clientCred}}
	resp, err := client.Get(ts.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 hello CORP\alice (NTLM)
}
