package negoex

import "testing"

// Exports for the tests of package negoex_test, which can use the packages that import
// negoex (psk, a scheme with VERIFY keys) where package negoex's own tests cannot.

// MITSchemes are MIT's negoextest schemes (see mitScheme).
var MITSchemes = mitSchemes

// MITConversation is one of MIT's recorded negoextest conversations (see loadMIT).
type MITConversation struct {
	Name          string
	Tokens        [][]byte // NegoEx tokens, in wire order
	FromInitiator []bool
}

// LoadMIT returns MIT's recorded conversations.
func LoadMIT(t testing.TB) []MITConversation {
	t.Helper()
	var out []MITConversation
	for _, s := range loadMIT(t) {
		out = append(out, MITConversation{Name: s.name, Tokens: s.tokens, FromInitiator: s.fromI})
	}
	return out
}
