package main

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/ws4go/ws4go/server"
)

// serveFlags are ws4go serve's settings. Those of the Server are its own
// fields, which the flags set directly: a flag shares its field's default
// and its zero/negative convention (0: the default, -1: no limit).
type serveFlags struct {
	srv server.Server
	// fields maps the Server's fields to their flags, for Validate's
	// errors.
	fields map[string]string

	addr, handler, engine, path, origins, subprotocols, logLevel, logFormat string
	allowedHosts                                                            string
	shutdownTimeout, tlsCheck                                               time.Duration
	metricsAddr, tlsCert, tlsKey                                            string
	pprof, http2                                                            bool
}

func (f *serveFlags) register(fs *flagSet) {
	s := &f.srv
	f.fields = map[string]string{
		"Engine": "engine", "Routes": "path", "OriginPatterns": "origins", "AllowedHosts": "allowed-hosts",
		"Subprotocols": "subprotocols", "TLSConfig": "tls-cert",
	}
	field := func(field, name string) string {
		f.fields[field] = name
		return name
	}
	fs.StringVar(&f.addr, "addr", "127.0.0.1:9001", "`host:port` to listen on, or unix:/path/to.sock for a Unix socket")
	fs.StringVar(&f.handler, "handler", "echo", "handler to serve at -path (see below)")
	fs.StringVar(&f.engine, "engine", string(server.EngineNetpoll), "connection engine: netpoll (epoll and a worker pool; Linux) or goroutine (one goroutine per connection)")
	fs.StringVar(&f.path, "path", "/ws", "path of the WebSocket endpoint (starts with /)")
	fs.StringVar(&f.origins, "origins", "", "extra allowed browser origins, comma-separated host patterns (the request's own host is always allowed)")
	fs.StringVar(&f.allowedHosts, "allowed-hosts", "", "Host headers served, comma-separated (host[:port], *.pattern, CIDR prefix; * for any); default: only loopback names (localhost, 127.0.0.0/8, [::1]) when -addr is a loopback address, against DNS rebinding, else any")
	fs.StringVar(&f.subprotocols, "subprotocols", "", "subprotocols spoken, comma-separated, most preferred first")
	boolFlag(fs, &s.Compression, false, "compression", "negotiate permessage-deflate (RFC 7692) with clients that offer it")
	numberFlag(fs, &s.MaxMessageSize, server.DefaultMaxMessageSize, field("MaxMessageSize", "max-message-size"), "largest message accepted, in `bytes`, after decompression (larger: close 1009)", "", "no limit")
	numberFlag(fs, &s.MaxWriteQueue, server.DefaultMaxWriteQueue, field("MaxWriteQueue", "max-write-queue"), "`bytes` queued for a slow reader before it is closed", "", "no limit")
	numberFlag(fs, &s.MaxBufferedBytes, server.DefaultMaxBufferedBytes, field("MaxBufferedBytes", "max-buffered"), "`bytes` held for partial messages and write queues across all connections; the connection that would pass it gets close 1013", "", "no bound")
	numberFlag(fs, &s.MaxConnections, server.DefaultMaxConnections, field("MaxConnections", "max-connections"), "at most `n` WebSockets open at once, over HTTP/1.1 and HTTP/2 alike; past it a handshake gets 503 with Retry-After", "", "no limit")
	numberFlag(fs, &s.MaxH2Connections, server.DefaultMaxH2Connections, field("MaxH2Connections", "max-h2-connections"), "at most `n` HTTP/2 connections open at once (with -tls-cert); past it ALPN gives clients HTTP/1.1", "", "no limit")
	numberFlag(fs, &s.PingInterval, server.DefaultPingInterval, field("PingInterval", "ping-interval"), "ping a connection silent for this `duration`", "", "no heartbeat")
	numberFlag(fs, &s.PongTimeout, server.DefaultPongTimeout, field("PongTimeout", "pong-timeout"), "drop a pinged connection silent for this `duration`", "", "never")
	numberFlag(fs, &s.IdleTimeout, 0, field("IdleTimeout", "idle-timeout"), "close a connection that sent no message for this `duration`", "never, the default", "never")
	numberFlag(fs, &s.MessageTimeout, server.DefaultMessageTimeout, field("MessageTimeout", "message-timeout"), "a message or frame that has begun must arrive whole within this `duration` (else close 1008)", "", "no limit")
	numberFlag(fs, &s.WriteTimeout, server.DefaultWriteTimeout, field("WriteTimeout", "write-timeout"), "drop a connection whose queued frames make no progress for this `duration`", "", "never")
	numberFlag(fs, &s.CloseTimeout, server.DefaultCloseTimeout, field("CloseTimeout", "close-timeout"), "wait this `duration` for the peer's close frame", "", "without bound")
	numberFlag(fs, &s.HandshakeTimeout, server.DefaultHandshakeTimeout, field("HandshakeTimeout", "handshake-timeout"), "drop a client that has not sent its handshake (TLS included) within this `duration` (over HTTP/2: its first request, and the next one once its streams ended)", "", "no bound")
	numberFlag(fs, &f.shutdownTimeout, 10*time.Second, "shutdown-timeout", "on SIGTERM, wait this `duration` for clients to answer the 1001 close, then drop the rest", "", "no deadline: each client has -close-timeout")
	numberFlag(fs, &s.Workers, 0, field("Workers", "workers"), "run connections on at most `n` netpoll engine workers", fmt.Sprintf("4×GOMAXPROCS, %d here", 4*runtime.GOMAXPROCS(0)), "")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "text or json")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "`host:port` (or unix:/path) of the operations listener: Prometheus /metrics, /healthz, /readyz (empty: no metrics, at no cost)")
	boolFlag(fs, &f.pprof, false, "pprof", "serve /debug/pprof/ on the -metrics-addr listener")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM certificate `file` (chain first): serve wss:// and https:// (with -tls-key)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key `file` of -tls-cert")
	boolFlag(fs, &f.http2, true, "http2", "with -tls-cert, offer HTTP/2 by ALPN: browsers then open their WebSockets as RFC 8441 streams, several on one connection (false: HTTP/1.1 only)")
	numberFlag(fs, &f.tlsCheck, 10*time.Second, "tls-reload-check", "every `duration`, look for a changed -tls-cert or -tls-key and load it, as SIGHUP does", "", "on SIGHUP only")
}

