package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTemp writes data to a new file in dir and returns its path.
func writeTemp(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadCertificates(t *testing.T) {
	h := newHierarchy(t)
	dir := t.TempDir()
	chainPEM := append(bytes.Clone(h.leaf.CertPEM), h.inter.CertPEM...)
	chainPath := writeTemp(t, dir, "dp.crt", chainPEM)
	withKeyPath := writeTemp(t, dir, "both.pem", append(bytes.Clone(h.pinned.KeyPEM), h.pinned.CertPEM...))
	keyOnlyPath := writeTemp(t, dir, "key.pem", h.pinned.KeyPEM)
	corrupt := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})
	b64 := base64.StdEncoding.EncodeToString(chainPEM)
	var wrapped strings.Builder // base64 broken into 64-column lines, as `base64` prints it
	for s := b64; s != ""; {
		n := min(64, len(s))
		wrapped.WriteString(s[:n] + "\n")
		s = s[n:]
	}
	tests := []struct {
		name    string
		value   string
		want    []*x509.Certificate
		wantErr string
	}{
		{name: "path", value: chainPath, want: []*x509.Certificate{h.leaf.Cert, h.inter.Cert}},
		{name: "path with surrounding spaces", value: "  " + chainPath + "\n", want: []*x509.Certificate{h.leaf.Cert, h.inter.Cert}},
		{name: "path to a file that also holds the key", value: withKeyPath, want: []*x509.Certificate{h.pinned.Cert}},
		{name: "inline PEM", value: string(chainPEM), want: []*x509.Certificate{h.leaf.Cert, h.inter.Cert}},
		{name: "base64 PEM", value: b64, want: []*x509.Certificate{h.leaf.Cert, h.inter.Cert}},
		{name: "base64 PEM over several lines", value: wrapped.String(), want: []*x509.Certificate{h.leaf.Cert, h.inter.Cert}},
		{name: "base64 PEM without padding", value: strings.TrimRight(b64, "="), want: []*x509.Certificate{h.leaf.Cert, h.inter.Cert}},
		{name: "empty", value: " ", wantErr: "empty value: expected a file path, inline PEM or base64 PEM"},
		{name: "missing file", value: filepath.Join(dir, "nope.crt"),
			wantErr: filepath.Join(dir, "nope.crt") + " is not a readable file, inline PEM or base64 PEM: no such file or directory"},
		{name: "garbage", value: "garbage!", wantErr: "garbage! is not a readable file, inline PEM or base64 PEM"},
		{name: "long garbage is not repeated", value: strings.Repeat("x!", 200), wantErr: "the 400-byte value is not a readable file, inline PEM or base64 PEM: file name too long"},
		{name: "base64 of something else", value: base64.StdEncoding.EncodeToString([]byte("hello")),
			wantErr: "and as base64 it decodes to no PEM"},
		{name: "file without a certificate", value: keyOnlyPath, wantErr: "no PEM certificate in " + keyOnlyPath},
		{name: "inline PEM without a certificate", value: string(h.pinned.KeyPEM), wantErr: "no PEM certificate in inline PEM value"},
		{name: "base64 PEM without a certificate", value: base64.StdEncoding.EncodeToString(h.pinned.KeyPEM),
			wantErr: "no PEM certificate in base64 value"},
		{name: "corrupt certificate", value: string(append(bytes.Clone(h.leaf.CertPEM), corrupt...)),
			wantErr: "parse certificate 2 in inline PEM value: x509: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadCertificates(tc.value)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "x!x!") || strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q repeats the value", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d certificates, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !got[i].Equal(tc.want[i]) {
					t.Errorf("certificate %d is %s, want %s", i, name(got[i]), name(tc.want[i]))
				}
			}
		})
	}
}

