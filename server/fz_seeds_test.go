package server_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ws4go/ws4go/internal/fuzzinput"
)

// The seed corpus of FuzzServerConn is generated from the attacks below and
// committed under testdata/fuzz/FuzzServerConn as seed-<name>-<engine>.
// TestFzServerSeeds checks that the files match; WS4GO_FZ_WRITE_SEEDS=1
// rewrites them.

// fzFlags is the first input byte.
func fzFlags(netpoll bool, offer, hs, end byte) byte {
	b := offer<<1 | hs<<4 | end<<6
	if netpoll {
		b |= 1
	}
	return b
}

// fzFillerOp is a frame whose payload is kib KiB of c.
func fzFillerOp(b0 byte, kib int, c byte) []byte {
	return []byte{fuzzinput.OpFrame, b0, 0x80 | byte(kib-1), c}
}

func fzRawOp(p string) []byte {
	return append([]byte{fuzzinput.OpRaw | fuzzinput.WriteAfter, byte(len(p))}, p...)
}

func fzCat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// fzServerSeeds are the attacks of issue 10 and the protocol's corner cases,
// per engine.
func fzServerSeeds() map[string][]byte {
	// valid handshake, no variation, half-close at the end
	ws := func(rest ...[]byte) []byte { return fzCat(append([][]byte{{0, 0}}, rest...)...) }
	// with permessage-deflate offered
	pmd := func(rest ...[]byte) []byte { return fzCat(append([][]byte{{fzFlags(false, 1, 0, 0), 0}}, rest...)...) }
	raw := func(head string, rest ...[]byte) []byte {
		return fzCat(append([][]byte{{fzFlags(false, 0, 3, 0), byte(len(head))}, []byte(head)}, rest...)...)
	}
	vary := func(v byte, rest ...[]byte) []byte { return fzCat(append([][]byte{{0, v}}, rest...)...) }
	ok := "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	upgrade2 := "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	upgrade2b := "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	seeds := map[string][]byte{
		"echo":            ws(fuzzinput.FrameOp(0x81, "hello"), fuzzinput.FrameOp(0x82, "\x00\x01\x02"), fuzzinput.CloseOp(1000, "bye")),
		"fragments":       ws(fuzzinput.FrameOp(0x01, "frag"), fuzzinput.FrameOp(0x00, "men"), fuzzinput.FrameOp(0x80, "ted")),
		"interleaved":     ws(fuzzinput.FrameOp(0x01, "a"), fuzzinput.FrameOp(0x89, "p1"), fuzzinput.FrameOp(0x00, "b"), fuzzinput.FrameOp(0x8a, "unsolicited"), fuzzinput.FrameOp(0x89, "p2"), fuzzinput.FrameOp(0x80, "c"), fuzzinput.CloseOp(1000, "")),
		"length-overflow": ws(fuzzinput.FrameOp(0x02, "a"), []byte{fuzzinput.OpHeader | fuzzinput.WriteAfter, 0x80, 2, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte{fuzzinput.OpRaw | fuzzinput.WriteAfter, 0x80 | 95, 'x'}),
		"length-overflow-2": ws(fuzzinput.FrameOp(0x02, "a"), []byte{fuzzinput.OpHeader, 0x80, 2, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
			[]byte{fuzzinput.OpRaw, 0x80 | 127, 'x'}, []byte{fuzzinput.OpRaw, 0x80 | 127, 'x'}, []byte{fuzzinput.OpRaw | fuzzinput.WriteAfter, 0x80 | 127, 'x'}),
		"length-msb":                ws([]byte{fuzzinput.OpHeader | fuzzinput.WriteAfter, 0x82, 2, 0x80, 0, 0, 0, 0, 0, 0, 1}),
		"length-lie":                ws([]byte{fuzzinput.OpHeader | fuzzinput.WriteAfter, 0x82, 1, 0x03, 0xe8}, fzRawOp("only ten b")),
		"ping-flood":                ws([]byte{fuzzinput.OpFlood, 255, 125}, []byte{fuzzinput.OpFlood, 255, 0}, []byte{fuzzinput.OpFlood | fuzzinput.WriteAfter, 255, 1}),
		"ping-flood-read":           fzCat([]byte{fzFlags(false, 0, 0, 2), 0}, []byte{fuzzinput.OpFlood, 255, 0}, []byte{fuzzinput.OpFlood, 255, 0}, []byte{fuzzinput.OpFlood, 255, 0}),
		"pong-flood":                ws([]byte{fuzzinput.OpFlood | 0x10 | fuzzinput.WriteAfter, 255, 125}),
		"ping-too-big":              ws(fuzzinput.FrameOp(0x89, string(bytes.Repeat([]byte{'p'}, 126)))),
		"ping-fragmented":           ws(fuzzinput.FrameOp(0x09, "p")),
		"bomb":                      pmd([]byte{fuzzinput.OpDeflated | fuzzinput.WriteAfter, 0x82, 0xff, 0}),
		"bomb-fragments":            pmd([]byte{fuzzinput.OpDeflated | 0x20 | fuzzinput.WriteAfter, 0x81, 0x9f, 'a'}),
		"deflate-echo":              pmd([]byte{fuzzinput.OpDeflated | fuzzinput.WriteAfter, 0x81, 20}, []byte("hello hello hello!!!"), []byte{fuzzinput.OpDeflated | 0x20 | fuzzinput.WriteAfter, 0x82, 0x80, 7}, fuzzinput.CloseOp(1000, "")),
		"deflate-garbage":           pmd(fuzzinput.FrameOp(0xc2, "\xff\xfe\xfd garbage")),
		"deflate-rsv1-continuation": pmd([]byte{fuzzinput.OpDeflated | fuzzinput.WriteAfter, 0x01, 5}, []byte("hello"), fuzzinput.FrameOp(0xc0, "x")),
		"deflate-bad-utf8":          pmd([]byte{fuzzinput.OpDeflated | fuzzinput.WriteAfter, 0x81, 4}, []byte("\xce\xba\xff!")),
		"utf8-split-ok":             ws(fuzzinput.FrameOp(0x01, "\xce"), fuzzinput.FrameOp(0x80, "\xba")),
		"utf8-bad-frag":             ws(fuzzinput.FrameOp(0x01, "ok \xce"), fuzzinput.FrameOp(0x80, "\xff")),
		"utf8-truncated":            ws(fuzzinput.FrameOp(0x81, "\xe2\x82")),
		"close-1005":                ws(fuzzinput.CloseOp(1005, "")),
		"close-1015":                ws(fuzzinput.CloseOp(1015, "")),
		"close-3000":                ws(fuzzinput.CloseOp(3000, "app")),
		"close-4999":                ws(fuzzinput.CloseOp(4999, "")),
		"close-5000":                ws(fuzzinput.CloseOp(5000, "")),
		"close-1012":                ws(fuzzinput.CloseOp(1012, "restart")),
		"close-empty":               ws([]byte{fuzzinput.OpClose | 0x10 | fuzzinput.WriteAfter}),
		"close-1-byte":              ws([]byte{fuzzinput.OpClose | 0x20 | fuzzinput.WriteAfter, 3}),
		"close-bad-reason":          ws(fuzzinput.CloseOp(1000, "\xff\xfe")),
		"close-long":                ws(fuzzinput.FrameOp(0x88, "\x03\xe8"+string(bytes.Repeat([]byte{'r'}, 124)))),
		"data-after-close":          ws(fuzzinput.CloseOp(1000, ""), fuzzinput.FrameOp(0x81, "late")),
		"rsv-no-pmd":                ws(fuzzinput.FrameOp(0xc1, "rsv1")),
		"rsv2":                      ws(fuzzinput.FrameOp(0xa1, "rsv2")),
		"opcode-reserved":           ws(fuzzinput.FrameOp(0x83, ""), fuzzinput.FrameOp(0x8b, "")),
		"continuation-first":        ws(fuzzinput.FrameOp(0x80, "x")),
		"new-message-in-fragment":   ws(fuzzinput.FrameOp(0x01, "x"), fuzzinput.FrameOp(0x81, "y")),
		"unmasked":                  ws([]byte{fuzzinput.OpFrame | 0x30 | fuzzinput.WriteAfter, 0x81, 2, 'h', 'i'}),
		"max-message":               ws(fzFillerOp(0x82, 64, 'm'), []byte{fuzzinput.OpChop, 0}),
		"over-max":                  ws(fzFillerOp(0x02, 64, 'm'), fuzzinput.FrameOp(0x80, "!")),
		"write-queue":               ws(fzFillerOp(0x82, 60, 'q'), fzFillerOp(0x82, 60, 'q'), fzFillerOp(0x82, 60, 'q'), fzFillerOp(0x82, 60, 'q'), []byte{fuzzinput.OpChop, 0}),
		"partial-pinned":            fzCat([]byte{fzFlags(false, 0, 0, 2), 0}, fzFillerOp(0x02, 63, 'p')),
		"abrupt-mid-frame":          fzCat([]byte{fzFlags(false, 0, 0, 3), 0}, fzFillerOp(0x82, 32, 'a'), []byte{fuzzinput.OpChop, 100}),
		"chopped":                   ws([]byte{fuzzinput.OpChop, 150}, []byte{fuzzinput.OpChop, 100}, []byte{fuzzinput.OpChop, 60}, []byte{fuzzinput.OpChop, 9}, fuzzinput.FrameOp(0x81, "after a chopped head"), []byte{fuzzinput.OpChop, 3}),
		"origin-same":               vary(fzVOrigin, fuzzinput.FrameOp(0x81, "o")),
		"origin-evil":               vary(fzVEvilOrigin, fuzzinput.FrameOp(0x81, "o")),
		"protocol":                  vary(fzVProtocol|fzVWait, fuzzinput.FrameOp(0x81, "p")),
		"bad-version":               vary(fzVBadVersion),
		"bad-key":                   vary(fzVBadKey),
		"extra-nul":                 fzCat([]byte{0, fzVExtra, 3}, []byte("a\x00b"), fuzzinput.FrameOp(0x81, "x")),
		"wait":                      vary(fzVWait, fuzzinput.FrameOp(0x81, "after the 101")),
		"fallback":                  vary(fzVNoUpgrade, fzRawOp("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")),
		"fallback-upgrade":          vary(fzVNoUpgrade, fzRawOp(upgrade2), fzRawOp(upgrade2b), fuzzinput.FrameOp(0x81, "upgraded late"), fuzzinput.CloseOp(1000, "")),
		"raw-ok":                    raw(ok, fuzzinput.FrameOp(0x81, "raw"), fuzzinput.CloseOp(1001, "")),
		"raw-nul":                   raw("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
		"raw-bad-escape":            raw("GET /%zz HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
		"raw-partial":               raw("GET / HTTP/1.1\r\nHost: x\r\nUpg"),
		"raw-garbage":               raw("\x00\x01\x02\x03\r\n\r\n"),
		"raw-head-too-large":        raw("GET / HTTP/1.1\r\nX: ", []byte{fuzzinput.OpRaw | fuzzinput.WriteAfter, 0x80 | 8, 'a'}),
		"raw-bare-lf":               raw("GET / HTTP/1.1\nHost: x\nUpgrade: websocket\nConnection: Upgrade\n\n"),
		"offer-raw":                 fzCat([]byte{fzFlags(false, 7, 0, 0), 0, 30}, []byte("permessage-deflate; x=\"\x01\"; ;,"), fuzzinput.FrameOp(0x81, "x")),
		"offer-window-9":            fzCat([]byte{fzFlags(false, 3, 0, 0), 0}, []byte{fuzzinput.OpDeflated | fuzzinput.WriteAfter, 0x81, 0x83, 'w'}),
	}
	out := map[string][]byte{}
	for name, b := range seeds {
		out[name+"-goroutine"] = b
		nb := append([]byte(nil), b...)
		nb[0] |= 1
		out[name+"-netpoll"] = nb
	}
	return out
}

// fzCorpusFile is an input in the corpus file format of go test.
func fzCorpusFile(b []byte) []byte {
	return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b)
}

// fzCheckSeeds compares (or with WS4GO_FZ_WRITE_SEEDS=1 writes) a target's
// generated seed files.
func fzCheckSeeds(t *testing.T, target string, seeds map[string][]byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	write := os.Getenv("WS4GO_FZ_WRITE_SEEDS") == "1"
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range seeds {
		path := filepath.Join(dir, "seed-"+name)
		want := fzCorpusFile(b)
		if write {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is not the generated seed (WS4GO_FZ_WRITE_SEEDS=1 rewrites it): %v", path, err)
		}
	}
}

// TestFzServerSeeds: the committed seeds of FuzzServerConn are the attacks
// above.
func TestFzServerSeeds(t *testing.T) { fzCheckSeeds(t, "FuzzServerConn", fzServerSeeds()) }
