package http1

import (
	"net"
	"time"
)

// Setting a connection deadline takes a lock and moves a runtime timer.
// A proxy moves deadlines for every read and write, so they are moved
// only when they drifted: a deadline already within maxSlack (or 1/32 of
// the timeout, if less) of the one wanted stays. A timeout then fires
// between timeout−slack and timeout after the last progress, as coarse as
// nginx's timers and far cheaper than exact ones.
const maxSlack = int64(250 * time.Millisecond)

// deadline is one direction's deadline of a connection, as last set.
type deadline struct {
	at int64 // Unix nanoseconds; 0 when none is set
}

// wants reports whether the deadline must move for now+timeout, and to
// when.
func (d *deadline) wants(now int64, timeout time.Duration) (int64, bool) {
	want := now + int64(timeout)
	slack := min(int64(timeout)/32, maxSlack)
	if d.at != 0 && d.at <= want && d.at >= want-slack {
		return 0, false
	}
	return want, true
}

// extendRead moves c's read deadline to about now+timeout.
func (d *deadline) extendRead(c net.Conn, now int64, timeout time.Duration) error {
	want, ok := d.wants(now, timeout)
	if !ok {
		return nil
	}
	d.at = want
	return c.SetReadDeadline(time.Unix(0, want))
}

// extendWrite moves c's write deadline to about now+timeout.
func (d *deadline) extendWrite(c net.Conn, now int64, timeout time.Duration) error {
	want, ok := d.wants(now, timeout)
	if !ok {
		return nil
	}
	d.at = want
	return c.SetWriteDeadline(time.Unix(0, want))
}

// setRead sets c's read deadline to exactly at (zero: none).
func (d *deadline) setRead(c net.Conn, at time.Time) error {
	d.at = 0
	if !at.IsZero() {
		d.at = at.UnixNano()
	}
	return c.SetReadDeadline(at)
}

// setWrite sets c's write deadline to exactly at (zero: none).
func (d *deadline) setWrite(c net.Conn, at time.Time) error {
	d.at = 0
	if !at.IsZero() {
		d.at = at.UnixNano()
	}
	return c.SetWriteDeadline(at)
}

// now is the clock deadlines are computed from.
func now() int64 { return time.Now().UnixNano() }
