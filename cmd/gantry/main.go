// Command gantry runs a Gantry node: a control plane, a data plane or a
// traditional gateway, and the tools around it.
package main

import (
	"os"

	"github.com/gantry-gw/gantry/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
