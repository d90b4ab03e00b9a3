package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/cluster/dp"
	"github.com/gantry-gw/gantry/internal/connectproxy/connectproxytest"
	"github.com/gantry-gw/gantry/internal/pki"
	"github.com/gantry-gw/gantry/internal/proxy"
)

// Hybrid mode as users run it: a control plane process and data plane
// processes of the built binary, real certificates, mutual TLS on
// loopback. Heartbeats and redials are made fast with Gantry's
// cluster_ping_interval and cluster_reconnect_delay settings.

var (
	cpStarted = regexp.MustCompile(`msg="gantry started".* admin_listen=(\S+).* cluster_listen=(\S+)`)
)

// controlPlane is a running control plane.
type controlPlane struct {
	*process
	admin       string // http://host:port
	clusterAddr string // host:port
	prefix      string
}

// startControlPlane starts a control plane in prefix with the given
// cluster settings (cluster_cert… lines) on clusterListen
// ("127.0.0.1:0" for a port the OS picks).
func startControlPlane(t *testing.T, prefix, clusterListen string, settings ...string) *controlPlane {
	t.Helper()
	lines := append([]string{
		"role = control_plane",
		"database = sqlite",
		"prefix = " + prefix,
		"admin_listen = 127.0.0.1:0",
		"cluster_listen = " + clusterListen,
		"proxy_listen = off",
		"status_listen = off",
		"cluster_ping_interval = 0.5",
		"log_level = info",
	}, settings...)
	p := startProcess(t, writeConfLines(t, lines), cpStarted)
	m := cpStarted.FindStringSubmatch(p.startLine)
	u, err := url.Parse(m[2])
	if err != nil {
		t.Fatal(err)
	}
	return &controlPlane{process: p, admin: m[1], clusterAddr: u.Host, prefix: prefix}
}

// hybridDataPlane is a running data plane.
type hybridDataPlane struct {
	*process
	proxy, status, prefix string
}

// startHybridDataPlane starts a data plane in prefix that follows the
// control plane at cpAddr.
func startHybridDataPlane(t *testing.T, prefix, cpAddr string, settings ...string) *hybridDataPlane {
	t.Helper()
	lines := append([]string{
		"role = data_plane",
		"database = off",
		"prefix = " + prefix,
		"proxy_listen = 127.0.0.1:0",
		"status_listen = 127.0.0.1:0",
		"admin_listen = off",
		"cluster_control_plane = " + cpAddr,
		"cluster_ping_interval = 0.5",
		"cluster_reconnect_delay = 0.2",
		"log_level = info",
	}, settings...)
	p := startProcess(t, writeConfLines(t, lines), listenAddrs)
	m := listenAddrs.FindStringSubmatch(p.startLine)
	return &hybridDataPlane{process: p, proxy: m[1], status: m[2], prefix: prefix}
}