// check refuses, as one line each, the values that cannot work together
// or that the Server would refuse (Validate), before anything listens.
func (f *serveFlags) check(fs *flagSet, owner map[string]string) string {
	if _, ok := handlers[f.handler]; !ok {
		return fs.bad("handler", f.handler, "want one of "+strings.Join(handlerNames(), ", "))
	}
	for _, name := range slices.Sorted(maps.Keys(fs.from)) {
		if o := owner[name]; o != "" && o != f.handler {
			return fs.bad(name, fs.Lookup(name).Value.String(), fmt.Sprintf("want -handler %s, the only handler that uses it (this is -handler %s)", o, f.handler))
		}
	}
	for _, a := range []struct{ name, value string }{{"addr", f.addr}, {"metrics-addr", f.metricsAddr}} {
		if a.value == "" && a.name == "metrics-addr" {
			continue
		}
		if err := checkAddr(a.value); err != nil {
			return fs.bad(a.name, a.value, err.Error())
		}
	}
	var level slog.Level
	if level.UnmarshalText([]byte(f.logLevel)) != nil {
		return fs.bad("log-level", f.logLevel, "want debug, info, warn or error")
	}
	if f.logFormat != "text" && f.logFormat != "json" {
		return fs.bad("log-format", f.logFormat, "want text or json")
	}
	if f.pprof && f.metricsAddr == "" {
		return fs.bad("pprof", "true", "want -metrics-addr too: pprof is served on the operations listener")
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		if f.tlsCert == "" {
			return fs.bad("tls-key", f.tlsKey, "want -tls-cert with it")
		}
		return fs.bad("tls-cert", f.tlsCert, "want -tls-key with it")
	}
	for _, name := range []string{"http2", "tls-reload-check"} {
		if f.tlsCert == "" && fs.isSet(name) {
			return fs.bad(name, fs.Lookup(name).Value.String(), "want -tls-cert and -tls-key: it applies to TLS only")
		}
	}
	if err := f.srv.Validate(); err != nil {
		var ce *server.ConfigError
		if errors.As(err, &ce) {
			if name, ok := f.fields[ce.Field]; ok {
				return fs.bad(name, ce.Value, ce.Want)
			}
		}
		return err.Error()
	}
	return ""
}

// allowedHosts is Server.AllowedHosts for -allowed-hosts: by default only
// loopback names on a loopback address (as development servers do, so a
// page rebound to 127.0.0.1 cannot reach the server), any elsewhere.
func allowedHosts(flagValue, addr string) []string {
	if list := splitList(flagValue); len(list) > 0 {
		if slices.Contains(list, "*") {
			return nil
		}
		return list
	}
	if strings.HasPrefix(addr, "unix:") {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil
	}
	if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
		return server.LoopbackHosts
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
