// Package handler is the API that WebSocket application code is written
// against: the callbacks of a per-connection Handler, in the shape of ws4py's
// WebSocket class, and the Conn a handler uses to talk to its peer.
//
// The package imports nothing else of ws4go, so the same handler runs on every
// engine (goroutine-per-connection or netpoll), behind every entry point
// (standalone server or http.Handler), and on the client side
// (package client).
//
// # Writing a handler
//
// Embed Base and implement the callbacks you need; give the server a Factory
// that makes one Handler per connection (NewEcho is the simplest):
//
//	type Shout struct{ handler.Base }
//
//	func (Shout) ReceivedMessage(c handler.Conn, m handler.Message) {
//		_ = c.SendText(strings.ToUpper(string(m.Data)))
//	}
//
//	srv := &server.Server{NewHandler: func() handler.Handler { return Shout{} }}
//
// # Concurrency and ownership
//
// Callbacks of one connection are never called concurrently and are called in
// order: Opened first, then ReceivedMessage and Ponged as frames arrive,
// Closed last and exactly once. While a callback runs, its connection reads
// nothing more; on the netpoll engine it also occupies one worker of a bounded
// pool, so keep callbacks short and put long or blocking work in a goroutine
// of the handler's own (sending from there is safe: every Conn method is safe
// from any goroutine), bound by Conn.Context, which ends with the connection.
//
// A Message's Data is the engine's buffer, valid only until ReceivedMessage
// returns: copy it to keep it. Sends copy (or write) their payload before
// returning. A panic in a callback or a Factory is recovered and closes only
// its own connection, with 1011.
//
// Closed's code and reason say how the connection ended: see Handler.
// Sends never block on the peer without bound; a peer that does not read
// fills a bounded queue and is then closed (ErrWriteQueueFull). Where a
// write itself can wait on the peer (TLS on the goroutine engine, an HTTP/2
// stream), a data send instead waits while the queue holds over half its
// bound, at most until a write makes no progress for WriteTimeout.
//
// # Testing
//
// Package handlertest has a recording fake Conn for unit tests of a handler
// and a server to run one under for end-to-end tests.
package handler