func writeConfLines(t *testing.T, lines []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gantry.conf")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// pinnedPair makes a pinned certificate pair with the CLI, as a user
// would, and returns the two cluster_cert settings.
func pinnedPair(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cluster.crt"), filepath.Join(dir, "cluster.key")
	if _, stderr, code := gantry(t, "hybrid", "gen_cert", cert, key); code != 0 {
		t.Fatalf("gantry hybrid gen_cert: exit %d: %s", code, stderr)
	}
	return []string{"cluster_cert = " + cert, "cluster_cert_key = " + key}
}

// nodeIDOf reads the node id a node keeps in its prefix.
func nodeIDOf(t *testing.T, prefix string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(prefix, "node.id"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// dataPlanes returns the control plane's node list by node id.
func dataPlanes(t *testing.T, admin string) map[string]map[string]any {
	t.Helper()
	res, err := http.Get(admin + "/clustering/data-planes")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /clustering/data-planes: %d %v", res.StatusCode, err)
	}
	out := map[string]map[string]any{}
	for _, n := range body.Data {
		out[n["id"].(string)] = n
	}
	return out
}

// expectedHash returns the hash the control plane expects its nodes to run.
func expectedHash(t *testing.T, admin string) string {
	t.Helper()
	r := call(t, "GET", admin+"/clustering/expected-config-hash", nil)
	if r.status != 200 {
		t.Fatalf("expected-config-hash: %d %v", r.status, r.body)
	}
	return r.body["expected_config_hash"].(string)
}

// waitInSync waits until every listed data plane is connected and runs
// the control plane's latest configuration.
func waitInSync(t *testing.T, cp *controlPlane, dps ...*hybridDataPlane) {
	t.Helper()
	eventually(t, "data planes in sync", func() bool {
		want := expectedHash(t, cp.admin)
		nodes := dataPlanes(t, cp.admin)
		for _, d := range dps {
			n := nodes[nodeIDOf(t, d.prefix)]
			if n == nil || n["status"] != "connected" || n["config_hash"] != want || n["sync_status"] != "normal" {
				return false
			}
		}
		return true
	})
}

// proxyStatus returns the status and body of GET path through a data plane.
func proxyStatus(t *testing.T, d *hybridDataPlane, path string) (int, string) {
	t.Helper()
	res, body := get(t, http.DefaultClient, d.proxy+path)
	return res.StatusCode, body
}

func waitProxy(t *testing.T, d *hybridDataPlane, path string, status int) {
	t.Helper()
	eventually(t, fmt.Sprintf("GET %s through %s answers %d", path, d.proxy, status), func() bool {
		code, _ := proxyStatus(t, d, path)
		return code == status
	})
}

func adminWrite(t *testing.T, method, u string, form url.Values, want int) {
	t.Helper()
	if r := call(t, method, u, form); r.status != want {
		t.Fatalf("%s %s: %d %v, want %d", method, u, r.status, r.body, want)
	}
}

// freeLoopbackAddr returns a loopback address with a port no one listens
// on right now, for a control plane that must come back on the same one.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestHybridPushesToEveryDataPlaneAndSurvivesTheControlPlane(t *testing.T) {
	certs := pinnedPair(t)
	up := echoUpstream(t, "a")
	cpPrefix := filepath.Join(t.TempDir(), "cp")
	clusterAddr := freeLoopbackAddr(t)
	cp := startControlPlane(t, cpPrefix, clusterAddr, certs...)
	dp1 := startHybridDataPlane(t, filepath.Join(t.TempDir(), "dp1"), cp.clusterAddr, certs...)
	dp2 := startHybridDataPlane(t, filepath.Join(t.TempDir(), "dp2"), cp.clusterAddr, certs...)
	waitInSync(t, cp, dp1, dp2)

	// A write reaches both at once.
	adminWrite(t, "POST", cp.admin+"/services", url.Values{"name": {"s"}, "url": {up.URL}}, 201)
	adminWrite(t, "POST", cp.admin+"/services/s/routes", url.Values{"name": {"r"}, "paths[]": {"/hello"}}, 201)
	for _, d := range []*hybridDataPlane{dp1, dp2} {
		waitProxy(t, d, "/hello", 200)
		if _, body := proxyStatus(t, d, "/hello"); !strings.Contains(body, "upstream=a") {
			t.Fatalf("proxied to the wrong place: %s", body)
		}
	}
	waitInSync(t, cp, dp1, dp2)
	nodes := dataPlanes(t, cp.admin)
	for _, d := range []*hybridDataPlane{dp1, dp2} {
		n := nodes[nodeIDOf(t, d.prefix)]
		for _, field := range []string{"hostname", "ip", "version", "last_seen", "ttl", "cert_details", "labels", "config_version"} {
			if _, ok := n[field]; !ok {
				t.Errorf("node %v has no %s", n["id"], field)
			}
		}
		if n["ip"] != "127.0.0.1" {
			t.Errorf("node ip %v", n["ip"])
		}
		// The DP's own status page reports the same hash.
		r := call(t, "GET", d.status+"/status", nil)
		if r.body["configuration_hash"] != expectedHash(t, cp.admin) {
			t.Errorf("DP /status configuration_hash %v, CP expects %s", r.body["configuration_hash"], expectedHash(t, cp.admin))
		}
	}

	// A delete reaches both.
	adminWrite(t, "DELETE", cp.admin+"/routes/r", nil, 204)
	waitProxy(t, dp1, "/hello", 404)
	waitProxy(t, dp2, "/hello", 404)
	adminWrite(t, "POST", cp.admin+"/services/s/routes", url.Values{"name": {"r2"}, "paths[]": {"/again"}}, 201)
	waitProxy(t, dp1, "/again", 200)
	waitProxy(t, dp2, "/again", 200)

	// kill -9 the control plane: the data planes keep serving and stay
	// ready.
	cp.kill()
	for i := 0; i < 20; i++ {
		for _, d := range []*hybridDataPlane{dp1, dp2} {
			if code, _ := proxyStatus(t, d, "/again"); code != 200 {
				t.Fatalf("data plane stopped serving after the control plane died: %d", code)
			}
		}
	}
	for _, d := range []*hybridDataPlane{dp1, dp2} {
		if r := call(t, "GET", d.status+"/status/ready", nil); r.status != 200 {
			t.Fatalf("/status/ready %d after the control plane died", r.status)
		}
	}

	// A data plane restarted while the control plane is down serves from
	// its cache.
	dp1.stop(t)
	dp1 = startHybridDataPlane(t, dp1.prefix, clusterAddr, certs...)
	if code, _ := proxyStatus(t, dp1, "/again"); code != 200 {
		t.Fatalf("restarted data plane does not serve its cached configuration: %d\n%s", code, dp1.Log())
	}
	if !strings.Contains(dp1.Log(), "configuration loaded from the cache") {
		t.Errorf("no cache log line:\n%s", dp1.Log())
	}

	// The control plane comes back on the same address: both data planes
	// reconnect and converge, and new writes reach them.
	cp = startControlPlane(t, cpPrefix, clusterAddr, certs...)
	waitInSync(t, cp, dp1, dp2)
	adminWrite(t, "POST", cp.admin+"/services/s/routes", url.Values{"name": {"r3"}, "paths[]": {"/third"}}, 201)
	waitProxy(t, dp1, "/third", 200)
	waitProxy(t, dp2, "/third", 200)
	waitInSync(t, cp, dp1, dp2)
}

func TestHybridCacheFallbacks(t *testing.T) {
	certs := pinnedPair(t)
	a, b := echoUpstream(t, "a"), echoUpstream(t, "b")
	cp := startControlPlane(t, filepath.Join(t.TempDir(), "cp"), "127.0.0.1:0", certs...)
	adminWrite(t, "POST", cp.admin+"/services", url.Values{"name": {"s"}, "url": {a.URL}}, 201)
	adminWrite(t, "POST", cp.admin+"/services/s/routes", url.Values{"name": {"r"}, "paths[]": {"/hello"}}, 201)

	fallback := filepath.Join(t.TempDir(), "kong.yml")
	if err := os.WriteFile(fallback, []byte(fmt.Sprintf(`_format_version: "3.0"
services:
  - name: fallback
    url: %s
    routes:
      - name: fallback
        paths: [/fallback]
`, b.URL)), 0o644); err != nil {
		t.Fatal(err)
	}
	withFallback := append([]string{"declarative_config = " + fallback}, certs...)

	// The control plane's configuration replaces the file's once the node
	// connects.
	prefix := filepath.Join(t.TempDir(), "dp")
	d := startHybridDataPlane(t, prefix, cp.clusterAddr, withFallback...)
	waitProxy(t, d, "/hello", 200)
	waitProxy(t, d, "/fallback", 404)
	waitInSync(t, cp, d)

	// The cache moves to another node: export it, then import it into a
	// fresh prefix.
	exported := filepath.Join(t.TempDir(), "config.json.gz")
	if _, stderr, code := gantry(t, "config", "export-cache", "-p", prefix, "-o", exported); code != 0 {
		t.Fatalf("export-cache: exit %d: %s", code, stderr)
	}
	cp.kill()
	d.stop(t)

	// A truncated cache is detected and skipped: declarative_config serves.
	cachePath := filepath.Join(prefix, "dp_cache", "config.json.gz")
	data, err := os.ReadFile(cachePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cachePath, data[:len(data)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	d = startHybridDataPlane(t, prefix, cp.clusterAddr, withFallback...)
	if code, _ := proxyStatus(t, d, "/fallback"); code != 200 {
		t.Fatalf("with a corrupt cache the node should serve declarative_config: %d\n%s", code, d.Log())
	}
	if code, _ := proxyStatus(t, d, "/hello"); code != 404 {
		t.Fatalf("a corrupt cache was trusted: /hello %d", code)
	}
	if !strings.Contains(d.Log(), "cache is unusable") {
		t.Errorf("the corrupt cache was not logged:\n%s", d.Log())
	}
	d.stop(t)

	// Neither a cache nor a file: the node starts empty and not ready.
	d = startHybridDataPlane(t, prefix, cp.clusterAddr, certs...)
	if code, _ := proxyStatus(t, d, "/hello"); code != 404 {
		t.Fatalf("empty node answered %d", code)
	}
	if r := call(t, "GET", d.status+"/status/ready", nil); r.status != 503 {
		t.Fatalf("empty node /status/ready %d, want 503", r.status)
	}
	d.stop(t)

	// A corrupt file is refused by import-cache, and the good export is
	// installed into a new node, which serves it without a control plane.
	bad := filepath.Join(t.TempDir(), "bad.json.gz")
	os.WriteFile(bad, data[:len(data)-3], 0o600)
	fresh := t.TempDir()
	if _, stderr, code := gantry(t, "config", "import-cache", bad, "-p", fresh); code == 0 || !strings.Contains(stderr, "corrupt") {
		t.Fatalf("import-cache accepted a truncated file: exit %d: %s", code, stderr)
	}
	if _, stderr, code := gantry(t, "config", "import-cache", exported, "-p", fresh); code != 0 {
		t.Fatalf("import-cache: exit %d: %s", code, stderr)
	}
	d = startHybridDataPlane(t, fresh, cp.clusterAddr, certs...)
	if code, body := proxyStatus(t, d, "/hello"); code != 200 || !strings.Contains(body, "upstream=a") {
		t.Fatalf("imported cache not served: %d %s", code, body)
	}
}

// pkiChain is the seed's example chain: cert3 (root) issued cert2
// (intermediate), which issued cert1 (a data plane's leaf).
type pkiChain struct {
	root, intermediate, leaf, server *pki.KeyPair
}

func newPKIChain(t *testing.T) pkiChain {
	t.Helper()
	now := time.Now()
	day := 24 * time.Hour
	root := mustIssue(t, pki.Template{CommonName: "root", IsCA: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(400 * day)}, nil)
	inter := mustIssue(t, pki.Template{CommonName: "intermediate", IsCA: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(300 * day)}, root)
	leaf := mustIssue(t, pki.Template{CommonName: "dp", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(200 * day)}, inter)
	server := mustIssue(t, pki.Template{CommonName: "kong_clustering", DNSNames: []string{"kong_clustering"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(200 * day)}, root)
	return pkiChain{root: root, intermediate: inter, leaf: leaf, server: server}
}

func mustIssue(t *testing.T, tmpl pki.Template, parent *pki.KeyPair) *pki.KeyPair {
	t.Helper()
	kp, err := pki.Issue(tmpl, parent)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// writePEM writes the concatenation of PEM blocks to a new file.
func writePEM(t *testing.T, name string, blocks ...[]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	var all []byte
	for _, b := range blocks {
		all = append(all, b...)
	}
	if err := os.WriteFile(path, all, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHybridCertificates(t *testing.T) {
	chain := newPKIChain(t)
	other := newPKIChain(t) // a chain the control plane does not trust
	now := time.Now()
	expired := mustIssue(t, pki.Template{CommonName: "dp-expired", NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}, chain.intermediate)
	future := mustIssue(t, pki.Template{CommonName: "dp-future", NotBefore: now.Add(24 * time.Hour), NotAfter: now.Add(48 * time.Hour)}, chain.intermediate)
	pinnedA, pinnedB := pinnedPair(t), pinnedPair(t)

	rootPath := writePEM(t, "root.crt", chain.root.CertPEM)
	serverCert := writePEM(t, "server.crt", chain.server.CertPEM)
	serverKey := writePEM(t, "server.key", chain.server.KeyPEM)
	cpPKI := func(caBlock []byte) []string {
		return []string{"cluster_mtls = pki", "cluster_cert = " + serverCert, "cluster_cert_key = " + serverKey,
			"cluster_ca_cert = " + writePEM(t, "ca.crt", caBlock)}
	}
	dpPKI := func(kp *pki.KeyPair, chainBlocks ...[]byte) []string {
		return []string{"cluster_mtls = pki", "cluster_server_name = kong_clustering",
			"cluster_cert = " + writePEM(t, "dp.crt", append([][]byte{kp.CertPEM}, chainBlocks...)...),
			"cluster_cert_key = " + writePEM(t, "dp.key", kp.KeyPEM),
			"cluster_ca_cert = " + rootPath, "lua_ssl_trusted_certificate = " + rootPath}
	}

	tests := []struct {
		name     string
		cp, dp   []string
		accepted bool
		reason   string // in the control plane's or the data plane's log when refused
	}{
		{"pinned: same pair", pinnedA, pinnedA, true, ""},
		{"pinned: another pair", pinnedA, pinnedB, false, "pinned"},
		{"pki: trust cert1 (the leaf), leaf sent", cpPKI(chain.leaf.CertPEM), dpPKI(chain.leaf), true, ""},
		{"pki: trust cert2 (the intermediate), leaf sent alone", cpPKI(chain.intermediate.CertPEM), dpPKI(chain.leaf), true, ""},
		{"pki: trust cert3 (the root), leaf + intermediate sent", cpPKI(chain.root.CertPEM), dpPKI(chain.leaf, chain.intermediate.CertPEM), true, ""},
		{"pki: trust cert3 (the root), leaf sent alone", cpPKI(chain.root.CertPEM), dpPKI(chain.leaf), false, "cluster_ca_cert"},
		{"pki: expired leaf", cpPKI(chain.intermediate.CertPEM), dpPKI(expired), false, "expired"},
		{"pki: leaf not yet valid", cpPKI(chain.intermediate.CertPEM), dpPKI(future), false, "not valid until"},
		{"pki: leaf from another CA", cpPKI(chain.root.CertPEM), dpPKI(other.leaf, other.intermediate.CertPEM), false, "cluster_ca_cert"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp := startControlPlane(t, filepath.Join(t.TempDir(), "cp"), "127.0.0.1:0", tc.cp...)
			d := startHybridDataPlane(t, filepath.Join(t.TempDir(), "dp"), cp.clusterAddr, tc.dp...)
			id := nodeIDOf(t, d.prefix)
			if tc.accepted {
				eventually(t, "the node to be listed", func() bool { return dataPlanes(t, cp.admin)[id] != nil })
				return
			}
			eventually(t, "the refusal to be logged with its reason", func() bool {
				return strings.Contains(cp.Log(), "TLS handshake error") &&
					(strings.Contains(cp.Log(), tc.reason) || strings.Contains(d.Log(), tc.reason))
			})
			if dataPlanes(t, cp.admin)[id] != nil {
				t.Fatal("a refused node is listed")
			}
		})
	}

	t.Run("no client certificate", func(t *testing.T) {
		cp := startControlPlane(t, filepath.Join(t.TempDir(), "cp"), "127.0.0.1:0", pinnedA...)
		conn, err := tls.Dial("tcp", cp.clusterAddr, &tls.Config{InsecureSkipVerify: true, ServerName: "kong_clustering"})
		if err == nil {
			// TLS 1.3: the server's refusal arrives with the first read.
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			conn.Close()
		}
		if err == nil {
			t.Fatal("a client without a certificate was served")
		}
		eventually(t, "the refusal to be logged", func() bool {
			return strings.Contains(cp.Log(), "didn't provide a certificate") || strings.Contains(cp.Log(), "presented no")
		})
	})
}

func TestHybridForwardProxy(t *testing.T) {
	certs := pinnedPair(t)
	up := echoUpstream(t, "a")
	cp := startControlPlane(t, filepath.Join(t.TempDir(), "cp"), "127.0.0.1:0", certs...)
	adminWrite(t, "POST", cp.admin+"/services", url.Values{"name": {"s"}, "url": {up.URL}}, 201)
	adminWrite(t, "POST", cp.admin+"/services/s/routes", url.Values{"name": {"r"}, "paths[]": {"/hello"}}, 201)

	for _, tc := range []struct {
		name       string
		opts       connectproxytest.Options
		proxyURL   func(*connectproxytest.Server) string
		connects   bool
		authorized bool
	}{
		{"http proxy without auth", connectproxytest.Options{}, func(s *connectproxytest.Server) string { return s.URL().String() }, true, true},
		{"http proxy with auth", connectproxytest.Options{User: "dp", Password: "s3cret#1"},
			func(s *connectproxytest.Server) string { return s.URL().String() }, true, true},
		{"http proxy, wrong password", connectproxytest.Options{User: "dp", Password: "right"},
			func(s *connectproxytest.Server) string {
				u := *s.URL()
				u.User = url.UserPassword("dp", "wrong")
				return u.String()
			}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := connectproxytest.New(t, tc.opts)
			settings := append([]string{"cluster_use_proxy = on", "proxy_server = " + tc.proxyURL(fp)}, certs...)
			d := startHybridDataPlane(t, filepath.Join(t.TempDir(), "dp"), cp.clusterAddr, settings...)
			eventually(t, "a CONNECT through the proxy", func() bool { return len(fp.Requests()) > 0 })
			req := fp.Requests()[0]
			if req.Target != cp.clusterAddr || req.Authorized != tc.authorized {
				t.Fatalf("proxy saw %+v, want target %s authorized %v", req, cp.clusterAddr, tc.authorized)
			}
			if tc.connects {
				waitProxy(t, d, "/hello", 200)
				waitInSync(t, cp, d)
				return
			}
			eventually(t, "the refusal in the data plane's log", func() bool { return strings.Contains(d.Log(), "407") })
			if dataPlanes(t, cp.admin)[nodeIDOf(t, d.prefix)] != nil {
				t.Fatal("a node that could not pass the proxy is listed")
			}
		})
	}
}

// fakeDataPlane runs the data plane's cluster client in this process, as
// Kong's own tests do with their clustering client, to play a node that
// the binary cannot: another version, another plugin set.
func fakeDataPlane(t *testing.T, cpAddr string, certs []string, version string, plugins []cluster.Plugin) string {
	t.Helper()
	setting := func(key string) string {
		for _, s := range certs {
			if k, v, _ := strings.Cut(s, " = "); k == key {
				return v
			}
		}
		t.Fatalf("no %s", key)
		return ""
	}
	pair, err := pki.LoadKeyPair(setting("cluster_cert"), setting("cluster_cert_key"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := proxy.New(proxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	id := "11111111-2222-4333-8444-" + fmt.Sprintf("%012d", time.Now().UnixNano()%1e12)
	client := dp.New(dp.Options{
		ControlPlane: cpAddr,
		TLS: &tls.Config{Certificates: []tls.Certificate{pair}, ServerName: "kong_clustering", InsecureSkipVerify: true,
			VerifyPeerCertificate: pki.VerifyControlPlane("shared", []*x509.Certificate{pair.Leaf}, nil, "kong_clustering", time.Now)},
		NodeID: id, Hostname: "fake-dp", Version: version, Plugins: plugins, Applier: p,
		MaxPayload: 16 << 20, PingInterval: 500 * time.Millisecond, ReconnectDelay: 200 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		client.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return id
}

func TestHybridIncompatibleVersions(t *testing.T) {
	certs := pinnedPair(t)
	cp := startControlPlane(t, filepath.Join(t.TempDir(), "cp"), "127.0.0.1:0", certs...)
	for _, tc := range []struct {
		version, status string
	}{
		{"0.1.7", "normal"},                     // another patch
		{"0.99.0", "kong_version_incompatible"}, // a newer minor than the CP's
		{"1.1.0", "kong_version_incompatible"},  // another major
	} {
		id := fakeDataPlane(t, cp.clusterAddr, certs, tc.version, []cluster.Plugin{})
		eventually(t, "node "+tc.version+" listed as "+tc.status, func() bool {
			n := dataPlanes(t, cp.admin)[id]
			return n != nil && n["sync_status"] == tc.status && n["version"] == tc.version
		})
	}
}

func TestHybridRejectedConfigShowsOnTheNode(t *testing.T) {
	certs := pinnedPair(t)
	up := echoUpstream(t, "a")
	cp := startControlPlane(t, filepath.Join(t.TempDir(), "cp"), "127.0.0.1:0", certs...)
	adminWrite(t, "POST", cp.admin+"/services", url.Values{"name": {"s"}, "url": {up.URL}}, 201)
	adminWrite(t, "POST", cp.admin+"/services/s/routes", url.Values{"name": {"r"}, "paths[]": {"/hello"}}, 201)
	d := startHybridDataPlane(t, filepath.Join(t.TempDir(), "dp"), cp.clusterAddr, certs...)
	waitProxy(t, d, "/hello", 200)
	waitInSync(t, cp, d)

	// A node that claims the key-auth plugin gets a configuration that
	// uses it, but its proxy cannot run it (plugins come in a later
	// release): it refuses the configuration, keeps the old one, and the
	// control plane shows why on that node only.
	claimer := fakeDataPlane(t, cp.clusterAddr, certs, "0.1.0", []cluster.Plugin{{Name: "key-auth", Version: "0.1.0"}})
	eventually(t, "the claiming node in sync", func() bool {
		n := dataPlanes(t, cp.admin)[claimer]
		return n != nil && n["status"] == "connected"
	})
	adminWrite(t, "POST", cp.admin+"/services/s/plugins", url.Values{"name": {"key-auth"}}, 201)
	eventually(t, "the rejection on the node", func() bool {
		n := dataPlanes(t, cp.admin)[claimer]
		le, _ := n["last_error"].(map[string]any)
		return n["status"] == "out_of_sync" && le != nil && strings.Contains(fmt.Sprint(le), "key-auth") &&
			strings.Contains(fmt.Sprint(le), "plugin")
	})
	// The real data plane lacks the plugin: the control plane keeps the
	// configuration from it and says so, and it keeps serving.
	eventually(t, "the real node marked plugin_set_incompatible", func() bool {
		return dataPlanes(t, cp.admin)[nodeIDOf(t, d.prefix)]["sync_status"] == "plugin_set_incompatible"
	})
	if code, _ := proxyStatus(t, d, "/hello"); code != 200 {
		t.Fatalf("the node stopped serving: %d", code)
	}
	// Removing the plugin brings both back in sync.
	r := call(t, "GET", cp.admin+"/plugins", nil)
	id := r.body["data"].([]any)[0].(map[string]any)["id"].(string)
	adminWrite(t, "DELETE", cp.admin+"/plugins/"+id, nil, 204)
	waitInSync(t, cp, d)
	eventually(t, "the claiming node back in sync", func() bool {
		n := dataPlanes(t, cp.admin)[claimer]
		return n["status"] == "connected" && n["last_error"] == nil
	})
}

func TestHybridPayloadOverTheLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a configuration of more than 4 MiB compressed")
	}
	certs := pinnedPair(t)
	cp := startControlPlane(t, filepath.Join(t.TempDir(), "cp"), "127.0.0.1:0",
		append([]string{"cluster_max_payload = 4194304"}, certs...)...)
	d := startHybridDataPlane(t, filepath.Join(t.TempDir(), "dp"), cp.clusterAddr, certs...)
	waitInSync(t, cp, d)
	id := nodeIDOf(t, d.prefix)

	// Consumers whose custom_id is random text compress poorly: 30,000 of
	// them make more than 4 MiB of gzip.
	var b strings.Builder
	b.WriteString(`{"_format_version":"3.0","consumers":[`)
	rnd := make([]byte, 150)
	for i := range 30000 {
		if i > 0 {
			b.WriteByte(',')
		}
		randomText(rnd)
		fmt.Fprintf(&b, `{"username":"u%05d","custom_id":"%s"}`, i, rnd)
	}
	b.WriteString(`]}`)
	res, err := http.Post(cp.admin+"/config", "application/json", strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 201 && res.StatusCode != 200 {
		t.Fatalf("POST /config: %d", res.StatusCode)
	}
	eventually(t, "the payload error on the node", func() bool {
		n := dataPlanes(t, cp.admin)[id]
		le, _ := n["last_error"].(map[string]any)
		return le != nil && strings.Contains(fmt.Sprint(le), "cluster_max_payload")
	})
	if !strings.Contains(cp.Log(), "cluster_max_payload") {
		t.Errorf("the control plane did not log the refused push")
	}
}

// randomText fills b with random letters.
func randomText(b []byte) {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	seed := uint64(time.Now().UnixNano())
	for i := range b {
		seed ^= seed << 13
		seed ^= seed >> 7
		seed ^= seed << 17
		b[i] = letters[seed%uint64(len(letters))]
	}
}
