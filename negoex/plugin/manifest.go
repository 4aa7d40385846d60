package plugin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gossp/gossp/sspi"
)

// ManifestFile is the name of the manifest in each package folder.
const ManifestFile = "package.json"

// Manifest describes one plugin package: a folder in the packages directory holding
// this file and the plugin's binary. See docs/configuration.md.
type Manifest struct {
	// Name is the package name, as the plugin describes itself.
	Name string `json:"name"`
	// AuthScheme is the NegoEx auth scheme GUID, as the plugin describes itself.
	AuthScheme string `json:"auth_scheme"`
	// Command is the binary, relative to the package folder and inside it.
	Command string `json:"command"`
	// Args are passed to the binary.
	Args []string `json:"args,omitempty"`
	// SHA256 is the binary's SHA-256, hex. Required: nothing unverified runs.
	SHA256 string `json:"sha256"`
	// Version is the package's own version, for humans.
	Version string `json:"version,omitempty"`
	// ProtocolVersions lists the plugin protocol versions the binary speaks.
	ProtocolVersions []int `json:"protocol_versions"`
	// Enabled turns the package on; a missing field means enabled.
	Enabled *bool `json:"enabled,omitempty"`
	// Priority orders schemes in NegoEx, higher first.
	Priority int `json:"priority"`
	// Config is passed to the plugin's Configure, as JSON.
	Config json.RawMessage `json:"config,omitempty"`
}

// Override is an operator's word on a package, kept outside the packages directory:
// a checksum beside the binary proves only that the two were written together.
type Override struct {
	// SHA256 pins the binary: the manifest's checksum must equal it.
	SHA256 string `json:"sha256,omitempty"`
	// Enabled, when set, wins over the manifest's.
	Enabled *bool `json:"enabled,omitempty"`
	// Priority, when set, wins over the manifest's.
	Priority *int `json:"priority,omitempty"`
}

