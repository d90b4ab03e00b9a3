package balancer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// steer picks the i-th address of an n-target test upstream by marking the
// others tried.
func steer(t *testing.T, b *Balancer, i, n int) Pick {
	t.Helper()
	p := mustPick(t, b, nil, otherAddrs(i, n)...)
	if want := ipTargets(make([]int, n)...)[i].Target; p.Addr != want {
		t.Fatalf("steered pick went to %s, want %s", p.Addr, want)
	}
	return p
}

func TestPassiveBreaker(t *testing.T) {
	cases := []struct {
		name    string
		set     func(*UnhealthyRule)
		outcome Outcome
		trips   int // outcomes before the target is unhealthy; 0: never
	}{
		{"http failures", func(r *UnhealthyRule) { r.HTTPFailures = 3 }, Outcome{Status: 500}, 3},
		{"503 counts", func(r *UnhealthyRule) { r.HTTPFailures = 2 }, Outcome{Status: 503}, 2},
		{"404 is not a passive failure", func(r *UnhealthyRule) { r.HTTPFailures = 1 }, Outcome{Status: 404}, 0},
		{"tcp failures", func(r *UnhealthyRule) { r.TCPFailures = 2 }, Outcome{Err: errors.New("connection refused")}, 2},
		{"timeouts", func(r *UnhealthyRule) { r.Timeouts = 4 }, Outcome{Err: errors.New("i/o timeout"), Timeout: true}, 4},
		{"timeouts not counted as tcp failures", func(r *UnhealthyRule) { r.TCPFailures = 1 },
			Outcome{Err: errors.New("i/o timeout"), Timeout: true}, 0},
		{"counter 0 disabled", func(r *UnhealthyRule) { r.TCPFailures = 1 }, Outcome{Status: 500}, 0},
		{"no response, no error", func(r *UnhealthyRule) { r.HTTPFailures = 1 }, Outcome{}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hc := DefaultHealthchecks()
			c.set(&hc.Passive.Unhealthy)
			b := newTestBalancer(t, Upstream{Healthchecks: hc, Targets: ipTargets(100, 100)}, Options{})
			for n := 1; n <= 10; n++ {
				steer(t, b, 0, 2).Done(c.outcome)
				healthy := healthOf(t, b, "10.0.0.1:80").Healthy
				if want := c.trips == 0 || n < c.trips; healthy != want {
					t.Fatalf("after %d outcomes healthy = %v, want %v", n, healthy, want)
				}
				if !healthy {
					break
				}
			}
			if c.trips == 0 {
				return
			}
			for range 20 {
				p := mustPick(t, b, nil)
				if p.Addr == "10.0.0.1:80" {
					t.Fatal("an unhealthy address was picked")
				}
				p.Done(Outcome{Status: 200})
			}
			if s := healthOf(t, b, "10.0.0.1:80").State; s != StateUnhealthy {
				t.Errorf("state %s", s)
			}
		})
	}
}

func TestPassiveCountsInARow(t *testing.T) {
	seq := []Outcome{{Status: 500}, {Status: 500}, {Status: 200}, {Status: 500}, {Status: 500}}
	t.Run("successes counted: a success resets failures", func(t *testing.T) {
		hc := passiveBreaker(3)
		hc.Passive.Healthy.Successes = 2
		b := newTestBalancer(t, Upstream{Healthchecks: hc, Targets: ipTargets(100, 100)}, Options{})
		for _, o := range seq {
			steer(t, b, 0, 2).Done(o)
		}
		if !healthOf(t, b, "10.0.0.1:80").Healthy {
			t.Fatal("two failures, a success and two failures tripped a limit of 3")
		}
		steer(t, b, 0, 2).Done(Outcome{Status: 500})
		if healthOf(t, b, "10.0.0.1:80").Healthy {
			t.Fatal("three failures in a row did not trip")
		}
	})
	t.Run("successes not counted: failures accumulate", func(t *testing.T) {
		// lua-resty-healthcheck ignores reports whose counter is disabled,
		// so with healthy.successes 0 a success resets nothing.
		b := newTestBalancer(t, Upstream{Healthchecks: passiveBreaker(3), Targets: ipTargets(100, 100)}, Options{})
		for _, o := range seq[:4] {
			steer(t, b, 0, 2).Done(o)
		}
		if healthOf(t, b, "10.0.0.1:80").Healthy {
			t.Fatal("three failures with a success between did not trip")
		}
	})
}

