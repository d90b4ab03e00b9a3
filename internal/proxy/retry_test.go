package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// rawUpstream accepts connections on loopback and hands each to handle,
// counting them, until the test ends.
func rawUpstream(t *testing.T, handle func(net.Conn)) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var hits atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String(), &hits
}

// hangUp reads a request's head, and as much of its body as bodyBytes
// says, then closes the connection without answering.
func hangUp(bodyBytes int) func(net.Conn) {
	return func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		io.CopyN(io.Discard, req.Body, int64(bodyBytes))
	}
}

func TestRetriesGoToAnotherTarget(t *testing.T) {
	good := startEcho(t, "good")
	refused := closedAddr(t)
	config := func(retries int) string {
		return fmt.Sprintf(`services:
  - name: s
    host: backend
    retries: %d
    routes:
      - paths: [/]
upstreams:
  - name: backend
    targets:
      - target: %s
      - target: %s
`, retries, refused, good.addr)
	}
	g := startGateway(t, Options{})
	c := newClient(t)

	g.apply(t, config(0))
	codes := map[int]int{}
	for range 6 {
		codes[get(t, c, g.url+"/").StatusCode]++
	}
	if codes[502] == 0 || codes[200] == 0 || codes[502]+codes[200] != 6 {
		t.Fatalf("retries=0: statuses %v, want some 502 (the refusing target) and some 200", codes)
	}

	g.apply(t, config(1))
	for i := range 6 {
		if s := decodeSeen(t, get(t, c, g.url+"/")); s.Upstream != "good" {
			t.Fatalf("request %d served by %s", i, s.Upstream)
		}
		body := fmt.Sprintf("small body %d %s", i, strings.Repeat("x", 1000))
		s := decodeSeen(t, do(t, c, "POST", g.url+"/", strings.NewReader(body)))
		if s.Body != body || s.ContentLength != int64(len(body)) {
			t.Fatalf("retried POST %d reached the upstream with %d bytes (Content-Length %d), want %d",
				i, len(s.Body), s.ContentLength, len(body))
		}
	}
}

func TestRequestsSentAreRetriedOnlyWhenIdempotent(t *testing.T) {
	good := startEcho(t, "good")
	hungUp, hits := rawUpstream(t, hangUp(1<<20))
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`services:
  - name: s
    host: backend
    retries: 5
    routes:
      - paths: [/]
upstreams:
  - name: backend
    targets:
      - target: %s
      - target: %s
`, hungUp, good.addr))
	c := newClient(t)

	// A GET the upstream dropped is sent again, to the other target.
	for i := range 4 {
		if res := get(t, c, g.url+"/"); res.StatusCode != 200 {
			t.Fatalf("GET %d: %d %s", i, res.StatusCode, res.body)
		}
	}
	if hits.Load() == 0 {
		t.Fatal("no request went to the target that hangs up: the test proves nothing")
	}

	// A POST it dropped may have been acted on: nginx, and so Kong, do
	// not send it again.
	before, goodBefore := hits.Load(), good.hits.Load()
	failed := 0
	for range 4 {
		res := do(t, c, "POST", g.url+"/", strings.NewReader("order=1"))
		switch res.StatusCode {
		case 200:
		case 502:
			failed++
		default:
			t.Fatalf("POST: %d %s", res.StatusCode, res.body)
		}
	}
	if dropped := int(hits.Load() - before); failed != dropped || failed == 0 {
		t.Fatalf("%d POSTs were dropped by the upstream and %d failed: a dropped POST was sent again", dropped, failed)
	}
	if served := good.hits.Load() - goodBefore; served != int64(4-failed) {
		t.Fatalf("the good target served %d POSTs, want %d", served, 4-failed)
	}
}

func TestPartlySentStreamIsNotRetried(t *testing.T) {
	addr, hits := rawUpstream(t, hangUp(100))
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`services:
  - url: http://%s
    retries: 5
    routes:
      - paths: [/]
        request_buffering: false
`, addr))
	// PUT is idempotent: only the consumed body forbids another attempt.
	// The client keeps uploading until it has its answer.
	pr, pw := io.Pipe()
	go func() {
		chunk := []byte(strings.Repeat("a", 4096))
		for {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
	}()
	res := do(t, newClient(t), "PUT", g.url+"/upload", pr)
	pr.Close()
	wantKongError(t, res, 502, "An invalid response was received from the upstream server")
	if n := hits.Load(); n != 1 {
		t.Fatalf("the upstream got %d attempts of a body that could not be sent again", n)
	}
}
