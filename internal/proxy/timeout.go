package proxy

import (
	"context"
	"io"
	"net/http/httptrace"
	"sync"
	"time"
)

// The phases of one attempt, in the order they happen. Each has its own
// timeout, as in nginx's proxy module, which Kong's service timeouts set.
const (
	phaseConnect  = iota // TCP connection and TLS handshake: connect_timeout
	phaseWrite           // sending the request: write_timeout between two writes
	phaseRead            // waiting for the response: read_timeout
	phaseAnswered        // the response arrived; its body reads time themselves
)

// attemptTimer enforces a service's timeouts on one attempt through
// net/http's Transport (gRPC over HTTP/2; HTTP/1.1 attempts time out by
// connection deadlines in the http1 client instead): it cancels
// the attempt's context with errUpstreamTimeout when the phase the attempt
// is in lasts longer than its timeout. Phases only move forward, so a
// dial the transport finishes for another request after this attempt got
// a pooled connection cannot re-arm the connect timeout.
type attemptTimer struct {
	svc   *serviceInfo
	timer *time.Timer

	mu    sync.Mutex
	phase int
	wrote bool // request headers were written: the upstream may have acted on it
}

// newAttemptTimer starts the timer of an attempt in the connect phase.
func newAttemptTimer(svc *serviceInfo, cancel context.CancelCauseFunc) *attemptTimer {
	return &attemptTimer{svc: svc, timer: time.AfterFunc(ms(svc.connectTimeout), func() { cancel(errUpstreamTimeout) })}
}

// trace moves the timer through the phases as the transport reports them.
func (a *attemptTimer) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		ConnectStart:      func(string, string) { a.restart(phaseConnect, phaseConnect) },
		TLSHandshakeStart: func() { a.restart(phaseConnect, phaseConnect) },
		GotConn:           func(httptrace.GotConnInfo) { a.restart(phaseConnect, phaseWrite) },
		WroteHeaders: func() {
			a.mu.Lock()
			a.wrote = true
			a.mu.Unlock()
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { a.restart(phaseWrite, phaseRead) },
	}
}

// restart enters phase next, and restarts its timeout, when the attempt is
// at most in phase from; otherwise the event came late and changes
// nothing.
func (a *attemptTimer) restart(from, next int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.phase > from {
		return
	}
	a.phase = next
	switch next {
	case phaseConnect:
		a.timer.Reset(ms(a.svc.connectTimeout))
	case phaseWrite:
		a.timer.Reset(ms(a.svc.writeTimeout))
	case phaseRead:
		a.timer.Reset(ms(a.svc.readTimeout))
	}
}

// bodyProgress records that a chunk of the request body went out: the
// write timeout counts from the last one.
func (a *attemptTimer) bodyProgress() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.phase == phaseWrite {
		a.timer.Reset(ms(a.svc.writeTimeout))
	}
}

// answered ends the timing of the attempt's request: the response arrived
// (or the attempt failed). The timer is stopped; body reads use it again.
func (a *attemptTimer) answered() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.phase = phaseAnswered
	a.timer.Stop()
}

// sent reports whether any of the request reached the upstream's
// connection, after which a non-idempotent request must not be sent
// again.
func (a *attemptTimer) sent() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.wrote
}

// stop releases the timer for good.
func (a *attemptTimer) stop() { a.timer.Stop() }

// read reads the response body with read_timeout running only while the
// read waits: time spent writing to a slow client is not the upstream's.
func (a *attemptTimer) read(r io.Reader, b []byte) (int, error) {
	a.timer.Reset(ms(a.svc.readTimeout))
	n, err := r.Read(b)
	a.timer.Stop()
	return n, err
}

// timedResponseBody is a response body read under read_timeout.
type timedResponseBody struct {
	r io.Reader
	a *attemptTimer
}

func (t *timedResponseBody) Read(b []byte) (int, error) { return t.a.read(t.r, b) }

// timedRequestBody is a streamed request body whose every chunk restarts
// write_timeout, so a long upload that keeps moving is never cut.
type timedRequestBody struct {
	r io.Reader
	a *attemptTimer
}

func (t *timedRequestBody) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	if n > 0 {
		t.a.bodyProgress()
	}
	return n, err
}

// Close leaves the client's body open: another attempt may still need it
// (see onceBody).
func (t *timedRequestBody) Close() error { return nil }
