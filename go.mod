module github.com/linuxns/namespace

go 1.26.8

require (
	github.com/moby/sys/mountinfo v0.7.3
	github.com/spf13/pflag v1.1.0
	golang.org/x/sys v0.49.0
)
