package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"

	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/proxy/balancer"
)

// StatusHandler serves the status listener (Kong's status_listen):
//
//	GET /status        connections, requests, config hash, memory
//	GET /status/ready  200 once a non-empty configuration is served, 503 before
//	GET /metrics       Prometheus text: requests and latencies by service and
//	                   route, upstream target health, connections
func (p *Proxy) StatusHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", p.handleStatus)
	mux.HandleFunc("GET /status/ready", p.handleReady)
	mux.HandleFunc("GET /metrics", p.handleMetrics)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatusJSON(w, http.StatusNotFound, map[string]any{"message": "Not found"})
	})
	return mux
}

// configHash is the hash of the served configuration, 32 zeros before the
// first one.
func (p *Proxy) configHash() string {
	if rt := p.current.Load(); rt != nil {
		return rt.Hash
	}
	return declarative.EmptyHash
}

func (p *Proxy) handleStatus(w http.ResponseWriter, r *http.Request) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	writeStatusJSON(w, http.StatusOK, map[string]any{
		"configuration_hash": p.configHash(),
		"server":             p.connCounts().ServerStatus(p.requests.Load()),
		"memory": map[string]any{
			"heap_alloc_bytes": m.HeapAlloc,
			"sys_bytes":        m.Sys,
			"goroutines":       runtime.NumGoroutine(),
		},
	})
}

func (p *Proxy) handleReady(w http.ResponseWriter, r *http.Request) {
	if !p.Ready() {
		writeStatusJSON(w, http.StatusServiceUnavailable, map[string]any{"message": "no configuration available (empty configuration present)"})
		return
	}
	writeStatusJSON(w, http.StatusOK, map[string]any{"message": "ready"})
}

func (p *Proxy) handleMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	p.metrics.write(w)
	c := p.connCounts()
	fmt.Fprintln(w, "# HELP kong_nginx_connections_total Connections of the proxy listeners by state.")
	fmt.Fprintln(w, "# TYPE kong_nginx_connections_total gauge")
	for _, s := range []struct {
		state string
		n     uint64
	}{{"accepted", c.Accepted}, {"active", uint64(c.Active)}, {"handled", c.Accepted},
		{"reading", 0}, {"waiting", uint64(c.Waiting)}, {"writing", uint64(c.Writing)}} {
		fmt.Fprintf(w, "kong_nginx_connections_total{state=%q} %d\n", s.state, s.n)
	}
	fmt.Fprintln(w, "# HELP kong_nginx_requests_total Requests the proxy received.")
	fmt.Fprintln(w, "# TYPE kong_nginx_requests_total counter")
	fmt.Fprintf(w, "kong_nginx_requests_total %d\n", p.requests.Load())
	fmt.Fprintln(w, "# HELP kong_upstream_target_health Health of each upstream target address (1 for the state it is in).")
	fmt.Fprintln(w, "# TYPE kong_upstream_target_health gauge")
	if rt := p.current.Load(); rt != nil {
		for _, b := range rt.balancers.Balancers() {
			for _, t := range b.Health() {
				// As Kong's Prometheus plugin: every state of every
				// target, 1 for the one it is in.
				for _, state := range targetStates {
					v := 0
					if t.State == state {
						v = 1
					}
					fmt.Fprintf(w, "kong_upstream_target_health{upstream=%s,target=%s,address=%s,state=%s} %d\n",
						quote(b.Name()), quote(t.Target), quote(t.Address), quote(state), v)
				}
			}
		}
	}
}

// targetStates are the states kong_upstream_target_health reports, in
// Kong's order.
var targetStates = []string{balancer.StateHealthchecksOff, balancer.StateHealthy, balancer.StateUnhealthy, balancer.StateDNSError}

func writeStatusJSON(w http.ResponseWriter, status int, v any) {
	data, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}
