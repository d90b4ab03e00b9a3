package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gantry-gw/gantry/internal/conf"
	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/proxy"
)

// Limits on client requests, after the nginx settings Kong ships: headers
// up to 32 KiB in all, 60 s to send them, 60 s idle keep-alive, 60 s
// between two reads of a body (client_body_timeout; the HTTP/1.1 engine
// only, net/http leaves bodies to the proxy's upstream timeouts).
const (
	proxyMaxHeaderBytes    = 32 << 10
	proxyReadHeaderTimeout = 60 * time.Second
	proxyIdleTimeout       = 60 * time.Second
	proxyBodyTimeout       = 60 * time.Second
)

// loadDeclarative reads and parses a declarative file, with every error in
// the returned message, one per line.
func loadDeclarative(path string) (*declarative.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("declarative_config: %w", err)
	}
	cfg, err := declarative.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("declarative_config %s is invalid:\n%w", path, err)
	}
	return cfg, nil
}

// startDataPlane brings up a node that proxies traffic from a declarative
// configuration (DB-less mode): the proxy and status listeners, and a
// SIGHUP handler that reloads the file.
func (n *node) startDataPlane(cfg *conf.Config) error {
	p, err := n.newProxy(cfg)
	if err != nil {
		return err
	}
	if cfg.DeclarativeConfig != "" {
		dc, err := loadDeclarative(cfg.DeclarativeConfig)
		if err != nil {
			return err
		}
		if err := p.Apply(dc); err != nil {
			return fmt.Errorf("declarative_config %s: %w", cfg.DeclarativeConfig, err)
		}
		n.log.Log(context.Background(), levelNotice, "configuration loaded", "config_hash", p.Current().Hash,
			"entities", dc.Count(), "source", cfg.DeclarativeConfig)
		n.watchReload(cfg.DeclarativeConfig, p)
	}
	return n.serveProxyListeners(cfg, p)
}

// newProxy makes the node's proxy with the settings that shape it.
func (n *node) newProxy(cfg *conf.Config) (*proxy.Proxy, error) {
	p, err := proxy.New(proxy.Options{Logger: n.log, Headers: proxy.HeadersFromSetting(cfg.Headers)})
	if err != nil {
		return nil, err
	}
	n.proxy = p
	return p, nil
}

// serveProxyListeners opens proxy_listen and status_listen.
func (n *node) serveProxyListeners(cfg *conf.Config, p *proxy.Proxy) error {
	for _, l := range cfg.ProxyListen {
		if err := n.serveProxy(l, p); err != nil {
			return err
		}
	}
	for _, l := range cfg.StatusListen {
		addr, err := n.serveHTTP("status_listen", l, p.StatusHandler(), nil, nil)
		if err != nil {
			return err
		}
		n.statusAddrs = append(n.statusAddrs, addr)
	}
	return nil
}

// storePollInterval is how often a traditional node checks its store for
// writes made by another process (gantry config import).
const storePollInterval = 5 * time.Second

