//go:build linux

package main

// nsrun's command line on the standard library's flag package, which holds
// the flags, their values and which were given; the command line itself is
// read here, in the manner of unshare(1) and pflag: long flags
// (--tmp-size=64M, --tmp-size 64M), one-letter flags (-m) and clusters of
// them (-mpn, the last of which may take a value: -mp=false), everything
// from COMMAND or "--" on left to COMMAND. pflag, used before, links the
// net packages and initialises net/netip at every start of nsrun, and
// defines a flag at twice the cost (docs/benchmarks.md).

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// cliFlags is the flag set of nsrun's command line.
type cliFlags struct {
	*flag.FlagSet
	short map[byte]string // a one-letter flag's long name
	rest  []string        // COMMAND and its arguments, after Parse
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

// Changed reports whether the flag name was given.
func (f *cliFlags) Changed(name string) bool {
	given := false
	f.Visit(func(fl *flag.Flag) { given = given || fl.Name == name })
	return given
}

// Parse parses args up to COMMAND (the first argument that is not a flag,
// or what follows "--"), which Args returns.
func (f *cliFlags) Parse(args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			f.rest = args[i+1:]
			return nil
		}
		if len(a) < 2 || a[0] != '-' {
			f.rest = args[i:]
			return nil
		}
		names, value, hasValue, err := f.names(a)
		if err != nil {
			return err
		}
		for _, name := range names[:len(names)-1] {
			if err := f.set(name, "true"); err != nil {
				return err
			}
		}
		last := names[len(names)-1]
		switch {
		case hasValue:
		case !f.takesValue(last):
			value = "true"
		case i+1 < len(args):
			// The next argument is the value, whatever it looks like
			// (--monotonic -1.5, --hostname --).
			i++
			value = args[i]
		default:
			return fmt.Errorf("flag needs an argument: --%s", last)
		}
		if err := f.set(last, value); err != nil {
			return err
		}
	}
	f.rest = nil
	return nil
}

// Args returns COMMAND and its arguments, after Parse.
func (f *cliFlags) Args() []string { return f.rest }

// names returns the long names of the flags in the argument a ("--name",
// "--name=value", "-x", "-xyz", "-xyz=value"), and the value given with
// the last of them after "=", if any. Every flag but the last must be a
// boolean.
func (f *cliFlags) names(a string) (names []string, value string, hasValue bool, err error) {
	if a[1] == '-' {
		name, v, ok := strings.Cut(a[2:], "=")
		if name == "" {
			return nil, "", false, fmt.Errorf("bad flag syntax: %s", a)
		}
		if f.Lookup(name) == nil {
			return nil, "", false, fmt.Errorf("unknown flag: --%s", name)
		}
		return []string{name}, v, ok, nil
	}
	letters, v, ok := strings.Cut(a[1:], "=")
	if letters == "" {
		return nil, "", false, fmt.Errorf("bad flag syntax: %s", a)
	}
	for j := 0; j < len(letters); j++ {
		name, found := f.short[letters[j]]
		if !found {
			r, _ := utf8.DecodeRuneInString(letters[j:]) // as typed, not its first byte
			if len(letters) > 1 && f.Lookup(letters) != nil {
				return nil, "", false, fmt.Errorf("unknown shorthand flag: %s in %s (a long flag takes two dashes: -%s)", strconv.QuoteRune(r), a, a)
			}
			return nil, "", false, fmt.Errorf("unknown shorthand flag: %s in %s", strconv.QuoteRune(r), a)
		}
		if j < len(letters)-1 && f.takesValue(name) {
			return nil, "", false, fmt.Errorf("-%c takes a value: it cannot be followed by other letters in %s", letters[j], a)
		}
		names = append(names, name)
	}
	return names, v, ok, nil
}

// set gives the flag name the value v, and says what was wrong with v if
// it does not fit.
func (f *cliFlags) set(name, v string) error {
	err := f.Set(name, v)
	if err == nil {
		return nil
	}
	why := err.Error()
	// The flag package's own types say only "parse error" or "value out
	// of range".
	if g, ok := f.Lookup(name).Value.(flag.Getter); ok {
		switch g.Get().(type) {
		case bool:
			why = "give true or false"
		case int, int64, uint, uint64:
			why = "give an integer"
		case float64:
			why = "give a number"
		case time.Duration:
			why = `give a duration such as 30s or 1m30s`
		}
	}
	return fmt.Errorf("invalid value %q for --%s: %s", v, name, why)
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
