package router

import (
	"strings"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" with ok false
		ok   bool
	}{
		{"/", "/", true},
		{"/foo", "/foo", true},
		{"/foo/", "/foo/", true},
		{"/.well-known/acme", "/.well-known/acme", true},
		{"/..a/a../.../b", "/..a/a../.../b", true},

		// Slashes are merged, as Kong's router does (normalize(uri, true)).
		{"//foo", "/foo", true},
		{"/foo//bar", "/foo/bar", true},
		{"/foo///", "/foo/", true},
		{"///", "/", true},

		// Dot segments (RFC 3986 §5.2.4).
		{"/a/./b", "/a/b", true},
		{"/a/.", "/a/", true},
		{"/./", "/", true},
		{"/.", "/", true},
		{"/a/..", "/", true},
		{"/a/../", "/", true},
		{"/a/b/..", "/a/", true},
		{"/a/b/../c", "/a/c", true},
		{"/a//../b", "/b", true},
		{"/a/b/./../../c/", "/c/", true},

		// Unreserved and other characters are decoded, even into dots.
		{"/%7Efoo", "/~foo", true},
		{"/%41%62%2d%5F", "/Ab-_", true},
		{"/%20x", "/ x", true},
		{"/caf%C3%A9", "/caf\xc3\xa9", true},
		{"/a/%2e%2E/b", "/b", true},
		{"/a/.%2e", "/", true},
		{"/a/%2e/b", "/a/b", true},

		// Reserved characters stay encoded, with upper-case hex.
		{"/a%2fb", "/a%2Fb", true},
		{"/a%2Fb", "/a%2Fb", true},
		{"/a/%2F../b", "/a/%2F../b", true},
		{"/%25", "/%25", true},
		{"/a%2Fb%3Bc", "/a%2Fb%3Bc", true},
		{"/%252e", "/%252e", true},
		{"/%3f%23%5b", "/%3F%23%5B", true},

		// Invalid: the gateway answers 400.
		{"", "", false},
		{"foo", "", false},
		{"*", "", false},
		{"/%", "", false},
		{"/%4", "", false},
		{"/%zz", "", false},
		{"/a%g1", "", false},
		{"/%00", "", false},
		{"/..", "", false},
		{"/../a", "", false},
		{"/a/../../b", "", false},
		{"/%2e%2e/a", "", false},
		{"//..", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := NormalizePath(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("NormalizePath(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestNormalizePathDoesNotAllocateWhenNormal(t *testing.T) {
	for _, p := range []string{"/", "/api/v1/users/42", "/a%2Fb/c", "/.well-known/x", "/trailing/"} {
		if n := testing.AllocsPerRun(100, func() { NormalizePath(p) }); n != 0 {
			t.Errorf("NormalizePath(%q) allocates %v times", p, n)
		}
	}
}

func TestLowerASCII(t *testing.T) {
	var all []byte
	for c := range 256 {
		all = append(all, byte(c))
	}
	got := append([]byte(nil), all...)
	lowerASCII(got)
	for i, c := range all {
		want := c
		if 'A' <= c && c <= 'Z' {
			want += 'a' - 'A'
		}
		if got[i] != want {
			t.Fatalf("lowerASCII: byte %#x became %#x", c, got[i])
		}
	}
}

func TestEscapePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/plain/path-_.~", "/plain/path-_.~"},
		{"/ x", "/%20x"},
		{"/caf\xc3\xa9", "/caf%C3%A9"},
		{"/a%2Fb", "/a%2Fb"},
		{"/q\"<>\\^`{|}", "/q%22%3C%3E%5C%5E%60%7B%7C%7D"},
		{"/!$&'()*+,;=:@[]", "/!$&'()*+,;=:@[]"},
	}
	for _, tt := range tests {
		if got := escapePath(tt.in); got != tt.want {
			t.Errorf("escapePath(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzNormalizePath checks that normalisation never panics, is idempotent,
// and leaves no empty or dot segment behind.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/a//b/../c/./d", "/%2e%2E/x", "/%7e%2f%41", "/a/..", "/%", "/%00", "//..//.", "/\xff%ff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if strings.HasPrefix(p, "/") && isNormal(p) != isNormalExact(p) {
			t.Fatalf("isNormal(%q) = %v, isNormalExact says otherwise", p, isNormal(p))
		}
		out, ok := NormalizePath(p)
		if !ok {
			if out != "" {
				t.Fatalf("NormalizePath(%q) = %q with ok false", p, out)
			}
			return
		}
		// The fast path must agree with the full algorithm.
		if slow, okSlow := normalizeSlow(p); okSlow != ok || slow != out {
			t.Fatalf("NormalizePath(%q) = %q, %v; normalizeSlow gives %q, %v", p, out, ok, slow, okSlow)
		}
		again, ok2 := NormalizePath(out)
		if !ok2 || again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", p, out, again, ok2)
		}
		if !isNormal(out) {
			t.Fatalf("NormalizePath(%q) = %q, which isNormal rejects", p, out)
		}
		if strings.Contains(out, "//") || strings.Contains(out+"/", "/./") || strings.Contains(out+"/", "/../") {
			t.Fatalf("NormalizePath(%q) = %q keeps an empty or dot segment", p, out)
		}
	})
}
