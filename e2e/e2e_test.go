// Package e2e tests the gantry binary as users run it: built once, started
// as real processes on loopback ports the OS picks, driven over HTTP and
// stopped (or killed) at the end of each test.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	// The tests run a gantry binary they build themselves; importing the
	// code it is built from makes `go test` rerun them whenever that code
	// changes, instead of answering from its cache.
	_ "github.com/gantry-gw/gantry/internal/cli"
	"github.com/gantry-gw/gantry/internal/pki"
)

var gantryBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gantry-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gantryBin = filepath.Join(dir, "gantry")
	build := exec.Command("go", "build", "-o", gantryBin, "github.com/gantry-gw/gantry/cmd/gantry")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gantry:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running gantry node.
type process struct {
	cmd   *exec.Cmd
	admin string // base URL of the Admin API, for nodes that serve one
	// startLine is the log line that announced the node ready.
	startLine string
	mu        sync.Mutex
	log       bytes.Buffer
	done      chan struct{}
}

// Log returns what the process has written to stderr so far.
func (p *process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

var adminAddr = regexp.MustCompile(`msg="gantry started".* admin_listen=(\S+)`)

// startNode starts `gantry start -c conf` for a node with an Admin API and
// waits until it reports the API's address.
func startNode(t *testing.T, confPath string) *process {
	t.Helper()
	p := startProcess(t, confPath, adminAddr)
	p.admin = adminAddr.FindStringSubmatch(p.startLine)[1]
	return p
}

// startProcess starts `gantry start -c conf` and waits until it logs a
// line matching ready, failing the test after a deadline.
func startProcess(t *testing.T, confPath string, ready *regexp.Regexp) *process {
	t.Helper()
	cmd := exec.Command(gantryBin, "start", "-c", confPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			p.mu.Unlock()
			if ready.MatchString(line) {
				select {
				case found <- line:
				default:
				}
			}
		}
		cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	select {
	case p.startLine = <-found:
	case <-p.done:
		t.Fatalf("gantry exited before serving:\n%s", p.Log())
	case <-time.After(30 * time.Second):
		t.Fatalf("gantry did not report ready within 30s:\n%s", p.Log())
	}
	return p
}

func (p *process) kill() {
	if p.cmd.Process != nil {
		p.cmd.Process.Kill()
	}
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit.
func (p *process) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("gantry did not stop within 20s of SIGTERM:\n%s", p.Log())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("gantry exit code %d after SIGTERM:\n%s", code, p.Log())
	}
}

// writeConf writes a conf file for a traditional node in a fresh prefix
// with the Admin API on a port the OS picks.
func writeConf(t *testing.T, prefix string, extra ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gantry.conf")
	lines := append([]string{
		"# written by the e2e tests",
		"role = traditional",
		"database = sqlite",
		"prefix = " + prefix,
		"admin_listen = 127.0.0.1:0",
		"proxy_listen = 127.0.0.1:0",
		"status_listen = 127.0.0.1:0",
		"log_level = info",
	}, extra...)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// gantry runs a gantry command to completion and returns its output and
// exit code.
func gantry(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gantryBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("run gantry %v: %v", args, err)
		}
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

type response struct {
	status int
	body   map[string]any
}

func call(t *testing.T, method, u string, form url.Values) response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var m map[string]any
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s %s: not JSON: %s", method, u, data)
		}
	}
	return response{status: res.StatusCode, body: m}
}

