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

func newQuickstartCmd() *cobra.Command {
	var prefix, adminListen string
	cmd := &cobra.Command{
		Use:   "quickstart",
		Short: "Run Gantry on this machine with its embedded SQLite store and a sample configuration",
		Long: `Run a Gantry node with every default: the embedded SQLite store in a
prefix under the system's temporary directory, the Admin API on
127.0.0.1:8001, and a sample service, route, consumer and plugin loaded
when the store is empty. It stops on Ctrl-C; the store stays in the prefix
for the next run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Flags become settings, so conf validates them like any other.
			overrides := map[string]string{"prefix": prefix, "role": conf.RoleTraditional, "database": conf.DatabaseSQLite}
			if adminListen != "" {
				overrides["admin_listen"] = adminListen
			}
			cfg, err := conf.Load("", withSettings(os.Environ(), overrides))
			if err != nil {
				return err
			}
			return runNode(cmd, cfg, func(n *node) error {
				if err := seedQuickstart(cmd.Context(), n.store); err != nil {
					return err
				}
				printQuickstart(cmd, cfg, n)
				return nil
			})
		},
	}
	cmd.Flags().StringVarP(&prefix, "prefix", "p", filepath.Join(os.TempDir(), "gantry-quickstart"), "prefix directory for the store and node id")
	cmd.Flags().StringVar(&adminListen, "admin-listen", "", "Admin API address (default 127.0.0.1:8001)")
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

func printQuickstart(cmd *cobra.Command, cfg *conf.Config, n *node) {
	admin := n.adminAddrs[0]
	var b strings.Builder
	fmt.Fprintf(&b, "\nGantry %s is running: a traditional node with its SQLite store in %s\n", version.Gantry, cfg.Prefix)
	fmt.Fprintf(&b, "Admin API: %s\n\nTry:\n", admin)
	fmt.Fprintf(&b, "  curl -s %s/services\n", admin)
	fmt.Fprintf(&b, "  curl -s -X POST %s/services --data name=my-service --data url=http://127.0.0.1:9000\n", admin)
	fmt.Fprintf(&b, "  curl -s -X POST %s/services/my-service/routes --data name=my-route --data 'paths[]=/my'\n", admin)
	fmt.Fprintf(&b, "  curl -s %s/config\n\nPress Ctrl-C to stop.\n", admin)
	fmt.Fprint(cmd.OutOrStdout(), b.String())
}
