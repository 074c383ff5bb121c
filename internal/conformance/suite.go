package conformance

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// DefaultTimeout is the per-case timeout used when Case.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Case is one conformance check.
type Case struct {
	ID          string        // Autobahn-style ID, e.g. "2.4" or "6.2.17"
	Family      string        // family name, e.g. "Ping/Pong"
	Description string        // what the case sends
	Timeout     time.Duration // whole-case bound; zero means DefaultTimeout
	Heavy       bool          // slow case that Quick leaves out
	// Run runs the case on a fresh connection to t. ctx carries the
	// per-case timeout.
	Run func(ctx context.Context, t *Target) Outcome
}

// Outcome is what a case reports: the expected and the observed behaviour
// (as event sequences, see Event.String) and whether they match exactly.
type Outcome struct {
	Expected string
	Got      string
	OK       bool
}

// Result is the outcome of one case run.
type Result struct {
	ID          string
	Description string
	Expected    string
	Got         string
	OK          bool
	Duration    time.Duration // from dial to the end of the case
}

// Cases returns every case of families 1–9, in ID order.
func Cases() []Case { return cases(false) }

// cases returns families 1–9; with pmd, adapted to a connection that
// negotiated permessage-deflate (family 10's re-runs): family 3 with RSV1
// marking compressed messages, family 8 at a sixteenth of the sizes (see
// limitsCases).
func cases(pmd bool) []Case {
	var all []Case
	add := func(family string, cs []Case) {
		for _, c := range cs {
			c.Family = family
			all = append(all, c)
		}
	}
	add("Framing", framingCases())
	add("Ping/Pong", pingCases())
	add("Reserved bits", rsvCases(pmd))
	add("Reserved opcodes", opcodeCases())
	add("Fragmentation", fragmentationCases())
	add("UTF-8", utf8Cases())
	add("Close", closeCases())
	add("Limits/Performance", limitsCases(pmd))
	add("Auto-fragmentation", autoFragCases())
	slices.SortStableFunc(all, func(a, b Case) int { return compareIDs(a.ID, b.ID) })
	return all
}

// Quick returns Cases without the heavy ones (16 MiB messages and the
// smallest frame sizes for large messages), in ID order.
func Quick() []Case {
	return slices.DeleteFunc(Cases(), func(c Case) bool { return c.Heavy })
}

// compareIDs orders dotted numeric IDs ("1.10" after "1.9").
func compareIDs(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if errx != nil || erry != nil {
			if c := strings.Compare(as[i], bs[i]); c != 0 {
				return c
			}
			continue
		}
		if c := cmp.Compare(x, y); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(as), len(bs))
}

// Run runs the cases one after another, each on a fresh connection and under
// its own timeout, and returns their results in the same order. Cases not
// started because ctx ended are reported as failed.
func Run(ctx context.Context, t Target, cases []Case) []Result {
	rs := make([]Result, 0, len(cases))
	for _, c := range cases {
		r := Result{ID: c.ID, Description: c.Description}
		if ctx.Err() != nil {
			r.Got = "not run: " + ctx.Err().Error()
			rs = append(rs, r)
			continue
		}
		to := c.Timeout
		if to <= 0 {
			to = DefaultTimeout
		}
		cctx, cancel := context.WithTimeout(ctx, to)
		start := time.Now()
		o := runCase(cctx, c, t)
		r.Duration = time.Since(start)
		cancel()
		r.Expected, r.Got, r.OK = o.Expected, o.Got, o.OK
		rs = append(rs, r)
	}
	return rs
}

// runCase runs one case, turning a panic into a failed outcome.
func runCase(ctx context.Context, c Case, t Target) (o Outcome) {
	defer func() {
		if p := recover(); p != nil {
			o = Outcome{Expected: o.Expected, Got: fmt.Sprintf("panic: %v", p)}
		}
	}()
	return c.Run(ctx, &t)
}

// WriteTable writes the results as an aligned table (ID, description,
// expected, got, OK/FAILED, duration) followed by a one-line tally.
func WriteTable(w io.Writer, rs []Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tDESCRIPTION\tEXPECTED\tGOT\tSTATUS\tDURATION")
	failed := 0
	var total time.Duration
	for _, r := range rs {
		status := "OK"
		if !r.OK {
			status = "FAILED"
			failed++
		}
		total += r.Duration
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, oneLine(r.Description), oneLine(r.Expected), oneLine(r.Got), status, fmtDuration(r.Duration))
	}
	tw.Flush()
	fmt.Fprintf(w, "conformance: %d cases, %d OK, %d FAILED, %s in all\n", len(rs), len(rs)-failed, failed, fmtDuration(total))
}

// oneLine keeps table cells on one line (tabs and newlines would break it).
func oneLine(s string) string {
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}

// fmtDuration renders a duration with millisecond precision.
func fmtDuration(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
