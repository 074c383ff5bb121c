package bench

import (
	"bytes"
	"strconv"
)

// The topics protocol (see the package documentation), the same for every
// server: on /topics, a text message "sub T1 T2 ..." subscribes its
// sender to each topic named and is answered with the text message "ok"
// once they all hold; a binary message "T PAYLOAD" (the topic's name, one
// space, the payload) publishes PAYLOAD, as a binary message, to every
// subscriber of T. Topic names are "t0", "t1", ... here; servers take any
// name without a space. The peers parse it the same way
// (bench/peers/internal/peer).

// subscribeCmd starts a subscribe request; topicsOK answers it.
const (
	subscribeCmd = "sub "
	topicsOK     = "ok"
)

// topicsOf is the j-th of the perConn topics (out of n, perConn <= n)
// connection i subscribes to: (perConn·i + j) mod n. Connections 0 to N-1
// take the numbers 0 to perConn·N-1 once each, so every topic gets
// perConn·N/n subscribers, rounded up or down.
func topicsOf(i, j, perConn, n int) int {
	return (perConn*i + j) % n
}

// appendTopic appends the name of topic t.
func appendTopic(dst []byte, t int) []byte {
	return strconv.AppendInt(append(dst, 't'), int64(t), 10)
}

// appendSubscribe appends connection i's subscribe request.
func appendSubscribe(dst []byte, i, perConn, n int) []byte {
	dst = append(dst, "sub"...)
	for j := range min(perConn, n) {
		dst = appendTopic(append(dst, ' '), topicsOf(i, j, perConn, n))
	}
	return dst
}

// parseSubscribe returns the topics a subscribe request names, and false
// if m is not one.
func parseSubscribe(m []byte) ([][]byte, bool) {
	rest, ok := bytes.CutPrefix(m, []byte(subscribeCmd))
	if !ok {
		return nil, false
	}
	topics := bytes.Fields(rest)
	return topics, len(topics) > 0
}

// splitPublish splits a publish request into its topic and payload, and
// reports false if m is not one.
func splitPublish(m []byte) (topic, payload []byte, ok bool) {
	topic, payload, ok = bytes.Cut(m, []byte{' '})
	return topic, payload, ok && len(topic) > 0
}
