package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/gantry-gw/gantry/internal/declarative"
)

// BenchmarkProxyHTTP1 drives requests through the proxy over loopback the
// way bench/proxy does: keep-alive client connections, a plain listener
// served as a node serves it, and a trivial keep-alive upstream. The client
// and the upstream are written not to allocate, so allocs/op is the
// proxy's.
func BenchmarkProxyHTTP1(b *testing.B) {
	up := startRawUpstream(b)
	p, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	cfg, err := declarative.Parse(fmt.Appendf(nil, "_format_version: \"3.0\"\nservices:\n  - name: s\n    url: http://%s\n    routes:\n      - paths: [/]\n", up))
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Apply(cfg); err != nil {
		b.Fatal(err)
	}
	addr := servePlainForBench(b, p)
	req := []byte("GET /api/items/42 HTTP/1.1\r\nHost: bench.example\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer conn.Close()
		br := bufio.NewReaderSize(conn, 4096)
		for pb.Next() {
			if _, err := conn.Write(req); err != nil {
				b.Error(err)
				return
			}
			if err := readBenchResponse(br); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// readBenchResponse reads one response with a Content-Length body and
// checks that it is a 200.
func readBenchResponse(br *bufio.Reader) error {
	n := -1
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if first {
			if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
				return fmt.Errorf("status line %q", line)
			}
			first = false
			continue
		}
		if len(line) <= 2 {
			break
		}
		if len(line) > 16 && bytes.EqualFold(line[:15], []byte("Content-Length:")) {
			n, err = strconv.Atoi(string(bytes.TrimSpace(line[15:])))
			if err != nil {
				return err
			}
		}
	}
	if n < 0 {
		return fmt.Errorf("no Content-Length")
	}
	_, err := br.Discard(n)
	return err
}

// startRawUpstream starts a keep-alive upstream that answers every request
// head with a fixed 200 of 13 bytes, as bench/proxy's nginx does, and
// returns its address. Request bodies are not expected.
func startRawUpstream(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nhello, world\n")
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				buf := make([]byte, 16<<10)
				have := 0
				for {
					n, err := c.Read(buf[have:])
					if err != nil {
						return
					}
					have += n
					// Answer every complete head in the buffer.
					for {
						i := bytes.Index(buf[:have], []byte("\r\n\r\n"))
						if i < 0 {
							break
						}
						if _, err := c.Write(resp); err != nil {
							return
						}
						have = copy(buf, buf[i+4:have])
					}
					if have == len(buf) {
						return
					}
				}
			})
		}
	})
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// servePlainForBench serves p on a plain loopback listener the way a node
// serves a plain proxy_listen, until the benchmark ends.
func servePlainForBench(tb testing.TB, p *Proxy) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := p.NewHTTP1Server()
	srv.MaxHeaderBytes = 32 << 10
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		srv.Close()
		<-done
	})
	return ln.Addr().String()
}
