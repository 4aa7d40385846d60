package httpauth_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/gossp/gossp/internal/interop"
	"github.com/gossp/gossp/internal/interop/gsspeer"
)

// curl --negotiate (MIT GSS-API's SPNEGO with gss-ntlmssp inside) against our server:
// a real browser-style client, three legs on one connection, mechListMIC both ways.
func TestInteropCurlNegotiate(t *testing.T) {
	curl := interop.Command(t, "curl")
	_, server := stack(t, false)
	ts, _ := newServer(t, server)
	for _, c := range []struct {
		name   string
		wantOK bool
		file   string
	}{{"right password", true, "TESTDOM:alice:AlicePassw0rd!\n"}, {"wrong password", false, "TESTDOM:alice:nope\n"}} {
		t.Run(c.name, func(t *testing.T) {
			env := gsspeer.NTLMSSPEnv(t, c.file)
			cmd := exec.Command(curl, "-sS", "--negotiate", "-u", ":", "-o", "-", "-w", "\n%{http_code}", ts.URL+"/")
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			got := string(out)
			if c.wantOK {
				if err != nil || !strings.HasSuffix(got, "\n200") || !strings.Contains(got, `TESTDOM\alice via Negotiate/NTLM`) {
					t.Fatalf("curl: %v\n%s", err, got)
				}
				return
			}
			if strings.HasSuffix(got, "\n200") {
				t.Fatalf("curl with a wrong password got in:\n%s", got)
			}
		})
	}
}
