package leakcheck

import (
	"strings"
	"testing"
	"time"
)

// parked blocks until release is closed: a goroutine with a name to find.
func parked(release chan struct{}, started chan<- struct{}) {
	close(started)
	<-release
}

func TestCheck(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		parked(release, started)
	}()
	<-started

	tests := []struct {
		name     string
		suspects []string
		leak     bool
	}{
		{"running goroutine", []string{"leakcheck.parked"}, true},
		{"nothing of the suspects", []string{"gantry/internal/nothing"}, false},
		// The calling goroutine, running check, is not a leak.
		{"the caller", []string{"leakcheck.check"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := check(50*time.Millisecond, tt.suspects)
			if !tt.leak {
				if err != nil {
					t.Fatalf("check: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "1 goroutines leaked") || !strings.Contains(err.Error(), "leakcheck.parked") {
				t.Fatalf("check = %v, want the parked goroutine reported", err)
			}
		})
	}

	// A goroutine that ends while check waits is not a leak.
	time.AfterFunc(50*time.Millisecond, func() { close(release) })
	if err := check(10*time.Second, []string{"leakcheck.parked"}); err != nil {
		t.Fatalf("check after release: %v", err)
	}
	<-done
}
