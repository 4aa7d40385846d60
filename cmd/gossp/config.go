package main

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"

	"github.com/gossp/gossp/packages/ntlm"
	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

// defaults is the embedded default configuration: the packages a fresh clone has with
// no setup, and the demo identities that exercise them.
type defaults struct {
	registry *sspi.Registry
	psk      *psk.Package
	ntlm     *ntlm.Package
	pskKey   []byte // a fresh random key per run, shared by the demo's two sides
	password string // the demo user's NTLM password, fresh per run
}

func newDefaults(logger *slog.Logger) (*defaults, error) {
	d := &defaults{
		psk:  psk.New(psk.Config{Logger: logger}),
		ntlm: ntlm.New(ntlm.Config{Logger: logger, NetBIOSDomain: "GOSSP", NetBIOSComputer: "DEMO", Workstation: "CLIENT"}),
	}
	var err error
	if d.registry, err = sspi.NewRegistry(d.ntlm, d.psk); err != nil {
		return nil, err
	}
	d.pskKey = make([]byte, 32)
	rand.Read(d.pskKey)
	pw := make([]byte, 12)
	rand.Read(pw)
	d.password = hex.EncodeToString(pw)
	return d, nil
}
