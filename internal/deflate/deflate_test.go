package deflate

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"
)

func TestNegotiate(t *testing.T) {
	for offer, want := range map[string]string{
		"permessage-deflate":                                                         Response,
		"permessage-deflate; client_max_window_bits":                                 Response,
		"permessage-deflate; client_max_window_bits=10":                              Response,
		"permessage-deflate; server_max_window_bits=15":                              Response,
		"permessage-deflate; server_no_context_takeover":                             Response,
		"permessage-deflate; client_no_context_takeover":                             Response,
		"permessage-deflate; server_max_window_bits=10":                              "",
		"permessage-deflate; server_max_window_bits=10, permessage-deflate":          Response,
		"permessage-deflate; server_max_window_bits":                                 "",
		"permessage-deflate; client_max_window_bits=16":                              "",
		"permessage-deflate; foo=1":                                                  "",
		"permessage-deflate; server_no_context_takeover=1":                           "",
		"permessage-deflate; server_no_context_takeover; server_no_context_takeover": "",
		"x-webkit-deflate-frame":                                                     "",
		"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits":         Response,
	} {
		got, err := Negotiate(offer)
		if err != nil || got != want {
			t.Errorf("Negotiate(%q) = %q, %v; want %q", offer, got, err, want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	random := make([]byte, 100000)
	_, _ = rand.Read(random)
	for _, p := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte("abc"), 100000), random} {
		z := Deflate(nil, p)
		if bytes.HasSuffix(z, tail) {
			t.Errorf("compressed message keeps its tail")
		}
		got, err := Inflate(nil, z, 0)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("round trip of %d bytes: %d bytes, %v", len(p), len(got), err)
		}
	}
}

func TestInflateLimit(t *testing.T) {
	bomb := Deflate(nil, make([]byte, 10<<20)) // 10 MiB of zeros, ~10 KB compressed
	if _, err := Inflate(nil, bomb, 1<<20); !errors.Is(err, ErrTooBig) {
		t.Fatalf("bomb: %v, want ErrTooBig", err)
	}
	if _, err := Inflate(nil, []byte{0xff, 0xff, 0xff}, 0); err == nil {
		t.Fatal("corrupt input inflated without error")
	}
	z := Deflate(nil, bytes.Repeat([]byte("truncate me "), 1000))
	if _, err := Inflate(nil, z[:len(z)/2], 0); err == nil {
		t.Fatal("truncated input inflated without error")
	}
}
