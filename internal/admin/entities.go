package admin

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-gw/gantry/internal/entity"
	"github.com/gantry-gw/gantry/internal/store"
)

// collection is an entity type as the Admin API names it in paths.
type collection struct {
	path   string
	schema *entity.Schema
}

var (
	services       = collection{"services", entity.Services}
	routes         = collection{"routes", entity.Routes}
	upstreams      = collection{"upstreams", entity.Upstreams}
	targets        = collection{"targets", entity.Targets}
	consumers      = collection{"consumers", entity.Consumers}
	plugins        = collection{"plugins", entity.Plugins}
	certificates   = collection{"certificates", entity.Certificates}
	snis           = collection{"snis", entity.SNIs}
	caCertificates = collection{"ca_certificates", entity.CACertificates}
)

// topLevel are the collections served at /<path>. Credentials have their
// own top-level paths (/key-auths) besides the nested ones.
var topLevel = []collection{
	services, routes, upstreams, consumers, plugins, certificates, snis, caCertificates,
	{"key-auths", entity.KeyAuthCredentials},
	{"basic-auths", entity.BasicAuthCredentials},
	{"jwts", entity.JWTSecrets},
	{"acls", entity.ACLs},
}

// nesting is a collection served below one entity of its parent, with the
// child's foreign key to that parent.
type nesting struct {
	parent collection
	child  collection
	field  string
}

var nested = []nesting{
	{services, routes, "service"},
	{services, plugins, "service"},
	{routes, plugins, "route"},
	{consumers, plugins, "consumer"},
	{upstreams, targets, "upstream"},
	{consumers, collection{"key-auth", entity.KeyAuthCredentials}, "consumer"},
	{consumers, collection{"basic-auth", entity.BasicAuthCredentials}, "consumer"},
	{consumers, collection{"jwt", entity.JWTSecrets}, "consumer"},
	{consumers, collection{"acls", entity.ACLs}, "consumer"},
	{certificates, snis, "certificate"},
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /{$}", s.handleRoot)
	s.mux.HandleFunc("GET /status", s.handleStatus)
	s.mux.HandleFunc("GET /config", s.handleGetConfig)
	s.mux.HandleFunc("POST /config", s.handlePostConfig)
	s.mux.HandleFunc("GET /plugins/enabled", s.handleEnabledPlugins)
	s.mux.HandleFunc("GET /routes/{id}/service", s.handleRouteService)
	s.mux.HandleFunc("GET /clustering/data-planes", s.handleDataPlanes)
	s.mux.HandleFunc("GET /clustering/status", s.handleClusteringStatus)
	s.mux.HandleFunc("GET /clustering/expected-config-hash", s.handleExpectedConfigHash)
	for _, c := range topLevel {
		s.handleCollection("/"+c.path, c.schema, nil)
	}
	for _, n := range nested {
		s.handleCollection("/"+n.parent.path+"/{parent}/"+n.child.path, n.child.schema, &n)
	}
}

// handleCollection registers the five verbs of a collection and its items.
func (s *Server) handleCollection(base string, sch *entity.Schema, n *nesting) {
	h := &entityHandler{s: s, schema: sch, nest: n}
	s.mux.HandleFunc("GET "+base, h.list)
	s.mux.HandleFunc("POST "+base, h.create)
	s.mux.HandleFunc("GET "+base+"/{id}", h.get)
	s.mux.HandleFunc("PUT "+base+"/{id}", h.upsert)
	s.mux.HandleFunc("PATCH "+base+"/{id}", h.patch)
	s.mux.HandleFunc("DELETE "+base+"/{id}", h.delete)
}

// entityHandler serves one collection, top-level or nested.
type entityHandler struct {
	s      *Server
	schema *entity.Schema
	nest   *nesting
}

// scope resolves the parent of a nested path to a store scope; nil at top
// level.
func (h *entityHandler) scope(tx *store.Tx, r *http.Request) (*store.Scope, error) {
	if h.nest == nil {
		return nil, nil
	}
	parent, err := h.s.lookup(tx, h.nest.parent.schema, r.PathValue("parent"), nil)
	if err != nil {
		return nil, err
	}
	return &store.Scope{Field: h.nest.field, ID: parent.ID()}, nil
}

