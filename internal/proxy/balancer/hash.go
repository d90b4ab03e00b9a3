package balancer

import (
	"crypto/rand"
	"encoding/hex"
)

// HashInput is what consistent hashing (and sticky sessions) may read of a
// request. Fields and functions left nil read as empty.
//
// Pick derives the hash key from a HashInput once and caches it in the
// HashInput, as Kong computes its hash value once per request: pass the
// same *HashInput to every Pick of one request so retries hash the same
// key, and in particular so a cookie generated on the first try (see
// Pick.SetCookie) is not replaced by another on the retry. Use a fresh
// HashInput for every request.
type HashInput struct {
	// ConsumerID is the authenticated consumer's id, for hash_on=consumer.
	ConsumerID string
	// CredentialID is the authenticated credential's id, used by
	// hash_on=consumer when there is no consumer, as in Kong.
	CredentialID string
	// ClientIP is the client's address (after trusted-proxy processing),
	// for hash_on=ip.
	ClientIP string
	// Header returns a request header; with several values it should
	// return them joined by ", ", as nginx's $http_ variables do.
	Header func(name string) string
	// Cookie returns a request cookie and whether it is present.
	Cookie func(name string) (string, bool)
	// Path is the normalised request path, for hash_on=path.
	Path string
	// Query returns a query argument; with several values Kong sorts them
	// and joins them with ",".
	Query func(name string) string
	// Captures are the named captures of the matched route's regex path,
	// for hash_on=uri_capture.
	Captures map[string]string

	keyed     bool
	key       string
	setCookie string
}

// hashConfig is an upstream's hashing settings.
type hashConfig struct {
	on, fallback           hashSource
	cookiePath             string
	stickyName, stickyPath string
}

// hashSource is one input hashing can read: a mode and the name it reads.
type hashSource struct {
	mode string
	name string
}

func newHashConfig(u *Upstream) hashConfig {
	source := func(mode, header, query, capture string) hashSource {
		s := hashSource{mode: mode}
		switch mode {
		case HashHeader:
			s.name = header
		case HashCookie:
			s.name = u.HashOnCookie
		case HashQueryArg:
			s.name = query
		case HashURICapture:
			s.name = capture
		}
		return s
	}
	return hashConfig{
		on:         source(u.HashOn, u.HashOnHeader, u.HashOnQueryArg, u.HashOnURICapture),
		fallback:   source(u.HashFallback, u.HashFallbackHeader, u.HashFallbackQueryArg, u.HashFallbackURICapture),
		cookiePath: u.HashOnCookiePath,
		stickyName: u.StickySessionsCookie,
		stickyPath: u.StickySessionsCookiePath,
	}
}

// key returns the hash key for in, computing and caching it on first use.
// The primary input is used when it is non-empty, else the fallback; with
// neither the key is "", which hashes like any other value, so requests
// with no key all go to one target, as they do in Kong.
func (h *hashConfig) key(in *HashInput) (key, setCookie string) {
	if in == nil {
		return "", ""
	}
	if !in.keyed {
		in.key = h.read(h.on, in)
		if in.key == "" && h.fallback.mode != HashNone {
			in.key = h.read(h.fallback, in)
		}
		in.keyed = true
	}
	return in.key, in.setCookie
}

// read returns one input's value. A missing hash cookie is created, as
// Kong does: a random value becomes the key, and the caller is told to set
// it so the client's next requests hash the same way.
func (h *hashConfig) read(s hashSource, in *HashInput) string {
	switch s.mode {
	case HashConsumer:
		if in.ConsumerID != "" {
			return in.ConsumerID
		}
		return in.CredentialID
	case HashIP:
		return in.ClientIP
	case HashHeader:
		if in.Header != nil {
			return in.Header(s.name)
		}
	case HashCookie:
		if in.Cookie != nil {
			if v, ok := in.Cookie(s.name); ok {
				return v
			}
		}
		v := newUUID()
		in.setCookie = cookieHeader(s.name, v, h.cookiePath)
		return v
	case HashPath:
		return in.Path
	case HashQueryArg:
		if in.Query != nil {
			return in.Query(s.name)
		}
	case HashURICapture:
		return in.Captures[s.name]
	}
	return ""
}

// cookieHeader is the Set-Cookie value Kong sends for hash and sticky
// cookies (Kong spells the attribute "Same-Site", which browsers ignore;
// this sends the standard spelling).
func cookieHeader(name, value, path string) string {
	return name + "=" + value + "; Path=" + path + "; SameSite=Lax; HttpOnly"
}

// newUUID returns a random (version 4) UUID, the value Kong gives a new
// hash cookie.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}
