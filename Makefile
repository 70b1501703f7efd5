# linuxns/namespace — build, test, lint, demo and benchmarks.
#
#   make test    go vet and make cross, then the whole suite as root (with
#                -race), as uid/gid 65534 (through scripts/as-nobody) and
#                built for linux/386 (make test-386)
#   make cross   builds and vets every package, test and program for each
#                supported platform (CROSS_TARGETS), offline
#   make demo    runs nsrun to show PID 1, a private /tmp, a hostname, lo and
#                a root built from nothing
#   make lint    gofmt, go vet, make cross, staticcheck
#   make bench   benchmarks side by side with unshare(1) and bwrap
#   make test-kernels
#                the suite under Debian's 6.1 and 6.12 cloud kernels in qemu
#                (TCG), as root and as uid 65534 (docs/kernels.md)
#   make test-kernels-arm64
#                the tests of the raw clone and what starts children under
#                Debian's arm64 6.1 cloud kernel in qemu-system-aarch64

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

.PHONY: all build test test-root test-nobody test-386 test-stress test-kernels test-kernels-arm64 cross lint demo bench clean

all: build

build:
	@mkdir -p $(BINDIR)
	# Static: a dynamically linked nsrun pays the loader on every start.
	CGO_ENABLED=0 $(GO) build -o $(BINDIR)/nsrun ./cmd/nsrun
	for d in testdata/*/; do if [ -f $$d/main.go ]; then $(GO) build -o $(BINDIR)/$$(basename $$d) ./$$d || exit 1; fi; done
	@chmod 0755 $(BINDIR) $(BINDIR)/*

test: build
	$(GO) vet $(PKGS)
	$(MAKE) --no-print-directory cross
	$(MAKE) --no-print-directory test-root
	$(MAKE) --no-print-directory test-nobody
	$(MAKE) --no-print-directory test-386
	$(MAKE) --no-print-directory test-stress

# TESTTIMEOUT bounds each package's test binary: the root package's suite
# takes most of go test's default 10 minutes under -race on a 2-core machine
# while the other packages build and run beside it (internal/rawproc's
# stack check builds nsrun sixteen times), and went past it under load.
TESTTIMEOUT ?= 30m

test-root:
	$(GO) test -race -count=1 -timeout $(TESTTIMEOUT) $(TESTFLAGS) $(PKGS)

test-nobody:
	$(GO) test -count=1 -timeout $(TESTTIMEOUT) -exec $(CURDIR)/scripts/as-nobody $(TESTFLAGS) $(PKGS)

# The suite built for linux/386, as root, without -race (which 386 lacks):
# the raw children's structures and system call arguments differ on 32-bit
# systems, and an x86-64 kernel runs 386 programs. Skipped, saying so, on
# other hosts and on kernels without IA-32 emulation.
test-386:
	@if [ "$$(uname -m)" != x86_64 ] || ! GOARCH=386 $(GO) test -count=1 -run '^$$' ./internal/proctest >/dev/null 2>&1; then \
	  echo "test-386: this host cannot run linux/386 programs; skipped"; \
	else GOARCH=386 CGO_ENABLED=0 $(GO) test -count=1 -timeout $(TESTTIMEOUT) $(TESTFLAGS) $(PKGS); fi

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

# The kernel matrix (docs/kernels.md, scripts/vm): every package's tests,
# built static, in guests booted by qemu with software emulation from
# Debian's cloud kernels (apt-get download), as root and as uid 65534, and
# the *Blocker* tests in boots with a knob that blocks user namespaces.
# Narrow it with KERNELS, PKGS, TESTS (a -test.run pattern; write $ as $$),
# USERS and KNOBS, e.g.
#   make test-kernels KERNELS=6.1 PKGS=./syscalls TESTS=TestUnshare
KERNELS ?= 6.1 6.12
TESTS   ?=
USERS   ?= root nobody
KNOBS   ?=
test-kernels:
	KERNELS="$(KERNELS)" PKGS="$(PKGS)" TESTS='$(TESTS)' USERS="$(USERS)" KNOBS="$(KNOBS)" GO="$(GO)" \
	  $(CURDIR)/scripts/vm

# The same on arm64 (docs/kernels.md, "arm64"): Debian's arm64 cloud
# kernel in qemu-system-aarch64, whose guest has busybox for its only
# userland, so only the tests that need no other program: those of the
# raw clone that shares the caller's memory (clone_vm_arm64.s) and of
# everything that starts children through it or os/exec.
ARM64_PKGS  ?= . ./internal/rawproc ./syscalls
ARM64_TESTS ?= TestRun|StartProcess|Prepare|Spawn|Memory|TestChild|TestPool|TestTask|Clone|Stack|TestUnshare|TestSetns|TestKernelSigactionFits
test-kernels-arm64:
	VMARCH=arm64 KERNELS=6.1 KNOBS=none PKGS="$(ARM64_PKGS)" TESTS='$(ARM64_TESTS)' USERS="$(USERS)" GO="$(GO)" \
	  $(CURDIR)/scripts/vm

# The platforms the module builds for (README.md, docs/design.md): Linux on
# every architecture with namespaces in CI's reach, and macOS and Windows,
# where every entry point returns an error wrapping errors.ErrUnsupported.
CROSS_TARGETS ?= linux/amd64 linux/386 linux/arm linux/arm64 linux/riscv64 \
                 linux/ppc64le linux/s390x linux/loong64 \
                 darwin/amd64 darwin/arm64 windows/amd64
TESTDATA_PKGS := $(patsubst %/main.go,./%,$(wildcard testdata/*/main.go))

