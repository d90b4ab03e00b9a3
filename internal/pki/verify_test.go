package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"
	"testing"
	"time"
)

// hierarchy is the seed's example chain and the certificates around it:
// cert3 (root) signs cert2 (intermediate), which signs cert1 (a data plane
// leaf), plus leaves that fail in one way each.
type hierarchy struct {
	root, inter, leaf          *KeyPair
	expired, notYet            *KeyPair // issued by inter
	otherRoot, otherLeaf       *KeyPair // an unrelated CA and its leaf
	pinned, pinned2, pinnedOld *KeyPair // self-signed pairs; pinnedOld is expired
	cp                         *KeyPair // a control plane server leaf for cp.example, issued by inter
	deep                       []*KeyPair
	deepLeaf                   *KeyPair // issued by deep[len(deep)-1]
	cpPinned                   *KeyPair // the control plane's own pair in the data plane tests
}

func newHierarchy(t *testing.T) *hierarchy {
	t.Helper()
	const day = 24 * time.Hour
	h := &hierarchy{}
	h.root = mustIssue(t, caTemplate("Cluster Root", 30*day), nil)
	h.inter = mustIssue(t, caTemplate("Cluster Intermediate", 20*day), h.root)
	h.leaf = mustIssue(t, leafTemplate("dp-1", 10*day), h.inter)
	h.expired = mustIssue(t, Template{CommonName: "dp-expired", NotBefore: time.Now().Add(-3 * day), NotAfter: time.Now().Add(-day)}, h.inter)
	h.notYet = mustIssue(t, Template{CommonName: "dp-future", NotBefore: time.Now().Add(day), NotAfter: time.Now().Add(3 * day)}, h.inter)
	h.otherRoot = mustIssue(t, caTemplate("Other Root", 30*day), nil)
	h.otherLeaf = mustIssue(t, leafTemplate("dp-other", 10*day), h.otherRoot)
	h.cp = mustIssue(t, leafTemplate("cp", 10*day, "cp.example"), h.inter)
	var err error
	if h.pinned, err = GeneratePinned(10); err != nil {
		t.Fatal(err)
	}
	if h.pinned2, err = GeneratePinned(10); err != nil {
		t.Fatal(err)
	}
	if h.cpPinned, err = GeneratePinned(10); err != nil {
		t.Fatal(err)
	}
	h.pinnedOld = mustIssue(t, Template{CommonName: PinnedCommonName, DNSNames: []string{PinnedCommonName},
		NotBefore: time.Now().Add(-3 * day), NotAfter: time.Now().Add(-day)}, nil)
	// root → deep[0] → … → deep[4] → deepLeaf: five intermediates.
	parent := h.root
	for i := range 5 {
		parent = mustIssue(t, caTemplate(fmt.Sprintf("Deep %d", i), time.Duration(25-i)*day), parent)
		h.deep = append(h.deep, parent)
	}
	h.deepLeaf = mustIssue(t, leafTemplate("dp-deep", 10*day), parent)
	return h
}

