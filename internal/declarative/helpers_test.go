package declarative

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-gw/gantry/internal/pki"
)

// testPEM holds a certificate, its key and a CA certificate made once per
// test run, so the fixtures need no committed private key.
var testPEM = sync.OnceValue(func() map[string]string {
	issue := func(t pki.Template) *pki.KeyPair {
		kp, err := pki.Issue(t, nil)
		if err != nil {
			panic(err)
		}
		return kp
	}
	expiry := time.Now().Add(24 * time.Hour)
	leaf := issue(pki.Template{CommonName: "example.com", DNSNames: []string{"example.com", "www.example.com"}, NotAfter: expiry})
	ca := issue(pki.Template{CommonName: "Gantry Test CA", IsCA: true, NotAfter: expiry})
	return map[string]string{
		"{{CERT}}":    string(leaf.CertPEM),
		"{{KEY}}":     string(leaf.KeyPEM),
		"{{CA_CERT}}": string(ca.CertPEM),
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