# For each target: go build (commands must link) and go vet (which
# type-checks the test files too) of every package and testdata program,
# and go vet of the stress suite (build tag stress). It stops at the first
# error. GOPROXY=off: it downloads nothing; the module cache holds what
# go.mod needs, for every platform alike.
cross:
	@set -e; for t in $(CROSS_TARGETS); do \
	  echo "cross: $$t"; \
	  export GOOS=$${t%/*} GOARCH=$${t#*/} CGO_ENABLED=0 GOPROXY=off; \
	  $(GO) build $(PKGS) $(TESTDATA_PKGS); \
	  $(GO) vet $(PKGS) $(TESTDATA_PKGS); \
	  $(GO) vet -tags stress ./stress; \
	done

lint:
	@out=$$(gofmt -l . 2>&1); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(MAKE) --no-print-directory cross
	$(GO) run $(STATICCHECK) $(PKGS)

demo: build
	@sh scripts/demo $(BINDIR)/nsrun

# Benchmarks (docs/benchmarks.md): installs bubblewrap and time(1) if
# missing (as root, from Debian), then runs the go test benchmarks as root
# and the Run benchmarks as uid 65534, then internal/benchcmp (built static,
# as nsrun; a copy built with cgo gives the floor of such a program), which
# alternates Run, Command, nsrun, unshare(1), bwrap and (if a C compiler
# with a static libc is installed) a static C program doing the same work on
# the same sets and prints ratios, the pool, peak RSS and throughput. Everything also goes to
# bench.txt.
BENCHTIME   ?= 200x
BENCHROUNDS ?= 300
# The caller's touched heap, in MiB, of BenchmarkStartProcessCallerHeap:
# the small caller first, then the ones compared with it.
BENCHHEAP   ?= 0,4096
bench: build
	@command -v bwrap >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq bubblewrap; else echo "bwrap missing; its benchmarks are skipped"; fi; }
	@[ -x /usr/bin/time ] || { if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq time; else echo "/usr/bin/time missing; RSS is skipped"; fi; }
	CGO_ENABLED=0 $(GO) build -o $(BINDIR)/benchcmp ./internal/benchcmp
	@if [ "$$($(GO) env CGO_ENABLED)" = 1 ]; then $(GO) build -o $(BINDIR)/benchcmp-cgo ./internal/benchcmp; \
	  else rm -f $(BINDIR)/benchcmp-cgo; echo "cgo is off: the floor of a program built with cgo is left out"; fi
	CGO_ENABLED=0 $(GO) build -o $(BINDIR)/goempty ./internal/benchcmp/testdata/goempty
	CGO_ENABLED=0 $(GO) build -o $(BINDIR)/goexec ./internal/benchcmp/testdata/goexec
	CGO_ENABLED=0 $(GO) build -o $(BINDIR)/floorstart ./internal/benchcmp/testdata/floorstart
	@if command -v cc >/dev/null 2>&1 && cc -O2 -static -o $(BINDIR)/cfloor internal/benchcmp/testdata/cfloor.c 2>/dev/null; then :; \
	  else rm -f $(BINDIR)/cfloor; echo "no C compiler with a static libc: the C floor is left out"; fi
	@rm -f $(BINDIR)/bench.failed
	@{ echo "## go test -bench, as $$(id -un)"; \
	  NAMESPACE_BENCH_HEAP_MB=$(BENCHHEAP) $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -count 1 . || touch $(BINDIR)/bench.failed; \
	  echo "## go test -bench, as uid 65534 (scripts/as-nobody)"; \
	  NAMESPACE_BENCH_HEAP_MB=$(BENCHHEAP) $(GO) test -run '^$$' -bench 'BenchmarkRun|BenchmarkStartProcess|BenchmarkBaseline|BenchmarkPrivSteps' -benchtime $(BENCHTIME) -count 1 \
	    -exec $(CURDIR)/scripts/as-nobody . || touch $(BINDIR)/bench.failed; \
	  $(BINDIR)/benchcmp -rounds $(BENCHROUNDS) || touch $(BINDIR)/bench.failed; } 2>&1 | tee bench.txt
	@if [ -e $(BINDIR)/bench.failed ]; then rm -f $(BINDIR)/bench.failed; echo "make bench: a benchmark failed (see bench.txt)"; exit 1; fi

clean:
	rm -rf $(BINDIR)
