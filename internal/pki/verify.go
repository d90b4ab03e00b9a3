package pki

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"
)

// maxVerifyDepth is Kong's ssl_verify_depth on the cluster listener. As
// OpenSSL counts it, that many intermediate CAs may stand between the leaf
// and the trust anchor, so a verified chain has at most maxVerifyDepth+2
// certificates.
const maxVerifyDepth = 4

// VerifyFunc checks the certificates a peer presented in a TLS handshake.
// It has the type of tls.Config.VerifyPeerCertificate.
type VerifyFunc = func(rawCerts [][]byte, verifiedChains [][]*x509.Certificate) error

// VerifyDataPlane returns the control plane's check of a data plane's
// client certificate, for tls.Config.VerifyPeerCertificate with ClientAuth
// tls.RequireAnyClientCert (the TLS stack then leaves all verification to
// it). mode is cluster_mtls:
//
//   - "shared": the data plane's leaf must be byte for byte one of trusted,
//     which in shared mode is the control plane's own cluster_cert.
//   - "pki": the leaf must chain, through the intermediates the data plane
//     sent, to one of trusted (cluster_ca_cert), with at most four
//     intermediates as ssl_verify_depth 4 allows. Any trusted certificate is
//     an anchor, so trusting a leaf accepts that leaf alone, trusting an
//     intermediate accepts what it signed without the rest of the chain,
//     and trusting a root needs the data plane to send the intermediates.
//     Extended key usages are not checked, as Kong does not check them.
//
// In both modes the leaf must be valid at now() (time.Now when nil). The
// returned errors are single lines for the control plane's log. An unknown
// mode, or no trusted certificate, gives a check that refuses everyone.
func VerifyDataPlane(mode string, trusted []*x509.Certificate, now func() time.Time) VerifyFunc {
	p := peer{role: "data plane", noCert: "data plane presented no client certificate", now: now}
	switch {
	case mode != modeShared && mode != modePKI:
		return p.refuse(fmt.Sprintf("cluster_mtls %q: expected shared or pki", mode))
	case len(trusted) == 0:
		return p.refuse("no certificate to trust the data plane with (cluster_cert in shared mode, cluster_ca_cert in pki mode)")
	}
	if mode == modeShared {
		return p.verifyPinned(trusted)
	}
	roots := pool(trusted)
	return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		certs, err := p.parse(rawCerts)
		if err != nil {
			return err
		}
		leaf := certs[0]
		if err := p.checkValidity(leaf); err != nil {
			return err
		}
		// A leaf that is itself in roots verifies as a chain of one: Go
		// looks the leaf up in the roots before it builds chains.
		chains, err := leaf.Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: pool(certs[1:]),
			CurrentTime:   p.time(),
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			return fmt.Errorf("data plane certificate %s is not signed by cluster_ca_cert: %w", name(leaf), err)
		}
		if !slices.ContainsFunc(chains, func(c []*x509.Certificate) bool { return len(c) <= maxVerifyDepth+2 }) {
			return fmt.Errorf("data plane certificate %s chains to cluster_ca_cert through more than %d intermediate CAs (ssl_verify_depth %d)",
				name(leaf), maxVerifyDepth, maxVerifyDepth)
		}
		return nil
	}
}

