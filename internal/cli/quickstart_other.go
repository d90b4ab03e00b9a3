//go:build !linux

package cli

import "syscall"

// childProcAttr has nothing to add outside Linux, which alone has a
// parent-death signal.
func childProcAttr() *syscall.SysProcAttr { return nil }
