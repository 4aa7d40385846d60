package record

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gossp/gossp/sspi"
)

// scripted plays our side from a list of answers, one per call.
type scripted struct {
	outs [][]byte
	st   []sspi.Status
	n    int
}

func (s *scripted) step(in []byte) ([]byte, sspi.Status, error) {
	i := s.n
	s.n++
	return s.outs[i], s.st[i], nil
}

// established is a SecurityContext stub that reports an established context.
type established struct{ sspi.SecurityContext }

func (established) Attributes() sspi.ContextAttributes {
	return sspi.ContextAttributes{Established: true, ClientName: `D\u`}
}

func TestReplayChecksTokensAndCompletion(t *testing.T) {
	conv := &Conversation{OurRole: "acceptor", Client: `D\u`, Tokens: []Hex{{1}, {2}, {3}, {4}}}
	ok := &scripted{outs: [][]byte{{2}, {4}}, st: []sspi.Status{sspi.StatusContinueNeeded, sspi.StatusOK}}
	if err := conv.Replay(established{}, ok.step); err != nil {
		t.Fatal(err)
	}
	differs := &scripted{outs: [][]byte{{2}, {5}}, st: []sspi.Status{sspi.StatusContinueNeeded, sspi.StatusOK}}
	if err := conv.Replay(established{}, differs.step); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("a different token: %v", err)
	}
	early := &scripted{outs: [][]byte{{2}}, st: []sspi.Status{sspi.StatusOK}}
	if err := conv.Replay(established{}, early.step); err == nil {
		t.Fatal("completing before the recording did passed")
	}
}

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.json")
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	c := &Conversation{Peer: "p", OurRole: "initiator", Rand: Hex{0xAB}, Now: now, Tokens: []Hex{{1, 2}},
		Messages: []Protection{{"gossp", "wrap", Hex("m"), Hex{9}}}, Client: "c"}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Peer != "p" || !got.Now.Equal(now) || string(got.Rand) != "\xab" || len(got.Tokens) != 1 ||
		got.Messages[0].Kind != "wrap" || string(got.Messages[0].Plain) != "m" {
		t.Fatalf("round trip: %+v", got)
	}
}