// VerifyControlPlane returns a data plane's check of the control plane's
// server certificate, for tls.Config.VerifyPeerCertificate with
// InsecureSkipVerify set, so that this check is the whole verification.
// mode is cluster_mtls:
//
//   - "shared": the control plane's leaf must be byte for byte one of
//     pinned (the data plane's own cluster_cert) and valid at now(); the
//     server name is not checked, as the pin says more than a name.
//   - "pki": the usual verification of a TLS server: a chain through the
//     intermediates the control plane sent to roots (see TrustPool; nil
//     means the system pool), valid at now(), for serverName
//     (cluster_server_name, or the host of cluster_control_plane).
//
// now is time.Now when nil. An unknown mode, a shared mode without a pin,
// or a pki mode without a server name gives a check that refuses every
// control plane.
func VerifyControlPlane(mode string, pinned []*x509.Certificate, roots *x509.CertPool, serverName string, now func() time.Time) VerifyFunc {
	p := peer{role: "control plane", noCert: "control plane presented no certificate", now: now}
	switch mode {
	case modeShared:
		if len(pinned) == 0 {
			return p.refuse("no pinned certificate (cluster_cert) to trust the control plane with")
		}
		return p.verifyPinned(pinned)
	case modePKI:
		if serverName == "" {
			return p.refuse("no server name to verify the control plane certificate against")
		}
		return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			certs, err := p.parse(rawCerts)
			if err != nil {
				return err
			}
			leaf := certs[0]
			if err := p.checkValidity(leaf); err != nil {
				return err
			}
			_, err = leaf.Verify(x509.VerifyOptions{
				Roots:         roots,
				Intermediates: pool(certs[1:]),
				CurrentTime:   p.time(),
				DNSName:       serverName,
			})
			var hostErr x509.HostnameError
			switch {
			case errors.As(err, &hostErr):
				return fmt.Errorf("control plane certificate %s is not valid for server name %q: %w", name(leaf), serverName, err)
			case err != nil:
				return fmt.Errorf("control plane certificate %s is not signed by a trusted CA: %w", name(leaf), err)
			}
			return nil
		}
	default:
		return p.refuse(fmt.Sprintf("cluster_mtls %q: expected shared or pki", mode))
	}
}

// peer holds what the checks of one side of the link share.
type peer struct {
	role   string // "data plane" or "control plane"
	noCert string // the message when the peer sent no certificate
	now    func() time.Time
}

func (p peer) time() time.Time {
	if p.now == nil {
		return time.Now()
	}
	return p.now()
}

// refuse returns a check that fails every handshake with msg: a node
// configured wrongly accepts no peer rather than any.
func (p peer) refuse(msg string) VerifyFunc {
	err := fmt.Errorf("cannot verify the %s: %s", p.role, msg)
	return func([][]byte, [][]*x509.Certificate) error { return err }
}

// parse decodes the presented certificates, leaf first.
func (p peer) parse(rawCerts [][]byte) ([]*x509.Certificate, error) {
	if len(rawCerts) == 0 {
		return nil, errors.New(p.noCert)
	}
	certs := make([]*x509.Certificate, len(rawCerts))
	for i, raw := range rawCerts {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("%s certificate %d of %d cannot be parsed: %w", p.role, i+1, len(rawCerts), err)
		}
		certs[i] = c
	}
	return certs, nil
}

// verifyPinned returns the shared-mode check: it accepts a leaf that is
// byte for byte one of pinned and valid now.
func (p peer) verifyPinned(pinned []*x509.Certificate) VerifyFunc {
	pins := slices.Clone(pinned)
	return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		certs, err := p.parse(rawCerts)
		if err != nil {
			return err
		}
		leaf := certs[0]
		if !slices.ContainsFunc(pins, func(c *x509.Certificate) bool { return bytes.Equal(c.Raw, leaf.Raw) }) {
			return fmt.Errorf("%s certificate %s is not the pinned certificate (sha256 %s)", p.role, name(leaf), shortFingerprint(leaf))
		}
		return p.checkValidity(leaf)
	}
}

// checkValidity accepts a leaf within its validity period at now().
func (p peer) checkValidity(leaf *x509.Certificate) error {
	switch now := p.time(); {
	case now.After(leaf.NotAfter):
		return fmt.Errorf("%s certificate %s expired at %s", p.role, name(leaf), timestamp(leaf.NotAfter))
	case now.Before(leaf.NotBefore):
		return fmt.Errorf("%s certificate %s is not valid until %s (now %s; check the clocks)", p.role, name(leaf), timestamp(leaf.NotBefore), timestamp(now))
	}
	return nil
}

// pool puts certificates in a pool; nil when there are none, which
// VerifyOptions reads as no intermediates.
func pool(certs []*x509.Certificate) *x509.CertPool {
	if len(certs) == 0 {
		return nil
	}
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
