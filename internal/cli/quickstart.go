package cli

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/store"
)

//go:embed quickstart.yaml
var quickstartConfig []byte

// demoUpstreamAddr is where quickstart's echo upstream listens, the
// address the sample service points at.
const demoUpstreamAddr = "127.0.0.1:8009"

func newQuickstartCmd() *cobra.Command {
	var o quickstartOptions
	cmd := &cobra.Command{
		Use:   "quickstart",
		Short: "Run a control plane and a data plane on this machine, with a sample configuration and a demo upstream",
		Long: `Run Gantry in hybrid mode on this machine: a pinned certificate pair is
made in the prefix (a directory under the system's temporary directory),
then a control plane (SQLite store, Admin API on 127.0.0.1:8001, cluster
listener on 127.0.0.1:8005) and a data plane (proxy on 127.0.0.1:8000 and
8443 with TLS, status API on 127.0.0.1:8100) start as two processes of
this binary, with the conf files written to the prefix. An empty store
gets a sample service, route and consumer, served by a demo echo upstream
on 127.0.0.1:8009. Every Admin API change reaches the data plane at once.
Ctrl-C stops everything; the store and the data plane's cache stay in the
prefix for the next run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runQuickstart(cmd, o) },
	}
	cmd.Flags().StringVarP(&o.prefix, "prefix", "p", filepath.Join(os.TempDir(), "gantry-quickstart"), "prefix directory: certificates, conf files, and the two nodes' prefixes (cp/, dp/)")
	cmd.Flags().StringVar(&o.adminListen, "admin-listen", "127.0.0.1:8001", "control plane's Admin API address")
	cmd.Flags().StringVar(&o.clusterListen, "cluster-listen", "127.0.0.1:8005", "control plane's cluster_listen address")
	cmd.Flags().StringVar(&o.proxyListen, "proxy-listen", "127.0.0.1:8000, 127.0.0.1:8443 ssl", "data plane's proxy addresses")
	cmd.Flags().StringVar(&o.statusListen, "status-listen", "127.0.0.1:8100", "data plane's status API address")
	cmd.Flags().BoolVar(&o.demo, "demo", true, "run the demo echo upstream on "+demoUpstreamAddr)
	return cmd
}

// seedQuickstart loads the sample configuration into an empty store.
func seedQuickstart(ctx context.Context, st *store.Store) error {
	v, err := st.Version(ctx)
	if err != nil || v > 0 {
		return err
	}
	cfg, err := declarative.Parse(quickstartConfig)
	if err != nil {
		return fmt.Errorf("quickstart sample config: %w", err)
	}
	_, err = st.Update(ctx, func(tx *store.Tx) error { return tx.Replace(cfg) })
	return err
}
