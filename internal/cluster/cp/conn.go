package cp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/entity"
)

// errShuttingDown refuses connections while the server closes.
var errShuttingDown = errors.New("control plane shutting down")

// protocolError is a frame or a silence the protocol does not allow; the
// connection is closed with cluster.CloseProtocolError and the reason.
type protocolError struct{ reason string }

func (e *protocolError) Error() string { return e.reason }

func protocolErrorf(format string, args ...any) error {
	return &protocolError{reason: fmt.Sprintf(format, args...)}
}

// Limits on text that comes from a data plane and goes to logs or a close
// frame.
const (
	// maxCloseReason is the longest close reason a close frame carries
	// (a control frame's 125 bytes, less the code).
	maxCloseReason = 123
	// maxLoggedReason bounds a protocol error's reason in logs: decoding
	// errors may quote what the peer sent.
	maxLoggedReason = 512
	// maxErrorMessage and maxErrorField bound the texts of a Rejected
	// kept on the node's row.
	maxErrorMessage = 4096
	maxErrorField   = 1024
	// maxDrain bounds what is read, and dropped, after a close frame while
	// waiting for the peer's.
	maxDrain = 2 * cluster.MaxDataPlaneFrame
)

// Handler returns the handler for cluster_listen: the WebSocket endpoint at
// cluster.OutletPath; every other path is a 404. The caller serves it over
// mutual TLS; a request without a client certificate is refused.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != cluster.OutletPath {
		writeJSON(w, http.StatusNotFound, "Not found")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeJSON(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	q := r.URL.Query()
	c := &conn{
		s:        s,
		id:       strings.ToLower(q.Get("node_id")),
		hostname: q.Get("node_hostname"),
		version:  q.Get("node_version"),
		remote:   r.RemoteAddr,
		wakeCh:   make(chan struct{}, 1),
		pongCh:   make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	switch {
	case c.id == "":
		writeJSON(w, http.StatusBadRequest, "node_id: required")
		return
	case !entity.IsUUID(c.id):
		writeJSON(w, http.StatusBadRequest, "node_id: expected a UUID")
		return
	case c.version == "":
		writeJSON(w, http.StatusBadRequest, "node_version: required")
		return
	case r.TLS == nil || len(r.TLS.PeerCertificates) == 0:
		writeJSON(w, http.StatusForbidden, "a client certificate is required")
		return
	}
	c.certExpiry = r.TLS.PeerCertificates[0].NotAfter
	c.ip = r.RemoteAddr
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		c.ip = host
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		writeJSON(w, http.StatusServiceUnavailable, errShuttingDown.Error())
		return
	}
	s.handlers.Add(1)
	s.mu.Unlock()

	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.handlers.Done()
		return // the upgrader answered
	}
	c.ws = ws
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ws.Close()
		s.handlers.Done()
		return
	}
	s.live[c] = struct{}{}
	s.mu.Unlock()
	// The connection is served from a goroutine of its own, so that the
	// HTTP server's state for the request (its buffers, the stack that
	// ran the TLS handshake) is freed now rather than kept for the life
	// of the connection.
	go func() {
		defer s.handlers.Done()
		c.serve()
	}()
}

