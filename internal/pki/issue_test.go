package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestIssue(t *testing.T) {
	const day = 24 * time.Hour
	root := mustIssue(t, caTemplate("Root", 30*day), nil)
	leafOnly := mustIssue(t, Template{CommonName: "Leaf-only CA", IsCA: true, MaxPathLen: -1, NotAfter: time.Now().Add(20 * day)}, root)
	pinned, err := GeneratePinned(10)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		tmpl    Template
		parent  *KeyPair
		check   func(t *testing.T, c *x509.Certificate)
		wantErr string
	}{
		{name: "self-signed root", tmpl: caTemplate("Root CA", 10*day), check: func(t *testing.T, c *x509.Certificate) {
			if !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 || len(c.ExtKeyUsage) != 0 {
				t.Errorf("IsCA %v, KeyUsage %b, ExtKeyUsage %v: want a CA that signs certificates", c.IsCA, c.KeyUsage, c.ExtKeyUsage)
			}
			if err := c.CheckSignatureFrom(c); err != nil || !bytes.Equal(c.RawIssuer, c.RawSubject) {
				t.Errorf("not self-signed: %v", err)
			}
			if c.MaxPathLen != -1 {
				t.Errorf("MaxPathLen = %d, want -1 (no limit)", c.MaxPathLen)
			}
		}},
		{name: "intermediate with a path length", tmpl: Template{CommonName: "Inter", IsCA: true, MaxPathLen: 2, NotAfter: time.Now().Add(day)},
			parent: root, check: func(t *testing.T, c *x509.Certificate) {
				if !c.IsCA || c.MaxPathLen != 2 {
					t.Errorf("IsCA %v, MaxPathLen %d; want a CA with path length 2", c.IsCA, c.MaxPathLen)
				}
				if err := c.CheckSignatureFrom(root.Cert); err != nil {
					t.Error(err)
				}
			}},
		{name: "CA that signs leaves only", tmpl: Template{CommonName: "Issuing", IsCA: true, MaxPathLen: -1, NotAfter: time.Now().Add(day)},
			parent: root, check: func(t *testing.T, c *x509.Certificate) {
				if c.MaxPathLen != 0 || !c.MaxPathLenZero {
					t.Errorf("MaxPathLen %d, MaxPathLenZero %v; want 0", c.MaxPathLen, c.MaxPathLenZero)
				}
			}},
		{name: "leaf", tmpl: leafTemplate("dp-1", day, "dp-1.example", "dp-1"), parent: leafOnly, check: func(t *testing.T, c *x509.Certificate) {
			if c.IsCA || c.KeyUsage != x509.KeyUsageDigitalSignature {
				t.Errorf("IsCA %v, KeyUsage %b; want a leaf for signatures", c.IsCA, c.KeyUsage)
			}
			want := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
			if !slices.Equal(c.ExtKeyUsage, want) {
				t.Errorf("ExtKeyUsage = %v, want server and client auth", c.ExtKeyUsage)
			}
			if !slices.Equal(c.DNSNames, []string{"dp-1.example", "dp-1"}) || c.Subject.CommonName != "dp-1" {
				t.Errorf("CN %q, DNSNames %v", c.Subject.CommonName, c.DNSNames)
			}
			if err := c.CheckSignatureFrom(leafOnly.Cert); err != nil {
				t.Error(err)
			}
		}},
		{name: "leaf for an IP address", tmpl: Template{CommonName: "cp", IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
			NotAfter: time.Now().Add(day)}, parent: root, check: func(t *testing.T, c *x509.Certificate) {
			if len(c.IPAddresses) != 2 || !c.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !c.IPAddresses[1].Equal(net.IPv6loopback) {
				t.Errorf("IPAddresses = %v, want [127.0.0.1 ::1]", c.IPAddresses)
			}
			if len(c.DNSNames) != 0 {
				t.Errorf("DNSNames = %v, want none", c.DNSNames)
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: pool([]*x509.Certificate{root.Cert}), DNSName: "127.0.0.1"}); err != nil {
				t.Errorf("does not verify for 127.0.0.1: %v", err)
			}
		}},
		{name: "unset NotBefore allows for clock skew", tmpl: Template{CommonName: "skew", NotAfter: time.Now().Add(day)},
			check: func(t *testing.T, c *x509.Certificate) {
				if d := time.Since(c.NotBefore); d < backdate-time.Minute || d > backdate+time.Minute {
					t.Errorf("NotBefore is %v ago, want about %v", d.Round(time.Second), backdate)
				}
			}},
		{name: "no common name", tmpl: Template{NotAfter: time.Now().Add(day)}, wantErr: "issue certificate: empty common name"},
		{name: "no expiry", tmpl: Template{CommonName: "x"}, wantErr: "issue CN=x: NotAfter 0001-01-01T00:00:00Z is not after NotBefore"},
		{name: "expiry before start", tmpl: Template{CommonName: "x", NotBefore: time.Now(), NotAfter: time.Now().Add(-time.Hour)},
			wantErr: "is not after NotBefore"},
		{name: "path length on a leaf", tmpl: Template{CommonName: "x", MaxPathLen: 1, NotAfter: time.Now().Add(day)},
			wantErr: "issue CN=x: MaxPathLen is for CA certificates only"},
		{name: "issuer is not a CA", tmpl: leafTemplate("x", day), parent: pinned, wantErr: "issue CN=x: issuer CN=kong_clustering is not a CA certificate"},
		{name: "issuer without a key", tmpl: leafTemplate("x", day), parent: &KeyPair{Cert: root.Cert}, wantErr: "the issuer needs both a certificate and a key"},
		{name: "issuer with the wrong key", tmpl: leafTemplate("x", day), parent: &KeyPair{Cert: root.Cert, Key: pinned.Key}, wantErr: "issue CN=x: x509: "},
		{name: "CA under a leaf-only CA", tmpl: caTemplate("sub", day), parent: leafOnly, wantErr: "issuer CN=Leaf-only CA may sign leaf certificates only"},
		{name: "outlives its issuer", tmpl: leafTemplate("x", 40*day), parent: root,
			wantErr: "issue CN=x: it would expire at "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			kp, err := Issue(tc.tmpl, tc.parent)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkKeyPair(t, kp)
			tc.check(t, kp.Cert)
		})
	}
}

