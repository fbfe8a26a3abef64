//go:build linux

package main

import (
	"os"
	"syscall"
)

// dieWithParent asks the kernel to SIGKILL this process when the process that started it exits,
// so a test runner that is killed (or crashes) never leaves a control plane behind. Opt-in through
// the environment because a human running the binary from a shell expects ordinary behaviour.
func dieWithParent() {
	if os.Getenv("CONTROLPLANE_DIE_WITH_PARENT") != "1" {
		return
	}
	ppid := os.Getppid()
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0)
	if os.Getppid() != ppid { // the parent already died before prctl took effect
		os.Exit(1)
	}
}
