# linuxns/namespace — build, test, lint, demo and benchmarks.
#
#   make test    go vet, then the whole suite as root (with -race) and as
#                uid/gid 65534 (through scripts/as-nobody)
#   make demo    runs nsrun to show PID 1, a private /tmp, a hostname and lo
#   make lint    gofmt, go vet, staticcheck
#   make bench   benchmarks side by side with unshare(1) and bwrap

GO          ?= go
PKGS        ?= ./...
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
BINDIR      := $(CURDIR)/.bin
TESTFLAGS   ?=
FUZZTIME    ?= 20s

export LINUXNS_BIN := $(BINDIR)
# Race-instrumented children would each sleep a second at exit.
GORACE ?= atexit_sleep_ms=0
export GORACE

.PHONY: all build test test-root test-nobody test-stress lint demo bench clean

all: build

build:
	@mkdir -p $(BINDIR)
	$(GO) build -o $(BINDIR)/nsrun ./cmd/nsrun
	for d in testdata/*/; do if [ -f $$d/main.go ]; then $(GO) build -o $(BINDIR)/$$(basename $$d) ./$$d || exit 1; fi; done
	@chmod 0755 $(BINDIR) $(BINDIR)/*

test: build
	$(GO) vet $(PKGS)
	$(MAKE) --no-print-directory test-root
	$(MAKE) --no-print-directory test-nobody
	$(MAKE) --no-print-directory test-stress

test-root:
	$(GO) test -race -count=1 $(TESTFLAGS) $(PKGS)

test-nobody:
	$(GO) test -count=1 -exec $(CURDIR)/scripts/as-nobody $(TESTFLAGS) $(PKGS)

# The adversarial suite (stress/, build tag "stress") in both modes, then
# bounded fuzzing of the job decoder and option validation.
test-stress:
	$(GO) test -tags stress -race -count=1 -timeout 20m ./stress/
	$(GO) test -tags stress -count=1 -timeout 20m -exec $(CURDIR)/scripts/as-nobody ./stress/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeJob$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) .

lint:
	@out=$$(gofmt -l . 2>&1); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

demo: build
	@sh scripts/demo $(BINDIR)/nsrun

clean:
	rm -rf $(BINDIR)
