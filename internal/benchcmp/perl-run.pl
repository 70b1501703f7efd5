# The method of Sys::Linux::Namespace 0.016's run(), in core Perl, as a
# baseline for benchcmp: the module itself (with Linux::Clone and
# Sys::Linux::Mount) is not packaged by Debian, so its system calls are made
# here with perl's syscall(), as the module makes them, in the same order:
#
#   clone(SIGCHLD | flags) -> child: post_setup (make / rprivate; tmpfs on
#   /tmp, then MS_PRIVATE on it; proc on /proc, then MS_PRIVATE|MS_REC on
#   it), the code (empty), _exit(0) -> parent: local %SIG with a handler for
#   every signal (term_child, the default), waitpid.
#
# Usage: perl perl-run.pl SET [TERM_CHILD], with SET one of mnt+pid+proc,
# mnt+tmpfs, mnt+pid+tmpfs (the module refuses a network namespace) and
# TERM_CHILD 1 (the module's default) or 0. For every line read on
# standard input it does one run() and prints "ok" or an error.
#
# With term_child, the module's handlers catch every signal, SIGCHLD too:
# the child's exit runs the handler, which sleeps 0.2 s before waitpid
# returns. That is the original's behaviour, measured as it is.
# x86_64 system call numbers.
use strict;
use warnings;
use POSIX ();

my ($SYS_clone, $SYS_mount) = (56, 165);
my ($CLONE_NEWNS, $CLONE_NEWPID, $SIGCHLD) = (0x00020000, 0x20000000, 17);
my ($MS_REC, $MS_PRIVATE, $MS_MGC_VAL) = (0x4000, 0x40000, 0xC0ED0000);

my $set = shift @ARGV or die "usage: perl-run.pl SET [TERM_CHILD]\n";
my $term_child = @ARGV ? shift @ARGV : 1;
my $pid_ns = $set =~ /pid/;
my $tmp = $set =~ /tmpfs/;
my $flags = $CLONE_NEWNS | ($pid_ns ? $CLONE_NEWPID : 0);
my @signames = grep { !/^__/ } keys %SIG;

# syscall() passes strings as pointers and wants them writable: variables.
my ($root, $none, $tmpdir, $tmpfs, $proc, $procdir) = ("/", "none", "/tmp", "tmpfs", "proc", "/proc");

sub post_setup {
    syscall($SYS_mount, $root, $root, 0, $MS_REC | $MS_PRIVATE, 0) == 0 or return "mount /: $!";
    if ($tmp) {
        syscall($SYS_mount, $none, $tmpdir, $tmpfs, $MS_MGC_VAL, 0) == 0 or return "mount tmpfs: $!";
        syscall($SYS_mount, $none, $tmpdir, $tmpfs, $MS_PRIVATE, 0) == 0 or return "private tmpfs: $!";
    }
    if ($pid_ns) {
        syscall($SYS_mount, $proc, $procdir, $proc, $MS_MGC_VAL, 0) == 0 or return "mount proc: $!";
        syscall($SYS_mount, $proc, $procdir, $proc, $MS_PRIVATE | $MS_REC, 0) == 0 or return "private proc: $!";
    }
    return "";
}

sub run_once {
    my $pid = syscall($SYS_clone, $SIGCHLD | $flags, 0, 0, 0, 0);
    return "clone: $!" if $pid < 0;
    if ($pid == 0) {
        my $err = post_setup();
        print STDERR "$err\n" if $err;
        POSIX::_exit($err ? 1 : 0);
    }
    local %SIG = map { my $q = $_; $q => sub { kill 'TERM', $pid; select(undef, undef, undef, 0.2); kill 'KILL', $pid } } ($term_child ? @signames : ());
    waitpid($pid, 0);
    return $? == 0 ? "" : "child status $?";
}

$| = 1;
while (<STDIN>) {
    my $err = run_once();
    print $err eq "" ? "ok\n" : "$err\n";
}
