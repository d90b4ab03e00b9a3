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
	"path/filepath"
	"strings"
	"time"

	"github.com/gantry-gw/gantry/internal/admin"
	"github.com/gantry-gw/gantry/internal/conf"
	"github.com/gantry-gw/gantry/internal/entity"
	"github.com/gantry-gw/gantry/internal/store"
	"github.com/gantry-gw/gantry/internal/store/sqlite"
	"github.com/gantry-gw/gantry/internal/version"
)

// storeFile is the SQLite database's name inside the prefix.
const storeFile = "gantry.db"

// nodeIDFile holds the node's id inside the prefix, so a restarted node
// keeps its identity.
const nodeIDFile = "node.id"

// node is a running Gantry process: its store and its listeners.
type node struct {
	log     *slog.Logger
	store   *store.Store
	servers []*http.Server
	// AdminAddrs are the addresses the Admin API listens on, as bound (a
	// ":0" setting resolves to a real port).
	adminAddrs []string
}

// startNode brings up what cfg's role needs. Only roles with a database
// and the Admin API exist at this stage; the others are refused clearly.
func startNode(cfg *conf.Config, log *slog.Logger) (*node, error) {
	switch {
	case cfg.Role == conf.RoleDataPlane:
		return nil, errors.New("role = data_plane is not available in this build yet: run a control_plane or traditional node")
	case cfg.Database == conf.DatabaseOff:
		return nil, errors.New("database = off (DB-less mode) is not available in this build yet: use database = sqlite")
	case cfg.Database == conf.DatabasePostgres:
		return nil, errors.New("database = postgres is not available in this build yet: use database = sqlite")
	}
	if err := os.MkdirAll(cfg.Prefix, 0o755); err != nil {
		return nil, fmt.Errorf("create prefix %s: %w", cfg.Prefix, err)
	}
	nodeID, err := loadNodeID(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	log = log.With("node_id", nodeID)
	st, err := openStore(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	n := &node{log: log, store: st}
	hostname, _ := os.Hostname()
	api := admin.New(admin.Options{
		Store:  st,
		Logger: log,
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
		if err := n.serve(l, api.Handler(), api.ConnState, cfg); err != nil {
			n.close(context.Background())
			return nil, err
		}
	}
	configVersion, err := st.Version(context.Background())
	if err != nil {
		n.close(context.Background())
		return nil, err
	}
	// Notice, so that the default log_level shows it.
	log.Log(context.Background(), levelNotice, "gantry started", "role", cfg.Role, "prefix", cfg.Prefix, "admin_listen", strings.Join(n.adminAddrs, ","),
		"config_version", configVersion, "gantry_version", version.Gantry)
	return n, nil
}

// openStore opens the SQLite store in prefix.
func openStore(prefix string) (*store.Store, error) {
	b, err := sqlite.Open(filepath.Join(prefix, storeFile), sqlite.Options{})
	if err != nil {
		return nil, err
	}
	return store.New(b), nil
}

// serve starts an HTTP server for handler on listener l.
func (n *node) serve(l conf.Listener, handler http.Handler, connState func(net.Conn, http.ConnState), cfg *conf.Config) error {
	ln, err := net.Listen("tcp", l.Addr)
	if err != nil {
		return fmt.Errorf("admin_listen %s: %w", l.Addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ConnState:         connState,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelDebug),
	}
	scheme := "http"
	if l.SSL {
		cert, err := tls.LoadX509KeyPair(cfg.AdminSSLCert, cfg.AdminSSLCertKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin_listen %s ssl: load admin_ssl_cert and admin_ssl_cert_key: %w", l.Addr, err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if !l.HTTP2 {
			srv.TLSConfig.NextProtos = []string{"http/1.1"}
		}
		ln = tls.NewListener(ln, srv.TLSConfig)
		scheme = "https"
	}
	n.adminAddrs = append(n.adminAddrs, scheme+"://"+ln.Addr().String())
	n.servers = append(n.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("admin listener stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	return nil
}

// close stops the listeners, letting requests in flight finish until ctx
// ends, then closes the store.
func (n *node) close(ctx context.Context) error {
	var errs []error
	for _, srv := range n.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
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
	if err := writeFileAtomic(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("save node id: %w", err)
	}
	return id, nil
}

// writeFileAtomic writes data to path through a synced temporary file and
// a rename, so a crash leaves the old file or the new one, never half.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
