package e2e

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A data plane in DB-less mode, as a user runs it: a declarative file, the
// binary, real upstream servers on loopback, traffic through the proxy.

var listenAddrs = regexp.MustCompile(`msg="gantry started".* proxy_listen=(\S+) status_listen=(\S+)`)

// dataPlane is a running DB-less node with the URLs of its listeners.
type dataPlane struct {
	*process
	proxy, proxyTLS, status string
	confPath, configPath    string
}

// startDataPlane starts a DB-less node serving configYAML and waits until
// it reports its listeners.
func startDataPlane(t *testing.T, configYAML string) *dataPlane {
	t.Helper()
	dir := t.TempDir()
	configPath := filepath.Join(dir, "kong.yml")
	if err := os.WriteFile(configPath, []byte(configYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, "gantry.conf")
	conf := strings.Join([]string{
		"role = traditional",
		"database = off",
		"declarative_config = " + configPath,
		"prefix = " + filepath.Join(dir, "prefix"),
		"proxy_listen = 127.0.0.1:0, 127.0.0.1:0 ssl",
		"status_listen = 127.0.0.1:0",
		"admin_listen = off",
		"log_level = info",
	}, "\n") + "\n"
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, confPath, listenAddrs)
	m := listenAddrs.FindStringSubmatch(p.startLine)
	proxies := strings.Split(m[1], ",")
	if len(proxies) != 2 {
		t.Fatalf("want 2 proxy listeners, got %q", m[1])
	}
	return &dataPlane{process: p, proxy: proxies[0], proxyTLS: proxies[1], status: m[2], confPath: confPath, configPath: configPath}
}

