package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func TestHTTP2ClientsToAnHTTP1Upstream(t *testing.T) {
	up := startEcho(t, "a")
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf("services:\n  - url: %s\n    routes:\n      - paths: [/]\n", up.URL))

	h2 := new(http.Protocols)
	h2.SetHTTP2(true)
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	tests := []struct {
		name      string
		url       string
		protocols *http.Protocols
		proto     string
	}{
		{"h2 over TLS", g.tlsURL, h2, "https"},
		{"h2c", g.h2cURL, h2c, "http"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{Protocols: tc.protocols, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
			t.Cleanup(tr.CloseIdleConnections)
			c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
			res := do(t, c, "POST", tc.url+"/h2?q=1", strings.NewReader("over h2"), "X-Custom", "v", "Te", "trailers")
			if res.ProtoMajor != 2 {
				t.Fatalf("client spoke %s to the proxy", res.Proto)
			}
			s := decodeSeen(t, res)
			if s.Proto != "HTTP/1.1" || s.Method != "POST" || s.URI != "/h2?q=1" || s.Body != "over h2" ||
				s.Header.Get("X-Custom") != "v" || s.Header.Get("X-Forwarded-Proto") != tc.proto {
				t.Fatalf("upstream got %+v", s)
			}
			if s.Host != up.addr {
				t.Fatalf("upstream Host %q", s.Host)
			}
			if _, ok := s.Header["Te"]; ok {
				t.Fatalf("upstream got Te from an h2 client")
			}
		})
	}
}

// startGRPC starts a gRPC server with the standard health service, over
// TLS when cert is not nil, until the test ends.
func startGRPC(t *testing.T, cert *tls.Certificate) (string, *health.Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if cert != nil {
		opts = append(opts, grpc.Creds(credentials.NewServerTLSFromCert(cert)))
	}
	srv := grpc.NewServer(opts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return ln.Addr().String(), hs
}

func TestGRPC(t *testing.T) {
	ca := newTestCA(t)
	upstreamCert := ca.issue(t, "grpc.upstream", []string{"127.0.0.1"}, false)
	plainAddr, plainHealth := startGRPC(t, nil)
	tlsAddr, tlsHealth := startGRPC(t, &upstreamCert.tls)
	g := startGateway(t, Options{Headers: HeadersFromSetting([]string{"server_tokens", "latency_tokens"})})
	g.apply(t, fmt.Sprintf(`services:
  - name: grpc
    url: grpc://%s
    routes:
      - protocols: [grpc, grpcs]
        hosts: [plain.grpc.test]
        paths: [/grpc.health.v1.Health/]
        strip_path: false
  - name: grpcs
    url: grpcs://%s
    routes:
      - protocols: [grpc, grpcs]
        hosts: [tls.grpc.test]
        paths: [/grpc.health.v1.Health/]
        strip_path: false
`, plainAddr, tlsAddr))

	upstreams := []struct {
		host   string
		health *health.Server
	}{{"plain.grpc.test", plainHealth}, {"tls.grpc.test", tlsHealth}}
	legs := []struct {
		name  string
		addr  string
		creds credentials.TransportCredentials
	}{
		{"h2c", g.h2cAddr, insecure.NewCredentials()},
		{"TLS", g.tlsAddr, credentials.NewTLS(&tls.Config{InsecureSkipVerify: true})},
	}
	for _, up := range upstreams {
		for _, leg := range legs {
			t.Run(up.host+" over "+leg.name, func(t *testing.T) {
				service := "gantry." + leg.name
				up.health.SetServingStatus(service, healthpb.HealthCheckResponse_SERVING)
				conn, err := grpc.NewClient("passthrough:///"+leg.addr,
					grpc.WithTransportCredentials(leg.creds), grpc.WithAuthority(up.host))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				client := healthpb.NewHealthClient(conn)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()

				res, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
				if err != nil || res.Status != healthpb.HealthCheckResponse_SERVING {
					t.Fatalf("Check: %v %v", res, err)
				}
				// An error is a grpc-status and grpc-message the upstream
				// sends without any message: they must reach the client.
				_, err = client.Check(ctx, &healthpb.HealthCheckRequest{Service: "unknown"})
				if st := status.Convert(err); st.Code() != codes.NotFound || st.Message() != "unknown service" {
					t.Fatalf("Check of an unknown service: %v", err)
				}

				// A server stream: each message arrives when it is sent.
				wctx, stop := context.WithCancel(ctx)
				defer stop()
				stream, err := client.Watch(wctx, &healthpb.HealthCheckRequest{Service: service})
				if err != nil {
					t.Fatal(err)
				}
				if m, err := stream.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_SERVING {
					t.Fatalf("first Watch message: %v %v", m, err)
				}
				up.health.SetServingStatus(service, healthpb.HealthCheckResponse_NOT_SERVING)
				if m, err := stream.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_NOT_SERVING {
					t.Fatalf("second Watch message: %v %v", m, err)
				}
				stop()
				if _, err := stream.Recv(); status.Code(err) != codes.Canceled {
					t.Fatalf("Watch after cancel: %v", err)
				}
			})
		}
	}
}
