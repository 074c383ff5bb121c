package server_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
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

// fzFrameOp is a frame operation with an inline payload (< 128 bytes).
func fzFrameOp(b0 byte, p string) []byte {
	return append([]byte{fzOpFrame | fzWriteAfter, b0, byte(len(p))}, p...)
}

// fzFillerOp is a frame whose payload is kib KiB of c.
func fzFillerOp(b0 byte, kib int, c byte) []byte {
	return []byte{fzOpFrame, b0, 0x80 | byte(kib-1), c}
}

func fzCloseOp(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16([]byte{fzOpClose | fzWriteAfter}, code), append([]byte{byte(len(reason))}, reason...)...)
}

func fzRawOp(p string) []byte { return append([]byte{fzOpRaw | fzWriteAfter, byte(len(p))}, p...) }

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
		"echo":            ws(fzFrameOp(0x81, "hello"), fzFrameOp(0x82, "\x00\x01\x02"), fzCloseOp(1000, "bye")),
		"fragments":       ws(fzFrameOp(0x01, "frag"), fzFrameOp(0x00, "men"), fzFrameOp(0x80, "ted")),
		"interleaved":     ws(fzFrameOp(0x01, "a"), fzFrameOp(0x89, "p1"), fzFrameOp(0x00, "b"), fzFrameOp(0x8a, "unsolicited"), fzFrameOp(0x89, "p2"), fzFrameOp(0x80, "c"), fzCloseOp(1000, "")),
		"length-overflow": ws(fzFrameOp(0x02, "a"), []byte{fzOpHeader | fzWriteAfter, 0x80, 2, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, []byte{fzOpRaw | fzWriteAfter, 0x80 | 95, 'x'}),
		"length-overflow-2": ws(fzFrameOp(0x02, "a"), []byte{fzOpHeader, 0x80, 2, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
			[]byte{fzOpRaw, 0x80 | 127, 'x'}, []byte{fzOpRaw, 0x80 | 127, 'x'}, []byte{fzOpRaw | fzWriteAfter, 0x80 | 127, 'x'}),
		"length-msb":                ws([]byte{fzOpHeader | fzWriteAfter, 0x82, 2, 0x80, 0, 0, 0, 0, 0, 0, 1}),
		"length-lie":                ws([]byte{fzOpHeader | fzWriteAfter, 0x82, 1, 0x03, 0xe8}, fzRawOp("only ten b")),
		"ping-flood":                ws([]byte{fzOpFlood, 255, 125}, []byte{fzOpFlood, 255, 0}, []byte{fzOpFlood | fzWriteAfter, 255, 1}),
		"ping-flood-read":           fzCat([]byte{fzFlags(false, 0, 0, 2), 0}, []byte{fzOpFlood, 255, 0}, []byte{fzOpFlood, 255, 0}, []byte{fzOpFlood, 255, 0}),
		"pong-flood":                ws([]byte{fzOpFlood | 0x10 | fzWriteAfter, 255, 125}),
		"ping-too-big":              ws(fzFrameOp(0x89, string(bytes.Repeat([]byte{'p'}, 126)))),
		"ping-fragmented":           ws(fzFrameOp(0x09, "p")),
		"bomb":                      pmd([]byte{fzOpDeflated | fzWriteAfter, 0x82, 0xff, 0}),
		"bomb-fragments":            pmd([]byte{fzOpDeflated | 0x20 | fzWriteAfter, 0x81, 0x9f, 'a'}),
		"deflate-echo":              pmd([]byte{fzOpDeflated | fzWriteAfter, 0x81, 20}, []byte("hello hello hello!!!"), []byte{fzOpDeflated | 0x20 | fzWriteAfter, 0x82, 0x80, 7}, fzCloseOp(1000, "")),
		"deflate-garbage":           pmd(fzFrameOp(0xc2, "\xff\xfe\xfd garbage")),
		"deflate-rsv1-continuation": pmd([]byte{fzOpDeflated | fzWriteAfter, 0x01, 5}, []byte("hello"), fzFrameOp(0xc0, "x")),
		"deflate-bad-utf8":          pmd([]byte{fzOpDeflated | fzWriteAfter, 0x81, 4}, []byte("\xce\xba\xff!")),
		"utf8-split-ok":             ws(fzFrameOp(0x01, "\xce"), fzFrameOp(0x80, "\xba")),
		"utf8-bad-frag":             ws(fzFrameOp(0x01, "ok \xce"), fzFrameOp(0x80, "\xff")),
		"utf8-truncated":            ws(fzFrameOp(0x81, "\xe2\x82")),
		"close-1005":                ws(fzCloseOp(1005, "")),
		"close-1015":                ws(fzCloseOp(1015, "")),
		"close-3000":                ws(fzCloseOp(3000, "app")),
		"close-4999":                ws(fzCloseOp(4999, "")),
		"close-5000":                ws(fzCloseOp(5000, "")),
		"close-1012":                ws(fzCloseOp(1012, "restart")),
		"close-empty":               ws([]byte{fzOpClose | 0x10 | fzWriteAfter}),
		"close-1-byte":              ws([]byte{fzOpClose | 0x20 | fzWriteAfter, 3}),
		"close-bad-reason":          ws(fzCloseOp(1000, "\xff\xfe")),
		"close-long":                ws(fzFrameOp(0x88, "\x03\xe8"+string(bytes.Repeat([]byte{'r'}, 124)))),
		"data-after-close":          ws(fzCloseOp(1000, ""), fzFrameOp(0x81, "late")),
		"rsv-no-pmd":                ws(fzFrameOp(0xc1, "rsv1")),
		"rsv2":                      ws(fzFrameOp(0xa1, "rsv2")),
		"opcode-reserved":           ws(fzFrameOp(0x83, ""), fzFrameOp(0x8b, "")),
		"continuation-first":        ws(fzFrameOp(0x80, "x")),
		"new-message-in-fragment":   ws(fzFrameOp(0x01, "x"), fzFrameOp(0x81, "y")),
		"unmasked":                  ws([]byte{fzOpFrame | 0x30 | fzWriteAfter, 0x81, 2, 'h', 'i'}),
		"max-message":               ws(fzFillerOp(0x82, 64, 'm'), []byte{fzOpChop, 0}),
		"over-max":                  ws(fzFillerOp(0x02, 64, 'm'), fzFrameOp(0x80, "!")),
		"write-queue":               ws(fzFillerOp(0x82, 60, 'q'), fzFillerOp(0x82, 60, 'q'), fzFillerOp(0x82, 60, 'q'), fzFillerOp(0x82, 60, 'q'), []byte{fzOpChop, 0}),
		"partial-pinned":            fzCat([]byte{fzFlags(false, 0, 0, 2), 0}, fzFillerOp(0x02, 63, 'p')),
		"abrupt-mid-frame":          fzCat([]byte{fzFlags(false, 0, 0, 3), 0}, fzFillerOp(0x82, 32, 'a'), []byte{fzOpChop, 100}),
		"chopped":                   ws([]byte{fzOpChop, 150}, []byte{fzOpChop, 100}, []byte{fzOpChop, 60}, []byte{fzOpChop, 9}, fzFrameOp(0x81, "after a chopped head"), []byte{fzOpChop, 3}),
		"origin-same":               vary(fzVOrigin, fzFrameOp(0x81, "o")),
		"origin-evil":               vary(fzVEvilOrigin, fzFrameOp(0x81, "o")),
		"protocol":                  vary(fzVProtocol|fzVWait, fzFrameOp(0x81, "p")),
		"bad-version":               vary(fzVBadVersion),
		"bad-key":                   vary(fzVBadKey),
		"extra-nul":                 fzCat([]byte{0, fzVExtra, 3}, []byte("a\x00b"), fzFrameOp(0x81, "x")),
		"wait":                      vary(fzVWait, fzFrameOp(0x81, "after the 101")),
		"fallback":                  vary(fzVNoUpgrade, fzRawOp("GET /x HTTP/1.1\r\nHost: x\r\n\r\n")),
		"fallback-upgrade":          vary(fzVNoUpgrade, fzRawOp(upgrade2), fzRawOp(upgrade2b), fzFrameOp(0x81, "upgraded late"), fzCloseOp(1000, "")),
		"raw-ok":                    raw(ok, fzFrameOp(0x81, "raw"), fzCloseOp(1001, "")),
		"raw-nul":                   raw("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
		"raw-bad-escape":            raw("GET /%zz HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
		"raw-partial":               raw("GET / HTTP/1.1\r\nHost: x\r\nUpg"),
		"raw-garbage":               raw("\x00\x01\x02\x03\r\n\r\n"),
		"raw-head-too-large":        raw("GET / HTTP/1.1\r\nX: ", []byte{fzOpRaw | fzWriteAfter, 0x80 | 8, 'a'}),
		"raw-bare-lf":               raw("GET / HTTP/1.1\nHost: x\nUpgrade: websocket\nConnection: Upgrade\n\n"),
		"offer-raw":                 fzCat([]byte{fzFlags(false, 7, 0, 0), 0, 30}, []byte("permessage-deflate; x=\"\x01\"; ;,"), fzFrameOp(0x81, "x")),
		"offer-window-9":            fzCat([]byte{fzFlags(false, 3, 0, 0), 0}, []byte{fzOpDeflated | fzWriteAfter, 0x81, 0x83, 'w'}),
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
