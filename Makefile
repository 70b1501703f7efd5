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
# Fuzzing budget per target, in executions ("Nx"): a duration (-fuzztime
# 15s) trips a race in go1.26's fuzz coordinator at the deadline, reported
# as a spurious "context deadline exceeded" failure (go.dev/issue/75804,
# fixed in go1.27). 200,000 executions take 10-15 s each here.
FUZZTIME    ?= 200000x

export LINUXNS_BIN := $(BINDIR)
# Race-instrumented children would each sleep a second at exit.
GORACE ?= atexit_sleep_ms=0
export GORACE

.PHONY: all build test test-root test-nobody test-stress lint demo bench clean

all: build

build:
	@mkdir -p $(BINDIR)
	# Static: a dynamically linked nsrun pays the loader on every start.
	CGO_ENABLED=0 $(GO) build -o $(BINDIR)/nsrun ./cmd/nsrun
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
# bounded fuzzing of the child's job reader, option validation and the
# protocol's encoding (internal/wire, fuzzed from its own directory). The
# suite runs in the package's directory (go test's local mode) so that the
# figures it prints at the end are shown (docs/reliability.md).
test-stress:
	cd stress && $(GO) test -tags stress -race -count=1 -timeout 20m
	cd stress && $(GO) test -tags stress -count=1 -timeout 20m -exec $(CURDIR)/scripts/as-nobody
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeJob$$' -fuzztime $(FUZZTIME) .
	$(GO) test -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) .
	cd internal/wire && $(GO) test -run '^$$' -fuzz '^FuzzJobRoundTrip$$' -fuzztime $(FUZZTIME) .
	cd internal/wire && $(GO) test -run '^$$' -fuzz '^FuzzMessageRoundTrip$$' -fuzztime $(FUZZTIME) .
	cd internal/wire && $(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) .

lint:
	@out=$$(gofmt -l . 2>&1); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

demo: build
	@sh scripts/demo $(BINDIR)/nsrun

# Benchmarks (docs/benchmarks.md): installs bubblewrap and time(1) if
# missing (as root, from Debian), then runs the go test benchmarks as root
# and the Run benchmarks as uid 65534, then internal/benchcmp, which
# alternates Run, Command, nsrun, unshare(1), bwrap and (if a C compiler
# with a static libc is installed) a static C program doing the same work on
# the same sets and prints ratios, the pool, peak RSS and throughput. Everything also goes to
# bench.txt.
BENCHTIME   ?= 200x
BENCHROUNDS ?= 300
bench: build
	@command -v bwrap >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq bubblewrap; else echo "bwrap missing; its benchmarks are skipped"; fi; }
	@[ -x /usr/bin/time ] || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq time; else echo "/usr/bin/time missing; RSS is skipped"; fi; }
	$(GO) build -o $(BINDIR)/benchcmp ./internal/benchcmp
	@if command -v cc >/dev/null 2>&1 && cc -O2 -static -o $(BINDIR)/cfloor internal/benchcmp/testdata/cfloor.c 2>/dev/null; then :; \
	  else rm -f $(BINDIR)/cfloor; echo "no C compiler with a static libc: the C floor is left out"; fi
	@rm -f $(BINDIR)/bench.failed
	@{ echo "## go test -bench, as $$(id -un)"; \
	  $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -count 1 . || touch $(BINDIR)/bench.failed; \
	  echo "## go test -bench, as uid 65534 (scripts/as-nobody)"; \
	  $(GO) test -run '^$$' -bench 'BenchmarkRun|BenchmarkStartProcess|BenchmarkBaseline' -benchtime $(BENCHTIME) -count 1 \
	    -exec $(CURDIR)/scripts/as-nobody . || touch $(BINDIR)/bench.failed; \
	  $(BINDIR)/benchcmp -rounds $(BENCHROUNDS) || touch $(BINDIR)/bench.failed; } 2>&1 | tee bench.txt
	@if [ -e $(BINDIR)/bench.failed ]; then rm -f $(BINDIR)/bench.failed; echo "make bench: a benchmark failed (see bench.txt)"; exit 1; fi

clean:
	rm -rf $(BINDIR)
