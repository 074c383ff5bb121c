// Command wsconformance runs the conformance suite against a running echo
// server and prints the result table.
//
//	wsconformance -addr 127.0.0.1:9001 -path /ws [-quick] [-deflate] [-cases '^6\.5\.']
//
// With -deflate it also runs family 10, permessage-deflate, for a server
// with compression enabled (see conformance.CompressionCases).
//
// It exits with status 1 if any case failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"regexp"

	"github.com/ws4go/ws4go/internal/conformance"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "server TCP address")
	path := flag.String("path", "/", "request path of the upgrade request")
	host := flag.String("host", "", "Host header (default: addr)")
	ext := flag.String("ext", "", "Sec-WebSocket-Extensions offer")
	quick := flag.Bool("quick", false, "leave out the heavy cases")
	pat := flag.String("cases", "", "regular expression selecting case IDs")
	failedOnly := flag.Bool("failed", false, "print only failed cases")
	deflate := flag.Bool("deflate", false, "also run family 10, permessage-deflate (the server must have compression enabled)")
	flag.Parse()

	cases := conformance.Cases()
	if *quick {
		cases = conformance.Quick()
	}
	if *deflate {
		for _, c := range conformance.CompressionCases() {
			if !*quick || !c.Heavy {
				cases = append(cases, c)
			}
		}
	}
	if *pat != "" {
		re, err := regexp.Compile(*pat)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		var sel []conformance.Case
		for _, c := range cases {
			if re.MatchString(c.ID) {
				sel = append(sel, c)
			}
		}
		cases = sel
	}
	t := conformance.Target{Addr: *addr, Path: *path, Host: *host, Extensions: *ext}
	rs := conformance.Run(context.Background(), t, cases)
	show := rs
	if *failedOnly {
		show = nil
		for _, r := range rs {
			if !r.OK {
				show = append(show, r)
			}
		}
	}
	conformance.WriteTable(os.Stdout, show)
	for _, r := range rs {
		if !r.OK {
			os.Exit(1)
		}
	}
}
