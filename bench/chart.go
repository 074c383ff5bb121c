package bench

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// chartPanel is one bar chart of a scenario's chart: one bar per server, or
// a group of bars (one per metric) per server.
type chartPanel struct {
	title   string
	metrics []string
	legend  []string
	log     bool // logarithmic y axis (latencies spanning decades)
}

func init() {
	chartPanels[IdleWSS] = chartPanels[Idle]
	chartPanels[IdleH2] = chartPanels[Idle]
}

// chartPanels are the headline figures charted for each scenario.
var chartPanels = map[Scenario][]chartPanel{
	Idle: {
		{title: "Server RSS per idle connection (KiB, lower is better)", metrics: []string{"server RSS per connection"}},
		{title: "Handshakes per second (higher is better)", metrics: []string{"handshakes/s"}},
	},
	Echo: {
		{title: "Closed-loop echo, messages/s (higher is better)", metrics: []string{"msgs/s"}},
		{title: "Latency at one fixed rate for all, µs, log scale (lower is better)", metrics: []string{"p50 at fixed rate", "p99 at fixed rate", "p99.9 at fixed rate"}, legend: []string{"p50", "p99", "p99.9"}, log: true},
	},
	EchoWSS: {
		{title: "Closed-loop echo over wss://, messages/s (higher is better)", metrics: []string{"msgs/s"}},
		{title: "Server CPU per message, µs (lower is better)", metrics: []string{"server CPU per message"}},
	},
	EchoH2: {
		{title: "Closed-loop echo over HTTP/2 streams, messages/s (higher is better)", metrics: []string{"msgs/s"}},
		{title: "Server CPU per message, µs (lower is better)", metrics: []string{"server CPU per message"}},
	},
	HandshakeWSS: {
		{title: "TLS + WebSocket handshakes per second (higher is better)", metrics: []string{"handshakes/s"}},
		{title: "Server CPU per handshake, µs (lower is better)", metrics: []string{"server CPU per handshake"}},
	},
	Broadcast: {
		{title: "Deliveries per second (higher is better)", metrics: []string{"deliveries/s"}},
		{title: "Time to reach every connection, ms (lower is better)", metrics: []string{"fan-out p50", "fan-out p99"}, legend: []string{"p50", "p99"}},
	},
	BroadcastRate: {
		{title: "Deliveries per second at one offered rate (higher is better)", metrics: []string{"deliveries/s"}},
		{title: "Delivery latency, ms, log scale (lower is better)", metrics: []string{"delivery p50", "delivery p99"}, legend: []string{"p50", "p99"}, log: true},
	},
	Topics: {
		{title: "Deliveries per second at one offered rate (higher is better)", metrics: []string{"deliveries/s"}},
		{title: "Server heap per subscription, bytes (lower is better)", metrics: []string{"server heap per subscription"}},
	},
	Generator: {
		{title: "Deliveries the client reads per second (higher is better)", metrics: []string{"deliveries/s"}},
		{title: "Client CPU per delivery, µs (lower is better)", metrics: []string{"client CPU per delivery"}},
	},
	Churn: {
		{title: "Connections per second (higher is better)", metrics: []string{"connections/s"}},
		{title: "Connect-echo-close cycle, ms (lower is better)", metrics: []string{"cycle p50", "cycle p99"}, legend: []string{"p50", "p99"}},
	},
}

var (
	ws4goShades = []string{"#e0735f", "#c0392b", "#7b241c"}
	peerShades  = []string{"#aab7b8", "#717d7e", "#424949"}
)

