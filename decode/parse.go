package decode

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
)

// headerPrefix matches what precedes a token on an HTTP header line.
var headerPrefix = regexp.MustCompile(`(?i)^\s*((proxy-)?(authorization|www-authenticate|proxy-authenticate|authenticate)\s*:)?\s*((negotiate|ntlm|kerberos)(\s+|$))?`)

// Parse turns what a person pastes into token bytes: hex (spaces, colons and line
// breaks allowed), base64 (standard or URL alphabet, padded or not), or an HTTP header
// line or value such as "Negotiate <b64>", "NTLM <b64>", "Authorization: Negotiate
// <b64>" or "WWW-Authenticate: Negotiate <b64>".
func Parse(s string) ([]byte, error) {
	s = headerPrefix.ReplaceAllString(strings.TrimSpace(s), "")
	compact := strings.Join(strings.Fields(s), "")
	if compact == "" {
		return nil, errors.New("empty input: no token")
	}
	if h := strings.ReplaceAll(compact, ":", ""); len(h)%2 == 0 && isHex(h) {
		return hex.DecodeString(h)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(compact); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("input is neither hex nor base64 nor an HTTP authentication header")
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return s != ""
}