// LoadOverrides reads an overrides file: {"packages": {"NAME": {...Override}}}.
func LoadOverrides(path string) (map[string]Override, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plugin overrides: %w", err)
	}
	var f struct {
		Packages map[string]Override `json:"packages"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("plugin overrides %s: %w", path, err)
	}
	return f.Packages, nil
}

// maxManifest bounds a manifest file.
const maxManifest = 1 << 20

// candidate is a package folder as found on disk, checked or refused.
type candidate struct {
	dir      string
	manifest Manifest
	binary   string // absolute path, inside dir
	sum      []byte
	guid     sspi.GUID
	refused  error
	verified bool // an enabled package's binary was hashed during the scan
}

// errRefused wraps every reason a package is refused.
var errRefused = errors.New("refused")

func refuse(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errRefused, fmt.Sprintf(format, a...))
}

// checkPerms refuses paths that someone other than their owner could replace.
func checkPerms(path string, fi os.FileInfo) error {
	if fi.Mode().Perm()&0o022 != 0 {
		return refuse("%s is group- or world-writable (mode %v)", path, fi.Mode().Perm())
	}
	return nil
}

// scan reads the packages directory: one folder per package.
func scan(dir string, overrides map[string]Override) ([]*candidate, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("packages directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("packages directory %s is not a directory", abs)
	}
	if err := checkPerms(abs, fi); err != nil {
		return nil, fmt.Errorf("packages directory: %w", err)
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("packages directory: %w", err)
	}
	var cands []*candidate
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		c := &candidate{dir: filepath.Join(abs, e.Name())}
		c.refused = c.load(overrides)
		cands = append(cands, c)
	}
	// Duplicate names or GUIDs: refuse every package involved, since which one is
	// genuine cannot be told.
	for i, a := range cands {
		for _, b := range cands[i+1:] {
			if a.refused != nil || b.refused != nil {
				continue
			}
			if !strings.EqualFold(a.manifest.Name, b.manifest.Name) && a.guid != b.guid {
				continue
			}
			// A binary that fails its checksum is refused for that, as at its start,
			// and claims nothing.
			a.refused, b.refused = a.verify(), b.verify()
			if a.refused != nil || b.refused != nil {
				continue
			}
			if strings.EqualFold(a.manifest.Name, b.manifest.Name) {
				a.refused = refuse("name %q is also claimed by %s", a.manifest.Name, b.dir)
				b.refused = refuse("name %q is also claimed by %s", b.manifest.Name, a.dir)
			} else if a.guid == b.guid {
				a.refused = refuse("auth scheme %v is also claimed by %s", a.guid, b.dir)
				b.refused = refuse("auth scheme %v is also claimed by %s", b.guid, a.dir)
			}
		}
	}
	return cands, nil
}

// load reads and checks one package folder.
func (c *candidate) load(overrides map[string]Override) error {
	fi, err := os.Stat(c.dir)
	if err != nil {
		return refuse("%v", err)
	}
	if err := checkPerms(c.dir, fi); err != nil {
		return err
	}
	mpath := filepath.Join(c.dir, ManifestFile)
	f, err := os.Open(mpath)
	if err != nil {
		return refuse("manifest: %v", err)
	}
	defer f.Close()
	mfi, err := f.Stat()
	if err != nil {
		return refuse("manifest: %v", err)
	}
	if err := checkPerms(mpath, mfi); err != nil {
		return err
	}
	dec := json.NewDecoder(io.LimitReader(f, maxManifest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c.manifest); err != nil {
		return refuse("manifest %s: %v", mpath, err)
	}
	m := &c.manifest
	if m.Name == "" || m.Command == "" || m.SHA256 == "" {
		return refuse("manifest %s: name, command and sha256 are required", mpath)
	}
	if c.guid, err = sspi.ParseGUID(m.AuthScheme); err != nil || c.guid.IsZero() {
		return refuse("manifest %s: auth_scheme %q is not a GUID", mpath, m.AuthScheme)
	}
	if !slices.Contains(m.ProtocolVersions, ProtocolVersion) {
		return refuse("speaks plugin protocol %v, this host speaks %d", m.ProtocolVersions, ProtocolVersion)
	}
	if o, ok := overrides[m.Name]; ok {
		if o.Enabled != nil {
			m.Enabled = o.Enabled
		}
		if o.Priority != nil {
			m.Priority = *o.Priority
		}
		if o.SHA256 != "" && !strings.EqualFold(o.SHA256, m.SHA256) {
			return refuse("the manifest's sha256 differs from the operator's pinned one")
		}
	}
	// The binary must live inside its package folder, symbolic links resolved.
	bin := filepath.Join(c.dir, filepath.FromSlash(m.Command))
	real, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return refuse("command: %v", err)
	}
	realDir, err := filepath.EvalSymlinks(c.dir)
	if err != nil {
		return refuse("%v", err)
	}
	if rel, err := filepath.Rel(realDir, real); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return refuse("command %q lies outside the package folder", m.Command)
	}
	bfi, err := os.Stat(real)
	if err != nil {
		return refuse("command: %v", err)
	}
	if !bfi.Mode().IsRegular() || bfi.Mode().Perm()&0o111 == 0 {
		return refuse("command %q is not an executable file", m.Command)
	}
	if err := checkPerms(real, bfi); err != nil {
		return err
	}
	c.binary = real
	want, err := hex.DecodeString(m.SHA256)
	if err != nil || len(want) != sha256.Size {
		return refuse("sha256 %q is not a SHA-256 in hex", m.SHA256)
	}
	c.sum = want
	if c.enabled() {
		// Checked as it starts, by go-plugin's SecureConfig, right before it runs:
		// hashing it here as well would read the binary twice.
		return nil
	}
	return c.checkSum()
}

// verify checks the binary's SHA-256 now, if load left it for the start.
func (c *candidate) verify() error {
	if !c.enabled() || c.verified {
		return nil
	}
	c.verified = true
	return c.checkSum()
}

// checkSum refuses a binary whose SHA-256 is not the manifest's.
func (c *candidate) checkSum() error {
	got, err := fileSHA256(c.binary)
	if err != nil {
		return refuse("command: %v", err)
	}
	if string(got) != string(c.sum) {
		return refuse("checksum mismatch: the binary's sha256 is %x", got)
	}
	return nil
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

func (c *candidate) enabled() bool { return c.manifest.Enabled == nil || *c.manifest.Enabled }
