package entity

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestCertificates(t *testing.T) {
	ec, ec2, rsaCert := fixture(t, "ec"), fixture(t, "ec2"), fixture(t, "rsa")

	// The same EC key in SEC 1 form, and the RSA key in PKCS #1 form.
	ecDER, err := x509.MarshalECPrivateKey(ec.signer.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	ecSEC1 := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}))
	rsaPKCS1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY",
		Bytes: x509.MarshalPKCS1PrivateKey(rsaCert.signer.(*rsa.PrivateKey))}))

	accepted := []struct {
		name  string
		input map[string]any
	}{
		{"ecdsa pkcs8", map[string]any{"cert": ec.cert, "key": ec.key}},
		{"ecdsa sec1", map[string]any{"cert": ec.cert, "key": ecSEC1}},
		{"rsa pkcs8", map[string]any{"cert": rsaCert.cert, "key": rsaCert.key}},
		{"rsa pkcs1", map[string]any{"cert": rsaCert.cert, "key": rsaPKCS1}},
		{"alternative of another type", map[string]any{"cert": ec.cert, "key": ec.key,
			"cert_alt": rsaCert.cert, "key_alt": rsaCert.key}},
		{"chain", map[string]any{"cert": ec.cert + ec2.cert, "key": ec.key}},
	}
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			got := mustValidate(t, Certificates, tc.input)
			for k, v := range tc.input {
				if got[k] != v {
					t.Errorf("%s changed by validation", k)
				}
			}
		})
	}

	refused := []struct {
		name  string
		input map[string]any
		want  []errPair
	}{
		{"key of another certificate", map[string]any{"cert": ec.cert, "key": ec2.key},
			[]errPair{{EntityField, "certificate does not match key"}}},
		{"key of another type", map[string]any{"cert": ec.cert, "key": rsaCert.key},
			[]errPair{{EntityField, "certificate does not match key"}}},
		{"garbage certificate", map[string]any{"cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "key": ec.key},
			[]errPair{{"cert", "invalid certificate: x509: malformed certificate"}}},
		{"not pem", map[string]any{"cert": "hello", "key": ec.key},
			[]errPair{{"cert", "invalid certificate: no PEM certificate found"}}},
		{"key in place of certificate", map[string]any{"cert": ec.key, "key": ec.key},
			[]errPair{{"cert", `invalid certificate: unexpected PEM block "PRIVATE KEY"`}}},
		{"garbage key", map[string]any{"cert": ec.cert, "key": "hello"},
			[]errPair{{"key", "invalid key: no PEM private key found"}}},
		{"malformed key", map[string]any{"cert": ec.cert, "key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
			[]errPair{{"key", "invalid key: unsupported or malformed private key"}}},
		{"cert_alt without key_alt", map[string]any{"cert": ec.cert, "key": ec.key, "cert_alt": rsaCert.cert},
			[]errPair{{EntityField, "all or none of these fields must be set: 'cert_alt', 'key_alt'"}}},
		{"key_alt without cert_alt", map[string]any{"cert": ec.cert, "key": ec.key, "key_alt": rsaCert.key},
			[]errPair{{EntityField, "all or none of these fields must be set: 'cert_alt', 'key_alt'"}}},
		{"alternative of the same type", map[string]any{"cert": ec.cert, "key": ec.key, "cert_alt": ec2.cert, "key_alt": ec2.key},
			[]errPair{{EntityField, "certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), the provided certificates were both of the same type"}}},
		{"alternative key mismatch", map[string]any{"cert": ec.cert, "key": ec.key, "cert_alt": rsaCert.cert, "key_alt": ec2.key},
			[]errPair{{EntityField, "alternative certificate does not match key"}}},
		{"both pairs wrong", map[string]any{"cert": ec.cert, "key": ec2.key, "cert_alt": rsaCert.cert, "key_alt": ec.key},
			[]errPair{{EntityField, "alternative certificate does not match key"}, {EntityField, "certificate does not match key"}}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			wantErrors(t, Certificates, tc.input, Options{}, tc.want)
		})
	}
}

func TestCACertificates(t *testing.T) {
	ca, expired, leaf := fixture(t, "ca"), fixture(t, "expired-ca"), fixture(t, "ec")
	sum := sha256.Sum256(ca.der)
	digest := hex.EncodeToString(sum[:])

	t.Run("ca", func(t *testing.T) {
		got := mustValidate(t, CACertificates, map[string]any{"cert": ca.cert})
		if got["cert_digest"] != digest {
			t.Errorf("cert_digest = %v, want %s", got["cert_digest"], digest)
		}
	})
	t.Run("matching digest given", func(t *testing.T) {
		got := mustValidate(t, CACertificates, map[string]any{"cert": ca.cert, "cert_digest": digest})
		if got["cert_digest"] != digest {
			t.Errorf("cert_digest = %v, want %s", got["cert_digest"], digest)
		}
	})

	refused := []struct {
		name  string
		input map[string]any
		want  []errPair
	}{
		{"leaf", map[string]any{"cert": leaf.cert},
			[]errPair{{"cert", `certificate does not appear to be a CA because it is missing the "CA" basic constraint`}}},
		{"expired", map[string]any{"cert": expired.cert},
			[]errPair{{"cert", `certificate expired, "Not After" time is in the past`}}},
		{"two certificates", map[string]any{"cert": ca.cert + expired.cert},
			[]errPair{{"cert", "please submit only one certificate at a time"}}},
		{"garbage", map[string]any{"cert": "nope"},
			[]errPair{{"cert", "invalid certificate: no PEM certificate found"}}},
		{"wrong digest", map[string]any{"cert": ca.cert, "cert_digest": strings.Repeat("0", 64)},
			[]errPair{{"cert_digest", "does not match the certificate"}}},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			wantErrors(t, CACertificates, tc.input, Options{}, tc.want)
		})
	}
}

func TestParseCertificates(t *testing.T) {
	ec, ca := fixture(t, "ec"), fixture(t, "ca")
	certs, err := ParseCertificates(ec.cert + "\n" + ca.cert)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 || string(certs[0].Raw) != string(ec.der) || string(certs[1].Raw) != string(ca.der) {
		t.Errorf("got %d certificates, not the leaf then the CA", len(certs))
	}
}

func TestCertificateEd25519(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ed"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	edCert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	edKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	ec := fixture(t, "ec")

	mustValidate(t, Certificates, map[string]any{"cert": edCert, "key": edKey, "cert_alt": ec.cert, "key_alt": ec.key})
	wantErrors(t, Certificates, map[string]any{"cert": edCert, "key": ec.key}, Options{},
		[]errPair{{EntityField, "certificate does not match key"}})
}
