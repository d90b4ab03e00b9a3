// Package leakcheck fails a test binary whose tests leave goroutines
// running: servers, connections and clients that a test started and did
// not stop. Packages that start such goroutines call Main from TestMain,
// naming what to look for in the goroutines' stacks.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// timeout is how long Main waits for goroutines to end: they end
// asynchronously after the Close that stops them returns.
const timeout = 10 * time.Second

// Main runs the tests and, when they pass, checks that no goroutine whose
// stack mentions one of suspects (package paths or function names, such
// as "net/http.(*conn).serve") outlives them. Leaked goroutines are
// printed and fail the binary. Main does not return.
func Main(m *testing.M, suspects ...string) {
	code := m.Run()
	if code == 0 {
		if err := check(timeout, suspects); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// check waits up to timeout for the goroutines, other than the caller's,
// whose stacks mention one of suspects to end, and returns an error
// holding the stacks of those still running then.
func check(timeout time.Duration, suspects []string) error {
	deadline := time.Now().Add(timeout)
	for {
		leaked := suspected(suspects)
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d goroutines leaked by the tests:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond) // poll: nothing signals a goroutine's end
	}
}

// suspected returns the stacks of the other goroutines that mention one
// of suspects.
func suspected(suspects []string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	// The caller's own stack comes first: it mentions the test package
	// (through TestMain) and is not a leak.
	stacks := strings.Split(string(buf), "\n\n")[1:]
	var leaked []string
	for _, g := range stacks {
		for _, s := range suspects {
			if strings.Contains(g, s) {
				leaked = append(leaked, g)
				break
			}
		}
	}
	return leaked
}
