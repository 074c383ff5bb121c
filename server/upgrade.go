package server

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"runtime/debug"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/deflate"
	"github.com/ws4go/ws4go/internal/handshake"
	"github.com/ws4go/ws4go/internal/wsconn"
	"github.com/ws4go/ws4go/observe"
)

// decision is the server's answer to a raw request head.
type decision struct {
	// response is written to the client: 101 or a refusal.
	response []byte
	// factory and res are set when the handshake is accepted, with the
	// accept hook's data and the request it saw (nil without a hook).
	factory handler.Factory
	place   *wsconn.Place // give it to the connection, or Release it
	res     *handshake.Result
	data    any
	req     *http.Request
	// fallback: not a WebSocket request; hand the connection to s.HTTP.
	fallback bool
}

// LoopbackHosts allows (as Server.AllowedHosts) the Host headers of a server
// reached only from the same machine: localhost, 127.0.0.0/8 and ::1, on
// any port.
var LoopbackHosts = handshake.LoopbackHosts

// peer is what the raw path knows of a connection besides its request
// head: its address.
type peer interface{ RemoteAddr() net.Addr }

// decideHead answers a complete raw request head (the standalone path of
// both engines) from p; state is the TLS connection's, or nil. A head
// net/http would refuse is refused with 400 before any user code runs; a
// panic in the user's CheckOrigin or Accept costs only this handshake.
func (s *Server) decideHead(raw []byte, p peer, state *tls.ConnectionState) decision {
	refuse := func(rej *handshake.Rejection) decision {
		s.refused(rej)
		return decision{response: handshake.AppendRejection(nil, rej)}
	}
	h := handshake.Head{ConnState: state}
	if s.Accept != nil || s.CheckOrigin != nil {
		h.RemoteAddr = p.RemoteAddr().String()
	}
	if rej := h.Parse(raw); rej != nil {
		return refuse(rej)
	}
	if s.HTTP != nil && s.plainHTTP(h.Path(), h.WantsWebSocket()) {
		if !handshake.HostAllowed(h.Host(), s.AllowedHosts) {
			return refuse(handshake.Reject(observe.RejectHostNotAllowed, "host not allowed"))
		}
		return decision{fallback: true}
	}
	f, _ := s.route(h.Path())
	if f == nil {
		return refuse(handshake.Reject(observe.RejectNotFound, "no WebSocket handler for this path"))
	}
	if s.closing.Load() {
		return refuse(handshake.Reject(observe.RejectShuttingDown, "server shutting down"))
	}
	res, rej := h.Check(&s.hcfg)
	if rej != nil {
		return refuse(rej)
	}
	var req *http.Request
	if s.Accept != nil {
		req = h.Request()
	}
	a, rej := s.runAccept(req, f, res)
	if rej != nil {
		return refuse(rej)
	}
	place, ok := s.table.Reserve()
	if !ok {
		return refuse(maxConnections())
	}
	return decision{response: handshake.AppendResponse(nil, res), factory: a.NewHandler, place: place, res: res, data: a.Data, req: req}
}

// maxConnRetryAfter is the Retry-After of a handshake refused because the
// server holds MaxConnections WebSockets.
const maxConnRetryAfter = "5"

// maxConnections is the refusal of a handshake past Server.MaxConnections.
func maxConnections() *handshake.Rejection {
	rej := handshake.Reject(observe.RejectMaxConnections, "too many connections; try again later")
	rej.Header = http.Header{"Retry-After": {maxConnRetryAfter}}
	return rej
}

// plainHTTP reports whether a request for path belongs to the plain HTTP
// handler s.HTTP: one no WebSocket handler takes, or, at a path the Routes
// do not name, one that does not ask for a WebSocket (wantsWS) at all. (At a
// path the Routes name, anything else is a bad handshake.)
func (s *Server) plainHTTP(path string, wantsWS bool) bool {
	f, named := s.route(path)
	if f == nil {
		return true
	}
	return !named && !wantsWS
}

// ServeHTTP upgrades r to a WebSocket connection run by the handler that
// Routes or NewHandler give for r's path, so a Server can be mounted on any mux.
// Over HTTP/2, r is an RFC 8441 extended CONNECT and the connection runs on
// its stream, on this goroutine, until it ends (see docs/http2.md for what
// the embedding http.Server must allow).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, _ := s.route(r.URL.Path)
	s.upgradeHTTP(w, r, f, true)
}

// HTTPHandler returns an http.Handler that upgrades every request to a
// WebSocket connection run by a handler from f, under s's settings and
// connection table: mount one per path on any mux.
func (s *Server) HTTPHandler(f handler.Factory) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.upgradeHTTP(w, r, f, true) })
}

