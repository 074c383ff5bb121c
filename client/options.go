package client

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/ws4go/ws4go/internal/wsconn"
	"github.com/ws4go/ws4go/observe"
)

// Defaults for zero-valued Options fields.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxMessageSize   = 16 << 20
	DefaultMessageTimeout   = 60 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultCloseTimeout     = 5 * time.Second
	DefaultPingInterval     = 30 * time.Second
	DefaultPongTimeout      = 30 * time.Second
)

// Options configures Dial and Redial. The zero value (or a nil *Options) is
// ready to use. Its sizes and durations follow the convention of
// server.Server: zero means the default the field's documentation gives,
// negative means no limit.
type Options struct {
	// Header holds extra request headers for the opening handshake
	// (Origin, Authorization, cookies, ...). A "Host" entry replaces the
	// Host header. The headers the handshake itself uses (Upgrade,
	// Connection, Sec-WebSocket-*) may not be set here: use Subprotocols
	// and Compression.
	Header http.Header
	// Subprotocols are offered in Sec-WebSocket-Protocol, most preferred
	// first. The server's choice is Conn.Subprotocol().
	Subprotocols []string
	// Compression configures permessage-deflate (RFC 7692). It is
	// offered by default (set Compression.Disable to stop that) and used
	// when the server accepts; Conn.Extensions tells whether it did.
	Compression Compression

	// TLSConfig is used for wss:// (default: the system roots, and the
	// URL's host as ServerName). Its NextProtos is ignored: ALPN offers
	// nothing over HTTP/1.1, and h2 then http/1.1 with HTTP2.
	TLSConfig *tls.Config
	// HTTP2, if set, makes Dial open wss:// WebSockets on HTTP/2 streams
	// (RFC 8441 extended CONNECT) of the pool's connections, several
	// WebSockets sharing one TCP connection. It needs
	//
	//	import _ "github.com/ws4go/ws4go/xconnect"
	//
	// in the program (Go's HTTP/2 speaks extended CONNECT only then).
	// When the server does not choose h2 in the TLS handshake, Dial
	// continues over HTTP/1.1 on the same TLS connection; when it speaks
	// HTTP/2 without announcing extended CONNECT, Dial opens a new
	// HTTP/1.1 connection. A refusal over HTTP/2 (a non-2xx status) is
	// not retried. Conn.Proto tells which one runs. ws:// and ws+unix
	// URLs ignore HTTP2.
	HTTP2 *HTTP2Pool
	// Proxy returns the proxy to reach the server through, or nil for a
	// direct connection: ProxyFromEnvironment follows HTTPS_PROXY,
	// HTTP_PROXY, ALL_PROXY and NO_PROXY; http.ProxyURL(u) names one.
	// The request it gets has the scheme https for wss:// and http for
	// ws://, as net/http's would. The URL's scheme says how to reach
	// the proxy: http:// (an HTTP proxy, sent a CONNECT request; port 80
	// by default), https:// (the same over TLS, checked with TLSConfig
	// against the proxy's name; port 443), socks5:// or socks5h://
	// (SOCKS5, port 1080; the proxy resolves the server's name in both
	// cases, as with net/http). User information in the URL is sent as
	// Basic Proxy-Authorization, or as the SOCKS5 username and password.
	// TLS with the server runs end to end inside the tunnel. A ws+unix
	// URL never uses a proxy. Nil (the default): never use a proxy,
	// whatever the environment says.
	Proxy func(*http.Request) (*url.URL, error)

	// HandshakeTimeout bounds the opening of a connection: DNS, TCP,
	// the proxy, TLS and the WebSocket handshake together, on top of
	// the ctx given to Dial, and each attempt of Redial (default 10 s;
	// negative: only ctx bounds it). Past it Dial fails with an error
	// that matches ErrHandshakeTimeout and context.DeadlineExceeded.
	HandshakeTimeout time.Duration

	// MaxMessageSize is the largest message accepted from the server
	// (default 16 MiB); a larger one fails the connection with 1009.
	// Negative: no limit.
	MaxMessageSize int64
	// MessageTimeout: a message or control frame from the server whose
	// first byte has arrived must arrive whole within this long (frames
	// interleaved in a fragmented message and a trickle of bytes do not
	// extend it), else the connection fails with 1008 "message timeout"
	// (default 60 s, the server's default; negative: never). Without it a
	// server could keep a partial message of up to MaxMessageSize held
	// in the client for as long as it answers the heartbeat.
	MessageTimeout time.Duration
	// WriteTimeout bounds how long a write to the socket may make no
	// progress (default 10 s): a write whose bytes the socket does not
	// take for that long (over TLS or HTTP/2, a 16 KiB chunk of it)
	// drops the connection. It also bounds, within about twice it, what
	// crypto/tls writes on its own while reading (an answer to the
	// server's KeyUpdate). Negative: no bound.
	WriteTimeout time.Duration
	// CloseTimeout bounds the closing handshake (default 5 s; negative:
	// no bound): once a close frame has been sent or received, the server
	// has this long to finish before the connection is dropped.
	CloseTimeout time.Duration
	// PingInterval: a connection that received nothing for this long is
	// pinged (default 30 s; negative disables the heartbeat). The
	// heartbeat and MessageTimeout wait while a Conn read with Read has
	// stopped reading its socket for an application that lags (see
	// Conn.Read).
	PingInterval time.Duration
	// PongTimeout: a pinged connection that receives nothing for this
	// long is dropped, and Handler.Closed reports 1006 "heartbeat
	// timeout" (default 30 s; negative: never).
	PongTimeout time.Duration

	// Logger receives the client's logs (default slog.Default()).
	Logger *slog.Logger
	// Observer, if set, is told what the connection does, as the
	// server's observer is (metrics.New makes one for Prometheus):
	// Opened, the frames Received and Sent, HandlerDone, Limited,
	// HeartbeatTimeout and Closed. Its Side values keep their meaning:
	// Peer when the client sent the first close frame.
	Observer observe.Observer
}

// connConfig is the configuration of a connection dialled with o (its
// Compressor left to set).
func (o *Options) connConfig() *wsconn.Config {
	return &wsconn.Config{
		Client:         true,
		MaxMessageSize: wsconn.OrDefault(o.MaxMessageSize, DefaultMaxMessageSize),
		CloseTimeout:   wsconn.OrDefault(o.CloseTimeout, DefaultCloseTimeout),
		PingInterval:   wsconn.OrDefault(o.PingInterval, DefaultPingInterval),
		PongTimeout:    wsconn.OrDefault(o.PongTimeout, DefaultPongTimeout),
		MessageTimeout: wsconn.OrDefault(o.MessageTimeout, DefaultMessageTimeout),
		Logger:         o.logger(),
		Observer:       o.Observer,
	}
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}
