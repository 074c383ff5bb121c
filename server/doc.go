// Package server runs WebSocket handlers: standalone (ListenAndServe, the
// analogue of ws4py's gevent WebSocketServer(...).serve_forever()) or
// embedded in any net/http service as an http.Handler (the analogue of ws4py's
// CherryPy tool), on the goroutine-per-connection engine or the netpoll
// engine, with one handler API.
//
//	srv := &server.Server{Addr: "127.0.0.1:9001", NewHandler: handler.NewEcho}
//	log.Fatal(srv.ListenAndServe())
//
// # Entry points
//
// A Server is its own configuration, as net/http.Server is; set its fields
// before it serves and do not change them afterwards. It runs connections
// from any of these, all sharing its settings and one connection table
// and topics (Len, Range, Broadcast, Subscribe, Publish, CloseAll, Stats,
// Shutdown):
//
//   - ListenAndServe and Serve: a listener of the Server's own, which also
//     answers plain HTTP requests through the HTTP field;
//   - ServeHTTP: the Server as an http.Handler, routing by Routes and
//     NewHandler;
//   - HTTPHandler(f): an http.Handler running f's handlers, one per path of
//     any mux.
//
// Behind net/http, the hijacked connections are the Server's: call its
// Shutdown (net/http.Server.Shutdown does not see them).
//
// # WebSocket over HTTP/2
//
// An RFC 8441 extended CONNECT (a browser's WebSocket on its HTTP/2
// connection) is served on every entry point: by ServeHTTP and HTTPHandler
// behind an http.Server speaking HTTP/2, and on the Server's own TLS
// listener when TLSConfig.NextProtos offers "h2". Import
// github.com/ws4go/ws4go/xconnect so that net/http accepts extended CONNECT.
// Each stream runs on its net/http handler goroutine, whatever the Engine;
// its request's ProtoMajor is 2. docs/http2.md says what an embedding
// http.Server should bound.
//
// # Engines
//
// EngineNetpoll (the default on Linux) waits for readable sockets with
// epoll and runs them on a bounded pool of Workers, so an idle connection
// holds no goroutine and no read buffer. EngineGoroutine reads each
// connection on a goroutine of its own; it also runs listeners without a
// raw descriptor (a tls.NewListener of your own; TLSConfig runs on either
// engine) and platforms other than Linux. Handlers behave the same on both;
// a handler that blocks for long holds a netpoll worker meanwhile, so such
// handlers are better on EngineGoroutine. docs/engines.md compares them.
//
// # Ownership and concurrency
//
// A handler.Factory is called once per successful handshake, so each
// connection has its own Handler. The callbacks of one connection never run
// concurrently (see package handler); callbacks of different connections
// do, so state shared between handlers needs its own locking. A message's Data
// belongs to the engine once ReceivedMessage returns. Every handler.Conn
// method, and every Server method, is safe from any goroutine. A panic in a
// Factory, a callback, CheckOrigin or Accept is recovered and logged, and costs only
// its connection (1011) or handshake (500).
//
// # Topics and broadcast
//
// A connection subscribes to named topics (Subscribe, from its handler or
// from anywhere), and Publish sends a message to every subscriber of a
// topic; Broadcast sends to every connection; Prepare makes a message once
// for many sends. Publishing only queues, one frame shared by every queue,
// and leaves the writes to the engine, whose workers send what waits for a
// connection in one writev. BufferedAmount and handler.Drainer give
// handlers backpressure; SlowSubscribers says what happens to a subscriber
// that does not keep up.
//
// # Limits
//
// Every buffer has a bound and every wait a timeout; the fields of Server
// say which and give the defaults (the Default* constants). For each of
// them zero means that default and a negative value no limit, as for
// client.Options and the flags of the ws4go binary. Validate refuses the
// settings that cannot work. SECURITY.md says what each bound protects
// against, and docs/budgets.md what one connection can make the server
// hold.
package server
