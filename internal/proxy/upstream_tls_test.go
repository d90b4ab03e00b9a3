package proxy

import (
	"crypto/tls"
	"fmt"
	"testing"
)

// Ids of the certificate entities the upstream TLS tests configure.
const (
	caID     = "7a3e1c52-9d0f-4b6e-8f21-3c4d5e6f7a8b"
	clientID = "0f5b1c2d-3e4f-4a5b-9c6d-7e8f9a0b1c2d"
)

func TestTLSToUpstreams(t *testing.T) {
	ca := newTestCA(t)
	otherCA := newTestCA(t)
	serverCert := ca.issue(t, "upstream", []string{"localhost", "127.0.0.1", "sni.example.test"}, false)
	clientCert := ca.issue(t, "gantry-client", nil, false)

	open := startTLSEcho(t, "open", &tls.Config{Certificates: []tls.Certificate{serverCert.tls}})
	mutual := startTLSEcho(t, "mutual", &tls.Config{
		Certificates: []tls.Certificate{serverCert.tls},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.pool,
	})
	g := startGateway(t, Options{})
	service := func(name, addr, extra string) string {
		return fmt.Sprintf(`  - name: %s
    url: https://%s
    retries: 0
%s    routes:
      - paths: [/%s]
`, name, addr, extra, name)
	}
	certs := fmt.Sprintf(`ca_certificates:
  - id: %s
    cert: %s
certificates:
  - id: %s
    cert: %s
    key: %s
`, caID, yamlString(ca.certPEM), clientID, yamlString(clientCert.certPEM), yamlString(clientCert.keyPEM))
	g.apply(t, certs+"services:\n"+
		service("no-verify", open.addr, "    tls_verify: false\n")+
		service("verify-with-ca", open.addr, "    tls_verify: true\n    ca_certificates: ["+caID+"]\n")+
		service("verify-without-ca", open.addr, "    tls_verify: true\n")+
		service("verify-depth", open.addr, "    tls_verify: true\n    tls_verify_depth: 1\n    ca_certificates: ["+caID+"]\n")+
		service("client-cert", mutual.addr, "    client_certificate: "+clientID+"\n")+
		service("no-client-cert", mutual.addr, ""))
	c := newClient(t)
	tests := []struct {
		route    string
		status   int
		clientCN string
	}{
		{"no-verify", 200, ""},
		{"verify-with-ca", 200, ""},
		{"verify-without-ca", 502, ""}, // the test CA is in no system pool
		{"verify-depth", 200, ""},
		{"client-cert", 200, "gantry-client"},
		{"no-client-cert", 502, ""},
	}
	for _, tc := range tests {
		t.Run(tc.route, func(t *testing.T) {
			res := get(t, c, g.url+"/"+tc.route)
			if tc.status != 200 {
				wantKongError(t, res, tc.status, "An invalid response was received from the upstream server")
				return
			}
			if s := decodeSeen(t, res); s.ClientCN != tc.clientCN {
				t.Fatalf("upstream saw client certificate %q, want %q", s.ClientCN, tc.clientCN)
			}
		})
	}

	// A certificate renewed under the same id is the one presented from
	// then on.
	renewed := ca.issue(t, "gantry-client-renewed", nil, false)
	g.apply(t, fmt.Sprintf(`certificates:
  - id: %s
    cert: %s
    key: %s
services:
`, clientID, yamlString(renewed.certPEM), yamlString(renewed.keyPEM))+service("client-cert", mutual.addr, "    client_certificate: "+clientID+"\n"))
	if s := decodeSeen(t, get(t, c, g.url+"/client-cert")); s.ClientCN != "gantry-client-renewed" {
		t.Fatalf("after renewal the upstream saw client certificate %q", s.ClientCN)
	}
	// A CA replaced under the same id is the one verified against.
	g.apply(t, fmt.Sprintf(`ca_certificates:
  - id: %s
    cert: %s
services:
`, caID, yamlString(otherCA.certPEM))+service("verify-with-ca", open.addr, "    tls_verify: true\n    ca_certificates: ["+caID+"]\n"))
	wantKongError(t, get(t, c, g.url+"/verify-with-ca"), 502, "An invalid response was received from the upstream server")
}

func TestUpstreamSNIIsTheHostSent(t *testing.T) {
	ca := newTestCA(t)
	serverCert := ca.issue(t, "upstream", []string{"localhost", "127.0.0.1", "sni.example.test", "named.example"}, false)
	up := startTLSEcho(t, "tls", &tls.Config{Certificates: []tls.Certificate{serverCert.tls}})
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf(`ca_certificates:
  - id: %[1]s
    cert: %[2]s
services:
  - name: by-name
    url: https://localhost:%[3]d
    tls_verify: true
    ca_certificates: [%[1]s]
    routes:
      - name: by-name
        paths: [/by-name]
      - name: preserved
        paths: [/preserved]
        preserve_host: true
  - name: by-upstream
    host: tls-upstream
    protocol: https
    tls_verify: true
    ca_certificates: [%[1]s]
    routes:
      - paths: [/by-upstream]
upstreams:
  - name: tls-upstream
    host_header: named.example
    targets:
      - target: %[4]s
`, caID, yamlString(ca.certPEM), up.port, up.addr))
	c := newClient(t)
	tests := []struct {
		path, clientHost, wantHost, wantSNI string
	}{
		{"/by-name", "client.test", fmt.Sprintf("localhost:%d", up.port), "localhost"},
		{"/preserved", "sni.example.test", "sni.example.test", "sni.example.test"},
		{"/preserved", "SNI.Example.Test:8443", "SNI.Example.Test:8443", "sni.example.test"},
		{"/by-upstream", "client.test", fmt.Sprintf("named.example:%d", up.port), "named.example"},
	}
	for _, tc := range tests {
		t.Run(tc.path+" "+tc.clientHost, func(t *testing.T) {
			s := decodeSeen(t, get(t, c, g.url+tc.path, "Host", tc.clientHost))
			if s.Host != tc.wantHost || s.SNI != tc.wantSNI {
				t.Fatalf("upstream got Host %q SNI %q, want %q %q", s.Host, s.SNI, tc.wantHost, tc.wantSNI)
			}
		})
	}
	// With preserve_host the certificate is verified against the client's
	// host: one the upstream's certificate does not name fails.
	wantKongError(t, get(t, c, g.url+"/preserved", "Host", "not-in-cert.test"), 502,
		"An invalid response was received from the upstream server")
}
