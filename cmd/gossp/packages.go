package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"text/tabwriter"

	"github.com/gossp/gossp/negoex/plugin"
	"github.com/gossp/gossp/sspi"
)

func runPackages(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "packages", "[-json] [-dir DIR [-overrides FILE]]")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	dir := fs.String("dir", "", "packages directory: also start and report its plugins")
	overrides := fs.String("overrides", "", "operator overrides file for the packages directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	d, err := newDefaults(ctx, slog.New(slog.DiscardHandler), options{dir: *dir, overrides: *overrides})
	if err != nil {
		return err
	}
	defer d.close()
	infos := d.registry.EnumerateSecurityPackages()
	var plugins []plugin.PackageStatus
	if d.host != nil {
		plugins = d.host.Status()
	}
	if *asJSON {
		return writePackagesJSON(e, infos, plugins)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMECHANISM\tMAX TOKEN\tORIGIN\tCAPABILITIES")
	for _, p := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", p.Name, mechanism(p), p.MaxToken, p.Origin, p.Capabilities)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if d.host == nil {
		return nil
	}
	fmt.Fprintf(e.stdout, "\nPlugins in %s:\n", *dir)
	tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tAUTH SCHEME\tVERSION\tPRIORITY\tSTATE\tREASON")
	for _, p := range plugins {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", orDash(p.Name), orDash(p.AuthScheme), orDash(p.Version), p.Priority, p.State, orDash(p.Reason))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
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

type pluginJSON struct {
	Name       string `json:"name"`
	AuthScheme string `json:"auth_scheme"`
	Version    string `json:"version,omitempty"`
	Dir        string `json:"dir"`
	Priority   int    `json:"priority"`
	State      string `json:"state"`
	Reason     string `json:"reason,omitempty"`
	Restarts   int    `json:"restarts"`
}

func writePackagesJSON(e *env, infos []sspi.PackageInfo, plugins []plugin.PackageStatus) error {
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
	if plugins == nil {
		return enc.Encode(out)
	}
	ps := make([]pluginJSON, 0, len(plugins))
	for _, p := range plugins {
		ps = append(ps, pluginJSON{p.Name, p.AuthScheme, p.Version, p.Dir, p.Priority, string(p.State), p.Reason, p.Restarts})
	}
	return enc.Encode(struct {
		Packages []packageJSON `json:"packages"`
		Plugins  []pluginJSON  `json:"plugins"`
	}{out, ps})
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
