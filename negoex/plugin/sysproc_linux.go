package plugin

import (
	"os/exec"
	"syscall"
)

// dieWithHost makes the kernel kill the plugin if the host dies without Close: a
// crashed application must not leave its plugins running. (The signal follows the OS
// thread that forked; Go keeps its threads, so in practice that is the process.)
func dieWithHost(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
