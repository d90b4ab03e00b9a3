// Package pki holds the certificates of the cluster link between a control
// plane and its data planes: it loads them from kong.conf values (a file
// path, inline PEM or base64 PEM, as Kong accepts), makes them (the pinned
// pair of `kong hybrid gen_cert`, a CA and the certificates it signs), and
// verifies the peer of a cluster connection in cluster_mtls shared or pki
// mode. Its errors are one-line messages a node can log as they are.
package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"time"
)

// The cluster_mtls modes, spelled as conf.MTLSShared and conf.MTLSPKI; this
// package does not import conf so that conf may one day check certificates
// with it.
const (
	modeShared = "shared"
	modePKI    = "pki"
)

// systemTrustStore is the lua_ssl_trusted_certificate entry for the
// operating system's CA bundle (conf.SystemTrustStore).
const systemTrustStore = "system"

// Fingerprint returns the hex SHA-256 digest of the certificate's DER
// encoding: what Kong compares in shared mode and what
// `openssl x509 -fingerprint -sha256` prints (in upper case with colons).
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// ExpiryTimestamp returns the certificate's NotAfter as Unix seconds, the
// form a data plane reports as its cert_details.expiry_timestamp.
func ExpiryTimestamp(cert *x509.Certificate) int64 {
	return cert.NotAfter.Unix()
}

// name identifies a certificate in messages: its common name, else its
// subject, else the start of its fingerprint.
func name(cert *x509.Certificate) string {
	switch {
	case cert.Subject.CommonName != "":
		return "CN=" + cert.Subject.CommonName
	case len(cert.Subject.Names) > 0:
		return cert.Subject.String()
	default:
		return "sha256 " + shortFingerprint(cert)
	}
}

// shortFingerprint is the first 16 hex digits of Fingerprint and an
// ellipsis: enough to tell certificates apart in a log line.
func shortFingerprint(cert *x509.Certificate) string {
	return Fingerprint(cert)[:16] + "…"
}

// timestamp formats a certificate date for messages, in UTC.
func timestamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