// followStore feeds the proxy of a traditional node from its own store: the
// configuration at start, then a new one after every write, coalesced.
// A configuration the proxy refuses is logged and the previous one keeps
// serving, as on a data plane.
func (n *node) followStore(p *proxy.Proxy) {
	ctx, cancel := context.WithCancel(context.Background())
	kick := make(chan struct{}, 1)
	n.store.OnChange(func(int64) {
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	var applied int64 = -1
	apply := func() {
		cfg, version, err := n.store.Snapshot(ctx)
		if err != nil || version == applied {
			if err != nil && ctx.Err() == nil {
				n.log.Error("read the store for the proxy", "err", err)
			}
			return
		}
		applied = version
		if err := p.Apply(cfg); err != nil {
			n.log.Error("the proxy refused the stored configuration and keeps serving the previous one",
				"config_version", version, "err", err)
			return
		}
		n.log.Info("proxy configuration updated", "config_version", version, "config_hash", p.Current().Hash)
	}
	apply()
	done := make(chan struct{})
	n.onClose = append(n.onClose, func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		tick := time.NewTicker(storePollInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
			case <-tick.C:
			}
			apply()
		}
	}()
}

// serveProxy starts one proxy listener: TLS with certificates chosen by SNI
// and HTTP/2 when it has the ssl flag, h2c when it has http2 without ssl,
// both served by net/http; a plain HTTP/1.1 listener is served by the
// proxy's own HTTP/1.1 engine, the fast path.
func (n *node) serveProxy(l conf.Listener, p *proxy.Proxy) error {
	if !l.SSL && !l.HTTP2 {
		return n.serveProxyHTTP1(l, p)
	}
	var tlsCfg *tls.Config
	if l.SSL {
		tlsCfg = &tls.Config{
			GetCertificate: p.GetCertificate,
			MinVersion:     tls.VersionTLS12,
			NextProtos:     []string{"h2", "http/1.1"},
		}
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	if l.SSL {
		protocols.SetHTTP2(true)
	} else if l.HTTP2 {
		protocols.SetUnencryptedHTTP2(true)
	}
	addr, err := n.serveHTTP("proxy_listen", l, p, tlsCfg, func(srv *http.Server) {
		srv.ConnState = p.ConnState
		srv.Protocols = protocols
		srv.MaxHeaderBytes = proxyMaxHeaderBytes
		srv.ReadHeaderTimeout = proxyReadHeaderTimeout
		srv.ReadTimeout = 0 // bodies stream; timeouts apply per read upstream
		srv.IdleTimeout = proxyIdleTimeout
	})
	if err != nil {
		return err
	}
	n.proxyAddrs = append(n.proxyAddrs, addr)
	return nil
}

// serveProxyHTTP1 serves a plain proxy listener with the HTTP/1.1 engine,
// with the same limits as the net/http listeners. It stops with the node:
// the listener closes, requests in flight get shutdownGrace to finish.
func (n *node) serveProxyHTTP1(l conf.Listener, p *proxy.Proxy) error {
	ln, err := net.Listen("tcp", l.Addr)
	if err != nil {
		return fmt.Errorf("proxy_listen %s: %w", l.Addr, err)
	}
	srv := p.NewHTTP1Server()
	srv.MaxHeaderBytes = proxyMaxHeaderBytes
	srv.ReadHeaderTimeout = proxyReadHeaderTimeout
	srv.IdleTimeout = proxyIdleTimeout
	srv.BodyTimeout = proxyBodyTimeout
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("listener stopped", "setting", "proxy_listen", "addr", ln.Addr().String(), "err", err)
		}
	}()
	n.onClose = append(n.onClose, func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	n.proxyAddrs = append(n.proxyAddrs, "http://"+ln.Addr().String())
	return nil
}

// watchReload reloads the declarative file on SIGHUP, as `kong reload`
// does: a file that is invalid or cannot run is refused with every error
// logged, and the configuration being served stays.
func (n *node) watchReload(path string, p *proxy.Proxy) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	stop := make(chan struct{})
	n.onClose = append(n.onClose, func() {
		signal.Stop(hup)
		close(stop)
	})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-hup:
			}
			dc, err := loadDeclarative(path)
			if err == nil {
				err = p.Apply(dc)
			}
			if err != nil {
				n.log.Error("reload refused; the previous configuration keeps serving", "source", path, "err", err)
				continue
			}
			n.log.Log(context.Background(), levelNotice, "configuration reloaded", "config_hash", p.Current().Hash,
				"entities", dc.Count(), "source", path)
		}
	}()
}

// serveHTTP listens on l and serves handler, with TLS when tlsCfg is set;
// tune adjusts the server before it starts. It returns the bound address
// as a URL.
func (n *node) serveHTTP(setting string, l conf.Listener, handler http.Handler, tlsCfg *tls.Config, tune func(*http.Server)) (string, error) {
	ln, err := net.Listen("tcp", l.Addr)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", setting, l.Addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	if tune != nil {
		tune(srv)
	}
	scheme := "http"
	if tlsCfg != nil {
		srv.TLSConfig = tlsCfg
		ln = tls.NewListener(ln, tlsCfg)
		scheme = "https"
	}
	n.servers = append(n.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("listener stopped", "setting", setting, "addr", ln.Addr().String(), "err", err)
		}
	}()
	return scheme + "://" + ln.Addr().String(), nil
}
