package store

import "time"

// SetClock replaces the clock s stamps created_at and updated_at with, so
// that a test can move time forward and see which timestamps follow it
// without waiting for the wall clock. Call it before the first Update.
func SetClock(s *Store, now func() time.Time) { s.now = now }