func TestLoadKeyPair(t *testing.T) {
	h := newHierarchy(t)
	dir := t.TempDir()
	chainPEM := append(bytes.Clone(h.leaf.CertPEM), h.inter.CertPEM...)
	certPath := writeTemp(t, dir, "dp.crt", chainPEM)
	keyPath := writeTemp(t, dir, "dp.key", h.leaf.KeyPEM)
	ecKey, err := x509.MarshalECPrivateKey(h.leaf.Key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecKey})
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("x")})
	tests := []struct {
		name      string
		cert, key string
		wantErr   string
	}{
		{name: "paths", cert: certPath, key: keyPath},
		{name: "inline PEM", cert: string(chainPEM), key: string(h.leaf.KeyPEM)},
		{name: "base64 PEM", cert: base64.StdEncoding.EncodeToString(chainPEM), key: base64.StdEncoding.EncodeToString(h.leaf.KeyPEM)},
		{name: "SEC 1 key", cert: certPath, key: string(sec1)},
		{name: "key of another certificate", cert: certPath, key: string(h.otherLeaf.KeyPEM),
			wantErr: "private key does not match certificate CN=dp-1 (sha256 " + Fingerprint(h.leaf.Cert)[:16] + "…)"},
		{name: "no key in the key value", cert: certPath, key: certPath, wantErr: "no PEM private key in " + certPath},
		{name: "encrypted key", cert: certPath, key: string(encrypted), wantErr: "private key in inline PEM value is encrypted"},
		{name: "corrupt key", cert: certPath, key: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("x")})),
			wantErr: "parse private key in inline PEM value: "},
		{name: "garbage certificate", cert: "garbage!", key: keyPath, wantErr: "garbage! is not a readable file"},
		{name: "missing key file", cert: certPath, key: filepath.Join(dir, "none.key"), wantErr: "none.key is not a readable file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := LoadKeyPair(tc.cert, tc.key)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Certificate) != 2 || !bytes.Equal(got.Certificate[0], h.leaf.Cert.Raw) || !bytes.Equal(got.Certificate[1], h.inter.Cert.Raw) {
				t.Errorf("chain has %d certificates, want leaf and intermediate", len(got.Certificate))
			}
			if got.Leaf == nil || !got.Leaf.Equal(h.leaf.Cert) {
				t.Error("Leaf is not the first certificate")
			}
			// The loaded chain passes the control plane's pki check.
			err = VerifyDataPlane("pki", []*x509.Certificate{h.root.Cert}, time.Now)(got.Certificate, nil)
			if err != nil {
				t.Error(err)
			}
		})
	}
}

func TestTrustPool(t *testing.T) {
	h := newHierarchy(t)
	dir := t.TempDir()
	rootPath := writeTemp(t, dir, "root.crt", h.root.CertPEM)
	intermediates := x509.NewCertPool()
	intermediates.AddCert(h.inter.Cert)
	tests := []struct {
		name    string
		values  []string
		extra   []*x509.Certificate
		trusts  []*KeyPair // leaves that must verify, h.inter as intermediate
		refuses []*KeyPair
		wantErr string
	}{
		{name: "path", values: []string{rootPath}, trusts: []*KeyPair{h.leaf}, refuses: []*KeyPair{h.otherLeaf}},
		{name: "system and a path", values: []string{"system", rootPath}, trusts: []*KeyPair{h.leaf}, refuses: []*KeyPair{h.otherLeaf}},
		{name: "inline PEM and extra", values: []string{string(h.otherRoot.CertPEM)}, extra: []*x509.Certificate{h.root.Cert},
			trusts: []*KeyPair{h.leaf, h.otherLeaf}},
		{name: "extra only", extra: []*x509.Certificate{h.root.Cert}, trusts: []*KeyPair{h.leaf}, refuses: []*KeyPair{h.otherLeaf}},
		{name: "nothing trusts nothing", values: []string{"", " "}, refuses: []*KeyPair{h.leaf}},
		{name: "garbage", values: []string{rootPath, "garbage!"}, wantErr: "garbage! is not a readable file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			roots, err := TrustPool(tc.values, tc.extra)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			verify := func(kp *KeyPair) error {
				_, err := kp.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates})
				return err
			}
			for _, kp := range tc.trusts {
				if err := verify(kp); err != nil {
					t.Errorf("%s: %v", name(kp.Cert), err)
				}
			}
			for _, kp := range tc.refuses {
				if verify(kp) == nil {
					t.Errorf("%s verified", name(kp.Cert))
				}
			}
		})
	}
}
