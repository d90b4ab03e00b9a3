// Package admin serves Gantry's Admin API: Kong-compatible paths, bodies,
// pagination and error shapes over the configuration store, so decK, go-kong
// and curl scripts written for Kong work against a Gantry control plane.
package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/gantry-gw/gantry/internal/connstate"
	"github.com/gantry-gw/gantry/internal/store"
)

// Limits on request bodies: entity bodies are small; a declarative config
// may hold tens of thousands of entities.
const (
	maxEntityBody = 4 << 20
	maxConfigBody = 64 << 20
)

// NodeInfo is what GET / reports about the node.
type NodeInfo struct {
	// Version is the Kong Admin API version Gantry is compatible with;
	// clients such as decK read it to choose their formats.
	Version string
	// GantryVersion is Gantry's own release.
	GantryVersion string
	Hostname      string
	NodeID        string
	Role          string
	// Configuration is the node's settings with secrets removed.
	Configuration map[string]any
}

// Options configure a Server.
type Options struct {
	Store  *store.Store
	Info   NodeInfo
	Logger *slog.Logger
	// Cluster is the control plane's view of its data planes, served
	// under /clustering; nil (an untyped nil, not a nil *cp.Server) on a
	// node that is not a control plane.
	Cluster ClusterView
}

// Server is the Admin API.
type Server struct {
	store   *store.Store
	info    NodeInfo
	log     *slog.Logger
	cluster ClusterView
	mux     *http.ServeMux

	requests    atomic.Int64
	connections connstate.Counter
}

// New returns an Admin API server over opts.Store.
func New(opts Options) *Server {
	s := &Server{store: opts.Store, info: opts.Info, log: opts.Logger, cluster: opts.Cluster, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.routes()
	return s
}

// Handler returns the API's HTTP handler.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

// ConnState counts connections for GET /status; pass it to
// http.Server.ConnState.
func (s *Server) ConnState(c net.Conn, state http.ConnState) {
	s.connections.Track(c, state)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("admin handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
			writeJSON(w, http.StatusInternalServerError, map[string]any{"message": "An unexpected error occurred"})
		}
	}()
	// Kong serves /services/ like /services.
	if len(r.URL.Path) > 1 && strings.HasSuffix(r.URL.Path, "/") {
		r.URL.Path = strings.TrimRight(r.URL.Path, "/")
		if r.URL.Path == "" {
			r.URL.Path = "/"
		}
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		if s.pathKnown(r) {
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"message": "Method not allowed"})
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not found"})
		return
	}
	s.mux.ServeHTTP(w, r)
}

// pathKnown reports whether some method is routed for r's path, to answer
// 405 rather than 404.
func (s *Server) pathKnown(r *http.Request) bool {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" {
			return true
		}
	}
	return false
}

// apiError is an error with its HTTP status and Kong-shaped body.
type apiError struct {
	status int
	body   map[string]any
}

func (e *apiError) Error() string {
	msg, _ := e.body["message"].(string)
	return msg
}

func badRequest(msg string) error {
	return &apiError{status: http.StatusBadRequest, body: map[string]any{"message": msg}}
}

var errNotFound = &apiError{status: http.StatusNotFound, body: map[string]any{"message": "Not found"}}

// statusOf maps Kong's error codes to HTTP statuses as Kong's Admin API
// does.
var statusOf = map[int]int{
	store.CodeInvalidPrimaryKey: http.StatusBadRequest,
	store.CodeSchemaViolation:   http.StatusBadRequest,
	store.CodePrimaryKey:        http.StatusBadRequest,
	store.CodeForeignKey:        http.StatusBadRequest,
	store.CodeUnique:            http.StatusConflict,
	store.CodeNotFound:          http.StatusNotFound,
	store.CodeInvalidOffset:     http.StatusBadRequest,
	store.CodeInvalidSize:       http.StatusBadRequest,
	store.CodeDeclarative:       http.StatusBadRequest,
}

// writeError answers with err in Kong's shape: store errors carry their
// code, name, message and fields; anything unexpected is a 500 that is
// logged but not shown.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var se *store.Error
	switch {
	case errors.As(err, &ae):
		writeJSON(w, ae.status, ae.body)
	case errors.Is(err, errBodyTooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{"message": "request body too large"})
	case errors.As(err, &se):
		status, ok := statusOf[se.Code]
		if !ok {
			status = http.StatusInternalServerError
		}
		if se.Code == store.CodeNotFound && r.Method == http.MethodGet {
			writeJSON(w, status, map[string]any{"message": "Not found"})
			return
		}
		out := map[string]any{"code": se.Code, "name": se.Name, "message": se.Message}
		if se.Fields != nil {
			out["fields"] = se.Fields
		}
		for k, v := range se.Extra {
			out[k] = v
		}
		writeJSON(w, status, out)
	default:
		s.log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeJSON(w, http.StatusInternalServerError, map[string]any{"message": "An unexpected error occurred"})
	}
}

// writeJSON answers v as JSON. HTML characters are written as they are,
// as Kong writes them: a "next" link reads "?offset=x&size=2", not
// "\u0026size=2".
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"message":"An unexpected error occurred"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
