package entity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// Certificates are the TLS certificate and key pairs the proxy serves,
// chosen by SNI, and that services present to upstreams.
var Certificates = register(&Schema{
	Name: "certificates",
	Fields: []*Field{
		idField(),
		createdAtField(),
		updatedAtField(),
		{Name: "cert", Kind: String, Required: true, Check: checkCertPEM},
		{Name: "key", Kind: String, Required: true, Check: checkKeyPEM},
		{Name: "cert_alt", Kind: String, Check: checkCertPEM},
		{Name: "key_alt", Kind: String, Check: checkKeyPEM},
		tagsField(),
	},
	Checks: []Check{checkCertificatePairs},
})

// SNIs map server names to certificates.
var SNIs = register(&Schema{
	Name:        "snis",
	EndpointKey: "name",
	Fields: []*Field{
		idField(),
		createdAtField(),
		updatedAtField(),
		{Name: "name", Kind: String, Required: true, Unique: true, Check: checkSNI},
		tagsField(),
		foreignField("certificate", "certificates", true, Cascade),
	},
})

// CACertificates are trusted CAs that services verify upstreams against.
var CACertificates = register(&Schema{
	Name: "ca_certificates",
	Fields: []*Field{
		idField(),
		createdAtField(),
		updatedAtField(),
		{Name: "cert", Kind: String, Required: true, Check: checkCACert},
		{Name: "cert_digest", Kind: String, Unique: true},
		tagsField(),
	},
	Checks: []Check{fillCertDigest},
})

// ParseCertificates decodes every CERTIFICATE block of a PEM text, leaf
// first.
func ParseCertificates(pemText string) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := []byte(pemText)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return certs, nil
}

// ParsePrivateKey decodes a PEM private key in PKCS#1, PKCS#8 or SEC 1 form.
func ParsePrivateKey(pemText string) (crypto.Signer, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("no PEM private key found")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
		return nil, errors.New("unsupported private key type")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("unsupported or malformed private key")
}

func checkCertPEM(v any) string {
	if _, err := ParseCertificates(v.(string)); err != nil {
		return "invalid certificate: " + err.Error()
	}
	return ""
}

func checkKeyPEM(v any) string {
	if _, err := ParsePrivateKey(v.(string)); err != nil {
		return "invalid key: " + err.Error()
	}
	return ""
}

type publicKeyEqualer interface{ Equal(crypto.PublicKey) bool }

// keyMatches reports whether key is the private half of cert's public key.
func keyMatches(certPEM, keyPEM string) bool {
	certs, err1 := ParseCertificates(certPEM)
	key, err2 := ParsePrivateKey(keyPEM)
	if err1 != nil || err2 != nil {
		return false
	}
	pub, ok := key.Public().(publicKeyEqualer)
	return ok && pub.Equal(certs[0].PublicKey)
}

func keyType(certPEM string) string {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return ""
	}
	switch certs[0].PublicKey.(type) {
	case *rsa.PublicKey:
		return "RSA"
	case *ecdsa.PublicKey:
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return "other"
}

func checkCertificatePairs(e Entity) []FieldError {
	var errs []FieldError
	if !keyMatches(e.String("cert"), e.String("key")) {
		errs = append(errs, FieldError{Field: EntityField, Message: "certificate does not match key"})
	}
	alt, altKey := e["cert_alt"] != nil, e["key_alt"] != nil
	switch {
	case alt != altKey:
		errs = append(errs, FieldError{Field: EntityField, Message: "all or none of these fields must be set: 'cert_alt', 'key_alt'"})
	case alt:
		if !keyMatches(e.String("cert_alt"), e.String("key_alt")) {
			errs = append(errs, FieldError{Field: EntityField, Message: "alternative certificate does not match key"})
		} else if keyType(e.String("cert")) == keyType(e.String("cert_alt")) {
			errs = append(errs, FieldError{Field: EntityField,
				Message: "certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), the provided certificates were both of the same type"})
		}
	}
	return errs
}

func checkCACert(v any) string {
	certs, err := ParseCertificates(v.(string))
	if err != nil {
		return "invalid certificate: " + err.Error()
	}
	if len(certs) > 1 {
		return "please submit only one certificate at a time"
	}
	c := certs[0]
	if !c.BasicConstraintsValid || !c.IsCA {
		return `certificate does not appear to be a CA because it is missing the "CA" basic constraint`
	}
	if time.Now().After(c.NotAfter) {
		return `certificate expired, "Not After" time is in the past`
	}
	return ""
}

// fillCertDigest sets cert_digest to the hex SHA-256 of the certificate's
// DER bytes; a digest given by the client must match it.
func fillCertDigest(e Entity) []FieldError {
	certs, err := ParseCertificates(e.String("cert"))
	if err != nil {
		return []FieldError{{Field: "cert", Message: "invalid certificate: " + err.Error()}}
	}
	sum := sha256.Sum256(certs[0].Raw)
	digest := hex.EncodeToString(sum[:])
	if given := e.String("cert_digest"); given != "" && given != digest {
		return []FieldError{{Field: "cert_digest", Message: "does not match the certificate", Value: given, HasValue: true}}
	}
	e["cert_digest"] = digest
	return nil
}