// lookup finds an entity by id or key; certificates are also found by the
// name of one of their SNIs, as in Kong.
func (s *Server) lookup(tx *store.Tx, sch *entity.Schema, idOrKey string, scope *store.Scope) (entity.Entity, error) {
	if sch == entity.Certificates && !entity.IsUUID(idOrKey) {
		sni, err := tx.Get(entity.SNIs, idOrKey, nil)
		var se *store.Error
		if asStoreError(err, &se) && se.Code == store.CodeNotFound {
			return nil, errSNINotFound
		}
		if err != nil {
			return nil, err
		}
		idOrKey = sni.Ref("certificate")
	}
	return tx.Get(sch, idOrKey, scope)
}

func (h *entityHandler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	opts, err := listOptions(q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var page store.Page
	err = h.s.store.View(r.Context(), func(tx *store.Tx) error {
		scope, err := h.scope(tx, r)
		if err != nil {
			return err
		}
		opts.Scope = scope
		if h.schema == entity.Consumers && q.Get("custom_id") != "" {
			page, err = consumerByCustomID(tx, q.Get("custom_id"))
			return err
		}
		page, err = tx.List(h.schema, opts)
		if err != nil {
			return err
		}
		for _, e := range page.Data {
			if err := h.s.decorate(tx, h.schema, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	out := map[string]any{"data": page.Data, "next": nil}
	if page.Offset != "" {
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("offset", page.Offset)
		out["next"] = r.URL.Path + "?" + next.Encode()
		out["offset"] = page.Offset
	}
	writeJSON(w, http.StatusOK, out)
}

// consumerByCustomID serves GET /consumers?custom_id=x, which Kong answers
// with a list of zero or one consumer.
func consumerByCustomID(tx *store.Tx, customID string) (store.Page, error) {
	c, err := tx.GetBy(entity.Consumers, "custom_id", customID)
	var se *store.Error
	if asStoreError(err, &se) && se.Code == store.CodeNotFound {
		return store.Page{Data: []entity.Entity{}}, nil
	}
	if err != nil {
		return store.Page{}, err
	}
	return store.Page{Data: []entity.Entity{c}}, nil
}

// listOptions reads Kong's paging and tag parameters: size (1-1000,
// default 100), offset, and tags joined by "," (all) or "/" (any).
func listOptions(q url.Values) (store.ListOptions, error) {
	opts := store.ListOptions{Size: 100, Offset: q.Get("offset")}
	if v := q.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return opts, store.InvalidSize("size must be a number")
		}
		if n < 1 || n > 1000 {
			return opts, store.InvalidSize("size must be an integer between 1 and 1000")
		}
		opts.Size = n
	}
	if tags := q.Get("tags"); tags != "" {
		hasAnd, hasOr := strings.Contains(tags, ","), strings.Contains(tags, "/")
		if hasAnd && hasOr {
			return opts, errTagFilter
		}
		sep := ","
		if hasOr {
			sep, opts.AnyTag = "/", true
		}
		for _, t := range strings.Split(tags, sep) {
			if t == "" {
				return opts, errTagFilter
			}
			opts.Tags = append(opts.Tags, t)
		}
	}
	return opts, nil
}

// errTagFilter refuses a tags filter that mixes "," and "/" or names an
// empty tag, in the shape of Kong's "invalid options" error (code 11),
// whose details sit under "options" rather than "fields".
var errTagFilter = &apiError{status: http.StatusBadRequest, body: map[string]any{
	"code":    11,
	"name":    "invalid options",
	"message": "invalid option (tags: invalid filter syntax)",
	"options": map[string]any{"tags": "invalid filter syntax"},
}}

func (h *entityHandler) get(w http.ResponseWriter, r *http.Request) {
	var e entity.Entity
	err := h.s.store.View(r.Context(), func(tx *store.Tx) error {
		scope, err := h.scope(tx, r)
		if err != nil {
			return err
		}
		e, err = h.s.lookup(tx, h.schema, r.PathValue("id"), scope)
		if err != nil {
			return err
		}
		return h.s.decorate(tx, h.schema, e)
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (h *entityHandler) create(w http.ResponseWriter, r *http.Request) {
	h.write(w, r, http.StatusCreated, func(tx *store.Tx, scope *store.Scope, b body) (entity.Entity, error) {
		return tx.Insert(h.schema, b.values, store.WriteOptions{Coerce: b.form, Scope: scope})
	})
}

func (h *entityHandler) upsert(w http.ResponseWriter, r *http.Request) {
	h.write(w, r, http.StatusOK, func(tx *store.Tx, scope *store.Scope, b body) (entity.Entity, error) {
		key := r.PathValue("id")
		if h.schema == entity.Certificates && !entity.IsUUID(key) {
			return h.s.upsertCertificateBySNI(tx, key, b)
		}
		e, _, err := tx.Upsert(h.schema, key, b.values, store.WriteOptions{Coerce: b.form, Scope: scope})
		return e, err
	})
}

func (h *entityHandler) patch(w http.ResponseWriter, r *http.Request) {
	h.write(w, r, http.StatusOK, func(tx *store.Tx, scope *store.Scope, b body) (entity.Entity, error) {
		old, err := h.s.lookup(tx, h.schema, r.PathValue("id"), scope)
		if err != nil {
			return nil, err
		}
		return tx.Patch(h.schema, old.ID(), b.values, store.WriteOptions{Coerce: b.form, Scope: scope})
	})
}

// write runs a create or update in one transaction, with the certificate
// SNI shorthand handled around it, and answers with the stored entity.
func (h *entityHandler) write(w http.ResponseWriter, r *http.Request, status int,
	op func(*store.Tx, *store.Scope, body) (entity.Entity, error)) {
	b, err := readBody(r, maxEntityBody)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var e entity.Entity
	_, err = h.s.store.Update(r.Context(), func(tx *store.Tx) error {
		scope, err := h.scope(tx, r)
		if err != nil {
			return err
		}
		names, hasSNIs, err := takeSNIs(h.schema, b.values)
		if err != nil {
			return err
		}
		if h.schema == entity.Certificates && r.Method == http.MethodPut {
			// PUT replaces the whole certificate, its SNIs included; PUT
			// by SNI keeps (or gives) the certificate that SNI.
			hasSNIs = true
			if key := r.PathValue("id"); !entity.IsUUID(key) && !slices.Contains(names, key) {
				names = append(names, key)
			}
		}
		e, err = op(tx, scope, b)
		if err != nil {
			return err
		}
		if hasSNIs {
			if err := setCertificateSNIs(tx, e.ID(), names); err != nil {
				return err
			}
		}
		return h.s.decorate(tx, h.schema, e)
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, status, e)
}

func (h *entityHandler) delete(w http.ResponseWriter, r *http.Request) {
	_, err := h.s.store.Update(r.Context(), func(tx *store.Tx) error {
		scope, err := h.scope(tx, r)
		if err != nil {
			return err
		}
		e, err := h.s.lookup(tx, h.schema, r.PathValue("id"), scope)
		if err != nil {
			return err
		}
		_, err = tx.Delete(h.schema, e.ID(), nil)
		return err
	})
	var se *store.Error
	// Kong answers 204 to a delete of something that is not there, except
	// below a parent, where a missing parent or child is a 404.
	if err != nil && (h.nest != nil || !(asStoreError(err, &se) && se.Code == store.CodeNotFound)) {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// fail answers err. Below a parent (/services/{a}/routes/{b}) Kong answers
// a missing parent, a missing child and a child of another parent alike,
// with a bare {"message":"Not found"} whatever the method; elsewhere the
// store's error is answered as it is.
func (h *entityHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var se *store.Error
	if h.nest != nil && asStoreError(err, &se) && se.Code == store.CodeNotFound {
		h.s.writeError(w, r, errNotFound)
		return
	}
	h.s.writeError(w, r, err)
}

// handleRouteService serves GET /routes/{id}/service, the service a route
// points at.
func (s *Server) handleRouteService(w http.ResponseWriter, r *http.Request) {
	var svc entity.Entity
	err := s.store.View(r.Context(), func(tx *store.Tx) error {
		route, err := tx.Get(entity.Routes, r.PathValue("id"), nil)
		if err != nil {
			return err
		}
		if route.Ref("service") == "" {
			return errNotFound
		}
		svc, err = tx.Get(entity.Services, route.Ref("service"), nil)
		return err
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, svc)
}

// handleEnabledPlugins lists the plugins this node can run.
func (s *Server) handleEnabledPlugins(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"enabled_plugins": entity.PluginNames()})
}