func TestStartServeAndStop(t *testing.T) {
	prefix := t.TempDir()
	p := startNode(t, writeConf(t, prefix))

	root := call(t, "GET", p.admin+"/", nil)
	if root.status != 200 || root.body["version"] == nil || root.body["node_id"] == nil {
		t.Fatalf("GET /: %d %v", root.status, root.body)
	}
	conf := root.body["configuration"].(map[string]any)
	if conf["prefix"] != prefix || conf["role"] != "traditional" {
		t.Fatalf("configuration in GET /: %v", conf)
	}

	// The classic Kong walkthrough: form-encoded bodies, trailing slashes.
	svc := call(t, "POST", p.admin+"/services/", url.Values{"name": {"example-service"}, "url": {"http://httpbin.org"}})
	if svc.status != 201 || svc.body["host"] != "httpbin.org" || svc.body["port"] != float64(80) {
		t.Fatalf("create service: %d %v", svc.status, svc.body)
	}
	route := call(t, "POST", p.admin+"/services/example-service/routes", url.Values{"name": {"r"}, "paths[]": {"/mock"}})
	if route.status != 201 {
		t.Fatalf("create route: %d %v", route.status, route.body)
	}
	bad := call(t, "POST", p.admin+"/services", url.Values{"name": {"bad"}, "host": {"h"}, "port": {"99999"}})
	if bad.status != 400 || bad.body["name"] != "schema violation" ||
		bad.body["fields"].(map[string]any)["port"] != "value should be between 0 and 65535" {
		t.Fatalf("bad service: %d %v", bad.status, bad.body)
	}
	nodeID := root.body["node_id"]
	p.stop(t)

	// A restarted node keeps its id and its configuration.
	p = startNode(t, writeConf(t, prefix))
	root = call(t, "GET", p.admin+"/", nil)
	if root.body["node_id"] != nodeID {
		t.Fatalf("node id changed across restart: %v then %v", nodeID, root.body["node_id"])
	}
	got := call(t, "GET", p.admin+"/routes/r", nil)
	if got.status != 200 {
		t.Fatalf("route after restart: %d", got.status)
	}
	p.stop(t)
}

func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	prefix := t.TempDir()
	conf := writeConf(t, prefix)
	p := startNode(t, conf)

	// Write as fast as the API acknowledges, and kill -9 the node while
	// writes are in flight. Every write it answered 201 must survive.
	var acked []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		client := &http.Client{Timeout: 10 * time.Second}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("svc-%04d", i)
			res, err := client.PostForm(p.admin+"/services", url.Values{"name": {name}, "host": {"h.internal"}})
			if err != nil {
				return // the node is gone
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusCreated {
				acked = append(acked, name)
			}
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		time.Sleep(5 * time.Millisecond)
		if n := countAcked(p.admin); n >= 40 || time.Now().After(deadline) {
			break
		}
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	close(stop)
	<-done
	if len(acked) < 40 {
		t.Fatalf("only %d writes acknowledged before the kill", len(acked))
	}

	p = startNode(t, conf)
	for _, name := range acked {
		if res := call(t, "GET", p.admin+"/services/"+name, nil); res.status != 200 {
			t.Fatalf("acknowledged service %s lost after kill -9 (status %d); %d acknowledged", name, res.status, len(acked))
		}
	}
	p.stop(t)
}

// countAcked returns how many services the node holds, or 0 when it does
// not answer.
func countAcked(admin string) int {
	res, err := http.Get(admin + "/services?size=1000")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	var page struct{ Data []any }
	json.NewDecoder(res.Body).Decode(&page)
	return len(page.Data)
}

func TestStartRefusesBadSettings(t *testing.T) {
	prefix := t.TempDir()
	cases := []struct {
		name  string
		extra string
		want  string
	}{
		{"unknown key", "admin_lsten = 127.0.0.1:1", "admin_lsten"},
		{"bad role", "role = gateway", "gateway"},
		{"bad listen", "status_listen = nowhere", "status_listen"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := gantry(t, "start", "-c", writeConf(t, prefix, tc.extra))
			if code != 1 {
				t.Fatalf("exit code %d, want 1; stderr:\n%s", code, stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
				t.Fatalf("want one line naming %q, got:\n%s", tc.want, stderr)
			}
		})
	}
}

// selfSignedPEM makes a self-signed ECDSA certificate for cn and its key,
// PEM-encoded, for TLS tests.
func selfSignedPEM(t *testing.T, cn string) (certPEM, keyPEM string) {
	t.Helper()
	kp := mustIssue(t, pki.Template{CommonName: cn, DNSNames: []string{cn}, NotAfter: time.Now().Add(24 * time.Hour)}, nil)
	return string(kp.CertPEM), string(kp.KeyPEM)
}
