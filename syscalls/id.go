package syscalls

import "strconv"

// ID identifies one namespace instance: the device and inode number of its
// file in the nsfs filesystem, as reported by stat(2) on /proc/PID/ns/NAME.
// Two namespaces are the same if and only if their IDs are Equal. The zero
// ID identifies nothing.
type ID struct {
	Type Type   // the kind of namespace
	Dev  uint64 // device number of the nsfs filesystem
	Ino  uint64 // inode number, the number shown by readlink(2)
}

// String returns the form that readlink(2) gives for /proc/PID/ns/NAME, such
// as "mnt:[4026531840]".
func (id ID) String() string {
	return id.Type.String() + ":[" + strconv.FormatUint(id.Ino, 10) + "]"
}

// Equal reports whether id and o identify the same namespace.
func (id ID) Equal(o ID) bool { return id == o }
