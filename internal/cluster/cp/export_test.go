package cp

import "time"

// SetHelloTimeout shortens the wait for a Hello, so a test of a silent
// data plane need not wait cluster.HandshakeTimeout.
func SetHelloTimeout(s *Server, d time.Duration) { s.helloTimeout.Store(int64(d)) }
