// Package cli implements the gantry command: start, quickstart, config and
// version. It parses flags and settings, wires the packages that do the
// work, and turns their errors into messages and exit codes.
package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gantry-gw/gantry/internal/version"
)

// exitError carries an exit code for an error whose details were already
// printed (every error of an invalid declarative file, say).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// Main runs the command line args and returns the process's exit code.
func Main(args []string) int {
	return run(args, os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(stderr, "Error:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "Error:", err)
	return 1
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "gantry",
		Short: "Gantry is a hybrid-mode API gateway: a control plane that owns configuration and data planes that proxy traffic.",
		// Errors are printed once, by run, without the usage text.
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newStartCmd(),
		newQuickstartCmd(),
		newConfigCmd(),
		newCertsCmd(),
		newHybridCmd(),
		&cobra.Command{
			Use:   "version",
			Short: "Print Gantry's version and the Kong version it is compatible with",
			Args:  cobra.NoArgs,
			Run: func(cmd *cobra.Command, _ []string) {
				fmt.Fprintf(cmd.OutOrStdout(), "gantry %s (Kong %s compatible)\n", version.Gantry, version.Kong)
			},
		},
	)
	return root
}

// Kong's log levels above slog's four.
const (
	levelNotice = slog.Level(2)
	levelCrit   = slog.Level(12)
)

// newLogger returns a text logger at a kong.conf log_level.
func newLogger(w io.Writer, level string) *slog.Logger {
	lv := map[string]slog.Level{
		"debug": slog.LevelDebug, "info": slog.LevelInfo, "notice": levelNotice,
		"warn": slog.LevelWarn, "error": slog.LevelError,
		"crit": levelCrit, "alert": levelCrit + 2, "emerg": levelCrit + 4,
	}[strings.ToLower(level)]
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: lv,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.LevelKey {
				switch l := a.Value.Any().(slog.Level); {
				case l == levelNotice:
					a.Value = slog.StringValue("NOTICE")
				case l >= levelCrit:
					a.Value = slog.StringValue("CRIT")
				}
			}
			return a
		},
	}))
}
