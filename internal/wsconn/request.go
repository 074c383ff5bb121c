package wsconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"

	"github.com/ws4go/ws4go/handler"
	"github.com/ws4go/ws4go/internal/handshake"
)

// Request is what a Conn is given of its upgrade request, to keep for
// handler.Conn.Request (unless Config.DropRequest: then only until Opened
// returns). The idle connection keeps bytes, not a parsed request (which
// holds 4 to 16 times their size: see internal/handshake's keep.go):
//
//   - Head, the raw request head (the standalone listener): kept, and
//     parsed on demand; Req, if given (the accept hook's), is returned
//     during Opened, and only its TLS state is kept;
//   - Req with Fields (its header fields, handshake.Fields: net/http's
//     request over HTTP/1.1): Req is returned during Opened, then kept
//     without its Header and context, its Header rebuilt from Fields on
//     demand;
//   - Req alone: kept whole (a request that lives as long as the
//     connection anyway, as an HTTP/2 stream's, or the client's own).
type Request struct {
	Head   string
	Req    *http.Request
	Fields string
}

// keepRequestLocked reduces the request to what is kept once Opened has
// returned (see Request). The request's context goes too unless Context was
// made (it may hold anything a middleware put in it).
func (c *Conn) keepRequestLocked() {
	if c.cfg.DropRequest {
		c.head = ""
	}
	x := c.x
	if x == nil {
		return
	}
	switch {
	case c.cfg.DropRequest:
		x.req = nil
	case c.has(stFields):
		x.req = withoutHeader(x.req)
	case c.head != "" && x.req != nil:
		// The accept hook's request, or one parsed during Opened.
		x.tls, x.req = x.req.TLS, nil
	}
	if x.cancel == nil {
		x.ctx = nil
	}
	if x.empty() {
		c.x = nil
	}
}

// Request implements handler.Conn. Until Opened returns every call returns
// the same request (given to New, or parsed from the raw head on first use);
// afterwards, unless New was given a request to keep whole, each call builds
// a new one from what is kept.
func (c *Conn) Request() *http.Request {
	c.mu.Lock()
	var req *http.Request
	var state *tls.ConnectionState
	if c.x != nil {
		req, state = c.x.req, c.x.tls
	}
	head, fields, opened := c.head, c.has(stFields), c.has(stOpened)
	c.mu.Unlock()
	switch {
	case opened && c.cfg.DropRequest:
		panic(handler.ErrRequestDropped)
	case req != nil && (!opened || !fields):
		return req
	case fields:
		h, err := handshake.ParseFields(head)
		if err != nil {
			panic(fmt.Sprintf("ws4go: the kept header fields do not parse (a bug): %v", err))
		}
		r := req.WithContext(context.Background()) // a copy
		r.Header = h
		return r
	case head == "":
		return nil // New was given no request
	}
	r, err := handshake.ParseRequest(head)
	if err != nil {
		panic(fmt.Sprintf("ws4go: the kept request head does not parse (a bug): %v", err))
	}
	if a := c.tr.RemoteAddr(); a != nil {
		// As net/http and the accept hook's request have it.
		r.RemoteAddr = a.String()
	}
	r.TLS = state
	if !opened {
		c.mu.Lock()
		if !c.has(stOpened) {
			if x := c.rareLocked(); x.req == nil {
				x.req = r
			} else {
				r = x.req // another goroutine parsed it first
			}
		}
		c.mu.Unlock()
	}
	return r
}

// withoutHeader returns a copy of r to keep with its header fields as
// bytes: without its Header, context and body, with everything else (URL,
// Host, RemoteAddr, TLS, the mux's path values).
func withoutHeader(r *http.Request) *http.Request {
	k := r.WithContext(context.Background())
	k.Header, k.Trailer = nil, nil
	k.Body, k.GetBody = http.NoBody, nil
	k.Form, k.PostForm, k.MultipartForm = nil, nil, nil
	return k
}
