package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"time"

	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/entity"
)

// certPair is a certificate entity ready to serve: its main certificate and
// its alternative of another key type, if any.
type certPair struct {
	main, alt *tls.Certificate
}

// choose returns the certificate the client supports, preferring the main
// one.
func (c *certPair) choose(hello *tls.ClientHelloInfo) *tls.Certificate {
	if c.alt != nil && hello.SupportsCertificate(c.main) != nil && hello.SupportsCertificate(c.alt) == nil {
		return c.alt
	}
	return c.main
}

// certStore finds the certificate to serve for a TLS server name, from the
// certificates and snis entities: exact names first, then a leftmost
// wildcard ("*.example.com" for one more label), then a rightmost one
// ("example.*").
type certStore struct {
	byID     map[string]*tls.Certificate
	exact    map[string]*certPair
	leftmost map[string]*certPair // by the part after "*.": "example.com"
	right    map[string]*certPair // by the part before ".*": "example"
}

// newCertStore loads every certificate of cfg and indexes them by SNI.
// Problems name the entity; a certificate that does not load is a reason to
// refuse the configuration, not one to serve the wrong certificate.
func newCertStore(cfg *declarative.Config) (*certStore, []Problem) {
	cs := &certStore{
		byID:     map[string]*tls.Certificate{},
		exact:    map[string]*certPair{},
		leftmost: map[string]*certPair{},
		right:    map[string]*certPair{},
	}
	var problems []Problem
	pairs := map[string]*certPair{}
	for _, c := range cfg.Entities[entity.Certificates.Name] {
		main, err := tls.X509KeyPair([]byte(c.String("cert")), []byte(c.String("key")))
		if err != nil {
			problems = append(problems, entityProblem(entity.Certificates.Name, c, "cert", err.Error()))
			continue
		}
		pair := &certPair{main: &main}
		if c.String("cert_alt") != "" {
			alt, err := tls.X509KeyPair([]byte(c.String("cert_alt")), []byte(c.String("key_alt")))
			if err != nil {
				problems = append(problems, entityProblem(entity.Certificates.Name, c, "cert_alt", err.Error()))
				continue
			}
			pair.alt = &alt
		}
		cs.byID[c.ID()] = &main
		pairs[c.ID()] = pair
	}
	for _, s := range cfg.Entities[entity.SNIs.Name] {
		pair := pairs[s.Ref("certificate")]
		if pair == nil {
			continue
		}
		name := strings.ToLower(s.String("name"))
		switch {
		case strings.HasPrefix(name, "*."):
			cs.leftmost[name[2:]] = pair
		case strings.HasSuffix(name, ".*"):
			cs.right[name[:len(name)-2]] = pair
		default:
			cs.exact[name] = pair
		}
	}
	return cs, problems
}

// lookup returns the certificate for hello's server name, or nil.
func (cs *certStore) lookup(hello *tls.ClientHelloInfo) *tls.Certificate {
	name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
	if name == "" {
		return nil
	}
	if p := cs.exact[name]; p != nil {
		return p.choose(hello)
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if p := cs.leftmost[name[i+1:]]; p != nil {
			return p.choose(hello)
		}
	}
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		if p := cs.right[name[:i]]; p != nil {
			return p.choose(hello)
		}
	}
	return nil
}

// defaultCertificate makes the self-signed certificate served when no SNI
// matches, as Kong does at start: ECDSA P-256, valid for ten years, for
// "localhost".
func defaultCertificate() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"Gantry"}},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
