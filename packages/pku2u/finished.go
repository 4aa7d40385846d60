package pku2u

import (
	"crypto/hmac"
	"encoding/binary"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/gossp/gossp/sspi"
)

const (
	// chksumGSS is the checksum type of the RFC 4121 authenticator checksum.
	chksumGSS = 0x8003
	// extFinished is the type of the authenticator checksum's KRB-FINISHED extension
	// (draft-zhu-pku2u-09 6, RFC 4121 4.1.1.1's extension format).
	extFinished = 2
	// usageFinished is the key usage of KRB-FINISHED's gss-mic.
	usageFinished = 41
	// gssExtendedError is GSS_C_EXTENDED_ERROR_FLAG, which Windows sets.
	gssExtendedError = 0x4000
)

// krbFinished is KRB-FINISHED ::= SEQUENCE { gss-mic [1] Checksum, ... }.
type krbFinished struct {
	GSSMIC types.Checksum `asn1:"explicit,tag:1"`
}

// finishedChecksum is KRB-FINISHED's gss-mic: the subkey's mandatory checksum, key
// usage 41, over every earlier framed context token.
func finishedChecksum(subkey types.EncryptionKey, transcript []byte) (types.Checksum, error) {
	et, err := crypto.GetEtype(subkey.KeyType)
	if err != nil {
		return types.Checksum{}, sspi.Errorf(sspi.ErrKDCUnknownEtype, "pku2u: enctype %d: %v", subkey.KeyType, err)
	}
	sum, err := et.GetChecksumHash(subkey.KeyValue, transcript, usageFinished)
	if err != nil {
		return types.Checksum{}, sspi.Errorf(sspi.ErrInternal, "pku2u: KRB-FINISHED: %v", err)
	}
	return types.Checksum{CksumType: et.GetHashID(), Checksum: sum}, nil
}

// authChecksum builds the authenticator's 0x8003 checksum (RFC 4121 4.1.1) with the
// channel-binding hash, the GSS flags and the KRB-FINISHED extension.
func authChecksum(cb *sspi.ChannelBindings, gssFlags uint32, fin types.Checksum) ([]byte, error) {
	der, err := asn1.Marshal(krbFinished{GSSMIC: fin})
	if err != nil {
		return nil, sspi.Errorf(sspi.ErrInternal, "pku2u: KRB-FINISHED: %v", err)
	}
	b := make([]byte, 24, 32+len(der))
	binary.LittleEndian.PutUint32(b, 16)
	h := cb.MD5()
	copy(b[4:20], h[:])
	binary.LittleEndian.PutUint32(b[20:], gssFlags)
	b = binary.BigEndian.AppendUint32(b, extFinished)
	b = binary.BigEndian.AppendUint32(b, uint32(len(der)))
	return append(b, der...), nil
}

// parsedChecksum is what an acceptor reads from the 0x8003 checksum.
type parsedChecksum struct {
	bindings [16]byte
	flags    uint32
	finished *types.Checksum // nil when the extension is absent
}

// parseAuthChecksum reads the 0x8003 checksum. Delegation is not offered by PKU2U
// initiators; its option field is skipped if a peer sends one.
func parseAuthChecksum(ck types.Checksum) (parsedChecksum, error) {
	var p parsedChecksum
	b := ck.Checksum
	if ck.CksumType != chksumGSS || len(b) < 24 || binary.LittleEndian.Uint32(b) != 16 {
		return p, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: the authenticator has no RFC 4121 checksum (type %#x, %d bytes)", ck.CksumType, len(b))
	}
	copy(p.bindings[:], b[4:20])
	p.flags = binary.LittleEndian.Uint32(b[20:24])
	rest := b[24:]
	if p.flags&0x01 != 0 { // GSS_C_DELEG_FLAG: DlgOpt(2) Dlgth(2) Deleg
		if len(rest) < 4 {
			return p, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: truncated delegation field")
		}
		n := int(binary.LittleEndian.Uint16(rest[2:4]))
		if len(rest) < 4+n {
			return p, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: truncated delegation field")
		}
		rest = rest[4+n:]
	}
	for len(rest) > 0 {
		if len(rest) < 8 {
			return p, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: truncated checksum extension")
		}
		typ, n := binary.BigEndian.Uint32(rest), binary.BigEndian.Uint32(rest[4:])
		if uint64(n) > uint64(len(rest)-8) {
			return p, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: checksum extension of %d bytes overruns the checksum", n)
		}
		data := rest[8 : 8+n]
		rest = rest[8+n:]
		if typ != extFinished {
			continue // unknown extensions are ignorable (RFC 4121 4.1.1.1)
		}
		if p.finished != nil {
			return p, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: two KRB-FINISHED extensions")
		}
		var f krbFinished
		tail, err := asn1.Unmarshal(data, &f)
		if err != nil || len(tail) != 0 {
			return p, sspi.Errorf(sspi.ErrInvalidToken, "pku2u: KRB-FINISHED does not parse")
		}
		p.finished = &f.GSSMIC
	}
	return p, nil
}

// checkFinished verifies KRB-FINISHED against our transcript, in constant time.
func checkFinished(subkey types.EncryptionKey, transcript []byte, got *types.Checksum) error {
	if got == nil {
		return sspi.Errorf(sspi.ErrInvalidToken, "pku2u: the AP-REQ lacks KRB-FINISHED, which binds the AS exchange")
	}
	want, err := finishedChecksum(subkey, transcript)
	if err != nil {
		return err
	}
	if got.CksumType != want.CksumType || !hmac.Equal(got.Checksum, want.Checksum) {
		return sspi.Errorf(sspi.ErrMessageAltered, "pku2u: KRB-FINISHED does not match the AS exchange (altered in transit)")
	}
	return nil
}
