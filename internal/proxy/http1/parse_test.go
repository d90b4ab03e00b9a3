package http1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"strings"
	"testing"
)

// parseRequestBytes reads and parses one request head from raw, the way
// the server does.
func parseRequestBytes(raw []byte) (*Request, error) {
	br := bufio.NewReaderSize(bytes.NewReader(raw), 4096)
	var scratch []byte
	head, err := readHead(br, DefaultMaxHeaderBytes, &scratch)
	if err != nil {
		return nil, err
	}
	r := &Request{}
	if _, err := parseRequest(head, r); err != nil {
		return nil, err
	}
	return r, nil
}

// TestParseWhatNetHTTPWrites parses requests written by net/http's client
// and compares with what net/http's own reader makes of them.
func TestParseWhatNetHTTPWrites(t *testing.T) {
	mk := func(method, url, body string, chunked bool, header ...string) *http.Request {
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, url, r)
		if err != nil {
			t.Fatal(err)
		}
		if chunked {
			req.ContentLength = -1
			req.Body = io.NopCloser(strings.NewReader(body))
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Add(header[i], header[i+1])
		}
		return req
	}
	reqs := []*http.Request{
		mk("GET", "http://example.com/", "", false),
		mk("GET", "http://example.com:8080/a/b%2Fc?x=1&y=2&y=3", "", false, "Cookie", "a=1", "Cookie", "b=2"),
		mk("POST", "http://example.com/form", "a=1&b=2", false, "Content-Type", "application/x-www-form-urlencoded"),
		mk("PUT", "http://[::1]:9/upload", "chunked body", true),
		mk("DELETE", "http://example.com/x?", "", false, "X-Empty", ""),
		mk("OPTIONS", "http://example.com/opt", "", false, "Connection", "close"),
	}
	for _, req := range reqs {
		t.Run(req.Method+" "+req.URL.String(), func(t *testing.T) {
			var buf bytes.Buffer
			if err := req.Write(&buf); err != nil {
				t.Fatal(err)
			}
			raw := buf.Bytes()
			got, err := parseRequestBytes(raw)
			if err != nil {
				t.Fatalf("%v\n%s", err, raw)
			}
			want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
			if err != nil {
				t.Fatal(err)
			}
			checkAgainstNetHTTP(t, got, want)
			for k, vs := range want.Header {
				if g := got.Header.AppendValues(nil, k); strings.Join(g, "\x00") != strings.Join(vs, "\x00") {
					t.Errorf("%s = %q, want %q", k, g, vs)
				}
			}
		})
	}
}

// checkAgainstNetHTTP compares what both parsers made of one head.
func checkAgainstNetHTTP(t *testing.T, got *Request, want *http.Request) {
	t.Helper()
	if got.Method != want.Method || got.Target != want.RequestURI || got.Host != want.Host ||
		got.ProtoMinor != want.ProtoMinor || got.Close != want.Close {
		t.Fatalf("got %s %s host %q 1.%d close=%v, net/http %s %s host %q 1.%d close=%v",
			got.Method, got.Target, got.Host, got.ProtoMinor, got.Close,
			want.Method, want.RequestURI, want.Host, want.ProtoMinor, want.Close)
	}
	wantLength := want.ContentLength
	if len(want.TransferEncoding) > 0 {
		wantLength = -1
	}
	if got.ContentLength != wantLength {
		t.Fatalf("body length %d, net/http %d (%v)", got.ContentLength, wantLength, want.TransferEncoding)
	}
	if strings.HasPrefix(got.Target, "/") && want.URL.RawQuery != got.Query {
		t.Fatalf("query %q, net/http %q", got.Query, want.URL.RawQuery)
	}
}

