package handshake

import "testing"

// hsBrowserHead is the opening handshake of a current browser.
var hsBrowserHead = []byte("GET /ws?room=1 HTTP/1.1\r\n" +
	"Host: example.com:9001\r\n" +
	"Connection: Upgrade\r\n" +
	"Pragma: no-cache\r\n" +
	"Cache-Control: no-cache\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n" +
	"Upgrade: websocket\r\n" +
	"Origin: http://example.com:9001\r\n" +
	"Sec-WebSocket-Version: 13\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
	"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" +
	"\r\n")

// BenchmarkHsCheckHead is the raw path's cost per handshake: parsing and
// checking a browser's request head.
func BenchmarkHsCheckHead(b *testing.B) {
	cfg := &Config{}
	b.ReportAllocs()
	for b.Loop() {
		if _, rej := CheckHead(hsBrowserHead, cfg); rej != nil {
			b.Fatal(rej)
		}
	}
}

// BenchmarkHsRawPath is what the server does with a raw head: route it (its
// path, whether it asks for a WebSocket) and check it.
func BenchmarkHsRawPath(b *testing.B) {
	cfg := &Config{}
	b.ReportAllocs()
	for b.Loop() {
		var h Head
		if rej := h.Parse(hsBrowserHead); rej != nil || h.Path() != "/ws" || !h.WantsWebSocket() {
			b.Fatal(rej)
		}
		if _, rej := h.Check(cfg); rej != nil {
			b.Fatal(rej)
		}
	}
}
