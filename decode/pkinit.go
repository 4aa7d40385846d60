package decode

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"time"

	"github.com/gossp/gossp/internal/cms"
	"github.com/gossp/gossp/internal/pki"
	"github.com/gossp/gossp/internal/pkinit"
)

// PKINIT (RFC 4556) as PKU2U carries it: the PA-PK-AS-REQ and PA-PK-AS-REP
// pre-authentication data, their CMS SignedData, the AuthPack and KDCDHKeyInfo they
// sign, the typed data of a KRB-ERROR, and PKU2U's NegoEx meta-data. Each structure
// must pass internal/pkinit's or internal/cms's parser, whose values are shown; the
// offsets come from the TLV walk of der.go.

// Pre-authentication data types (RFC 4120 7.5.2, RFC 4556, RFC 6113, MS-KILE).
var padataTypes = map[string]string{"1": "PA-TGS-REQ", "2": "PA-ENC-TIMESTAMP", "3": "PA-PW-SALT",
	"11": "PA-ETYPE-INFO", "15": "PA-PK-AS-REP-OLD", "16": "PA-PK-AS-REQ", "17": "PA-PK-AS-REP",
	"19": "PA-ETYPE-INFO2", "128": "PA-PAC-REQUEST", "133": "PA-FX-COOKIE", "136": "PA-FX-FAST",
	"137": "PA-FX-ERROR", "138": "PA-ENCRYPTED-CHALLENGE", "149": "PA-REQ-ENC-PA-REP", "150": "PA-AS-FRESHNESS",
	"165": "PA-SUPPORTED-ENCTYPES", "167": "PA-PAC-OPTIONS"}

// Typed data in a KRB-ERROR's e-data (RFC 4556 3.2.2, 3.2.3).
var typedDataTypes = map[string]string{"104": "TD-TRUSTED-CERTIFIERS", "105": "TD-INVALID-CERTIFICATES",
	"109": "TD-DH-PARAMETERS", "111": "TD-CMS-DIGEST-ALGORITHMS"}

// Object identifiers a PKINIT message carries.
var oidNames = map[string]string{
	"1.2.840.113549.1.7.1": "id-data", "1.2.840.113549.1.7.2": "id-signedData",
	"1.3.6.1.5.2.3.1": "id-pkinit-authData", "1.3.6.1.5.2.3.2": "id-pkinit-DHKeyData",
	"1.3.6.1.5.2.3.3": "id-pkinit-rkeyData", "1.2.840.10046.2.1": "dhpublicnumber",
	"1.2.840.10045.2.1": "id-ecPublicKey", "1.2.840.113549.1.1.1": "rsaEncryption",
	"1.2.840.113549.1.1.5": "sha1WithRSAEncryption", "1.2.840.113549.1.1.11": "sha256WithRSAEncryption",
	"1.2.840.113549.1.1.12": "sha384WithRSAEncryption", "1.2.840.113549.1.1.13": "sha512WithRSAEncryption",
	"1.2.840.10045.4.3.2": "ecdsa-with-SHA256", "1.2.840.10045.4.3.3": "ecdsa-with-SHA384",
	"1.2.840.10045.4.3.4": "ecdsa-with-SHA512", "1.3.14.3.2.26": "sha1", "2.16.840.1.101.3.4.2.1": "sha256",
	"2.16.840.1.101.3.4.2.2": "sha384", "2.16.840.1.101.3.4.2.3": "sha512",
	"1.2.840.113549.1.9.3": "contentType", "1.2.840.113549.1.9.4": "messageDigest",
	"1.2.840.113549.1.9.5": "signingTime", "1.3.6.1.5.2.3.6.1": "id-pkinit-kdf-ah-sha1",
	"1.3.6.1.5.2.3.6.2": "id-pkinit-kdf-ah-sha256", "1.3.6.1.5.2.3.6.3": "id-pkinit-kdf-ah-sha512",
	"1.3.6.1.5.2.3.6.4": "id-pkinit-kdf-ah-sha384", "1.2.840.10045.3.1.7": "P-256", "1.3.132.0.34": "P-384",
	"1.3.132.0.35": "P-521",
}

func oidName(oid asn1.ObjectIdentifier) string {
	if n, ok := oidNames[oid.String()]; ok {
		return oid.String() + " (" + n + ")"
	}
	return oid.String()
}

