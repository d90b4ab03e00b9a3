package e2e

import (
	"bufio"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestQuickstart runs the README's main command as a user does (on free
// ports, without the demo upstream's fixed one): a control plane and a
// data plane come up as processes, the sample configuration is served,
// an Admin API write reaches the data plane, and Ctrl-C stops all of it.
func TestQuickstart(t *testing.T) {
	admin, cluster, proxy, status := freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t), freeLoopbackAddr(t)
	cmd := exec.Command(gantryBin, "quickstart", "-p", filepath.Join(t.TempDir(), "qs"), "--demo=false",
		"--admin-listen", admin, "--cluster-listen", cluster, "--proxy-listen", proxy, "--status-listen", status)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log strings.Builder
	ready := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.Contains(sc.Text(), "Press Ctrl-C to stop.") {
				close(ready)
			}
		}
		cmd.Wait()
	}()
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return log.String()
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	select {
	case <-ready:
	case <-done:
		t.Fatalf("quickstart exited:\n%s", output())
	case <-time.After(60 * time.Second):
		t.Fatalf("quickstart not ready after 60 s:\n%s", output())
	}
	var pids []int
	for _, m := range regexp.MustCompile(`\(pid (\d+)\)`).FindAllStringSubmatch(output(), -1) {
		pid, _ := strconv.Atoi(m[1])
		pids = append(pids, pid)
	}
	if len(pids) != 2 {
		t.Fatalf("want the pids of a control plane and a data plane in:\n%s", output())
	}

	// The data plane is listed as connected, and a write reaches it.
	cp := &controlPlane{admin: "http://" + admin}
	eventually(t, "the data plane listed as connected", func() bool {
		for _, n := range dataPlanes(t, cp.admin) {
			if n["status"] == "connected" {
				return true
			}
		}
		return false
	})
	up := echoUpstream(t, "mine")
	adminWrite(t, "POST", cp.admin+"/services", url.Values{"name": {"my-service"}, "url": {up.URL}}, 201)
	adminWrite(t, "POST", cp.admin+"/services/my-service/routes", url.Values{"paths[]": {"/my"}}, 201)
	dp := &hybridDataPlane{proxy: "http://" + proxy}
	waitProxy(t, dp, "/my/path", 200)
	if _, body := proxyStatus(t, dp, "/my/path"); !strings.Contains(body, "upstream=mine") {
		t.Fatalf("proxied to %s", body)
	}

	// Ctrl-C stops quickstart and both nodes.
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("quickstart did not stop after SIGINT:\n%s", output())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("quickstart exit code %d:\n%s", code, output())
	}
	for _, pid := range pids {
		eventually(t, "node "+strconv.Itoa(pid)+" to exit", func() bool {
			return syscall.Kill(pid, 0) != nil
		})
	}
}
