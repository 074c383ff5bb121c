// Package netpoll documents ws4go's epoll engine: connections wait for readiness in
// one epoll set, and a small pool of workers takes ready connections from it
// and processes them where they are: read what is there into the worker's
// buffer, parse it without blocking, run the handler. An idle connection
// holds no goroutine and no buffer: only its descriptor, its epoll
// registration and its small connection state.
//
// Connections are accepted as raw descriptors (accept4), so each costs exactly
// one fd and stays out of the Go runtime's own poller. Each is registered
// once, edge-triggered, for reading and writing; it is never re-armed. A
// per-connection counter decides who processes it, so a connection is
// processed by one worker at a time, in order, however many workers saw its
// events.
//
// Workers take events from the epoll set themselves (epoll_wait without
// waiting), so an event costs no hand-off between goroutines; GOMAXPROCS of
// them are started. When nothing is ready, one worker waits in the Go
// runtime's own poller for the epoll set to become readable (never in a
// blocking epoll_wait, which would hold its P from the rest of the
// process), and the others sleep until it finds more than one event ready:
// a light load is served by one worker without waking the others.
//
// A handler that blocks holds its worker: a monitor notices a worker stalled
// on one event (after a few milliseconds), hands the rest of its batch to the
// other workers and gets another worker polling (a sleeping one, or a new
// one up to Server.Workers goroutines in all). When that many are held,
// nobody polls: ready connections wait in the kernel (the engine's
// backpressure) and no goroutine is added.
//
// # TLS
//
// With server.Server's TLSConfig set, TLS runs on the engine too, with
// crypto/tls. Each connection's TLS handshake and request head are read on a
// short-lived goroutine over the Go runtime's TCP connection (crypto/tls
// cannot resume a handshake interrupted by "would block"), bounded by
// HandshakeTimeout; then its descriptor joins the epoll set. From there the
// workers feed the ciphertext they read to the tls.Conn through a small
// net.Conn adapter whose Read reports "would block" as a temporary error, on
// which crypto/tls keeps a partial record as state instead of failing: half a
// record never holds a worker. Writes encrypt one record at a time into the
// socket; ciphertext the socket does not take is kept by the adapter (one
// record at most), and the connection writes no more plaintext until it has
// gone, so frames wait in the bounded write queue as on a plain connection.
// An idle TLS connection holds no goroutine and no buffer of the engine's:
// only crypto/tls's own state (about 7 KiB).
//
// The engine started on github.com/mailru/easygo/netpoll; it now drives
// epoll itself, since easygo's single wait loop needs a hand-off to a worker
// for every event and a re-arm (EPOLL_CTL_MOD) per turn, and keeps a map
// entry and a closure per descriptor: owning the loop made echo cheaper per
// message and idle connections smaller.
//
// # Use
//
// The package has no API of its own: the engine is chosen with
// server.Server's Engine field (server.EngineNetpoll, the default on Linux),
// and everything about it that an application sets is a Server field
// (Workers, HandshakeTimeout and the limits) or reads back (Server.Stats).
// The engine itself lives in an internal package, since its interface is
// made of the server's internal connection types. Listeners it cannot take
// a raw descriptor from (wrapped listeners, such as a tls.NewListener passed
// to Serve instead of setting TLSConfig), and systems other than Linux, are
// served by the goroutine engine.
//
//	srv := &server.Server{Addr: "127.0.0.1:9001", NewHandler: handler.NewEcho, Engine: server.EngineNetpoll}
package netpoll
