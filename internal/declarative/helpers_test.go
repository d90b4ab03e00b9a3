package declarative

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testPEM holds a certificate, its key and a CA certificate made once per
// test run, so the fixtures need no committed private key.
var testPEM = sync.OnceValue(func() map[string]string {
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		return k
	}
	certPEM := func(tmpl *x509.Certificate, key *ecdsa.PrivateKey) string {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	}
	now := time.Now()
	leafKey, caKey := newKey(), newKey()
	keyDER, err := x509.MarshalPKCS8PrivateKey(leafKey)
	if err != nil {
		panic(err)
	}
	return map[string]string{
		"{{CERT}}": certPEM(&x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "example.com"},
			DNSNames:     []string{"example.com", "www.example.com"},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
		}, leafKey),
		"{{KEY}}": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		"{{CA_CERT}}": certPEM(&x509.Certificate{
			SerialNumber:          big.NewInt(2),
			Subject:               pkix.Name{CommonName: "Gantry Test CA"},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(24 * time.Hour),
			IsCA:                  true,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageCertSign,
		}, caKey),
	}
})

// fillPEM replaces the PEM placeholders of a fixture with the generated
// PEM text, escaped for a double-quoted string (valid in YAML and JSON).
func fillPEM(data []byte) []byte {
	for placeholder, text := range testPEM() {
		data = bytes.ReplaceAll(data, []byte(placeholder), []byte(strings.ReplaceAll(text, "\n", `\n`)))
	}
	return data
}

// fixture reads testdata/name with its PEM placeholders filled.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return fillPEM(data)
}

// mustParse parses data and fails the test on error.
func mustParse(t testing.TB, data []byte) *Config {
	t.Helper()
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// parseErrors parses data, which must be invalid, and returns its Errors.
func parseErrors(t *testing.T, data string) Errors {
	t.Helper()
	_, err := Parse([]byte(data))
	if err == nil {
		t.Fatal("Parse succeeded, want an error")
	}
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse error is %T (%v), want Errors", err, err)
	}
	return errs
}

// fixtureNames are the fixtures describing the reference configuration.
var fixtureNames = []string{"nested.yaml", "flat.yaml", "nested.json"}