func TestVerifyDataPlaneHandshake(t *testing.T) {
	h := newHierarchy(t)
	deepChain := func(from int) tls.Certificate {
		c := chain(h.deepLeaf)
		for i := len(h.deep) - 1; i >= from; i-- {
			c.Certificate = append(c.Certificate, h.deep[i].Cert.Raw)
		}
		return c
	}
	withKey := func(c tls.Certificate, key *KeyPair) tls.Certificate {
		c.PrivateKey = key.Key
		return c
	}
	certs := func(kps ...*KeyPair) []*x509.Certificate {
		var out []*x509.Certificate
		for _, kp := range kps {
			out = append(out, kp.Cert)
		}
		return out
	}
	tests := []struct {
		name    string
		mode    string
		trusted []*x509.Certificate
		client  *tls.Certificate // nil: the data plane sends no certificate
		now     func() time.Time
		wantErr string // in the control plane's handshake error; empty: accepted
	}{
		{name: "shared: pinned certificate", mode: "shared", trusted: certs(h.pinned), client: new(chain(h.pinned))},
		{name: "shared: another pinned pair", mode: "shared", trusted: certs(h.pinned), client: new(chain(h.pinned2)),
			wantErr: "data plane certificate CN=kong_clustering is not the pinned certificate (sha256 " + Fingerprint(h.pinned2.Cert)[:16] + "…)"},
		{name: "shared: pinned but expired", mode: "shared", trusted: certs(h.pinnedOld), client: new(chain(h.pinnedOld)),
			wantErr: "data plane certificate CN=kong_clustering expired at " + timestamp(h.pinnedOld.Cert.NotAfter)},
		{name: "shared: a CA-signed leaf is not the pin", mode: "shared", trusted: certs(h.inter), client: new(chain(h.leaf)),
			wantErr: "is not the pinned certificate"},
		{name: "pki: trusting cert1, the leaf, which comes alone", mode: "pki", trusted: certs(h.leaf), client: new(chain(h.leaf))},
		{name: "pki: trusting cert2, the intermediate, leaf comes alone", mode: "pki", trusted: certs(h.inter), client: new(chain(h.leaf))},
		{name: "pki: trusting cert3, the root, leaf and intermediate sent", mode: "pki", trusted: certs(h.root), client: new(chain(h.leaf, h.inter))},
		{name: "pki: trusting cert3, the root, leaf comes alone", mode: "pki", trusted: certs(h.root), client: new(chain(h.leaf)),
			wantErr: "data plane certificate CN=dp-1 is not signed by cluster_ca_cert: x509: certificate signed by unknown authority"},
		{name: "pki: trusting the root among others", mode: "pki", trusted: certs(h.otherRoot, h.root), client: new(chain(h.leaf, h.inter))},
		{name: "pki: expired leaf", mode: "pki", trusted: certs(h.root), client: new(chain(h.expired, h.inter)),
			wantErr: "data plane certificate CN=dp-expired expired at " + timestamp(h.expired.Cert.NotAfter)},
		{name: "pki: leaf not yet valid", mode: "pki", trusted: certs(h.root), client: new(chain(h.notYet, h.inter)),
			wantErr: "data plane certificate CN=dp-future is not valid until " + timestamp(h.notYet.Cert.NotBefore)},
		{name: "pki: clock past the leaf's expiry", mode: "pki", trusted: certs(h.root), client: new(chain(h.leaf, h.inter)),
			now:     func() time.Time { return h.leaf.Cert.NotAfter.Add(time.Second) },
			wantErr: "data plane certificate CN=dp-1 expired at " + timestamp(h.leaf.Cert.NotAfter)},
		{name: "pki: signed by another CA", mode: "pki", trusted: certs(h.root), client: new(chain(h.otherLeaf, h.otherRoot)),
			wantErr: "data plane certificate CN=dp-other is not signed by cluster_ca_cert"},
		{name: "pki: four intermediates, as ssl_verify_depth 4 allows", mode: "pki", trusted: certs(h.deep[0]), client: new(deepChain(1))},
		{name: "pki: five intermediates", mode: "pki", trusted: certs(h.root), client: new(deepChain(0)),
			wantErr: "data plane certificate CN=dp-deep chains to cluster_ca_cert through more than 4 intermediate CAs"},
		{name: "shared: no client certificate", mode: "shared", trusted: certs(h.pinned),
			wantErr: "client didn't provide a certificate"},
		{name: "pki: no client certificate", mode: "pki", trusted: certs(h.root),
			wantErr: "client didn't provide a certificate"},
		// The pinned certificate is accepted, but the handshake signature,
		// made with another key, is not: the TLS stack refuses the client.
		{name: "shared: pinned certificate with the wrong key", mode: "shared", trusted: certs(h.pinned),
			client: new(withKey(chain(h.pinned), h.pinned2)), wantErr: "invalid signature by the client certificate"},
		{name: "pki: trusted leaf with the wrong key", mode: "pki", trusted: certs(h.root),
			client: new(withKey(chain(h.leaf, h.inter), h.otherLeaf)), wantErr: "invalid signature by the client certificate"},
		{name: "unknown mode", mode: "on", trusted: certs(h.pinned), client: new(chain(h.pinned)),
			wantErr: `cannot verify the data plane: cluster_mtls "on": expected shared or pki`},
		{name: "pki: nothing trusted", mode: "pki", client: new(chain(h.leaf)),
			wantErr: "cannot verify the data plane: no certificate to trust"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			server := &tls.Config{
				Certificates:          []tls.Certificate{chain(h.cpPinned)},
				ClientAuth:            tls.RequireAnyClientCert,
				VerifyPeerCertificate: VerifyDataPlane(tc.mode, tc.trusted, tc.now),
			}
			client := &tls.Config{
				ServerName:            PinnedCommonName,
				InsecureSkipVerify:    true,
				VerifyPeerCertificate: VerifyControlPlane("shared", []*x509.Certificate{h.cpPinned.Cert}, nil, "", nil),
			}
			if tc.client != nil {
				client.Certificates = []tls.Certificate{*tc.client}
			}
			serverErr, clientErr := handshake(t, server, client)
			t.Logf("control plane: %v; data plane: %v", serverErr, clientErr)
			if tc.wantErr == "" {
				if serverErr != nil || clientErr != nil {
					t.Fatalf("handshake refused: control plane: %v; data plane: %v", serverErr, clientErr)
				}
				return
			}
			if serverErr == nil || !strings.Contains(serverErr.Error(), tc.wantErr) {
				t.Fatalf("control plane error = %v, want one containing %q", serverErr, tc.wantErr)
			}
			if clientErr == nil {
				t.Fatal("the data plane saw the handshake succeed")
			}
		})
	}
}