// upgradeHTTP answers an upgrade request on the http.Handler path and runs
// the connection with a handler from f (nil: 404). count tells whether the
// request is a new accepted connection for the Observer (a request on the
// standalone listener's fallback server was counted when accepted). It
// reports whether the handshake was accepted.
func (s *Server) upgradeHTTP(w http.ResponseWriter, r *http.Request, f handler.Factory, count bool) bool {
	s.init()
	if s.invalid != nil {
		s.logBad.Do(func() { s.logger().Error("ws4go: refusing every upgrade: invalid settings", "err", s.invalid) })
		http.Error(w, "invalid WebSocket server settings", http.StatusInternalServerError)
		return false
	}
	refuse := func(rej *handshake.Rejection) { s.refuseHTTP(w, rej) }
	if o := s.Observer; o != nil && count {
		o.Accepted()
	}
	if f == nil {
		refuse(handshake.Reject(observe.RejectNotFound, "no WebSocket handler for this path"))
		return false
	}
	// Count the upgrade in s.wg from here on, so that a Shutdown that
	// starts meanwhile waits for it (and for the connection it adopts)
	// instead of releasing the engine under it.
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		refuse(handshake.Reject(observe.RejectShuttingDown, "server shutting down"))
		return false
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	// The connection keeps its request (see handler.Conn.Request): over
	// HTTP/1.1, its header fields as bytes, bounded with the URL and
	// Host as the standalone listener bounds a head (over HTTP/2 the
	// stream holds the request anyway).
	var fields string
	if !s.DropRequest && !handshake.OverHTTP2(r) {
		fields = handshake.Fields(r.Header)
		if len(fields)+len(r.RequestURI)+len(r.Host) > handshake.MaxHeadSize {
			refuse(handshake.Reject(observe.RejectTooLarge, "request header fields too large"))
			return false
		}
	}
	res, rej := handshake.CheckRequest(r, &s.hcfg)
	if rej != nil {
		refuse(rej)
		return false
	}
	a, rej := s.runAccept(r, f, res)
	if rej != nil {
		refuse(rej)
		return false
	}
	p, ok := s.table.Reserve()
	if !ok {
		refuse(maxConnections())
		return false
	}
	// The connection made below holds the place; if none is, it goes
	// back here (the engines make it before they return).
	defer p.Release()
	// The request's context ends when ServeHTTP returns; keep a shallow
	// copy that outlives it for Conn.Request (not a deep Clone: that would
	// double the memory of a large header for the connection's start).
	req := r.WithContext(contextWithoutCancel(r))
	mk := func(tr wsconn.Transport) *wsconn.Conn {
		return s.newConn(tr, a.NewHandler, p, res, a.Data, wsconn.Request{Req: req, Fields: fields})
	}
	if handshake.OverHTTP2(r) {
		// The body is the stream: nobody but the connection reads it.
		req.Body = http.NoBody
		s.serveStream(w, r, res, mk)
		return true
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		refuse(handshake.Reject(observe.RejectInternal, "cannot take over the connection: "+err.Error()))
		return false
	}
	rest, err := hijacked(nc, brw)
	if err == nil {
		_ = nc.SetWriteDeadline(deadline(s.writeTimeout()))
		_, err = nc.Write(handshake.AppendResponse(nil, res))
		_ = nc.SetDeadline(noDeadline)
	}
	if err != nil {
		nc.Close()
		return false
	}
	s.engine.adopt(nc, mk, rest)
	return true
}

// hijacked returns the bytes the http server had already read past the
// request, and flushes anything it had buffered for writing.
func hijacked(nc net.Conn, brw *bufio.ReadWriter) ([]byte, error) {
	if err := brw.Writer.Flush(); err != nil {
		return nil, err
	}
	n := brw.Reader.Buffered()
	if n == 0 {
		return nil, nil
	}
	rest := make([]byte, n)
	_, err := brw.Reader.Read(rest)
	return rest, err
}

func (s *Server) rejected(why observe.Reason) {
	if o := s.Observer; o != nil {
		o.Rejected(why)
	}
}

// refused counts a refused handshake, and logs the panic of a user hook
// that caused it.
func (s *Server) refused(rej *handshake.Rejection) {
	if rej.Panic != nil {
		hook := "CheckOrigin"
		if rej.Site == observe.SiteAccept {
			hook = "Accept"
		}
		s.logger().Error("ws4go: "+hook+" panicked; refusing the handshake with 500", "panic", rej.Panic, "stack", string(rej.Stack))
		if o := s.Observer; o != nil {
			o.Panicked(rej.Site)
		}
	}
	s.rejected(rej.Why)
}

// refuseHTTP answers a refused handshake on the http.Handler path, as
// AppendRejection does on the raw path.
func (s *Server) refuseHTTP(w http.ResponseWriter, rej *handshake.Rejection) {
	s.refused(rej)
	for k, vs := range rej.Header {
		if handshake.UserHeader(k) {
			w.Header()[http.CanonicalHeaderKey(k)] = vs
		}
	}
	if len(w.Header()["Content-Type"]) == 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(rej.Status())
	_, _ = w.Write([]byte(rej.Body()))
}

// newConn makes the connection of an accepted handshake, holding the place
// p, with its request r; data is its first Data.
func (s *Server) newConn(tr wsconn.Transport, f handler.Factory, p *wsconn.Place, res *handshake.Result, data any, r wsconn.Request) *wsconn.Conn {
	c := wsconn.New(&s.wcfg, tr, s.newHandler(f), res.Subprotocol, r)
	c.Hold(p)
	if data != nil {
		c.SetData(data)
	}
	if res.Extensions != "" {
		c.EnableCompression(deflate.AnswerWindowBits(res.Extensions))
	}
	return c
}

// newHandler calls the factory of a new connection. A factory that panics
// costs only that connection: it is logged, and the connection, whose 101
// is already sent, is closed with 1011 at once.
func (s *Server) newHandler(f handler.Factory) (h handler.Handler) {
	defer func() {
		if v := recover(); v != nil {
			s.logger().Error("ws4go: handler factory panicked; closing the connection with 1011", "panic", v, "stack", string(debug.Stack()))
			if o := s.Observer; o != nil {
				o.Panicked(observe.SiteFactory)
			}
			h = failedHandler{}
		}
	}()
	if h = f(); h == nil {
		s.logger().Error("ws4go: handler factory returned nil; closing the connection with 1011")
		h = failedHandler{}
	}
	return h
}

// failedHandler stands in for a handler its factory could not make.
type failedHandler struct{ handler.Base }

func (failedHandler) Opened(c handler.Conn) {
	_ = c.Close(handler.CloseInternalError, "internal error")
}
