package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// holdingUpstream answers /hold only once the test releases it, and
// everything else at once; both answers name the upstream.
type holdingUpstream struct {
	*httptest.Server
	name    string
	addr    string
	held    chan string // receives the upstream's name when a /hold arrives
	release chan struct{}
}

func startHolding(t *testing.T, name string, held chan string, release chan struct{}) *holdingUpstream {
	t.Helper()
	h := &holdingUpstream{name: name, held: held, release: release}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			h.held <- name
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(h.Close)
	h.addr = strings.TrimPrefix(h.URL, "http://")
	return h
}

// inFlight sends a GET in the background; the result arrives on the
// returned channel.
func inFlight(t *testing.T, c *http.Client, url string) <-chan response {
	t.Helper()
	out := make(chan response, 1)
	go func() {
		res, err := c.Get(url)
		if err != nil {
			out <- response{body: "error: " + err.Error()}
			return
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		out <- response{Response: res, body: string(body)}
	}()
	return out
}

func TestSwapLetsRequestsInFlightFinish(t *testing.T) {
	held, release := make(chan string, 1), make(chan struct{})
	old := startHolding(t, "old", held, release)
	next := startEcho(t, "new")
	g := startGateway(t, Options{})
	config := "services:\n  - name: s\n    url: %s\n    routes:\n      - name: r\n        paths: [/]\n"
	g.apply(t, fmt.Sprintf(config, old.URL))
	firstHash := g.p.Current().Hash
	c := newClient(t)

	pending := inFlight(t, c, g.url+"/hold")
	<-held
	g.apply(t, fmt.Sprintf(config, next.URL))
	if g.p.Current().Hash == firstHash {
		t.Fatal("the new configuration has the old hash")
	}
	if s := decodeSeen(t, get(t, c, g.url+"/after")); s.Upstream != "new" {
		t.Fatalf("a request after the swap went to %s", s.Upstream)
	}
	close(release)
	res := <-pending
	if res.Response == nil || res.StatusCode != 200 || res.body != "old" {
		t.Fatalf("the request in flight during the swap: %+v %q", res.Response, res.body)
	}
}

func TestRefusedConfigurationKeepsTheOldOne(t *testing.T) {
	up := startEcho(t, "a")
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`services:
  - name: s
    url: %s
    routes:
      - id: 3f1c2b4a-5d6e-4f70-8a91-b2c3d4e5f607
        name: r-a
        paths: [/a]
`, up.URL))
	hash := g.p.Current().Hash
	c := newClient(t)
	decodeSeen(t, get(t, c, g.url+"/a"))

	// The route is renamed and its service gets a plugin no node runs yet.
	refused := fmt.Sprintf(`services:
  - name: s
    url: %s
    plugins:
      - name: key-auth
        config:
          key_names: [apikey]
    routes:
      - id: 3f1c2b4a-5d6e-4f70-8a91-b2c3d4e5f607
        name: r-renamed
        paths: [/a, /b]
`, up.URL)
	cfg := parseConfig(t, refused)
	err := g.p.Apply(cfg)
	var ce *CompileError
	if !errors.As(err, &ce) || len(ce.Problems) != 1 {
		t.Fatalf("Apply = %v, want a CompileError with one problem", err)
	}
	pluginID := cfg.Entities["plugins"][0].ID()
	if p := ce.Problems[0].String(); !strings.Contains(p, "plugins "+pluginID+" (key-auth)") || !strings.Contains(p, "not available") {
		t.Fatalf("the problem does not name the plugin entity: %q", p)
	}
	if g.p.Current().Hash != hash {
		t.Fatal("a refused configuration replaced the served one")
	}
	decodeSeen(t, get(t, c, g.url+"/a"))
	if res := get(t, c, g.url+"/b"); res.StatusCode != 404 {
		t.Fatalf("a route of the refused configuration answers: %d", res.StatusCode)
	}
	// The metrics of the route still served keep counting under its name.
	metrics := get(t, c, g.status+"/metrics").body
	if !strings.Contains(metrics, `kong_http_requests_total{service="s",route="r-a",code="200"} 2`) {
		t.Fatalf("/metrics after a refused configuration:\n%s", metrics)
	}
	if strings.Contains(metrics, "r-renamed") {
		t.Fatalf("/metrics shows a route of the refused configuration:\n%s", metrics)
	}
}