func TestPassiveRecovery(t *testing.T) {
	for _, successes := range []int{0, 1} {
		hc := passiveBreaker(1)
		hc.Passive.Healthy.Successes = successes
		b := newTestBalancer(t, Upstream{Healthchecks: hc, Targets: ipTargets(100, 100)}, Options{})
		// Two requests in flight to one address; the first fails.
		p1, p2 := steer(t, b, 0, 2), steer(t, b, 0, 2)
		p1.Done(Outcome{Status: 500})
		if healthOf(t, b, "10.0.0.1:80").Healthy {
			t.Fatal("not tripped")
		}
		p2.Done(Outcome{Status: 200})
		if got, want := healthOf(t, b, "10.0.0.1:80").Healthy, successes > 0; got != want {
			t.Errorf("healthy.successes=%d: healthy after a success = %v, want %v", successes, got, want)
		}
	}
}

// probeServer is an HTTP(S) server whose answer to health probes the test
// flips, and which records what probes send.
type probeServer struct {
	*httptest.Server
	status atomic.Int64
	hits   atomic.Int64
	mu     sync.Mutex
	last   *http.Request
}

func newProbeServer(t *testing.T, tlsServer bool) *probeServer {
	t.Helper()
	ps := &probeServer{}
	ps.status.Store(200)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.hits.Add(1)
		ps.mu.Lock()
		ps.last = r
		ps.mu.Unlock()
		w.WriteHeader(int(ps.status.Load()))
	})
	ps.Server = httptest.NewUnstartedServer(h)
	// Probes that fail verification on purpose make the server log
	// handshake errors; they are expected.
	ps.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsServer {
		ps.StartTLS()
	} else {
		ps.Start()
	}
	t.Cleanup(ps.Close)
	return ps
}

func (ps *probeServer) addr() string { return ps.Listener.Addr().String() }

func (ps *probeServer) lastRequest() *http.Request {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.last
}

// activeChecks returns health checks probing every 10 ms in both states,
// turning after two results either way.
func activeChecks(kind string) Healthchecks {
	hc := DefaultHealthchecks()
	a := &hc.Active
	a.Type = kind
	a.Healthy.Interval, a.Unhealthy.Interval = 10*time.Millisecond, 10*time.Millisecond
	a.Healthy.Successes = 2
	a.Unhealthy.HTTPFailures, a.Unhealthy.TCPFailures, a.Unhealthy.Timeouts = 2, 2, 2
	return hc
}

func TestActiveHTTP(t *testing.T) {
	srv := newProbeServer(t, false)
	hc := activeChecks("http")
	hc.Active.HTTPPath = "/status?deep=1"
	hc.Active.Headers = map[string][]string{"x-probe": {"gantry"}}
	b := newTestBalancer(t, Upstream{HostHeader: "api.internal", Healthchecks: hc,
		Targets: []Target{{ID: "t1", Target: srv.addr(), Weight: 100}}}, Options{})

	waitFor(t, "a probe", func() bool { return srv.hits.Load() > 0 })
	r := srv.lastRequest()
	if r.URL.RequestURI() != "/status?deep=1" || r.Host != "api.internal" || r.Header.Get("X-Probe") != "gantry" || r.Method != "GET" {
		t.Errorf("probe was %s %s Host=%s X-Probe=%q", r.Method, r.URL.RequestURI(), r.Host, r.Header.Get("X-Probe"))
	}

	srv.status.Store(500)
	waitFor(t, "the target to turn unhealthy", func() bool { return !healthOf(t, b, srv.addr()).Healthy })
	if _, err := b.Pick(nil, nil); !errors.Is(err, ErrNoHealthyTargets) {
		t.Fatalf("only target unhealthy: err = %v", err)
	}
	srv.status.Store(200)
	waitFor(t, "the target to turn healthy", func() bool { return healthOf(t, b, srv.addr()).Healthy })
	mustPick(t, b, nil).Done(Outcome{Status: 200})

	// A status in neither list changes nothing.
	srv.status.Store(418)
	hits := srv.hits.Load()
	waitFor(t, "more probes", func() bool { return srv.hits.Load() > hits+4 })
	if !healthOf(t, b, srv.addr()).Healthy {
		t.Error("an unlisted status made the target unhealthy")
	}
}

func TestActiveHTTPS(t *testing.T) {
	srv := newProbeServer(t, true)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	opts := Options{TLSConfig: func(string) *tls.Config { return &tls.Config{RootCAs: roots} }}

	good := activeChecks("https")
	good.Active.HTTPSSNI = "example.com" // in httptest's certificate
	bad := activeChecks("https")
	bad.Active.HTTPSSNI = "not-in-the-cert.test"
	insecure := bad
	insecure.Active.HTTPSVerifyCertificate = false
	target := []Target{{ID: "t1", Target: srv.addr(), Weight: 100}}
	s := newTestSet(t, opts,
		Upstream{Name: "good", Healthchecks: good, Targets: target},
		Upstream{Name: "bad", Healthchecks: bad, Targets: target},
		Upstream{Name: "insecure", Healthchecks: insecure, Targets: target})

	waitFor(t, "the unverifiable target to turn unhealthy", func() bool { return !healthOf(t, s.Get("bad"), srv.addr()).Healthy })
	hits := srv.hits.Load()
	waitFor(t, "more probes", func() bool { return srv.hits.Load() > hits+4 })
	if !healthOf(t, s.Get("good"), srv.addr()).Healthy {
		t.Error("a verified https target is unhealthy")
	}
	if !healthOf(t, s.Get("insecure"), srv.addr()).Healthy {
		t.Error("https_verify_certificate=false still verified")
	}
	srv.status.Store(503)
	waitFor(t, "the https target to turn unhealthy", func() bool { return !healthOf(t, s.Get("good"), srv.addr()).Healthy })
}

