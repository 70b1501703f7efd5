//go:build stress && race && linux

package stress

// raceEnabled reports whether the suite runs under the race detector.
const raceEnabled = true
