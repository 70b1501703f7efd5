/*
 * cfloor: the least a static C program does to run a program in new
 * namespaces with the set-up of one of benchcmp's sets, as a floor that no
 * Go program reaches (its runtime's start-up alone costs more). `make bench`
 * builds it with `cc -O2 -static` when a C compiler is installed; benchcmp
 * runs it as the contender "C floor" (as root).
 *
 *	cfloor SET PROGRAM [ARG...]
 *
 * SET is mnt+pid+proc, mnt+tmpfs, net+lo or mnt+pid+tmpfs. Exit status:
 * the program's (128+N if signal N killed it, with a PID namespace), 125 if
 * a step failed, 127 if the program could not be executed.
 */
#define _GNU_SOURCE
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int mounts(int tmp, int proc)
{
	if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -1;
	if (tmp && mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"))
		return -1;
	if (proc && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 125;
	const char *set = argv[1];
	char **prog = argv + 2;
	if (!strcmp(set, "mnt+tmpfs")) {
		if (unshare(CLONE_NEWNS) || mounts(1, 0))
			return 125;
	} else if (!strcmp(set, "net+lo")) {
		struct ifreq ifr;
		int s;
		if (unshare(CLONE_NEWNET))
			return 125;
		s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		memset(&ifr, 0, sizeof ifr);
		strcpy(ifr.ifr_name, "lo");
		if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr))
			return 125;
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		if (ioctl(s, SIOCSIFFLAGS, &ifr))
			return 125;
		close(s);
	} else if (!strcmp(set, "mnt+pid+proc") || !strcmp(set, "mnt+pid+tmpfs")) {
		int tmp = !strcmp(set, "mnt+pid+tmpfs"), st;
		pid_t pid;
		if (unshare(CLONE_NEWNS | CLONE_NEWPID))
			return 125;
		pid = fork();
		if (pid < 0)
			return 125;
		if (pid == 0) {
			if (mounts(tmp, 1))
				_exit(125);
			execve(prog[0], prog, environ);
			_exit(127);
		}
		while (waitpid(pid, &st, 0) < 0)
			;
		return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	} else {
		return 125;
	}
	execve(prog[0], prog, environ);
	return 127;
}
