package sspi_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

// fakePackage is a package with only a name; AcquireCredentials records its request.
type fakePackage struct {
	name string

	mu  sync.Mutex
	got []sspi.CredentialRequest
}

func (p *fakePackage) Info() sspi.PackageInfo {
	return sspi.PackageInfo{Name: p.name, Comment: "fake " + p.name, RPCID: 0xFFFF}
}

func (p *fakePackage) AcquireCredentials(_ context.Context, req sspi.CredentialRequest) (sspi.Credential, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.got = append(p.got, req)
	return nil, sspi.WithOp(sspi.ErrNoCredentials, p.name, "AcquireCredentials")
}

func names(infos []sspi.PackageInfo) []string {
	var n []string
	for _, i := range infos {
		n = append(n, i.Name)
	}
	return n
}

func TestRegistryZeroValue(t *testing.T) {
	var r sspi.Registry
	if got := r.EnumerateSecurityPackages(); len(got) != 0 {
		t.Errorf("empty registry enumerates %v", got)
	}
	if err := r.Register(&fakePackage{name: "NTLM"}); err != nil {
		t.Fatal(err)
	}
	if got := names(r.EnumerateSecurityPackages()); !slices.Equal(got, []string{"NTLM"}) {
		t.Errorf("Enumerate = %v", got)
	}
}

func TestRegistryOrderAndLookup(t *testing.T) {
	neg, kerb, ntlm := &fakePackage{name: "Negotiate"}, &fakePackage{name: "Kerberos"}, &fakePackage{name: "NTLM"}
	r, err := sspi.NewRegistry(neg, kerb, ntlm)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(r.EnumerateSecurityPackages()); !slices.Equal(got, []string{"Negotiate", "Kerberos", "NTLM"}) {
		t.Errorf("Enumerate = %v, want registration order", got)
	}
	pkgs := r.Packages()
	if len(pkgs) != 3 || pkgs[0] != neg || pkgs[1] != kerb || pkgs[2] != ntlm {
		t.Errorf("Packages = %v", pkgs)
	}
	// Packages returns a copy: changing it does not change the registry.
	pkgs[0] = nil
	if r.Packages()[0] != neg {
		t.Error("Packages returned the registry's own slice")
	}

	for _, name := range []string{"kerberos", "KERBEROS", "Kerberos"} {
		info, err := r.QuerySecurityPackageInfo(name)
		if err != nil || info.Name != "Kerberos" {
			t.Errorf("QuerySecurityPackageInfo(%q) = %v, %v", name, info.Name, err)
		}
		if p, err := r.Package(name); err != nil || p != kerb {
			t.Errorf("Package(%q) = %v, %v", name, p, err)
		}
	}
	for _, name := range []string{"", "Kerb", "NegoExtender"} {
		info, err := r.QuerySecurityPackageInfo(name)
		if !errors.Is(err, sspi.ErrPackageNotFound) {
			t.Errorf("QuerySecurityPackageInfo(%q) = %v, want ErrPackageNotFound", name, err)
		}
		if info.Name != "" {
			t.Errorf("QuerySecurityPackageInfo(%q) returned info %+v with its error", name, info)
		}
		if p, err := r.Package(name); p != nil || sspi.StatusOf(err) != sspi.ErrPackageNotFound {
			t.Errorf("Package(%q) = %v, %v", name, p, err)
		}
	}
}

