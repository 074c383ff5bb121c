package h2stream

import (
	"io"
	"sync"
)

// pipe is a stream's request body: Write hands its buffers to the HTTP/2
// transport's Read and returns once all their bytes were taken, so the
// pipe holds no copy (and no memory of its own) and one Read takes a frame
// header and its payload together, as one DATA frame.
type pipe struct {
	wmu   sync.Mutex    // one Write at a time; closeWrite waits for it
	give  chan [][]byte // Write → Read
	taken chan struct{} // Read → Write: every byte given was copied
	done  chan struct{} // closed by end
	once  sync.Once
	err   error    // why done was closed: io.EOF after closeWrite
	cur   [][]byte // what Read has not copied yet (Read's goroutine only)
}

func newPipe() *pipe {
	return &pipe{give: make(chan [][]byte), taken: make(chan struct{}, 1), done: make(chan struct{})}
}

// Write waits until the transport has read all of bufs, or the pipe ends.
func (p *pipe) Write(bufs [][]byte) (int, error) {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	if n == 0 {
		return 0, nil
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	select {
	case p.give <- bufs:
	case <-p.done:
		return 0, p.err
	}
	select {
	case <-p.taken:
		return n, nil
	case <-p.done:
		// The transport may close the body right after taking the
		// last bytes (the server ended the stream at once): they went.
		select {
		case <-p.taken:
			return n, nil
		default:
			return 0, p.err
		}
	}
}

// Read is called by the HTTP/2 transport's goroutine writing the request
// body. It copies as many of the given buffers as fit in b.
func (p *pipe) Read(b []byte) (int, error) {
	if len(p.cur) == 0 {
		select {
		case p.cur = <-p.give:
		case <-p.done:
			return 0, p.err
		}
	}
	n := 0
	for len(p.cur) > 0 && n < len(b) {
		k := copy(b[n:], p.cur[0])
		n += k
		if k == len(p.cur[0]) {
			p.cur = p.cur[1:]
		} else {
			p.cur[0] = p.cur[0][k:]
		}
	}
	if len(p.cur) == 0 {
		p.cur = nil
		p.taken <- struct{}{}
	}
	return n, nil
}

// Close is called by the transport once it is done with the body.
func (p *pipe) Close() error {
	p.end(io.ErrClosedPipe)
	return nil
}

// closeWrite ends the body after the Write in progress, if any: the
// transport then sends END_STREAM.
func (p *pipe) closeWrite() {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	p.end(io.EOF)
}

// end closes the pipe with err (the first reason wins).
func (p *pipe) end(err error) {
	p.once.Do(func() {
		p.err = err
		close(p.done)
	})
}