// writeJSON answers {"message": msg}, the shape of the Admin API's errors.
func writeJSON(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(map[string]string{"message": msg})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// conn is one data plane connection. Its handler goroutine reads; a
// writer goroutine sends snapshots and pongs, woken through one-slot
// channels, so neither ever queues more than the latest of each.
type conn struct {
	s  *Server
	ws *websocket.Conn
	// What the request said; a Hello must say the same.
	id, hostname, version string
	ip, remote            string
	certExpiry            time.Time
	// plugins are the Hello's, set before the writer starts.
	plugins []cluster.Plugin

	wakeCh chan struct{} // a snapshot, or the node's hash, changed
	pongCh chan struct{} // a ping waits for its pong
	done   chan struct{} // closed when the reader has stopped

	mu sync.Mutex
	// reported is the config hash the node last said it serves.
	reported string
	// pong is the payload of the latest ping.
	pong string
	// closing is set once the connection is being closed; reason says
	// why, for the log.
	closing bool
	reason  string

	// sentHash is the hash of the last snapshot written; writer only.
	sentHash string
}

// serve runs the connection: the hello, the compatibility check, then
// reading until the connection ends. It returns once the connection is
// closed and its writer stopped.
func (c *conn) serve() {
	s := c.s
	defer s.unregister(c)
	defer c.ws.Close()

	hello, err := c.handshake()
	if err != nil {
		c.end(err)
		return
	}
	c.plugins = hello.Plugins
	c.setReported(hello.ConfigHash)
	now := s.now()
	replaced, err := s.register(c, cluster.DataPlane{
		ID:            c.id,
		Hostname:      c.hostname,
		IP:            c.ip,
		Version:       c.version,
		Labels:        hello.Labels,
		Plugins:       hello.Plugins,
		SyncStatus:    cluster.SyncUnknown,
		ConfigHash:    hello.ConfigHash,
		ConfigVersion: hello.ConfigVersion,
		LastSeen:      now,
		UpdatedAt:     now,
		CertExpiry:    c.certExpiry,
	})
	if err != nil {
		c.end(err)
		return
	}
	if replaced != nil {
		replaced.close(cluster.CloseReplaced, "replaced by a new connection of the same node from "+c.ip)
	}
	s.log.Info("data plane connected", "node_id", c.id, "hostname", c.hostname, "ip", c.ip, "version", c.version,
		"config_version", hello.ConfigVersion, "config_hash", hello.ConfigHash)

	if inc := cluster.CheckVersion(s.version, c.version); inc != nil {
		s.update(c, func(row *cluster.DataPlane) change {
			row.SyncStatus = inc.Status
			row.LastError = &cluster.NodeError{Kind: cluster.ErrorIncompatible, Message: inc.Reason}
			return rowChanged
		})
		s.log.Warn("data plane version incompatible", "node_id", c.id, "hostname", c.hostname,
			"version", c.version, "reason", inc.Reason)
		c.close(cluster.CloseVersionIncompatible, inc.Reason)
		c.end(nil)
		return
	}

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	err = c.readLoop()
	close(c.done)
	c.end(err)
	<-writerDone
}

// end closes the connection after the reader stopped with err, logs why,
// and waits, briefly, for the peer's close frame.
func (c *conn) end(err error) {
	log := c.s.log
	var pe *protocolError
	var ce *websocket.CloseError
	var ne net.Error
	c.mu.Lock()
	closing, reason := c.closing, c.reason
	c.mu.Unlock()
	switch {
	case closing:
		// We closed it; reason says why.
	case errors.As(err, &pe):
		reason = shorten(pe.reason, maxLoggedReason)
		log.Warn("data plane protocol error", "node_id", c.id, "remote_addr", c.remote, "reason", reason)
		c.close(cluster.CloseProtocolError, reason)
	case errors.Is(err, websocket.ErrReadLimit):
		reason = fmt.Sprintf("a frame larger than %d bytes", cluster.MaxDataPlaneFrame)
		log.Warn("data plane protocol error", "node_id", c.id, "remote_addr", c.remote, "reason", reason)
		// The WebSocket library has sent close code 1009 already.
		c.close(websocket.CloseMessageTooBig, reason)
	case errors.As(err, &ce):
		// The WebSocket library has answered the peer's close frame.
		reason = fmt.Sprintf("closed by the data plane (%d %s)", ce.Code, shorten(ce.Text, maxCloseReason))
		c.close(0, reason)
	case errors.As(err, &ne) && ne.Timeout():
		reason = fmt.Sprintf("no frame for %s", c.s.pingWait())
		c.close(cluster.CloseTimeout, reason)
	case errors.Is(err, errShuttingDown):
		reason = err.Error()
		c.close(websocket.CloseGoingAway, reason)
	default:
		reason = fmt.Sprintf("connection lost: %v", err)
		c.close(0, reason)
	}
	if !errors.As(err, &ce) {
		// No close frame was read, so the closing handshake is not done:
		// read, and drop, what the peer still sends until it closes the
		// connection or the close timeout passes, so that closing our end
		// does not reset the connection before the peer reads our close
		// frame.
		io.Copy(io.Discard, io.LimitReader(c.ws.NetConn(), maxDrain))
	}
	log.Info("data plane disconnected", "node_id", c.id, "hostname", c.hostname, "remote_addr", c.remote, "reason", reason)
}

// close sends a close frame with code and reason (none when code is 0)
// and gives the peer closeTimeout to answer: the reader then stops. It may
// be called from any goroutine, and acts once.
func (c *conn) close(code int, reason string) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing, c.reason = true, reason
	c.ws.SetReadDeadline(time.Now().Add(closeTimeout))
	c.mu.Unlock()
	if code != 0 {
		msg := websocket.FormatCloseMessage(code, shorten(reason, maxCloseReason))
		c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeTimeout))
	}
}

// extendRead moves the read deadline d from now, unless the connection is
// closing; it reports whether it did.
func (c *conn) extendRead(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.ws.SetReadDeadline(time.Now().Add(d))
	return true
}

