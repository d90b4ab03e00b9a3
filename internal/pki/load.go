package pki

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// pemMarker starts every PEM block; a value holding it is inline PEM.
const pemMarker = "-----BEGIN"

// maxShownValue is the longest value an error message repeats. A longer one
// is not a path, and may be a private key that must not reach a log.
const maxShownValue = 200

// LoadCertificates reads the certificates of a cluster_cert-style value:
// a file path, inline PEM, or base64 of PEM, the three forms Kong accepts.
// It returns every CERTIFICATE block in order (a leaf and its chain, or the
// CAs of cluster_ca_cert) and skips other blocks, so a file that also holds
// the key still loads. Errors name the form that was tried and why it
// failed, without the setting's name: callers prefix it
// ("cluster_cert: no PEM certificate in /etc/kong/cluster.crt").
func LoadCertificates(value string) ([]*x509.Certificate, error) {
	data, from, err := readPEM(value)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %d in %s: %w", len(certs)+1, from, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("no PEM certificate in %s", from)
	}
	return certs, nil
}

// LoadKeyPair reads a certificate and its private key, each a file path,
// inline PEM or base64 PEM, into a tls.Certificate that holds the whole
// chain of certValue, in order, with Leaf set to the first certificate.
// The key may be PKCS#8 ("PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") or
// PKCS#1 ("RSA PRIVATE KEY"); a key that does not belong to the leaf is an
// error here rather than a failed handshake later.
func LoadKeyPair(certValue, keyValue string) (tls.Certificate, error) {
	certs, err := LoadCertificates(certValue)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := loadPrivateKey(keyValue)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf := certs[0]
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(leaf.PublicKey) {
		return tls.Certificate{}, fmt.Errorf("private key does not match certificate %s (sha256 %s)", name(leaf), shortFingerprint(leaf))
	}
	chain := make([][]byte, len(certs))
	for i, c := range certs {
		chain[i] = c.Raw
	}
	return tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}

// TrustPool builds the CAs a data plane trusts from lua_ssl_trusted_certificate
// entries and extra certificates (cluster_ca_cert in pki mode). An entry is
// "system", for the operating system's bundle, or a certificate value in
// any form LoadCertificates reads. Without a "system" entry the pool holds
// only what is named, so a data plane trusts nothing by accident.
func TrustPool(values []string, extra []*x509.Certificate) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, v := range values {
		if strings.TrimSpace(v) == systemTrustStore {
			sys, err := x509.SystemCertPool()
			if err != nil {
				return nil, fmt.Errorf("system trust store: %w", err)
			}
			pool = sys
			break
		}
	}
	for _, v := range values {
		if v = strings.TrimSpace(v); v == "" || v == systemTrustStore {
			continue
		}
		certs, err := LoadCertificates(v)
		if err != nil {
			return nil, err
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	for _, c := range extra {
		pool.AddCert(c)
	}
	return pool, nil
}

// loadPrivateKey reads the first private key block of a key value.
func loadPrivateKey(value string) (crypto.Signer, error) {
	data, from, err := readPEM(value)
	if err != nil {
		return nil, err
	}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, fmt.Errorf("no PEM private key in %s", from)
		}
		if block.Type != "PRIVATE KEY" && !strings.HasSuffix(block.Type, " PRIVATE KEY") {
			continue
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
			return nil, fmt.Errorf("private key in %s is encrypted; give it unencrypted", from)
		}
		key, err := parsePrivateKey(block)
		if err != nil {
			return nil, fmt.Errorf("parse private key in %s: %w", from, err)
		}
		return key, nil
	}
}

// parsePrivateKey decodes a private key block by its type.
func parsePrivateKey(block *pem.Block) (crypto.Signer, error) {
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block type %q", block.Type)
	}
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T cannot sign a TLS handshake", key)
	}
	return signer, nil
}

// readPEM returns the PEM text of a value and a description of where it
// came from for messages: the path, "inline PEM value" or "base64 value".
// Inline PEM is recognised first, then a readable file, then base64.
func readPEM(value string) (data []byte, from string, err error) {
	v := strings.TrimSpace(value)
	if v == "" {
		return nil, "", errors.New("empty value: expected a file path, inline PEM or base64 PEM")
	}
	if strings.Contains(v, pemMarker) {
		return []byte(v), "inline PEM value", nil
	}
	data, fileErr := os.ReadFile(v)
	if fileErr == nil {
		return data, v, nil
	}
	// The path error repeats the value; keep only its reason.
	var pathErr *fs.PathError
	if errors.As(fileErr, &pathErr) {
		fileErr = pathErr.Err
	}
	decoded, b64Err := decodeBase64(v)
	if b64Err != nil {
		return nil, "", fmt.Errorf("%s is not a readable file, inline PEM or base64 PEM: %w", shown(v), fileErr)
	}
	if !bytes.Contains(decoded, []byte(pemMarker)) {
		return nil, "", fmt.Errorf("%s is not a readable file (%w), and as base64 it decodes to no PEM", shown(v), fileErr)
	}
	return decoded, "base64 value", nil
}

// decodeBase64 decodes standard base64, padded or not, ignoring the line
// breaks and spaces a value picks up when pasted.
func decodeBase64(v string) ([]byte, error) {
	compact := strings.Join(strings.Fields(v), "")
	if data, err := base64.StdEncoding.DecodeString(compact); err == nil {
		return data, nil
	}
	return base64.RawStdEncoding.DecodeString(compact)
}

// shown is a value as an error message may repeat it: a short one-line
// value as is (it is most likely a path), anything else by its length.
func shown(v string) string {
	if len(v) > maxShownValue || strings.ContainsAny(v, "\r\n") {
		return fmt.Sprintf("the %d-byte value", len(v))
	}
	return v
}
