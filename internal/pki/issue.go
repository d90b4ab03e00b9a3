package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"slices"
	"time"

	"github.com/gantry-gw/gantry/internal/atomicfile"
)

// PinnedCommonName is the common name, and DNS name, of the pinned pair:
// the name `kong hybrid gen_cert` uses and the server name a data plane
// sends in shared mode, so pairs made by Kong and by Gantry are alike.
const PinnedCommonName = "kong_clustering"

// backdate is how far before "now" a certificate starts to be valid when
// its template leaves NotBefore unset, so that a peer whose clock is a
// little behind accepts a certificate issued a moment ago.
const backdate = 5 * time.Minute

// serialLimit bounds random serial numbers to 128 bits.
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

// KeyPair is a certificate with its private key, parsed and in PEM. CertPEM
// holds only Cert; a caller that wants the issuer chain in the same file
// appends it.
type KeyPair struct {
	// Cert is the parsed certificate.
	Cert *x509.Certificate
	// Key is the certificate's private key.
	Key crypto.Signer
	// CertPEM is Cert as a PEM "CERTIFICATE" block.
	CertPEM []byte
	// KeyPEM is Key as a PKCS#8 PEM "PRIVATE KEY" block.
	KeyPEM []byte
}

// Template describes a certificate for Issue.
type Template struct {
	// CommonName is the subject's common name; it is required.
	CommonName string
	// DNSNames are the subject alternative names. A certificate a Go peer
	// checks against a server name needs one: Go ignores the common name.
	DNSNames []string
	// IPAddresses are the subject alternative names for a peer reached
	// by address rather than by name, such as a listener on 127.0.0.1.
	IPAddresses []net.IP
	// NotBefore is when the certificate becomes valid; zero means five
	// minutes ago, to allow for clock skew.
	NotBefore time.Time
	// NotAfter is when the certificate expires; it is required.
	NotAfter time.Time
	// IsCA makes a CA certificate, which signs others, instead of a leaf
	// that a node shows on the cluster link.
	IsCA bool
	// MaxPathLen limits, for a CA, how many intermediate CAs may follow it
	// in a chain: zero means no limit and a negative value means none, so
	// that the CA signs leaves only.
	MaxPathLen int
}

// Issue makes a new ECDSA P-384 key and a certificate for it with a random
// 128-bit serial number, signed by parent, or self-signed when parent is
// nil. A CA certificate may sign certificates and CRLs; a leaf may sign
// handshakes and serves both as a TLS server and a TLS client
// certificate, since one cluster certificate is used at both ends of the
// link. A certificate must not outlive its issuer: it would stop
// verifying before its own expiry.
func Issue(t Template, parent *KeyPair) (*KeyPair, error) {
	tmpl, err := t.certificate()
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("issue %s: generate key: %w", name(tmpl), err)
	}
	issuer, signer := tmpl, crypto.Signer(key)
	if parent != nil {
		if err := checkIssuer(tmpl, parent); err != nil {
			return nil, err
		}
		issuer, signer = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("issue %s: %w", name(tmpl), err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("issue %s: %w", name(tmpl), err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("issue %s: %w", name(tmpl), err)
	}
	return &KeyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// certificate turns a Template into an x509 template without a key.
func (t Template) certificate() (*x509.Certificate, error) {
	if t.CommonName == "" {
		return nil, errors.New("issue certificate: empty common name")
	}
	notBefore := t.NotBefore
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-backdate)
	}
	if !t.NotAfter.After(notBefore) {
		return nil, fmt.Errorf("issue CN=%s: NotAfter %s is not after NotBefore %s", t.CommonName, timestamp(t.NotAfter), timestamp(notBefore))
	}
	serial, err := rand.Int(rand.Reader, serialLimit)
	if err != nil {
		return nil, fmt.Errorf("issue CN=%s: serial number: %w", t.CommonName, err)
	}
	c := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: t.CommonName},
		DNSNames:     slices.Clone(t.DNSNames),
		IPAddresses:  slices.Clone(t.IPAddresses),
		// A certificate keeps whole seconds: truncating here makes the
		// template compare with a parsed issuer as the issued
		// certificate will.
		NotBefore:             notBefore.UTC().Truncate(time.Second),
		NotAfter:              t.NotAfter.UTC().Truncate(time.Second),
		BasicConstraintsValid: true,
		IsCA:                  t.IsCA,
	}
	switch {
	case !t.IsCA && t.MaxPathLen != 0:
		return nil, fmt.Errorf("issue CN=%s: MaxPathLen is for CA certificates only", t.CommonName)
	case !t.IsCA:
		c.KeyUsage = x509.KeyUsageDigitalSignature
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	case t.MaxPathLen < 0:
		c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
		c.MaxPathLenZero = true
	default:
		c.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
		c.MaxPathLen = t.MaxPathLen
	}
	return c, nil
}

// checkIssuer refuses a parent that cannot sign tmpl.
func checkIssuer(tmpl *x509.Certificate, parent *KeyPair) error {
	p := parent.Cert
	switch {
	case p == nil || parent.Key == nil:
		return fmt.Errorf("issue %s: the issuer needs both a certificate and a key", name(tmpl))
	case !p.BasicConstraintsValid || !p.IsCA || (p.KeyUsage != 0 && p.KeyUsage&x509.KeyUsageCertSign == 0):
		return fmt.Errorf("issue %s: issuer %s is not a CA certificate", name(tmpl), name(p))
	case tmpl.IsCA && p.MaxPathLenZero:
		return fmt.Errorf("issue %s: issuer %s may sign leaf certificates only (path length 0)", name(tmpl), name(p))
	case tmpl.NotAfter.After(p.NotAfter):
		return fmt.Errorf("issue %s: it would expire at %s, after its issuer %s (expires %s)",
			name(tmpl), timestamp(tmpl.NotAfter), name(p), timestamp(p.NotAfter))
	}
	return nil
}

// GeneratePinned makes what `kong hybrid gen_cert` makes: a self-signed
// leaf for "kong_clustering", valid for days days, that the control plane
// serves and every data plane presents in shared mode. Unlike Kong's, it
// also carries "kong_clustering" as a DNS name, since Go checks server
// names against DNS names only.
func GeneratePinned(days int) (*KeyPair, error) {
	if days < 1 {
		return nil, fmt.Errorf("pinned certificate: days must be at least 1, got %d", days)
	}
	now := time.Now().UTC()
	return Issue(Template{
		CommonName: PinnedCommonName,
		DNSNames:   []string{PinnedCommonName},
		NotBefore:  now.Add(-backdate),
		NotAfter:   now.AddDate(0, 0, days),
	}, nil)
}

// WriteKeyPair writes the certificate (mode 0644) and the private key
// (mode 0600) of kp. Each file is replaced atomically (package
// atomicfile), so a crash leaves the old file or the new one, never half
// of one. Unless overwrite is set it refuses, before writing anything,
// when either file exists, so that a pair in use is not replaced by
// mistake.
func WriteKeyPair(kp *KeyPair, certPath, keyPath string, overwrite bool) error {
	if !overwrite {
		for _, p := range []string{certPath, keyPath} {
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%s already exists; refusing to overwrite it", p)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	if err := atomicfile.Write(keyPath, kp.KeyPEM, 0o600); err != nil {
		return err
	}
	return atomicfile.Write(certPath, kp.CertPEM, 0o644)
}
