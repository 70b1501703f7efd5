// Package stress holds the adversarial suite of github.com/linuxns/namespace:
// faults, hostile input, security properties and load, against the real
// kernel. Its tests carry the build tag "stress"; run them with
// `make test-stress` (as root with -race, and as uid 65534).
package stress
