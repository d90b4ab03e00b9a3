package balancer

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// runActive probes, every interval until ctx ends, the addresses whose
// state is healthy (or unhealthy, per wantHealthy). Two loops run per
// upstream, one per state, as in lua-resty-healthcheck, so an unhealthy
// target can be probed often to bring it back while healthy ones are
// probed rarely, or not at all.
func (b *Balancer) runActive(ctx context.Context, interval time.Duration, wantHealthy bool) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			b.probeRound(ctx, wantHealthy)
		}
	}
}

// probeRound probes every weighted address in the wanted state, at most
// Concurrency at a time, and returns when all probes have. A round that
// overruns the interval delays the next one rather than piling up.
func (b *Balancer) probeRound(ctx context.Context, wantHealthy bool) {
	var due []*address
	for _, a := range b.ring.Load().addrs {
		// Kong does not check weight-0 targets: they take no traffic.
		if a.weight > 0 && a.healthy.Load() == wantHealthy {
			due = append(due, a)
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(b.up.Healthchecks.Active.Concurrency, len(due)) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(due)); i = next.Add(1) - 1 {
				k := b.probe(ctx, due[i])
				if ctx.Err() != nil {
					return // stopping: a cancelled probe says nothing
				}
				b.applyReport(due[i], &b.active, k, "active")
			}
		})
	}
	wg.Wait()
}

// probe checks one address and classifies the result the way
// lua-resty-healthcheck does: a timeout anywhere is a timeout, a failure to
// connect, complete the TLS handshake, send or read is a TCP failure, and
// an HTTP response is judged by its status. tcp checks succeed once
// connected. grpc and grpcs checks, which Kong leaves optional, are
// connection checks here (with a TLS handshake for grpcs) rather than
// calls to grpc.health.v1, which would need an HTTP/2 and protobuf stack
// the gateway does not otherwise carry.
func (b *Balancer) probe(ctx context.Context, a *address) report {
	cfg := &b.up.Healthchecks.Active
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	raw, err := b.opts.Dialer.DialContext(ctx, "tcp", a.addr)
	if err != nil {
		return failure(err)
	}
	defer raw.Close()
	// Reads and writes obey the deadline, not the context: close the
	// connection when the context ends so Stop need not wait out a slow
	// probe.
	defer context.AfterFunc(ctx, func() { raw.Close() })()
	if d, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(d) // a failure shows up as an I/O error below
	}
	conn := raw
	if cfg.Type == "https" || cfg.Type == "grpcs" {
		tc := tls.Client(raw, b.probeTLS(a))
		if err := tc.HandshakeContext(ctx); err != nil {
			return failure(err)
		}
		conn = tc
	}
	if cfg.Type != "http" && cfg.Type != "https" {
		return reportSuccess
	}

	req := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Opaque: cfg.HTTPPath},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header, len(cfg.Headers)),
		Host:       b.probeHost(a),
		Close:      true,
	}
	for name, values := range cfg.Headers {
		req.Header[http.CanonicalHeaderKey(name)] = values
	}
	if err := req.Write(conn); err != nil {
		return failure(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return failure(err)
	}
	_ = resp.Body.Close() // the status is all a probe needs
	return b.active.classifyStatus(resp.StatusCode)
}

// failure classifies a probe error as a timeout or a TCP failure.
func failure(err error) report {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()) {
		return reportTimeout
	}
	return reportTCPFailure
}

// probeHost is the Host header of http probes: the upstream's host_header,
// else the target's name or IP, as in lua-resty-healthcheck.
func (b *Balancer) probeHost(a *address) string {
	if a.target.header != "" {
		return a.target.header
	}
	return a.target.host
}

// probeTLS is the TLS configuration of one https probe: the upstream's base
// configuration with the server name https_sni, else the Host header's
// name, and verification as https_verify_certificate says.
func (b *Balancer) probeTLS(a *address) *tls.Config {
	var cfg *tls.Config
	if b.opts.TLSConfig != nil {
		cfg = b.opts.TLSConfig(b.up.ID)
	}
	if cfg == nil {
		cfg = &tls.Config{}
	} else {
		cfg = cfg.Clone()
	}
	cfg.ServerName = b.up.Healthchecks.Active.HTTPSSNI
	if cfg.ServerName == "" {
		cfg.ServerName = b.probeHost(a)
	}
	cfg.InsecureSkipVerify = !b.up.Healthchecks.Active.HTTPSVerifyCertificate
	return cfg
}
