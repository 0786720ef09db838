/*
 * floor: the smallest correct daemon starter and stopper, the benchmarks'
 * physical limit.
 *
 *     floor PIDFILE PROGRAM [ARG...]
 *     floor -s PIDFILE
 *
 * Creates a pipe, forks; the child starts a new session, points stdin,
 * stdout and stderr at /dev/null, changes to /, moves the pipe's write end
 * to fd 3 and executes PROGRAM (which must write a newline to fd 3 when it is
 * ready, e.g. `tinyd -ready-fd 3`). The parent waits for that byte, writes
 * the child's PID into PIDFILE and exits 0. If the child exits or the exec
 * fails first (EOF on the pipe), it exits 1.
 *
 * With -s it stops the daemon PIDFILE names: opens a pidfd for it, sends
 * SIGTERM through it, and waits in poll(2) until the process has exited.
 *
 * No locking, no user switching, no fd sweep, no checks of the PID file's
 * content beyond parsing: only what every starter and stopper must do.
 * Built by bench/run.sh with gcc -static (no dynamic loader, like a Go
 * binary's runtime).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* stop: floor -s PIDFILE */
static int stop(const char *pidfile)
{
	char buf[33];
	ssize_t n;
	long pid;
	char *end;
	int fd, pidfd;
	struct pollfd p;

	fd = open(pidfile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		die(pidfile);
	n = read(fd, buf, sizeof buf - 1);
	if (n < 0)
		die(pidfile);
	close(fd);
	buf[n] = 0;
	pid = strtol(buf, &end, 10);
	if (end == buf || (*end != 0 && *end != '\n') || pid <= 1 || pid == getpid()) {
		fprintf(stderr, "floor: %s does not hold a usable pid: \"%s\"\n", pidfile, buf);
		return 1;
	}
	pidfd = syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (pidfd < 0)
		die("pidfd_open");
	if (syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0) < 0)
		die("pidfd_send_signal");
	p.fd = pidfd;
	p.events = POLLIN;
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			die("poll");
	return 0;
}

int main(int argc, char **argv)
{
	int p[2];
	pid_t pid;
	char c;
	ssize_t n;
	int fd;

	if (argc == 3 && strcmp(argv[1], "-s") == 0)
		return stop(argv[2]);
	if (argc < 3) {
		fprintf(stderr, "usage: floor PIDFILE PROGRAM [ARG...]\n       floor -s PIDFILE\n");
		return 2;
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int null;

		if (setsid() < 0)
			_exit(127);
		null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
			_exit(127);
		if (chdir("/") < 0)
			_exit(127);
		umask(022);
		if (p[1] == 3) {
			if (fcntl(3, F_SETFD, 0) < 0)
				_exit(127);
		} else if (dup2(p[1], 3) < 0) {	/* dup2 clears FD_CLOEXEC */
			_exit(127);
		}
		execv(argv[2], argv + 2);
		_exit(127);
	}
	close(p[1]);
	do
		n = read(p[0], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1) {
		int st = 0;

		waitpid(pid, &st, 0);
		fprintf(stderr, "floor: %s exited before it was ready (status 0x%x)\n", argv[2], st);
		return 1;
	}
	fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		die(argv[1]);
	if (dprintf(fd, "%d\n", (int)pid) < 0 || close(fd) < 0)
		die(argv[1]);
	return 0;
}
