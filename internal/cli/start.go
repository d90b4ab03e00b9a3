package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantry-gw/gantry/internal/conf"
)

// shutdownGrace bounds how long requests in flight may take to finish when
// the node stops.
const shutdownGrace = 10 * time.Second

func newStartCmd() *cobra.Command {
	var confPath, prefix string
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Run the node the configuration file and environment describe",
		Long: `Run a Gantry node in the foreground. Settings come from the file given
with -c (kong.conf syntax), then from GANTRY_<KEY> and KONG_<KEY>
environment variables. The node stops on SIGINT or SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := conf.Load(confPath, os.Environ())
			if err != nil {
				return err
			}
			if prefix != "" {
				cfg.Prefix = prefix
			}
			return runNode(cmd, cfg, nil)
		},
	}
	cmd.Flags().StringVarP(&confPath, "conf", "c", "", "configuration file (kong.conf syntax)")
	cmd.Flags().StringVarP(&prefix, "prefix", "p", "", "override the prefix directory")
	return cmd
}

// runNode starts a node for cfg, calls ready (if any) once it serves, and
// runs until a signal arrives.
func runNode(cmd *cobra.Command, cfg *conf.Config, ready func(*node) error) error {
	log := newLogger(cmd.ErrOrStderr(), cfg.LogLevel)
	for _, key := range cfg.Ignored {
		log.Log(context.Background(), levelNotice, "setting accepted for Kong compatibility has no effect in Gantry", "key", key)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := startNode(cfg, log)
	if err != nil {
		return err
	}
	if ready != nil {
		if err := ready(n); err != nil {
			n.close(context.Background())
			return err
		}
	}
	<-ctx.Done()
	log.Info("gantry stopping")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	return n.close(shutdownCtx)
}
