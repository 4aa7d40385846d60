package pkinit

import (
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"math/big"
)

// ErrBadPublicValue is wrapped by errors about a peer's Diffie-Hellman public value
// that is out of range or outside the group's prime-order subgroup.
var ErrBadPublicValue = errors.New("pkinit: invalid Diffie-Hellman public value")

// ErrUnknownGroup is wrapped when domain parameters are not one of the groups this
// package knows (Group2, Group14). Arbitrary groups are refused: checking them costs
// unbounded work and they may be weak.
var ErrUnknownGroup = errors.New("pkinit: unknown Diffie-Hellman group")

// DomainParameters are the X9.42 Diffie-Hellman parameters carried with
// dhpublicnumber (RFC 3279 section 2.3.3): p = jq + 1.
type DomainParameters struct {
	P, G, Q *big.Int
	// J is the optional subgroup factor; nil when absent.
	J *big.Int `asn1:"optional"`
	// ValidationParms is the optional SEQUENCE {seed, pgenCounter}, kept as DER.
	ValidationParms asn1.RawValue `asn1:"optional"`
}

// Marshal encodes the DomainParameters.
func (d *DomainParameters) Marshal() ([]byte, error) {
	if d.P == nil || d.G == nil || d.Q == nil {
		return nil, errors.New("pkinit: DomainParameters need p, g and q")
	}
	return marshal(*d, "DomainParameters")
}

// Unmarshal decodes DomainParameters (dhpublicnumber's algorithm parameters).
func (d *DomainParameters) Unmarshal(b []byte) error {
	var w DomainParameters
	if err := unmarshalAll(b, &w, "DomainParameters"); err != nil {
		return err
	}
	*d = w
	return nil
}

// Group is a finite-field Diffie-Hellman group with a prime-order subgroup. The
// package's groups are shared: do not modify them.
type Group struct {
	// Name says which group this is.
	Name string
	// P is the prime modulus, G the generator, Q the order of G ((P-1)/2 for these
	// safe-prime groups).
	P, G, Q *big.Int
	// ExponentBits, when not zero, bounds the private exponents GenerateKey draws to
	// [2, 2^ExponentBits): NIST SP 800-56A rev. 3 5.6.1.1.4 allows exponents of twice
	// the group's security strength in safe-prime groups (RFC 7919 5.2 says the same),
	// and a 256-bit exponent makes each exponentiation about eight times cheaper than
	// a 2047-bit one.
	ExponentBits int
}

func hexInt(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("pkinit: bad constant")
	}
	return n
}

// safePrimeExponentBits is the private exponent size of the safe-prime groups: at
// least twice the strength of MODP 2048 (112 bits), with margin.
const safePrimeExponentBits = 256

func safePrimeGroup(name, p string) *Group {
	pp := hexInt(p)
	q := new(big.Int).Rsh(pp, 1) // (p-1)/2 for odd p
	return &Group{Name: name, P: pp, G: big.NewInt(2), Q: q, ExponentBits: safePrimeExponentBits}
}

var (
	// Group2 is the 1024-bit MODP group of RFC 2409 section 6.2 (Oakley group 2),
	// with g = 2 and q = (p-1)/2: what Windows' PKU2U sends. It is weak by today's
	// standards; accept it for Windows, prefer Group14 when choosing.
	Group2 = safePrimeGroup("MODP group 2 (RFC 2409, 1024-bit)",
		"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF")
	// Group14 is the 2048-bit MODP group of RFC 3526 section 3, with g = 2 and
	// q = (p-1)/2.
	Group14 = safePrimeGroup("MODP group 14 (RFC 3526, 2048-bit)",
		"FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF")
)

// Groups are the groups GroupOf recognises, most preferred first.
func Groups() []*Group { return []*Group{Group14, Group2} }

// DomainParameters returns the group's X9.42 parameters (p, g, q), as Windows sends
// them.
func (g *Group) DomainParameters() DomainParameters {
	return DomainParameters{P: new(big.Int).Set(g.P), G: new(big.Int).Set(g.G), Q: new(big.Int).Set(g.Q)}
}

