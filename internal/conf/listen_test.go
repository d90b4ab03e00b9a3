package conf

import (
	"reflect"
	"testing"
)

func TestParseListeners(t *testing.T) {
	const form = `expected "[host]:port [ssl] [http2]..." or "off"`
	tests := []struct {
		in   string
		want []Listener
		err  string
	}{
		{in: "off", want: nil},
		{in: " OFF ", want: nil},
		{in: "127.0.0.1:8001", want: []Listener{{Addr: "127.0.0.1:8001"}}},
		{in: "0.0.0.0:8000, 0.0.0.0:8443 ssl", want: []Listener{{Addr: "0.0.0.0:8000"}, {Addr: "0.0.0.0:8443", SSL: true}}},
		{in: "0.0.0.0:8443 http2 ssl", want: []Listener{{Addr: "0.0.0.0:8443", SSL: true, HTTP2: true}}},
		{in: "127.0.0.1:8001 reuseport backlog=16384, 127.0.0.1:8444 http2 ssl reuseport backlog=16384",
			want: []Listener{{Addr: "127.0.0.1:8001"}, {Addr: "127.0.0.1:8444", SSL: true, HTTP2: true}}},
		{in: "0.0.0.0:8000 deferred bind ipv6only=off so_keepalive=on proxy_protocol", want: []Listener{{Addr: "0.0.0.0:8000"}}},
		{in: "0.0.0.0:8000 so_keepalive=30m::10", want: []Listener{{Addr: "0.0.0.0:8000"}}},
		{in: "0.0.0.0:8000 so_keepalive=::", want: []Listener{{Addr: "0.0.0.0:8000"}}},
		{in: "[::1]:8001", want: []Listener{{Addr: "[::1]:8001"}}},
		{in: "[::]:8000 ipv6only=on", want: []Listener{{Addr: "[::]:8000"}}},
		{in: "[fe80::1%eth0]:8000", want: []Listener{{Addr: "[fe80::1%eth0]:8000"}}},
		{in: "*:8000", want: []Listener{{Addr: "0.0.0.0:8000"}}},
		{in: ":8000", want: []Listener{{Addr: ":8000"}}},
		{in: "localhost:8001", want: []Listener{{Addr: "localhost:8001"}}},
		{in: "gw-1.example.com:8001", want: []Listener{{Addr: "gw-1.example.com:8001"}}},
		{in: "127.0.0.1:08001", want: []Listener{{Addr: "127.0.0.1:8001"}}},
		{in: "127.0.0.1:0", want: []Listener{{Addr: "127.0.0.1:0"}}},
		{in: "127.0.0.1:65535", want: []Listener{{Addr: "127.0.0.1:65535"}}},

		{in: "abc", err: form},
		{in: "", err: form},
		{in: "8000", err: form},
		{in: "off, 127.0.0.1:8001", err: form},
		{in: "127.0.0.1:8001,", err: "empty entry in list; " + form},
		{in: "127.0.0.1:65536", err: `port "65536" is not a number from 0 to 65535; ` + form},
		{in: "127.0.0.1:-1", err: `port "-1" is not a number from 0 to 65535; ` + form},
		{in: "127.0.0.1:http", err: `port "http" is not a number from 0 to 65535; ` + form},
		{in: "127.0.0.1:", err: `port "" is not a number from 0 to 65535; ` + form},
		{in: "::1:8001", err: form},
		{in: "[127.0.0.1]:8001", err: form},
		{in: "[localhost]:8001", err: form},
		{in: "10.0.0.256:8001", err: form},
		{in: "bad_host!:8001", err: form},
		{in: "-gw:8001", err: form},
		{in: "127.0.0.1:8001 SSL", err: `unknown flag "SSL" (allowed: ssl, http2, reuseport, backlog=N, deferred, bind, ipv6only=on|off, so_keepalive=on|off|[idle]:[interval]:[count], proxy_protocol)`},
		{in: "127.0.0.1:8001 backlog", err: `unknown flag "backlog" (allowed: ssl, http2, reuseport, backlog=N, deferred, bind, ipv6only=on|off, so_keepalive=on|off|[idle]:[interval]:[count], proxy_protocol)`},
		{in: "127.0.0.1:8001 backlog=0", err: `unknown flag "backlog=0" (allowed: ssl, http2, reuseport, backlog=N, deferred, bind, ipv6only=on|off, so_keepalive=on|off|[idle]:[interval]:[count], proxy_protocol)`},
		{in: "127.0.0.1:8001 backlog=-5", err: `unknown flag "backlog=-5" (allowed: ssl, http2, reuseport, backlog=N, deferred, bind, ipv6only=on|off, so_keepalive=on|off|[idle]:[interval]:[count], proxy_protocol)`},
		{in: "127.0.0.1:8001 ipv6only=yes", err: `unknown flag "ipv6only=yes" (allowed: ssl, http2, reuseport, backlog=N, deferred, bind, ipv6only=on|off, so_keepalive=on|off|[idle]:[interval]:[count], proxy_protocol)`},
		{in: "127.0.0.1:8001 so_keepalive=1:2", err: `unknown flag "so_keepalive=1:2" (allowed: ssl, http2, reuseport, backlog=N, deferred, bind, ipv6only=on|off, so_keepalive=on|off|[idle]:[interval]:[count], proxy_protocol)`},
		{in: "127.0.0.1:8001 so_keepalive=1:2:3s", err: `unknown flag "so_keepalive=1:2:3s" (allowed: ssl, http2, reuseport, backlog=N, deferred, bind, ipv6only=on|off, so_keepalive=on|off|[idle]:[interval]:[count], proxy_protocol)`},
		{in: "127.0.0.1:8001 ssl, 127.0.0.1:8002 quic", err: `unknown flag "quic" (allowed: ssl, http2, reuseport, backlog=N, deferred, bind, ipv6only=on|off, so_keepalive=on|off|[idle]:[interval]:[count], proxy_protocol)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseListeners(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Errorf("error = %v\nwant %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestListenerString(t *testing.T) {
	for l, want := range map[Listener]string{
		{Addr: "127.0.0.1:8001"}:                     "127.0.0.1:8001",
		{Addr: "0.0.0.0:8443", SSL: true}:            "0.0.0.0:8443 ssl",
		{Addr: "[::1]:8443", SSL: true, HTTP2: true}: "[::1]:8443 ssl http2",
		{Addr: "0.0.0.0:8000", HTTP2: true}:          "0.0.0.0:8000 http2",
	} {
		if got := l.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", l, got, want)
		}
		back, err := parseListeners(l.String())
		if err != nil || len(back) != 1 || back[0] != l {
			t.Errorf("parseListeners(%q) = %+v, %v; want it back", l.String(), back, err)
		}
	}
}
