//go:build !linux

package plugin

import "os/exec"

// dieWithHost has no portable equivalent outside Linux; Host.Close kills the plugins.
func dieWithHost(*exec.Cmd) {}
