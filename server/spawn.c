/*
 * spawn.c: the only place taskgate starts another program.  A child is
 * run from an argument vector with execvp (never through a shell), with
 * the signal mask and dispositions reset, every descriptor but its three
 * closed, stdin from /dev/null (or from bytes given, spawn_run_input()),
 * stdout and stderr captured up to a cap,
 * and a deadline after which it is killed.  A CLOEXEC pipe reports an
 * execvp failure, so "tmux is not installed" is an error, not an exit
 * status.  It never logs arguments it did not build itself as trusted.
 */
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "taskgate.h"

#define SPAWN_MAX_OUTPUT	(1024 * 1024)

static void	spawn_child(char *const [], const char *, int, int, int, int)
		    __attribute__((noreturn));

static void
spawn_child(char *const argv[], const char *cwd, int in, int out, int err,
    int report)
{
	sigset_t	 none;
	int		 fd, e, sig;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	fd = in != -1 ? in : open("/dev/null", O_RDONLY);
	if (fd == -1 || dup2(fd, 0) == -1 || dup2(out, 1) == -1 ||
	    dup2(err, 2) == -1 || (cwd != NULL && chdir(cwd) == -1))
		goto fail;
	/* Keep only 0, 1, 2 and the report pipe, moved to 3 (CLOEXEC: it
	 * closes by itself when execvp succeeds). */
	if (report != 3 && dup2(report, 3) == -1)
		goto fail;
	report = 3;
	fcntl(report, F_SETFD, FD_CLOEXEC);
	closefrom(4);
	execvp(argv[0], argv);
fail:
	e = errno;
	if (write(report, &e, sizeof e) != (ssize_t)sizeof e)
		_exit(127);
	_exit(127);
}

static void
spawn_drain(int fd, struct buf *b, bool *open_)
{
	char	chunk[4096];
	ssize_t	n = read(fd, chunk, sizeof chunk);

	if (n > 0) {
		buf_add(b, chunk, (size_t)n);	/* past the cap: dropped */
		return;
	}
	if (n == 0 || (errno != EINTR && errno != EAGAIN))
		*open_ = false;
}

/*
 * Runs argv (argv[0] looked up in PATH) in cwd (NULL: ours) for at most
 * timeout seconds.  Returns 0 when it ran (res->status is its exit status,
 * or 128 + signal), -1 when it could not be started or timed out, with
 * res->error saying which in a sentence.
 */
int
spawn_run(char *const argv[], const char *cwd, double timeout,
    struct spawn_result *res)
{
	return spawn_run_input(argv, cwd, timeout, NULL, 0, res);
}

/*
 * A file that holds input (len bytes), read from its start, for a
 * child's stdin: the whole of it is there before the child runs, so
 * neither side waits on the other.  -1 when it cannot be made.
 */
static int
spawn_input_file(const char *input, size_t len)
{
	int	fd = memfd_create("taskgate-input", MFD_CLOEXEC);
	size_t	off = 0;
	ssize_t	n;

	if (fd == -1)
		return -1;
	while (off < len) {
		if ((n = write(fd, input + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (lseek(fd, 0, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* spawn_run(), with input (len bytes; NULL: none) on the child's stdin. */
int
spawn_run_input(char *const argv[], const char *cwd, double timeout,
    const char *input, size_t len, struct spawn_result *res)
{
	int		 out[2], err[2], rep[2], e, status, in = -1;
	pid_t		 pid;
	ssize_t		 n;
	double		 deadline = clock_mono() + timeout;
	bool		 out_open = true, err_open = true;
	sigset_t	 all, old;

	memset(res, 0, sizeof *res);
	buf_init(&res->out, SPAWN_MAX_OUTPUT);
	buf_init(&res->err, SPAWN_MAX_OUTPUT);
	if (input != NULL && (in = spawn_input_file(input, len)) == -1)
		goto fail_pipes;
	if (pipe2(out, O_CLOEXEC) == -1)
		goto fail_pipes;
	if (pipe2(err, O_CLOEXEC) == -1) {
		close(out[0]);
		close(out[1]);
		goto fail_pipes;
	}
	if (pipe2(rep, O_CLOEXEC) == -1) {
		close(out[0]);
		close(out[1]);
		close(err[0]);
		close(err[1]);
		goto fail_pipes;
	}
	/* No signal handler of ours may run in the child before exec. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		spawn_child(argv, cwd, in, out[1], err[1], rep[1]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (in != -1)
		close(in);
	in = -1;
	close(out[1]);
	close(err[1]);
	close(rep[1]);
	if (pid == -1) {
		snprintf(res->error, sizeof res->error, "cannot start %s: %s",
		    argv[0], strerror(errno));
		close(out[0]);
		close(err[0]);
		close(rep[0]);
		return -1;
	}
	n = read(rep[0], &e, sizeof e);
	close(rep[0]);
	if (n == (ssize_t)sizeof e) {
		waitpid(pid, NULL, 0);
		close(out[0]);
		close(err[0]);
		snprintf(res->error, sizeof res->error, "cannot run %s: %s",
		    argv[0], strerror(e));
		res->not_found = e == ENOENT;
		return -1;
	}
	while (out_open || err_open) {
		struct pollfd	pfd[2];
		double		left = deadline - clock_mono();
		int		nfds = 0;

		if (left <= 0) {
			kill(pid, SIGKILL);
			res->timed_out = true;
			break;
		}
		if (out_open)
			pfd[nfds++] = (struct pollfd){ out[0], POLLIN, 0 };
		if (err_open)
			pfd[nfds++] = (struct pollfd){ err[0], POLLIN, 0 };
		if (poll(pfd, (nfds_t)nfds, (int)(left * 1000) + 1) <= 0)
			continue;
		nfds = 0;
		if (out_open && pfd[nfds++].revents != 0)
			spawn_drain(out[0], &res->out, &out_open);
		if (err_open && pfd[nfds].revents != 0)
			spawn_drain(err[0], &res->err, &err_open);
	}
	close(out[0]);
	close(err[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (res->timed_out) {
		snprintf(res->error, sizeof res->error, "%s did not finish "
		    "within %g s and was killed", argv[0], timeout);
		return -1;
	}
	if (WIFEXITED(status))
		res->status = WEXITSTATUS(status);
	else
		res->status = 128 + WTERMSIG(status);
	if (res->out.data == NULL)
		buf_add(&res->out, "", 0);
	if (res->err.data == NULL)
		buf_add(&res->err, "", 0);
	return 0;

fail_pipes:
	e = errno;
	if (in != -1)
		close(in);
	errno = e;
	snprintf(res->error, sizeof res->error, "cannot start %s: %s",
	    argv[0], strerror(errno));
	return -1;
}

void
spawn_result_clear(struct spawn_result *res)
{
	buf_clear(&res->out);
	buf_clear(&res->err);
}
