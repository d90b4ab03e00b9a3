package proxybench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// upstreamBody is what the upstream answers to every request: small, so
// the benchmark measures per-request work, not bytes copied.
const upstreamBody = "hello, world\n"

// upstreamStatusPath serves nginx's stub_status on the upstream: its
// accepted-connections counter shows whether a proxy keeps its upstream
// connections alive.
const upstreamStatusPath = "/__bench_upstream_status"

// upstreamConf is the upstream nginx: one worker that answers 200 with a
// fixed body, no access log, connections kept alive for as long as a run
// lasts (Kong's perf suite uses the same upstream).
func upstreamConf(dir string, port int) string {
	return fmt.Sprintf(`# Upstream for bench/proxy: return 200 with a small body.
worker_processes 1;
daemon off;
pid %[1]s/upstream.pid;
error_log %[1]s/upstream-error.log warn;
events {
    worker_connections 16384;
}
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    default_type text/plain;
    client_body_temp_path %[1]s/upstream-body;
    server {
        listen 127.0.0.1:%[2]d backlog=4096;
        location / {
            return 200 %[3]q;
        }
        location = %[4]s {
            stub_status;
        }
    }
}
`, dir, port, upstreamBody, upstreamStatusPath)
}

// nginxProxyConf is the reference reverse proxy: one worker, HTTP/1.1 with
// keep-alive to the upstream and a pool at least as large as any client
// concurrency the harness uses (a smaller pool opens connections per
// request and measures the pool, not the proxy).
func nginxProxyConf(dir string, port, upstreamPort int) string {
	return fmt.Sprintf(`# Reverse proxy for bench/proxy: the reference the gateway is compared with.
worker_processes 1;
daemon off;
pid %[1]s/proxy.pid;
error_log %[1]s/proxy-error.log warn;
events {
    worker_connections 16384;
}
http {
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path %[1]s/proxy-body;
    proxy_temp_path %[1]s/proxy-temp;
    upstream backend {
        server 127.0.0.1:%[3]d;
        keepalive 1024;
        keepalive_requests 100000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:%[2]d backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, dir, port, upstreamPort)
}

// startNginx writes conf into dir and runs nginx with it on cpu, then
// waits until probePath answers 200.
func startNginx(ctx context.Context, t tools, cpu int, dir, name, conf string, port int, probePath string) (*process, error) {
	confPath := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", confPath, err)
	}
	p, err := startPinned(t.taskset, cpu, name, filepath.Join(dir, name+".log"), nil,
		t.nginx, "-p", dir, "-e", filepath.Join(dir, name+"-error.log"), "-c", confPath)
	if err != nil {
		return nil, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d%s", port, probePath)
	if _, err := waitHTTP(ctx, p, url, "", 200, 10*time.Second); err != nil {
		p.stop(time.Second)
		return nil, fmt.Errorf("%s did not start: %w\n%s", name, err, p.logTail(10))
	}
	return p, nil
}

// stubStatus is the part of nginx's stub_status the harness uses.
type stubStatus struct {
	accepts, requests int64
}

// parseStubStatus reads nginx's stub_status page:
//
//	Active connections: 1
//	server accepts handled requests
//	 2 2 2
//	Reading: 0 Writing: 1 Waiting: 0
func parseStubStatus(page string) (stubStatus, error) {
	lines := strings.Split(page, "\n")
	for i, line := range lines {
		if strings.TrimSpace(line) != "server accepts handled requests" || i+1 >= len(lines) {
			continue
		}
		f := strings.Fields(lines[i+1])
		if len(f) != 3 {
			break
		}
		accepts, err1 := strconv.ParseInt(f[0], 10, 64)
		requests, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			break
		}
		return stubStatus{accepts: accepts, requests: requests}, nil
	}
	return stubStatus{}, fmt.Errorf("parse stub_status: unexpected page %q", page)
}
