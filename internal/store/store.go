package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/gantry-gw/gantry/internal/entity"
)

// Store is the control plane's configuration database: Kong's rules for
// entities (defaults, unique names, references, cascading deletes) over a
// Backend that persists them. Every write goes through Update, one
// transaction that advances the config version.
type Store struct {
	backend Backend
	now     func() time.Time

	mu        sync.Mutex
	listeners []func(version int64)
}

// New returns a Store over backend.
func New(backend Backend) *Store {
	return &Store{backend: backend, now: time.Now}
}

// Close closes the backend.
func (s *Store) Close() error { return s.backend.Close() }

// View runs fn against a consistent read-only view.
func (s *Store) View(ctx context.Context, fn func(*Tx) error) error {
	return s.backend.View(ctx, func(r Reader) error {
		return fn(&Tx{r: r})
	})
}

// Update runs fn in one write transaction and returns the config version
// after it. When fn fails nothing is written and the version stays.
func (s *Store) Update(ctx context.Context, fn func(*Tx) error) (int64, error) {
	now := s.now().Unix()
	var before int64
	v, err := s.backend.Update(ctx, func(w Writer) error {
		var err error
		if before, err = w.Version(); err != nil {
			return err
		}
		return fn(&Tx{r: w, w: w, now: now})
	})
	// The backend bumps the version at commit when anything changed; a
	// write that changed nothing leaves it and wakes nobody.
	if err == nil && v != before {
		s.notify(v)
	}
	return v, err
}

