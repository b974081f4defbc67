package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill a variant or client process when the
// harness dies, so that a killed run or a timed-out test leaves no
// server behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