// writeChart draws a scenario's headline figures as an SVG bar chart, ws4go
// in red, the peers in grey. It reports false if there was nothing to draw.
func writeChart(w io.Writer, sr *ScenarioReport) bool {
	panels := chartPanels[sr.Scenario]
	if len(panels) == 0 || len(sr.Results) == 0 {
		return false
	}
	const (
		pw, ph                  = 460, 340
		left, right, top, below = 70, 16, 48, 96
	)
	width := pw * len(panels)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`+"\n", width, ph, width, ph)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, ph)
	drew := false
	for pi, p := range panels {
		x0 := float64(pi * pw)
		plotW := float64(pw - left - right)
		plotH := float64(ph - top - below)
		fmt.Fprintf(&b, `<text x="%.1f" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", x0+10, esc(p.title))
		maxV := 0.0
		for _, r := range sr.Results {
			for _, m := range p.metrics {
				if v, ok := r.Get(m); ok {
					maxV = math.Max(maxV, v)
				}
			}
		}
		if maxV <= 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d">no data</text>`+"\n", x0+left, top+40)
			continue
		}
		drew = true
		var yOf func(float64) float64
		var ticks []float64
		if p.log {
			lo, hi := logRange(sr, p.metrics)
			yOf = func(v float64) float64 {
				v = math.Max(v, lo)
				return float64(top) + plotH*(1-(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo)))
			}
			for t := lo; t <= hi*1.001; t *= 10 {
				ticks = append(ticks, t)
			}
		} else {
			top1, step := niceScale(maxV)
			yOf = func(v float64) float64 { return float64(top) + plotH*(1-v/top1) }
			for t := 0.0; t <= top1+step/2; t += step {
				ticks = append(ticks, t)
			}
		}
		for _, t := range ticks {
			y := yOf(t)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e5e5e5"/>`+"\n", x0+left, y, x0+left+plotW, y)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n", x0+left-6, y+4, esc(shortValue(t)))
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x0+left, top, x0+left, float64(top)+plotH)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`+"\n", x0+left, float64(top)+plotH, x0+left+plotW, float64(top)+plotH)
		n := len(sr.Results)
		slot := plotW / float64(n)
		k := len(p.metrics)
		barW := math.Min(40, slot*0.8/float64(k))
		for i, r := range sr.Results {
			spec, _ := LookupServer(r.Server)
			shades := peerShades
			if spec.WS4Go {
				shades = ws4goShades
			}
			cx := x0 + left + slot*(float64(i)+0.5)
			gx := cx - barW*float64(k)/2
			for j, m := range p.metrics {
				v, ok := r.Get(m)
				if !ok {
					continue
				}
				color := shades[min(j+boolInt(k == 1), len(shades)-1)]
				y := yOf(v)
				fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s</title></rect>`+"\n",
					gx+barW*float64(j), y, barW-1, float64(top)+plotH-y, color, esc(r.Server), esc(m), esc(formatValue(v)))
				if k == 1 {
					fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11" fill="#222">%s</text>`+"\n",
						gx+barW*(float64(j)+0.5), y-4, esc(shortValue(v)))
				} else { // vertical, so that neighbours do not overlap
					tx, ty := gx+barW*(float64(j)+0.5)+3, y-3
					fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" fill="#222" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
						tx, ty, tx, ty, esc(shortValue(v)))
				}
			}
			weight := "normal"
			if spec.WS4Go {
				weight = "bold"
			}
			ly := float64(top) + plotH + 14
			label := r.Server
			if r.Error != "" {
				label += " (n/a)"
			}
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" font-size="11" font-weight="%s" transform="rotate(-40 %.1f %.1f)">%s</text>`+"\n",
				cx+4, ly, weight, cx+4, ly, esc(label))
		}
		if len(p.legend) > 0 {
			lx := x0 + left + plotW - 60*float64(len(p.legend))
			for j, name := range p.legend {
				fmt.Fprintf(&b, `<rect x="%.1f" y="30" width="10" height="10" fill="%s"/><text x="%.1f" y="39" font-size="11">%s</text>`+"\n",
					lx+60*float64(j), peerShades[min(j, len(peerShades)-1)], lx+60*float64(j)+14, esc(name))
			}
		}
	}
	b.WriteString("</svg>\n")
	if !drew {
		return false
	}
	_, err := io.WriteString(w, b.String())
	return err == nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// logRange returns the decades that hold every value of metrics.
func logRange(sr *ScenarioReport, metrics []string) (lo, hi float64) {
	lo, hi = math.Inf(1), 0
	for _, r := range sr.Results {
		for _, m := range metrics {
			if v, ok := r.Get(m); ok && v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if hi == 0 {
		return 1, 10
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi*1.05)))
	return lo, hi
}

func esc(s string) string { return html.EscapeString(s) }

// niceScale returns the top of a y axis at or above maxV and a round step
// that divides it into 4 to 6 parts.
func niceScale(maxV float64) (top, step float64) {
	raw := maxV * 1.08 / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		step = m * mag
		if step >= raw {
			break
		}
	}
	top = math.Ceil(maxV*1.08/step) * step
	return top, step
}

// shortValue prints a value compactly for a chart: 12.3k, 1.5M.
func shortValue(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return trimZero(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case a >= 1e4:
		return trimZero(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case a >= 100 || v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return trimZero(fmt.Sprintf("%.2f", v))
	}
}

func trimZero(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
