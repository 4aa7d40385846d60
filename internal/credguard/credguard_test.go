package credguard

import (
	"errors"
	"testing"

	"github.com/gossp/gossp/sspi"
)

func TestGuard(t *testing.T) {
	g := &Guard{Use: sspi.CredentialsOutbound, Package: "X"}
	if err := g.Check(true); err != nil {
		t.Fatal(err)
	}
	if err := g.Check(false); !errors.Is(err, sspi.ErrNoCredentials) {
		t.Fatalf("acceptor on an outbound credential: %v", err)
	}
	if !g.Close() || g.Close() {
		t.Fatal("Close should report the first close only")
	}
	if err := g.Check(true); !errors.Is(err, sspi.ErrInvalidHandle) {
		t.Fatalf("after Close: %v", err)
	}
	in := &Guard{Use: sspi.CredentialsInbound}
	if err := in.Check(true); !errors.Is(err, sspi.ErrNoCredentials) || in.Check(false) != nil {
		t.Fatal("inbound guard")
	}
}
