package httpauth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gossp/gossp/httpauth"
)

// Requests over reused connections, in one run: without authentication; with a
// Negotiate (over NTLM) handshake on every request; and with WithPersistentAuth, where a
// connection authenticates once.
//
//	go test -run '^$' -bench . -benchmem ./httpauth
func BenchmarkRequests(b *testing.B) {
	client, server := stack(b, false)
	run := func(b *testing.B, ts *httptest.Server, rt http.RoundTripper) {
		c := &http.Client{Transport: rt}
		defer c.CloseIdleConnections()
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Get(ts.URL)
			if err != nil || resp.StatusCode != 200 {
				b.Fatal(resp, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	}
	b.Run("unauthenticated", func(b *testing.B) {
		ts := httptest.NewServer(whoamiAnon)
		defer ts.Close()
		run(b, ts, ts.Client().Transport)
	})
	b.Run("handshake-per-request", func(b *testing.B) {
		ts, _ := newServer(b, server)
		run(b, ts, &httpauth.Transport{Credential: client, Base: ts.Client().Transport})
	})
	b.Run("persistent-auth", func(b *testing.B) {
		ts, _ := newServer(b, server, httpauth.WithPersistentAuth())
		run(b, ts, &httpauth.Transport{Credential: client, Base: ts.Client().Transport})
	})
}

var whoamiAnon = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.WriteString(w, "anonymous via nothing (0 body bytes)")
})