func TestVerifyDataPlaneMessages(t *testing.T) {
	h := newHierarchy(t)
	tests := []struct {
		name     string
		mode     string
		rawCerts [][]byte
		want     string
	}{
		{name: "shared: no certificate", mode: "shared", want: "data plane presented no client certificate"},
		{name: "pki: no certificate", mode: "pki", rawCerts: [][]byte{}, want: "data plane presented no client certificate"},
		{name: "garbage leaf", mode: "pki", rawCerts: [][]byte{[]byte("not DER")},
			want: "data plane certificate 1 of 1 cannot be parsed: "},
		{name: "garbage intermediate", mode: "pki", rawCerts: [][]byte{h.leaf.Cert.Raw, []byte("not DER")},
			want: "data plane certificate 2 of 2 cannot be parsed: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyDataPlane(tc.mode, []*x509.Certificate{h.root.Cert}, nil)(tc.rawCerts, nil)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error = %v, want one starting %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
		})
	}
}

func TestVerifyControlPlaneHandshake(t *testing.T) {
	h := newHierarchy(t)
	roots := func(kps ...*KeyPair) *x509.CertPool {
		p := x509.NewCertPool()
		for _, kp := range kps {
			p.AddCert(kp.Cert)
		}
		return p
	}
	tests := []struct {
		name       string
		mode       string
		server     tls.Certificate
		pinned     []*x509.Certificate
		roots      *x509.CertPool
		serverName string
		now        func() time.Time
		wantErr    string // in the data plane's handshake error; empty: accepted
	}{
		{name: "shared: pinned", mode: "shared", server: chain(h.pinned), pinned: []*x509.Certificate{h.pinned.Cert}},
		{name: "shared: not the pin", mode: "shared", server: chain(h.pinned2), pinned: []*x509.Certificate{h.pinned.Cert},
			wantErr: "control plane certificate CN=kong_clustering is not the pinned certificate (sha256 " + Fingerprint(h.pinned2.Cert)[:16] + "…)"},
		{name: "shared: pinned but expired", mode: "shared", server: chain(h.pinnedOld), pinned: []*x509.Certificate{h.pinnedOld.Cert},
			wantErr: "control plane certificate CN=kong_clustering expired at " + timestamp(h.pinnedOld.Cert.NotAfter)},
		{name: "shared: no pin configured", mode: "shared", server: chain(h.pinned),
			wantErr: "cannot verify the control plane: no pinned certificate"},
		{name: "pki: server name matches", mode: "pki", server: chain(h.cp, h.inter), roots: roots(h.root), serverName: "cp.example"},
		{name: "pki: wrong server name", mode: "pki", server: chain(h.cp, h.inter), roots: roots(h.root), serverName: "other.example",
			wantErr: `control plane certificate CN=cp is not valid for server name "other.example": x509: certificate is valid for cp.example, not other.example`},
		{name: "pki: another CA", mode: "pki", server: chain(h.cp, h.inter), roots: roots(h.otherRoot), serverName: "cp.example",
			wantErr: "control plane certificate CN=cp is not signed by a trusted CA: x509: certificate signed by unknown authority"},
		{name: "pki: intermediate missing", mode: "pki", server: chain(h.cp), roots: roots(h.root), serverName: "cp.example",
			wantErr: "is not signed by a trusted CA"},
		{name: "pki: clock before the certificate", mode: "pki", server: chain(h.cp, h.inter), roots: roots(h.root), serverName: "cp.example",
			now:     func() time.Time { return h.cp.Cert.NotBefore.Add(-time.Minute) },
			wantErr: "control plane certificate CN=cp is not valid until " + timestamp(h.cp.Cert.NotBefore)},
		{name: "pki: no server name", mode: "pki", server: chain(h.cp, h.inter), roots: roots(h.root),
			wantErr: "cannot verify the control plane: no server name"},
		{name: "unknown mode", mode: "", server: chain(h.pinned), pinned: []*x509.Certificate{h.pinned.Cert},
			wantErr: `cluster_mtls "": expected shared or pki`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			server := &tls.Config{Certificates: []tls.Certificate{tc.server}}
			client := &tls.Config{
				ServerName:            tc.serverName,
				InsecureSkipVerify:    true,
				VerifyPeerCertificate: VerifyControlPlane(tc.mode, tc.pinned, tc.roots, tc.serverName, tc.now),
			}
			serverErr, clientErr := handshake(t, server, client)
			t.Logf("control plane: %v; data plane: %v", serverErr, clientErr)
			if tc.wantErr == "" {
				if serverErr != nil || clientErr != nil {
					t.Fatalf("handshake refused: control plane: %v; data plane: %v", serverErr, clientErr)
				}
				return
			}
			if clientErr == nil || !strings.Contains(clientErr.Error(), tc.wantErr) {
				t.Fatalf("data plane error = %v, want one containing %q", clientErr, tc.wantErr)
			}
			if serverErr == nil {
				t.Fatal("the control plane saw the handshake succeed")
			}
		})
	}
}

func TestVerifyControlPlaneNoCertificate(t *testing.T) {
	h := newHierarchy(t)
	for _, mode := range []string{"shared", "pki"} {
		t.Run(mode, func(t *testing.T) {
			err := VerifyControlPlane(mode, []*x509.Certificate{h.pinned.Cert}, x509.NewCertPool(), "cp.example", nil)(nil, nil)
			if err == nil || err.Error() != "control plane presented no certificate" {
				t.Fatalf("error = %v, want %q", err, "control plane presented no certificate")
			}
		})
	}
}
