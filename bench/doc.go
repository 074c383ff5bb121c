// Package bench measures ws4go side by side with the best Go WebSocket
// servers: the library behind "ws4go bench" and "make bench".
//
// # Servers under test
//
// Every server is a separate process (so /proc/PID/status is its own),
// started by the benchmark one after another, each on its own ports
// (127.0.0.1:9400+10i for WebSocket, the next port for /metrics):
//
//	ws4go-goroutine  ws4go, goroutine-per-connection engine (bench/cmd/ws4go-server)
//	ws4go-netpoll    ws4go, netpoll engine (same binary, -engine netpoll)
//	gorilla          github.com/gorilla/websocket           (bench/peers/cmd/gorilla)
//	nbio             github.com/lesismal/nbio               (bench/peers/cmd/nbio)
//	nbio-mixed       the same with -iomod mixed (an extra: only when named)
//	coder            github.com/coder/websocket             (bench/peers/cmd/coder)
//	gobwas           github.com/gobwas/ws + mailru/easygo   (bench/peers/cmd/gobwas)
//	rawtcp           plain TCP over epoll, the floor        (bench/peers/cmd/rawtcp)
//
// The peers live in their own Go module, bench/peers, so that the main
// module does not depend on them (their first build downloads their
// libraries through the Go module proxy). Each is written the way its
// library's own examples and README do it, with no handicap: every frame
// leaves in one write, reads are buffered (see each command's
// documentation). ws4go's server runs with its defaults but the heartbeat,
// which no server under test runs.
//
// # The benchmark protocol
//
// Every WebSocket server takes
//
//	-addr 127.0.0.1:PORT -metrics 127.0.0.1:PORT+1
//
// and serves
//
//	ws://ADDR/ws         echo: every data message is sent back to its sender
//	                     with the same type
//	ws://ADDR/broadcast  broadcast: every data message received is sent, with
//	                     the same type, to every client connected to
//	                     /broadcast, the sender included
//	ws://ADDR/topics     topics: a text message "sub T1 T2 ..." subscribes
//	                     its sender to each topic named (a topic is any
//	                     name without a space) and is answered with the
//	                     text message "ok" once they all hold; a binary
//	                     message "T PAYLOAD" (the topic, one space, the
//	                     payload) sends PAYLOAD, as a binary message, to
//	                     every subscriber of T (the sender only if it is
//	                     one); servers without topics (gobwas, rawtcp) do
//	                     not serve it and do not run the topics scenario
//	http://METRICS/metrics  go_goroutines and go_memstats_heap_inuse_bytes
//	                        in the Prometheus text format
//	http://METRICS/gc       runtime.GC and debug.FreeOSMemory, then 204
//
// with no heartbeat (no pings), no compression and a read limit of at least
// 16 MiB. The raw TCP server takes -mode echo (write back whatever is read)
// or -mode broadcast (write whatever is read from one connection to every
// connection); a raw "message" is Size bytes of the stream.
//
// # Messages and latency
//
// Every message the load generator sends is binary and at least 16 bytes: the first 8 are the time it was due (Unix nanoseconds), the
// next 8 a sequence number whose top 16 bits name the measurement phase.
// Latency is read from what comes back, so the client keeps no per-message
// state; at a fixed rate a message is stamped with the time it was due, not
// the time it left, so a late client or a stalled server shows as latency
// (no coordinated omission). Latencies go to HdrHistogram (1 µs to 100 s, 3
// significant figures).
//
// # Scenarios
//
//   - idle: N connections opened (at -ramp per second, or as fast as the
//     server accepts them with 256 handshakes in flight over
//     all client processes) and held. The server's RSS and Go heap in use
//     are read before the first connection and after the hold, each time
//     right after its /gc, and the growth divided by the connections held;
//     goroutines (from /metrics), threads, handshake rate and p99.
//   - echo: C connections; closed loop (one message in flight per
//     connection) gives the peak messages/s, the same per core of server
//     CPU, and latency. Once every server's closed loop is done, each server
//     runs again, in a fresh process, at one fixed rate for all: -rate, or
//     half of the lowest closed-loop peak of the run, so that latency is
//     compared at the same load, one every server sustains.
//   - broadcast: N connections to /broadcast, one of which publishes, in
//     closed loop: the next message is published once the last has
//     reached every connection of the publisher's process; broadcasts/s,
//     deliveries/s, the same per core of server CPU and the server's CPU
//     per delivery, fan-out time (to the last connection) and delivery
//     latency (to each connection). With several client processes, each
//     reports when every message reached its last connection and the
//     fan-out is worked out over all of them.
//   - broadcast-rate: the same at a fixed offered rate (40 messages/s to
//     10,000 connections, 400,000 deliveries/s offered), above what most
//     servers sustain: offered and delivered deliveries/s (and their
//     share), broadcasts/s that reached everyone, per server core, the
//     server's CPU per delivery, delivery latency from the time each
//     message was due. A phase lasts its set time: what a server has not
//     delivered by its end is not counted, so the delivered share, not the
//     latency of what did arrive, says how far behind it fell.
//   - topics: N connections (15,000) subscribe to K (10) of T (1,000)
//     topics each: connection i, numbered over every client process, to
//     topics K·i+j mod T, which gives every topic N·K/T subscribers (150).
//     The server's RSS and heap (after its /gc) are read before the
//     connections, before the subscriptions and after: per connection
//     (with no subscription) and per subscription. Then P more
//     connections (10) publish to the topics in turn at a fixed rate
//     (2,500 messages/s, 375,000 deliveries/s offered), and the figures
//     are broadcast-rate's.
//   - generator: the load generator itself, against the raw TCP server in
//     broadcast mode (rawtcp only): the publisher writes unmasked
//     WebSocket frames, 16 to a write, which the server passes on as read
//     to every connection (10,000), so each client read holds a batch of
//     frames as from a server that coalesces its writes; closed loop with
//     4 writes in flight. Its figure is the client's: deliveries/s, per
//     core of client CPU, client CPU per delivery.
//   - churn: C cycles in flight of connect, handshake, one echoed message,
//     closing handshake (the client sends 1000, the server answers and
//     closes the TCP connection first, as RFC 6455 7.1.1 asks): connections/s.
//
// Over TLS, run when named (TLSScenarios), against the servers with a TLS
// mode: idle-wss and echo-wss (its closed loop) are idle and echo over
// wss://; handshake-wss runs C cycles in flight of connect, TLS and
// WebSocket handshakes, close: handshakes/s and server CPU per handshake.
// The run writes a certificate for every server to read; the client is
// crypto/tls with a goroutine per connection (tlsClient), TLS 1.3 with Go's
// default key exchange, no session resumption.
// idle-h2 and echo-h2 are idle-wss and echo-wss with the WebSockets opened
// as RFC 8441 streams, H2Streams (server.H2MaxStreams, 32) on each TLS connection, against the
// servers that serve HTTP/2 (ws4go's, given -h2); the report gives each
// server's ratio to its own wss:// figures.
//
// Server CPU and RSS come from /proc/PID/stat and /proc/PID/status of the
// server process; the client reports its own CPU (/proc/self/stat) next to
// it, so a run where the client, not the server, was the limit shows (the
// fan-out scenarios add the client's CPU per delivery, how busy its
// busiest event loop was, out of epoll_wait, and at a fixed rate how late
// it sent a message after it was due, with warnings past 90% and 50 ms;
// there, an event loop whose epoll_wait returned few events waits
// Config.Gather, 500 µs, before the next, so that frames written one at a
// time do not wake it for each), and
// the CPU the rest of the machine used (/proc/stat): a phase where it
// passed 10% of a core gets a warning, and the tables mark the ratios of
// results with warnings (lost connections, a fixed rate not delivered,
// broadcasts that did not reach everyone).
//
// # The load generator
//
// The load generator is a few epoll event loops on raw non-blocking sockets: a
// connection costs one descriptor and a ~200-byte struct, no goroutine and
// no buffer. The benchmark puts PerProcess connections in one process, nine
// tenths of its limit on open files (RLIMIT_NOFILE): 18,000 under the
// limit of 20,000 here; CheckLimits says before a run if the client or a
// server would run out. Sockets are bound to source addresses in
// 127.0.0.0/8 (127.0.0.2, 127.0.0.3, ...) with IP_BIND_ADDRESS_NO_PORT, so
// the port is chosen per destination at connect time and no port range is
// pinned. More connections than PerProcess run in several worker processes
// (ws4go bench -worker), driven over their standard input and output.
//
// Targets and sources must be IPv4 loopback addresses: the benchmark never
// sends traffic off the machine.
//
// # Results
//
// WriteResults writes results.md (the tables, with the machine, the exact
// ws4go commit and whether the working tree differed from it, the peers'
// versions and the command), results.json and one SVG chart per scenario;
// Publish copies those (not the logs) into bench/latest, which the
// repository keeps.
//
// # Embedding
//
// "ws4go bench" (cmd/ws4go) is this package's command line; a program of
// one's own runs the benchmark with the same few calls:
//
//   - Build compiles the servers under test (Servers, ServerSpec,
//     LookupServer, ServerNames) into a folder; CheckLimits checks the
//     machine's limit on open files first.
//   - Run runs a Config (its Scenarios against its Servers) and returns a
//     Report (Machine, ReportConfig, ScenarioReport, ServerResult,
//     Metric), which WriteResults and WriteMarkdown write out and Publish
//     copies; LatestResults finds the newest results folder, FindSource
//     the ws4go source tree, DescribeMachine the figures of the machine.
//   - Runs of more than PerProcess connections need client processes:
//     Config.WorkerArgs is a command that calls ServeWorker (ws4go bench
//     -worker does).
//   - ServeWS4Go is ws4go's server under test (bench/cmd/ws4go-server).
//
// The load generator, its worker protocol and the report's formatting are
// internal to the package.
package bench