// checkKeyPair checks what every issued pair shares: a P-384 key, a
// positive serial of at most 128 bits, and PEM that decodes to the pair.
func checkKeyPair(t *testing.T, kp *KeyPair) {
	t.Helper()
	key, ok := kp.Key.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P384() {
		t.Errorf("key is a %T, want ECDSA P-384", kp.Key)
	}
	if s := kp.Cert.SerialNumber; s.Sign() <= 0 || s.BitLen() > 128 {
		t.Errorf("serial %v, want a positive 128-bit number", s)
	}
	if block, rest := pem.Decode(kp.CertPEM); block == nil || block.Type != "CERTIFICATE" || !bytes.Equal(block.Bytes, kp.Cert.Raw) || len(rest) != 0 {
		t.Error("CertPEM is not the certificate alone")
	}
	block, _ := pem.Decode(kp.KeyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatal(`KeyPEM is not a "PRIVATE KEY" block`)
	}
	if _, err := LoadKeyPair(string(kp.CertPEM), string(kp.KeyPEM)); err != nil {
		t.Error(err)
	}
}

func TestIssueSerialsDiffer(t *testing.T) {
	a := mustIssue(t, leafTemplate("a", time.Hour), nil)
	b := mustIssue(t, leafTemplate("a", time.Hour), nil)
	if a.Cert.SerialNumber.Cmp(b.Cert.SerialNumber) == 0 {
		t.Error("two certificates have the same serial number")
	}
}

