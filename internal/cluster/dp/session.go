package dp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gantry-gw/gantry/internal/cluster"
)

// session is one connection to the control plane: a reader that takes
// frames off the wire, an apply loop that applies the newest
// configuration, and the heartbeat. It ends when the link drops or the
// client stops; the next connection is a new session.
type session struct {
	c        *Client
	conn     *websocket.Conn
	log      *slog.Logger
	readWait time.Duration
	pending  latest

	// writeMu makes the reader (sending Rejected for a frame it cannot
	// decode) and the apply loop (Applied, Rejected) take turns: a
	// WebSocket allows one writer at a time. Control frames need no lock.
	writeMu sync.Mutex

	failMu sync.Mutex
	// failErr is the first write error; it ends the session, and is a
	// better reason than the read error the closed connection causes.
	failErr error
}

func newSession(c *Client, conn *websocket.Conn) *session {
	return &session{
		c:        c,
		conn:     conn,
		log:      c.log,
		readWait: c.opts.PingInterval * 3 / 2,
		pending:  latest{ready: make(chan struct{}, 1)},
	}
}

// endReason says why a session ended, for the "disconnected" log line.
type endReason struct {
	text    string
	attrs   []any
	serious bool // logged as an error: the node will not get in sync by itself
}

// serve runs the session until the link drops or ctx ends, and returns
// why it ended. Every goroutine it starts has ended when it returns; an
// apply in progress is finished first.
func (s *session) serve(ctx context.Context) endReason {
	if err := s.hello(); err != nil {
		s.conn.Close()
		return endReason{text: fmt.Sprintf("send hello: %v", err)}
	}
	s.ping()
	s.c.connected.Store(true)

	readErr := make(chan error, 1)
	go func() { readErr <- s.readLoop() }()
	stop := make(chan struct{})
	applyDone := make(chan struct{})
	go func() {
		defer close(applyDone)
		s.applyLoop(stop)
	}()

	ticker := time.NewTicker(s.c.opts.PingInterval)
	var reason endReason
loop:
	for {
		select {
		case <-ctx.Done():
			s.close(readErr)
			reason = endReason{text: "the data plane is shutting down"}
			break loop
		case err := <-readErr:
			// A read that failed because a write failed first and closed
			// the connection is better explained by the write.
			if ferr := s.failed(); ferr != nil && errors.Is(err, net.ErrClosed) {
				err = ferr
			}
			reason = s.describe(err)
			break loop
		case <-ticker.C:
			s.ping()
		}
	}
	ticker.Stop()
	s.conn.Close()
	s.c.connected.Store(false)
	close(stop)
	<-applyDone
	return reason
}

// hello sends the node's Hello: who it is, what it can run, what it runs.
func (s *session) hello() error {
	hash, version := s.c.Current()
	frame, err := cluster.Encode(&cluster.Hello{
		ProtocolVersion: cluster.ProtocolVersion,
		NodeID:          s.c.opts.NodeID,
		Hostname:        s.c.opts.Hostname,
		Version:         s.c.opts.Version,
		Labels:          s.c.opts.Labels,
		Plugins:         s.c.plugins,
		ConfigHash:      hash,
		ConfigVersion:   version,
	})
	if err != nil {
		return err
	}
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return s.conn.WriteMessage(websocket.BinaryMessage, frame)
}

// ping sends the heartbeat: a ping whose payload is the config hash the
// node serves now. The control plane records it as the node's hash.
func (s *session) ping() {
	hash, _ := s.c.Current()
	if err := s.conn.WriteControl(websocket.PingMessage, []byte(hash), time.Now().Add(writeTimeout)); err != nil {
		s.fail(fmt.Errorf("send ping: %w", err))
	}
}

