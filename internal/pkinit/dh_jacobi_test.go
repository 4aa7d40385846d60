package pkinit

import (
	"crypto/rand"
	"math/big"
	"testing"
)

// The Legendre-symbol subgroup check agrees with y^q mod p = 1 in both groups, for
// members and non-members of the subgroup.
func TestCheckPublicLegendre(t *testing.T) {
	for _, g := range []*Group{Group2, Group14} {
		for i := range 40 {
			y, err := rand.Int(rand.Reader, new(big.Int).Sub(g.P, big.NewInt(3)))
			if err != nil {
				t.Fatal(err)
			}
			y.Add(y, big.NewInt(2))
			if i%2 == 0 { // squares are in the subgroup
				y.Exp(y, big.NewInt(2), g.P)
			}
			want := new(big.Int).Exp(y, g.Q, g.P).Cmp(big.NewInt(1)) == 0
			if got := g.CheckPublic(y) == nil; got != want {
				t.Fatalf("%s: CheckPublic(y) accepted=%v, y^q=1 is %v", g.Name, got, want)
			}
		}
		// p-1 has order 2.
		if g.CheckPublic(new(big.Int).Sub(g.P, big.NewInt(1))) == nil {
			t.Fatalf("%s: p-1 accepted", g.Name)
		}
	}
}
