package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"

	"github.com/gossp/gossp/negoex"
	"github.com/gossp/gossp/negoex/plugin"
	"github.com/gossp/gossp/negotiate"
	"github.com/gossp/gossp/packages/kerberos"
	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

// defaults is the embedded default configuration: the stack a fresh clone has with no
// setup — Negotiate over NegoEx (with PSK in process, and any plugins of a packages
// directory) and NTLM — and the demo identities that exercise it.
type defaults struct {
	registry  *sspi.Registry
	negotiate *negotiate.Package
	negoex    *negoex.Package
	psk       *psk.Package
	ntlm      *ntlm.Package
	kerberos  *kerberos.Package // nil unless asked for (options.kerberos)
	keytab    string            // the acceptor's Kerberos keytab, for gossp serve
	host      *plugin.Host      // nil without a packages directory
	pskKey    []byte            // a fresh random key per run, shared by the demo's two sides
	password  string            // the demo user's NTLM password, fresh per run
}

// options say where the configuration comes from.
type options struct {
	dir       string // packages directory; empty for none
	overrides string // operator overrides file; empty for none
	// kerberos puts Kerberos first under Negotiate (krb5.conf from KRB5_CONFIG), for
	// gossp get -kerberos and gossp serve -keytab.
	kerberos bool
	keytab   string // the acceptor's keytab (gossp serve -keytab)
}

func newDefaults(ctx context.Context, logger *slog.Logger, o options) (*defaults, error) {
	d := &defaults{
		psk:  psk.New(psk.Config{Logger: logger}),
		ntlm: ntlm.New(ntlm.Config{Logger: logger, NetBIOSDomain: "GOSSP", NetBIOSComputer: "DEMO", Workstation: "CLIENT"}),
	}
	schemes := []negoex.Scheme{{Package: d.psk, Priority: 0}}
	if o.dir != "" {
		cfg := plugin.HostConfig{Dir: o.dir, Logger: logger}
		if o.overrides != "" {
			ov, err := plugin.LoadOverrides(o.overrides)
			if err != nil {
				return nil, err
			}
			cfg.Overrides = ov
		}
		h, err := plugin.Open(ctx, cfg)
		if err != nil {
			return nil, err
		}
		d.host = h
		// A plugin serving the built-in PSK's scheme replaces it.
		for _, s := range h.Schemes() {
			if s.Package.Info().AuthScheme == psk.AuthScheme {
				schemes = nil
			}
		}
		schemes = append(schemes, h.Schemes()...)
	}
	var err error
	if d.negoex, err = negoex.New(negoex.Config{Schemes: schemes, Logger: logger}); err != nil {
		d.close()
		return nil, err
	}
	subs := []sspi.Package{d.negoex, d.ntlm}
	if o.kerberos || o.keytab != "" {
		d.kerberos, d.keytab = kerberos.New(kerberos.Config{Logger: logger}), o.keytab
		subs = append([]sspi.Package{d.kerberos}, subs...)
	}
	if d.negotiate, err = negotiate.New(negotiate.Config{Packages: subs, Logger: logger}); err != nil {
		d.close()
		return nil, err
	}
	pkgs := append([]sspi.Package{d.negotiate}, subs...)
	for _, s := range schemes {
		pkgs = append(pkgs, s.Package) // the built-in PSK unless a plugin replaced it
	}
	if d.registry, err = sspi.NewRegistry(pkgs...); err != nil {
		d.close()
		return nil, fmt.Errorf("default configuration: %w", err)
	}
	d.pskKey = make([]byte, 32)
	rand.Read(d.pskKey)
	pw := make([]byte, 12)
	rand.Read(pw)
	d.password = hex.EncodeToString(pw)
	return d, nil
}

// close stops the plugins, if any.
func (d *defaults) close() {
	if d.host != nil {
		d.host.Close()
	}
}
