package bench

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/gantry-gw/gantry/internal/declarative"
)

// declarativeConfig writes a decK file with n services, each with one
// route (name, host, path), nested as decK writes them, in YAML or JSON.
// The shape is the common one of a large gateway: many small services.
func declarativeConfig(n int, json bool) []byte {
	var b bytes.Buffer
	if json {
		b.WriteString(`{"_format_version": "3.0", "services": [`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "\n"+`{"name": "svc-%05d", "host": "svc-%05d.internal", "port": 8080, "routes": [`+
				`{"name": "route-%05d", "hosts": ["svc-%05d.example.com"], "paths": ["/svc-%05d"]}]}`, i, i, i, i, i)
		}
		b.WriteString("\n]}\n")
		return b.Bytes()
	}
	b.WriteString("_format_version: \"3.0\"\nservices:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: svc-%05d\n    host: svc-%05d.internal\n    port: 8080\n    routes:\n"+
			"      - name: route-%05d\n        hosts: [svc-%05d.example.com]\n        paths: [/svc-%05d]\n", i, i, i, i, i)
	}
	return b.Bytes()
}

// BenchmarkConfigHash10k hashes a parsed config of 10,000 services and
// 10,000 routes: the work a control plane does for every snapshot.
func BenchmarkConfigHash10k(b *testing.B) {
	c, err := declarative.Parse(declarativeConfig(10000, false))
	if err != nil {
		b.Fatal(err)
	}
	if got := c.Count(); got != 20000 {
		b.Fatalf("config has %d entities, want 20000", got)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Hash()
	}
}

// BenchmarkDeclarativeParse10k reads the same config from YAML and from
// JSON: what `gantry config validate` and a data plane starting from a
// declarative_config file do.
func BenchmarkDeclarativeParse10k(b *testing.B) {
	for _, tc := range []struct {
		name string
		json bool
	}{{"yaml", false}, {"json", true}} {
		data := declarativeConfig(10000, tc.json)
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				c, err := declarative.Parse(data)
				if err != nil {
					b.Fatal(err)
				}
				if c.Count() != 20000 {
					b.Fatalf("config has %d entities, want 20000", c.Count())
				}
			}
		})
	}
}
