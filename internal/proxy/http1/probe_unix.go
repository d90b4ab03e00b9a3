//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package http1

import (
	"crypto/tls"
	"syscall"
)

// alive checks an idle connection without blocking: a connection the
// upstream closed reads as the end of input (or an error), and one it sent
// something on unasked (a plain connection) cannot carry a new exchange.
// A TLS connection may hold records the upstream sent after the
// handshake, so only its end counts.
func (cc *ClientConn) alive() bool {
	conn := cc.conn
	tc, isTLS := conn.(*tls.Conn)
	if isTLS {
		conn = tc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
		case err != nil || n == 0:
			alive = false
		default:
			alive = isTLS
		}
		return true
	})
	return alive && err == nil
}
