package negotiate

import (
	"fmt"
	"strings"
)

// Policy is a package list as Windows writes it (SEC_WINNT_AUTH_IDENTITY_EX's
// PackageList): comma-separated package names, each optionally prefixed with "!" to
// exclude it. Names listed without "!" are the only ones allowed, in the order given;
// a list of exclusions only allows every other package. The empty policy allows all.
//
//	"kerberos,!ntlm"   Kerberos only
//	"!ntlm"            everything but NTLM
//	"ntlm,kerberos"    both, NTLM preferred
type Policy struct {
	allow   []string // ordered, lower-cased
	exclude map[string]bool
	none    bool // an intersection of disjoint lists: nothing is allowed
}

// ParsePolicy parses a package list. Names are case-insensitive.
func ParsePolicy(s string) (Policy, error) {
	p := Policy{exclude: map[string]bool{}}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		name, neg := strings.CutPrefix(f, "!")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" || strings.ContainsAny(name, "! ") {
			return Policy{}, fmt.Errorf("negotiate: malformed package list entry %q", f)
		}
		if neg {
			p.exclude[name] = true
		} else {
			p.allow = append(p.allow, name)
		}
	}
	return p, nil
}

// Allows reports whether the named package may be used.
func (p Policy) Allows(name string) bool {
	n := strings.ToLower(name)
	if p.none || p.exclude[n] {
		return false
	}
	if len(p.allow) == 0 {
		return true
	}
	for _, a := range p.allow {
		if a == n {
			return true
		}
	}
	return false
}

// rank orders allowed packages: those the policy lists come first in its order, the
// rest keep their configured order after them.
func (p Policy) rank(name string) int {
	n := strings.ToLower(name)
	for i, a := range p.allow {
		if a == n {
			return i
		}
	}
	return len(p.allow)
}

// String writes the policy back as a package list.
func (p Policy) String() string {
	parts := append([]string(nil), p.allow...)
	for n := range p.exclude {
		parts = append(parts, "!"+n)
	}
	return strings.Join(parts, ",")
}

// Intersect returns a policy allowing what both allow; p's order wins.
func (p Policy) Intersect(q Policy) Policy {
	r := Policy{exclude: map[string]bool{}}
	for n := range p.exclude {
		r.exclude[n] = true
	}
	for n := range q.exclude {
		r.exclude[n] = true
	}
	switch {
	case len(p.allow) == 0:
		r.allow = q.allow
	case len(q.allow) == 0:
		r.allow = p.allow
	default:
		for _, a := range p.allow {
			if q.Allows(a) {
				r.allow = append(r.allow, a)
			}
		}
		r.none = len(r.allow) == 0
	}
	return r
}
