package ntlm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
)

// Account is what an acceptor knows of a user: the canonical names and the NT hash
// (NTOWFv1, the MD4 of the UTF-16LE password). No plaintext password is needed.
type Account struct {
	Domain string
	User   string
	NTHash []byte
}

// UserDB finds accounts for an acceptor. Applications plug their own directory in by
// implementing it. LookupUser receives the domain and user as the client sent them and
// returns an error wrapping ErrNoSuchUser when there is no such account.
type UserDB interface {
	LookupUser(ctx context.Context, domain, user string) (Account, error)
}

// ErrNoSuchUser is returned by a UserDB for an unknown user.
var ErrNoSuchUser = errors.New("ntlm: no such user")

// NTHash returns the NT hash (NTOWFv1) of a password, for building a UserDB.
func NTHash(password string) []byte { return ntowfV1(password) }

// Users is an in-memory UserDB. A user with an empty Domain matches any domain; names
// compare case-insensitively, as Windows compares them.
type Users []Account

// LookupUser implements UserDB: an exact domain match wins over an empty-domain entry.
func (u Users) LookupUser(_ context.Context, domain, user string) (Account, error) {
	var wildcard *Account
	for i := range u {
		a := &u[i]
		if !strings.EqualFold(a.User, user) {
			continue
		}
		if strings.EqualFold(a.Domain, domain) {
			return *a, nil
		}
		if a.Domain == "" && wildcard == nil {
			wildcard = a
		}
	}
	if wildcard != nil {
		return *wildcard, nil
	}
	return Account{}, ErrNoSuchUser
}

// ntHashPrefix marks an NT hash in place of a password in a user file, in the notation
// password tools use for NT hashes.
const ntHashPrefix = "$NT$"

// UserFile is a UserDB read from a file in gss-ntlmssp's NTLM_USER_FILE format: one
// "DOMAIN:USER:PASSWORD" per line (the password is the rest of the line and may hold
// colons; DOMAIN may be empty to match any domain; '#' starts a comment line). gossp
// also accepts "DOMAIN:USER:$NT$<32 hex digits>", an NT hash instead of the password,
// so no plaintext needs to be stored.
//
// The file is read once, when loaded, and again only on Reload: handshakes never touch
// the disk.
type UserFile struct {
	path  string
	mu    sync.RWMutex
	users Users
}

// LoadUserFile reads a user file.
func LoadUserFile(path string) (*UserFile, error) {
	f := &UserFile{path: path}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload reads the file again; on error the previous contents stay in force.
func (f *UserFile) Reload() error {
	data, err := os.ReadFile(f.path)
	if err != nil {
		return fmt.Errorf("ntlm: user file: %w", err)
	}
	users, err := ParseUserFile(data)
	if err != nil {
		return fmt.Errorf("ntlm: user file %s: %w", f.path, err)
	}
	f.mu.Lock()
	f.users = users
	f.mu.Unlock()
	return nil
}

// LookupUser implements UserDB.
func (f *UserFile) LookupUser(ctx context.Context, domain, user string) (Account, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.users.LookupUser(ctx, domain, user)
}

// ParseUserFile parses user file contents (see UserFile). Errors name the line but
// never echo its text, which holds a password.
func ParseUserFile(data []byte) (Users, error) {
	var users Users
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		domain, rest, ok1 := strings.Cut(line, ":")
		user, secret, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || user == "" {
			return nil, fmt.Errorf("line %d: want DOMAIN:USER:PASSWORD", n)
		}
		a := Account{Domain: domain, User: user}
		if h, ok := strings.CutPrefix(secret, ntHashPrefix); ok {
			b, err := hex.DecodeString(h)
			if err != nil || len(b) != 16 {
				return nil, fmt.Errorf("line %d: %s must be followed by 32 hex digits", n, ntHashPrefix)
			}
			a.NTHash = b
		} else {
			a.NTHash = ntowfV1(secret)
		}
		users = append(users, a)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return users, nil
}
