package httpauth_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// A server that refuses with a last token — SPNEGO's negState reject on the 401, as
// MIT's acceptor in Apache mod_auth_gssapi answers a wrong NTLM password — is a
// refusal the caller sees as the 401 it is, not a transport error.
func TestRefusalWithRejectToken(t *testing.T) {
	client, _ := stack(t, false)
	var legs atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", "Negotiate")
		} else {
			legs.Add(1)
			w.Header().Set("WWW-Authenticate", "Negotiate oQcwBaADCgEC") // NegTokenResp{negState: reject}
		}
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte("refused"))
	}))
	defer ts.Close()
	code, body, err := get(t, transport(t, client, ts), ts.URL, nil)
	if err != nil || code != http.StatusUnauthorized || body != "refused" {
		t.Fatalf("got %d %q %v, want the server's 401", code, body, err)
	}
	if n := legs.Load(); n != 1 {
		t.Errorf("%d authenticated legs, want 1 (nothing to answer a reject with)", n)
	}
}
