package cli

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantry-gw/gantry/internal/conf"
	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/dpcache"
)

// cacheFlags locate a data plane's cache: its conf file, or a prefix
// directly, as storeFlags locate a store.
type cacheFlags struct {
	conf, prefix string
}

func (f *cacheFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.conf, "conf", "c", "", "configuration file naming the prefix")
	cmd.Flags().StringVarP(&f.prefix, "prefix", "p", "", "prefix directory of the data plane")
}

// nodePrefix returns the prefix of the node the flags name: --prefix
// when given, else the prefix setting of the conf file and environment
// (read and checked as the node reads them).
func (f *cacheFlags) nodePrefix() (string, error) {
	if f.prefix != "" {
		return f.prefix, nil
	}
	cfg, err := conf.Load(f.conf, os.Environ())
	if err != nil {
		return "", err
	}
	return cfg.Prefix, nil
}

// describeEntry writes what a cache holds: version, hash, entities and,
// when known, when the control plane took it.
func describeEntry(w io.Writer, e *dpcache.Entry, cfg *declarative.Config) {
	fmt.Fprintf(w, "  config version %d, config hash %s, %d entities", e.ConfigVersion, e.ConfigHash, cfg.Count())
	if e.Timestamp > 0 && e.Timestamp < 1e12 {
		sec, frac := math.Modf(e.Timestamp)
		at := time.Unix(int64(sec), int64(frac*1e9)).UTC()
		fmt.Fprintf(w, ", taken by the control plane at %s", at.Format(time.RFC3339))
	}
	fmt.Fprintln(w)
}

func newConfigExportCacheCmd() *cobra.Command {
	var cf cacheFlags
	var output string
	cmd := &cobra.Command{
		Use:   "export-cache",
		Short: "Copy a data plane's cached configuration to a file another data plane can import",
		Long: `Copy a data plane's cached configuration (<prefix>/dp_cache/config.json.gz),
the last configuration it applied, to a file. The cache is checked first; a
corrupt cache is not exported. Import the file on a data plane that cannot
reach its control plane with "gantry config import-cache".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			prefix, err := cf.nodePrefix()
			if err != nil {
				return err
			}
			c := dpcache.New(prefix)
			e, cfg, err := c.Load()
			if errors.Is(err, dpcache.ErrNoCache) {
				return fmt.Errorf("%w at %s: the node has not applied a configuration from a control plane (is the prefix right?)", dpcache.ErrNoCache, c.Path())
			}
			if err != nil {
				return err
			}
			if err := dpcache.WriteFile(output, e); err != nil {
				return fmt.Errorf("export cache: %w", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "exported %s to %s:\n", c.Path(), output)
			describeEntry(out, e, cfg)
			return nil
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", dpcache.FileName, "file to write")
	return cmd
}

func newConfigImportCacheCmd() *cobra.Command {
	var cf cacheFlags
	cmd := &cobra.Command{
		Use:   "import-cache FILE",
		Short: "Install a configuration cache exported from another data plane",
		Long: `Install a file written by "gantry config export-cache" as this data plane's
cached configuration, for a node that cannot reach its control plane. The
file is checked as the node checks its cache at start-up (checksums, format,
configuration, config hash); a file that fails is refused and the node's
cache is left as it was.

A running node reads its cache only at start-up: it serves the imported
configuration from its next start. Once the node reaches its control plane,
the control plane's configuration replaces it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix, err := cf.nodePrefix()
			if err != nil {
				return err
			}
			// The cache directory is made when missing, the prefix is not:
			// a mistyped prefix must not become a new directory.
			if info, err := os.Stat(prefix); err != nil || !info.IsDir() {
				return fmt.Errorf("prefix %s is not a directory (is the prefix right?)", prefix)
			}
			c := dpcache.New(prefix)
			e, cfg, err := dpcache.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("refusing to import %s: %w (the cache at %s is unchanged)", args[0], err, c.Path())
			}
			if err := c.Save(e); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "installed %s as %s:\n", args[0], c.Path())
			describeEntry(out, e, cfg)
			fmt.Fprintln(out, "A running data plane serves it from its next start; once connected, the control plane's configuration replaces it.")
			return nil
		},
	}
	cf.register(cmd)
	return cmd
}
