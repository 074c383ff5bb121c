# ws4go — see README.md.
GO       ?= go
ADDR     ?= 127.0.0.1:9001
ENGINE   ?= goroutine
BIN      := bin/ws4go

.PHONY: build run test test-short lint fuzz bench clean

build:
	$(GO) build -o $(BIN) ./cmd/ws4go

# Serves the echo handler at ws://$(ADDR)/ws and a demo page at http://$(ADDR)/.
run: build
	./$(BIN) serve -addr $(ADDR) -engine $(ENGINE) -handler echo

# Every test, with the race detector. Needs node-ws, python3-websockets and
# chromium (see .ci/run).
test: lint
	$(GO) test -race -count=1 -timeout 20m ./...

test-short:
	$(GO) test -count=1 ./...

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# A short fuzzing session on the parsers.
fuzz:
	$(GO) test ./internal/proto -run XXX -fuzz FuzzReader -fuzztime 60s
	$(GO) test ./internal/proto -run XXX -fuzz FuzzUTF8 -fuzztime 30s

clean:
	rm -rf bin
