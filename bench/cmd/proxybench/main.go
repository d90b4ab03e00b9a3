// Command proxybench runs the data-plane proxy benchmark: direct to an
// upstream, nginx as a reverse proxy and Gantry, in the same rounds on
// one machine (see package proxybench). Run it through bench/proxy,
// which builds it and the open-loop generator first.
package main

import (
	"os"

	"github.com/gantry-gw/gantry/bench/internal/proxybench"
)

func main() {
	os.Exit(proxybench.Main(os.Args[1:], os.Stdout, os.Stderr))
}