// AlgorithmIdentifier returns dhpublicnumber with the group's DomainParameters, for
// SubjectPublicKeyInfo and TD-DH-PARAMETERS.
func (g *Group) AlgorithmIdentifier() (pkix.AlgorithmIdentifier, error) {
	dp := g.DomainParameters()
	params, err := dp.Marshal()
	if err != nil {
		return pkix.AlgorithmIdentifier{}, err
	}
	return pkix.AlgorithmIdentifier{Algorithm: OIDDHPublicNumber, Parameters: asn1.RawValue{FullBytes: params}}, nil
}

// PublicKeyInfo returns the SubjectPublicKeyInfo for public value y in this group
// (AuthPack's clientPublicValue).
func (g *Group) PublicKeyInfo(y *big.Int) (*SubjectPublicKeyInfo, error) {
	alg, err := g.AlgorithmIdentifier()
	if err != nil {
		return nil, err
	}
	pub, err := MarshalDHPublicValue(y)
	if err != nil {
		return nil, err
	}
	return &SubjectPublicKeyInfo{Algorithm: alg, PublicKey: pub}, nil
}

// GroupOf returns the known group with domain parameters dp (p and g must match; q,
// when present, too). Other groups are refused with ErrUnknownGroup.
func GroupOf(dp DomainParameters) (*Group, error) {
	if dp.P == nil || dp.G == nil {
		return nil, fmt.Errorf("%w: DomainParameters lack p or g", ErrMalformed)
	}
	for _, g := range Groups() {
		if g.P.Cmp(dp.P) == 0 && g.G.Cmp(dp.G) == 0 && (dp.Q == nil || g.Q.Cmp(dp.Q) == 0) {
			return g, nil
		}
	}
	return nil, fmt.Errorf("%w: %d-bit p", ErrUnknownGroup, dp.P.BitLen())
}