// handshake reads the Hello and checks it against the request.
func (c *conn) handshake() (*cluster.Hello, error) {
	timeout := time.Duration(c.s.helloTimeout.Load())
	c.ws.SetReadLimit(cluster.MaxDataPlaneFrame)
	c.ws.SetPingHandler(func(string) error { return protocolErrorf("a ping before the hello") })
	if !c.extendRead(timeout) {
		return nil, errShuttingDown
	}
	typ, data, err := c.ws.ReadMessage()
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout() && !c.isClosing():
		return nil, protocolErrorf("no hello within %s", timeout)
	case err != nil:
		return nil, err
	case typ != websocket.BinaryMessage:
		return nil, protocolErrorf("a text frame; every frame must be binary")
	}
	h, err := cluster.DecodeHello(data)
	switch {
	case err != nil:
		return nil, &protocolError{reason: err.Error()}
	case !strings.EqualFold(h.NodeID, c.id):
		return nil, protocolErrorf("hello node_id %q differs from the request's %q", h.NodeID, c.id)
	case h.Hostname != c.hostname:
		return nil, protocolErrorf("hello hostname %q differs from the request's %q", h.Hostname, c.hostname)
	case h.Version != c.version:
		return nil, protocolErrorf("hello version %q differs from the request's %q", h.Version, c.version)
	}
	return h, nil
}

func (c *conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// pingWait is how long a data plane may stay silent.
func (s *Server) pingWait() time.Duration { return s.ping * 3 / 2 }

// readLoop reads the data plane's frames after its Hello until the
// connection fails, is closed, or breaks the protocol.
func (c *conn) readLoop() error {
	s := c.s
	wait := s.pingWait()
	c.ws.SetPingHandler(func(payload string) error {
		if !cluster.ValidHash(payload) {
			return protocolErrorf("ping payload %q is not a config hash", payload)
		}
		if !c.extendRead(wait) {
			return errShuttingDown
		}
		c.seen(payload)
		c.mu.Lock()
		c.pong = payload
		c.mu.Unlock()
		signal(c.pongCh)
		return nil
	})
	for {
		if !c.extendRead(wait) {
			return errShuttingDown
		}
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			return err
		}
		if typ != websocket.BinaryMessage {
			return protocolErrorf("a text frame; every frame must be binary")
		}
		msg, err := cluster.DecodeDataPlaneMessage(data)
		if err != nil {
			return &protocolError{reason: err.Error()}
		}
		switch m := msg.(type) {
		case *cluster.Applied:
			c.applied(m)
		case *cluster.Rejected:
			c.rejected(m)
		}
	}
}

// seen records a ping: the node is alive and serves the config hash.
func (c *conn) seen(hash string) {
	now := c.s.now()
	if c.setReported(hash) {
		c.wake()
	}
	c.s.update(c, func(row *cluster.DataPlane) change {
		row.LastSeen = now
		if row.ConfigHash == hash {
			return lastSeenOnly
		}
		row.ConfigHash = hash
		return rowChanged
	})
}

// applied records that the node serves a configuration. It clears the
// node's error when that is about an earlier version.
func (c *conn) applied(m *cluster.Applied) {
	now := c.s.now()
	if c.setReported(m.ConfigHash) {
		c.wake()
	}
	c.s.update(c, func(row *cluster.DataPlane) change {
		row.LastSeen = now
		row.ConfigHash, row.ConfigVersion = m.ConfigHash, m.ConfigVersion
		if e := row.LastError; e != nil && e.Kind != cluster.ErrorIncompatible && m.ConfigVersion > e.ConfigVersion {
			row.LastError = nil
		}
		return rowChanged
	})
	c.s.log.Info("config applied", "node_id", c.id, "hostname", c.hostname,
		"config_version", m.ConfigVersion, "config_hash", m.ConfigHash)
}

// rejected records that the node refused a configuration and keeps the
// one it had. The texts are bounded, so that a node's row stays small
// whatever the node sends.
func (c *conn) rejected(m *cluster.Rejected) {
	now := c.s.now()
	errs := make([]cluster.EntityError, len(m.Errors))
	for i, e := range m.Errors {
		errs[i] = cluster.EntityError{
			EntityType: shorten(e.EntityType, maxErrorField),
			EntityID:   shorten(e.EntityID, maxErrorField),
			EntityName: shorten(e.EntityName, maxErrorField),
			Field:      shorten(e.Field, maxErrorField),
			Message:    shorten(e.Message, maxErrorField),
		}
	}
	msg := shorten(m.Message, maxErrorMessage)
	c.s.update(c, func(row *cluster.DataPlane) change {
		row.LastSeen = now
		row.LastError = &cluster.NodeError{Kind: cluster.ErrorRejected, Message: msg,
			ConfigVersion: m.ConfigVersion, ConfigHash: m.ConfigHash, Errors: errs}
		return rowChanged
	})
	c.s.log.Warn("config rejected", "node_id", c.id, "hostname", c.hostname,
		"config_version", m.ConfigVersion, "config_hash", m.ConfigHash,
		"message", shorten(msg, maxLoggedReason), "errors", errs)
}

