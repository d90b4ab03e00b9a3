package proxy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

func TestStatusEndpoints(t *testing.T) {
	up := startEcho(t, "a")
	g := startGateway(t, Options{})
	c := newClient(t)
	status := func() map[string]any {
		t.Helper()
		res := get(t, c, g.status+"/status")
		var v map[string]any
		if err := json.Unmarshal([]byte(res.body), &v); err != nil || res.StatusCode != 200 {
			t.Fatalf("/status: %d %s", res.StatusCode, res.body)
		}
		return v
	}

	if h := status()["configuration_hash"]; h != strings.Repeat("0", 32) {
		t.Fatalf("configuration_hash before any configuration = %v", h)
	}
	if res := get(t, c, g.status+"/status/ready"); res.StatusCode != 503 {
		t.Fatalf("/status/ready before any configuration = %d", res.StatusCode)
	}

	dead := closedAddr(t)
	config := fmt.Sprintf(`services:
  - name: s
    url: %s
    routes:
      - name: r
        paths: [/ok]
  - name: balanced
    host: backend
    retries: 0
    routes:
      - name: b
        paths: [/balanced]
upstreams:
  - name: backend
    targets:
      - target: %s
  - name: checked
    healthchecks:
      passive:
        unhealthy:
          tcp_failures: 1
    targets:
      - target: %s
`, up.URL, up.addr, dead)
	g.apply(t, config)
	want := parseConfig(t, config).Hash().Config
	if h := status()["configuration_hash"]; h != want || want == strings.Repeat("0", 32) {
		t.Fatalf("configuration_hash = %v, want %s", h, want)
	}
	if res := get(t, c, g.status+"/status/ready"); res.StatusCode != 200 {
		t.Fatalf("/status/ready with a configuration = %d", res.StatusCode)
	}

	for range 3 {
		decodeSeen(t, get(t, c, g.url+"/ok"))
	}
	get(t, c, g.url+"/missing")
	decodeSeen(t, get(t, c, g.url+"/balanced"))

	if n := status()["server"].(map[string]any)["total_requests"].(float64); n < 5 {
		t.Fatalf("total_requests = %v after 5 requests", n)
	}
	metrics := get(t, c, g.status+"/metrics").body
	for _, line := range []string{
		`kong_http_requests_total{service="s",route="r",code="200"} 3`,
		`kong_http_requests_total{service="balanced",route="b",code="200"} 1`,
		`kong_http_requests_total{service="",route="",code="404"} 1`,
		`kong_request_latency_ms_bucket{service="s",route="r",le="+Inf"} 3`,
		`kong_request_latency_ms_count{service="s",route="r"} 3`,
		`kong_upstream_latency_ms_count{service="s",route="r"} 3`,
		`kong_kong_latency_ms_count{service="s",route="r"} 3`,
		`kong_nginx_requests_total 5`,
		// Kong reports every target in each of its four states, 1 for the
		// one it is in.
		fmt.Sprintf(`kong_upstream_target_health{upstream="backend",target=%q,address=%q,state="healthchecks_off"} 1`, up.addr, up.addr),
		fmt.Sprintf(`kong_upstream_target_health{upstream="backend",target=%q,address=%q,state="healthy"} 0`, up.addr, up.addr),
		fmt.Sprintf(`kong_upstream_target_health{upstream="backend",target=%q,address=%q,state="unhealthy"} 0`, up.addr, up.addr),
		fmt.Sprintf(`kong_upstream_target_health{upstream="backend",target=%q,address=%q,state="dns_error"} 0`, up.addr, up.addr),
		fmt.Sprintf(`kong_upstream_target_health{upstream="checked",target=%q,address=%q,state="healthy"} 1`, dead, dead),
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}
	if res := get(t, c, g.status+"/nothing"); res.StatusCode != 404 {
		t.Fatalf("/nothing on the status listener: %d", res.StatusCode)
	}
}

func TestMetricsShowUnhealthyTargets(t *testing.T) {
	dead := closedAddr(t)
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`services:
  - host: checked
    retries: 0
    routes:
      - paths: [/]
upstreams:
  - name: checked
    healthchecks:
      passive:
        unhealthy:
          tcp_failures: 1
    targets:
      - target: %s
`, dead))
	c := newClient(t)
	get(t, c, g.url+"/")
	metrics := get(t, c, g.status+"/metrics").body
	for state, v := range map[string]int{"healthy": 0, "unhealthy": 1, "healthchecks_off": 0, "dns_error": 0} {
		line := fmt.Sprintf(`kong_upstream_target_health{upstream="checked",target=%q,address=%q,state=%q} %d`, dead, dead, state, v)
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}
}
