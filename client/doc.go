// Package client is the client side of ws4go: it dials WebSocket servers
// (ws://, wss://, a Unix socket, optionally through an HTTP, HTTPS or
// SOCKS5 proxy) and runs the same handler.Handler callbacks as the server
// does.
//
//	type printer struct{ handler.Base }
//
//	func (printer) ReceivedMessage(c handler.Conn, m handler.Message) {
//		fmt.Printf("%s\n", m.Data)
//	}
//
//	c, err := client.Dial(ctx, "ws://127.0.0.1:9001/ws", printer{}, nil)
//	if err != nil {
//		return err // a *client.HandshakeError says what the server got wrong
//	}
//	_ = c.SendText("hello")
//	_ = c.Close(handler.CloseNormal, "")
//	<-c.Done()
//
// A nil handler gives a Conn read in a loop instead, as with gorilla or
// coder/websocket:
//
//	c, err := client.Dial(ctx, "ws://127.0.0.1:9001/ws", nil, nil)
//	if err != nil {
//		return err
//	}
//	for {
//		typ, data, err := c.Read(ctx)
//		if err != nil {
//			return err // a *client.CloseError once the connection has ended
//		}
//		fmt.Printf("%v %s\n", typ, data)
//	}
//
// Unread messages are bounded (64 KiB of memory, plus the message that
// reached it): past that the Conn stops reading its socket until Read
// catches up, and TCP holds the server back, as the server holds back a
// client that does not read. Read's ctx only bounds the wait: its end
// neither loses a message nor closes the connection.
//
// The opening handshake is checked strictly (RFC 6455 section 4.1): status
// 101, the Upgrade and Connection tokens, a present and correct
// Sec-WebSocket-Accept, and no subprotocol or extension that was not
// offered. Every frame sent is masked with a fresh random key. A heartbeat
// pings a silent server and drops the connection when nothing comes back
// (Options.PingInterval, Options.PongTimeout). Redial keeps a connection
// open across failures, with exponential backoff and jitter; a connection
// that closes before Backoff.Stable counts as a failure.
//
// permessage-deflate (RFC 7692) is offered by default and used when the
// server accepts it (Conn.Extensions); Options.Compression tunes or
// disables it. The server's answer is checked as strictly as the rest of
// the handshake, messages of Compression.Threshold bytes or more are sent
// compressed, and compressed messages from the server are inflated as their
// bytes arrive, under Options.MaxMessageSize: a message that inflates past
// it, or a text message that inflates to invalid UTF-8, fails the
// connection (1009, 1007) at once, not when its last frame arrives.
//
// With Options.HTTP2 (and package xconnect imported), wss:// WebSockets
// open as streams of HTTP/2 connections (RFC 8441 extended CONNECT),
// several sharing one TCP connection; Dial falls back to HTTP/1.1 when the
// server does not speak HTTP/2 or extended CONNECT (see Options.HTTP2).
// The stream stands for the TCP connection: a write waits for the stream's
// flow control (bounded by Options.WriteTimeout), the half-close after the
// closing handshake is END_STREAM, a dropped connection is RST_STREAM.
// golang.org/x/net/http2 runs one goroutine per stream (sending what the
// client writes) and one per TCP connection (reading all its streams),
// besides the Conn's own reading goroutine; what the server sent and the
// client has not read yet is bounded by the stream's receive window (4
// MiB, x/net's default).
//
// A malicious server is bounded as a malicious client is on the server:
// the answer's head is read up to 8 KiB (ErrHeadTooLarge past it; over
// HTTP/2 the header list is bounded alike), the opening takes at most
// Options.HandshakeTimeout, a message that has begun must arrive whole
// within Options.MessageTimeout and within Options.MaxMessageSize, and a
// server that floods pings but reads nothing stalls the pong writes, and so
// the reading, until Options.WriteTimeout drops it.
//
// A connection runs on the same core as the server's connections (the
// closing handshake, heartbeat, panic isolation and inflater are the
// server's), and Options.Observer hears its events as a server's observer
// does.
package client
