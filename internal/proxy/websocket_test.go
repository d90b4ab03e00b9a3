package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWebSocketUpgrade(t *testing.T) {
	var mu sync.Mutex
	var upgradeHeaders http.Header
	// An upstream that completes the upgrade, greets the client first,
	// then echoes every byte back upper-cased.
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		upgradeHeaders = r.Header.Clone()
		mu.Unlock()
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nwelcome")
		brw.Flush()
		buf := make([]byte, 1024)
		for {
			n, err := brw.Read(buf)
			if n > 0 {
				conn.Write([]byte(strings.ToUpper(string(buf[:n]))))
			}
			if err != nil {
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	g := startGateway(t, Options{Headers: HeadersFromSetting([]string{"server_tokens"})})
	g.apply(t, fmt.Sprintf("services:\n  - url: %s\n    routes:\n      - paths: [/ws]\n", up.URL))

	dialers := []struct {
		name string
		dial func() (net.Conn, error)
	}{
		{"plain", func() (net.Conn, error) { return net.Dial("tcp", g.addr) }},
		{"plain net/http", func() (net.Conn, error) { return net.Dial("tcp", g.h2cAddr) }},
		{"TLS", func() (net.Conn, error) {
			return tls.Dial("tcp", g.tlsAddr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
		}},
	}
	for _, d := range dialers {
		t.Run(d.name, func(t *testing.T) {
			conn, err := d.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			// The first bytes of the tunnel ride in the same packet as the
			// request: the proxy must pass on what it buffered.
			fmt.Fprintf(conn, "GET /ws/chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"+
				"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nearly ")
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 101 || res.Header.Get("Sec-WebSocket-Accept") == "" ||
				!strings.EqualFold(res.Header.Get("Upgrade"), "websocket") || res.Header.Get("Via") == "" {
				t.Fatalf("upgrade response: %d %v", res.StatusCode, res.Header)
			}
			read := func(want string) {
				t.Helper()
				got := make([]byte, len(want))
				if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
					t.Fatalf("read %q: %v, want %q", got, err, want)
				}
			}
			read("welcome") // upstream to client, unprompted
			read("EARLY ")
			for _, msg := range []string{"hello", "world", strings.Repeat("x", 64<<10)} {
				if _, err := conn.Write([]byte(msg)); err != nil {
					t.Fatal(err)
				}
				read(strings.ToUpper(msg))
			}
			mu.Lock()
			h := upgradeHeaders
			mu.Unlock()
			if !strings.EqualFold(h.Get("Upgrade"), "websocket") || !strings.EqualFold(h.Get("Connection"), "upgrade") ||
				h.Get("Sec-Websocket-Key") != "dGhlIHNhbXBsZSBub25jZQ==" || h.Get("X-Forwarded-For") == "" {
				t.Fatalf("upstream got upgrade headers %v", h)
			}
		})
	}
}
