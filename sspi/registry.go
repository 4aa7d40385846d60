package sspi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Registry holds the packages an application can use: the answer to
// EnumerateSecurityPackages and QuerySecurityPackageInfo. It is an ordinary value, not a
// process-wide table; applications and tests each make their own. The zero value is an
// empty registry ready to use, and it is safe for concurrent use.
type Registry struct {
	mu       sync.RWMutex
	packages []Package // in registration order
}

// NewRegistry returns a registry holding pkgs, in order. It fails if two share a name.
func NewRegistry(pkgs ...Package) (*Registry, error) {
	r := &Registry{}
	for _, p := range pkgs {
		if err := r.Register(p); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds a package. Names compare case-insensitively, as on Windows; a second
// package with a name already registered is refused.
func (r *Registry) Register(p Package) error {
	if p == nil {
		return Errorf(ErrInvalidParameter, "register: nil package")
	}
	name := p.Info().Name
	if name == "" {
		return Errorf(ErrInvalidParameter, "register: package has no name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.find(name) >= 0 {
		return Errorf(ErrInvalidParameter, "register: a package named %q is already registered", name)
	}
	r.packages = append(r.packages, p)
	return nil
}

// Unregister removes the named package and reports whether it was there.
func (r *Registry) Unregister(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.find(name)
	if i < 0 {
		return false
	}
	r.packages = slices.Delete(r.packages, i, i+1)
	return true
}

func (r *Registry) find(name string) int {
	for i, p := range r.packages {
		if strings.EqualFold(p.Info().Name, name) {
			return i
		}
	}
	return -1
}

// EnumerateSecurityPackages returns every package's information, in registration order.
func (r *Registry) EnumerateSecurityPackages() []PackageInfo {
	r.mu.RLock()
	defer r.mu.RUnlock()
	infos := make([]PackageInfo, len(r.packages))
	for i, p := range r.packages {
		infos[i] = p.Info()
	}
	return infos
}

// Packages returns the registered packages, in registration order.
func (r *Registry) Packages() []Package {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.packages)
}

// Package returns the named package, or an error wrapping ErrPackageNotFound.
func (r *Registry) Package(name string) (Package, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if i := r.find(name); i >= 0 {
		return r.packages[i], nil
	}
	return nil, &Error{Status: ErrPackageNotFound, Err: fmt.Errorf("no security package named %q", name)}
}

// QuerySecurityPackageInfo returns the named package's information.
func (r *Registry) QuerySecurityPackageInfo(name string) (PackageInfo, error) {
	p, err := r.Package(name)
	if err != nil {
		return PackageInfo{}, err
	}
	return p.Info(), nil
}

// AcquireCredentials acquires credentials from the named package, as
// AcquireCredentialsHandle does with its pszPackage argument.
func (r *Registry) AcquireCredentials(ctx context.Context, name string, req CredentialRequest) (Credential, error) {
	p, err := r.Package(name)
	if err != nil {
		return nil, err
	}
	return p.AcquireCredentials(ctx, req)
}
