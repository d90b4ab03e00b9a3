package cluster

import (
	"bytes"
	"compress/gzip"
	"testing"
)

// The decoders face the network: whatever a peer sends, they return a
// checked message or an error, and never panic.

func FuzzDecodeHello(f *testing.F) {
	f.Add([]byte(`{"type":"hello","protocol_version":1,"node_id":"n","hostname":"h","version":"0.1.0","plugins":[],"config_hash":"00000000000000000000000000000000","config_version":0}`))
	f.Add([]byte(`{"type":"hello","protocol_version":2}`))
	f.Add([]byte(`{"type":"applied"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"plugins":[{"name":""}]} trailing`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, err := DecodeHello(frame)
		if err == nil {
			if h.Validate() != nil || !ValidHash(h.ConfigHash) || h.ProtocolVersion != ProtocolVersion {
				t.Fatalf("DecodeHello accepted an invalid hello: %+v", h)
			}
		}
	})
}

func FuzzDecodeDataPlaneMessage(f *testing.F) {
	f.Add([]byte(`{"type":"applied","config_version":3,"config_hash":"0123456789abcdef0123456789abcdef"}`))
	f.Add([]byte(`{"type":"rejected","config_version":3,"config_hash":"x","message":"m","errors":[{"message":"e"}]}`))
	f.Add([]byte(`{"type":"hello"}`))
	f.Add([]byte(`{"type":"nope"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := DecodeDataPlaneMessage(frame)
		if err != nil {
			return
		}
		switch v := m.(type) {
		case *Applied:
			if !ValidHash(v.ConfigHash) {
				t.Fatalf("applied with hash %q accepted", v.ConfigHash)
			}
		case *Rejected:
			if len(v.Errors) > MaxRejectedErrors {
				t.Fatalf("%d errors kept", len(v.Errors))
			}
		default:
			t.Fatalf("unexpected message %T", m)
		}
	})
}

func FuzzDecodeReconfigure(f *testing.F) {
	good, err := EncodeReconfigure(&Reconfigure{ConfigVersion: 1, ConfigHash: EmptyHash, ConfigTable: []byte(`{"_format_version":"3.0"}`)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("not gzip"))
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(bytes.Repeat([]byte{'a'}, 4096))
	zw.Close()
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, frame []byte) {
		r, err := DecodeReconfigure(frame, 1<<16)
		if err != nil {
			return
		}
		if r.Type != TypeReconfigure || !ValidHash(r.ConfigHash) || r.ConfigVersion < 0 || len(r.ConfigTable) == 0 || r.ConfigTable[0] != '{' {
			t.Fatalf("DecodeReconfigure accepted %+v", r)
		}
	})
}
