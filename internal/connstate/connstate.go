// Package connstate counts a server's connections by state, for the status
// endpoints that report nginx's connection figures (accepted, active,
// reading, writing, waiting) as Kong does.
package connstate

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// Counter follows the connections of one or more http.Servers through
// their ConnState hook. The zero value is ready to use.
type Counter struct {
	accepted atomic.Uint64
	mu       sync.Mutex
	state    map[net.Conn]http.ConnState
}

// Track records a connection's new state; pass it as http.Server.ConnState.
func (c *Counter) Track(conn net.Conn, state http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == nil {
		c.state = map[net.Conn]http.ConnState{}
	}
	switch state {
	case http.StateNew:
		c.accepted.Add(1)
		c.state[conn] = state
	case http.StateHijacked, http.StateClosed:
		delete(c.state, conn)
	default:
		c.state[conn] = state
	}
}

// Counts are a snapshot of the connection figures.
type Counts struct {
	Accepted uint64 // connections accepted since start
	Active   int    // open now
	Waiting  int    // open and idle between requests
	Writing  int    // open and serving a request
}

// Counts returns the current figures.
func (c *Counter) Counts() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := Counts{Accepted: c.accepted.Load(), Active: len(c.state)}
	for _, st := range c.state {
		if st == http.StateIdle {
			out.Waiting++
		}
	}
	out.Writing = out.Active - out.Waiting
	return out
}

// ServerStatus returns the "server" object of Kong's GET /status: the
// figures under nginx's names, and totalRequests, the requests received.
// No connection counts as reading: one serving a request is writing.
func (c Counts) ServerStatus(totalRequests uint64) map[string]any {
	return map[string]any{
		"connections_accepted": c.Accepted,
		"connections_handled":  c.Accepted,
		"connections_active":   c.Active,
		"connections_reading":  0,
		"connections_writing":  c.Writing,
		"connections_waiting":  c.Waiting,
		"total_requests":       totalRequests,
	}
}
