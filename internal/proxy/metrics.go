package proxy

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latencyBucketsMs are the histogram bounds, in milliseconds, of Kong's
// Prometheus plugin, so existing dashboards read Gantry's metrics.
var latencyBucketsMs = []float64{1, 2, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100,
	200, 300, 400, 500, 1000, 2000, 5000, 10000, 30000, 60000}

// histogram counts observations into latencyBucketsMs with atomics only.
type histogram struct {
	buckets []atomic.Uint64 // one per bound, then +Inf
	count   atomic.Uint64
	sumUs   atomic.Uint64 // microseconds, to keep precision with integers
}

func newHistogram() *histogram {
	return &histogram{buckets: make([]atomic.Uint64, len(latencyBucketsMs)+1)}
}

func (h *histogram) observe(d time.Duration) {
	ms := float64(d) / float64(time.Millisecond)
	i, _ := slices.BinarySearch(latencyBucketsMs, ms)
	h.buckets[i].Add(1)
	h.count.Add(1)
	h.sumUs.Add(uint64(d / time.Microsecond))
}

// routeMetrics are the counters of one route. They live in the registry,
// not in a runtime, so a configuration swap that keeps the route keeps its
// counts.
type routeMetrics struct {
	route, service string

	mu    sync.RWMutex
	codes map[int]*atomic.Uint64

	total    *histogram // request latency: first byte in to last byte out
	upstream *histogram // from the upstream request to its response headers
	proxy    *histogram // the proxy's own time (total minus upstream)
}

// count records one response status.
func (m *routeMetrics) count(status int) {
	m.mu.RLock()
	c := m.codes[status]
	m.mu.RUnlock()
	if c == nil {
		m.mu.Lock()
		if c = m.codes[status]; c == nil {
			c = new(atomic.Uint64)
			m.codes[status] = c
		}
		m.mu.Unlock()
	}
	c.Add(1)
}

// metricsRegistry holds the metrics of every route served, by route id.
type metricsRegistry struct {
	mu     sync.Mutex
	routes map[string]*routeMetrics
	// noRoute counts requests no route matched, by status.
	noRoute *routeMetrics
}

func newMetricsRegistry() *metricsRegistry {
	return &metricsRegistry{routes: map[string]*routeMetrics{}, noRoute: newRouteMetrics("", "")}
}

func newRouteMetrics(route, service string) *routeMetrics {
	return &routeMetrics{route: route, service: service, codes: map[int]*atomic.Uint64{},
		total: newHistogram(), upstream: newHistogram(), proxy: newHistogram()}
}

// route returns the metrics a route of a configuration being compiled
// counts into: those of the route served now when its name and its
// service's name are unchanged, so counts carry across swaps, else new
// ones. The registry itself changes only when keep commits the
// configuration: a refused configuration leaves the served routes'
// metrics as they are.
func (r *metricsRegistry) route(id, name string, svc *serviceInfo) *routeMetrics {
	label := name
	if label == "" {
		label = id
	}
	service := ""
	if svc != nil {
		service = svc.name
		if service == "" {
			service = svc.id
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.routes[id]; m != nil && m.route == label && m.service == service {
		return m
	}
	return newRouteMetrics(label, service)
}

// keep makes the routes of rt, which was just swapped in, the ones the
// registry reports; the metrics of routes it no longer serves are dropped.
func (r *metricsRegistry) keep(rt *Runtime) {
	routes := make(map[string]*routeMetrics, len(rt.routes))
	for _, ri := range rt.routes {
		routes[ri.id] = ri.metrics
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes = routes
}

// write renders the route metrics in Prometheus text format, with Kong's
// metric names.
func (r *metricsRegistry) write(w io.Writer) {
	r.mu.Lock()
	all := make([]*routeMetrics, 0, len(r.routes)+1)
	for _, m := range r.routes {
		all = append(all, m)
	}
	r.mu.Unlock()
	slices.SortFunc(all, func(a, b *routeMetrics) int {
		return strings.Compare(a.service+"\x00"+a.route, b.service+"\x00"+b.route)
	})
	all = append(all, r.noRoute)

	fmt.Fprintln(w, "# HELP kong_http_requests_total HTTP status codes per service and route.")
	fmt.Fprintln(w, "# TYPE kong_http_requests_total counter")
	for _, m := range all {
		m.mu.RLock()
		codes := make([]int, 0, len(m.codes))
		for c := range m.codes {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		for _, c := range codes {
			fmt.Fprintf(w, "kong_http_requests_total{service=%s,route=%s,code=\"%d\"} %d\n",
				quote(m.service), quote(m.route), c, m.codes[c].Load())
		}
		m.mu.RUnlock()
	}
	writeHistograms(w, "kong_request_latency_ms", "Total latency of requests, from the first byte received to the last byte sent.", all, func(m *routeMetrics) *histogram { return m.total })
	writeHistograms(w, "kong_upstream_latency_ms", "Latency of the upstream, from sending the request to its response headers.", all, func(m *routeMetrics) *histogram { return m.upstream })
	writeHistograms(w, "kong_kong_latency_ms", "Latency added by the proxy itself.", all, func(m *routeMetrics) *histogram { return m.proxy })
}

func writeHistograms(w io.Writer, name, help string, all []*routeMetrics, pick func(*routeMetrics) *histogram) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	for _, m := range all {
		h := pick(m)
		n := h.count.Load()
		if n == 0 {
			continue
		}
		labels := "service=" + quote(m.service) + ",route=" + quote(m.route)
		var cum uint64
		for i, bound := range latencyBucketsMs {
			cum += h.buckets[i].Load()
			fmt.Fprintf(w, "%s_bucket{%s,le=\"%s\"} %d\n", name, labels, strconv.FormatFloat(bound, 'f', -1, 64), cum)
		}
		cum += h.buckets[len(latencyBucketsMs)].Load()
		fmt.Fprintf(w, "%s_bucket{%s,le=\"+Inf\"} %d\n", name, labels, cum)
		fmt.Fprintf(w, "%s_sum{%s} %s\n", name, labels, strconv.FormatFloat(float64(h.sumUs.Load())/1000, 'f', -1, 64))
		fmt.Fprintf(w, "%s_count{%s} %d\n", name, labels, n)
	}
}

// quote renders a Prometheus label value.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}
