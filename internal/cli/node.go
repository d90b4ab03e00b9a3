package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantry-gw/gantry/internal/admin"
	"github.com/gantry-gw/gantry/internal/atomicfile"
	"github.com/gantry-gw/gantry/internal/conf"
	"github.com/gantry-gw/gantry/internal/entity"
	"github.com/gantry-gw/gantry/internal/proxy"
	"github.com/gantry-gw/gantry/internal/store"
	"github.com/gantry-gw/gantry/internal/store/sqlite"
	"github.com/gantry-gw/gantry/internal/version"
)

// storeFile is the SQLite database's name inside the prefix.
const storeFile = "gantry.db"

// nodeIDFile holds the node's id inside the prefix, so a restarted node
// keeps its identity.
const nodeIDFile = "node.id"

// node is a running Gantry process: its store or proxy, and its listeners.
type node struct {
	log     *slog.Logger
	store   *store.Store
	proxy   *proxy.Proxy
	servers []*http.Server
	onClose []func()
	// The addresses each kind of listener is bound to, as URLs (a ":0"
	// setting resolves to a real port).
	adminAddrs, proxyAddrs, statusAddrs, clusterAddrs []string
}

// startNode brings up what cfg's role and database need: a node with a
// store serves the Admin API; a node without one (DB-less: database = off)
// proxies traffic from its declarative_config.
func startNode(cfg *conf.Config, log *slog.Logger) (*node, error) {
	if cfg.Database == conf.DatabasePostgres {
		return nil, errors.New("database = postgres is not available in this build yet: use database = sqlite")
	}
	if err := os.MkdirAll(cfg.Prefix, 0o755); err != nil {
		return nil, fmt.Errorf("create prefix %s: %w", cfg.Prefix, err)
	}
	nodeID, err := loadNodeID(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	n := &node{log: log.With("node_id", nodeID)}
	switch {
	case cfg.Role == conf.RoleDataPlane:
		err = n.startHybridDataPlane(cfg, nodeID)
	case cfg.Database == conf.DatabaseOff:
		err = n.startDataPlane(cfg)
	case cfg.Role == conf.RoleTraditional:
		// Kong's traditional mode: one node owns a database, serves the
		// Admin API and proxies from what the database holds.
		if err = n.startControlPlane(cfg, nodeID); err == nil {
			err = n.startTraditionalProxy(cfg)
		}
	default:
		err = n.startControlPlane(cfg, nodeID)
	}
	if err != nil {
		n.close(context.Background())
		return nil, err
	}
	n.log.Log(context.Background(), levelNotice, "gantry started", "role", cfg.Role, "database", cfg.Database,
		"prefix", cfg.Prefix, "admin_listen", strings.Join(n.adminAddrs, ","),
		"proxy_listen", strings.Join(n.proxyAddrs, ","), "status_listen", strings.Join(n.statusAddrs, ","),
		"cluster_listen", strings.Join(n.clusterAddrs, ","),
		"gantry_version", version.Gantry)
	return n, nil
}

// startControlPlane opens the store and serves the Admin API.
func (n *node) startControlPlane(cfg *conf.Config, nodeID string) error {
	st, err := openStore(cfg.Prefix)
	if err != nil {
		return err
	}
	n.store = st
	var clusterView admin.ClusterView
	if cfg.Role == conf.RoleControlPlane {
		srv, err := n.startClusterListener(cfg)
		if err != nil {
			return err
		}
		clusterView = srv
	}
	hostname, _ := os.Hostname()
	api := admin.New(admin.Options{
		Store:   st,
		Cluster: clusterView,
		Logger:  n.log,
		Info: admin.NodeInfo{
			Version:       version.Kong,
			GantryVersion: version.Gantry,
			Hostname:      hostname,
			NodeID:        nodeID,
			Role:          cfg.Role,
			Configuration: cfg.Redacted(),
		},
	})
	for _, l := range cfg.AdminListen {
		var tlsCfg *tls.Config
		if l.SSL {
			cert, err := tls.LoadX509KeyPair(cfg.AdminSSLCert, cfg.AdminSSLCertKey)
			if err != nil {
				return fmt.Errorf("admin_listen %s ssl: load admin_ssl_cert and admin_ssl_cert_key: %w", l.Addr, err)
			}
			tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
			if l.HTTP2 {
				tlsCfg.NextProtos = []string{"h2", "http/1.1"}
			}
		}
		addr, err := n.serveHTTP("admin_listen", l, api.Handler(), tlsCfg, func(srv *http.Server) {
			srv.ConnState = api.ConnState
			srv.ReadTimeout = 60 * time.Second
		})
		if err != nil {
			return err
		}
		n.adminAddrs = append(n.adminAddrs, addr)
	}
	return nil
}

// startTraditionalProxy serves traffic from the node's own store.
func (n *node) startTraditionalProxy(cfg *conf.Config) error {
	p, err := n.newProxy(cfg)
	if err != nil {
		return err
	}
	n.followStore(p)
	return n.serveProxyListeners(cfg, p)
}

// openStore opens the SQLite store in prefix.
func openStore(prefix string) (*store.Store, error) {
	b, err := sqlite.Open(filepath.Join(prefix, storeFile), sqlite.Options{})
	if err != nil {
		return nil, err
	}
	return store.New(b), nil
}

// close stops the listeners, letting requests in flight finish until ctx
// ends, then closes the store.
func (n *node) close(ctx context.Context) error {
	var errs []error
	for _, f := range n.onClose {
		f()
	}
	for _, srv := range n.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if n.proxy != nil {
		n.proxy.Close()
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// loadNodeID returns the id kept in the prefix, making and saving a new one
// when the file is missing or does not hold a UUID.
func loadNodeID(prefix string) (string, error) {
	path := filepath.Join(prefix, nodeIDFile)
	data, err := os.ReadFile(path)
	if err == nil {
		if id := strings.TrimSpace(string(data)); entity.IsUUID(id) {
			return strings.ToLower(id), nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read node id %s: %w", path, err)
	}
	id := entity.NewID()
	if err := atomicfile.Write(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("save node id: %w", err)
	}
	return id, nil
}