func TestRegistryRefusals(t *testing.T) {
	r, err := sspi.NewRegistry(&fakePackage{name: "NTLM"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []sspi.Package{&fakePackage{name: "ntlm"}, &fakePackage{name: "NTLM"}, &fakePackage{name: "Ntlm"}} {
		if err := r.Register(p); !errors.Is(err, sspi.ErrInvalidParameter) {
			t.Errorf("Register duplicate %q = %v, want ErrInvalidParameter", p.Info().Name, err)
		}
	}
	if err := r.Register(nil); !errors.Is(err, sspi.ErrInvalidParameter) {
		t.Errorf("Register(nil) = %v", err)
	}
	if err := r.Register(&fakePackage{}); !errors.Is(err, sspi.ErrInvalidParameter) {
		t.Errorf("Register(nameless) = %v", err)
	}
	if got := names(r.EnumerateSecurityPackages()); !slices.Equal(got, []string{"NTLM"}) {
		t.Errorf("refused registrations changed the registry: %v", got)
	}
	if _, err := sspi.NewRegistry(&fakePackage{name: "PSK"}, &fakePackage{name: "psk"}); !errors.Is(err, sspi.ErrInvalidParameter) {
		t.Errorf("NewRegistry with duplicates = %v", err)
	}
}

func TestRegistryUnregister(t *testing.T) {
	r, _ := sspi.NewRegistry(&fakePackage{name: "A"}, &fakePackage{name: "B"}, &fakePackage{name: "C"})
	if !r.Unregister("b") {
		t.Fatal("Unregister(b) = false")
	}
	if r.Unregister("B") {
		t.Error("second Unregister = true")
	}
	if r.Unregister("Z") {
		t.Error("Unregister of an unknown name = true")
	}
	if got := names(r.EnumerateSecurityPackages()); !slices.Equal(got, []string{"A", "C"}) {
		t.Errorf("after Unregister: %v", got)
	}
	if _, err := r.QuerySecurityPackageInfo("B"); !errors.Is(err, sspi.ErrPackageNotFound) {
		t.Errorf("unregistered package still found: %v", err)
	}
	// The name is free again and goes to the end.
	if err := r.Register(&fakePackage{name: "B"}); err != nil {
		t.Fatal(err)
	}
	if got := names(r.EnumerateSecurityPackages()); !slices.Equal(got, []string{"A", "C", "B"}) {
		t.Errorf("after re-Register: %v", got)
	}
}

func TestRegistryAcquireCredentials(t *testing.T) {
	fake := &fakePackage{name: "Fake"}
	r, err := sspi.NewRegistry(psk.New(psk.Config{}), fake)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cred, err := r.AcquireCredentials(ctx, "psk", sspi.CredentialRequest{
		Use:      sspi.CredentialsOutbound,
		Material: psk.ClientKey{Identity: "alice", Key: make([]byte, 32)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cred.Close()
	if a := cred.Attributes(); a.Package != psk.Name || a.Use != sspi.CredentialsOutbound || a.Principal != "alice" {
		t.Errorf("Attributes = %+v", a)
	}

	// The request reaches the package unchanged, and its error comes back unchanged.
	req := sspi.CredentialRequest{Use: sspi.CredentialsInbound, Principal: "host/x"}
	if _, err := r.AcquireCredentials(ctx, "FAKE", req); !errors.Is(err, sspi.ErrNoCredentials) {
		t.Errorf("AcquireCredentials(fake) = %v, want the package's ErrNoCredentials", err)
	}
	if len(fake.got) != 1 || fake.got[0].Principal != "host/x" || fake.got[0].Use != sspi.CredentialsInbound {
		t.Errorf("package saw %+v", fake.got)
	}

	cred, err = r.AcquireCredentials(ctx, "Kerberos", req)
	if cred != nil || !errors.Is(err, sspi.ErrPackageNotFound) {
		t.Errorf("AcquireCredentials(unknown) = %v, %v; want ErrPackageNotFound", cred, err)
	}
}

// TestRegistryConcurrent runs registrations, lookups and enumerations at once; run it
// with -race.
func TestRegistryConcurrent(t *testing.T) {
	r, _ := sspi.NewRegistry(psk.New(psk.Config{}))
	const workers, rounds = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				name := fmt.Sprintf("pkg-%d-%d", w, i)
				if err := r.Register(&fakePackage{name: name}); err != nil {
					t.Errorf("Register(%s): %v", name, err)
					return
				}
				if _, err := r.QuerySecurityPackageInfo(name); err != nil {
					t.Errorf("Query(%s): %v", name, err)
				}
				if _, err := r.QuerySecurityPackageInfo("PSK"); err != nil {
					t.Errorf("Query(PSK): %v", err)
				}
				if infos := r.EnumerateSecurityPackages(); len(infos) == 0 || infos[0].Name != psk.Name {
					t.Errorf("Enumerate lost PSK at the front: %v", names(infos))
				}
				_ = r.Packages()
				if i%2 == 0 && !r.Unregister(name) {
					t.Errorf("Unregister(%s) = false", name)
				}
			}
		})
	}
	// Every worker also races to register the same name; exactly one must win.
	var winners sync.Map
	for w := range workers {
		wg.Go(func() {
			if r.Register(&fakePackage{name: "Contended"}) == nil {
				winners.Store(w, true)
			}
		})
	}
	wg.Wait()
	n := 0
	winners.Range(func(_, _ any) bool { n++; return true })
	if n != 1 {
		t.Errorf("%d registrations of the same name succeeded, want 1", n)
	}
	if got, want := len(r.EnumerateSecurityPackages()), 1+workers*rounds/2+1; got != want {
		t.Errorf("%d packages at the end, want %d", got, want)
	}
}
