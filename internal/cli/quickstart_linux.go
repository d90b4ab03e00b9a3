package cli

import "syscall"

// childProcAttr makes a node quickstart started receive SIGTERM when
// quickstart itself dies, even by SIGKILL, so none is left behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
