/*
 * ucwd: a test double of a daemon built on libucw 6.5.x's daemon_init(),
 * daemon_run() and daemon_exit(), written for daemonkit's
 * interoperability tests. It follows the same algorithm:
 *
 *   daemon_init: the PID file path must be absolute; open it
 *     O_RDWR|O_CREAT with mode 0666 (so 0666 & ~umask), mark it
 *     close-on-exec, flock(LOCK_EX|LOCK_NB) (held: "already running",
 *     exit 1), truncate it and write "(starting)\n".
 *   daemon_run (in the process that was started): setsid() (its result is
 *     ignored by libucw; recorded here), stdin and stdout to /dev/null
 *     (stderr is kept), umask 022, chdir("/"), a pipe, fork. The parent
 *     writes "<child pid>\n" at offset 0, truncates to that length, closes
 *     the PID file and the pipe, and returns (exit 0). The child waits for
 *     EOF on the pipe, then runs the body holding the inherited, locked
 *     PID file descriptor.
 *   daemon_exit: truncate the PID file to empty and close it.
 *
 * Usage: ucwd -p /abs/pid/file [-r /abs/record/file] [-m umask]
 *
 * The record file gets one line per event: "setsid ok sid=N" or
 * "setsid failed errno=E", "running pid=N sid=S pgid=G", "hup N", "term".
 * The body blocks SIGHUP and SIGTERM before daemon_init (so a signal sent
 * as soon as the PID is written is not lost) and takes them with
 * sigwait(): SIGHUP is recorded as a reload, SIGTERM ends the daemon
 * through daemon_exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *pid_file, *record_file;
static int pid_fd = -1;

static void record(const char *fmt, ...)
{
	if (!record_file)
		return;
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	int fd = open(record_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line, n) != n) {
			/* nothing better to do in a test double */
		}
		close(fd);
	}
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "ucwd: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static void daemon_init(void)
{
	if (pid_file[0] != '/')
		die("Path to PID file `%s' must be absolute", pid_file);
	pid_fd = open(pid_file, O_RDWR | O_CREAT, 0666);
	if (pid_fd < 0)
		die("Cannot open `%s': %s", pid_file, strerror(errno));
	int fl = fcntl(pid_fd, F_GETFD);
	if (fl < 0 || fcntl(pid_fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		die("Cannot set FD_CLOEXEC: %s", strerror(errno));
	if (flock(pid_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR || errno == EWOULDBLOCK)
			die("Daemon is already running (`%s' locked)", pid_file);
		die("Cannot lock `%s': %s", pid_file, strerror(errno));
	}
	if (ftruncate(pid_fd, 0) < 0 || write(pid_fd, "(starting)\n", 11) != 11)
		die("Error writing `%s': %s", pid_file, strerror(errno));
}

static void daemon_exit(void)
{
	if (ftruncate(pid_fd, 0) < 0)
		die("Error truncating `%s': %s", pid_file, strerror(errno));
	close(pid_fd);
}

static void body(const sigset_t *sigs)
{
	record("running pid=%d sid=%d pgid=%d", (int)getpid(), (int)getsid(0), (int)getpgid(0));
	for (int hups = 0;;) {
		int sig;
		if (sigwait(sigs, &sig))
			continue;
		if (sig == SIGHUP) {
			record("hup %d", ++hups);
			continue;
		}
		record("term");
		daemon_exit();
		exit(0);
	}
}

static void daemon_run(const sigset_t *sigs)
{
	if (setsid() < 0)
		record("setsid failed errno=%d", errno);
	else
		record("setsid ok sid=%d", (int)getsid(0));
	close(0);
	if (open("/dev/null", O_RDWR) < 0 || dup2(0, 1) < 0)
		die("Cannot redirect stdio to `/dev/null': %s", strerror(errno));
	umask(022);
	if (chdir("/") < 0)
		die("Cannot chdir to root: %s", strerror(errno));
	int p[2];
	if (pipe(p) < 0)
		die("Cannot create pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die("Cannot fork: %s", strerror(errno));
	if (pid == 0) {
		char c;
		close(p[1]);
		if (read(p[0], &c, 1) < 0)
			die("Cannot read pipe: %s", strerror(errno));
		close(p[0]);
		body(sigs);
	}
	char buf[32];
	int n = snprintf(buf, sizeof buf, "%d\n", (int)pid);
	if (lseek(pid_fd, 0, SEEK_SET) < 0 || write(pid_fd, buf, n) != n ||
	    ftruncate(pid_fd, n) < 0 || close(pid_fd) < 0)
		die("Cannot write PID to `%s': %s", pid_file, strerror(errno));
	close(p[0]);
	close(p[1]);
}

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "p:r:m:")) >= 0) {
		switch (c) {
		case 'p':
			pid_file = optarg;
			break;
		case 'r':
			record_file = optarg;
			break;
		case 'm':
			umask((mode_t)strtol(optarg, NULL, 8));
			break;
		default:
			die("usage: ucwd -p /abs/pid/file [-r /abs/record/file] [-m umask]");
		}
	}
	if (!pid_file || optind != argc)
		die("usage: ucwd -p /abs/pid/file [-r /abs/record/file] [-m umask]");
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	daemon_init();
	daemon_run(&sigs);
	return 0;
}
