// Command pku2u is gossp's PKU2U plugin: it serves the PKU2U security package
// (github.com/gossp/gossp/packages/pku2u) to a NegoEx host such as
// negoex/plugin.Host, out of process, as Windows runs its PKU2U package beside NegoEx.
//
// Its certificate, key and trust anchors come from the manifest's "config" (PEM file
// names; relative names are relative to the plugin's folder):
//
//	{"certificate": "peer.pem", "key": "peer.key", "trust": ["ca.pem"],
//	 "allow_modp1024": false, "initiator_modp1024": false, "clock_skew": "5m",
//	 "no_hostname_check": false}
//
// An application may instead pass credential material of the same shape (certificate,
// key, trust) with AcquireCredentials; material wins over the configuration.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gossp/gossp/negoex/plugin"
	"github.com/gossp/gossp/packages/pku2u"
	"github.com/gossp/gossp/sspi"
)

func main() {
	plugin.Serve(newScheme(plugin.NewLogger(slog.LevelInfo), pluginDir()))
}

// pluginDir is the folder of the plugin's binary, against which configured file names
// resolve.
func pluginDir() string {
	exe, err := os.Executable()
	if err != nil {
		return "."
	}
	return filepath.Dir(exe)
}

// scheme is PKU2U with the manifest's configuration and a material decoder.
type scheme struct {
	logger *slog.Logger
	dir    string

	mu    sync.RWMutex
	pkg   *pku2u.Package
	files *pku2u.Files // the configured default credential, if any
}

func newScheme(logger *slog.Logger, dir string) *scheme {
	return &scheme{logger: logger, dir: dir, pkg: pku2u.New(pku2u.Config{Logger: logger})}
}

// config is the manifest's package configuration.
type config struct {
	pku2u.Files
	AllowModp1024     bool   `json:"allow_modp1024"`
	InitiatorModp1024 bool   `json:"initiator_modp1024"`
	ClockSkew         string `json:"clock_skew"`
	NoHostnameCheck   bool   `json:"no_hostname_check"`
}

// Info implements sspi.Package.
func (s *scheme) Info() sspi.PackageInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.pkg.Info()
}

// Configure implements plugin.Configurable.
func (s *scheme) Configure(data []byte) error {
	var c config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return sspi.Errorf(sspi.ErrInvalidParameter, "pku2u config: invalid JSON at offset %d", syntax.Offset)
		}
		return sspi.Errorf(sspi.ErrInvalidParameter, "pku2u config: %w", err)
	}
	cfg := pku2u.Config{Logger: s.logger, AllowModp1024: c.AllowModp1024, InitiatorModp1024: c.InitiatorModp1024, NoHostnameCheck: c.NoHostnameCheck}
	if c.ClockSkew != "" {
		d, err := time.ParseDuration(c.ClockSkew)
		if err != nil || d <= 0 {
			return sspi.Errorf(sspi.ErrInvalidParameter, "pku2u config: clock_skew %q is not a positive duration", c.ClockSkew)
		}
		cfg.ClockSkew = d
	}
	var files *pku2u.Files
	if c.Certificate != "" || c.Key != "" || len(c.Trust) > 0 {
		f := s.resolve(c.Files)
		// Load now, so a bad manifest fails when the plugin starts, not at the first logon.
		if _, err := f.Load(); err != nil {
			return err
		}
		files = &f
	}
	s.mu.Lock()
	s.pkg, s.files = pku2u.New(cfg), files
	s.mu.Unlock()
	return nil
}

// resolve makes relative file names relative to the plugin's folder.
func (s *scheme) resolve(f pku2u.Files) pku2u.Files {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(s.dir, p)
	}
	out := pku2u.Files{Certificate: abs(f.Certificate), Key: abs(f.Key)}
	for _, t := range f.Trust {
		out.Trust = append(out.Trust, abs(t))
	}
	return out
}

// DecodeMaterial implements plugin.MaterialDecoder: PEM file names, as in the
// configuration.
func (s *scheme) DecodeMaterial(_ sspi.CredentialUse, data []byte) (any, error) {
	var f pku2u.Files
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, sspi.Errorf(sspi.ErrUnknownCredentials, "pku2u material: invalid JSON at offset %d", syntax.Offset)
		}
		return nil, sspi.Errorf(sspi.ErrUnknownCredentials, "pku2u material: %w", err)
	}
	return f, nil
}

// AcquireCredentials implements sspi.Package: material if given, else the configured
// certificate.
func (s *scheme) AcquireCredentials(ctx context.Context, req sspi.CredentialRequest) (sspi.Credential, error) {
	s.mu.RLock()
	pkg, files := s.pkg, s.files
	s.mu.RUnlock()
	if req.Material == nil {
		if files == nil {
			return nil, sspi.WithOp(sspi.Errorf(sspi.ErrNoCredentials, "pku2u: no credential material and no certificate in the manifest's config"), pku2u.Name, "AcquireCredentials")
		}
		req.Material = *files
	}
	return pkg.AcquireCredentials(ctx, req)
}
