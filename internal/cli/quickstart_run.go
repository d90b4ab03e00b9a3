package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/gantry-gw/gantry/internal/atomicfile"
	"github.com/gantry-gw/gantry/internal/conf"
	"github.com/gantry-gw/gantry/internal/pki"
	"github.com/gantry-gw/gantry/internal/version"
)

// quickstartOptions are the flags of `gantry quickstart`.
type quickstartOptions struct {
	prefix, adminListen, clusterListen, proxyListen, statusListen string
	demo                                                          bool
}

// quickstartReadyTimeout bounds how long each node may take to serve.
const quickstartReadyTimeout = 60 * time.Second

// runQuickstart makes the certificates and conf files, seeds the control
// plane's store, starts the two nodes as child processes of this binary,
// waits until the data plane serves the sample configuration, and runs
// until a signal arrives or a node stops.
func runQuickstart(cmd *cobra.Command, o quickstartOptions) error {
	out := cmd.OutOrStdout()
	if err := os.MkdirAll(o.prefix, 0o755); err != nil {
		return fmt.Errorf("create prefix %s: %w", o.prefix, err)
	}
	certPath, keyPath := filepath.Join(o.prefix, "cluster.crt"), filepath.Join(o.prefix, "cluster.key")
	if _, err := pki.LoadKeyPair(certPath, keyPath); err != nil {
		kp, err := pki.GeneratePinned(1095)
		if err != nil {
			return err
		}
		if err := pki.WriteKeyPair(kp, certPath, keyPath, true); err != nil {
			return err
		}
	}
	clusterAddr := strings.TrimSpace(strings.Split(o.clusterListen, ",")[0])
	cpConf := map[string]string{
		"role": conf.RoleControlPlane, "database": conf.DatabaseSQLite, "prefix": filepath.Join(o.prefix, "cp"),
		"admin_listen": o.adminListen, "cluster_listen": o.clusterListen, "status_listen": "off",
		"proxy_listen": "off", "cluster_cert": certPath, "cluster_cert_key": keyPath,
	}
	dpConf := map[string]string{
		"role": conf.RoleDataPlane, "database": conf.DatabaseOff, "prefix": filepath.Join(o.prefix, "dp"),
		"proxy_listen": o.proxyListen, "status_listen": o.statusListen, "admin_listen": "off",
		"cluster_control_plane": clusterAddr, "cluster_cert": certPath, "cluster_cert_key": keyPath,
	}
	var confPaths [2]string
	for i, c := range []struct {
		name     string
		settings map[string]string
	}{{"cp.conf", cpConf}, {"dp.conf", dpConf}} {
		confPaths[i] = filepath.Join(o.prefix, c.name)
		if err := atomicfile.Write(confPaths[i], renderConf(c.settings), 0o644); err != nil {
			return err
		}
		// Refuse bad flags here, with conf's messages, rather than in a
		// child's log.
		if _, err := conf.Load(confPaths[i], nil); err != nil {
			return fmt.Errorf("%s: %w", confPaths[i], err)
		}
	}
	if err := os.MkdirAll(cpConf["prefix"], 0o755); err != nil {
		return fmt.Errorf("create prefix %s: %w", cpConf["prefix"], err)
	}
	st, err := openStore(cpConf["prefix"])
	if err != nil {
		return err
	}
	err = seedQuickstart(cmd.Context(), st)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	var upstream *demoUpstream
	if o.demo {
		if upstream, err = startDemoUpstream(demoUpstreamAddr); err != nil {
			return fmt.Errorf("demo upstream on %s (use --demo=false to skip it): %w", demoUpstreamAddr, err)
		}
		defer upstream.close()
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary to start the nodes: %w", err)
	}
	cpProc, err := startChild(exe, "control plane", confPaths[0], cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer cpProc.stop()
	adminURL := "http://" + strings.TrimSpace(strings.Fields(strings.Split(o.adminListen, ",")[0])[0])
	if err := waitReady(ctx, cpProc, adminURL+"/status"); err != nil {
		return err
	}
	dpProc, err := startChild(exe, "data plane", confPaths[1], cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer dpProc.stop()
	statusURL := "http://" + strings.TrimSpace(strings.Fields(strings.Split(o.statusListen, ",")[0])[0])
	if err := waitReady(ctx, dpProc, statusURL+"/status/ready"); err != nil {
		return err
	}
	printQuickstart(out, o, adminURL, statusURL, cpProc, dpProc, upstream)

	select {
	case <-ctx.Done():
		return nil
	case <-cpProc.done:
		return fmt.Errorf("the control plane stopped: %v", cpProc.err)
	case <-dpProc.done:
		return fmt.Errorf("the data plane stopped: %v", dpProc.err)
	}
}

// renderConf writes settings as a kong.conf file, keys sorted.
func renderConf(settings map[string]string) []byte {
	var b strings.Builder
	b.WriteString("# Written by gantry quickstart; `gantry start -c` this file to run the node alone.\n")
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		fmt.Fprintf(&b, "%s = %s\n", k, settings[k])
	}
	return []byte(b.String())
}

// child is a node started by quickstart.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startChild runs `exe start -c confPath`, its log lines prefixed with
// its name on w.
func startChild(exe, name, confPath string, w io.Writer) (*child, error) {
	c := &child{name: name, done: make(chan struct{})}
	c.cmd = exec.Command(exe, "start", "-c", confPath)
	c.cmd.Env = withoutSettings(os.Environ())
	c.cmd.SysProcAttr = childProcAttr()
	pr, pw := io.Pipe()
	c.cmd.Stdout, c.cmd.Stderr = pw, pw
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the %s: %w", name, err)
	}
	var copying sync.WaitGroup
	copying.Go(func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			fmt.Fprintf(w, "[%s] %s\n", name, sc.Text())
		}
		io.Copy(io.Discard, pr)
	})
	go func() {
		c.err = c.cmd.Wait()
		pw.Close()
		copying.Wait()
		close(c.done)
	}()
	return c, nil
}