// named shows a number with its name from names: "PA-PK-AS-REQ (16)".
func named(names map[string]string, s string) string {
	if n, ok := names[s]; ok {
		return fmt.Sprintf("%s (%s)", n, s)
	}
	return s
}

// hexLen shows short binary values whole: "a543… (32 bytes)".
func hexLen(b []byte) string { return fmt.Sprintf("%s (%d bytes)", hex.EncodeToString(b), len(b)) }

// fields reads the elements of a SEQUENCE whose fields are context-tagged, by tag
// number; untagged elements are refused.
func (d *decoder) fields(seq tlv, what string) (map[byte]tlv, []tlv, error) {
	kids, err := d.children(seq)
	if err != nil {
		return nil, nil, err
	}
	out := map[byte]tlv{}
	for _, k := range kids {
		if k.class() != 0x80 {
			return nil, nil, fail(k.off, "%s: tag 0x%02x, want a context tag", what, k.tag)
		}
		out[k.number()] = k
	}
	return out, kids, nil
}

// explicit reads the single element an EXPLICIT context tag wraps, of any tag.
func (d *decoder) explicit(t tlv, what string) (tlv, error) {
	c, err := d.readTLV(t.val, t.end)
	if err != nil {
		return c, err
	}
	if c.end != t.end {
		return c, fail(c.end, "%s: %d bytes after the value", what, t.end-c.end)
	}
	return c, nil
}

