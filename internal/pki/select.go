package pki

import "crypto/x509"

// TrustedIssuers returns the DER-encoded subject of each trust anchor, in order: the
// issuer names a PKU2U peer lists in its NegoEx INITIATOR_META_DATA or
// ACCEPTOR_META_DATA (and in TD-TRUSTED-CERTIFIERS) so the other side can pick a
// certificate it will accept. Nil certificates are skipped; duplicates are dropped.
func TrustedIssuers(anchors []*x509.Certificate) [][]byte {
	var out [][]byte
	for _, c := range anchors {
		if c == nil || len(c.RawSubject) == 0 {
			continue
		}
		dup := false
		for _, o := range out {
			if sameName(o, c.RawSubject) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, c.RawSubject)
		}
	}
	return out
}

// SelectCredential chooses the credential to present to a peer that trusts issuers
// (DER names, as TrustedIssuers returns and meta-data carries): the first whose chain
// leads to one of them, that is, some certificate of the chain is issued by a named
// issuer or is itself one (an intermediate the peer trusts). The issuers are tried in
// the peer's order of preference. With no match, or no issuers, it falls back to the
// first usable credential; it returns nil only when creds holds none.
func SelectCredential(creds []*Credential, issuers [][]byte) *Credential {
	for _, iss := range issuers {
		for _, c := range creds {
			if c == nil || len(c.Chain) == 0 {
				continue
			}
			for i, cert := range c.Chain {
				if cert == nil {
					continue
				}
				if sameName(cert.RawIssuer, iss) || (i > 0 && sameName(cert.RawSubject, iss)) {
					return c
				}
			}
		}
	}
	for _, c := range creds {
		if c != nil && len(c.Chain) > 0 {
			return c
		}
	}
	return nil
}
