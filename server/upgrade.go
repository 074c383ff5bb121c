package server

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"

	"github.com/gobwas/httphead"

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
	// factory and res are set when the handshake is accepted.
	factory handler.Factory
	res     *handshake.Result
	// fallback: not a WebSocket request; hand the connection to s.HTTP.
	fallback bool
}

// decide answers a complete raw request head (the standalone path of both
// engines).
func (s *Server) decide(head []byte) decision {
	refuse := func(rej *handshake.Rejection) decision {
		s.rejected(rej.Why)
		return decision{response: handshake.AppendRejection(nil, rej)}
	}
	path := requestPath(head)
	if s.HTTP != nil && s.plainHTTP(path, headerValues(head, "Upgrade")) {
		return decision{fallback: true}
	}
	f, _ := s.route(path)
	if f == nil {
		return refuse(handshake.Reject(observe.RejectNotFound, "no WebSocket handler for this path"))
	}
	if s.closing.Load() {
		return refuse(handshake.Reject(observe.RejectShuttingDown, "server shutting down"))
	}
	res, rej := handshake.CheckHead(head, &s.hcfg)
	if rej != nil {
		return refuse(rej)
	}
	return decision{response: handshake.AppendResponse(nil, res), factory: f, res: res}
}

// requestPath is the path of the request line's target ("" if malformed;
// the handshake check then refuses it).
func requestPath(head []byte) string {
	line, _, _ := bytes.Cut(head, []byte("\r\n"))
	rl, ok := httphead.ParseRequestLine(line)
	if !ok {
		return ""
	}
	u, err := url.ParseRequestURI(string(rl.URI))
	if err != nil {
		return ""
	}
	return u.Path
}

// plainHTTP reports whether a request for path, with these Upgrade header
// values, belongs to the plain HTTP handler s.HTTP: one no WebSocket handler
// takes, or, at a path the Routes do not name, one that does not ask for a
// WebSocket at all. (At a path the Routes name, anything else is a bad
// handshake.)
func (s *Server) plainHTTP(path string, upgrade []string) bool {
	f, named := s.route(path)
	if f == nil {
		return true
	}
	if named {
		return false
	}
	for _, v := range upgrade {
		if strings.Contains(strings.ToLower(v), "websocket") {
			return false
		}
	}
	return true
}

// headerValues returns the values of a raw request head's header field name.
func headerValues(head []byte, name string) []string {
	var vs []string
	for _, line := range bytes.Split(head, []byte("\r\n"))[1:] {
		k, v, ok := httphead.ParseHeaderLine(line)
		if ok && bytes.EqualFold(k, []byte(name)) {
			vs = append(vs, string(v))
		}
	}
	return vs
}

// ServeHTTP upgrades r to a WebSocket connection run by the handler that
// Routes or Handler give for r's path, so a Server can be mounted on any mux.
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
// standalone listener's fallback server was counted when accepted).
func (s *Server) upgradeHTTP(w http.ResponseWriter, r *http.Request, f handler.Factory, count bool) {
	s.init()
	refuse := func(rej *handshake.Rejection) {
		s.rejected(rej.Why)
		for k, vs := range rej.Header {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(rej.Status())
		_, _ = w.Write([]byte(rej.Reason + "\n"))
	}
	if o := s.Observer; o != nil && count {
		o.Accepted()
	}
	if f == nil {
		refuse(handshake.Reject(observe.RejectNotFound, "no WebSocket handler for this path"))
		return
	}
	// Count the upgrade in s.wg from here on, so that a Shutdown that
	// starts meanwhile waits for it (and for the connection it adopts)
	// instead of releasing the engine under it.
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		refuse(handshake.Reject(observe.RejectShuttingDown, "server shutting down"))
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	res, rej := handshake.CheckRequest(r, &s.hcfg)
	if rej != nil {
		refuse(rej)
		return
	}
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		refuse(handshake.Reject(observe.RejectInternal, "cannot take over the connection: "+err.Error()))
		return
	}
	rest, err := hijacked(nc, brw)
	if err == nil {
		_ = nc.SetWriteDeadline(deadline(s.writeTimeout()))
		_, err = nc.Write(handshake.AppendResponse(nil, res))
		_ = nc.SetDeadline(noDeadline)
	}
	if err != nil {
		nc.Close()
		return
	}
	// The request's context ends when ServeHTTP returns; keep a copy
	// that outlives it for Conn.Request.
	req := r.Clone(contextWithoutCancel(r))
	s.engine.adopt(nc, func(tr wsconn.Transport) *wsconn.Conn {
		return s.newConn(tr, f, res, nil, req)
	}, rest)
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

// newConn makes the connection of an accepted handshake (head: the raw
// request head, or req: the *http.Request).
func (s *Server) newConn(tr wsconn.Transport, f handler.Factory, res *handshake.Result, head []byte, req *http.Request) *wsconn.Conn {
	c := wsconn.New(&s.wcfg, tr, s.newHandler(f), res.Subprotocol, head, req)
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
