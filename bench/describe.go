package bench

import (
	"fmt"
	"strings"
)

// describe says in words what a scenario measures under cfg; for echo,
// rate is the fixed rate once known, from the server whose peak set it.
func describe(sc Scenario, cfg *Config, rate float64, from string) string {
	switch sc {
	case IdleWSS:
		return describe(Idle, cfg, rate, from) + "; " + wssClient
	case EchoWSS:
		return fmt.Sprintf("%d connections, %d-byte binary messages echoed in closed loop (one message in flight per connection; no fixed-rate phase) for %v after a %v warmup; latency is the round trip; %s", cfg.EchoConns, cfg.Size, cfg.Duration, cfg.Warmup, wssClient)
	case IdleH2, EchoH2:
		return strings.Replace(describe(sc.http1(), cfg, rate, from), wssClient, fmt.Sprintf(h2Client, cfg.H2Streams), 1)
	case HandshakeWSS:
		return fmt.Sprintf("%d cycles in flight, each: connect, TLS handshake, WebSocket handshake, closing handshake; %v measured after a %v warmup; %s", cfg.ChurnConc, cfg.Duration, cfg.Warmup, wssClient)
	case Idle:
		ramp := fmt.Sprintf("as fast as they are accepted (%d handshakes in flight)", defaultMaxPending)
		if cfg.Ramp > 0 {
			ramp = fmt.Sprintf("at %.0f/s", cfg.Ramp)
		}
		return fmt.Sprintf("%d connections opened %s, then held for %v; memory is read after the server collected its garbage and returned free memory to the OS (its /gc), before the first connection and after the hold, and divided by the connections held", cfg.IdleConns, ramp, cfg.Hold)
	case Echo:
		fixed := "half of the lowest closed-loop peak among the servers, the same for all"
		switch {
		case cfg.Rate > 0:
			fixed = fmt.Sprintf("%s msgs/s (-rate), the same for all", formatValue(cfg.Rate))
		case rate > 0:
			fixed = fmt.Sprintf("%s msgs/s for all: half of the lowest closed-loop peak (%s's)", formatValue(rate), from)
		}
		return fmt.Sprintf("%d connections, %d-byte binary messages echoed: closed loop (one message in flight per connection) for %v after a %v warmup; then, once every server's closed loop is done, each server again, in a fresh process, at a fixed rate of %s for %v after a %v warmup; latency is the round trip, from the time each message was due", cfg.EchoConns, cfg.Size, cfg.Duration, cfg.Warmup, fixed, cfg.Duration, cfg.Warmup)
	case Broadcast:
		return fmt.Sprintf("%d connections to /broadcast, one of which publishes %d-byte messages that the server sends to all of them (the publisher too); closed loop, %d message(s) in flight: the next is published when the last has reached every connection; %v measured after a %v warmup%s", cfg.BroadcastConns, cfg.Size, cfg.Window, cfg.Duration, cfg.Warmup, gatherNote(cfg))
	case BroadcastRate, Topics, Generator:
		return describeFanout(sc, cfg)
	case Churn:
		return fmt.Sprintf("%d cycles in flight, each: connect, handshake, one %d-byte message echoed, closing handshake, server closes; %v measured after a %v warmup", cfg.ChurnConc, cfg.Size, cfg.Duration, cfg.Warmup)
	}
	return string(sc)
}

// wssClient describes the client of the wss:// scenarios.
const wssClient = "over wss://: TLS 1.3 with an ECDSA P-256 certificate made for the run, from a crypto/tls client (a goroutine per connection, Go's default key exchange X25519MLKEM768, no session resumption: every handshake is a full one)"

// h2Client describes the client of the HTTP/2 scenarios (%d: streams per
// TLS connection).
const h2Client = "each connection a WebSocket over HTTP/2 (RFC 8441 extended CONNECT), up to %d streams sharing each TLS connection; TLS as in the wss:// scenarios (TLS 1.3, an ECDSA P-256 certificate made for the run, a crypto/tls client with Go's default key exchange X25519MLKEM768), x/net/http2's client connection; the client reads each stream ahead in a goroutine, so that the idle check is a read that times out as over wss:// (the stream's own deadline would reset it)"
