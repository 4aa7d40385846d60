package main

import (
	"crypto/rand"
	"log/slog"

	"github.com/gossp/gossp/packages/psk"
	"github.com/gossp/gossp/sspi"
)

// defaults is the embedded default configuration: the packages a fresh clone has with
// no setup, and the demo identities that exercise them.
type defaults struct {
	registry *sspi.Registry
	psk      *psk.Package
	pskKey   []byte // a fresh random key per run, shared by the demo's two sides
}

func newDefaults(logger *slog.Logger) (*defaults, error) {
	d := &defaults{psk: psk.New(psk.Config{Logger: logger})}
	var err error
	if d.registry, err = sspi.NewRegistry(d.psk); err != nil {
		return nil, err
	}
	d.pskKey = make([]byte, 32)
	rand.Read(d.pskKey)
	return d, nil
}
