package proxy

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/gantry-gw/gantry/internal/declarative"
	"github.com/gantry-gw/gantry/internal/entity"
	"github.com/gantry-gw/gantry/internal/proxy/balancer"
	"github.com/gantry-gw/gantry/internal/proxy/router"
)

// Runtime is one configuration compiled for serving: the router, the
// services routes lead to, the balancers of the upstreams, the TLS
// certificates. It is immutable once built; a new configuration builds a
// new Runtime and the proxy swaps it in atomically, while requests that
// started on the old one finish on it.
type Runtime struct {
	// Hash is the config hash of the configuration this runtime serves.
	Hash string
	// Groups are its group hashes.
	Groups map[string]string

	router    *router.Router
	routes    []*routeInfo // by router.Route.Index
	balancers *balancer.Set
	certs     *certStore
	entities  int
}

// routeInfo is what the proxy needs of a matched route.
type routeInfo struct {
	id, name       string
	preserveHost   bool
	requestBuffer  bool
	responseBuffer bool
	redirectStatus int
	service        *serviceInfo // nil: the route has no service (Kong answers 503)
	metrics        *routeMetrics
}

// serviceInfo is a service ready to proxy to.
type serviceInfo struct {
	id, name       string
	protocol       string // http, https, grpc, grpcs, ws, wss
	host           string
	port           int
	path           string
	retries        int
	connectTimeout int64 // milliseconds
	writeTimeout   int64
	readTimeout    int64
	upstream       *balancer.Balancer // nil: host is a plain name or address
	addr           string             // host:port to dial without a balancer
	hostHeader     string             // the Host sent upstream without a balancer or preserve_host
	h2             *http.Transport    // gRPC services only: HTTP/2 to the upstream
	tlsKey         string             // identifies the TLS settings, to share clients
	tlsConfig      *tls.Config
}

// scheme is the URL scheme the proxy speaks to the service.
func (s *serviceInfo) scheme() string {
	switch s.protocol {
	case "https", "grpcs", "wss":
		return "https"
	}
	return "http"
}

// CompileError lists why a configuration cannot run on this node.
type CompileError struct {
	Problems []Problem
}

func (e *CompileError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, pr := range e.Problems {
		lines[i] = pr.String()
	}
	return "configuration cannot run on this node: " + strings.Join(lines, "; ")
}

// Problem is one reason a configuration cannot run: the entity it is about
// (empty for the configuration as a whole), the field when one is to blame,
// and the message.
type Problem struct {
	Type, ID, Name, Field, Message string
}

// String renders the problem as "plugins ID (name): field: message".
func (pr Problem) String() string {
	var b strings.Builder
	if pr.Type != "" {
		b.WriteString(pr.Type + " " + pr.ID)
		if pr.Name != "" {
			b.WriteString(" (" + pr.Name + ")")
		}
		b.WriteString(": ")
	}
	if pr.Field != "" {
		b.WriteString(pr.Field + ": ")
	}
	b.WriteString(pr.Message)
	return b.String()
}

// entityProblem is a Problem about entity e of type typ.
func entityProblem(typ string, e entity.Entity, field, msg string) Problem {
	return Problem{Type: typ, ID: e.ID(), Name: e.String("name"), Field: field, Message: msg}
}

