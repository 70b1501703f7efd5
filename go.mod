module github.com/linuxns/namespace

go 1.26.8

require (
	github.com/elastic/go-seccomp-bpf v1.6.0
	github.com/moby/sys/mountinfo v0.7.3
	golang.org/x/net v0.41.0
	golang.org/x/sys v0.49.0
)
