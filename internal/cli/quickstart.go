package cli

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gantry-gw/gantry/internal/conf"
	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/store"
	"github.com/gantry-gw/gantry/internal/version"
)

//go:embed quickstart.yaml
var quickstartConfig []byte

// demoUpstreamAddr is where quickstart's echo upstream listens, the
// address the sample service points at.
const demoUpstreamAddr = "127.0.0.1:8009"

func newQuickstartCmd() *cobra.Command {
	var prefix, adminListen, proxyListen, statusListen string
	var demo bool
	cmd := &cobra.Command{
		Use:   "quickstart",
		Short: "Run Gantry on this machine with its embedded SQLite store, a sample configuration and a demo upstream",
		Long: `Run a traditional Gantry node with every default: the embedded SQLite
store in a prefix under the system's temporary directory, the Admin API on
127.0.0.1:8001, the proxy on 127.0.0.1:8000 (and 8443 with TLS), the status
API on 127.0.0.1:8100, and a demo echo upstream on 127.0.0.1:8009. An empty
store gets a sample service, route and consumer; every Admin API change
reaches the proxy at once. It stops on Ctrl-C; the store stays in the
prefix for the next run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Flags become settings, so conf validates them like any other.
			overrides := map[string]string{
				"prefix": prefix, "role": conf.RoleTraditional, "database": conf.DatabaseSQLite,
				"admin_listen": adminListen, "proxy_listen": proxyListen, "status_listen": statusListen,
			}
			cfg, err := conf.Load("", withSettings(os.Environ(), overrides))
			if err != nil {
				return err
			}
			var upstream *demoUpstream
			if demo {
				if upstream, err = startDemoUpstream(demoUpstreamAddr); err != nil {
					return fmt.Errorf("demo upstream on %s (use --demo=false to skip it): %w", demoUpstreamAddr, err)
				}
				defer upstream.close()
			}
			return runNode(cmd, cfg, func(n *node) error {
				if err := seedQuickstart(cmd.Context(), n.store); err != nil {
					return err
				}
				printQuickstart(cmd, cfg, n, upstream)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&prefix, "prefix", "p", filepath.Join(os.TempDir(), "gantry-quickstart"), "prefix directory for the store and node id")
	cmd.Flags().StringVar(&adminListen, "admin-listen", "127.0.0.1:8001", "Admin API address")
	cmd.Flags().StringVar(&proxyListen, "proxy-listen", "127.0.0.1:8000, 127.0.0.1:8443 ssl", "proxy addresses")
	cmd.Flags().StringVar(&statusListen, "status-listen", "127.0.0.1:8100", "status API address")
	cmd.Flags().BoolVar(&demo, "demo", true, "run the demo echo upstream on "+demoUpstreamAddr)
	return cmd
}

// withSettings returns environ with GANTRY_ variables for settings, taking
// precedence over any the environment already had.
func withSettings(environ []string, settings map[string]string) []string {
	out := make([]string, 0, len(environ)+len(settings))
	for _, kv := range environ {
		key, _, _ := strings.Cut(kv, "=")
		name := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(key, "GANTRY_"), "KONG_"))
		if _, overridden := settings[name]; overridden && (strings.HasPrefix(key, "GANTRY_") || strings.HasPrefix(key, "KONG_")) {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range settings {
		out = append(out, "GANTRY_"+strings.ToUpper(k)+"="+v)
	}
	return out
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

func printQuickstart(cmd *cobra.Command, cfg *conf.Config, n *node, upstream *demoUpstream) {
	admin, proxy := n.adminAddrs[0], n.proxyAddrs[0]
	var b strings.Builder
	fmt.Fprintf(&b, "\nGantry %s is running: a traditional node with its SQLite store in %s\n", version.Gantry, cfg.Prefix)
	fmt.Fprintf(&b, "  Admin API:  %s\n  Proxy:      %s\n  Status:     %s\n", admin, strings.Join(n.proxyAddrs, ", "), strings.Join(n.statusAddrs, ", "))
	if upstream != nil {
		fmt.Fprintf(&b, "  Demo upstream (echoes requests): http://%s\n", upstream.addr)
	}
	fmt.Fprintf(&b, "\nTry:\n")
	fmt.Fprintf(&b, "  curl -s %s/example/hello                 # through the proxy to the demo upstream\n", proxy)
	fmt.Fprintf(&b, "  curl -s %s/services\n", admin)
	fmt.Fprintf(&b, "  curl -s -X POST %s/services --data name=my-service --data url=http://%s/mine\n", admin, demoUpstreamAddr)
	fmt.Fprintf(&b, "  curl -s -X POST %s/services/my-service/routes --data 'paths[]=/my'\n", admin)
	fmt.Fprintf(&b, "  curl -s %s/my/path\n", proxy)
	fmt.Fprintf(&b, "  curl -s %s/config\n\nPress Ctrl-C to stop.\n", admin)
	fmt.Fprint(cmd.OutOrStdout(), b.String())
}