// reload rewrites the declarative file and signals the node to reload it.
func (d *dataPlane) reload(t *testing.T, configYAML string) {
	t.Helper()
	if err := os.WriteFile(d.configPath, []byte(configYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, client *http.Client, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if strings.EqualFold(header[i], "Host") {
			req.Host = header[i+1]
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, string(body)
}

// echoUpstream answers every request with what it received, so tests can
// check what the proxy sent.
func echoUpstream(t *testing.T, name string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", name)
		fmt.Fprintf(w, "upstream=%s method=%s uri=%s host=%s xff=%s proto=%s fhost=%s fport=%s fpath=%s via=%s",
			name, r.Method, r.RequestURI, r.Host, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"),
			r.Header.Get("X-Forwarded-Host"), r.Header.Get("X-Forwarded-Port"), r.Header.Get("X-Forwarded-Path"), r.Header.Get("Via"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDataPlaneProxiesFromDeclarativeFile(t *testing.T) {
	a := echoUpstream(t, "a")
	b := echoUpstream(t, "b")
	config := fmt.Sprintf(`_format_version: "3.0"
services:
  - name: svc-a
    url: %s/base
    routes:
      - name: strip
        paths: [/api]
      - name: keep
        paths: [/keep]
        strip_path: false
  - name: svc-b
    url: %s
    routes:
      - name: by-host
        hosts: [b.example.com]
`, a.URL, b.URL)
	dp := startDataPlane(t, config)
	client := &http.Client{Timeout: 10 * time.Second}

	res, _ := get(t, client, dp.status+"/status/ready")
	if res.StatusCode != 200 {
		t.Fatalf("/status/ready = %d after loading a config", res.StatusCode)
	}
	res, body := get(t, client, dp.proxy+"/api/users?x=1")
	if res.StatusCode != 200 || !strings.Contains(body, "upstream=a") || !strings.Contains(body, "uri=/base/users?x=1") {
		t.Fatalf("strip_path route: %d %s", res.StatusCode, body)
	}
	if !strings.Contains(body, "xff=127.0.0.1") || !strings.Contains(body, "proto=http") || !strings.Contains(body, "fpath=/api/users") {
		t.Fatalf("forwarded headers: %s", body)
	}
	if res.Header.Get("Via") == "" || res.Header.Get("X-Kong-Upstream-Latency") == "" || res.Header.Get("X-Kong-Proxy-Latency") == "" {
		t.Fatalf("response headers: %v", res.Header)
	}
	_, body = get(t, client, dp.proxy+"/keep/x")
	if !strings.Contains(body, "uri=/base/keep/x") {
		t.Fatalf("strip_path=false route: %s", body)
	}
	_, body = get(t, client, dp.proxy+"/", "Host", "b.example.com")
	if !strings.Contains(body, "upstream=b") || !strings.Contains(body, "host=127.0.0.1:") {
		t.Fatalf("host route: %s", body)
	}
	res, body = get(t, client, dp.proxy+"/nothing-here")
	if res.StatusCode != 404 || strings.TrimSpace(body) != `{"message":"no Route matched with those values"}` {
		t.Fatalf("no route: %d %s", res.StatusCode, body)
	}

	// A reload swaps the configuration; a bad one is refused and the old
	// one keeps serving.
	dp.reload(t, config+"      - name: extra\n        paths: [/extra]\n")
	eventually(t, "the reloaded route", func() bool {
		res, _ := get(t, client, dp.proxy+"/extra")
		return res.StatusCode == 200
	})
	dp.reload(t, strings.Replace(config, "paths: [/api]", "paths: [api]", 1))
	eventually(t, "the refusal in the log", func() bool { return strings.Contains(dp.Log(), "reload refused") })
	if !strings.Contains(dp.Log(), "should start with") {
		t.Fatalf("refused reload does not say why:\n%s", dp.Log())
	}
	res, _ = get(t, client, dp.proxy+"/extra")
	if res.StatusCode != 200 {
		t.Fatalf("after a refused reload the previous config stopped serving: %d", res.StatusCode)
	}
	res, body = get(t, client, dp.status+"/metrics")
	if res.StatusCode != 200 || !strings.Contains(body, `kong_http_requests_total{service="svc-a",route="strip",code="200"} 1`) {
		t.Fatalf("/metrics:\n%s", body)
	}
	dp.stop(t)
}

func TestDataPlaneRefusesAnInvalidFile(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "kong.yml")
	os.WriteFile(config, []byte(`_format_version: "3.0"
services:
  - name: s
    host: h
    port: 99999
    routes:
      - paths: [nope]
`), 0o644)
	conf := writeConf(t, dir, "database = off", "declarative_config = "+config, "admin_listen = off",
		"proxy_listen = 127.0.0.1:0", "status_listen = 127.0.0.1:0")
	_, stderr, code := gantry(t, "start", "-c", conf)
	if code != 1 || !strings.Contains(stderr, "port: value should be between 0 and 65535") ||
		!strings.Contains(stderr, "paths[0]: should start with") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestDataPlaneWithoutConfigIsNotReady(t *testing.T) {
	dir := t.TempDir()
	conf := writeConf(t, dir, "database = off", "admin_listen = off",
		"proxy_listen = 127.0.0.1:0", "status_listen = 127.0.0.1:0")
	p := startProcess(t, conf, listenAddrs)
	m := listenAddrs.FindStringSubmatch(p.startLine)
	client := &http.Client{Timeout: 10 * time.Second}
	res, _ := get(t, client, m[2]+"/status/ready")
	if res.StatusCode != 503 {
		t.Fatalf("/status/ready = %d without a config", res.StatusCode)
	}
	res, _ = get(t, client, m[1]+"/anything")
	if res.StatusCode != 404 {
		t.Fatalf("proxy without config = %d", res.StatusCode)
	}
	p.stop(t)
}

func TestDataPlaneTLSBySNI(t *testing.T) {
	up := echoUpstream(t, "tls")
	certPEM, keyPEM := selfSignedPEM(t, "api.test")
	config := fmt.Sprintf(`_format_version: "3.0"
certificates:
  - cert: |
%s
    key: |
%s
    snis: [api.test]
services:
  - name: s
    url: %s
    routes:
      - paths: [/]
`, indent(certPEM, 6), indent(keyPEM, 6), up.URL)
	dp := startDataPlane(t, config)
	addr := strings.TrimPrefix(dp.proxyTLS, "https://")
	for _, tc := range []struct{ sni, wantCN string }{{"api.test", "api.test"}, {"other.test", "localhost"}} {
		conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		cs := conn.ConnectionState()
		conn.Close()
		if got := cs.PeerCertificates[0].Subject.CommonName; got != tc.wantCN {
			t.Fatalf("SNI %s: served %q, want %q", tc.sni, got, tc.wantCN)
		}
		if cs.NegotiatedProtocol != "h2" {
			t.Fatalf("TLS listener negotiated %q, want h2", cs.NegotiatedProtocol)
		}
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: "api.test", InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	res, body := get(t, client, dp.proxyTLS+"/hello")
	if res.StatusCode != 200 || res.ProtoMajor != 2 || !strings.Contains(body, "proto=https") {
		t.Fatalf("HTTPS request: %d proto %s body %s", res.StatusCode, res.Proto, body)
	}
	dp.stop(t)
}

func TestDataPlaneWebSocket(t *testing.T) {
	// An upstream that completes the WebSocket upgrade and echoes bytes.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "want an upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw)
	}))
	t.Cleanup(up.Close)
	dp := startDataPlane(t, fmt.Sprintf(`_format_version: "3.0"
services:
  - name: ws
    url: %s
    routes:
      - paths: [/ws]
`, up.URL))
	conn, err := net.Dial("tcp", strings.TrimPrefix(dp.proxy, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("upgrade through the proxy: %v %v", res, err)
	}
	for _, msg := range []string{"hello", "world"} {
		conn.Write([]byte(msg))
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(br, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo through the tunnel: %q %v", buf, err)
		}
	}
	dp.stop(t)
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+pad)
}