// FuzzRequestHead checks the request parser: it never panics; a head it
// accepts and net/http's reader accepts too is understood alike (method,
// target, host and above all the body's framing, which a proxy and its
// upstream must agree on); and a parsed head written out again parses to
// the same request.
func FuzzRequestHead(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /a?b HTTP/1.0\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET http://h:1/p?q HTTP/1.1\r\nHost: other\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
		"GET / HTTP/1.1\nHost: x\nX: a\n\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: close, keep-alive\r\nExpect: 100-continue\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := parseRequestBytes(raw)
		if err != nil {
			return
		}
		if want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw))); err == nil {
			checkAgainstNetHTTP(t, got, want)
		}
		var out bytes.Buffer
		fmt.Fprintf(&out, "%s %s %s\r\n", got.Method, got.Target, got.Proto())
		for _, fl := range got.Header.Fields {
			fmt.Fprintf(&out, "%s: %s\r\n", fl.Name, fl.Value)
		}
		out.WriteString("\r\n")
		again, err := parseRequestBytes(out.Bytes())
		if err != nil {
			t.Fatalf("written out again, %q does not parse: %v", out.Bytes(), err)
		}
		if fmt.Sprint(again.Method, again.Target, again.Path, again.Query, again.HasQuery, again.ProtoMinor, again.Host,
			again.ContentLength, again.Close, again.Header.Fields) !=
			fmt.Sprint(got.Method, got.Target, got.Path, got.Query, got.HasQuery, got.ProtoMinor, got.Host,
				got.ContentLength, got.Close, got.Header.Fields) {
			t.Fatalf("round trip changed the request:\n%+v\n%+v", got, again)
		}
	})
}

// FuzzResponseHead checks the client's response parsing against net/http's
// reader: when both accept a head they agree on the status and on where
// the body ends.
func FuzzResponseHead(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil close",
		"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 999 Odd\r\nConnection: close\r\n\r\n",
	} {
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, raw []byte, head bool) {
		method := "GET"
		if head {
			method = "HEAD"
		}
		br := bufio.NewReaderSize(bytes.NewReader(raw), 4096)
		cc := &ClientConn{client: &Client{}, br: br}
		cc.res.Body = &cc.body
		res, err := cc.ReadResponse(method)
		if err != nil {
			return
		}
		body, bodyErr := io.ReadAll(res.Body)
		want, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(raw)), &http.Request{Method: method})
		if err != nil || res.Status == 101 || want.StatusCode < 200 {
			return
		}
		wantBody, wantErr := io.ReadAll(want.Body)
		if res.Status != want.StatusCode {
			t.Fatalf("status %d, net/http %d", res.Status, want.StatusCode)
		}
		if (bodyErr == nil) != (wantErr == nil) {
			// net/http does not look at a chunked body's trailer
			// section as closely; only compare bodies both read whole.
			return
		}
		if bodyErr == nil && !bytes.Equal(body, wantBody) {
			t.Fatalf("body %q, net/http %q", body, wantBody)
		}
	})
}

// FuzzChunkedBody decodes chunked bodies: what it reads whole net/http's
// chunked reader reads the same, and any data encoded by the writer
// decodes back to itself.
func FuzzChunkedBody(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), []byte("hello"))
	f.Add([]byte("3;ext=1\r\nabc\r\n0\r\nX-T: v\r\n\r\n"), []byte(""))
	f.Add([]byte("fffffffffffffff\r\n"), []byte("a somewhat longer payload"))
	f.Fuzz(func(t *testing.T, raw, data []byte) {
		var b Body
		b.reset(bufio.NewReaderSize(bytes.NewReader(raw), 64), bodyChunked, 0)
		got, err := io.ReadAll(&b)
		if err == nil {
			want, werr := io.ReadAll(httputil.NewChunkedReader(bytes.NewReader(raw)))
			if werr == nil && !bytes.Equal(got, want) {
				t.Fatalf("decoded %q, net/http %q", got, want)
			}
		}

		var enc bytes.Buffer
		w := bufio.NewWriter(&enc)
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+len(rest)/3)
			writeChunk(w, rest[:n])
			rest = rest[n:]
		}
		writeLastChunk(w, &Header{Fields: []Field{{"X-Len", fmt.Sprint(len(data))}}})
		w.Flush()
		var back Body
		back.reset(bufio.NewReaderSize(bytes.NewReader(enc.Bytes()), 64), bodyChunked, 0)
		decoded, err := io.ReadAll(&back)
		if err != nil || !bytes.Equal(decoded, data) || back.Trailer.Value("X-Len") != fmt.Sprint(len(data)) {
			t.Fatalf("round trip of %q: %q %v %v", data, decoded, back.Trailer, err)
		}
	})
}
