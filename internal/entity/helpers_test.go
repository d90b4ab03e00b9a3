package entity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

// Fixed ids used as foreign keys throughout the tests.
const (
	testServiceID  = "3b0b0a1e-52d0-4b9a-9f0e-2c6f3f4a1b01"
	testConsumerID = "7d3c8e52-9a41-4c0e-8f7b-5a2e1d6c9b02"
	testUpstreamID = "c4a1f0e9-8b7d-4e6c-a5b4-3f2e1d0c9b03"
	testCertID     = "a9e8d7c6-b5a4-4392-8170-6f5e4d3c2b04"
)

func ref(id string) map[string]any { return map[string]any{"id": id} }

// errPair is the part of a FieldError the tests compare: where and what.
type errPair struct{ Field, Message string }

func pairs(errs Errors) []errPair {
	out := make([]errPair, len(errs))
	for i, fe := range errs {
		out[i] = errPair{fe.Field, fe.Message}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Field != out[j].Field {
			return out[i].Field < out[j].Field
		}
		return out[i].Message < out[j].Message
	})
	return out
}

// mustValidate validates input and fails the test on any error.
func mustValidate(t *testing.T, s *Schema, input map[string]any) Entity {
	t.Helper()
	e, errs := s.Validate(input, Options{})
	if errs != nil {
		t.Fatalf("%s: unexpected errors: %v", s.Name, errs)
	}
	return e
}

// wantErrors validates input and checks that exactly want is reported.
func wantErrors(t *testing.T, s *Schema, input map[string]any, opts Options, want []errPair) {
	t.Helper()
	e, errs := s.Validate(input, opts)
	if len(errs) == 0 {
		t.Fatalf("%s: expected errors %v, got none (entity %v)", s.Name, want, e)
	}
	if e != nil {
		t.Errorf("%s: expected a nil entity alongside errors, got %v", s.Name, e)
	}
	sort.Slice(want, func(i, j int) bool {
		if want[i].Field != want[j].Field {
			return want[i].Field < want[j].Field
		}
		return want[i].Message < want[j].Message
	})
	if got := pairs(errs); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: errors\n got  %q\n want %q", s.Name, got, want)
	}
}

// jsonString renders v for failure messages, with types visible where
// JSON would hide them.
func jsonString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// certOptions describe a certificate made by makeCert.
type certOptions struct {
	isCA     bool
	notAfter time.Time
	rsa      bool
}

// testCert is a generated certificate and its private key, both in PEM.
type testCert struct {
	cert, key string
	der       []byte
	signer    crypto.Signer
}

// makeCert generates a self-signed certificate with a fresh key.
func makeCert(opts certOptions) (testCert, error) {
	var signer crypto.Signer
	var err error
	if opts.rsa {
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		return testCert{}, err
	}
	notAfter := opts.notAfter
	if notAfter.IsZero() {
		notAfter = time.Now().Add(24 * time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "gantry.test"},
		DNSNames:              []string{"gantry.test"},
		NotBefore:             notAfter.Add(-48 * time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  opts.isCA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return testCert{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return testCert{}, err
	}
	return testCert{
		cert:   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		key:    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		der:    der,
		signer: signer,
	}, nil
}

// fixtures are generated once for the whole package: RSA key generation
// is slow under -race.
var fixtures = sync.OnceValues(func() (map[string]testCert, error) {
	specs := map[string]certOptions{
		"ec":         {},
		"ec2":        {},
		"rsa":        {rsa: true},
		"ca":         {isCA: true},
		"expired-ca": {isCA: true, notAfter: time.Now().Add(-time.Hour)},
	}
	out := make(map[string]testCert, len(specs))
	for name, opts := range specs {
		c, err := makeCert(opts)
		if err != nil {
			return nil, fmt.Errorf("generate %s certificate: %w", name, err)
		}
		out[name] = c
	}
	return out, nil
})

func fixture(t *testing.T, name string) testCert {
	t.Helper()
	certs, err := fixtures()
	if err != nil {
		t.Fatal(err)
	}
	return certs[name]
}
