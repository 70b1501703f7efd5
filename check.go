package namespace

import (
	"strings"
)

// Report is what Check found: one Finding per capability, in a fixed
// order.
type Report struct {
	Findings []Finding
}

// A Finding is one line of a Report: a capability of the kernel or the
// system for the current user, whether it is there, what was seen, and
// what to do if it is not.
type Finding struct {
	Name   string // what was checked, e.g. "create user namespace"
	OK     bool   // whether it is available
	Detail string // what was seen
	Remedy string // what to do when it is not available ("" when OK)
}

// OK reports whether the finding called name is there and OK.
func (r Report) OK(name string) bool {
	for _, f := range r.Findings {
		if f.Name == name {
			return f.OK
		}
	}
	return false
}

// String formats the report, one line per finding: "ok" or "NO", the
// name, what was seen, and the remedy.
func (r Report) String() string {
	var b strings.Builder
	for _, f := range r.Findings {
		mark := "ok"
		if !f.OK {
			mark = "NO"
		}
		b.WriteString(mark + "  " + f.Name + ": " + f.Detail)
		if !f.OK && f.Remedy != "" {
			b.WriteString(" — " + f.Remedy)
		}
		b.WriteString("\n")
	}
	return b.String()
}
