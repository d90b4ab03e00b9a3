package admin_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/kong/go-kong/kong"

	"github.com/gantry-gw/gantry/internal/admin"
	"github.com/gantry-gw/gantry/internal/store"
	"github.com/gantry-gw/gantry/internal/store/sqlite"
)

// The go-kong conformance tests drive the Admin API with Kong's official Go
// client, over a real SQLite store: what works here works for decK, the
// Kong Ingress Controller and every tool built on go-kong.

func newServer(t *testing.T) (*httptest.Server, *store.Store) {
	t.Helper()
	return newServerWith(t, admin.NodeInfo{Version: "3.10.0", GantryVersion: "test", Hostname: "test", Role: "traditional"})
}

// newServerWith starts the Admin API for a node described by info over a
// new SQLite store, counting its connections as the real server does.
func newServerWith(t *testing.T, info admin.NodeInfo) (*httptest.Server, *store.Store) {
	t.Helper()
	b, err := sqlite.Open(filepath.Join(t.TempDir(), "gantry.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := store.New(b)
	t.Cleanup(func() { st.Close() })
	api := admin.New(admin.Options{Store: st, Info: info})
	srv := httptest.NewUnstartedServer(api.Handler())
	srv.Config.ConnState = api.ConnState
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, st
}

func newClient(t *testing.T) *kong.Client {
	t.Helper()
	srv, _ := newServer(t)
	c, err := kong.NewClient(kong.String(srv.URL), srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func apiStatus(err error) int {
	var ae *kong.APIError
	if errors.As(err, &ae) {
		return ae.Code()
	}
	return 0
}

func mustStatus(t *testing.T, err error, want int) {
	t.Helper()
	if got := apiStatus(err); got != want {
		t.Fatalf("status = %d (err %v), want %d", got, err, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// pageAll lists with a small page size and follows "next" to the end, so
// paging is exercised rather than one big page.
func pageAll[T any](t *testing.T, list func(*kong.ListOpt) ([]T, *kong.ListOpt, error)) []T {
	t.Helper()
	var all []T
	opt := &kong.ListOpt{Size: 2}
	for pages := 0; opt != nil; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		items, next, err := list(opt)
		must(t, err)
		if len(items) > 2 {
			t.Fatalf("page of %d items, asked for 2", len(items))
		}
		all = append(all, items...)
		opt = next
	}
	return all
}

func TestGoKongServices(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)

	svc, err := c.Services.Create(ctx, &kong.Service{Name: kong.String("billing"), URL: kong.String("https://billing.internal:8443/v1")})
	must(t, err)
	if *svc.Protocol != "https" || *svc.Host != "billing.internal" || *svc.Port != 8443 || *svc.Path != "/v1" {
		t.Fatalf("url not expanded: %+v", svc)
	}
	if *svc.Retries != 5 || *svc.ConnectTimeout != 60000 || !*svc.Enabled || svc.CreatedAt == nil {
		t.Fatalf("defaults missing: %+v", svc)
	}

	got, err := c.Services.Get(ctx, kong.String("billing"))
	must(t, err)
	if *got.ID != *svc.ID {
		t.Fatalf("get by name: id %s, want %s", *got.ID, *svc.ID)
	}
	got.Retries = kong.Int(2)
	upd, err := c.Services.Update(ctx, got)
	must(t, err)
	if *upd.Retries != 2 || *upd.Host != "billing.internal" {
		t.Fatalf("update: %+v", upd)
	}

	// Create with a client-chosen id goes through PUT.
	id := "4f6f8b54-8a9e-4cb5-9a4e-0d2b8c8a1d10"
	put, err := c.Services.Create(ctx, &kong.Service{ID: kong.String(id), Name: kong.String("orders"), Host: kong.String("orders.internal")})
	must(t, err)
	if *put.ID != id {
		t.Fatalf("PUT id %s, want %s", *put.ID, id)
	}

	_, err = c.Services.Create(ctx, &kong.Service{Name: kong.String("billing"), Host: kong.String("x.internal")})
	mustStatus(t, err, http.StatusConflict)
	_, err = c.Services.Create(ctx, &kong.Service{Name: kong.String("bad"), Host: kong.String("x"), Port: kong.Int(70000)})
	mustStatus(t, err, http.StatusBadRequest)

	for i := 0; i < 5; i++ {
		_, err := c.Services.Create(ctx, &kong.Service{Name: kong.String(fmt.Sprintf("svc-%d", i)), Host: kong.String("h.internal"), Tags: kong.StringSlice("team-a")})
		must(t, err)
	}
	all := pageAll(t, func(o *kong.ListOpt) ([]*kong.Service, *kong.ListOpt, error) { return c.Services.List(ctx, o) })
	if len(all) != 7 {
		t.Fatalf("listed %d services, want 7", len(all))
	}
	tagged := pageAll(t, func(o *kong.ListOpt) ([]*kong.Service, *kong.ListOpt, error) {
		o.Tags = kong.StringSlice("team-a")
		return c.Services.List(ctx, o)
	})
	if len(tagged) != 5 {
		t.Fatalf("listed %d services tagged team-a, want 5", len(tagged))
	}
	listed, err := c.Services.ListAll(ctx)
	must(t, err)
	if len(listed) != 7 {
		t.Fatalf("ListAll gave %d, want 7", len(listed))
	}

	must(t, c.Services.Delete(ctx, kong.String("billing")))
	_, err = c.Services.Get(ctx, svc.ID)
	if !kong.IsNotFoundErr(err) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestGoKongRoutes(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	svc, err := c.Services.Create(ctx, &kong.Service{Name: kong.String("api"), Host: kong.String("api.internal")})
	must(t, err)

	r, err := c.Routes.CreateInService(ctx, svc.ID, &kong.Route{Name: kong.String("users"), Paths: kong.StringSlice("/users")})
	must(t, err)
	if *r.Service.ID != *svc.ID || !*r.StripPath || *r.PreserveHost || *r.HTTPSRedirectStatusCode != 426 ||
		len(r.Protocols) != 2 || *r.PathHandling != "v0" || *r.RegexPriority != 0 {
		t.Fatalf("route defaults: %+v", r)
	}
	r2, err := c.Routes.Create(ctx, &kong.Route{Name: kong.String("orders"), Hosts: kong.StringSlice("*.example.com"),
		Service: &kong.Service{ID: svc.ID}})
	must(t, err)

	got, err := c.Routes.Get(ctx, kong.String("users"))
	must(t, err)
	got.Paths = kong.StringSlice("/users", "~/users/\\d+$")
	upd, err := c.Routes.Update(ctx, got)
	must(t, err)
	if len(upd.Paths) != 2 {
		t.Fatalf("update paths: %v", upd.Paths)
	}

	for i := 0; i < 3; i++ {
		_, err := c.Routes.CreateInService(ctx, svc.ID, &kong.Route{Paths: kong.StringSlice(fmt.Sprintf("/p%d", i))})
		must(t, err)
	}
	forSvc := pageAll(t, func(o *kong.ListOpt) ([]*kong.Route, *kong.ListOpt, error) {
		return c.Routes.ListForService(ctx, svc.ID, o)
	})
	if len(forSvc) != 5 {
		t.Fatalf("routes of service: %d, want 5", len(forSvc))
	}
	all := pageAll(t, func(o *kong.ListOpt) ([]*kong.Route, *kong.ListOpt, error) { return c.Routes.List(ctx, o) })
	if len(all) != 5 {
		t.Fatalf("routes: %d, want 5", len(all))
	}

	// A route without any matcher, a dangling service, and a bad path.
	_, err = c.Routes.Create(ctx, &kong.Route{Name: kong.String("empty")})
	mustStatus(t, err, http.StatusBadRequest)
	_, err = c.Routes.Create(ctx, &kong.Route{Paths: kong.StringSlice("/x"), Service: &kong.Service{ID: kong.String("7d8f3a4e-1b2c-4d5e-8f90-a1b2c3d4e5f6")}})
	mustStatus(t, err, http.StatusBadRequest)
	_, err = c.Routes.Create(ctx, &kong.Route{Paths: kong.StringSlice("x")})
	mustStatus(t, err, http.StatusBadRequest)

	// Kong refuses to delete a service that routes still use.
	err = c.Services.Delete(ctx, svc.ID)
	mustStatus(t, err, http.StatusBadRequest)

	must(t, c.Routes.Delete(ctx, r2.ID))
	_, err = c.Routes.Get(ctx, r2.ID)
	if !kong.IsNotFoundErr(err) {
		t.Fatalf("get after delete: %v", err)
	}
	must(t, c.Routes.Delete(ctx, r.ID))
}

func TestGoKongUpstreamsAndTargets(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	up, err := c.Upstreams.Create(ctx, &kong.Upstream{Name: kong.String("orders.upstream")})
	must(t, err)
	hc := up.Healthchecks
	if *up.Algorithm != "round-robin" || *up.Slots != 10000 || hc == nil || hc.Active == nil ||
		*hc.Active.HTTPPath != "/" || *hc.Active.Concurrency != 10 || len(hc.Active.Unhealthy.HTTPStatuses) != 8 ||
		len(hc.Passive.Healthy.HTTPStatuses) != 19 || *hc.Threshold != 0 {
		t.Fatalf("upstream defaults: %+v", up)
	}
	up.Algorithm = kong.String("least-connections")
	up.Healthchecks.Active.Healthy.Interval = kong.Int(5)
	upd, err := c.Upstreams.Update(ctx, up)
	must(t, err)
	if *upd.Algorithm != "least-connections" || *upd.Healthchecks.Active.Healthy.Interval != 5 {
		t.Fatalf("upstream update: %+v", upd)
	}

	for i := 1; i <= 3; i++ {
		tg, err := c.Targets.Create(ctx, up.Name, &kong.Target{Target: kong.String(fmt.Sprintf("10.0.0.%d", i))})
		must(t, err)
		if *tg.Target != fmt.Sprintf("10.0.0.%d:8000", i) || *tg.Weight != 100 {
			t.Fatalf("target defaults: %+v", tg)
		}
	}
	_, err = c.Targets.Create(ctx, up.ID, &kong.Target{Target: kong.String("10.0.0.1:8000")})
	mustStatus(t, err, http.StatusConflict)
	tgs := pageAll(t, func(o *kong.ListOpt) ([]*kong.Target, *kong.ListOpt, error) { return c.Targets.List(ctx, up.ID, o) })
	if len(tgs) != 3 {
		t.Fatalf("targets: %d, want 3", len(tgs))
	}
	must(t, c.Targets.Delete(ctx, up.ID, kong.String("10.0.0.2:8000")))
	tgs, err = c.Targets.ListAll(ctx, up.ID)
	must(t, err)
	if len(tgs) != 2 {
		t.Fatalf("targets after delete: %d, want 2", len(tgs))
	}

	ups := pageAll(t, func(o *kong.ListOpt) ([]*kong.Upstream, *kong.ListOpt, error) { return c.Upstreams.List(ctx, o) })
	if len(ups) != 1 {
		t.Fatalf("upstreams: %d", len(ups))
	}
	// Targets go with their upstream.
	must(t, c.Upstreams.Delete(ctx, up.Name))
	_, err = c.Upstreams.Get(ctx, up.ID)
	if !kong.IsNotFoundErr(err) {
		t.Fatalf("upstream after delete: %v", err)
	}
	_, err = c.Targets.ListAll(ctx, up.ID)
	if !kong.IsNotFoundErr(err) {
		t.Fatalf("targets of a deleted upstream: %v", err)
	}
}

func TestGoKongConsumersAndCredentials(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	alice, err := c.Consumers.Create(ctx, &kong.Consumer{Username: kong.String("alice"), CustomID: kong.String("a-1")})
	must(t, err)
	byCustom, err := c.Consumers.GetByCustomID(ctx, kong.String("a-1"))
	must(t, err)
	if *byCustom.ID != *alice.ID {
		t.Fatal("get by custom_id")
	}
	alice.Tags = kong.StringSlice("vip")
	_, err = c.Consumers.Update(ctx, alice)
	must(t, err)
	_, err = c.Consumers.Create(ctx, &kong.Consumer{Username: kong.String("alice")})
	mustStatus(t, err, http.StatusConflict)
	_, err = c.Consumers.Create(ctx, &kong.Consumer{Tags: kong.StringSlice("x")})
	mustStatus(t, err, http.StatusBadRequest)
	for i := 0; i < 4; i++ {
		_, err := c.Consumers.Create(ctx, &kong.Consumer{Username: kong.String(fmt.Sprintf("user-%d", i))})
		must(t, err)
	}
	if n := len(pageAll(t, func(o *kong.ListOpt) ([]*kong.Consumer, *kong.ListOpt, error) { return c.Consumers.List(ctx, o) })); n != 5 {
		t.Fatalf("consumers: %d", n)
	}

	t.Run("key-auth", func(t *testing.T) {
		generated, err := c.KeyAuths.Create(ctx, alice.Username, &kong.KeyAuth{})
		must(t, err)
		if generated.Key == nil || len(*generated.Key) != 32 {
			t.Fatalf("generated key: %+v", generated)
		}
		ka, err := c.KeyAuths.Create(ctx, alice.ID, &kong.KeyAuth{Key: kong.String("secret-1")})
		must(t, err)
		got, err := c.KeyAuths.Get(ctx, alice.ID, kong.String("secret-1"))
		must(t, err)
		if *got.ID != *ka.ID {
			t.Fatal("get key-auth by key")
		}
		byID, err := c.KeyAuths.GetByID(ctx, ka.ID)
		must(t, err)
		if *byID.Consumer.ID != *alice.ID {
			t.Fatal("key-auth consumer")
		}
		ka.Tags = kong.StringSlice("rotated")
		_, err = c.KeyAuths.Update(ctx, alice.ID, ka)
		must(t, err)
		_, err = c.KeyAuths.Create(ctx, alice.ID, &kong.KeyAuth{Key: kong.String("secret-1")})
		mustStatus(t, err, http.StatusConflict)
		if n := len(pageAll(t, func(o *kong.ListOpt) ([]*kong.KeyAuth, *kong.ListOpt, error) { return c.KeyAuths.List(ctx, o) })); n != 2 {
			t.Fatalf("key-auths: %d", n)
		}
		mine, _, err := c.KeyAuths.ListForConsumer(ctx, alice.ID, nil)
		must(t, err)
		if len(mine) != 2 {
			t.Fatalf("key-auths of alice: %d", len(mine))
		}
		must(t, c.KeyAuths.Delete(ctx, alice.ID, ka.ID))
		_, err = c.KeyAuths.Get(ctx, alice.ID, ka.ID)
		if !kong.IsNotFoundErr(err) {
			t.Fatalf("after delete: %v", err)
		}
	})

	t.Run("basic-auth", func(t *testing.T) {
		ba, err := c.BasicAuths.Create(ctx, alice.ID, &kong.BasicAuth{Username: kong.String("alice-basic"), Password: kong.String("pw")})
		must(t, err)
		if *ba.Password == "pw" || len(*ba.Password) != 40 {
			t.Fatalf("password stored in clear: %q", *ba.Password)
		}
		got, err := c.BasicAuths.Get(ctx, alice.ID, kong.String("alice-basic"))
		must(t, err)
		stored := *got.Password
		got.Tags = kong.StringSlice("t")
		got.Password = nil
		upd, err := c.BasicAuths.Update(ctx, alice.ID, got)
		must(t, err)
		if *upd.Password != stored {
			t.Fatal("a PATCH without password changed the stored hash")
		}
		if n := len(pageAll(t, func(o *kong.ListOpt) ([]*kong.BasicAuth, *kong.ListOpt, error) { return c.BasicAuths.List(ctx, o) })); n != 1 {
			t.Fatalf("basic-auths: %d", n)
		}
		must(t, c.BasicAuths.Delete(ctx, alice.ID, ba.ID))
	})

	t.Run("jwt", func(t *testing.T) {
		j, err := c.JWTAuths.Create(ctx, alice.ID, &kong.JWTAuth{})
		must(t, err)
		if *j.Algorithm != "HS256" || j.Key == nil || j.Secret == nil {
			t.Fatalf("jwt defaults: %+v", j)
		}
		_, err = c.JWTAuths.Create(ctx, alice.ID, &kong.JWTAuth{Algorithm: kong.String("RS256")})
		mustStatus(t, err, http.StatusBadRequest)
		got, err := c.JWTAuths.Get(ctx, alice.ID, j.Key)
		must(t, err)
		got.Tags = kong.StringSlice("t")
		_, err = c.JWTAuths.Update(ctx, alice.ID, got)
		must(t, err)
		if n := len(pageAll(t, func(o *kong.ListOpt) ([]*kong.JWTAuth, *kong.ListOpt, error) { return c.JWTAuths.List(ctx, o) })); n != 1 {
			t.Fatalf("jwts: %d", n)
		}
		must(t, c.JWTAuths.Delete(ctx, alice.ID, j.ID))
	})

	t.Run("acls", func(t *testing.T) {
		for _, g := range []string{"admins", "ops", "readers"} {
			_, err := c.ACLs.Create(ctx, alice.ID, &kong.ACLGroup{Group: kong.String(g)})
			must(t, err)
		}
		_, err := c.ACLs.Create(ctx, alice.ID, &kong.ACLGroup{Group: kong.String("ops")})
		mustStatus(t, err, http.StatusConflict)
		got, err := c.ACLs.Get(ctx, alice.ID, kong.String("ops"))
		must(t, err)
		got.Tags = kong.StringSlice("t")
		_, err = c.ACLs.Update(ctx, alice.ID, got)
		must(t, err)
		if n := len(pageAll(t, func(o *kong.ListOpt) ([]*kong.ACLGroup, *kong.ListOpt, error) { return c.ACLs.List(ctx, o) })); n != 3 {
			t.Fatalf("acls: %d", n)
		}
		must(t, c.ACLs.Delete(ctx, alice.ID, kong.String("readers")))
		mine, _, err := c.ACLs.ListForConsumer(ctx, alice.ID, nil)
		must(t, err)
		if len(mine) != 2 {
			t.Fatalf("acls after delete: %d", len(mine))
		}
	})

	// Credentials go with their consumer.
	must(t, c.Consumers.Delete(ctx, alice.ID))
	acls, err := c.ACLs.ListAll(ctx)
	must(t, err)
	if len(acls) != 0 {
		t.Fatalf("acls of a deleted consumer remain: %d", len(acls))
	}
}

func TestGoKongPlugins(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	svc, err := c.Services.Create(ctx, &kong.Service{Name: kong.String("api"), Host: kong.String("api.internal")})
	must(t, err)
	route, err := c.Routes.CreateInService(ctx, svc.ID, &kong.Route{Name: kong.String("r"), Paths: kong.StringSlice("/r")})
	must(t, err)
	consumer, err := c.Consumers.Create(ctx, &kong.Consumer{Username: kong.String("bob")})
	must(t, err)

	global, err := c.Plugins.Create(ctx, &kong.Plugin{Name: kong.String("correlation-id")})
	must(t, err)
	if !*global.Enabled || len(global.Protocols) != 4 || global.Service != nil {
		t.Fatalf("plugin defaults: %+v", global)
	}
	onSvc, err := c.Plugins.CreateForService(ctx, svc.Name, &kong.Plugin{Name: kong.String("rate-limiting"),
		Config: kong.Configuration{"minute": 10, "policy": "local"}})
	must(t, err)
	if *onSvc.Service.ID != *svc.ID {
		t.Fatal("service scope")
	}
	_, err = c.Plugins.CreateForRoute(ctx, route.ID, &kong.Plugin{Name: kong.String("key-auth")})
	must(t, err)
	_, err = c.Plugins.Create(ctx, &kong.Plugin{Name: kong.String("rate-limiting"), Consumer: &kong.Consumer{ID: consumer.ID},
		Config: kong.Configuration{"minute": 5}})
	must(t, err)

	// The same plugin twice on one scope, an unknown plugin, an auth
	// plugin on a consumer.
	_, err = c.Plugins.CreateForService(ctx, svc.ID, &kong.Plugin{Name: kong.String("rate-limiting")})
	mustStatus(t, err, http.StatusConflict)
	_, err = c.Plugins.Create(ctx, &kong.Plugin{Name: kong.String("no-such-plugin")})
	mustStatus(t, err, http.StatusBadRequest)
	_, err = c.Plugins.Create(ctx, &kong.Plugin{Name: kong.String("key-auth"), Consumer: &kong.Consumer{ID: consumer.ID}})
	mustStatus(t, err, http.StatusBadRequest)

	onSvc.Config = kong.Configuration{"hour": 100}
	upd, err := c.Plugins.Update(ctx, onSvc)
	must(t, err)
	if upd.Config["minute"] == nil || upd.Config["hour"] == nil {
		t.Fatalf("config not merged: %v", upd.Config)
	}

	all := pageAll(t, func(o *kong.ListOpt) ([]*kong.Plugin, *kong.ListOpt, error) { return c.Plugins.List(ctx, o) })
	if len(all) != 4 {
		t.Fatalf("plugins: %d", len(all))
	}
	forSvc, err := c.Plugins.ListAllForService(ctx, svc.ID)
	must(t, err)
	forRoute, err := c.Plugins.ListAllForRoute(ctx, route.ID)
	must(t, err)
	forConsumer, err := c.Plugins.ListAllForConsumer(ctx, consumer.ID)
	must(t, err)
	if len(forSvc) != 1 || len(forRoute) != 1 || len(forConsumer) != 1 {
		t.Fatalf("scoped lists: service %d route %d consumer %d", len(forSvc), len(forRoute), len(forConsumer))
	}
	// Plugins go with the route they are on.
	must(t, c.Routes.Delete(ctx, route.ID))
	forRoute, err = c.Plugins.ListAll(ctx)
	must(t, err)
	if len(forRoute) != 3 {
		t.Fatalf("plugins after route delete: %d", len(forRoute))
	}
	must(t, c.Plugins.Delete(ctx, global.ID))
	_, err = c.Plugins.Get(ctx, global.ID)
	if !kong.IsNotFoundErr(err) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestGoKongCertificatesSNIsCACertificates(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	certPEM, keyPEM := selfSigned(t, "api.example.com", false, false)
	cert, err := c.Certificates.Create(ctx, &kong.Certificate{Cert: kong.String(certPEM), Key: kong.String(keyPEM),
		SNIs: kong.StringSlice("api.example.com", "*.api.example.com")})
	must(t, err)
	if len(cert.SNIs) != 2 {
		t.Fatalf("certificate snis: %v", cert.SNIs)
	}
	_, otherKey := selfSigned(t, "other", false, false)
	_, err = c.Certificates.Create(ctx, &kong.Certificate{Cert: kong.String(certPEM), Key: kong.String(otherKey)})
	mustStatus(t, err, http.StatusBadRequest)

	// Kong finds a certificate by one of its SNIs too.
	bySNI, err := c.Certificates.Get(ctx, kong.String("api.example.com"))
	must(t, err)
	if *bySNI.ID != *cert.ID {
		t.Fatal("certificate by sni")
	}
	rsaCert, rsaKey := selfSigned(t, "alt", false, true)
	cert.CertAlt, cert.KeyAlt = kong.String(rsaCert), kong.String(rsaKey)
	cert.SNIs = kong.StringSlice("api.example.com")
	upd, err := c.Certificates.Update(ctx, cert)
	must(t, err)
	if upd.CertAlt == nil || len(upd.SNIs) != 1 {
		t.Fatalf("certificate update: alt %v snis %v", upd.CertAlt != nil, upd.SNIs)
	}

	sni, err := c.SNIs.Create(ctx, &kong.SNI{Name: kong.String("www.example.com"), Certificate: &kong.Certificate{ID: cert.ID}})
	must(t, err)
	_, err = c.SNIs.Create(ctx, &kong.SNI{Name: kong.String("www.example.com"), Certificate: &kong.Certificate{ID: cert.ID}})
	mustStatus(t, err, http.StatusConflict)
	gotSNI, err := c.SNIs.Get(ctx, kong.String("www.example.com"))
	must(t, err)
	gotSNI.Tags = kong.StringSlice("t")
	_, err = c.SNIs.Update(ctx, gotSNI)
	must(t, err)
	if n := len(pageAll(t, func(o *kong.ListOpt) ([]*kong.SNI, *kong.ListOpt, error) { return c.SNIs.List(ctx, o) })); n != 2 {
		t.Fatalf("snis: %d", n)
	}
	forCert, _, err := c.SNIs.ListForCertificate(ctx, cert.ID, nil)
	must(t, err)
	if len(forCert) != 2 {
		t.Fatalf("snis of certificate: %d", len(forCert))
	}
	must(t, c.SNIs.Delete(ctx, sni.ID))

	caPEM, _ := selfSigned(t, "Test CA", true, false)
	ca, err := c.CACertificates.Create(ctx, &kong.CACertificate{Cert: kong.String(caPEM)})
	must(t, err)
	if ca.CertDigest == nil || len(*ca.CertDigest) != 64 {
		t.Fatalf("cert_digest: %v", ca.CertDigest)
	}
	_, err = c.CACertificates.Create(ctx, &kong.CACertificate{Cert: kong.String(caPEM)})
	mustStatus(t, err, http.StatusConflict)
	leaf, _ := selfSigned(t, "leaf", false, false)
	_, err = c.CACertificates.Create(ctx, &kong.CACertificate{Cert: kong.String(leaf)})
	mustStatus(t, err, http.StatusBadRequest)
	ca.Tags = kong.StringSlice("t")
	_, err = c.CACertificates.Update(ctx, ca)
	must(t, err)
	if n := len(pageAll(t, func(o *kong.ListOpt) ([]*kong.CACertificate, *kong.ListOpt, error) {
		return c.CACertificates.List(ctx, o)
	})); n != 1 {
		t.Fatalf("ca_certificates: %d", n)
	}

	// A service that trusts the CA keeps it from being deleted.
	_, err = c.Services.Create(ctx, &kong.Service{Name: kong.String("tls"), URL: kong.String("https://up.internal"),
		CACertificates: kong.StringSlice(*ca.ID), ClientCertificate: &kong.Certificate{ID: cert.ID}})
	must(t, err)
	mustStatus(t, c.CACertificates.Delete(ctx, ca.ID), http.StatusBadRequest)
	mustStatus(t, c.Certificates.Delete(ctx, cert.ID), http.StatusBadRequest)
	must(t, c.Services.Delete(ctx, kong.String("tls")))
	must(t, c.CACertificates.Delete(ctx, ca.ID))

	// SNIs go with their certificate.
	must(t, c.Certificates.Delete(ctx, cert.ID))
	left, err := c.SNIs.ListAll(ctx)
	must(t, err)
	if len(left) != 0 {
		t.Fatalf("snis of a deleted certificate remain: %d", len(left))
	}
}

func TestGoKongInfoAndStatus(t *testing.T) {
	ctx := context.Background()
	c := newClient(t)
	root, err := c.Root(ctx)
	must(t, err)
	if root["version"] != "3.10.0" {
		t.Fatalf("version: %v", root["version"])
	}
	v, err := kong.ParseSemanticVersion(kong.VersionFromInfo(root))
	must(t, err)
	if v.Major() != 3 {
		t.Fatalf("parsed version %v", v)
	}
	st, err := c.Status(ctx)
	must(t, err)
	if !st.Database.Reachable || st.Server.TotalRequests < 2 {
		t.Fatalf("status: %+v", st)
	}
}

// selfSigned makes a certificate and its key, PEM-encoded: a CA when ca is
// set, RSA when rsaKey is set, ECDSA otherwise.
func selfSigned(t *testing.T, cn string, ca, rsaKey bool) (certPEM, keyPEM string) {
	t.Helper()
	var key any
	var pub any
	if rsaKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		must(t, err)
		key, pub = k, &k.PublicKey
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
		key, pub = k, &k.PublicKey
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		DNSNames:              []string{cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		BasicConstraintsValid: true,
		IsCA:                  ca,
	}
	if ca {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	must(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	must(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
}
