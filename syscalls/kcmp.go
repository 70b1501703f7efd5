package syscalls

import "strconv"

// KcmpType selects the kernel resource that Kcmp compares, as in enum
// kcmp_type of <linux/kcmp.h>.
type KcmpType int

// Resources that Kcmp can compare; the values are those of
// include/uapi/linux/kcmp.h.
const (
	KCMP_FILE      KcmpType = 0 // the open file descriptions behind fd idx1 of pid1 and fd idx2 of pid2
	KCMP_VM        KcmpType = 1 // the address spaces (CLONE_VM)
	KCMP_FILES     KcmpType = 2 // the file descriptor tables (CLONE_FILES)
	KCMP_FS        KcmpType = 3 // root, cwd and umask (CLONE_FS)
	KCMP_SIGHAND   KcmpType = 4 // the signal handler tables (CLONE_SIGHAND)
	KCMP_IO        KcmpType = 5 // the I/O contexts (CLONE_IO)
	KCMP_SYSVSEM   KcmpType = 6 // the System V semaphore undo lists (CLONE_SYSVSEM)
	KCMP_EPOLL_TFD KcmpType = 7 // a file against an epoll target; use KcmpEpollTFD
)

var kcmpNames = [...]string{"KCMP_FILE", "KCMP_VM", "KCMP_FILES", "KCMP_FS",
	"KCMP_SIGHAND", "KCMP_IO", "KCMP_SYSVSEM", "KCMP_EPOLL_TFD"}

// String returns the constant's name, such as "KCMP_VM", or
// "KcmpType(N)" for an unknown value.
func (t KcmpType) String() string {
	if t >= 0 && int(t) < len(kcmpNames) {
		return kcmpNames[t]
	}
	return "KcmpType(" + strconv.Itoa(int(t)) + ")"
}

// KcmpEpollSlot names a file registered in an epoll instance, as struct
// kcmp_epoll_slot of <linux/kcmp.h>.
type KcmpEpollSlot struct {
	Efd  uint32 // the epoll file descriptor (in pid2)
	Tfd  uint32 // the target file descriptor number it was registered with
	Toff uint32 // which registration, if that number was registered more than once
}
