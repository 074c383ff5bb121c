// Package handlertest helps test handler.Handler implementations, as
// net/http/httptest does for http.Handlers.
//
// Two levels:
//
//   - Conn is a recording fake handler.Conn. Call a handler's callbacks with
//     it and check what the handler sent (Sent, Texts, Pings) and how it
//     closed the connection (CloseStatus, Terminated). No socket, no
//     goroutine: the unit test of a handler's logic.
//   - Server runs a handler under a real ws4go server on a port of
//     127.0.0.1, and Dial gives the test a synchronous client of it
//     (Send, Receive, Close): the handler meets real frames, a real
//     handshake and the engine's concurrency. Close checks that every
//     connection ended. Start(t, factory) makes one for a test: a panic
//     in the handler fails the test with its value and stack (Logger(t)
//     does that for a server configured first), and the server is closed
//     when the test ends.
package handlertest
