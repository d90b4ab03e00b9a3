package store

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"

	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/entity"
)

// Snapshot returns every stored entity as a declarative config, with the
// config version it reflects, read in one consistent view.
func (s *Store) Snapshot(ctx context.Context) (*declarative.Config, int64, error) {
	all := map[string][]entity.Entity{}
	var version int64
	err := s.View(ctx, func(tx *Tx) error {
		var err error
		if version, err = tx.r.Version(); err != nil {
			return err
		}
		for _, sch := range entity.Types() {
			page, err := tx.List(sch, ListOptions{})
			if err != nil {
				return err
			}
			if len(page.Data) > 0 {
				all[sch.Name] = page.Data
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return declarative.FromEntities(all), version, nil
}

// Replace makes the stored configuration exactly cfg, an already validated
// declarative config: entities missing from cfg are deleted, the others
// written. An entity whose content did not change keeps its timestamps and
// is not a change; timestamps cfg does not give are set to now. A unique key
// may move between entities (two services swap names): every key an old
// entity gives up is freed before any entity is written.
func (tx *Tx) Replace(cfg *declarative.Config) error {
	if tx.w == nil {
		return errReadOnly
	}
	old := map[string]map[string]entity.Entity{}
	for _, sch := range entity.Types() {
		page, err := tx.List(sch, ListOptions{})
		if err != nil {
			return err
		}
		keep := map[string]bool{}
		for _, e := range cfg.Entities[sch.Name] {
			keep[e.ID()] = true
		}
		byID := map[string]entity.Entity{}
		for _, e := range page.Data {
			if keep[e.ID()] {
				byID[e.ID()] = e
				continue
			}
			// Deletes go first so that a key an old entity held is free
			// for the new one that takes it.
			if err := tx.w.Delete(sch.Name, e.ID()); err != nil {
				return err
			}
		}
		old[sch.Name] = byID
	}
	var recs []*Record
	for _, sch := range entity.Types() {
		hasUpdatedAt := sch.Field("updated_at") != nil
		for _, e := range cfg.Entities[sch.Name] {
			e = e.Clone()
			prev := old[sch.Name][e.ID()]
			switch {
			case prev == nil:
				if e["created_at"] == nil {
					e["created_at"] = tx.now
				}
				if hasUpdatedAt && e["updated_at"] == nil {
					e["updated_at"] = tx.now
				}
			default:
				if e["created_at"] == nil {
					e["created_at"] = prev["created_at"]
				}
				if hasUpdatedAt && e["updated_at"] == nil {
					if sameContent(prev, e) {
						e["updated_at"] = prev["updated_at"]
					} else {
						e["updated_at"] = tx.now
					}
				}
			}
			rec, err := NewRecord(sch, e)
			if err != nil {
				return err
			}
			recs = append(recs, rec)
			if prev == nil {
				continue
			}
			// A kept entity whose keys change is taken out until its
			// turn, so that the keys it gives up are free for the entity
			// that takes them, whichever is written first. Taken out and
			// written again, it is one update in the change log.
			prevRec, err := NewRecord(sch, prev)
			if err != nil {
				return err
			}
			if !slices.Equal(prevRec.Keys, rec.Keys) {
				if err := tx.w.Delete(sch.Name, e.ID()); err != nil {
					return err
				}
			}
		}
	}
	for _, rec := range recs {
		if err := tx.w.Put(rec); err != nil {
			return err
		}
	}
	return nil
}

// sameContent compares two entities ignoring their timestamps.
func sameContent(a, b entity.Entity) bool {
	strip := func(e entity.Entity) []byte {
		c := make(map[string]any, len(e))
		for k, v := range e {
			if k != "created_at" && k != "updated_at" {
				c[k] = v
			}
		}
		data, _ := json.Marshal(c)
		return data
	}
	return bytes.Equal(strip(a), strip(b))
}
