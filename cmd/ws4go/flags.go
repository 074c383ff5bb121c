package main

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// A valueError is a flag, or its environment variable, whose value serve
// refuses: one line naming it, the value and what is wanted.
type valueError struct{ flag, value, want string }

// flagSet is ws4go serve's flag set: flags that say what they want when a
// value does not parse, read from the command line and then from their
// WS4GO_ variables, and that remember where each value came from.
type flagSet struct {
	*flag.FlagSet
	// from is where each flag that was set got its value: "-name" or
	// "$WS4GO_NAME".
	from map[string]string
	// failed is the value of the last Set that did not parse.
	failed *valueError
}

func newFlagSet(name string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
	// Errors are reported by the caller, one line each, and the help is
	// printed on request only (to stdout).
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	return fs
}

// envName is the environment variable of a flag: -ping-interval is
// WS4GO_PING_INTERVAL.
func envName(flagName string) string {
	return "WS4GO_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse reads the command line, then the variable of every flag the
// command line did not set (a flag given on the command line wins, and its
// variable is not read).
func (fs *flagSet) parse(args []string) error {
	fs.VisitAll(func(f *flag.Flag) { f.Usage += " [$" + envName(f.Name) + "]" })
	if err := fs.Parse(args); err != nil {
		return err
	}
	fs.from = map[string]string{}
	fs.Visit(func(f *flag.Flag) { fs.from[f.Name] = "-" + f.Name })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if _, set := fs.from[f.Name]; set || err != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			fs.from[f.Name] = "$" + envName(f.Name)
			err = fs.Set(f.Name, v)
		}
	})
	return err
}

// unknownEnv returns the WS4GO_ variables of the environment that name no
// flag (a typo would otherwise be ignored without a word).
func (fs *flagSet) unknownEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, "WS4GO_") {
			continue
		}
		known := false
		fs.VisitAll(func(f *flag.Flag) { known = known || envName(f.Name) == k })
		if !known {
			out = append(out, k)
		}
	}
	return out
}

// describe says which setting a flag's value came from: "-name" or
// "WS4GO_NAME (-name)".
func (fs *flagSet) describe(name string) string {
	if src := fs.from[name]; strings.HasPrefix(src, "$") {
		return src[1:] + " (-" + name + ")"
	}
	return "-" + name
}

// bad is the line for a refused value of flag name.
func (fs *flagSet) bad(name, value, want string) string {
	return fmt.Sprintf("%s %q: %s", fs.describe(name), value, want)
}

// parseError is the line for an error of parse.
func (fs *flagSet) parseError(err error) string {
	if e := fs.failed; e != nil {
		return fs.bad(e.flag, e.value, e.want)
	}
	return err.Error() + " (ws4go serve -h lists the flags)"
}

// isSet reports whether the command line or the environment set a flag.
func (fs *flagSet) isSet(name string) bool {
	_, ok := fs.from[name]
	return ok
}

// A number is the flag.Value of a size, count or duration: its Set error
// says what the flag wants. A duration flag also takes a bare 0 or
// negative number (0 is the default, -1 no limit).
type number[T int | int64 | time.Duration] struct {
	p    *T
	name string
	want string
	fs   *flagSet
}

// numberFlag registers a number flag bound to *p, with default def. usage
// says what it is (with a `bytes`, `n` or `duration` to name the value in
// the help); zero and neg what 0 and negative values mean ("": the
// default; refused).
func numberFlag[T int | int64 | time.Duration](fs *flagSet, p *T, def T, name, usage, zero, neg string) {
	*p = def
	var kind string
	switch any(def).(type) {
	case time.Duration:
		kind = "a duration such as 30s, 2m or 500ms"
	default:
		kind = "a whole number"
	}
	meaning := "0: " + cmp.Or(zero, "the default")
	if neg != "" {
		meaning += "; -1: " + neg
	}
	if u, ok := strings.CutSuffix(usage, ")"); ok {
		usage = u + "; " + meaning + ")"
	} else {
		usage += " (" + meaning + ")"
	}
	fs.Var(number[T]{p: p, name: name, want: "want " + kind + " (" + meaning + ")", fs: fs}, name, usage)
}

func (n number[T]) String() string {
	var v T
	if n.p != nil {
		v = *n.p
	}
	if d, ok := any(v).(time.Duration); ok {
		return d.String()
	}
	return fmt.Sprint(v)
}

func (n number[T]) Set(s string) error {
	var v T
	var err error
	switch p := any(&v).(type) {
	case *time.Duration:
		if *p, err = time.ParseDuration(s); err != nil {
			// A bare 0 or -1 needs no unit.
			if i, ierr := strconv.ParseInt(s, 10, 64); ierr == nil && i <= 0 {
				*p, err = time.Duration(i), nil
			}
		}
	case *int:
		*p, err = strconv.Atoi(s)
	case *int64:
		*p, err = strconv.ParseInt(s, 10, 64)
	}
	if err != nil {
		n.fs.failed = &valueError{n.name, s, n.want}
		return errors.New(n.want)
	}
	*n.p = v
	return nil
}

// A boolean is the flag.Value of a true/false flag.
type boolean struct {
	p    *bool
	name string
	fs   *flagSet
}

func boolFlag(fs *flagSet, p *bool, def bool, name, usage string) {
	*p = def
	fs.Var(boolean{p, name, fs}, name, usage)
}

func (b boolean) IsBoolFlag() bool { return true }

func (b boolean) String() string { return strconv.FormatBool(b.p != nil && *b.p) }

func (b boolean) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		const want = "want true or false"
		b.fs.failed = &valueError{b.name, s, want}
		return errors.New(want)
	}
	*b.p = v
	return nil
}

// checkAddr returns what a listening address flag wants if v is not
// host:port (the host may be empty, the port a number or a service name)
// or unix:/path.
func checkAddr(v string) error {
	if path, ok := strings.CutPrefix(v, "unix:"); ok {
		if path == "" {
			return errors.New("want a socket path after unix:")
		}
		return nil
	}
	const want = "want host:port (127.0.0.1:9001, :443, [::1]:9001; port 0: any free port) or unix:/path/to.sock"
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%s: %v", want, strings.TrimPrefix(err.Error(), "address "+v+": "))
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("%s: unknown port %q", want, port)
	}
	return nil
}
