package dp

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/gantry-gw/gantry/internal/cluster"
	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/dpcache"
	"github.com/gantry-gw/gantry/internal/entity"
	"github.com/gantry-gw/gantry/internal/proxy"
)

// latest holds the newest configuration received and not yet applied.
// Putting one replaces any still waiting: the control plane always sends
// its whole, latest configuration, so an older one is never worth
// applying.
type latest struct {
	mu    sync.Mutex
	r     *cluster.Reconfigure
	ready chan struct{} // capacity 1: "something is waiting"
}

func (l *latest) put(r *cluster.Reconfigure) {
	l.mu.Lock()
	l.r = r
	l.mu.Unlock()
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

func (l *latest) take() *cluster.Reconfigure {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.r
	l.r = nil
	return r
}

// applyLoop applies the newest waiting configuration, one at a time,
// until stop is closed. An apply in progress is finished first.
func (s *session) applyLoop(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-s.pending.ready:
		}
		select {
		case <-stop: // the link is gone: the next one brings the newest
			return
		default:
		}
		if r := s.pending.take(); r != nil {
			s.apply(r)
		}
	}
}

// apply makes r the node's configuration, or refuses it and keeps the one
// the node has, and tells the control plane which with Applied or
// Rejected.
func (s *session) apply(r *cluster.Reconfigure) {
	log := s.log.With("config_version", r.ConfigVersion, "config_hash", r.ConfigHash)
	hash, version := s.c.Current()
	if r.ConfigHash == hash {
		// The node already serves it (it came from the cache, or the
		// control plane lost track): nothing to rebuild or cache, but the
		// control plane waits for an answer, and the version may be new.
		if r.ConfigVersion != version {
			s.c.SetCurrent(hash, r.ConfigVersion)
		}
		log.Debug("configuration from the control plane already applied")
		s.send(&cluster.Applied{ConfigVersion: r.ConfigVersion, ConfigHash: r.ConfigHash})
		return
	}
	count, err := s.build(r)
	if err != nil {
		message, problems := rejection(err)
		log.Error("rejected configuration from the control plane; still serving the previous one",
			"previous_config_hash", hash, "error", err)
		s.send(&cluster.Rejected{
			ConfigVersion: r.ConfigVersion,
			ConfigHash:    r.ConfigHash,
			Message:       message,
			Errors:        problems,
		})
		return
	}
	s.c.SetCurrent(r.ConfigHash, r.ConfigVersion)
	log.Info("applied configuration from the control plane", "entities", count)
	s.save(r)
	s.send(&cluster.Applied{ConfigVersion: r.ConfigVersion, ConfigHash: r.ConfigHash})
	s.ping()
}

// build parses r's configuration, checks it is the one the control plane
// announced and hands it to the Applier. It returns the number of
// entities applied.
func (s *session) build(r *cluster.Reconfigure) (int, error) {
	cfg, err := declarative.Parse(r.ConfigTable)
	if err != nil {
		return 0, err
	}
	if got := cfg.Hash().Config; got != r.ConfigHash {
		return 0, &hashMismatchError{got: got, want: r.ConfigHash}
	}
	if err := s.c.opts.Applier.Apply(cfg); err != nil {
		return 0, err
	}
	return cfg.Count(), nil
}

// save writes r to the cache, when there is one. A failure is logged and
// nothing more: the node serves the configuration all the same, and the
// cache gets the next one.
func (s *session) save(r *cluster.Reconfigure) {
	if s.c.opts.Cache == nil {
		return
	}
	err := s.c.opts.Cache.Save(&dpcache.Entry{
		ConfigVersion: r.ConfigVersion,
		ConfigHash:    r.ConfigHash,
		Hashes:        r.Hashes,
		Timestamp:     r.Timestamp,
		ConfigTable:   r.ConfigTable,
	})
	if err != nil {
		s.log.Error("cannot write the configuration cache; a restart will not find this configuration",
			"config_version", r.ConfigVersion, "config_hash", r.ConfigHash, "error", err)
	}
}

