//go:build !linux

// The package inspects Linux processes (/proc) only; on other systems it is
// empty, and the tests that use it are Linux-only.
package proctest
