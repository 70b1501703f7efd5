package namespace

import (
	"strconv"
	"strings"
)

// A Capability is a Linux capability (capabilities(7)), by its number.
type Capability int

// The Linux capabilities, as numbered in <linux/capability.h>.
const (
	CapChown             Capability = 0  // CAP_CHOWN
	CapDacOverride       Capability = 1  // CAP_DAC_OVERRIDE
	CapDacReadSearch     Capability = 2  // CAP_DAC_READ_SEARCH
	CapFowner            Capability = 3  // CAP_FOWNER
	CapFsetid            Capability = 4  // CAP_FSETID
	CapKill              Capability = 5  // CAP_KILL
	CapSetgid            Capability = 6  // CAP_SETGID
	CapSetuid            Capability = 7  // CAP_SETUID
	CapSetpcap           Capability = 8  // CAP_SETPCAP
	CapLinuxImmutable    Capability = 9  // CAP_LINUX_IMMUTABLE
	CapNetBindService    Capability = 10 // CAP_NET_BIND_SERVICE
	CapNetBroadcast      Capability = 11 // CAP_NET_BROADCAST
	CapNetAdmin          Capability = 12 // CAP_NET_ADMIN
	CapNetRaw            Capability = 13 // CAP_NET_RAW
	CapIPCLock           Capability = 14 // CAP_IPC_LOCK
	CapIPCOwner          Capability = 15 // CAP_IPC_OWNER
	CapSysModule         Capability = 16 // CAP_SYS_MODULE
	CapSysRawio          Capability = 17 // CAP_SYS_RAWIO
	CapSysChroot         Capability = 18 // CAP_SYS_CHROOT
	CapSysPtrace         Capability = 19 // CAP_SYS_PTRACE
	CapSysPacct          Capability = 20 // CAP_SYS_PACCT
	CapSysAdmin          Capability = 21 // CAP_SYS_ADMIN
	CapSysBoot           Capability = 22 // CAP_SYS_BOOT
	CapSysNice           Capability = 23 // CAP_SYS_NICE
	CapSysResource       Capability = 24 // CAP_SYS_RESOURCE
	CapSysTime           Capability = 25 // CAP_SYS_TIME
	CapSysTTYConfig      Capability = 26 // CAP_SYS_TTY_CONFIG
	CapMknod             Capability = 27 // CAP_MKNOD
	CapLease             Capability = 28 // CAP_LEASE
	CapAuditWrite        Capability = 29 // CAP_AUDIT_WRITE
	CapAuditControl      Capability = 30 // CAP_AUDIT_CONTROL
	CapSetfcap           Capability = 31 // CAP_SETFCAP
	CapMacOverride       Capability = 32 // CAP_MAC_OVERRIDE
	CapMacAdmin          Capability = 33 // CAP_MAC_ADMIN
	CapSyslog            Capability = 34 // CAP_SYSLOG
	CapWakeAlarm         Capability = 35 // CAP_WAKE_ALARM
	CapBlockSuspend      Capability = 36 // CAP_BLOCK_SUSPEND
	CapAuditRead         Capability = 37 // CAP_AUDIT_READ
	CapPerfmon           Capability = 38 // CAP_PERFMON
	CapBPF               Capability = 39 // CAP_BPF
	CapCheckpointRestore Capability = 40 // CAP_CHECKPOINT_RESTORE
)

// capNames are the kernel's names of the capabilities, by number.
var capNames = [...]string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// String returns the kernel's name of c, e.g. "CAP_NET_RAW", or
// "Capability(N)" for a number that names none.
func (c Capability) String() string {
	if c >= 0 && int(c) < len(capNames) {
		return capNames[c]
	}
	return "Capability(" + strconv.Itoa(int(c)) + ")"
}

// ParseCapability returns the capability called name: the kernel's name
// ("CAP_NET_RAW"), in any case, with or without the "CAP_" prefix
// ("net_raw"). An unknown name is an error wrapping ErrInvalid.
func ParseCapability(name string) (Capability, error) {
	u := strings.ToUpper(name)
	if !strings.HasPrefix(u, "CAP_") {
		u = "CAP_" + u
	}
	for i, n := range capNames {
		if n == u {
			return Capability(i), nil
		}
	}
	return 0, invalidf("unknown capability %q (capabilities(7) lists the names, e.g. CAP_NET_BIND_SERVICE)", name)
}
