package handler

// Drainer is an optional interface of a Handler, for backpressure (what
// uWebSockets calls drain): the server calls Drained when the connection's
// queue of unsent bytes has emptied after growing past half its bound
// (the server's MaxWriteQueue), that is when a peer that fell behind has
// caught up. A handler that stops producing for a connection whose queue
// grows (see the server's BufferedAmount) resumes there.
//
// Drained is called like the other callbacks, never at the same time as
// another of the connection's, and not once the connection is closing.
// Over the client package it is not called.
type Drainer interface {
	Drained(c Conn)
}