// compile builds a Runtime from a validated declarative config. prev, when
// not nil, is the runtime being replaced: balancers of unchanged upstreams
// carry their state over. The caller starts the new runtime's balancers
// only once it is swapped in.
func (p *Proxy) compile(cfg *declarative.Config, prev *Runtime) (*Runtime, error) {
	var problems []Problem
	for _, pl := range cfg.Entities[entity.Plugins.Name] {
		if enabled, _ := pl["enabled"].(bool); enabled {
			problems = append(problems, entityProblem(entity.Plugins.Name, pl, "name",
				fmt.Sprintf("the %s plugin is not available on this node yet", pl.String("name"))))
		}
	}

	hashes := cfg.Hash()
	rt := &Runtime{Hash: hashes.Config, Groups: hashes.Groups, entities: cfg.Count()}

	certs, certProblems := newCertStore(cfg)
	problems = append(problems, certProblems...)
	rt.certs = certs

	targetsByUpstream := map[string][]entity.Entity{}
	for _, t := range cfg.Entities[entity.Targets.Name] {
		targetsByUpstream[t.Ref("upstream")] = append(targetsByUpstream[t.Ref("upstream")], t)
	}
	var ups []balancer.Upstream
	for _, u := range cfg.Entities[entity.Upstreams.Name] {
		bu, err := balancer.UpstreamFromEntities(u, targetsByUpstream[u.ID()])
		if err != nil {
			problems = append(problems, entityProblem(entity.Upstreams.Name, u, "", err.Error()))
			continue
		}
		ups = append(ups, bu)
	}
	var prevSet *balancer.Set
	if prev != nil {
		prevSet = prev.balancers
	}
	rt.balancers = balancer.NewSet(ups, prevSet, balancer.Options{Logger: p.log})

	caCerts := map[string]*x509.Certificate{}
	for _, ca := range cfg.Entities[entity.CACertificates.Name] {
		if certs, err := entity.ParseCertificates(ca.String("cert")); err == nil {
			caCerts[ca.ID()] = certs[0]
		}
	}
	services := map[string]*serviceInfo{}
	for _, s := range cfg.Entities[entity.Services.Name] {
		if enabled, _ := s["enabled"].(bool); !enabled || !httpProtocol(s.String("protocol")) {
			continue // disabled, or a stream service the HTTP proxy does not serve
		}
		si, err := p.compileService(s, rt, caCerts)
		if err != nil {
			problems = append(problems, entityProblem(entity.Services.Name, s, "", err.Error()))
			continue
		}
		services[s.ID()] = si
	}

	var routes []router.Route
	for _, r := range cfg.Entities[entity.Routes.Name] {
		svcID := r.Ref("service")
		svc := services[svcID]
		if svcID != "" && svc == nil {
			continue // its service is disabled: Kong does not route to it
		}
		rr := routeFromEntity(r, len(routes))
		if len(rr.Protocols) == 0 {
			continue // a stream route: not served by the HTTP proxy
		}
		info := &routeInfo{
			id: r.ID(), name: r.String("name"), service: svc,
			preserveHost:   rr.PreserveHost,
			requestBuffer:  boolField(r, "request_buffering"),
			responseBuffer: boolField(r, "response_buffering"),
			redirectStatus: rr.HTTPSRedirectStatusCode,
			metrics:        p.metrics.route(r.ID(), r.String("name"), svc),
		}
		routes = append(routes, rr)
		rt.routes = append(rt.routes, info)
	}
	if len(problems) > 0 {
		rt.balancers.Stop()
		return nil, &CompileError{Problems: problems}
	}
	rtr, err := router.New(routes)
	if err != nil {
		rt.balancers.Stop()
		return nil, &CompileError{Problems: []Problem{{Message: err.Error()}}}
	}
	rt.router = rtr
	return rt, nil
}

func boolField(e entity.Entity, name string) bool {
	b, _ := e[name].(bool)
	return b
}

