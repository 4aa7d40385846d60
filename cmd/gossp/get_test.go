package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGetUsageAndFailures(t *testing.T) {
	if code, _, _ := runCmd(t, "get", "a", "b"); code != exitUsage {
		t.Errorf("two URLs: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ := runCmd(t, "get", "-nosuchflag", "http://127.0.0.1/"); code != exitUsage {
		t.Errorf("unknown flag: exit %d, want %d", code, exitUsage)
	}
	// A server offering no Negotiate: its answer is printed, and a 4xx fails.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "go away", http.StatusForbidden)
	}))
	defer ts.Close()
	code, out, _ := runCmd(t, "get", ts.URL)
	if code != exitFail || !strings.Contains(out, "403 Forbidden") || !strings.Contains(out, "go away") {
		t.Errorf("403: exit %d\n%s", code, out)
	}
}
