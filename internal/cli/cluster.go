package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/cluster/cp"
	"github.com/gantry-gw/gantry/internal/cluster/dp"
	"github.com/gantry-gw/gantry/internal/conf"
	"github.com/gantry-gw/gantry/internal/connectproxy"
	"github.com/gantry-gw/gantry/internal/dpcache"
	"github.com/gantry-gw/gantry/internal/pki"
	"github.com/gantry-gw/gantry/internal/proxy"
	"github.com/gantry-gw/gantry/internal/version"
)

// clusterStateFile is where a control plane keeps its node registry,
// inside the prefix, so the node list survives a restart.
const clusterStateFile = "cluster_nodes.json"

// startClusterListener serves cluster_listen on a control plane: mutual
// TLS as cluster_mtls says, and the wire protocol of internal/cluster.
// It returns the server so the Admin API can show its node registry.
func (n *node) startClusterListener(cfg *conf.Config) (*cp.Server, error) {
	tlsCfg, err := controlPlaneTLS(cfg)
	if err != nil {
		return nil, err
	}
	srv, err := cp.New(cp.Options{
		Store:        n.store,
		Logger:       n.log,
		Version:      version.Gantry,
		MaxPayload:   cfg.ClusterMaxPayload,
		PingInterval: cfg.ClusterPingInterval,
		PurgeDelay:   cfg.ClusterDataPlanePurgeDelay,
		StatePath:    filepath.Join(cfg.Prefix, clusterStateFile),
	})
	if err != nil {
		return nil, err
	}
	n.onClose = append(n.onClose, srv.Close)
	for _, l := range cfg.ClusterListen {
		addr, err := n.serveHTTP("cluster_listen", l, srv.Handler(), tlsCfg, func(s *http.Server) {
			// A refused handshake is worth a warning with its reason (an
			// expired or unknown data plane certificate).
			s.ErrorLog = slog.NewLogLogger(n.log.Handler(), slog.LevelWarn)
			s.ReadHeaderTimeout = cluster.HandshakeTimeout
			s.IdleTimeout = 0
		})
		if err != nil {
			return nil, err
		}
		n.clusterAddrs = append(n.clusterAddrs, addr)
	}
	return srv, nil
}

// controlPlaneTLS is the TLS side of cluster_listen: the control plane's
// cluster_cert, and data plane certificates checked as cluster_mtls says
// (pinned to cluster_cert in shared mode, signed by cluster_ca_cert in pki
// mode).
func controlPlaneTLS(cfg *conf.Config) (*tls.Config, error) {
	pair, err := pki.LoadKeyPair(cfg.ClusterCert, cfg.ClusterCertKey)
	if err != nil {
		return nil, fmt.Errorf("cluster_cert / cluster_cert_key: %w", err)
	}
	trusted := []*x509.Certificate{pair.Leaf}
	if cfg.ClusterMTLS == conf.MTLSPKI {
		if trusted, err = pki.LoadCertificates(cfg.ClusterCACert); err != nil {
			return nil, fmt.Errorf("cluster_ca_cert: %w", err)
		}
	}
	return &tls.Config{
		Certificates:          []tls.Certificate{pair},
		MinVersion:            tls.VersionTLS12,
		NextProtos:            []string{"http/1.1"},
		ClientAuth:            tls.RequireAnyClientCert,
		VerifyPeerCertificate: pki.VerifyDataPlane(cfg.ClusterMTLS, trusted, time.Now),
	}, nil
}

// dataPlaneTLS is the TLS side of a data plane's link to its control
// plane: its cluster_cert as client certificate, and the control plane's
// certificate checked as cluster_mtls says (the pinned cluster_cert in
// shared mode; lua_ssl_trusted_certificate and cluster_ca_cert for the
// server name in pki mode).
func dataPlaneTLS(cfg *conf.Config) (*tls.Config, *x509.Certificate, error) {
	pair, err := pki.LoadKeyPair(cfg.ClusterCert, cfg.ClusterCertKey)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster_cert / cluster_cert_key: %w", err)
	}
	serverName := cfg.ClusterTLSServerName()
	var pinned []*x509.Certificate
	var roots *x509.CertPool
	if cfg.ClusterMTLS == conf.MTLSPKI {
		var extra []*x509.Certificate
		if cfg.ClusterCACert != "" {
			if extra, err = pki.LoadCertificates(cfg.ClusterCACert); err != nil {
				return nil, nil, fmt.Errorf("cluster_ca_cert: %w", err)
			}
		}
		if roots, err = pki.TrustPool(cfg.LuaSSLTrustedCertificate, extra); err != nil {
			return nil, nil, fmt.Errorf("lua_ssl_trusted_certificate: %w", err)
		}
	} else {
		pinned = []*x509.Certificate{pair.Leaf}
	}
	return &tls.Config{
		Certificates: []tls.Certificate{pair},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
		ServerName:   serverName,
		// VerifyControlPlane does the whole verification, pinned or by
		// chain, so the default one is off.
		InsecureSkipVerify:    true,
		VerifyPeerCertificate: pki.VerifyControlPlane(cfg.ClusterMTLS, pinned, roots, serverName, time.Now),
	}, pair.Leaf, nil
}