// hashMismatchError is a configuration that does not hash to what the
// control plane said: it was damaged on the way, or the two sides do not
// compute hashes alike. Applying it would make the node report a hash the
// control plane never knows.
type hashMismatchError struct{ got, want string }

func (e *hashMismatchError) Error() string {
	return fmt.Sprintf("config_hash mismatch: the configuration hashes to %s, the control plane said %s", e.got, e.want)
}

// rejection renders why a configuration was refused as a Rejected carries
// it: a one-line message and one EntityError per problem. Validation
// errors (declarative.Errors) and compile errors (*proxy.CompileError)
// name the entity and field at fault; any other error is one problem of
// the configuration as a whole.
func rejection(err error) (string, []cluster.EntityError) {
	var invalid declarative.Errors
	var compile *proxy.CompileError
	switch {
	case errors.As(err, &invalid):
		var problems []cluster.EntityError
		for _, ee := range invalid {
			for _, fe := range ee.Errors.Sorted() {
				p := cluster.EntityError{
					EntityType: singular(ee.Type),
					EntityID:   ee.ID,
					EntityName: ee.Name,
					Field:      fe.Field,
					Message:    fe.Message,
				}
				if fe.Field == entity.EntityField {
					p.Field = ""
				}
				problems = append(problems, p)
			}
		}
		return summary("invalid configuration", strings.Split(invalid.Error(), "\n")), problems
	case errors.As(err, &compile):
		problems := make([]cluster.EntityError, len(compile.Problems))
		lines := make([]string, len(compile.Problems))
		for i, pr := range compile.Problems {
			problems[i] = cluster.EntityError{
				EntityType: singular(pr.Type),
				EntityID:   pr.ID,
				EntityName: pr.Name,
				Field:      pr.Field,
				Message:    pr.Message,
			}
			lines[i] = pr.String()
		}
		return summary("configuration cannot run on this node", lines), problems
	}
	message := oneLine(err.Error())
	return message, []cluster.EntityError{{Message: message}}
}

// singular turns an entity type's plural name ("routes") into the
// singular Kong's flattened errors use ("route").
func singular(typ string) string { return strings.TrimSuffix(typ, "s") }

// summary renders "what: first problem (and N more)" on one line.
func summary(what string, lines []string) string {
	var kept []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			kept = append(kept, l)
		}
	}
	switch len(kept) {
	case 0:
		return what
	case 1:
		return what + ": " + oneLine(kept[0])
	}
	return fmt.Sprintf("%s: %s (and %d more)", what, oneLine(kept[0]), len(kept)-1)
}

// oneLine joins the lines of a multi-line text with "; ".
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

// peekVersion reads the config_version and config_hash of a Reconfigure
// frame that failed to decode, so that the control plane learns which
// version was refused. It reads no more than it must: both members come
// before the configuration in every frame a control plane encodes. ok is
// false when the frame is not gzip-compressed JSON or has no version; the
// hash is "" when it is not a valid hash.
func peekVersion(frame []byte, maxDecompressed int64) (version int64, hash string, ok bool) {
	zr, err := gzip.NewReader(bytes.NewReader(frame))
	if err != nil {
		return 0, "", false
	}
	dec := json.NewDecoder(io.LimitReader(zr, maxDecompressed))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, "", false
	}
	haveHash := false
members:
	for dec.More() && (!ok || !haveHash) {
		t, err := dec.Token()
		if err != nil {
			break
		}
		switch key, _ := t.(string); key {
		case "config_version":
			var n json.Number
			if dec.Decode(&n) != nil {
				return 0, "", false
			}
			v, err := n.Int64()
			if err != nil || v < 0 {
				return 0, "", false
			}
			version, ok = v, true
		case "config_hash":
			var h string
			if dec.Decode(&h) == nil && cluster.ValidHash(h) {
				hash = h
			}
			haveHash = true
		default:
			if skipValue(dec) != nil {
				break members
			}
		}
	}
	if !ok {
		return 0, "", false
	}
	return version, hash, true
}

// skipValue reads past one JSON value without keeping it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