// ParseDHPublicKeyInfo reads a dhpublicnumber SubjectPublicKeyInfo (AuthPack's
// clientPublicValue): its group, which must be known, and its public value, which is
// checked with Group.CheckPublic.
func ParseDHPublicKeyInfo(spki *SubjectPublicKeyInfo) (*Group, *big.Int, error) {
	if spki == nil {
		return nil, nil, fmt.Errorf("%w: no public key", ErrMalformed)
	}
	if !spki.Algorithm.Algorithm.Equal(OIDDHPublicNumber) {
		return nil, nil, fmt.Errorf("%w: key agreement algorithm %v", ErrUnknownGroup, spki.Algorithm.Algorithm)
	}
	var dp DomainParameters
	if err := dp.Unmarshal(spki.Algorithm.Parameters.FullBytes); err != nil {
		return nil, nil, err
	}
	g, err := GroupOf(dp)
	if err != nil {
		return nil, nil, err
	}
	y, err := ParseDHPublicValue(spki.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	if err := g.CheckPublic(y); err != nil {
		return nil, nil, err
	}
	return g, y, nil
}

// MarshalDHPublicValue encodes y as RFC 3279 wants it in a BIT STRING: a DER INTEGER.
func MarshalDHPublicValue(y *big.Int) (asn1.BitString, error) {
	if y == nil || y.Sign() <= 0 {
		return asn1.BitString{}, fmt.Errorf("%w: not positive", ErrBadPublicValue)
	}
	b, err := marshal(y, "DH public value")
	if err != nil {
		return asn1.BitString{}, err
	}
	return asn1.BitString{Bytes: b, BitLength: 8 * len(b)}, nil
}

// ParseDHPublicValue decodes a BIT STRING holding a DER INTEGER (a clientPublicValue's
// or KDCDHKeyInfo's subjectPublicKey). It does not check the range: see CheckPublic.
func ParseDHPublicValue(bs asn1.BitString) (*big.Int, error) {
	if bs.BitLength != 8*len(bs.Bytes) {
		return nil, fmt.Errorf("%w: DH public value is not whole octets", ErrMalformed)
	}
	y := new(big.Int)
	if err := unmarshalAll(bs.Bytes, &y, "DH public value"); err != nil {
		return nil, err
	}
	return y, nil
}

// CheckPublic validates a peer's public value y: 1 < y < p-1 and y^q mod p = 1, so y
// lies in the prime-order subgroup (RFC 2631 section 2.1.5, NIST SP 800-56A).
func (g *Group) CheckPublic(y *big.Int) error {
	if y == nil {
		return fmt.Errorf("%w: missing", ErrBadPublicValue)
	}
	pMinus1 := new(big.Int).Sub(g.P, big.NewInt(1))
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(pMinus1) >= 0 {
		return fmt.Errorf("%w: out of range", ErrBadPublicValue)
	}
	if g.Q == nil {
		return nil
	}
	// In a safe-prime group (p = 2q+1) the order-q subgroup is the quadratic residues,
	// so y^q = 1 exactly when the Legendre symbol (y/p) is 1: a gcd-like computation
	// instead of a full-size exponentiation.
	if new(big.Int).Lsh(g.Q, 1).Add(new(big.Int).Lsh(g.Q, 1), big.NewInt(1)).Cmp(g.P) == 0 {
		if big.Jacobi(y, g.P) != 1 {
			return fmt.Errorf("%w: not in the prime-order subgroup", ErrBadPublicValue)
		}
		return nil
	}
	if new(big.Int).Exp(y, g.Q, g.P).Cmp(big.NewInt(1)) != 0 {
		return fmt.Errorf("%w: not in the prime-order subgroup", ErrBadPublicValue)
	}
	return nil
}

// PrivateKey is an ephemeral Diffie-Hellman key pair in a Group.
type PrivateKey struct {
	// Group is the key's group.
	Group *Group
	// Public is the public value g^x mod p.
	Public *big.Int
	x      *big.Int
}

// GenerateKey makes a key pair in group with randomness from r (crypto/rand when
// nil): x uniform in [2, q-1] (in [2, 2^ExponentBits) when the group sets it),
// Public = g^x mod p.
func GenerateKey(group *Group, r io.Reader) (*PrivateKey, error) {
	if group == nil || group.P == nil || group.G == nil || group.Q == nil {
		return nil, errors.New("pkinit: GenerateKey needs a group with p, g and q")
	}
	if r == nil {
		r = rand.Reader
	}
	// x = 2 + uniform[0, limit)
	limit := new(big.Int).Sub(group.Q, big.NewInt(2))
	if n := group.ExponentBits; n > 0 && n < group.Q.BitLen() {
		limit = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(n)), big.NewInt(2))
	}
	x, err := rand.Int(r, limit)
	if err != nil {
		return nil, fmt.Errorf("pkinit: DH private value: %w", err)
	}
	x.Add(x, big.NewInt(2))
	return &PrivateKey{Group: group, Public: new(big.Int).Exp(group.G, x, group.P), x: x}, nil
}

// PublicKeyInfo is Group.PublicKeyInfo for the key's public value.
func (k *PrivateKey) PublicKeyInfo() (*SubjectPublicKeyInfo, error) {
	return k.Group.PublicKeyInfo(k.Public)
}

// SharedSecret validates the peer's public value with CheckPublic and returns
// ZZ = peer^x mod p as big-endian bytes left-padded with zeros to the length of p, as
// RFC 4556 section 3.2.3.1 requires (without the padding about one exchange in 256
// derives the wrong key).
//
// The modular exponentiation uses math/big, which is not constant-time; the keys are
// ephemeral, one per exchange.
func (k *PrivateKey) SharedSecret(peer *big.Int) ([]byte, error) {
	if err := k.Group.CheckPublic(peer); err != nil {
		return nil, err
	}
	zz := new(big.Int).Exp(peer, k.x, k.Group.P)
	out := make([]byte, (k.Group.P.BitLen()+7)/8)
	return zz.FillBytes(out), nil
}
