package admin

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/gantry-gw/gantry/internal/entity"
	"github.com/gantry-gw/gantry/internal/store"
)

// Certificates carry a write-and-read "snis" list in the Admin API: the
// names of the SNI entities pointing at them. Writing the list creates and
// deletes SNI entities in the same transaction.

func asStoreError(err error, target **store.Error) bool {
	return err != nil && errors.As(err, target)
}

// takeSNIs removes the "snis" shorthand from a certificate body and
// returns its names, checked as Kong checks them: each a valid SNI, none
// twice. has is false when the body does not mention snis.
func takeSNIs(sch *entity.Schema, values map[string]any) (names []string, has bool, err error) {
	if sch != entity.Certificates {
		return nil, false, nil
	}
	v, ok := values["snis"]
	if !ok {
		return nil, false, nil
	}
	delete(values, "snis")
	switch t := v.(type) {
	case nil:
		return nil, true, nil
	case string:
		names = []string{t}
	case []any:
		for i, x := range t {
			s, ok := x.(string)
			if !ok {
				return nil, false, store.SchemaViolation(entity.Errors{{Field: "snis[" + strconv.Itoa(i) + "]", Message: "expected a string", Value: x, HasValue: true}})
			}
			names = append(names, s)
		}
	case map[string]any:
		// Kong, reading JSON as Lua does, takes {} for an empty list.
		if len(t) == 0 {
			return nil, true, nil
		}
		return nil, false, store.SchemaViolation(entity.Errors{{Field: "snis", Message: "expected a set", Value: v, HasValue: true}})
	default:
		return nil, false, store.SchemaViolation(entity.Errors{{Field: "snis", Message: "expected a set", Value: v, HasValue: true}})
	}
	if err := checkSNINames(names); err != nil {
		return nil, false, err
	}
	return names, true, nil
}

// checkSNINames validates each name with the SNI schema and refuses a name
// given twice, reporting the problems against the certificate's snis.
func checkSNINames(names []string) error {
	var errs entity.Errors
	seen := map[string]bool{}
	for i, n := range names {
		if seen[n] {
			return store.SchemaViolation(entity.Errors{{Field: "snis", Message: n + " is duplicated"}})
		}
		seen[n] = true
		_, verrs := entity.SNIs.Validate(map[string]any{"name": n}, entity.Options{})
		for _, fe := range verrs {
			if fe.Field == "name" {
				fe.Field = "snis[" + strconv.Itoa(i) + "]"
				errs = append(errs, fe)
			}
		}
	}
	if errs != nil {
		return store.SchemaViolation(errs)
	}
	return nil
}

// setCertificateSNIs makes the SNIs of certificate certID exactly names.
// A name another certificate holds is refused with Kong's message rather
// than taken.
func setCertificateSNIs(tx *store.Tx, certID string, names []string) error {
	scope := &store.Scope{Field: "certificate", ID: certID}
	existing, err := tx.List(entity.SNIs, store.ListOptions{Scope: scope})
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	have := map[string]bool{}
	for _, sni := range existing.Data {
		name := sni.String("name")
		have[name] = true
		if !want[name] {
			if _, err := tx.Delete(entity.SNIs, sni.ID(), nil); err != nil {
				return err
			}
		}
	}
	for _, n := range names {
		if have[n] {
			continue
		}
		have[n] = true
		held, err := tx.Get(entity.SNIs, n, nil)
		var se *store.Error
		switch {
		case err == nil:
			msg := fmt.Sprintf("%s already associated with existing certificate '%s'", n, held.Ref("certificate"))
			return store.SchemaViolation(entity.Errors{{Field: "snis", Message: msg}})
		case asStoreError(err, &se) && se.Code == store.CodeNotFound:
		default:
			return err
		}
		if _, err := tx.Insert(entity.SNIs, map[string]any{"name": n}, store.WriteOptions{Scope: scope}); err != nil {
			return err
		}
	}
	return nil
}

// decorate adds computed members to an entity on its way out: a
// certificate's SNI names.
func (s *Server) decorate(tx *store.Tx, sch *entity.Schema, e entity.Entity) error {
	if sch != entity.Certificates {
		return nil
	}
	page, err := tx.List(entity.SNIs, store.ListOptions{Scope: &store.Scope{Field: "certificate", ID: e.ID()}})
	if err != nil {
		return err
	}
	names := make([]any, 0, len(page.Data))
	for _, sni := range page.Data {
		names = append(names, sni.String("name"))
	}
	sort.Slice(names, func(i, j int) bool { return names[i].(string) < names[j].(string) })
	e["snis"] = names
	return nil
}

// upsertCertificateBySNI serves PUT /certificates/{sni}: it replaces the
// certificate that SNI names, or creates a certificate; the caller gives
// it its SNIs, that one among them.
func (s *Server) upsertCertificateBySNI(tx *store.Tx, name string, b body) (entity.Entity, error) {
	sni, err := tx.Get(entity.SNIs, name, nil)
	var se *store.Error
	if asStoreError(err, &se) && se.Code == store.CodeNotFound {
		return tx.Insert(entity.Certificates, b.values, store.WriteOptions{Coerce: b.form})
	}
	if err != nil {
		return nil, err
	}
	cert, _, err := tx.Upsert(entity.Certificates, sni.Ref("certificate"), b.values, store.WriteOptions{Coerce: b.form})
	return cert, err
}

// errSNINotFound answers a certificate path naming an SNI that does not
// exist, with Kong's message.
var errSNINotFound = &apiError{status: http.StatusNotFound, body: map[string]any{"message": "SNI not found"}}
