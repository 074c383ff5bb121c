// Package adversary is the adversarial load suite: its tests build the ws4go
// binary, run `ws4go serve` as a child process on 127.0.0.1 with small
// limits, attack it over raw sockets (abrupt cuts, slowloris on handshakes
// and frames, slow consumers, garbage, ping floods, decompression bombs,
// SIGTERM under load; over TLS, half-open handshakes, HTTP/2 connections
// that open no stream, RST_STREAM and SETTINGS floods) on both engines,
// and read the server's figures from
// /proc/PID and its /metrics. Every scenario logs one line
//
//	adversary: <scenario> <engine>: key=value ...
//
// with its figures (go test -v ./internal/adversary | grep 'adversary:').
// The package has no code outside its tests, which run on Linux only.
package adversary
