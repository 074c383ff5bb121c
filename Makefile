# ws4go — see README.md.
GO       ?= go
ADDR     ?= 127.0.0.1:9001
ENGINE   ?= netpoll
BIN      := bin/ws4go

.PHONY: build run test deps test-short lint lint-metrics fuzz fuzz-short bench bench-publish clean

build:
	$(GO) build -o $(BIN) ./cmd/ws4go

# Serves the echo handler at ws://$(ADDR)/ws and a demo page at http://$(ADDR)/.
run: build
	./$(BIN) serve -addr $(ADDR) -engine $(ENGINE) -handler echo

# Every test, and promtool's lint of what the binary serves at /metrics
# (TestOperations writes it out during the run). Every test runs with the
# race detector but two suites that gain little from it and took 11 of
# CI's 20 minutes under it: the conformance runs (TCP, TLS, HTTP/2 streams,
# permessage-deflate: ~2,000 cases, mostly CPU spent on large payloads; the
# race detector sees the same code paths in the end-to-end tests of the
# first run) and the adversary suite (it attacks the ws4go binary, built
# without -race; only the attackers would be checked). Packages run one at
# a time (-p 1): several of them load the machine on purpose (the adversary
# suite, Chromium), and on a 2-core machine running them together stretches
# the timing of the others. The real clients and tools the tests drive come
# from Debian packages, which deps installs when they are missing.
CONFORMANCE := ^TestConformance
ADVERSARY   := ./internal/adversary
test: deps lint
	@mkdir -p bin
	WS4GOTEST_SLOW=1 WS4GOTEST_EXPOSITION=$(CURDIR)/bin/metrics.txt $(GO) test -race -count=1 -p 1 -timeout 30m -skip '$(CONFORMANCE)' $$($(GO) list ./... | grep -v '/internal/adversary$$')
	WS4GOTEST_SLOW=1 $(GO) test -count=1 -p 1 -timeout 20m -run '$(CONFORMANCE)' ./...
	WS4GOTEST_SLOW=1 $(GO) test -count=1 -timeout 10m $(ADVERSARY)
	promtool check metrics < bin/metrics.txt
	cd bench/peers && $(GO) test -race -count=1 ./...
	$(MAKE) fuzz-short

# The Debian packages the tests need: Node's ws, Python's websockets,
# Chromium, promtool (in prometheus). Installs only what is missing (as root,
# or through sudo).
deps:
	@need=""; \
	command -v node >/dev/null || need="$$need nodejs"; \
	[ -d /usr/share/nodejs/ws ] || need="$$need node-ws"; \
	/usr/bin/python3 -c 'import websockets' 2>/dev/null || need="$$need python3-websockets"; \
	command -v chromium >/dev/null || need="$$need chromium"; \
	command -v promtool >/dev/null || need="$$need prometheus"; \
	if [ -n "$$need" ]; then \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		echo "installing:$$need"; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null; \
	fi

test-short:
	$(GO) test -count=1 ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	cd bench/peers && $(GO) vet ./...

# promtool (Debian package prometheus) lints what the binary serves at
# /metrics after a short session, on its own (make test does it too).
lint-metrics:
	@command -v promtool >/dev/null || { echo "promtool not found: apt-get install prometheus"; exit 1; }
	@mkdir -p bin
	WS4GOTEST_EXPOSITION=$(CURDIR)/bin/metrics.txt $(GO) test -count=1 -run '^TestOperations$$' ./cmd/ws4go
	promtool check metrics < bin/metrics.txt

# The standard comparison with the peers (about fifteen minutes; see
# bench/README.md). Results go to bench/results/<UTC time>/, named at the end.
bench:
	$(GO) run ./cmd/ws4go bench $(BENCHFLAGS)

# Copies a results folder (RUN=bench/results/<time>; default: the latest)
# to bench/latest/, the run the README shows.
bench-publish:
	$(GO) run ./cmd/ws4go bench -publish $(or $(RUN),last)

# Every fuzz target, as package:Target. A target that does not exist yet in
# its package is skipped (FuzzHsHeadVsReadRequest lands with the strict head
# parser).
FUZZ_TARGETS := ./internal/proto:FuzzReader ./internal/proto:FuzzUTF8 \
	./internal/deflate:FuzzInflate ./internal/deflate:FuzzInflateWindow \
	./internal/handshake:FuzzHsHeadVsReadRequest \
	./server:FuzzServerConn ./client:FuzzClientConn
FUZZTIME ?= 10m
# make test fuzzes each target this many inputs. A count, not a duration:
# Go 1.26's fuzz coordinator can fail a run whose -fuzztime duration ends
# while a worker is mid-input ("context deadline exceeded", no failing
# input: golang/go#75804, fixed in Go 1.27), which a loaded 2-core CI
# machine hits. A count has no deadline to race.
FUZZTIME_SHORT ?= 5000x

# Fuzzes every target for $(1), one after the other, on one worker each
# (-parallel 1); interesting inputs are minimized for at most 5 s, so the
# time goes to fuzzing. A failing input is written to the package's
# testdata/fuzz and fails the run.
define fuzz-all
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		if ! grep -qs "func $$name(" $$pkg/*_test.go; then echo "skipping $$name: not in $$pkg yet"; continue; fi; \
		echo "fuzzing $$name in $$pkg for $(1)"; \
		$(GO) test $$pkg -run XXX -fuzz "^$$name\$$" -fuzztime $(1) -fuzzminimizetime 5s -parallel 1 -timeout 0; \
	done
endef

fuzz-short:
	$(call fuzz-all,$(FUZZTIME_SHORT))

# Every fuzz target, long (FUZZTIME each, default 10 minutes).
fuzz:
	$(call fuzz-all,$(FUZZTIME))

clean:
	rm -rf bin

# The adversarial load suite (internal/adversary): runs the ws4go binary on
# both engines and attacks it; each scenario's figures are on a line that
# starts with "adversary:". It is a slow suite: without WS4GOTEST_SLOW it
# skips itself.
.PHONY: adversary
adversary:
	WS4GOTEST_SLOW=1 $(GO) test -count=1 -v -timeout 10m ./internal/adversary
