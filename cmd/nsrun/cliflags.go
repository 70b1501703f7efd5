//go:build linux

package main

// nsrun's command line on the standard library's flag package: long flags
// (--mount, --tmp-size=64M, --tmp-size 64M) are the flag package's own;
// the one-letter flags of unshare(1) (-m) and clusters of them (-mpn) are
// rewritten as long flags before it parses. pflag, which does both, links
// the net packages and initialises net/netip at every start of nsrun, and
// defines a flag at twice the cost (docs/benchmarks.md).

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// cliFlags is the flag set of nsrun's command line.
type cliFlags struct {
	*flag.FlagSet
	short map[byte]string // a one-letter flag's long name
}

// newCLIFlags returns an empty flag set that reports errors (Parse's)
// without printing anything.
func newCLIFlags() *cliFlags {
	fs := flag.NewFlagSet("nsrun", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cliFlags{FlagSet: fs, short: make(map[byte]string, 16)}
}

// BoolVarP defines a boolean flag with a one-letter name besides its long
// one.
func (f *cliFlags) BoolVarP(p *bool, name, short string, value bool, usage string) {
	f.BoolVar(p, name, value, usage)
	f.short[short[0]] = name
}

// shorthand returns the one-letter name of the long flag name, or "".
func (f *cliFlags) shorthand(name string) string {
	for c, n := range f.short {
		if n == name {
			return string(c)
		}
	}
	return ""
}

// Changed reports whether the flag name was given.
func (f *cliFlags) Changed(name string) bool {
	given := false
	f.Visit(func(fl *flag.Flag) { given = given || fl.Name == name })
	return given
}

// Parse parses args up to COMMAND (the first argument that is not a flag,
// or what follows "--").
func (f *cliFlags) Parse(args []string) error {
	long, err := f.longForm(args)
	if err != nil {
		return err
	}
	if err := f.FlagSet.Parse(long); err != nil {
		// The flag package names a flag with one dash, as it accepts
		// both; nsrun's help and messages use two.
		msg := err.Error()
		for _, p := range []string{"defined: -", "argument: -", "for -", "for flag -"} {
			msg = strings.Replace(msg, p, p+"-", 1)
		}
		return fmt.Errorf("%s", msg)
	}
	return nil
}

// takesValue reports whether the flag name needs a value (is not
// boolean); false for a flag that does not exist.
func (f *cliFlags) takesValue(name string) bool {
	fl := f.Lookup(name)
	if fl == nil {
		return false
	}
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

// longForm returns args with every one-letter flag before COMMAND written
// as its long flag: -m as --mount, -mpn as --mount --pid --net, -m=false
// as --mount=false. The value of a flag that takes one is passed on
// untouched, whatever it looks like (--monotonic -1.5).
func (f *cliFlags) longForm(args []string) ([]string, error) {
	out := make([]string, 0, len(args)+4)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			// "--" and what follows it, or COMMAND and its arguments.
			return append(out, args[i:]...), nil
		}
		var names []string
		value, hasValue := "", false
		if a[1] == '-' {
			name, v, ok := strings.Cut(a[2:], "=")
			if f.Lookup(name) == nil {
				return nil, fmt.Errorf("unknown flag: --%s", name)
			}
			names, value, hasValue = []string{name}, v, ok
		} else {
			letters, v, ok := strings.Cut(a[1:], "=")
			if ok && len(letters) != 1 {
				return nil, fmt.Errorf("bad flag syntax: %s (a value goes with one letter: -x=VALUE)", a)
			}
			for j := 0; j < len(letters); j++ {
				name, found := f.short[letters[j]]
				if !found {
					return nil, fmt.Errorf("unknown shorthand flag: %s in %s", strconv.QuoteRune(rune(letters[j])), a)
				}
				if j < len(letters)-1 && f.takesValue(name) {
					return nil, fmt.Errorf("-%c takes a value: it cannot be followed by other letters in %s", letters[j], a)
				}
				names = append(names, name)
			}
			value, hasValue = v, ok
		}
		for _, name := range names[:len(names)-1] {
			out = append(out, "--"+name)
		}
		last := names[len(names)-1]
		switch {
		case hasValue:
			out = append(out, "--"+last+"="+value)
		case f.takesValue(last) && i+1 < len(args):
			// The next argument is the value, "--" or "-x" as it may be.
			out = append(out, "--"+last+"="+args[i+1])
			i++
		default:
			out = append(out, "--"+last)
		}
	}
	return out, nil
}
