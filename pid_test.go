//go:build linux

package namespace

import "os"

func pidOf() int { return os.Getpid() }
