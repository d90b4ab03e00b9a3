package admin

import (
	"net/http"

	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/store"
)

// handleGetConfig serves GET /config: the whole configuration as a
// declarative (decK-style, nested) YAML document in Kong's {"config": ...}
// envelope.
func (s *Server) handleGetConfig(w http.ResponseWriter, r *http.Request) {
	cfg, version, err := s.store.Snapshot(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	text, err := cfg.Encode(declarative.YAML, declarative.Nested)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"config":         string(text),
		"config_hash":    cfg.Hash().Config,
		"config_version": version,
	})
}

// handlePostConfig serves POST /config: it replaces the whole
// configuration with a declarative document, in one transaction, or
// changes nothing and lists every error. With check_hash=1 a document equal
// to the current config is answered 304 without a write, as in Kong.
func (s *Server) handlePostConfig(w http.ResponseWriter, r *http.Request) {
	text, err := configText(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	cfg, err := declarative.Parse(text)
	if err != nil {
		s.writeError(w, r, declarativeError(err))
		return
	}
	hash := cfg.Hash().Config
	if r.URL.Query().Get("check_hash") == "1" {
		current, _, err := s.store.Snapshot(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if current.Hash().Config == hash {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	version, err := s.store.Update(r.Context(), func(tx *store.Tx) error { return tx.Replace(cfg) })
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.log.Info("declarative config imported", "config_hash", hash, "config_version", version, "entities", cfg.Count())
	writeJSON(w, http.StatusCreated, map[string]any{
		"config_hash":    hash,
		"config_version": version,
		"entities":       cfg.Count(),
	})
}

// configText finds the declarative document in a POST /config request:
// the "config" member of a JSON, form or multipart body (Kong's shapes), or
// else the body itself, as YAML or JSON, whatever its Content-Type claims
// (curl --data-binary sends YAML as a form).
func configText(r *http.Request) ([]byte, error) {
	raw, err := readRaw(r, maxConfigBody)
	if err != nil {
		return nil, err
	}
	b, err := decodeBody(raw, r.Header.Get("Content-Type"), maxConfigBody)
	if err != nil {
		return raw, nil
	}
	v, ok := b.values["config"]
	if !ok {
		return raw, nil
	}
	text, ok := v.(string)
	if !ok {
		if _, isDoc := b.values["_format_version"]; isDoc {
			return raw, nil
		}
		return nil, badRequest("the 'config' member must hold the declarative document as a string")
	}
	return []byte(text), nil
}

// declarativeError turns a parse failure into Kong's error body: every
// error by entity, as a tree and as a flat list.
func declarativeError(err error) error {
	if errs, ok := err.(declarative.Errors); ok {
		return store.DeclarativeError("declarative config is invalid: "+errs.Error(), errs.Fields(),
			map[string]any{"flattened_errors": errs.Flattened()})
	}
	return store.DeclarativeError("declarative config is invalid: "+err.Error(), nil,
		map[string]any{"flattened_errors": []any{}})
}
