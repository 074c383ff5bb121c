//go:build linux

package netpoll

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Registration tags, in the Pad word of an epoll event (a connection's
// generation is positive).
const (
	tagWake   = -1 // the engine's eventfd
	tagListen = -2 // a listening socket
)

// connEvents: one registration per connection for its whole life,
// edge-triggered; who processes it is decided by conn.pend, not by re-arming.
const connEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET

// inputEvents are the events that call for a read.
const inputEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR

// hangupEvents say the peer is gone or failing: read until EAGAIN or EOF,
// a short read does not mean drained then.
const hangupEvents = unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR

// evFlush is not an epoll event (none has this bit): it asks a turn to
// flush the connection's queue, to which FlushSoon passed the right to
// write.
const evFlush = 1 << 20

func epollAdd(epfd, fd int, events uint32, tag int32) error {
	return unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd), Pad: tag})
}

func epollDel(epfd, fd int) error {
	return unix.EpollCtl(epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

// epollPoll returns the ready events without waiting. It does not tell the
// scheduler about the system call (it never blocks), which saves the
// bookkeeping of a blocking one; waiting is left to the runtime's poller.
func epollPoll(epfd int, events []unix.EpollEvent) int {
	r, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd),
		uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if errno != 0 {
		return 0
	}
	return int(r)
}

// writable reports whether the socket has room for more bytes now.
func writable(fd int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(pfd, 0)
	return err == nil && n == 1 && pfd[0].Revents&(unix.POLLOUT|unix.POLLERR|unix.POLLHUP) != 0
}