// padata outlines a SEQUENCE OF PA-DATA (RFC 4120 5.2.7).
func (d *decoder) padata(x *Node, seq tlv) error {
	kids, err := d.children(seq)
	if err != nil {
		return err
	}
	x.Value = fmt.Sprint(len(kids))
	for _, k := range kids {
		if k.tag != 0x30 {
			return fail(k.off, "PA-DATA: tag 0x%02x, want SEQUENCE", k.tag)
		}
		pa := x.add("PA-DATA", "", k.off, k.len())
		f, _, err := d.fields(k, "PA-DATA")
		if err != nil {
			return err
		}
		tf, ok1 := f[1]
		vf, ok2 := f[2]
		if !ok1 || !ok2 {
			return fail(k.off, "PA-DATA without padata-type or padata-value")
		}
		ti, err := d.inner(tf, 0x02, "padata-type")
		if err != nil {
			return err
		}
		typ, err := d.integer(ti)
		if err != nil {
			return err
		}
		pa.Value = named(padataTypes, typ)
		pa.add("padata-type", pa.Value, tf.off, tf.len())
		os, err := d.inner(vf, 0x04, "padata-value")
		if err != nil {
			return err
		}
		v := pa.add("padata-value", fmt.Sprintf("%d bytes", os.valLen()), vf.off, vf.len())
		switch typ {
		case "16":
			err = d.paPKASReq(v, os)
		case "17":
			err = d.paPKASRep(v, os)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// paPKASReq outlines a PA-PK-AS-REQ (RFC 4556 3.2.1).
func (d *decoder) paPKASReq(parent *Node, os tlv) error {
	var req pkinit.PAPKASReq
	if err := req.Unmarshal(d.buf[os.val:os.end]); err != nil {
		return fail(os.val, "PA-PK-AS-REQ: %v", err)
	}
	seq, err := d.expect(os.val, os.end, 0x30, "PA-PK-AS-REQ")
	if err != nil {
		return err
	}
	n := parent.add("PA-PK-AS-REQ", "", seq.off, seq.len())
	f, _, err := d.fields(seq, "PA-PK-AS-REQ")
	if err != nil {
		return err
	}
	if sa, ok := f[0]; ok {
		x := n.add("signedAuthPack", "", sa.off, sa.len())
		if err := d.signedData(x, sa.val, sa.end, pkinit.OIDPKAuthData); err != nil {
			return err
		}
	}
	if tc, ok := f[1]; ok {
		list, err := d.inner(tc, 0x30, "trustedCertifiers")
		if err != nil {
			return err
		}
		if err := d.principalIdentifiers(n.add("trustedCertifiers", "", tc.off, tc.len()), list); err != nil {
			return err
		}
	}
	if k, ok := f[2]; ok {
		n.add("kdcPkId", fmt.Sprintf("%d bytes", k.valLen()), k.off, k.len())
	}
	return nil
}

// paPKASRep outlines a PA-PK-AS-REP (RFC 4556 3.2.3): dhInfo or encKeyPack.
func (d *decoder) paPKASRep(parent *Node, os tlv) error {
	var rep pkinit.PAPKASRep
	if err := rep.Unmarshal(d.buf[os.val:os.end]); err != nil {
		return fail(os.val, "PA-PK-AS-REP: %v", err)
	}
	c, err := d.readTLV(os.val, os.end)
	if err != nil {
		return err
	}
	n := parent.add("PA-PK-AS-REP", "", c.off, c.len())
	if rep.EncKeyPack != nil {
		n.Value = "encKeyPack"
		n.add("encKeyPack", fmt.Sprintf("%d bytes (public-key encryption, which PKU2U does not use)", c.valLen()), c.off, c.len())
		return nil
	}
	n.Value = "dhInfo"
	seq, err := d.inner(c, 0x30, "DHRepInfo")
	if err != nil {
		return err
	}
	x := n.add("dhInfo", "", c.off, c.len())
	f, _, err := d.fields(seq, "DHRepInfo")
	if err != nil {
		return err
	}
	if sd, ok := f[0]; ok {
		s := x.add("dhSignedData", "", sd.off, sd.len())
		if err := d.signedData(s, sd.val, sd.end, pkinit.OIDPKDHKeyData); err != nil {
			return err
		}
	}
	if nf, ok := f[1]; ok {
		x.add("serverDHNonce", hexLen(rep.DHInfo.ServerDHNonce), nf.off, nf.len())
	}
	if kf, ok := f[2]; ok {
		x.add("kdf", oidName(rep.DHInfo.KDF), kf.off, kf.len())
	}
	return nil
}

// signedData outlines the CMS SignedData in buf[off:end], bare (as Windows sends it)
// or inside a ContentInfo (as RFC 4556 asks), and the AuthPack or KDCDHKeyInfo it
// encapsulates when its eContentType is want.
func (d *decoder) signedData(x *Node, off, end int, want asn1.ObjectIdentifier) error {
	t, err := d.expect(off, end, 0x30, "SignedData")
	if err != nil {
		return err
	}
	if t.end != end {
		return fail(t.end, "%d bytes after the SignedData", end-t.end)
	}
	sd, err := cms.Parse(d.buf[t.off:t.end])
	if err != nil {
		return fail(t.off, "%v", err)
	}
	if len(sd.Raw) == t.len() {
		x.Value = "SignedData (bare, without a ContentInfo, as Windows sends it)"
	} else {
		x.Value = "SignedData in a ContentInfo"
		kids, err := d.children(t)
		if err != nil {
			return err
		}
		if len(kids) != 2 {
			return fail(t.off, "ContentInfo of %d elements", len(kids))
		}
		oid, err := d.oid(kids[0])
		if err != nil {
			return err
		}
		x.add("contentType", oidName(oid), kids[0].off, kids[0].len())
		if t, err = d.explicit(kids[1], "ContentInfo content"); err != nil {
			return err
		}
	}
	kids, err := d.children(t)
	if err != nil {
		return err
	}
	n := x.add("SignedData", "", t.off, t.len())
	certs, sets := 0, 0
	for _, k := range kids {
		switch {
		case k.tag == 0x02:
			v, err := d.integer(k)
			if err != nil {
				return err
			}
			n.add("version", v, k.off, k.len())
		case k.tag == 0x31 && sets == 0:
			sets++
			algs, err := d.children(k)
			if err != nil {
				return err
			}
			da := n.add("digestAlgorithms", fmt.Sprint(len(algs)), k.off, k.len())
			for _, a := range algs {
				da.add("DigestAlgorithmIdentifier", d.algorithm(a), a.off, a.len())
			}
		case k.tag == 0x30:
			eci := n.add("encapContentInfo", "", k.off, k.len())
			ec, err := d.children(k)
			if err != nil {
				return err
			}
			if len(ec) != 2 {
				return fail(k.off, "encapContentInfo of %d elements", len(ec))
			}
			eci.add("eContentType", oidName(sd.EContentType), ec[0].off, ec[0].len())
			eci.Value = oidName(sd.EContentType)
			wrapped, err := d.explicit(ec[1], "eContent")
			if err != nil {
				return err
			}
			content := eci.add("eContent", fmt.Sprintf("%d bytes", wrapped.valLen()), ec[1].off, ec[1].len())
			switch {
			case !sd.EContentType.Equal(want):
				content.Value += fmt.Sprintf(" (want eContentType %s)", oidName(want))
			case want.Equal(pkinit.OIDPKAuthData):
				err = d.authPack(content, wrapped)
			case want.Equal(pkinit.OIDPKDHKeyData):
				err = d.kdcDHKeyInfo(content, wrapped)
			}
			if err != nil {
				return err
			}
		case k.tag == 0xa0:
			list, err := d.children(k)
			if err != nil {
				return err
			}
			cn := n.add("certificates", fmt.Sprint(len(list)), k.off, k.len())
			for _, c := range list {
				if c.tag != 0x30 || certs >= len(sd.Certificates) {
					cn.add("CertificateChoices", fmt.Sprintf("tag 0x%02x, %d bytes (not an X.509 certificate)", c.tag, c.len()), c.off, c.len())
					continue
				}
				d.certificate(cn, c, sd.Certificates[certs], sd.Signer)
				certs++
			}
		case k.tag == 0xa1:
			n.add("crls", fmt.Sprintf("%d bytes", k.valLen()), k.off, k.len())
		case k.tag == 0x31:
			sis, err := d.children(k)
			if err != nil {
				return err
			}
			sn := n.add("signerInfos", fmt.Sprint(len(sis)), k.off, k.len())
			for _, si := range sis {
				if err := d.signerInfo(sn, si, sd); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// algorithm shows an AlgorithmIdentifier by its OID.
func (d *decoder) algorithm(t tlv) string {
	kids, err := d.children(t)
	if err != nil || len(kids) == 0 || kids[0].tag != 0x06 {
		return fmt.Sprintf("%d bytes", t.len())
	}
	oid, err := d.oid(kids[0])
	if err != nil {
		return fmt.Sprintf("%d bytes", t.len())
	}
	return oidName(oid)
}

// certificate shows an embedded certificate (parsed by cms.Parse) by its subject,
// with the TBSCertificate fields that name it.
func (d *decoder) certificate(parent *Node, t tlv, c, signer *x509.Certificate) {
	v := pki.FormatName(c.RawSubject)
	if c == signer {
		v += " (the signer)"
	}
	n := parent.add("certificate", v, t.off, t.len())
	// Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
	// serialNumber, signature, issuer, validity, subject, ... }, ... }: x509 has parsed
	// it, so the walk only places the fields.
	at := func(i int) tlv { return t }
	if parts, err := d.children(t); err == nil && len(parts) > 0 {
		if tbs, err := d.children(parts[0]); err == nil && len(tbs) > 0 {
			skip := 0
			if tbs[0].tag == 0xa0 {
				skip = 1
			}
			at = func(i int) tlv {
				if skip+i < len(tbs) {
					return tbs[skip+i]
				}
				return t
			}
		}
	}
	add := func(name, value string, i int) {
		f := at(i)
		n.add(name, value, f.off, f.len())
	}
	serial := at(0)
	add("serialNumber", hex.EncodeToString(d.buf[serial.val:serial.end]), 0)
	add("issuer", pki.FormatName(c.RawIssuer), 2)
	add("validity", c.NotBefore.UTC().Format(time.RFC3339)+" to "+c.NotAfter.UTC().Format(time.RFC3339), 3)
	add("subject", pki.FormatName(c.RawSubject), 4)
	if id, err := pki.IdentityOf(c); err == nil && id.Name != "" {
		n.add("identity", id.Name, t.off, t.len())
	}
}

// signerInfo outlines the SignerInfo (RFC 5652 5.3).
func (d *decoder) signerInfo(parent *Node, t tlv, sd *cms.SignedData) error {
	kids, err := d.children(t)
	if err != nil {
		return err
	}
	v := "signer certificate not embedded"
	if sd.Signer != nil {
		v = pki.FormatName(sd.Signer.RawSubject)
	}
	n := parent.add("SignerInfo", v, t.off, t.len())
	algs := 0
	for _, k := range kids {
		switch k.tag {
		case 0x02:
			s, err := d.integer(k)
			if err != nil {
				return err
			}
			n.add("version", s, k.off, k.len())
		case 0x30:
			if algs == 0 && n.Find("sid") == nil {
				// sid: IssuerAndSerialNumber.
				parts, err := d.children(k)
				if err != nil || len(parts) != 2 {
					return fail(k.off, "SignerInfo: malformed IssuerAndSerialNumber")
				}
				sid := n.add("sid", "issuerAndSerialNumber", k.off, k.len())
				sid.add("issuer", pki.FormatName(d.buf[parts[0].off:parts[0].end]), parts[0].off, parts[0].len())
				sid.add("serialNumber", hex.EncodeToString(d.buf[parts[1].val:parts[1].end]), parts[1].off, parts[1].len())
				continue
			}
			name := "digestAlgorithm"
			if algs > 0 {
				name = "signatureAlgorithm"
			}
			algs++
			n.add(name, d.algorithm(k), k.off, k.len())
		case 0x80:
			n.add("sid", "subjectKeyIdentifier "+hex.EncodeToString(d.buf[k.val:k.end]), k.off, k.len())
		case 0xa0:
			attrs, err := d.children(k)
			if err != nil {
				return err
			}
			a := n.add("signedAttrs", fmt.Sprint(len(attrs)), k.off, k.len())
			for _, at := range attrs {
				a.add("Attribute", d.algorithm(at), at.off, at.len())
			}
		case 0x04:
			n.add("signature", fmt.Sprintf("%d bytes", k.valLen()), k.off, k.len())
		case 0xa1:
			n.add("unsignedAttrs", fmt.Sprintf("%d bytes", k.valLen()), k.off, k.len())
		}
	}
	return nil
}

// authPack outlines the AuthPack (RFC 4556 3.2.1) in an eContent OCTET STRING.
func (d *decoder) authPack(parent *Node, os tlv) error {
	var ap pkinit.AuthPack
	if err := ap.Unmarshal(d.buf[os.val:os.end]); err != nil {
		return fail(os.val, "AuthPack: %v", err)
	}
	seq, err := d.expect(os.val, os.end, 0x30, "AuthPack")
	if err != nil {
		return err
	}
	n := parent.add("AuthPack", "", seq.off, seq.len())
	f, _, err := d.fields(seq, "AuthPack")
	if err != nil {
		return err
	}
	if pf, ok := f[0]; ok {
		inner, err := d.inner(pf, 0x30, "pkAuthenticator")
		if err != nil {
			return err
		}
		pa := n.add("pkAuthenticator", "", pf.off, pf.len())
		pff, _, err := d.fields(inner, "PKAuthenticator")
		if err != nil {
			return err
		}
		p := ap.PKAuthenticator
		for _, c := range []struct {
			tag   byte
			name  string
			value string
		}{
			{0, "cusec", fmt.Sprint(p.Cusec)},
			{1, "ctime", ""},
			{2, "nonce", fmt.Sprint(p.Nonce)},
			{3, "paChecksum", hexLen(p.PAChecksum)},
			{4, "freshnessToken", fmt.Sprintf("%d bytes", len(p.FreshnessToken))},
		} {
			k, ok := pff[c.tag]
			if !ok {
				continue
			}
			v := c.value
			if c.tag == 1 {
				tm, err := d.explicit(k, "ctime")
				if err != nil {
					return err
				}
				v = d.text(tm)
			}
			pa.add(c.name, v, k.off, k.len())
		}
	}
	if cf, ok := f[1]; ok {
		if err := d.clientPublicValue(n, cf, ap.ClientPublicValue); err != nil {
			return err
		}
	}
	if sf, ok := f[2]; ok {
		list, err := d.inner(sf, 0x30, "supportedCMSTypes")
		if err != nil {
			return err
		}
		algs, err := d.children(list)
		if err != nil {
			return err
		}
		s := n.add("supportedCMSTypes", fmt.Sprint(len(algs)), sf.off, sf.len())
		for _, a := range algs {
			s.add("AlgorithmIdentifier", d.algorithm(a), a.off, a.len())
		}
	}
	if nf, ok := f[3]; ok {
		n.add("clientDHNonce", hexLen(ap.ClientDHNonce), nf.off, nf.len())
	}
	if kf, ok := f[4]; ok {
		s := n.add("supportedKDFs", fmt.Sprint(len(ap.SupportedKDFs)), kf.off, kf.len())
		for _, k := range ap.SupportedKDFs {
			s.add("KDFAlgorithmId", oidName(k), kf.off, kf.len())
		}
	}
	return nil
}

// clientPublicValue outlines the initiator's SubjectPublicKeyInfo, naming the
// Diffie-Hellman group by its prime.
func (d *decoder) clientPublicValue(parent *Node, cf tlv, spki *pkinit.SubjectPublicKeyInfo) error {
	seq, err := d.inner(cf, 0x30, "clientPublicValue")
	if err != nil {
		return err
	}
	n := parent.add("clientPublicValue", "", cf.off, cf.len())
	kids, err := d.children(seq)
	if err != nil {
		return err
	}
	if len(kids) != 2 || spki == nil {
		return fail(seq.off, "clientPublicValue: malformed SubjectPublicKeyInfo")
	}
	alg := spki.Algorithm.Algorithm
	an := n.add("algorithm", oidName(alg), kids[0].off, kids[0].len())
	pub := kids[1]
	switch {
	case alg.Equal(pkinit.OIDDHPublicNumber):
		var dp pkinit.DomainParameters
		if rest, err := asn1.Unmarshal(spki.Algorithm.Parameters.FullBytes, &dp); err != nil || len(rest) != 0 || dp.P == nil || dp.G == nil {
			return fail(kids[0].off, "clientPublicValue: malformed DomainParameters")
		}
		n.Value = groupName(dp)
		params, err := d.children(kids[0])
		if err != nil || len(params) != 2 {
			return fail(kids[0].off, "clientPublicValue: malformed AlgorithmIdentifier")
		}
		p := an.add("DomainParameters", n.Value, params[1].off, params[1].len())
		ints, err := d.children(params[1])
		if err != nil {
			return err
		}
		for i, v := range []*big.Int{dp.P, dp.G, dp.Q} {
			if i >= len(ints) || v == nil {
				break
			}
			s := fmt.Sprintf("%d-bit", v.BitLen())
			if i == 1 {
				s = v.String()
			}
			p.add([]string{"p", "g", "q"}[i], s, ints[i].off, ints[i].len())
		}
		y, err := pkinit.ParseDHPublicValue(spki.PublicKey)
		if err != nil {
			return fail(pub.off, "clientPublicValue: %v", err)
		}
		n.add("subjectPublicKey", dhValue(y), pub.off, pub.len())
	default:
		if params, err := d.children(kids[0]); err == nil && len(params) == 2 && params[1].tag == 0x06 {
			if curve, err := d.oid(params[1]); err == nil {
				n.Value = oidName(curve)
			}
		}
		n.add("subjectPublicKey", fmt.Sprintf("%d bytes", len(spki.PublicKey.Bytes)), pub.off, pub.len())
	}
	return nil
}

// groupName names a Diffie-Hellman group by its domain parameters: Oakley group 2 and
// MODP group 14 are known by their prime.
func groupName(dp pkinit.DomainParameters) string {
	if g, err := pkinit.GroupOf(dp); err == nil {
		return g.Name
	}
	return fmt.Sprintf("unknown group (%d-bit p)", dp.P.BitLen())
}

// dhValue shows a Diffie-Hellman public value by its length.
func dhValue(y *big.Int) string {
	return fmt.Sprintf("%d-byte public value (%d bits)", len(y.Bytes()), y.BitLen())
}

// kdcDHKeyInfo outlines the KDCDHKeyInfo (RFC 4556 3.2.3.1) in an eContent OCTET
// STRING: the acceptor's Diffie-Hellman public value.
func (d *decoder) kdcDHKeyInfo(parent *Node, os tlv) error {
	var ki pkinit.KDCDHKeyInfo
	if err := ki.Unmarshal(d.buf[os.val:os.end]); err != nil {
		return fail(os.val, "KDCDHKeyInfo: %v", err)
	}
	seq, err := d.expect(os.val, os.end, 0x30, "KDCDHKeyInfo")
	if err != nil {
		return err
	}
	n := parent.add("KDCDHKeyInfo", "", seq.off, seq.len())
	f, _, err := d.fields(seq, "KDCDHKeyInfo")
	if err != nil {
		return err
	}
	if k, ok := f[0]; ok {
		v := fmt.Sprintf("%d bytes", len(ki.SubjectPublicKey.Bytes))
		if y, err := pkinit.ParseDHPublicValue(ki.SubjectPublicKey); err == nil {
			v = dhValue(y)
		}
		n.add("subjectPublicKey", v, k.off, k.len())
	}
	if k, ok := f[1]; ok {
		n.add("nonce", fmt.Sprint(ki.Nonce), k.off, k.len())
	}
	if k, ok := f[2]; ok {
		tm, err := d.explicit(k, "dhKeyExpiration")
		if err != nil {
			return err
		}
		n.add("dhKeyExpiration", d.text(tm), k.off, k.len())
	}
	return nil
}

// principalIdentifiers outlines a SEQUENCE OF ExternalPrincipalIdentifier (trusted
// certifiers), each named by its subject; the list must pass internal/pkinit.
func (d *decoder) principalIdentifiers(x *Node, list tlv) error {
	ids, err := pkinit.UnmarshalExternalPrincipalIdentifiers(d.buf[list.off:list.end])
	if err != nil {
		return fail(list.off, "%v", err)
	}
	kids, err := d.children(list)
	if err != nil {
		return err
	}
	if len(kids) != len(ids) {
		return fail(list.off, "%d ExternalPrincipalIdentifiers, %d elements", len(ids), len(kids))
	}
	x.Value = fmt.Sprint(len(kids))
	for i, k := range kids {
		id := ids[i]
		var v string
		switch {
		case id.SubjectName != nil:
			v = pki.FormatName(id.SubjectName)
		case id.SubjectKeyIdentifier != nil:
			v = "subjectKeyIdentifier " + hex.EncodeToString(id.SubjectKeyIdentifier)
		default:
			v = "issuerAndSerialNumber"
		}
		e := x.add("ExternalPrincipalIdentifier", v, k.off, k.len())
		f, _, err := d.fields(k, "ExternalPrincipalIdentifier")
		if err != nil {
			return err
		}
		if c, ok := f[0]; ok {
			e.add("subjectName", pki.FormatName(id.SubjectName), c.off, c.len())
		}
		if c, ok := f[1]; ok {
			e.add("issuerAndSerialNumber", fmt.Sprintf("%d bytes", c.valLen()), c.off, c.len())
		}
		if c, ok := f[2]; ok {
			e.add("subjectKeyIdentifier", hex.EncodeToString(id.SubjectKeyIdentifier), c.off, c.len())
		}
	}
	return nil
}

// eData outlines a KRB-ERROR's e-data when it is TYPED-DATA (what a PKINIT KDC, and
// a PKU2U acceptor, sends: trusted certifiers, acceptable DH groups) or METHOD-DATA
// (a SEQUENCE OF PA-DATA); anything else stays bytes.
func (d *decoder) eData(x *Node, os tlv) error {
	seq, err := d.readTLV(os.val, os.end)
	if err != nil || seq.tag != 0x30 || seq.end != os.end {
		return nil
	}
	kids, err := d.children(seq)
	if err != nil || len(kids) == 0 || kids[0].tag != 0x30 || kids[0].valLen() == 0 {
		return nil
	}
	switch d.buf[kids[0].val] {
	case 0xa1:
		m := &Node{Name: "METHOD-DATA", Offset: seq.off, Length: seq.len()}
		if d.padata(m, seq) == nil {
			x.Children = append(x.Children, m)
		}
		return nil
	case 0xa0:
		td := &Node{Name: "TYPED-DATA", Value: fmt.Sprint(len(kids)), Offset: seq.off, Length: seq.len()}
		for _, k := range kids {
			if d.typedData(td, k) != nil {
				return nil // not TYPED-DATA after all: leave the bytes
			}
		}
		x.Children = append(x.Children, td)
	}
	return nil
}

// typedData outlines one TYPED-DATA element, { data-type [0] Int32, data-value [1]
// OCTET STRING OPTIONAL }.
func (d *decoder) typedData(parent *Node, k tlv) error {
	f, _, err := d.fields(k, "TYPED-DATA")
	if err != nil {
		return err
	}
	tf, ok := f[0]
	if !ok {
		return fail(k.off, "TYPED-DATA without data-type")
	}
	ti, err := d.inner(tf, 0x02, "data-type")
	if err != nil {
		return err
	}
	typ, err := d.integer(ti)
	if err != nil {
		return err
	}
	n := parent.add("TypedData", named(typedDataTypes, typ), k.off, k.len())
	n.add("data-type", n.Value, tf.off, tf.len())
	vf, ok := f[1]
	if !ok {
		return nil
	}
	os, err := d.inner(vf, 0x04, "data-value")
	if err != nil {
		return err
	}
	v := n.add("data-value", fmt.Sprintf("%d bytes", os.valLen()), vf.off, vf.len())
	switch typ {
	case "104", "105":
		list, err := d.expect(os.val, os.end, 0x30, "ExternalPrincipalIdentifiers")
		if err != nil {
			return err
		}
		return d.principalIdentifiers(v, list)
	case "109":
		algs, err := pkinit.UnmarshalDHParameters(d.buf[os.val:os.end])
		if err != nil {
			return fail(os.val, "TD-DH-PARAMETERS: %v", err)
		}
		list, err := d.expect(os.val, os.end, 0x30, "TD-DH-PARAMETERS")
		if err != nil {
			return err
		}
		kids, err := d.children(list)
		if err != nil {
			return err
		}
		if len(kids) != len(algs) {
			return fail(list.off, "%d AlgorithmIdentifiers, %d elements", len(algs), len(kids))
		}
		v.Value = fmt.Sprint(len(kids))
		for i, a := range kids {
			name := oidName(algs[i].Algorithm)
			var dp pkinit.DomainParameters
			if rest, err := asn1.Unmarshal(algs[i].Parameters.FullBytes, &dp); err == nil && len(rest) == 0 && dp.P != nil && dp.G != nil {
				name = groupName(dp)
			}
			v.add("AlgorithmIdentifier", name, a.off, a.len())
		}
	}
	return nil
}

// pku2uMetaData outlines PKU2U's NegoEx meta-data (draft-zhu-pku2u, as Windows sends
// it): the trusted issuers and, from the initiator, the target.
func (d *decoder) pku2uMetaData(off, n int, initiator bool) (*Node, error) {
	b := d.buf[off : off+n]
	var md pkinit.InitiatorMetaData
	if initiator {
		if err := md.Unmarshal(b); err != nil {
			return nil, fail(off, "PKU2U meta-data: %v", err)
		}
	} else {
		var am pkinit.AcceptorMetaData
		if err := am.Unmarshal(b); err != nil {
			return nil, fail(off, "PKU2U meta-data: %v", err)
		}
	}
	seq, err := d.expect(off, off+n, 0x30, "PKU2U meta-data")
	if err != nil {
		return nil, err
	}
	if seq.end != off+n {
		return nil, fail(seq.end, "%d bytes after the PKU2U meta-data", off+n-seq.end)
	}
	name := "PKU2U ACCEPTOR_META_DATA"
	if initiator {
		name = "PKU2U INITIATOR_META_DATA"
	}
	root := &Node{Name: name, Offset: off, Length: n}
	f, _, err := d.fields(seq, "PKU2U meta-data")
	if err != nil {
		return nil, err
	}
	if tc, ok := f[0]; ok {
		list, err := d.inner(tc, 0x30, "trusted certifiers")
		if err != nil {
			return nil, err
		}
		if err := d.principalIdentifiers(root.add("trustedCertifiers", "", tc.off, tc.len()), list); err != nil {
			return nil, err
		}
	}
	if tf, ok := f[1]; ok && initiator {
		inner, err := d.inner(tf, 0x30, "target")
		if err != nil {
			return nil, err
		}
		t := root.add("target", "", tf.off, tf.len())
		tff, _, err := d.fields(inner, "KRB5PrincipalName")
		if err != nil {
			return nil, err
		}
		var realm string
		if r, ok := tff[0]; ok {
			rs, err := d.explicit(r, "realm")
			if err != nil {
				return nil, err
			}
			realm = d.text(rs)
			t.add("realm", realm, r.off, r.len())
		}
		if p, ok := tff[1]; ok {
			ps, err := d.inner(p, 0x30, "principalName")
			if err != nil {
				return nil, err
			}
			x := t.add("principalName", "", p.off, p.len())
			x.Value = d.principal(x, ps)
		}
		t.Value = fmt.Sprintf("%s@%s", md.TargetName.PrincipalNameString(), realm)
	}
	return root, nil
}
