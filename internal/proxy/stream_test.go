package proxy

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestStreamedResponsesReachTheClientAsTheyCome(t *testing.T) {
	const first, second = "data: one\n\n", "data: two\n\n"
	tests := []struct {
		name, contentType string
		bufferedRoute     bool
		contentLength     bool
	}{
		{"response_buffering off", "application/octet-stream", false, true},
		{"server-sent events", "text/event-stream", true, false},
	}
	for _, tc := range tests {
		for which, server := range []string{"engine", "net/http"} {
			t.Run(tc.name+"/"+server, func(t *testing.T) {
				release := make(chan struct{})
				up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", tc.contentType)
					if tc.contentLength {
						w.Header().Set("Content-Length", strconv.Itoa(len(first+second)))
					}
					io.WriteString(w, first)
					http.NewResponseController(w).Flush()
					select {
					case <-release:
					case <-r.Context().Done():
						return
					}
					io.WriteString(w, second)
				}))
				t.Cleanup(up.Close)
				g := startGateway(t, Options{})
				g.apply(t, fmt.Sprintf(`services:
  - url: %s
    routes:
      - paths: [/]
        response_buffering: %v
`, up.URL, tc.bufferedRoute))
				l := g.plainListeners()[which]
				// A proxy that holds the first event back fails the read below
				// when this deadline passes.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				req, err := http.NewRequestWithContext(ctx, "GET", l.url+"/events", nil)
				if err != nil {
					t.Fatal(err)
				}
				res, err := newClient(t).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				br := bufio.NewReader(res.Body)
				got := make([]byte, len(first))
				// The upstream is still waiting: only a proxy that passes the
				// first event on at once lets this read finish.
				if _, err := io.ReadFull(br, got); err != nil || string(got) != first {
					t.Fatalf("first event %q: %v", got, err)
				}
				close(release)
				rest, err := io.ReadAll(br)
				if err != nil || string(rest) != second {
					t.Fatalf("rest %q: %v", rest, err)
				}
			})
		}
	}
}

// pattern is a deterministic stream of bytes that calls sample every
// sampleEvery bytes, so a test can watch memory while a body flows.
type pattern struct {
	n, size     int64
	sampleEvery int64
	sample      func()
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.n >= p.size {
		return 0, io.EOF
	}
	if rem := p.size - p.n; int64(len(b)) > rem {
		b = b[:rem]
	}
	for i := range b {
		b[i] = byte((p.n + int64(i)) % 251)
	}
	before := p.n
	p.n += int64(len(b))
	if p.sample != nil && before/p.sampleEvery != p.n/p.sampleEvery {
		p.sample()
	}
	return len(b), nil
}

// heapWatch records the highest HeapInuse seen.
type heapWatch struct {
	mu   sync.Mutex
	base uint64
	peak uint64
}

func newHeapWatch() *heapWatch {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return &heapWatch{base: m.HeapInuse, peak: m.HeapInuse}
}

func (h *heapWatch) sample() {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	h.mu.Lock()
	h.peak = max(h.peak, m.HeapInuse)
	h.mu.Unlock()
}

func (h *heapWatch) growth() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.peak - h.base
}

func sumOf(t *testing.T, size int64) string {
	t.Helper()
	hs := sha256.New()
	if _, err := io.Copy(hs, &pattern{size: size, sampleEvery: size}); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(hs.Sum(nil))
}

func TestLargeBodiesStreamBothWays(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 128 MiB through the proxy")
	}
	const size = 64 << 20
	const limit = 24 << 20 // well below the body size
	want := sumOf(t, size)
	var watch atomic.Pointer[heapWatch]
	sample := func() { watch.Load().sample() }
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			hs := sha256.New()
			n, err := io.Copy(hs, r.Body)
			json.NewEncoder(w).Encode(map[string]any{"n": n, "sum": hex.EncodeToString(hs.Sum(nil)), "err": fmt.Sprint(err)})
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		io.Copy(w, &pattern{size: size, sampleEvery: 4 << 20, sample: sample})
	}))
	t.Cleanup(up.Close)
	g := startGateway(t, Options{})
	g.apply(t, fmt.Sprintf("services:\n  - url: %s\n    routes:\n      - paths: [/]\n", up.URL))
	c := newClient(t)

	t.Run("upload", func(t *testing.T) {
		watch.Store(newHeapWatch())
		req, err := http.NewRequest("POST", g.url+"/up", &pattern{size: size, sampleEvery: 4 << 20, sample: sample})
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = size
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var got struct {
			N   int64
			Sum string
			Err string
		}
		if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		if got.N != size || got.Sum != want {
			t.Fatalf("upstream received %d bytes (%s, %s), want %d (%s)", got.N, got.Sum, got.Err, size, want)
		}
		if g := watch.Load().growth(); g > limit {
			t.Fatalf("heap grew by %d MiB while a %d MiB body went up", g>>20, size>>20)
		}
	})
	t.Run("download", func(t *testing.T) {
		watch.Store(newHeapWatch())
		res, err := c.Get(g.url + "/down")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		hs := sha256.New()
		n, err := io.Copy(hs, &samplingReader{r: res.Body, sample: sample})
		if err != nil || n != size || hex.EncodeToString(hs.Sum(nil)) != want {
			t.Fatalf("client received %d bytes: %v", n, err)
		}
		if g := watch.Load().growth(); g > limit {
			t.Fatalf("heap grew by %d MiB while a %d MiB body came down", g>>20, size>>20)
		}
	})
}

// samplingReader calls sample every 4 MiB read.
type samplingReader struct {
	r      io.Reader
	n      int64
	sample func()
}

func (s *samplingReader) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	before := s.n
	s.n += int64(n)
	if before>>22 != s.n>>22 {
		s.sample()
	}
	return n, err
}
