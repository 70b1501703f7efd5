module github.com/linuxns/namespace

go 1.26.8

require (
	github.com/moby/sys/mountinfo v0.7.3 // indirect
	github.com/spf13/pflag v1.1.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
