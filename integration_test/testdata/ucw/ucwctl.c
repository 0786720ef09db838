/*
 * ucwctl: a test double of libucw's ucw-daemon-control (6.5.x), written
 * for daemonkit's interoperability tests. It follows the same algorithm:
 *
 *   - the guard file is opened O_RDWR|O_CREAT (mode 0666 & ~umask, not
 *     close-on-exec) and locked with a blocking flock(LOCK_EX), no timeout;
 *   - without --guard-file the PID file must end in ".pid" and X.pid gives
 *     X.lock (so DIR/.pid gives DIR/.lock); otherwise exit 1;
 *   - the PID file is read on a fresh O_RDONLY open after a non-blocking
 *     flock(LOCK_SH): missing -> not running; locked -> running; at most
 *     15 bytes; empty -> not running (unlocked) or exiting (locked, pid 0);
 *     unlocked and non-empty -> stale; locked -> a signed decimal int
 *     followed by exactly "\n", else an error;
 *   - --start forks; the child closes only the guard descriptor and execs
 *     the command (same process group, same session, every other
 *     descriptor kept); an exec failure exits 102; the parent waits with
 *     no timeout; exit 102 means "cannot execute"; any other non-zero exit
 *     or a signal is an error; exit 0 re-reads the PID file: running or
 *     not running is success (103 if it was stale before), anything else
 *     an error;
 *   - --stop signals the PID (default SIGTERM; ESRCH ignored; pid 0 means
 *     "exiting": no signal), then waits in a blocking flock(LOCK_SH) on the
 *     PID file with no timeout; stale -> 103, file untouched;
 *   - --reload/--signal sends SIGHUP (or --signal) without waiting.
 *
 * Exit codes: 0 ok, 1 usage, 100 already done, 101 not running, 102 error,
 * 103 stale.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ST_OK = 0, ST_DONE = 100, ST_NOT_RUNNING = 101, ST_ERROR = 102, ST_STALE = 103 };
enum { A_NONE, A_CHECK, A_START, A_STOP, A_SIGNAL };

static char errmsg[512];

static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof errmsg, fmt, ap);
	va_end(ap);
	return ST_ERROR;
}

/* parse_int accepts what libucw's str_to_int(..., 10) accepts: an optional
 * '+' or '-', then decimal digits, within int. It returns 0 on success and
 * sets *end to the first character after the number. */
static int parse_int(const char *s, int *out, const char **end)
{
	int neg = 0;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	long long v = 0;
	int digits = 0;
	for (; *s >= '0' && *s <= '9'; s++, digits++) {
		v = v * 10 + (*s - '0');
		if (v > (long long)INT_MAX + 1)
			return -1;
	}
	*end = s;
	if (!digits || (!neg && v > INT_MAX))
		return -1;
	*out = neg ? (int)-v : (int)v;
	return 0;
}

/* read_pid reports the PID file's state; *pid is set for a locked file
 * (0 when it is empty: the daemon is exiting). */
static int read_pid(const char *path, int wait, int *pid)
{
	int st = ST_NOT_RUNNING;
	*pid = 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		if (errno == ENOENT)
			return st;
		return fail("Cannot open PID file `%s': %s", path, strerror(errno));
	}
	while (flock(fd, LOCK_SH | (wait ? 0 : LOCK_NB)) < 0) {
		if (errno == EWOULDBLOCK) {
			st = ST_OK;
			break;
		}
		if (errno != EINTR) {
			st = fail("Cannot lock PID file `%s': %s", path, strerror(errno));
			goto out;
		}
	}
	char buf[16];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n < 0) {
		st = fail("Error reading `%s': %s", path, strerror(errno));
		goto out;
	}
	if (n == (ssize_t)sizeof buf) {
		st = fail("PID file `%s' is too long", path);
		goto out;
	}
	buf[n] = 0;
	if (n == 0)
		goto out;
	if (st != ST_OK) {
		st = ST_STALE;
		goto out;
	}
	const char *end;
	if (parse_int(buf, pid, &end) || strcmp(end, "\n")) {
		*pid = 0;
		st = fail("PID file `%s' does not contain a valid PID", path);
	}
out:
	close(fd);
	return st;
}