// send writes one data plane message as a binary frame.
func (s *session) send(m any) {
	frame, err := cluster.Encode(m)
	if err != nil {
		s.log.Error("cannot encode a message to the control plane", "error", err)
		return
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := s.conn.WriteMessage(websocket.BinaryMessage, frame); err != nil {
		s.fail(fmt.Errorf("send %T: %w", m, err))
	}
}

// fail ends the session after a write error: a WebSocket that failed a
// write cannot be written to again. Closing the connection makes the
// reader return.
func (s *session) fail(err error) {
	s.failMu.Lock()
	if s.failErr == nil {
		s.failErr = err
	}
	s.failMu.Unlock()
	s.conn.Close()
}

// failed returns the write error that ended the session, if one did.
func (s *session) failed() error {
	s.failMu.Lock()
	defer s.failMu.Unlock()
	return s.failErr
}

// readLoop reads frames until the link fails. Every frame, ping and pong
// gives the control plane another 1.5 ping intervals; past that the link
// is considered dead. Configurations are decoded here, so that a frame
// that cannot be applied never displaces a good one waiting, and handed to
// the apply loop.
func (s *session) readLoop() error {
	extend := func() { s.conn.SetReadDeadline(time.Now().Add(s.readWait)) }
	s.conn.SetPongHandler(func(string) error {
		extend()
		return nil
	})
	s.conn.SetPingHandler(func(data string) error {
		extend()
		err := s.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
		var ne net.Error
		if err == nil || errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	maxDecompressed := int64(s.c.opts.MaxPayload) * cluster.DecompressionFactor
	for {
		extend()
		typ, frame, err := s.conn.ReadMessage()
		if err != nil {
			return err
		}
		if typ != websocket.BinaryMessage {
			s.log.Error("ignored a text frame from the control plane: every message must be a binary frame", "bytes", len(frame))
			continue
		}
		r, err := cluster.DecodeReconfigure(frame, maxDecompressed)
		if err != nil {
			s.invalidFrame(frame, maxDecompressed, err)
			continue
		}
		s.pending.put(r)
	}
}

// invalidFrame reports a binary frame that is not a valid Reconfigure:
// always in the log, and to the control plane as a Rejected when the
// frame says which version it was.
func (s *session) invalidFrame(frame []byte, maxDecompressed int64, err error) {
	version, hash, ok := peekVersion(frame, maxDecompressed)
	if !ok {
		s.log.Error("ignored an invalid frame from the control plane", "bytes", len(frame), "error", err)
		return
	}
	s.log.Error("rejected an invalid configuration frame from the control plane",
		"config_version", version, "config_hash", hash, "bytes", len(frame), "error", err)
	s.send(&cluster.Rejected{
		ConfigVersion: version,
		ConfigHash:    hash,
		Message:       err.Error(),
		Errors:        []cluster.EntityError{{Message: err.Error()}},
	})
}

// close ends the link cleanly on shutdown: a close frame with code 1000,
// then a short wait for the control plane's answer, which ends the reader.
func (s *session) close(readErr <-chan error) {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "data plane shutting down")
	if s.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeTimeout)) == nil {
		t := time.NewTimer(closeTimeout)
		select {
		case <-readErr:
			t.Stop()
			return
		case <-t.C:
		}
	}
	s.conn.Close()
	<-readErr
}

// describe turns the error that ended the reader into a reason for the
// log.
func (s *session) describe(err error) endReason {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		attrs := []any{"close_code", ce.Code, "close_reason", ce.Text}
		switch ce.Code {
		case cluster.CloseVersionIncompatible:
			return endReason{text: "the control plane refused this node's version: " + ce.Text, attrs: attrs, serious: true}
		case cluster.CloseProtocolError:
			return endReason{text: "the control plane reported a protocol error: " + ce.Text, attrs: attrs, serious: true}
		case cluster.CloseTimeout:
			return endReason{text: "the control plane heard nothing from this node for 1.5 ping intervals", attrs: attrs}
		case cluster.CloseReplaced:
			return endReason{text: "replaced by a newer connection with the same node id", attrs: attrs}
		}
		return endReason{text: "the control plane closed the connection", attrs: attrs}
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		return endReason{
			text:    fmt.Sprintf("the control plane sent a frame larger than cluster_max_payload (%d bytes)", s.c.opts.MaxPayload),
			serious: true,
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return endReason{text: fmt.Sprintf("nothing from the control plane for %s", s.readWait)}
	}
	return endReason{text: err.Error()}
}
