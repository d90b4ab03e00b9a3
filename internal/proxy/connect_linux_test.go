package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// fullBacklogAddr returns the address of a socket that listens with a
// backlog of zero and never accepts: once one connection fills its queue,
// Linux drops further SYNs, so connecting to it times out instead of being
// refused.
func fullBacklogAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the queue until a connection attempt hangs.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return addr
			}
			t.Fatalf("fill the backlog: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		if i > 16 {
			t.Skip("the kernel keeps accepting connections past the backlog")
		}
	}
}

func TestConnectTimeout(t *testing.T) {
	addr := fullBacklogAddr(t)

	// The dialer alone honours the connect_timeout the request carries.
	ctx := context.WithValue(context.Background(), connectTimeoutKey{}, int64(150))
	start := time.Now()
	_, err := dialContext(ctx, "tcp", addr)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("dial: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("dial gave up after %v, connect_timeout is 150 ms", d)
	}

	// Through the proxy, read and write timeouts stay at 60 s.
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`services:
  - url: http://%s
    connect_timeout: 150
    retries: 0
    routes:
      - paths: [/]
`, addr))
	start = time.Now()
	wantKongError(t, get(t, newClient(t), g.url+"/"), 504, "The upstream server is timing out")
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("504 after %v, connect_timeout is 150 ms", d)
	}
}