func TestGeneratePinned(t *testing.T) {
	tests := []struct {
		name    string
		days    int
		wantErr string
	}{
		{name: "Kong's default of 1095 days", days: 1095},
		{name: "one day", days: 1},
		{name: "zero days", days: 0, wantErr: "pinned certificate: days must be at least 1, got 0"},
		{name: "negative days", days: -5, wantErr: "days must be at least 1, got -5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			kp, err := GeneratePinned(tc.days)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkKeyPair(t, kp)
			c := kp.Cert
			if c.Subject.CommonName != "kong_clustering" || !slices.Equal(c.DNSNames, []string{"kong_clustering"}) {
				t.Errorf("CN %q, DNSNames %v; want kong_clustering for both", c.Subject.CommonName, c.DNSNames)
			}
			if c.IsCA || c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) != nil || !bytes.Equal(c.RawIssuer, c.RawSubject) {
				t.Error("want a self-signed leaf")
			}
			want := start.AddDate(0, 0, tc.days)
			if d := c.NotAfter.Sub(want); d < -time.Second || d > time.Minute {
				t.Errorf("NotAfter %s, want about %s", timestamp(c.NotAfter), timestamp(want))
			}
			// It serves as the control plane's server certificate for the
			// server name a data plane sends in shared mode.
			if _, err := c.Verify(x509.VerifyOptions{Roots: pool([]*x509.Certificate{c}), DNSName: PinnedCommonName}); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestWriteKeyPair(t *testing.T) {
	first, err := GeneratePinned(1)
	if err != nil {
		t.Fatal(err)
	}
	second, err := GeneratePinned(1)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		existing  []string // files in place before the write
		overwrite bool
		wantErr   string
	}{
		{name: "new files"},
		{name: "certificate exists", existing: []string{"cluster.crt"}, wantErr: "cluster.crt already exists; refusing to overwrite it"},
		{name: "key exists", existing: []string{"cluster.key"}, wantErr: "cluster.key already exists; refusing to overwrite it"},
		{name: "both exist, overwrite", existing: []string{"cluster.crt", "cluster.key"}, overwrite: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			certPath, keyPath := filepath.Join(dir, "cluster.crt"), filepath.Join(dir, "cluster.key")
			before := map[string][]byte{"cluster.crt": first.CertPEM, "cluster.key": first.KeyPEM}
			for _, f := range tc.existing {
				if err := os.WriteFile(filepath.Join(dir, f), before[f], 0o640); err != nil {
					t.Fatal(err)
				}
			}
			err := WriteKeyPair(second, certPath, keyPath, tc.overwrite)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				for f, data := range before {
					got, err := os.ReadFile(filepath.Join(dir, f))
					switch {
					case slices.Contains(tc.existing, f) && !bytes.Equal(got, data):
						t.Errorf("%s was changed", f)
					case !slices.Contains(tc.existing, f) && err == nil:
						t.Errorf("%s was written although the write was refused", f)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for path, want := range map[string]struct {
				data []byte
				mode os.FileMode
			}{certPath: {second.CertPEM, 0o644}, keyPath: {second.KeyPEM, 0o600}} {
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != want.mode {
					t.Errorf("%s has mode %o, want %o", filepath.Base(path), fi.Mode().Perm(), want.mode)
				}
				if got, _ := os.ReadFile(path); !bytes.Equal(got, want.data) {
					t.Errorf("%s does not hold the new pair", filepath.Base(path))
				}
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(entries) != 2 {
				t.Errorf("directory holds %d entries, want the two files and no temporary one", len(entries))
			}
			if _, err := LoadKeyPair(certPath, keyPath); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestFingerprintAndExpiry(t *testing.T) {
	kp := mustIssue(t, Template{CommonName: "x", NotBefore: time.Unix(1_700_000_000, 0), NotAfter: time.Unix(1_800_000_000, 0)}, nil)
	tests := []struct {
		name      string
		got, want any
	}{
		{name: "fingerprint", got: Fingerprint(kp.Cert), want: func() string { s := sha256.Sum256(kp.Cert.Raw); return hex.EncodeToString(s[:]) }()},
		{name: "expiry timestamp", got: ExpiryTimestamp(kp.Cert), want: int64(1_800_000_000)},
		{name: "name", got: name(kp.Cert), want: "CN=x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

// A certificate may expire at the same moment as its issuer, given as the
// same time.Time with sub-second precision: certificates keep whole
// seconds on both sides.
func TestIssueSameExpiryAsIssuer(t *testing.T) {
	end := time.Now().Add(24*time.Hour + 123456789*time.Nanosecond)
	ca, err := Issue(Template{CommonName: "ca", IsCA: true, NotAfter: end}, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := Issue(Template{CommonName: "leaf", NotAfter: end}, ca)
	if err != nil {
		t.Fatalf("a leaf expiring with its CA was refused: %v", err)
	}
	if !leaf.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Fatalf("leaf expires %s, CA %s", leaf.Cert.NotAfter, ca.Cert.NotAfter)
	}
}