static int start(int guard, const char *pid_file, char **argv, int st)
{
	pid_t child = fork();
	if (child < 0)
		return fail("Cannot fork: %s", strerror(errno));
	if (child == 0) {
		close(guard);
		execvp(argv[0], argv);
		fprintf(stderr, "Cannot execute `%s': %s\n", argv[0], strerror(errno));
		exit(ST_ERROR);
	}
	int ws;
	while (waitpid(child, &ws, 0) < 0)
		if (errno != EINTR)
			return fail("Cannot wait: %s", strerror(errno));
	if (WIFEXITED(ws) && WEXITSTATUS(ws) == ST_ERROR)
		return fail("Cannot execute the daemon");
	if (WIFEXITED(ws) && WEXITSTATUS(ws))
		return fail("Daemon %s exited with error code %d", argv[0], WEXITSTATUS(ws));
	if (WIFSIGNALED(ws))
		return fail("Daemon %s died on signal %d", argv[0], WTERMSIG(ws));
	int pid;
	int st2 = read_pid(pid_file, 0, &pid);
	if (st2 != ST_OK && st2 != ST_NOT_RUNNING)
		return fail("Daemon %s failed to write the PID file `%s'", argv[0], pid_file);
	return st == ST_STALE ? ST_STALE : ST_OK;
}

static int control(const char *pid_file, const char *guard_file, int action, int sig, char **argv)
{
	int guard = open(guard_file, O_RDWR | O_CREAT, 0666);
	if (guard < 0)
		return fail("Cannot open guard file `%s': %s", guard_file, strerror(errno));
	if (flock(guard, LOCK_EX) < 0)
		return fail("Cannot lock guard file `%s': %s", guard_file, strerror(errno));
	int pid;
	int st = read_pid(pid_file, 0, &pid);
	if (st == ST_ERROR)
		goto out;
	switch (action) {
	case A_CHECK:
		break;
	case A_START:
		st = st == ST_OK ? ST_DONE : start(guard, pid_file, argv, st);
		break;
	case A_STOP:
		if (st != ST_OK) {
			if (st == ST_NOT_RUNNING)
				st = ST_DONE;
			break;
		}
		if (pid) {
			int s = sig ? sig : SIGTERM;
			if (kill(pid, s) < 0 && errno != ESRCH) {
				st = fail("Cannot send signal %d: %s", s, strerror(errno));
				break;
			}
		}
		st = read_pid(pid_file, 1, &pid);
		if (st != ST_ERROR)
			st = ST_OK;
		break;
	case A_SIGNAL:
		if (!pid) {
			st = ST_NOT_RUNNING;
			break;
		}
		int s = sig ? sig : SIGHUP;
		if (kill(pid, s) >= 0)
			st = ST_OK;
		else if (errno == ESRCH)
			st = ST_NOT_RUNNING;
		else
			st = fail("Cannot send signal %d: %s", s, strerror(errno));
		break;
	}
out:
	close(guard);
	return st;
}

static int signal_number(const char *s)
{
	static const struct { const char *name; int num; } names[] = {
		{"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
		{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM},
	};
	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(s, names[i].name))
			return names[i].num;
	const char *end;
	int n;
	if (!parse_int(s, &n, &end) && !*end && n > 0 && n < NSIG)
		return n;
	return -1;
}

static void usage(void)
{
	fputs("usage: ucwctl --start|--stop|--check|--reload [--signal SIG] --pid-file P [--guard-file G] [-- CMD ARGS]\n", stderr);
	exit(1);
}

int main(int argc, char **argv)
{
	static int action = A_NONE;
	static const struct option opts[] = {
		{"pid-file", required_argument, NULL, 'p'},
		{"guard-file", required_argument, NULL, 'g'},
		{"signal", required_argument, NULL, 's'},
		{"start", no_argument, &action, A_START},
		{"stop", no_argument, &action, A_STOP},
		{"check", no_argument, &action, A_CHECK},
		{"reload", no_argument, &action, A_SIGNAL},
		{NULL, 0, NULL, 0},
	};
	const char *pid_file = NULL, *guard_file = NULL;
	int sig = 0, c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
		switch (c) {
		case 0:
			break;
		case 'p':
			pid_file = optarg;
			break;
		case 'g':
			guard_file = optarg;
			break;
		case 's':
			if ((sig = signal_number(optarg)) < 0) {
				fprintf(stderr, "%s: Unknown signal %s\n", argv[0], optarg);
				return 1;
			}
			break;
		default:
			usage();
		}
	}
	if (!pid_file || action == A_NONE)
		usage();
	if (action == A_START ? optind >= argc : optind < argc)
		usage();
	if (!guard_file) {
		size_t len = strlen(pid_file);
		if (len < 4 || strcmp(pid_file + len - 4, ".pid")) {
			fprintf(stderr, "%s: For automatic choice of --guard-file, the --pid-file must end with `.pid'\n", argv[0]);
			return 1;
		}
		char *g = malloc(len + 2);
		if (!g)
			return ST_ERROR;
		sprintf(g, "%.*s.lock", (int)len - 4, pid_file);
		guard_file = g;
	}
	int st = control(pid_file, guard_file, action, sig, argv + optind);
	if (st == ST_ERROR)
		fprintf(stderr, "%s: %s\n", argv[0], errmsg);
	return st;
}
