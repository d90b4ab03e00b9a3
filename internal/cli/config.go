package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gantry-gw/gantry/internal/atomicfile"
	"github.com/gantry-gw/gantry/internal/conf"
	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/store"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Validate, hash, export and import declarative configuration (decK / kong.yml 3.0)",
		// Without Args and RunE, cobra answers an unknown subcommand
		// ("gantry config improt") with the help text and exit code 0, and
		// a script would take the typo for success.
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newConfigValidateCmd(), newConfigHashCmd(), newConfigExportCmd(), newConfigImportCmd(), newConfigExportCacheCmd(), newConfigImportCacheCmd())
	return cmd
}

// parseFile reads and parses a declarative file; on invalid content it
// prints every error, one per line, and returns an exit error.
func parseFile(cmd *cobra.Command, path string) (*declarative.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := declarative.Parse(data)
	var errs declarative.Errors
	if errors.As(err, &errs) {
		w := cmd.ErrOrStderr()
		fmt.Fprintf(w, "%s: %d invalid entities\n%s\n", path, len(errs), errs.Error())
		return nil, &exitError{code: 1, err: fmt.Errorf("%s is not a valid declarative config", path)}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

func newConfigValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a declarative file and list every error by entity and field",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseFile(cmd, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is valid: %d entities, config hash %s\n", args[0], cfg.Count(), cfg.Hash().Config)
			return nil
		},
	}
}

func newConfigHashCmd() *cobra.Command {
	var groups bool
	cmd := &cobra.Command{
		Use:   "hash FILE",
		Short: "Print the config hash of a declarative file (the hash data planes report)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseFile(cmd, args[0])
			if err != nil {
				return err
			}
			h := cfg.Hash()
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, h.Config)
			if groups {
				for _, g := range []string{"routes", "services", "plugins", "upstreams", "targets", "rest"} {
					fmt.Fprintf(out, "%-10s %s\n", g, h.Groups[g])
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&groups, "groups", false, "also print the hash of each entity group")
	return cmd
}

// storeFlags locate a node's store: its conf file, or a prefix directly.
type storeFlags struct {
	conf, prefix string
}

func (f *storeFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.conf, "conf", "c", "", "configuration file naming the prefix")
	cmd.Flags().StringVarP(&f.prefix, "prefix", "p", "", "prefix directory holding the store")
}

// open opens the existing store of the node the flags name.
func (f *storeFlags) open() (*store.Store, error) {
	cfg, err := conf.Load(f.conf, os.Environ())
	if err != nil {
		return nil, err
	}
	if f.prefix != "" {
		cfg.Prefix = f.prefix
	}
	if cfg.Database != conf.DatabaseSQLite {
		return nil, fmt.Errorf("database = %s: only the sqlite store is available in this build", cfg.Database)
	}
	path := filepath.Join(cfg.Prefix, storeFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no store at %s (is the prefix right?): %w", path, err)
	}
	return openStore(cfg.Prefix)
}

func newConfigExportCmd() *cobra.Command {
	var sf storeFlags
	var format, output string
	var flat bool
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the store's configuration as a declarative file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := declarative.YAML
			switch format {
			case "yaml":
			case "json":
				f = declarative.JSON
			default:
				return fmt.Errorf("--format %q: expected yaml or json", format)
			}
			layout := declarative.Nested
			if flat {
				layout = declarative.Flat
			}
			st, err := sf.open()
			if err != nil {
				return err
			}
			defer st.Close()
			cfg, _, err := st.Snapshot(context.Background())
			if err != nil {
				return err
			}
			data, err := cfg.Encode(f, layout)
			if err != nil {
				return err
			}
			if output == "" || output == "-" {
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			return atomicfile.Write(output, data, 0o600)
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&format, "format", "yaml", "yaml or json")
	cmd.Flags().BoolVar(&flat, "flat", false, "write every entity type at the top level instead of nesting children under parents")
	cmd.Flags().StringVarP(&output, "output", "o", "", "file to write (default standard output)")
	return cmd
}

func newConfigImportCmd() *cobra.Command {
	var sf storeFlags
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Replace the store's configuration with a declarative file, in one transaction",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := parseFile(cmd, args[0])
			if err != nil {
				return err
			}
			st, err := sf.open()
			if err != nil {
				return err
			}
			defer st.Close()
			v, err := st.Update(context.Background(), func(tx *store.Tx) error { return tx.Replace(cfg) })
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "imported %d entities: config version %d, config hash %s\n", cfg.Count(), v, cfg.Hash().Config)
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}
