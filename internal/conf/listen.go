package conf

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// listenForm is the allowed form of a listen setting, shown in errors.
const listenForm = `expected "[host]:port [ssl] [http2]..." or "off"`

// ignoredListenFlags are nginx listen flags that kong.conf files commonly
// carry (Kong's own defaults use reuseport and backlog). Gantry accepts them
// so those files load, and ignores them.
var ignoredListenFlags = map[string]bool{
	"reuseport":      true,
	"deferred":       true,
	"bind":           true,
	"proxy_protocol": true,
}

// parseListeners reads Kong's listen syntax: "off", or a comma-separated list
// of "host:port" each followed by flags. It returns nil for "off".
func parseListeners(s string) ([]Listener, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "off") {
		return nil, nil
	}
	if s == "" {
		return nil, errors.New(listenForm)
	}
	var out []Listener
	for _, entry := range strings.Split(s, ",") {
		l, err := parseListener(entry)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func parseListener(entry string) (Listener, error) {
	fields := strings.Fields(entry)
	if len(fields) == 0 {
		return Listener{}, errors.New("empty entry in list; " + listenForm)
	}
	addr, err := listenAddr(fields[0])
	if err != nil {
		return Listener{}, err
	}
	l := Listener{Addr: addr}
	for _, flag := range fields[1:] {
		name, arg, hasArg := strings.Cut(flag, "=")
		switch {
		case flag == "ssl":
			l.SSL = true
		case flag == "http2":
			l.HTTP2 = true
		case ignoredListenFlags[flag]:
		case name == "backlog" && hasArg && isDigits(arg, 9) && arg != strings.Repeat("0", len(arg)):
		case name == "ipv6only" && (arg == "on" || arg == "off"):
		case name == "so_keepalive" && hasArg && validKeepalive(arg):
		default:
			return Listener{}, fmt.Errorf("unknown flag %q (allowed: ssl, http2, reuseport, backlog=N, deferred, bind, "+
				"ipv6only=on|off, so_keepalive=on|off|[idle]:[interval]:[count], proxy_protocol)", flag)
		}
	}
	return l, nil
}

// listenAddr checks "host:port" and returns it ready for net.Listen. The host
// may be an IPv4 address, a bracketed IPv6 address, a host name, "*" (every
// IPv4 interface, as in nginx) or empty (every interface). Port 0 lets the
// operating system choose, which tests use.
func listenAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil || (host != "*" && host != "" && !validHost(host, s[0] == '[')) {
		return "", errors.New(listenForm)
	}
	n, ok := parsePort(port, 0)
	if !ok {
		return "", fmt.Errorf("port %q is not a number from 0 to 65535; %s", port, listenForm)
	}
	if host == "*" {
		host = "0.0.0.0"
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// validHost accepts an IP address or a host name; an IPv6 address must be,
// and only it may be, written in brackets.
func validHost(host string, bracketed bool) bool {
	if addr, err := netip.ParseAddr(host); err == nil {
		return addr.Is6() == bracketed
	}
	return !bracketed && validHostname(host)
}

// validHostname accepts DNS names made of letters, digits, "-" and "_" (the
// latter for names such as kong_clustering), with labels of 1 to 63
// characters and a last label that is not all digits, so that a mistyped
// IPv4 address such as 10.0.0.256 is refused.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlnum(c) && c != '-' && c != '_' {
				return false
			}
		}
	}
	return !isDigits(labels[len(labels)-1], 63)
}

// parsePort reads a decimal port from min to 65535.
func parsePort(s string, min int) (int, bool) {
	if !isDigits(s, 5) {
		return 0, false
	}
	n, _ := strconv.Atoi(s)
	return n, n >= min && n <= 65535
}

// isDigits tells whether s is 1 to max ASCII digits.
func isDigits(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validKeepalive accepts nginx's so_keepalive argument: on, off, or
// idle:interval:count where each part may be empty, idle and interval may
// carry a time unit, and count is digits.
func validKeepalive(s string) bool {
	if s == "on" || s == "off" {
		return true
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return false
	}
	for i, p := range parts {
		if p == "" {
			continue
		}
		if i == 2 {
			if !isDigits(p, 9) {
				return false
			}
			continue
		}
		num := strings.TrimRight(p, "smhd")
		if len(p)-len(num) > 1 || !isDigits(num, 9) {
			return false
		}
	}
	return true
}

// renderListeners shows listeners as Kong shows them in the Admin API: a
// list of strings, or ["off"] when there are none.
func renderListeners(ls []Listener) any {
	if len(ls) == 0 {
		return []string{"off"}
	}
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.String()
	}
	return out
}
