package proxy

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"fmt"
	"testing"
)

func TestCertificateBySNI(t *testing.T) {
	ca := newTestCA(t)
	exact := ca.issue(t, "exact", []string{"exact.example.test"}, false)
	wildcard := ca.issue(t, "wildcard", []string{"*.example.test"}, false)
	right := ca.issue(t, "right", []string{"api.net"}, false)
	dual := ca.issue(t, "dual-ecdsa", []string{"dual.test"}, false)
	dualRSA := ca.issue(t, "dual-rsa", []string{"dual.test"}, true)
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`certificates:
  - cert: %s
    key: %s
    snis: [exact.example.test]
  - cert: %s
    key: %s
    snis: ["*.example.test"]
  - cert: %s
    key: %s
    snis: ["api.*"]
  - cert: %s
    key: %s
    cert_alt: %s
    key_alt: %s
    snis: [dual.test]
`, yamlString(exact.certPEM), yamlString(exact.keyPEM),
		yamlString(wildcard.certPEM), yamlString(wildcard.keyPEM),
		yamlString(right.certPEM), yamlString(right.keyPEM),
		yamlString(dual.certPEM), yamlString(dual.keyPEM), yamlString(dualRSA.certPEM), yamlString(dualRSA.keyPEM)))

	rsaOnly := &tls.Config{
		MaxVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256},
	}
	tests := []struct {
		sni    string
		client *tls.Config
		wantCN string
	}{
		{"exact.example.test", nil, "exact"},
		{"EXACT.example.test", nil, "exact"},
		{"other.example.test", nil, "wildcard"},
		{"deep.other.example.test", nil, "localhost"}, // a wildcard stands for one label
		{"example.test", nil, "localhost"},
		{"api.net", nil, "right"},
		{"api.example.net", nil, "localhost"}, // "api.*" replaces the last label only
		{"unknown.test", nil, "localhost"},
		{"", nil, "localhost"},
		{"dual.test", nil, "dual-ecdsa"},
		{"dual.test", rsaOnly, "dual-rsa"},
	}
	for _, tc := range tests {
		name := tc.sni
		if tc.client != nil {
			name += " RSA only"
		}
		t.Run(name, func(t *testing.T) {
			cfg := &tls.Config{InsecureSkipVerify: true, ServerName: tc.sni}
			if tc.client != nil {
				cfg = tc.client.Clone()
				cfg.InsecureSkipVerify, cfg.ServerName = true, tc.sni
			}
			conn, err := tls.Dial("tcp", g.tlsAddr, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			leaf := conn.ConnectionState().PeerCertificates[0]
			if leaf.Subject.CommonName != tc.wantCN {
				t.Fatalf("served %q, want %q", leaf.Subject.CommonName, tc.wantCN)
			}
			_, isRSA := leaf.PublicKey.(*rsa.PublicKey)
			_, isECDSA := leaf.PublicKey.(*ecdsa.PublicKey)
			if tc.client != nil && !isRSA || tc.client == nil && !isECDSA {
				t.Fatalf("served a %T key", leaf.PublicKey)
			}
		})
	}
}

func TestNamedTransportsAreBounded(t *testing.T) {
	ts := transports{plain: newHTTP1Client()}
	svc := &serviceInfo{protocol: "https", tlsKey: "k", tlsConfig: &tls.Config{}}
	first := ts.http1For(svc, "name-0")
	if again := ts.http1For(svc, "name-0"); again != first {
		t.Fatal("a server name got a second client")
	}
	for i := range maxNamedTransports + 100 {
		c := ts.http1For(svc, fmt.Sprintf("name-%d", i))
		if got := c.TLSConfig.ServerName; got != fmt.Sprintf("name-%d", i) {
			t.Fatalf("client for name-%d has server name %q", i, got)
		}
	}
	if n := len(ts.named); n != maxNamedTransports || ts.lru.Len() != n {
		t.Fatalf("%d named clients kept (list %d), want %d", n, ts.lru.Len(), maxNamedTransports)
	}
	if again := ts.http1For(svc, "name-0"); again == first {
		t.Fatal("the least recently used client was not dropped")
	}
	ts.closeIdle()
}