func intField(e entity.Entity, name string) int64 {
	n, _ := e[name].(int64)
	return n
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// httpProtocol reports whether the HTTP proxy serves protocol p (the
// others are stream protocols: tcp, tls, udp, tls_passthrough).
func httpProtocol(p string) bool {
	switch p {
	case "http", "https", "grpc", "grpcs", "ws", "wss":
		return true
	}
	return false
}

// httpProtocols keeps the protocols the HTTP proxy serves.
func httpProtocols(ps []string) []string {
	var out []string
	for _, p := range ps {
		if httpProtocol(p) {
			out = append(out, p)
		}
	}
	return out
}

// routeFromEntity decodes a validated route entity for the router.
func routeFromEntity(r entity.Entity, index int) router.Route {
	rr := router.Route{
		ID:                      r.ID(),
		Name:                    r.String("name"),
		Index:                   index,
		Protocols:               httpProtocols(stringList(r["protocols"])),
		Methods:                 stringList(r["methods"]),
		Hosts:                   stringList(r["hosts"]),
		Paths:                   stringList(r["paths"]),
		SNIs:                    stringList(r["snis"]),
		RegexPriority:           int(intField(r, "regex_priority")),
		StripPath:               boolField(r, "strip_path"),
		PathHandling:            r.String("path_handling"),
		PreserveHost:            boolField(r, "preserve_host"),
		HTTPSRedirectStatusCode: int(intField(r, "https_redirect_status_code")),
	}
	if hs, ok := r["headers"].(map[string]any); ok && len(hs) > 0 {
		rr.Headers = make(map[string][]string, len(hs))
		for k, v := range hs {
			rr.Headers[k] = stringList(v)
		}
	}
	return rr
}

// compileService decodes a service and prepares how to reach it: through
// the balancer of the upstream its host names, or straight to host:port.
func (p *Proxy) compileService(s entity.Entity, rt *Runtime, caCerts map[string]*x509.Certificate) (*serviceInfo, error) {
	si := &serviceInfo{
		id: s.ID(), name: s.String("name"),
		protocol:       s.String("protocol"),
		host:           s.String("host"),
		port:           int(intField(s, "port")),
		path:           s.String("path"),
		retries:        int(intField(s, "retries")),
		connectTimeout: intField(s, "connect_timeout"),
		writeTimeout:   intField(s, "write_timeout"),
		readTimeout:    intField(s, "read_timeout"),
	}
	si.upstream = rt.balancers.Get(si.host)
	if si.scheme() == "https" {
		cfg, key, err := upstreamTLS(s, si, rt.certs, caCerts)
		if err != nil {
			return nil, err
		}
		si.tlsConfig, si.tlsKey = cfg, key
	}
	si.addr = hostPort(si.host, si.port)
	si.hostHeader = upstreamHost(si, attempt{})
	si.h2 = p.transports.http2Base(si)
	return si, nil
}

// upstreamTLS builds the TLS client settings of a service: verification
// against its CA certificates (or the system pool), depth, and its client
// certificate. The key it returns identifies the settings for sharing
// transports; it names certificates by their content, not their entity
// id, so a certificate renewed under the same id gets a new transport
// rather than the pooled one still presenting the old certificate.
func upstreamTLS(s entity.Entity, si *serviceInfo, certs *certStore, caCerts map[string]*x509.Certificate) (*tls.Config, string, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	var key strings.Builder
	verify, _ := s["tls_verify"].(bool)
	key.WriteString("verify=" + strconv.FormatBool(verify))
	if !verify {
		cfg.InsecureSkipVerify = true
	} else {
		ids := stringList(s["ca_certificates"])
		if len(ids) > 0 {
			pool := x509.NewCertPool()
			for _, id := range ids {
				ca, ok := caCerts[id]
				if !ok {
					return nil, "", fmt.Errorf("ca_certificates: %s is not in the configuration", id)
				}
				pool.AddCert(ca)
				key.WriteString(",ca=" + fingerprint(ca.Raw))
			}
			cfg.RootCAs = pool
		}
		if depth, ok := s["tls_verify_depth"].(int64); ok {
			cfg.InsecureSkipVerify = true
			cfg.VerifyConnection = verifyWithDepth(cfg.RootCAs, int(depth))
			key.WriteString(",depth=" + strconv.FormatInt(depth, 10))
		}
	}
	if id := s.Ref("client_certificate"); id != "" {
		cert, ok := certs.byID[id]
		if !ok {
			return nil, "", fmt.Errorf("client_certificate: %s is not in the configuration", id)
		}
		cfg.Certificates = []tls.Certificate{*cert}
		key.WriteString(",client=" + fingerprint(cert.Certificate[0]))
	}
	if si.protocol == "grpcs" {
		cfg.NextProtos = []string{"h2"}
		key.WriteString(",h2")
	} else {
		cfg.NextProtos = []string{"http/1.1"}
	}
	return cfg, key.String(), nil
}

// verifyWithDepth verifies the server chain against roots (nil: the
// system's) and refuses chains longer than depth intermediates, as
// nginx's proxy_ssl_verify_depth does.
func verifyWithDepth(roots *x509.CertPool, depth int) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("upstream presented no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		chains, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			DNSName: cs.ServerName, Roots: roots, Intermediates: inter,
		})
		if err != nil {
			return err
		}
		for _, chain := range chains {
			if len(chain)-2 <= depth {
				return nil
			}
		}
		return fmt.Errorf("upstream certificate chain is longer than tls_verify_depth %d", depth)
	}
}

// fingerprint identifies a DER certificate by its SHA-256.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// hostPort joins a host and port for dialing.
func hostPort(host string, port int) string {
	return net.JoinHostPort(host, strconv.Itoa(port))
}
