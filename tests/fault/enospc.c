/*
 * enospc.c: a fault for tests, loaded with LD_PRELOAD into the real
 * daemon.  While the file named by $TASKGATE_FAULT_FILE exists, every
 * write to a file whose path contains $TASKGATE_FAULT_MATCH (default
 * "history.db") fails with ENOSPC, as on a full disk, or with EROFS when
 * $TASKGATE_FAULT_ERRNO is "EROFS", as on a file system turned read-only.
 * Nothing else changes.  Built by the test that uses it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int
fault_errno(void)
{
	const char	*e = getenv("TASKGATE_FAULT_ERRNO");

	return e != NULL && strcmp(e, "EROFS") == 0 ? EROFS : ENOSPC;
}

static int
fault_now(int fd)
{
	const char	*flag = getenv("TASKGATE_FAULT_FILE");
	const char	*match = getenv("TASKGATE_FAULT_MATCH");
	char		 link[64], path[4096];
	ssize_t		 n;

	if (flag == NULL || access(flag, F_OK) != 0)
		return 0;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof path - 1);
	if (n <= 0)
		return 0;
	path[n] = '\0';
	return strstr(path, match != NULL ? match : "history.db") != NULL;
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	static ssize_t (*real)(int, const void *, size_t);

	if (real == NULL)
		real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT,
		    "write");
	if (fault_now(fd)) {
		errno = fault_errno();
		return -1;
	}
	return real(fd, buf, len);
}

ssize_t
pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	static ssize_t (*real)(int, const void *, size_t, off_t);

	if (real == NULL)
		real = (ssize_t (*)(int, const void *, size_t, off_t))dlsym(
		    RTLD_NEXT, "pwrite64");
	if (fault_now(fd)) {
		errno = fault_errno();
		return -1;
	}
	return real(fd, buf, len, off);
}

ssize_t
pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return pwrite64(fd, buf, len, off);
}
