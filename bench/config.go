package bench

import (
	"io"
	"time"

	"github.com/ws4go/ws4go/server"
)

// Config is a benchmark run: which scenarios, which servers, how much load.
type Config struct {
	Scenarios []Scenario
	Servers   []string // names from Servers (default: ServerNames, all but the extras)
	BinDir    string   // built servers (see Build)
	Out       string   // results folder (for the servers' logs; WriteResults writes the rest)
	Port      int      // first port; server i uses Port+10*i and the next (default 9400)

	// Client processes: 0 picks ceil(conns/PerProcess()) per scenario.
	Procs      int
	WorkerArgs []string // command that runs a worker (ws4go bench -worker)
	Loops      int      // event loops per client process (default 2)
	SourcesPer int      // source addresses per client process (default 8)

	IdleConns      int     // idle: connections held (default 15,000)
	Ramp           float64 // idle and broadcast: connections started per second (0: unlimited)
	EchoConns      int     // echo: connections (default 500)
	BroadcastConns int     // broadcast: connections, the publisher included (default 15,000)
	Window         int     // broadcast closed loop: messages in flight (default 1)
	ChurnConc      int     // churn: cycles in flight (default 50)
	H2Streams      int     // idle-h2, echo-h2: WebSockets per TLS connection (default server.H2MaxStreams, ws4go's limit)
	Size           int     // message size in bytes (default 64)
	Rate           float64 // echo fixed-rate phase: messages/s for every server (0: half of the lowest closed-loop peak)
	Duration       time.Duration
	Warmup         time.Duration
	Hold           time.Duration // idle: how long the connections are held (default Duration)
	Pause          time.Duration // between two servers (default 1 s)

	RateConns     int     // broadcast-rate, generator: connections, the publisher included (default 10,000)
	BroadcastRate float64 // broadcast-rate: messages published per second (default 40)
	GenBatch      int     // generator: frames the publisher writes at once (default 16)

	TopicsConns      int     // topics: subscribing connections (default 15,000)
	Topics           int     // topics: topics (default 1,000)
	TopicsPerConn    int     // topics: topics each connection subscribes to (default 10)
	TopicsPublishers int     // topics: publishing connections, besides TopicsConns (default 10)
	TopicsRate       float64 // topics: messages published per second over all topics (default 2,500)

	// Gather is how long a client event loop waits for more events after
	// an epoll_wait that returned few, in the fan-out scenarios (see
	// runSpec.Gather; default 500 µs, negative: none).
	Gather time.Duration

	// Progress receives the progress bar or lines; Log the notes.
	Progress io.Writer
	Log      io.Writer

	// tlsArgs are the servers' -tls-cert and -tls-key for the wss://
	// scenarios (Run writes a certificate for the run).
	tlsArgs []string
}

func (c *Config) defaults() {
	if len(c.Scenarios) == 0 {
		c.Scenarios = Scenarios
	}
	if len(c.Servers) == 0 {
		c.Servers = ServerNames()
	}
	if c.Port == 0 {
		c.Port = 9400
	}
	if c.Loops == 0 {
		c.Loops = 2
	}
	if c.SourcesPer == 0 {
		c.SourcesPer = 8
	}
	def := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.IdleConns, 15000)
	def(&c.EchoConns, 500)
	def(&c.BroadcastConns, 15000)
	def(&c.Window, 1)
	def(&c.RateConns, 10000)
	def(&c.GenBatch, 16)
	def(&c.TopicsConns, 15000)
	def(&c.Topics, 1000)
	def(&c.TopicsPerConn, 10)
	def(&c.TopicsPublishers, 10)
	if c.BroadcastRate <= 0 {
		c.BroadcastRate = 40
	}
	if c.TopicsRate <= 0 {
		c.TopicsRate = 2500
	}
	switch {
	case c.Gather == 0:
		c.Gather = 500 * time.Microsecond
	case c.Gather < 0:
		c.Gather = 0
	}
	def(&c.ChurnConc, 50)
	if c.H2Streams <= 0 {
		c.H2Streams = server.H2MaxStreams
	}
	def(&c.Size, 64)
	if c.Size < stampSize {
		c.Size = stampSize
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Hold == 0 {
		c.Hold = c.Duration
	}
	if c.Pause == 0 {
		c.Pause = time.Second
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// conns is the number of connections scenario sc opens.
func (c *Config) conns(sc Scenario) int {
	switch sc.plain() {
	case Idle:
		return c.IdleConns
	case Echo:
		return c.EchoConns
	case Broadcast:
		return c.BroadcastConns
	case BroadcastRate, Generator:
		return c.RateConns
	case Topics:
		return c.TopicsConns + c.TopicsPublishers
	case Churn, HandshakeWSS:
		return c.ChurnConc
	}
	return 0
}

// tcpConns is the number of TCP connections scenario sc opens: over
// HTTP/2, H2Streams WebSockets share one.
func (c *Config) tcpConns(sc Scenario) int {
	n := c.conns(sc)
	if sc.h2() {
		return (n + c.H2Streams - 1) / c.H2Streams
	}
	return n
}
