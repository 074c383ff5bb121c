//go:build linux

package netpoll

import (
	"unsafe"

	"github.com/gobwas/ws"
	"golang.org/x/sys/unix"
)

// smallFrame is the largest frame written with one write(2) from a copy on
// the stack rather than with writev (the copy buffer is zeroed on every
// call, so it is kept small).
const smallFrame = 512

// writeFrame writes hdr[:hn] then p to the non-blocking fd, and returns how
// much it wrote before the socket was full. Nothing escapes to the heap.
func writeFrame(fd int, hdr *[ws.MaxHeaderSize]byte, hn int, p []byte) (int, error) {
	if total := hn + len(p); total <= smallFrame {
		var b [smallFrame]byte
		copy(b[copy(b[:], hdr[:hn]):], p)
		return writeSome(fd, b[:total])
	}
	if hn == 0 {
		return writeSome(fd, p)
	}
	written := 0
	for written < hn {
		var iov [2]unix.Iovec
		iov[0].Base = &hdr[written]
		iov[0].SetLen(hn - written)
		iov[1].Base = &p[0]
		iov[1].SetLen(len(p))
		r, _, errno := unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), 2)
		switch errno {
		case 0:
			written += int(r)
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return written, nil
		default:
			return written, errno
		}
	}
	n, err := writeSome(fd, p[written-hn:])
	return written + n, err
}

// writeSome writes p, stopping without an error when the socket is full.
func writeSome(fd int, p []byte) (int, error) {
	total := 0
	for total < len(p) {
		n, err := unix.Write(fd, p[total:])
		switch err {
		case nil:
			total += n
		case unix.EINTR:
		case unix.EAGAIN:
			return total, nil
		default:
			return total, err
		}
	}
	return total, nil
}

// maxIovecs is how many buffers one writev of writeBufs takes.
const maxIovecs = 64

// writeBufs writes bufs to the non-blocking fd with writev until they are
// written or the socket is full, from an iovec array on the stack: nothing
// is copied or allocated, however often the socket takes only part.
func writeBufs(fd int, bufs [][]byte) (int, error) {
	var iov [maxIovecs]unix.Iovec
	total := 0
	i, off := 0, 0 // bufs[i][off:] is next
	for {
		k := 0
		for j := i; j < len(bufs) && k < len(iov); j++ {
			b := bufs[j]
			if j == i {
				b = b[off:]
			}
			if len(b) > 0 {
				iov[k].Base = &b[0]
				iov[k].SetLen(len(b))
				k++
			}
		}
		if k == 0 {
			return total, nil
		}
		// One buffer (a frame alone in its queue) goes with write(2),
		// which costs the kernel less than a writev of one.
		var r uintptr
		var errno unix.Errno
		if k == 1 {
			r, _, errno = unix.Syscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(iov[0].Base)), uintptr(iov[0].Len))
		} else {
			r, _, errno = unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(k))
		}
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return total, nil
		default:
			return total, errno
		}
		n := int(r)
		total += n
		for n > 0 {
			if left := len(bufs[i]) - off; n < left {
				off += n
				n = 0
			} else {
				n -= left
				i, off = i+1, 0
			}
		}
	}
}