// clusterDial is how a data plane reaches its control plane: directly, or
// through proxy_server with HTTP CONNECT when cluster_use_proxy is on.
func clusterDial(cfg *conf.Config) (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	if !cfg.ClusterUseProxy {
		return nil, nil
	}
	u, err := connectproxy.ParseProxyURL(cfg.ProxyServer)
	if err != nil {
		return nil, fmt.Errorf("proxy_server: %w", err)
	}
	d := &connectproxy.Dialer{Proxy: u}
	if u.Scheme == "https" {
		tc := &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		if !cfg.ProxyServerSSLVerify {
			tc.InsecureSkipVerify = true
		} else if tc.RootCAs, err = pki.TrustPool(cfg.LuaSSLTrustedCertificate, nil); err != nil {
			return nil, fmt.Errorf("lua_ssl_trusted_certificate: %w", err)
		}
		d.TLSConfig = tc
	}
	return d.DialContext, nil
}

// loadInitialConfig gives a data plane something to serve before its
// control plane answers: the cached configuration when it is whole, else
// declarative_config, else nothing (every request gets a 404 and
// /status/ready answers 503). It returns the hash and control plane
// version of what it applied.
func (n *node) loadInitialConfig(cfg *conf.Config, p *proxy.Proxy, cache *dpcache.Cache) (string, int64, error) {
	entry, dc, err := cache.Load()
	switch {
	case err == nil:
		if err := p.Apply(dc); err == nil {
			n.log.Log(context.Background(), levelNotice, "configuration loaded from the cache",
				"config_version", entry.ConfigVersion, "config_hash", entry.ConfigHash, "source", cache.Path())
			return entry.ConfigHash, entry.ConfigVersion, nil
		} else {
			n.log.Error("the cached configuration cannot run on this node; it is skipped", "source", cache.Path(), "err", err)
		}
	case errors.Is(err, dpcache.ErrNoCache):
	default:
		n.log.Error("the configuration cache is unusable and is skipped", "source", cache.Path(), "err", err)
	}
	if cfg.DeclarativeConfig != "" {
		dc, err := loadDeclarative(cfg.DeclarativeConfig)
		if err != nil {
			return "", 0, err
		}
		if err := p.Apply(dc); err != nil {
			return "", 0, fmt.Errorf("declarative_config %s: %w", cfg.DeclarativeConfig, err)
		}
		n.log.Log(context.Background(), levelNotice, "configuration loaded", "config_hash", p.Current().Hash,
			"entities", dc.Count(), "source", cfg.DeclarativeConfig)
		return p.Current().Hash, 0, nil
	}
	n.log.Warn("no configuration yet: every request gets a 404 until the control plane sends one")
	return cluster.EmptyHash, 0, nil
}

// startHybridDataPlane brings up a data plane that follows a control
// plane: the proxy with its start-up configuration, then the link.
func (n *node) startHybridDataPlane(cfg *conf.Config, nodeID string) error {
	tlsCfg, _, err := dataPlaneTLS(cfg)
	if err != nil {
		return err
	}
	dial, err := clusterDial(cfg)
	if err != nil {
		return err
	}
	p, err := n.newProxy(cfg)
	if err != nil {
		return err
	}
	cache := dpcache.New(cfg.Prefix)
	hash, ver, err := n.loadInitialConfig(cfg, p, cache)
	if err != nil {
		return err
	}
	hostname, _ := os.Hostname()
	client := dp.New(dp.Options{
		ControlPlane:   cfg.ClusterControlPlane,
		TLS:            tlsCfg,
		Dial:           dial,
		NodeID:         nodeID,
		Hostname:       hostname,
		Version:        version.Gantry,
		Labels:         cfg.ClusterDPLabels,
		Plugins:        []cluster.Plugin{},
		Applier:        p,
		Cache:          cache,
		MaxPayload:     cfg.ClusterMaxPayload,
		PingInterval:   cfg.ClusterPingInterval,
		ReconnectDelay: cfg.ClusterReconnectDelay,
		Logger:         n.log,
	})
	client.SetCurrent(hash, ver)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		client.Run(ctx)
	}()
	n.onClose = append(n.onClose, func() {
		cancel()
		<-done
	})
	return n.serveProxyListeners(cfg, p)
}
