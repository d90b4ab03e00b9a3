package pki

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// handshakeTimeout bounds a test handshake so that a bug fails the test
// instead of hanging it.
const handshakeTimeout = 10 * time.Second

// chain is the certificates of kp followed by those of issuers, as a node
// presents them in a handshake.
func chain(kp *KeyPair, issuers ...*KeyPair) tls.Certificate {
	c := tls.Certificate{Certificate: [][]byte{kp.Cert.Raw}, PrivateKey: kp.Key, Leaf: kp.Cert}
	for _, i := range issuers {
		c.Certificate = append(c.Certificate, i.Cert.Raw)
	}
	return c
}

// mustIssue issues a certificate or fails the test.
func mustIssue(t *testing.T, tmpl Template, parent *KeyPair) *KeyPair {
	t.Helper()
	kp, err := Issue(tmpl, parent)
	if err != nil {
		t.Fatalf("Issue(%s): %v", tmpl.CommonName, err)
	}
	return kp
}

// caTemplate and leafTemplate describe certificates valid from an hour ago
// for the given time.
func caTemplate(cn string, valid time.Duration) Template {
	return Template{CommonName: cn, IsCA: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(valid)}
}

func leafTemplate(cn string, valid time.Duration, dns ...string) Template {
	return Template{CommonName: cn, DNSNames: dns, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(valid)}
}

// handshake runs a real TLS handshake over loopback TCP between a server
// and a client configuration, and returns each side's error. When the
// handshake succeeds the server sends one byte for the client to read, so
// that a refusal the server makes after the client is done (a TLS 1.3
// server checks the client certificate last) reaches the client too.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(handshakeTimeout)
	done := make(chan error, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer conn.Close()
		srv := tls.Server(conn, server)
		err = srv.SetDeadline(deadline)
		if err == nil {
			err = srv.Handshake()
		}
		if err == nil {
			_, err = srv.Write([]byte{1})
		}
		done <- err
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cli := tls.Client(conn, client)
	clientErr = cli.SetDeadline(deadline)
	if clientErr == nil {
		clientErr = cli.Handshake()
	}
	if clientErr == nil {
		_, clientErr = io.ReadFull(cli, make([]byte, 1))
	}
	return <-done, clientErr
}
