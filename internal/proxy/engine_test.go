package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Behaviours of the plain listeners that the tests written for any
// listener do not reach: 100-continue, pipelining, connection counts, and
// a client that goes away while its request is upstream.

func TestExpectContinueIsAnsweredByTheProxy(t *testing.T) {
	up := startEcho(t, "a")
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf("services:\n  - url: %s\n    routes:\n      - paths: [/]\n", up.URL))
	tr := &http.Transport{ExpectContinueTimeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for _, l := range g.plainListeners() {
		t.Run(l.name, func(t *testing.T) {
			for _, buffered := range []string{"small", strings.Repeat("large ", 20<<10)} {
				req, err := http.NewRequest("POST", l.url+"/expect", strings.NewReader(buffered))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Expect", "100-continue")
				start := time.Now()
				s := decodeSeen(t, do2(t, c, req))
				if time.Since(start) > 8*time.Second {
					t.Fatal("the client waited for its ExpectContinueTimeout: the proxy sent no 100 Continue")
				}
				if s.Body != buffered || s.Header.Get("Expect") != "" {
					t.Fatalf("upstream got %d bytes and Expect %q", len(s.Body), s.Header.Get("Expect"))
				}
			}
		})
	}
}

// do2 sends req and reads the whole response.
func do2(t *testing.T, c *http.Client, req *http.Request) response {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{Response: res, body: string(data)}
}

func TestPipelinedRequestsAreAnsweredInOrder(t *testing.T) {
	up := startEcho(t, "a")
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf("services:\n  - url: %s\n    routes:\n      - paths: [/]\n", up.URL))
	conn, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	var raw strings.Builder
	for i := range 5 {
		fmt.Fprintf(&raw, "POST /p%d HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n%02d", i, i)
	}
	io.WriteString(conn, raw.String())
	br := bufio.NewReader(conn)
	for i := range 5 {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(res.Body)
		var s seen
		if err := json.Unmarshal(body, &s); err != nil || s.URI != fmt.Sprintf("/p%d", i) || s.Body != fmt.Sprintf("%02d", i) {
			t.Fatalf("response %d: %s", i, body)
		}
	}
}

func TestStatusCountsEngineConnections(t *testing.T) {
	up := startEcho(t, "a")
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf("services:\n  - url: %s\n    routes:\n      - paths: [/]\n", up.URL))
	c := newClient(t)
	server := func() map[string]any {
		t.Helper()
		var v map[string]any
		if err := json.Unmarshal([]byte(get(t, c, g.status+"/status").body), &v); err != nil {
			t.Fatal(err)
		}
		return v["server"].(map[string]any)
	}
	conn, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("%v %v", res, err)
	}
	// The connection is kept alive, waiting for its next request.
	eventually(t, "the idle connection to be counted", func() bool {
		s := server()
		return s["connections_active"].(float64) == 1 && s["connections_waiting"].(float64) == 1 &&
			s["connections_accepted"].(float64) == 1
	})
	conn.Close()
	eventually(t, "the closed connection to be uncounted", func() bool {
		s := server()
		return s["connections_active"].(float64) == 0 && s["connections_waiting"].(float64) == 0
	})
	metrics := get(t, c, g.status+"/metrics").body
	if !strings.Contains(metrics, `kong_nginx_connections_total{state="accepted"} 1`+"\n") {
		t.Fatalf("/metrics:\n%s", metrics)
	}
}

func TestClientGoneAbortsTheUpstreamRequest(t *testing.T) {
	// An upstream that reads the request and never answers, and reports
	// when the proxy closes the connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	arrived, closed := make(chan struct{}, 1), make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		if _, err := http.ReadRequest(bufio.NewReader(conn)); err != nil {
			return
		}
		arrived <- struct{}{}
		io.Copy(io.Discard, conn)
		closed <- struct{}{}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf("services:\n  - name: s\n    url: http://%s\n    routes:\n      - name: r\n        paths: [/]\n", ln.Addr()))
	// net/http watches the client while its request is upstream.
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", g.h2cURL+"/hang", nil)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() {
		res, err := newClient(t).Do(req)
		if err == nil {
			res.Body.Close()
		}
		errs <- err
	}()
	<-arrived
	cancel()
	<-errs
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request outlived its client")
	}
	eventually(t, "the request to be counted as 499", func() bool {
		return strings.Contains(get(t, newClient(t), g.status+"/metrics").body, `route="r",code="499"} 1`)
	})
}