// tcpServer accepts and closes connections on a loopback port that the
// test can close and reopen.
type tcpServer struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	ln   net.Listener
	wg   sync.WaitGroup
}

func newTCPServer(t *testing.T) *tcpServer {
	ts := &tcpServer{t: t}
	ts.listen("127.0.0.1:0")
	t.Cleanup(ts.close)
	return ts
}

func (ts *tcpServer) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		ts.t.Fatalf("listen %s: %v", addr, err)
	}
	ts.mu.Lock()
	ts.ln, ts.addr = ln, ln.Addr().String()
	ts.mu.Unlock()
	ts.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
}

func (ts *tcpServer) close() {
	ts.mu.Lock()
	if ts.ln != nil {
		ts.ln.Close()
		ts.ln = nil
	}
	ts.mu.Unlock()
	ts.wg.Wait()
}

func TestActiveTCP(t *testing.T) {
	srv := newTCPServer(t)
	b := newTestBalancer(t, Upstream{Healthchecks: activeChecks("tcp"),
		Targets: []Target{{ID: "t1", Target: srv.addr, Weight: 100}}}, Options{})
	srv.close()
	waitFor(t, "the closed port to turn unhealthy", func() bool { return !healthOf(t, b, srv.addr).Healthy })
	srv.listen(srv.addr)
	waitFor(t, "the reopened port to turn healthy", func() bool { return healthOf(t, b, srv.addr).Healthy })
}

func TestActiveTimeout(t *testing.T) {
	// A server that accepts and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	defer func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	hc := activeChecks("http")
	hc.Active.Timeout = 30 * time.Millisecond
	hc.Active.Unhealthy.HTTPFailures, hc.Active.Unhealthy.TCPFailures = 0, 0 // only timeouts may trip
	b := newTestBalancer(t, Upstream{Healthchecks: hc, Targets: []Target{{ID: "t1", Target: ln.Addr().String(), Weight: 100}}}, Options{})
	waitFor(t, "the silent target to time out", func() bool { return !healthOf(t, b, ln.Addr().String()).Healthy })
}

func TestPassiveTripThenActiveRecovery(t *testing.T) {
	up, other := newProbeServer(t, false), newProbeServer(t, false)
	hc := DefaultHealthchecks()
	hc.Passive.Unhealthy.HTTPFailures = 1
	// Only unhealthy targets are probed: healthy.interval 0.
	hc.Active.Unhealthy.Interval = 10 * time.Millisecond
	hc.Active.Healthy.Successes = 3
	hc.Active.Unhealthy.HTTPFailures = 1
	b := newTestBalancer(t, Upstream{Healthchecks: hc, Targets: []Target{
		{ID: "a", Target: up.addr(), Weight: 100}, {ID: "b", Target: other.addr(), Weight: 100}}}, Options{})

	// The proxied request fails, the breaker trips at once.
	p := mustPick(t, b, nil, other.addr())
	p.Done(Outcome{Status: 500})
	if healthOf(t, b, up.addr()).Healthy {
		t.Fatal("passive failure did not trip")
	}
	// Active probes of the unhealthy target find it well again.
	waitFor(t, "active checks to restore the target", func() bool { return healthOf(t, b, up.addr()).Healthy })
	if n := up.hits.Load(); n < 3 {
		t.Errorf("restored after %d probes, want healthy.successes=3", n)
	}
	// Healthy targets are not probed, their interval being 0: trip the
	// target again, keep it failing, and watch only it get probed.
	up.status.Store(500)
	mustPick(t, b, nil, other.addr()).Done(Outcome{Status: 500})
	hits := up.hits.Load()
	waitFor(t, "probes of the unhealthy target", func() bool { return up.hits.Load() > hits+5 })
	if n := other.hits.Load(); n != 0 {
		t.Errorf("the healthy target was probed %d times with healthy.interval 0", n)
	}
	if healthOf(t, b, up.addr()).Healthy {
		t.Error("a target failing its probes turned healthy")
	}
}
