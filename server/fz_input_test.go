package server_test

import (
	"strings"

	"github.com/ws4go/ws4go/internal/fuzzinput"
)

// The fuzz input of FuzzServerConn is a small program that builds what a
// client sends: a handshake (valid with variations, or raw bytes), then a
// byte stream made of operations (frames, lying headers, garbage, floods,
// close frames) with the points at which it is chopped into writes. The
// mutator flips bits of it; most of the time the result is still mostly
// well-formed WebSocket traffic, which gets the fuzzer past the handshake
// and the header checks into the connection's state machine.
//
// Layout: flags, variation, [extra header], [raw offer], then operations.
//
//	flags bit 0      engine: 0 goroutine, 1 netpoll
//	flags bits 1-3   Sec-WebSocket-Extensions offer (fzOffers; 7: raw bytes)
//	flags bits 4-5   handshake: 0-2 valid with variations, 3 raw bytes
//	flags bits 6-7   end: 0-1 half-close, 2 read briefly then close, 3 close at once
//
// An operation is one byte: kind (bits 0-2), write-after (bit 3) and two
// flag bits (4-5) whose meaning depends on the kind; see fzDecode and package fuzzinput.

// Handshake variations (the byte after flags, for valid handshakes).
const (
	fzVOrigin     = 1 << iota // Origin of the same host: allowed
	fzVEvilOrigin             // a cross-site Origin: 403
	fzVProtocol               // offer subprotocols
	fzVExtra                  // an extra header line with a fuzz value
	fzVNoUpgrade              // no Upgrade header: plain HTTP, to the fallback handler
	fzVBadVersion             // version 8: 426
	fzVBadKey                 // a malformed key: 400
	fzVWait                   // wait for the response head before sending frames
)

// fzOffers are the extension offers flags bits 1-3 choose (index 7 reads
// the offer from the input).
var fzOffers = [...]string{
	"",
	"permessage-deflate",
	"permessage-deflate; client_max_window_bits",
	"permessage-deflate; server_max_window_bits=9; client_no_context_takeover",
	"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
	"x-webkit-deflate-frame, permessage-deflate; bogus",
	"permessage-deflate; server_max_window_bits=7",
}

// fzCase is a decoded input.
type fzCase struct {
	netpoll bool
	raw     bool   // the handshake is raw fuzz bytes
	vary    byte   // handshake variations (valid handshakes)
	offer   string // extension offer ("" none)
	end     int    // 0: half-close, 1: read briefly then close, 2: close at once
	// writes are the chunks written, in order; the first holds the
	// handshake unless a chop split it. wait, if set, is the index of the
	// write before which the response head is awaited.
	writes [][]byte
	wait   int
}

// fzDecode turns an input into a case; addr is the server's Host.
func fzDecode(data []byte, addr string, masked bool) *fzCase {
	r := fuzzinput.NewReader(data)
	flags := r.Byte()
	c := &fzCase{netpoll: flags&1 != 0, raw: flags>>4&3 == 3, wait: -1}
	switch flags >> 6 {
	case 2:
		c.end = 1
	case 3:
		c.end = 2
	}
	var w fuzzinput.Writer
	if c.raw {
		w.Pending = append(w.Pending, r.Take(int(r.Byte()))...)
	} else {
		c.vary = r.Byte()
		var extra []byte
		if c.vary&fzVExtra != 0 {
			extra = r.Take(int(r.Byte()))
		}
		if i := flags >> 1 & 7; i == 7 {
			c.offer = string(r.Take(int(r.Byte())))
		} else if int(i) < len(fzOffers) {
			c.offer = fzOffers[i]
		}
		w.Pending = append(w.Pending, fzHandshake(addr, c.vary, c.offer, extra)...)
		if c.vary&fzVWait != 0 {
			w.Flush(0)
			c.wait = len(w.Writes)
		}
	}
	fuzzinput.Stream(&w, r, masked)
	c.writes = w.Writes
	return c
}

// fzHandshake is a valid upgrade request with the variations in vary.
func fzHandshake(addr string, vary byte, offer string, extra []byte) []byte {
	var b strings.Builder
	b.WriteString("GET / HTTP/1.1\r\nHost: " + addr + "\r\n")
	if vary&fzVNoUpgrade == 0 {
		b.WriteString("Upgrade: websocket\r\n")
	}
	b.WriteString("Connection: Upgrade\r\n")
	key := testKey
	if vary&fzVBadKey != 0 {
		key = "c2hvcnQ="
	}
	b.WriteString("Sec-WebSocket-Key: " + key + "\r\n")
	version := "13"
	if vary&fzVBadVersion != 0 {
		version = "8"
	}
	b.WriteString("Sec-WebSocket-Version: " + version + "\r\n")
	if vary&fzVOrigin != 0 {
		b.WriteString("Origin: http://" + addr + "\r\n")
	}
	if vary&fzVEvilOrigin != 0 {
		b.WriteString("Origin: https://evil.example\r\n")
	}
	if vary&fzVProtocol != 0 {
		b.WriteString("Sec-WebSocket-Protocol: superchat, chat\r\n")
	}
	if offer != "" {
		b.WriteString("Sec-WebSocket-Extensions: " + offer + "\r\n")
	}
	if vary&fzVExtra != 0 {
		b.WriteString("X-Fz: " + string(extra) + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}
