package connstate

import (
	"maps"
	"net"
	"net/http"
	"testing"
)

func TestServerStatus(t *testing.T) {
	var c Counter
	a, b := &net.TCPConn{}, &net.UDPConn{} // distinct keys; never used as connections
	c.Track(a, http.StateNew)
	c.Track(b, http.StateNew)
	c.Track(a, http.StateActive)
	c.Track(b, http.StateIdle)
	got := c.Counts().ServerStatus(7)
	want := map[string]any{
		"connections_accepted": uint64(2),
		"connections_handled":  uint64(2),
		"connections_active":   2,
		"connections_reading":  0,
		"connections_writing":  1,
		"connections_waiting":  1,
		"total_requests":       uint64(7),
	}
	if !maps.Equal(got, want) {
		t.Fatalf("ServerStatus = %v, want %v", got, want)
	}
}
