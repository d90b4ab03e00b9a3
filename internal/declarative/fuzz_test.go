package declarative

import (
	"errors"
	"testing"
)

// FuzzParse feeds Parse arbitrary input. It must never panic; errors must
// render; and whatever it accepts must encode, in every format and
// layout, to a file that reads back to the same hash.
func FuzzParse(f *testing.F) {
	for _, name := range append(fixtureNames, "golden/input.yaml") {
		f.Add(fixture(f, name))
	}
	for _, seed := range []string{
		badFile,
		"",
		`{"_format_version": "3.0", "services": [{"name": "a", "host": "h", "routes": [{"paths": ["/"]}]}]}`,
		"_format_version: \"3.0\"\n_info: {defaults: {route: {strip_path: false}}, select_tags: [x]}\nroutes: [{paths: [/]}]\n",
		"_format_version: \"3.0\"\nbase: &b {host: h}\nservices: [{<<: *b, name: a}]\n",
		"_format_version: \"3.0\"\nplugins: [{name: cors, config: {\"<<\": 1, \"true\": \"3.0\", x: \"line\\nbreak \"}}]\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err != nil {
			var errs Errors
			if errors.As(err, &errs) {
				_ = errs.Error()
				_ = errs.Fields()
				_ = errs.Flattened()
			} else {
				_ = err.Error()
			}
			return
		}
		want := c.Hash()
		for _, enc := range encodings {
			out, err := c.Encode(enc.format, enc.layout)
			if err != nil {
				t.Fatalf("%s: encode: %v", enc.name, err)
			}
			back, err := Parse(out)
			if err != nil {
				t.Fatalf("%s: reading back: %v\n%s", enc.name, err, out)
			}
			if got := back.Hash(); got.Config != want.Config {
				t.Fatalf("%s: hash %s after round trip, want %s\n%s", enc.name, got.Config, want.Config, out)
			}
		}
	})
}
