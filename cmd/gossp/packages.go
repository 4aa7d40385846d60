package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"text/tabwriter"

	"github.com/gossp/gossp/sspi"
)

func runPackages(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "packages", "[-json]")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	d, err := newDefaults(slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	infos := d.registry.EnumerateSecurityPackages()
	if *asJSON {
		return writePackagesJSON(e, infos)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMECHANISM\tMAX TOKEN\tORIGIN\tCAPABILITIES")
	for _, p := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", p.Name, mechanism(p), p.MaxToken, p.Origin, p.Capabilities)
	}
	return tw.Flush()
}

// mechanism names how a package is negotiated: its GSS OID, its NegoEx auth scheme, or
// both.
func mechanism(p sspi.PackageInfo) string {
	s := ""
	if len(p.MechOID) > 0 {
		s = "oid " + p.MechOID.String()
	}
	if !p.AuthScheme.IsZero() {
		if s != "" {
			s += ", "
		}
		s += "negoex " + p.AuthScheme.String()
	}
	if s == "" {
		return "-"
	}
	return s
}

type packageJSON struct {
	Name         string   `json:"name"`
	Comment      string   `json:"comment"`
	MechOID      string   `json:"mech_oid,omitempty"`
	AuthScheme   string   `json:"auth_scheme,omitempty"`
	Capabilities uint32   `json:"capabilities"`
	CapNames     []string `json:"capability_names"`
	Version      uint16   `json:"version"`
	RPCID        uint16   `json:"rpc_id"`
	MaxToken     int      `json:"max_token"`
	Origin       string   `json:"origin"`
}

func writePackagesJSON(e *env, infos []sspi.PackageInfo) error {
	out := make([]packageJSON, 0, len(infos))
	for _, p := range infos {
		j := packageJSON{
			Name: p.Name, Comment: p.Comment, Capabilities: uint32(p.Capabilities),
			Version: p.Version, RPCID: p.RPCID, MaxToken: p.MaxToken, Origin: p.Origin.String(),
		}
		if len(p.MechOID) > 0 {
			j.MechOID = p.MechOID.String()
		}
		if !p.AuthScheme.IsZero() {
			j.AuthScheme = p.AuthScheme.String()
		}
		j.CapNames = capabilityNames(p.Capabilities)
		out = append(out, j)
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func capabilityNames(c sspi.Capabilities) []string {
	var names []string
	for bit := sspi.Capabilities(1); bit != 0; bit <<= 1 {
		if c&bit != 0 {
			names = append(names, bit.String())
		}
	}
	return names
}