func TestBalancerStateSurvivesASwap(t *testing.T) {
	t.Run("least-connections in-flight counts", func(t *testing.T) {
		held, release := make(chan string, 1), make(chan struct{})
		a := startHolding(t, "a", held, release)
		b := startHolding(t, "b", held, release)
		g := startGateway(t, Options{})
		config := `services:
  - name: s
    host: backend
    routes:
      - paths: [/]
%supstreams:
  - name: backend
    algorithm: least-connections
    targets:
      - target: %s
      - target: %s
`
		g.apply(t, fmt.Sprintf(config, "", a.addr, b.addr))
		c := newClient(t)
		pending := inFlight(t, c, g.url+"/hold")
		busy := <-held
		servedBy := func() map[string]int {
			n := map[string]int{}
			for range 4 {
				res := get(t, c, g.url+"/quick")
				if res.StatusCode != 200 {
					t.Fatalf("quick request: %d %s", res.StatusCode, res.body)
				}
				n[res.body]++
			}
			return n
		}
		if n := servedBy(); n[busy] != 0 {
			t.Fatalf("least-connections sent %v while %s had a request in flight", n, busy)
		}
		// A swap that keeps the upstream keeps its balancer and its count.
		g.apply(t, fmt.Sprintf(config, "  - name: other\n    url: http://127.0.0.1:1\n    routes:\n      - paths: [/other]\n", a.addr, b.addr))
		if n := servedBy(); n[busy] != 0 {
			t.Fatalf("after the swap least-connections sent %v while %s still had a request in flight", n, busy)
		}
		close(release)
		if res := <-pending; res.Response == nil || res.StatusCode != 200 || res.body != busy {
			t.Fatalf("held request: %+v %q", res.Response, res.body)
		}
		// Its end is counted by the shared balancer: both serve again.
		if n := servedBy(); n["a"] == 0 || n["b"] == 0 {
			t.Fatalf("after the held request ended: %v", n)
		}
	})

	t.Run("passive health", func(t *testing.T) {
		good := startEcho(t, "good")
		dead := closedAddr(t)
		g := startGateway(t, Options{})
		config := `services:
  - name: s
    host: backend
    retries: 0
    routes:
      - paths: [%s]
upstreams:
  - name: backend
    healthchecks:
      passive:
        unhealthy:
          tcp_failures: 1
    targets:
      - target: %s
      - target: %s
`
		g.apply(t, fmt.Sprintf(config, "/", dead, good.addr))
		c := newClient(t)
		failures := 0
		for range 4 {
			if get(t, c, g.url+"/x").StatusCode == 502 {
				failures++
			}
		}
		if failures != 1 {
			t.Fatalf("%d failures, want exactly one before the dead target is taken out", failures)
		}
		g.apply(t, fmt.Sprintf(config, "/, /y", dead, good.addr))
		for i := range 6 {
			if res := get(t, c, g.url+"/y"); res.StatusCode != 200 {
				t.Fatalf("request %d after the swap: %d: the dead target's health was forgotten", i, res.StatusCode)
			}
		}
	})
}

func TestConcurrentSwapsAndTraffic(t *testing.T) {
	a, b := startEcho(t, "a"), startEcho(t, "b")
	g := startGateway(t, Options{})
	config := "services:\n  - name: s\n    url: %s\n    routes:\n      - paths: [/]\n"
	g.apply(t, fmt.Sprintf(config, a.URL))
	c := newClient(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := c.Get(g.url + "/")
				if err != nil {
					errs <- err.Error()
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					errs <- fmt.Sprint("status ", res.StatusCode)
					return
				}
			}
		})
	}
	for i := range 50 {
		target := a.URL
		if i%2 == 1 {
			target = b.URL
		}
		g.apply(t, fmt.Sprintf(config, target))
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("a request during swaps failed: %s", e)
	}
}
