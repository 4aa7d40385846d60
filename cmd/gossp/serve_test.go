package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is written by the server goroutine and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeAndGet(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve", "-addr", "127.0.0.1:0"}, &out, &errOut) }()
	re := regexp.MustCompile(`http://(\S+)/ \(demo user alice, password (\S+)\)`)
	var m []string
	for deadline := time.Now().Add(5 * time.Second); m == nil && time.Now().Before(deadline); {
		m = re.FindStringSubmatch(out.String())
		time.Sleep(10 * time.Millisecond)
	}
	if m == nil {
		cancel()
		t.Fatalf("server did not start: %s %s", out.String(), errOut.String())
	}
	code, body, errs := runCmd(t, "get", "-user", `GOSSP\alice`, "-password", m[2], "http://"+m[1]+"/")
	if code != exitOK || !strings.Contains(body, `authenticated: GOSSP\alice`) || !strings.Contains(body, "Negotiate -> NTLM") {
		t.Errorf("get: exit %d\n%s\n%s", code, body, errs)
	}
	code, _, _ = runCmd(t, "get", "-user", `GOSSP\alice`, "-password", "wrong", "http://"+m[1]+"/")
	if code != exitFail {
		t.Errorf("wrong password: exit %d, want 1", code)
	}
	if code, _, _ := runCmd(t, "get"); code != exitUsage {
		t.Errorf("get without URL: exit %d, want 2", code)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("serve exit %d: %s", code, errOut.String())
	}
}
