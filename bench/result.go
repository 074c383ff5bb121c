package bench

import (
	"fmt"
	"math"
	"time"
)

// Metric is one figure of one server in one scenario.
type Metric struct {
	Name  string  `json:"name"`
	Unit  string  `json:"unit,omitempty"`
	Value float64 `json:"value"`
	// Better is "higher" or "lower" for figures that rank servers (the
	// tables give ratios for those), "" for context.
	Better string `json:"better,omitempty"`
}

// ServerResult is one server's figures in one scenario.
type ServerResult struct {
	Server  string   `json:"server"`
	Error   string   `json:"error,omitempty"`
	Metrics []Metric `json:"metrics,omitempty"`
	// Warnings say what makes the figures doubtful without spoiling the
	// run: lost connections or messages, a fixed rate not delivered, a
	// machine busy with other work. The tables mark the ratios of a
	// result with warnings.
	Warnings []string `json:"warnings,omitempty"`
	// Notes say how the figures were obtained where that differs from
	// the usual (several client processes).
	Notes []string `json:"notes,omitempty"`
}

// Get returns the value of metric name.
func (r *ServerResult) Get(name string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Name == name {
			return m.Value, true
		}
	}
	return 0, false
}

func (r *ServerResult) add(name, unit, better string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	r.Metrics = append(r.Metrics, Metric{Name: name, Unit: unit, Value: v, Better: better})
}

func (r *ServerResult) note(format string, a ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, a...))
}

func (r *ServerResult) warn(format string, a ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, a...))
}

// ScenarioReport is every server's result in one scenario.
type ScenarioReport struct {
	Scenario    Scenario       `json:"scenario"`
	Description string         `json:"description"`
	Results     []ServerResult `json:"results"`
	// Rate is the echo scenario's fixed rate, the same for every server
	// (messages/s).
	Rate float64 `json:"rate,omitempty"`
}

// Report is a whole benchmark run.
type Report struct {
	Started   time.Time        `json:"started"`
	Finished  time.Time        `json:"finished"`
	Machine   Machine          `json:"machine"`
	Config    ReportConfig     `json:"config"`
	Notes     []string         `json:"notes,omitempty"` // about the whole run
	Scenarios []ScenarioReport `json:"scenarios"`
}

// ReportConfig is the part of Config a report records.
type ReportConfig struct {
	Servers        []string `json:"servers"`
	IdleConns      int      `json:"idle_conns"`
	EchoConns      int      `json:"echo_conns"`
	BroadcastConns int      `json:"broadcast_conns"`
	ChurnConc      int      `json:"churn_concurrency"`
	H2Streams      int      `json:"h2_streams_per_conn,omitempty"` // set when an HTTP/2 scenario ran
	Size           int      `json:"size"`
	Rate           float64  `json:"rate,omitempty"` // -rate, 0: half of the lowest peak
	Duration       string   `json:"duration"`
	Warmup         string   `json:"warmup"`
	Hold           string   `json:"hold"`
	Ramp           float64  `json:"ramp"`
	Loops          int      `json:"client_loops"`
	Procs          int      `json:"client_procs"`
	PerProcess     int      `json:"conns_per_client_process"`

	// The fixed-rate fan-out scenarios (broadcast-rate, topics,
	// generator), when one of them ran.
	RateConns        int     `json:"rate_conns,omitempty"`
	BroadcastRate    float64 `json:"broadcast_rate,omitempty"`
	GenBatch         int     `json:"generator_batch,omitempty"`
	TopicsConns      int     `json:"topics_conns,omitempty"`
	Topics           int     `json:"topics,omitempty"`
	TopicsPerConn    int     `json:"topics_per_conn,omitempty"`
	TopicsPublishers int     `json:"topics_publishers,omitempty"`
	TopicsRate       float64 `json:"topics_rate,omitempty"`
	Gather           string  `json:"client_gather,omitempty"`
}
