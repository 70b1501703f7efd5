//go:build !linux

// The package measures Linux namespaces only; on other systems it is empty,
// and the benchmarks that use it are Linux-only.
package benchkit
