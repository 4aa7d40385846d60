package pkinit

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509/pkix"
	"testing"

	"github.com/gossp/gossp/internal/cms"
)

// Every Unmarshal is fuzzed from real messages (Windows' captures, the meta-data
// Windows' peers exchange) with one invariant besides not panicking: whatever decodes
// encodes, and encoding is stable (decode(encode(v)) encodes to the same bytes).

type codec interface {
	Marshal() ([]byte, error)
	Unmarshal([]byte) error
}

func checkStable(t *testing.T, fresh func() codec, der []byte) {
	v := fresh()
	if err := v.Unmarshal(der); err != nil {
		return
	}
	enc, err := v.Marshal()
	if err != nil {
		t.Fatalf("decoded %T does not encode: %v", v, err)
	}
	w := fresh()
	if err := w.Unmarshal(enc); err != nil {
		t.Fatalf("%T: our own encoding does not decode: %v", v, err)
	}
	enc2, err := w.Marshal()
	if err != nil || !bytes.Equal(enc, enc2) {
		t.Fatalf("%T: encoding is not stable (%v)", v, err)
	}
}

// windowsSeeds returns Windows' PA-PK-AS-REQ and PA-PK-AS-REP and the AuthPack and
// KDCDHKeyInfo inside them.
func windowsSeeds(f *testing.F) (req, rep, authPack, keyInfo []byte) {
	req, rep = readTestdata(f, "pa_pk_as_req.der"), readTestdata(f, "pa_pk_as_rep.der")
	var r PAPKASReq
	if err := r.Unmarshal(req); err != nil {
		f.Fatal(err)
	}
	sd, err := cms.Parse(r.SignedAuthPack)
	if err != nil {
		f.Fatal(err)
	}
	var p PAPKASRep
	if err := p.Unmarshal(rep); err != nil {
		f.Fatal(err)
	}
	sd2, err := cms.Parse(p.DHInfo.DHSignedData)
	if err != nil {
		f.Fatal(err)
	}
	return req, rep, sd.EContent, sd2.EContent
}

func FuzzPAPKASReq(f *testing.F) {
	req, _, _, _ := windowsSeeds(f)
	f.Add(req)
	f.Add([]byte{0x30, 0x0a, 0x80, 0x02, 0x30, 0x00, 0xa1, 0x04, 0x30, 0x02, 0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		checkStable(t, func() codec { return new(PAPKASReq) }, der)
	})
}

func FuzzPAPKASRep(f *testing.F) {
	_, rep, _, _ := windowsSeeds(f)
	f.Add(rep)
	f.Add([]byte{0x81, 0x02, 0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		checkStable(t, func() codec { return new(PAPKASRep) }, der)
	})
}

func FuzzAuthPack(f *testing.F) {
	_, _, authPack, _ := windowsSeeds(f)
	f.Add(authPack)
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	spki, err := ECDHPublicKeyInfo(k.PublicKey())
	if err != nil {
		f.Fatal(err)
	}
	ecAuthPack, err := (&AuthPack{ClientPublicValue: spki, ClientDHNonce: make([]byte, 32)}).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ecAuthPack)
	f.Fuzz(func(t *testing.T, der []byte) {
		checkStable(t, func() codec { return new(AuthPack) }, der)
		var ap AuthPack
		if ap.Unmarshal(der) == nil && ap.ClientPublicValue != nil {
			if g, y, err := ParseDHPublicKeyInfo(ap.ClientPublicValue); err == nil {
				if g.CheckPublic(y) != nil {
					t.Fatal("ParseDHPublicKeyInfo returned an unchecked value")
				}
			}
			_, _ = ParseECDHPublicKeyInfo(ap.ClientPublicValue)
		}
	})
}

func FuzzKDCDHKeyInfo(f *testing.F) {
	_, _, _, keyInfo := windowsSeeds(f)
	f.Add(keyInfo)
	f.Fuzz(func(t *testing.T, der []byte) {
		checkStable(t, func() codec { return new(KDCDHKeyInfo) }, der)
		var ki KDCDHKeyInfo
		if ki.Unmarshal(der) == nil {
			if y, err := ParseDHPublicValue(ki.SubjectPublicKey); err == nil {
				_ = Group2.CheckPublic(y)
			}
		}
	})
}

func FuzzMetaData(f *testing.F) {
	f.Add(unhex(f, pickyInitiatorMetaData))
	f.Add(unhex(f, pickyAcceptorMetaData))
	f.Fuzz(func(t *testing.T, der []byte) {
		checkStable(t, func() codec { return new(InitiatorMetaData) }, der)
		checkStable(t, func() codec { return new(AcceptorMetaData) }, der)
	})
}

func FuzzTypedData(f *testing.F) {
	f.Add([]byte{0x30, 0x04, 0x30, 0x02, 0x80, 0x00})
	a, err := Group2.AlgorithmIdentifier()
	if err != nil {
		f.Fatal(err)
	}
	td, err := MarshalDHParameters([]pkix.AlgorithmIdentifier{a})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(td)
	dp := Group2.DomainParameters()
	dpDER, err := dp.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(dpDER)
	f.Add([]byte{0x30, 0x06, 0x80, 0x02, 0x30, 0x00, 0x82, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		checkStable(t, func() codec { return new(ExternalPrincipalIdentifier) }, der)
		checkStable(t, func() codec { return new(SubjectPublicKeyInfo) }, der)
		checkStable(t, func() codec { return new(DHRepInfo) }, der)
		if dp := new(DomainParameters); dp.Unmarshal(der) == nil && dp.Q != nil {
			checkStable(t, func() codec { return new(DomainParameters) }, der)
		}
		if ids, err := UnmarshalExternalPrincipalIdentifiers(der); err == nil {
			if _, err := MarshalExternalPrincipalIdentifiers(ids); err != nil {
				t.Fatal(err)
			}
		}
		if algs, err := UnmarshalDHParameters(der); err == nil {
			for _, a := range algs {
				var dp DomainParameters
				if unmarshalAll(a.Parameters.FullBytes, &dp, "fuzz") == nil {
					_, _ = GroupOf(dp)
				}
			}
		}
	})
}

func FuzzKDCReqBody(f *testing.F) {
	f.Add([]byte{0x6a, 0x0b, 0x30, 0x09, 0xa1, 0x03, 0x02, 0x01, 0x05, 0xa4, 0x02, 0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		body, err := KDCReqBody(der)
		if err != nil {
			return
		}
		if len(body) < 2 || body[0] != 0x30 || !bytes.Contains(der, body) {
			t.Fatalf("req-body %x is not a SEQUENCE from the input", body)
		}
	})
}
