package admin_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gantry-gw/gantry/internal/admin"
	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/cluster/cp"
	"github.com/gantry-gw/gantry/internal/store"
	"github.com/gantry-gw/gantry/internal/store/sqlite"
)

// The control plane's cluster server is what the Admin API reads.
var _ admin.ClusterView = (*cp.Server)(nil)

// fakeCluster stands in for the control plane's cluster server, the
// boundary the clustering endpoints read through.
type fakeCluster struct {
	nodes   []cluster.DataPlane
	hash    string
	version int64
}

func (f *fakeCluster) Nodes() []cluster.DataPlane { return f.nodes }
func (f *fakeCluster) Expected() (string, int64)  { return f.hash, f.version }

// newClusterAPI starts the Admin API of a control plane whose data planes
// are view's; a nil view makes a node that is not a control plane.
func newClusterAPI(t *testing.T, view admin.ClusterView) *api {
	t.Helper()
	b, err := sqlite.Open(filepath.Join(t.TempDir(), "gantry.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(b)
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(admin.New(admin.Options{Store: st, Cluster: view,
		Info: admin.NodeInfo{Version: "3.10.0", GantryVersion: "test", Role: "control_plane"}}).Handler())
	t.Cleanup(srv.Close)
	return &api{t: t, base: srv.URL, http: srv.Client(), st: st}
}

// Times and a hash of Kong's documented example row.
var (
	dpSeen   = time.Unix(1689266492, 0)
	dpExpiry = time.Unix(1897136778, 0)
	dpHash   = "5952b2ac0d3b2c5b3f5e63a1d9b7e4c1"
)

// testNodes are three data planes, sorted by id: one in sync, one that
// refused a configuration, one gone.
func testNodes() []cluster.DataPlane {
	return []cluster.DataPlane{
		{ID: "10427f6f-6c4e-4f5d-9a4b-2f0c2f1e0a01", Hostname: "kongDP1", IP: "172.24.0.10", Version: "0.1.0",
			Labels: map[string]string{"region": "us-east-1"}, SyncStatus: cluster.SyncNormal, ConfigHash: dpHash,
			ConfigVersion: 7, LastSeen: dpSeen, UpdatedAt: dpSeen, CertExpiry: dpExpiry, Connected: true,
			Status: cluster.StatusConnected, TTL: 1209593 * time.Second},
		{ID: "20427f6f-6c4e-4f5d-9a4b-2f0c2f1e0a02", Hostname: "kongDP2", IP: "172.24.0.11", Version: "0.1.0",
			SyncStatus: cluster.SyncNormal, ConfigHash: cluster.EmptyHash, LastSeen: dpSeen, UpdatedAt: dpSeen,
			Connected: true, Status: cluster.StatusOutOfSync, TTL: 1209000 * time.Second,
			LastError: &cluster.NodeError{Kind: cluster.ErrorRejected, Message: "bad config", ConfigVersion: 7, ConfigHash: dpHash,
				Errors: []cluster.EntityError{{EntityType: "route", EntityID: "r1", Field: "paths", Message: "invalid path"}}}},
		{ID: "30427f6f-6c4e-4f5d-9a4b-2f0c2f1e0a03", Hostname: "kongDP3", IP: "172.24.0.12", Version: "0.2.0",
			SyncStatus: cluster.SyncKongVersionIncompatible, ConfigHash: cluster.EmptyHash, LastSeen: dpSeen, UpdatedAt: dpSeen,
			Status:    cluster.StatusDisconnected,
			LastError: &cluster.NodeError{Kind: cluster.ErrorIncompatible, Message: "data plane version 0.2.0 is newer than control plane version 0.1.0"}},
	}
}

func TestClusteringNotControlPlane(t *testing.T) {
	a := newClusterAPI(t, nil)
	for _, path := range []string{"/clustering/data-planes", "/clustering/status", "/clustering/expected-config-hash"} {
		t.Run(path, func(t *testing.T) {
			a.get(path).wantBody(t, http.StatusBadRequest,
				`{"message":"this endpoint is only available when Gantry is configured to run as Control Plane for the cluster"}`)
		})
	}
}

func TestClusteringDataPlanes(t *testing.T) {
	a := newClusterAPI(t, &fakeCluster{nodes: testNodes()})
	body := a.get("/clustering/data-planes").want(t, http.StatusOK)
	if body["next"] != nil || len(ids(t, body)) != 3 {
		t.Fatalf("body %v, want three nodes and no next page", body)
	}
	rows := body["data"].([]any)
	tests := []struct {
		name string
		row  int
		want string
	}{
		{"in sync", 0, `{
			"id": "10427f6f-6c4e-4f5d-9a4b-2f0c2f1e0a01", "hostname": "kongDP1", "ip": "172.24.0.10", "version": "0.1.0",
			"sync_status": "normal", "config_hash": "5952b2ac0d3b2c5b3f5e63a1d9b7e4c1",
			"last_seen": 1689266492, "updated_at": 1689266492, "ttl": 1209593,
			"labels": {"region": "us-east-1"}, "cert_details": {"expiry_timestamp": 1897136778}, "rpc_capabilities": [],
			"status": "connected", "connected": true, "config_version": 7, "last_error": null}`},
		{"rejected", 1, `{
			"id": "20427f6f-6c4e-4f5d-9a4b-2f0c2f1e0a02", "hostname": "kongDP2", "ip": "172.24.0.11", "version": "0.1.0",
			"sync_status": "normal", "config_hash": "00000000000000000000000000000000",
			"last_seen": 1689266492, "updated_at": 1689266492, "ttl": 1209000,
			"labels": {}, "cert_details": {"expiry_timestamp": null}, "rpc_capabilities": [],
			"status": "out_of_sync", "connected": true, "config_version": 0,
			"last_error": {"kind": "rejected", "message": "bad config", "config_version": 7,
				"config_hash": "5952b2ac0d3b2c5b3f5e63a1d9b7e4c1",
				"errors": [{"entity_type": "route", "entity_id": "r1", "field": "paths", "message": "invalid path"}]}}`},
		{"incompatible and gone", 2, `{
			"id": "30427f6f-6c4e-4f5d-9a4b-2f0c2f1e0a03", "hostname": "kongDP3", "ip": "172.24.0.12", "version": "0.2.0",
			"sync_status": "kong_version_incompatible", "config_hash": "00000000000000000000000000000000",
			"last_seen": 1689266492, "updated_at": 1689266492, "ttl": 0,
			"labels": {}, "cert_details": {"expiry_timestamp": null}, "rpc_capabilities": [],
			"status": "disconnected", "connected": false, "config_version": 0,
			"last_error": {"kind": "incompatible", "message": "data plane version 0.2.0 is newer than control plane version 0.1.0",
				"config_version": 0, "config_hash": "", "errors": []}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := &response{method: "GET", path: "/clustering/data-planes", status: http.StatusOK, raw: []byte(jsonOf(t, rows[tt.row]))}
			got.wantBody(t, http.StatusOK, tt.want)
		})
	}
}

func TestClusteringDataPlanesPaging(t *testing.T) {
	nodes := testNodes()
	a := newClusterAPI(t, &fakeCluster{nodes: nodes})
	want := []string{nodes[0].ID, nodes[1].ID, nodes[2].ID}
	for _, size := range []int{1, 2, 3, 100} {
		got := a.follow(t, "/clustering/data-planes?size="+strconv.Itoa(size), size)
		if !sameJSON(got, want) {
			t.Errorf("size %d: %v, want %v", size, got, want)
		}
	}
	tests := []struct {
		path   string
		status int
	}{
		{"/clustering/data-planes?size=0", http.StatusBadRequest},
		{"/clustering/data-planes?size=abc", http.StatusBadRequest},
		{"/clustering/data-planes?offset=%21%21", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			a.get(tt.path).want(t, tt.status)
		})
	}
}

func TestClusteringStatusAndExpectedHash(t *testing.T) {
	a := newClusterAPI(t, &fakeCluster{nodes: testNodes()[:2], hash: dpHash, version: 7})
	res := a.get("/clustering/status")
	res.wantBody(t, http.StatusOK, `{
		"10427f6f-6c4e-4f5d-9a4b-2f0c2f1e0a01": {"config_hash": "5952b2ac0d3b2c5b3f5e63a1d9b7e4c1", "hostname": "kongDP1", "ip": "172.24.0.10", "last_seen": 1689266492},
		"20427f6f-6c4e-4f5d-9a4b-2f0c2f1e0a02": {"config_hash": "00000000000000000000000000000000", "hostname": "kongDP2", "ip": "172.24.0.11", "last_seen": 1689266492}}`)
	if got := res.header.Get("Deprecation"); got != "true" {
		t.Errorf("Deprecation header %q, want true", got)
	}
	a.get("/clustering/expected-config-hash").wantBody(t, http.StatusOK,
		`{"expected_config_hash": "5952b2ac0d3b2c5b3f5e63a1d9b7e4c1", "config_version": 7}`)

	// Only reads are served, and the entity-style paths do not exist.
	a.json(http.MethodPost, "/clustering/data-planes", map[string]any{}).want(t, http.StatusMethodNotAllowed)
	a.send(http.MethodDelete, "/clustering/data-planes/10427f6f-6c4e-4f5d-9a4b-2f0c2f1e0a01", "", nil).want(t, http.StatusNotFound)
	a.get("/clustering_data_planes").want(t, http.StatusNotFound)
}