// stop asks the node to stop (SIGTERM), and kills it if it has not after
// the shutdown grace period.
func (c *child) stop() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(shutdownGrace + 5*time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}

// waitReady polls url until it answers 200, the child stops, ctx ends or
// the deadline passes.
func waitReady(ctx context.Context, c *child, url string) error {
	ctx, cancel := context.WithTimeout(ctx, quickstartReadyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-c.done:
			return fmt.Errorf("the %s stopped before it was ready: %v (its log is above)", c.name, c.err)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the %s was not ready after %s (%s)", c.name, quickstartReadyTimeout, url)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// withoutSettings drops GANTRY_ and KONG_ variables from environ: the
// nodes quickstart starts take their settings from the conf files it
// wrote, and a stray KONG_ROLE would turn a data plane into something else.
// GANTRY_LOG_LEVEL / KONG_LOG_LEVEL pass, to make the nodes chattier.
func withoutSettings(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		key, _, _ := strings.Cut(kv, "=")
		if (strings.HasPrefix(key, "GANTRY_") || strings.HasPrefix(key, "KONG_")) && !strings.HasSuffix(key, "_LOG_LEVEL") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func printQuickstart(w io.Writer, o quickstartOptions, adminURL, statusURL string, cp, dp *child, upstream *demoUpstream) {
	proxyURL := "http://" + strings.Fields(strings.TrimSpace(strings.Split(o.proxyListen, ",")[0]))[0]
	var b strings.Builder
	fmt.Fprintf(&b, "\nGantry %s is running in hybrid mode (prefix %s):\n", version.Gantry, o.prefix)
	fmt.Fprintf(&b, "  Control plane (pid %d): Admin API %s, cluster_listen %s, store in %s\n",
		cp.cmd.Process.Pid, adminURL, o.clusterListen, filepath.Join(o.prefix, "cp"))
	fmt.Fprintf(&b, "  Data plane (pid %d):    proxy %s, status %s, cache in %s\n",
		dp.cmd.Process.Pid, o.proxyListen, statusURL, filepath.Join(o.prefix, "dp"))
	fmt.Fprintf(&b, "  Pinned certificate pair: %s, %s; conf files: %s, %s\n",
		filepath.Join(o.prefix, "cluster.crt"), filepath.Join(o.prefix, "cluster.key"),
		filepath.Join(o.prefix, "cp.conf"), filepath.Join(o.prefix, "dp.conf"))
	if upstream != nil {
		fmt.Fprintf(&b, "  Demo upstream (echoes requests): http://%s\n", upstream.addr)
	}
	fmt.Fprintf(&b, "\nTry:\n")
	fmt.Fprintf(&b, "  curl -s %s/example/hello                 # through the data plane to the demo upstream\n", proxyURL)
	fmt.Fprintf(&b, "  curl -s %s/clustering/data-planes    # the node list, with each node's sync status\n", adminURL)
	fmt.Fprintf(&b, "  curl -s -X POST %s/services --data name=my-service --data url=http://%s/mine\n", adminURL, demoUpstreamAddr)
	fmt.Fprintf(&b, "  curl -s -X POST %s/services/my-service/routes --data 'paths[]=/my'\n", adminURL)
	fmt.Fprintf(&b, "  curl -s %s/my/path                      # pushed to the data plane at once\n", proxyURL)
	fmt.Fprintf(&b, "  curl -s %s/status                     # the data plane's config hash\n\nPress Ctrl-C to stop.\n", statusURL)
	fmt.Fprint(w, b.String())
}
