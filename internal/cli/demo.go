package cli

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"time"
)

// demoUpstream is the echo server `gantry quickstart` runs so that a
// request through the proxy has somewhere to go on a machine without
// network: it answers every request with what it received, as JSON, like
// httpbin's /anything.
type demoUpstream struct {
	srv  *http.Server
	addr string
}

func startDemoUpstream(addr string) (*demoUpstream, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		headers := map[string]string{}
		for k := range r.Header {
			headers[k] = r.Header.Get(k)
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{
			"upstream":   "gantry quickstart demo upstream",
			"method":     r.Method,
			"uri":        r.RequestURI,
			"host":       r.Host,
			"headers":    headers,
			"body_bytes": n,
		})
	})}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			ln.Close()
		}
	}()
	return &demoUpstream{srv: srv, addr: ln.Addr().String()}, nil
}

func (d *demoUpstream) close() { d.srv.Close() }
