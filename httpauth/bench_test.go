package httpauth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gossp/gossp/httpauth"
)

// Authenticated requests against the same server unauthenticated, in one run. The
// transport authenticates every request on a connection of its own (Negotiate over
// NTLM: three legs), which is what the ratio shows.
//
//	go test -run '^$' -bench . -benchmem ./httpauth
func BenchmarkAuthenticatedRequest(b *testing.B) {
	client, server := stack(b, false)
	ts, _ := newServer(b, server)
	tr := &http.Client{Transport: &httpauth.Transport{Credential: client, Base: ts.Client().Transport.(*http.Transport)}}
	b.ReportAllocs()
	for b.Loop() {
		resp, err := tr.Get(ts.URL)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

func BenchmarkUnauthenticatedRequest(b *testing.B) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	defer ts.Close()
	c := ts.Client()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.Get(ts.URL)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