// OnChange registers fn to be called, after commit, with the new version of
// every Update that changed the configuration — how a traditional node's
// proxy and, later, the control plane's push learn of writes made through
// this Store. fn must not block.
func (s *Store) OnChange(fn func(version int64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.listeners = append(s.listeners, fn)
}

func (s *Store) notify(version int64) {
	s.mu.Lock()
	listeners := slices.Clone(s.listeners)
	s.mu.Unlock()
	for _, fn := range listeners {
		fn(version)
	}
}

// Version returns the current config version.
func (s *Store) Version(ctx context.Context) (int64, error) {
	var v int64
	err := s.backend.View(ctx, func(r Reader) error {
		var err error
		v, err = r.Version()
		return err
	})
	return v, err
}

// Changes returns change-log entries after version since, oldest first.
func (s *Store) Changes(ctx context.Context, since int64, limit int) ([]Change, error) {
	return s.backend.Changes(ctx, since, limit)
}

// PluginNames returns the distinct names of the configured plugins, sorted.
func (s *Store) PluginNames(ctx context.Context) ([]string, error) {
	seen := map[string]bool{}
	err := s.View(ctx, func(tx *Tx) error {
		page, err := tx.List(entity.Plugins, ListOptions{})
		for _, p := range page.Data {
			seen[p.String("name")] = true
		}
		return err
	})
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, err
}

// Tx is a view of the store inside View or Update. Its write methods apply
// Kong's semantics and fail inside View.
type Tx struct {
	r   Reader
	w   Writer
	now int64
}

// Scope limits an operation to the children of one parent, as nested Admin
// API paths do: the key-auth credentials of one consumer, the targets of one
// upstream.
type Scope struct {
	Field string // the child's foreign key field ("consumer")
	ID    string // the parent's id
}

// WriteOptions tune a write.
type WriteOptions struct {
	// Coerce reads string values as the field's type (form bodies).
	Coerce bool
	// Scope sets the parent of a new entity and requires that an existing
	// one has it.
	Scope *Scope
}

// ListOptions select a page of entities.
type ListOptions struct {
	Scope  *Scope
	Tags   []string
	AnyTag bool
	// Size is the page size; 0 returns everything.
	Size int
	// Offset continues a previous page (Page.Offset).
	Offset string
}

// Page is one page of a list; Offset is empty on the last page.
type Page struct {
	Data   []entity.Entity
	Offset string
}

var errReadOnly = errors.New("store: write inside a read-only view")

// Get returns the entity of schema s named by idOrKey: its id, or its
// endpoint key (a service's name); inside a scope, also the rest of its
// cache key (a target's address within its upstream).
func (tx *Tx) Get(s *entity.Schema, idOrKey string, scope *Scope) (entity.Entity, error) {
	id, err := tx.resolve(s, idOrKey, scope)
	if err != nil {
		return nil, err
	}
	e, err := tx.load(s, id)
	if err != nil {
		return nil, err
	}
	if scope != nil && e.Ref(scope.Field) != scope.ID {
		return nil, notFoundFor(s, idOrKey)
	}
	return e, nil
}

// GetBy returns the entity of schema s whose unique field holds value (a
// consumer by custom_id).
func (tx *Tx) GetBy(s *entity.Schema, field, value string) (entity.Entity, error) {
	id, err := tx.r.Lookup(s.Name, uniqueKey(field, value))
	if errors.Is(err, ErrNotFound) {
		return nil, NotFound(map[string]any{field: value})
	}
	if err != nil {
		return nil, err
	}
	return tx.load(s, id)
}

func notFoundFor(s *entity.Schema, idOrKey string) *Error {
	if entity.IsUUID(idOrKey) || s.EndpointKey == "" {
		return NotFound(map[string]any{"id": idOrKey})
	}
	return NotFound(map[string]any{s.EndpointKey: idOrKey})
}

// resolve turns an id or key into an id.
func (tx *Tx) resolve(s *entity.Schema, idOrKey string, scope *Scope) (string, error) {
	if entity.IsUUID(idOrKey) {
		return lowerASCII(idOrKey), nil
	}
	var key string
	switch field := pathKeyField(s, scope); {
	case field == "":
		return "", NotFound(map[string]any{"id": idOrKey})
	case field == s.EndpointKey:
		key = uniqueKey(field, idOrKey)
	default:
		v := any(idOrKey)
		if f := s.Field(field); f.Normalize != nil {
			v = f.Normalize(idOrKey)
		}
		key = cacheKeyOf([]any{scope.ID, v})
	}
	id, err := tx.r.Lookup(s.Name, key)
	if errors.Is(err, ErrNotFound) {
		return "", notFoundFor(s, idOrKey)
	}
	return id, err
}

func (tx *Tx) load(s *entity.Schema, id string) (entity.Entity, error) {
	rec, err := tx.r.Get(s.Name, id)
	if errors.Is(err, ErrNotFound) {
		return nil, NotFound(map[string]any{"id": id})
	}
	if err != nil {
		return nil, err
	}
	return decodeRecord(rec)
}

func decodeRecord(rec *Record) (entity.Entity, error) {
	e, err := entity.Decode(rec.Data)
	if err != nil {
		return nil, fmt.Errorf("decode %s %s: %w", rec.Type, rec.ID, err)
	}
	return e, nil
}

// List returns a page of entities of schema s in id order.
func (tx *Tx) List(s *entity.Schema, opts ListOptions) (Page, error) {
	f := Filter{Tags: opts.Tags, AnyTag: opts.AnyTag}
	if opts.Scope != nil {
		f.RefField, f.RefTo = opts.Scope.Field, opts.Scope.ID
	}
	if opts.Offset != "" {
		after, err := base64.RawURLEncoding.DecodeString(opts.Offset)
		if err != nil || !entity.IsUUID(string(after)) {
			return Page{}, invalidOffset(opts.Offset, "bad offset")
		}
		f.After = string(after)
	}
	if opts.Size > 0 {
		f.Limit = opts.Size + 1
	}
	recs, err := tx.r.List(s.Name, f)
	if err != nil {
		return Page{}, err
	}
	var page Page
	if opts.Size > 0 && len(recs) > opts.Size {
		recs = recs[:opts.Size]
		page.Offset = base64.RawURLEncoding.EncodeToString([]byte(recs[len(recs)-1].ID))
	}
	page.Data = make([]entity.Entity, 0, len(recs))
	for _, rec := range recs {
		e, err := decodeRecord(rec)
		if err != nil {
			return Page{}, err
		}
		page.Data = append(page.Data, e)
	}
	return page, nil
}

// Insert creates an entity from client input: generated values and
// defaults filled, validated, references resolved and checked, unique
// fields checked.
func (tx *Tx) Insert(s *entity.Schema, input map[string]any, opts WriteOptions) (entity.Entity, error) {
	if tx.w == nil {
		return nil, errReadOnly
	}
	in := copyMap(input)
	if opts.Scope != nil {
		in[opts.Scope.Field] = map[string]any{"id": opts.Scope.ID}
	}
	s.Generate(in)
	e, verrs := s.Validate(in, entity.Options{Coerce: opts.Coerce})
	if verrs != nil {
		return nil, SchemaViolation(verrs)
	}
	if e.ID() == "" {
		e["id"] = entity.NewID()
	}
	if _, err := tx.r.Get(s.Name, e.ID()); err == nil {
		return nil, primaryKeyViolation(e.ID())
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if e["created_at"] == nil {
		e["created_at"] = tx.now
	}
	if s.Field("updated_at") != nil {
		e["updated_at"] = tx.now
	}
	return e, tx.save(s, e, in)
}

// Upsert creates or replaces the entity named by idOrKey (PUT). The body
// replaces the stored entity entirely; only id and created_at survive.
func (tx *Tx) Upsert(s *entity.Schema, idOrKey string, input map[string]any, opts WriteOptions) (e entity.Entity, created bool, err error) {
	if tx.w == nil {
		return nil, false, errReadOnly
	}
	in := copyMap(input)
	if opts.Scope != nil {
		in[opts.Scope.Field] = map[string]any{"id": opts.Scope.ID}
	}
	old, err := tx.Get(s, idOrKey, opts.Scope)
	var nf *Error
	switch {
	case err == nil:
	case errors.As(err, &nf) && nf.Code == CodeNotFound:
		old = nil
	default:
		return nil, false, err
	}
	if entity.IsUUID(idOrKey) {
		if given, ok := in["id"].(string); ok && lowerASCII(given) != lowerASCII(idOrKey) {
			return nil, false, SchemaViolation(entity.Errors{{Field: "id", Message: "the id in the body does not match the id in the path", Value: given, HasValue: true}})
		}
		in["id"] = lowerASCII(idOrKey)
	} else if key := pathKeyField(s, opts.Scope); key != "" {
		if given, ok := in[key]; ok && given != idOrKey {
			return nil, false, SchemaViolation(entity.Errors{{Field: key,
				Message: "the " + key + " in the body does not match the one in the path", Value: given, HasValue: true}})
		}
		in[key] = idOrKey
		if old != nil {
			in["id"] = old.ID()
		}
	}
	if old == nil {
		e, err := tx.Insert(s, in, WriteOptions{Coerce: opts.Coerce})
		return e, true, err
	}
	s.Generate(in)
	e, verrs := s.Validate(in, entity.Options{Coerce: opts.Coerce})
	if verrs != nil {
		return nil, false, SchemaViolation(verrs)
	}
	e["id"] = old.ID()
	e["created_at"] = old["created_at"]
	if s.Field("updated_at") != nil {
		e["updated_at"] = tx.now
	}
	return e, false, tx.save(s, e, in)
}

// pathKeyField is the field a non-id path segment names: the endpoint key
// (a service's name), or inside a scope the rest of the cache key (a
// target's address within its upstream, an ACL's group within its
// consumer). It is "" when the type has neither.
func pathKeyField(s *entity.Schema, scope *Scope) string {
	if scope != nil && len(s.CacheKey) == 2 && s.CacheKey[0] == scope.Field {
		return s.CacheKey[1]
	}
	return s.EndpointKey
}

// Patch applies a partial update (PATCH): given fields replace stored
// ones, records and plugin configs merge member by member.
func (tx *Tx) Patch(s *entity.Schema, idOrKey string, patch map[string]any, opts WriteOptions) (entity.Entity, error) {
	if tx.w == nil {
		return nil, errReadOnly
	}
	old, err := tx.Get(s, idOrKey, opts.Scope)
	if err != nil {
		return nil, err
	}
	in := copyMap(patch)
	if given, ok := in["id"].(string); ok && lowerASCII(given) != old.ID() {
		return nil, SchemaViolation(entity.Errors{{Field: "id", Message: "cannot change an entity's id", Value: given, HasValue: true}})
	}
	merged := s.Merge(old, in)
	e, verrs := s.Validate(merged, entity.Options{Coerce: opts.Coerce})
	if verrs != nil {
		return nil, SchemaViolation(verrs)
	}
	e["id"] = old.ID()
	e["created_at"] = old["created_at"]
	if s.Field("updated_at") != nil {
		e["updated_at"] = tx.now
	}
	return e, tx.save(s, e, in)
}

// save resolves and checks references, hashes a newly given basic-auth
// password, checks unique fields, and writes the entity. given is what the
// client sent, to tell new values from stored ones.
func (tx *Tx) save(s *entity.Schema, e entity.Entity, given map[string]any) error {
	if err := tx.resolveRefs(s, e); err != nil {
		return err
	}
	if s == entity.BasicAuthCredentials {
		if _, ok := given["password"]; ok {
			entity.HashBasicAuthPassword(e)
		}
	}
	rec, err := NewRecord(s, e)
	if err != nil {
		return err
	}
	if err := tx.checkUnique(s, e); err != nil {
		return err
	}
	if err := tx.w.Put(rec); errors.Is(err, ErrKeyConflict) {
		return uniqueViolation(map[string]any{"key": err.Error()})
	} else if err != nil {
		return err
	}
	return nil
}

// resolveRefs replaces references by endpoint key ({"name": "svc"}) with
// ids and checks that every referenced entity exists.
func (tx *Tx) resolveRefs(s *entity.Schema, e entity.Entity) error {
	for _, f := range s.ForeignFields() {
		ref, ok := e[f.Name].(map[string]any)
		if !ok {
			continue
		}
		target := entity.Lookup(f.Reference)
		if id, ok := ref["id"].(string); ok {
			if _, err := tx.r.Get(f.Reference, id); errors.Is(err, ErrNotFound) {
				return foreignKeyViolation(f.Name, f.Reference, ref)
			} else if err != nil {
				return err
			}
			e[f.Name] = map[string]any{"id": id}
			continue
		}
		name, _ := ref[target.EndpointKey].(string)
		id, err := tx.r.Lookup(f.Reference, uniqueKey(target.EndpointKey, name))
		if errors.Is(err, ErrNotFound) {
			return foreignKeyViolation(f.Name, f.Reference, ref)
		} else if err != nil {
			return err
		}
		e[f.Name] = map[string]any{"id": id}
	}
	if s == entity.Services {
		cas, _ := e["ca_certificates"].([]any)
		for i, v := range cas {
			id := v.(string)
			if _, err := tx.r.Get(entity.CACertificates.Name, id); errors.Is(err, ErrNotFound) {
				err := foreignKeyViolation("ca_certificates", entity.CACertificates.Name, map[string]any{"id": id})
				err.Fields = map[string]any{"ca_certificates": indexed(i, map[string]any{"id": id})}
				return err
			} else if err != nil {
				return err
			}
		}
	}
	return nil
}

func indexed(i int, v any) []any {
	out := make([]any, i+1)
	out[i] = v
	return out
}

// checkUnique refuses a value of a unique field, or a cache key, that
// another entity of the type already holds.
func (tx *Tx) checkUnique(s *entity.Schema, e entity.Entity) error {
	for _, f := range s.UniqueFields() {
		v, ok := e[f.Name].(string)
		if !ok {
			continue
		}
		id, err := tx.r.Lookup(s.Name, uniqueKey(f.Name, v))
		if err == nil && id != e.ID() {
			return uniqueViolation(map[string]any{f.Name: v})
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	if len(s.CacheKey) > 0 {
		id, err := tx.r.Lookup(s.Name, cacheKey(s, e))
		if err == nil && id != e.ID() {
			fields := map[string]any{}
			for _, name := range s.CacheKey {
				fields[name] = e[name]
			}
			return uniqueViolation(fields)
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// Delete removes the entity named by idOrKey. Entities that point at it
// with a cascading reference (a service's plugins) go with it; a
// restricting one (a service's routes) refuses the delete.
func (tx *Tx) Delete(s *entity.Schema, idOrKey string, scope *Scope) (entity.Entity, error) {
	if tx.w == nil {
		return nil, errReadOnly
	}
	e, err := tx.Get(s, idOrKey, scope)
	if err != nil {
		return nil, err
	}
	return e, tx.deleteTree(s, e.ID())
}

func (tx *Tx) deleteTree(s *entity.Schema, id string) error {
	refs, err := tx.r.Referencing(id)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		child := entity.Lookup(ref.Type)
		f := child.Field(ref.Field)
		if f == nil || f.Kind != entity.Foreign || f.OnDelete == entity.Restrict {
			return referencedBy(ref.Type, s.Name)
		}
	}
	for _, ref := range refs {
		if _, err := tx.r.Get(ref.Type, ref.ID); errors.Is(err, ErrNotFound) {
			continue // already gone through another reference
		}
		if err := tx.deleteTree(entity.Lookup(ref.Type), ref.ID); err != nil {
			return err
		}
	}
	return tx.w.Delete(s.Name, id)
}

// NewRecord turns a validated entity into the record a backend stores,
// with the keys, references and tags derived from its schema.
func NewRecord(s *entity.Schema, e entity.Entity) (*Record, error) {
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", s.Name, e.ID(), err)
	}
	rec := &Record{Type: s.Name, ID: e.ID(), Data: data}
	for _, f := range s.UniqueFields() {
		if v, ok := e[f.Name].(string); ok {
			rec.Keys = append(rec.Keys, uniqueKey(f.Name, v))
		}
	}
	if len(s.CacheKey) > 0 {
		rec.Keys = append(rec.Keys, cacheKey(s, e))
	}
	for _, f := range s.ForeignFields() {
		if to := e.Ref(f.Name); to != "" {
			rec.Refs = append(rec.Refs, Ref{Type: s.Name, ID: e.ID(), Field: f.Name, To: to})
		}
	}
	if s == entity.Services {
		cas, _ := e["ca_certificates"].([]any)
		for _, v := range cas {
			rec.Refs = append(rec.Refs, Ref{Type: s.Name, ID: e.ID(), Field: "ca_certificates", To: v.(string)})
		}
	}
	tags, _ := e["tags"].([]any)
	for _, t := range tags {
		rec.Tags = append(rec.Tags, t.(string))
	}
	return rec, nil
}

func uniqueKey(field, value string) string { return field + ":" + value }

// cacheKey is the key made of a schema's CacheKey fields, references by
// id, unset ones as "".
func cacheKey(s *entity.Schema, e entity.Entity) string {
	vals := make([]any, len(s.CacheKey))
	for i, name := range s.CacheKey {
		if s.Field(name).Kind == entity.Foreign {
			vals[i] = e.Ref(name)
		} else if v, ok := e[name].(string); ok {
			vals[i] = v
		} else {
			vals[i] = ""
		}
	}
	return cacheKeyOf(vals)
}

func cacheKeyOf(vals []any) string {
	b, _ := json.Marshal(vals)
	return "cache:" + string(b)
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