// setReported records the hash the node serves and reports whether it
// changed.
func (c *conn) setReported(hash string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reported == hash {
		return false
	}
	c.reported = hash
	return true
}

func (c *conn) reportedHash() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reported
}

// wake asks the writer to look at the latest snapshot again.
func (c *conn) wake() { signal(c.wakeCh) }

// signal fills a one-slot channel unless it is full already.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// writeLoop sends the latest snapshot whenever woken, and pongs. A
// snapshot waiting when a pong is due goes first, so that a pong tells
// the data plane it has been sent what there was to send.
func (c *conn) writeLoop() {
	c.sync()
	for {
		select {
		case <-c.done:
			return
		case <-c.wakeCh:
			c.sync()
		case <-c.pongCh:
			select {
			case <-c.wakeCh:
				c.sync()
			default:
			}
			c.mu.Lock()
			payload := c.pong
			c.mu.Unlock()
			if err := c.ws.WriteControl(websocket.PongMessage, []byte(payload), time.Now().Add(c.s.writeTimeout())); err != nil {
				c.close(0, fmt.Sprintf("cannot send a pong: %v", err))
				return
			}
		}
	}
}

// writeTimeout bounds the write of one frame.
func (s *Server) writeTimeout() time.Duration { return max(minWriteTimeout, s.pingWait()) }

// sync brings the node up to the latest snapshot: it checks the node can
// run it, records the outcome on the node, and sends the snapshot unless
// the node cannot take it, already serves it, or was already sent it.
func (c *conn) sync() {
	s := c.s
	s.mu.Lock()
	snap := s.current
	s.mu.Unlock()
	reported := c.reportedHash()
	inc := cluster.CheckPlugins(snap.plugins, s.plugins, c.plugins)

	var was cluster.SyncStatus
	s.update(c, func(row *cluster.DataPlane) change {
		was = row.SyncStatus
		before := row.LastError
		switch {
		case inc != nil:
			row.SyncStatus = inc.Status
			row.LastError = &cluster.NodeError{Kind: cluster.ErrorIncompatible, Message: inc.Reason,
				ConfigVersion: snap.version, ConfigHash: snap.hash}
		case reported == snap.hash:
			row.SyncStatus = cluster.SyncNormal
			row.LastError = nil
		case snap.frame == nil:
			row.SyncStatus = cluster.SyncNormal
			row.LastError = &cluster.NodeError{Kind: cluster.ErrorPayloadTooLarge, Message: snap.tooLarge,
				ConfigVersion: snap.version, ConfigHash: snap.hash}
		default:
			row.SyncStatus = cluster.SyncNormal
			if row.LastError != nil && row.LastError.Kind != cluster.ErrorRejected {
				row.LastError = nil
			}
		}
		if row.SyncStatus != was || !sameError(before, row.LastError) {
			return rowChanged
		}
		return noChange
	})
	switch {
	case inc != nil && inc.Status != was:
		s.log.Warn("data plane cannot run the configuration; not sending it", "node_id", c.id, "hostname", c.hostname,
			"config_version", snap.version, "config_hash", snap.hash, "sync_status", inc.Status, "reason", inc.Reason)
	case inc == nil && (was == cluster.SyncPluginSetIncompatible || was == cluster.SyncPluginVersionIncompatible):
		s.log.Info("data plane can run the configuration again", "node_id", c.id, "hostname", c.hostname,
			"config_version", snap.version, "config_hash", snap.hash)
	}
	if inc != nil || snap.frame == nil || reported == snap.hash || c.sentHash == snap.hash {
		return
	}
	c.ws.SetWriteDeadline(time.Now().Add(s.writeTimeout()))
	if err := c.ws.WriteMessage(websocket.BinaryMessage, snap.frame); err != nil {
		c.close(0, fmt.Sprintf("cannot send the configuration: %v", err))
		return
	}
	c.sentHash = snap.hash
	s.log.Debug("config sent", "node_id", c.id, "hostname", c.hostname,
		"config_version", snap.version, "config_hash", snap.hash, "bytes", snap.size)
}

// sameError compares two node errors by what they say.
func sameError(a, b *cluster.NodeError) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Kind == b.Kind && a.Message == b.Message && a.ConfigVersion == b.ConfigVersion &&
		a.ConfigHash == b.ConfigHash && len(a.Errors) == len(b.Errors)
}

// shorten cuts s to at most n bytes, on a character boundary, marking the
// cut with "...".
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
