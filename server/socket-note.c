/*
 * socket-note.c: the note that tells a client which has only the port
 * where the daemon's unix socket is, so a teammate's `taskgate status`
 * finds `serve --socket PATH` with no flag.  serve, listening on TCP
 * port P with --socket PATH, writes PATH into SOCKET_NOTE_DIR/
 * taskgate-P.socket (mode 0644; made under a fresh name and renamed in,
 * so a reader never sees half of one) and removes it when it stops (and
 * when it starts without --socket: a note of an earlier run that died).
 * /tmp's sticky bit keeps any other user from replacing or removing it;
 * a note another user left there first is not overwritten (the daemon
 * says so, and its clients then need --socket).
 *
 * A client verb with no --socket reads the note of the port it would
 * reach over TCP (a loopback or wildcard --listen), and takes the socket
 * only when the note, the socket and that port are all one user's: the
 * note's owner must be the user who listens on P, as the kernel says
 * (/proc/net/tcp and tcp6), and the socket must be theirs.  So it trusts
 * the socket exactly as far as it would trust the port.  Anything else
 * -- a note planted by another user, one a crashed daemon left, a socket
 * not the daemon's -- is said on stderr, with whose it is, and the client
 * goes over TCP as before.  The parse of a /proc/net/tcp line is
 * socket_note_listener(), pure, for the unit tests.
 */
#include <sys/stat.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "taskgate.h"

#ifndef SOCKET_NOTE_DIR
#define SOCKET_NOTE_DIR		"/tmp"
#endif
#define SOCKET_NOTE_MAX		4096	/* bytes of a note */

/* The note's path for port (new). */
static char *
socket_note_path(int port)
{
	char	*path;

	xasprintf(&path, "%s/taskgate-%d.socket", SOCKET_NOTE_DIR, port);
	return path;
}

/*
 * The port a client at a reaches over TCP on this machine (a loopback
 * or wildcard address), or 0: a unix socket, or another host.
 */
int
socket_note_port(const struct listen_addr *a)
{
	if (a->family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&a->ss;

		if (a->loopback || s4->sin_addr.s_addr == htonl(INADDR_ANY))
			return ntohs(s4->sin_port);
	} else if (a->family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)&a->ss;

		if (a->loopback || IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			return ntohs(s6->sin6_port);
	}
	return 0;
}

/* Whether s has no control character (a path a note may name). */
static bool
socket_note_plain(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* A user's name for messages, into out. */
static void
socket_note_user(uid_t uid, char *out, size_t len)
{
	struct passwd	*pw = getpwuid(uid);

	if (pw != NULL && valid_person_name(pw->pw_name))
		snprintf(out, len, "%s", pw->pw_name);
	else
		snprintf(out, len, "uid %lu", (unsigned long)uid);
}

/*
 * Writes the note for a daemon on port whose unix socket is socket_path.
 * A failure is one warning: the daemon runs on, its clients need
 * --socket.
 */
void
socket_note_write(int port, const char *socket_path)
{
	char		*path = socket_note_path(port), *tmp = NULL;
	char		 real[PATH_MAX], who[64];
	struct stat	 st;
	size_t		 len;
	int		 fd = -1;

	if (realpath(socket_path, real) == NULL) {
		log_warn("cannot note where the unix socket is: %s",
		    socket_path);
		goto out;
	}
	if (lstat(path, &st) == 0 && st.st_uid != geteuid()) {
		socket_note_user(st.st_uid, who, sizeof who);
		log_warnx("%s is %s's, not this daemon's: clients need "
		    "--socket %s (or TASKGATE_SOCKET) to find the unix "
		    "socket", path, who, real);
		goto out;
	}
	xasprintf(&tmp, "%s.XXXXXX", path);
	len = strlen(real);
	if ((fd = mkstemp(tmp)) == -1 || fchmod(fd, 0644) == -1 ||
	    write(fd, real, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
	    close(fd) == -1 || (fd = -1, rename(tmp, path) == -1)) {
		log_warn("cannot write %s (clients need --socket %s)", path,
		    real);
		if (fd != -1)
			close(fd);
		unlink(tmp);
	}
out:
	free(tmp);
	free(path);
}

/* Removes the note of port when it is this user's. */
void
socket_note_remove(int port)
{
	char		*path = socket_note_path(port);
	struct stat	 st;

	if (lstat(path, &st) == 0 && st.st_uid == geteuid())
		unlink(path);
	free(path);
}

/*
 * Whether line (of /proc/net/tcp or tcp6) is a socket listening on port
 * at a loopback or wildcard address; its owner into *uid.  Pure.
 */
bool
socket_note_listener(const char *line, int port, unsigned long *uid)
{
	char		addr[33];
	unsigned int	lport, state;
	size_t		n;

	if (sscanf(line, " %*s %32[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %lu",
	    addr, &lport, &state, uid) != 4)
		return false;
	if (state != 0x0A || (int)lport != port)	/* TCP_LISTEN */
		return false;
	n = strlen(addr);
	if (n == 8)	/* IPv4, the bytes in the kernel's order */
		return strcmp(addr, "00000000") == 0 ||
		    strncasecmp(addr + 6, "7F", 2) == 0;
	if (n == 32)	/* IPv6: ::, ::1, or ::ffff:127.x.y.z */
		return strcmp(addr, "00000000000000000000000000000000") == 0 ||
		    strcasecmp(addr, "00000000000000000000000001000000") == 0 ||
		    (strncasecmp(addr, "0000000000000000FFFF0000", 24) == 0 &&
		    strncasecmp(addr + 30, "7F", 2) == 0);
	return false;
}

/*
 * The one user who listens on port on this machine's loopback: 0 and
 * *uid, or -1 when nobody does or more than one user does.
 */
static int
socket_note_port_owner(int port, uid_t *uid)
{
	static const char	*const files[] = { "/proc/net/tcp",
				    "/proc/net/tcp6" };
	char			 line[512];
	unsigned long		 u;
	size_t			 i;
	bool			 found = false;
	FILE			*f;

	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		if ((f = fopen(files[i], "re")) == NULL)
			continue;
		while (fgets(line, sizeof line, f) != NULL) {
			if (!socket_note_listener(line, port, &u))
				continue;
			if (found && (uid_t)u != *uid) {
				fclose(f);
				return -1;
			}
			*uid = (uid_t)u;
			found = true;
		}
		fclose(f);
	}
	return found ? 0 : -1;
}

/*
 * The unix socket of the daemon on port, from its note (new), or NULL:
 * no note, or one that is not to be trusted, which is said on stderr.
 */
char *
socket_note_find(int port)
{
	char		*path = socket_note_path(port), *sock = NULL;
	char		 data[SOCKET_NOTE_MAX + 1], who[64], daemon[64];
	struct stat	 st, sst;
	ssize_t		 n;
	uid_t		 owner = 0;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK)) == -1) {
		if (errno != ENOENT)
			log_warn("not using %s", path);
		goto out;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (st.st_mode & 022) != 0 ||
	    (n = read(fd, data, sizeof data - 1)) <= 0) {
		log_warnx("not using %s: not a note a taskgate wrote",
		    path);
		close(fd);
		goto out;
	}
	close(fd);
	data[n] = '\0';
	data[strcspn(data, "\n")] = '\0';
	socket_note_user(st.st_uid, who, sizeof who);
	if (socket_note_port_owner(port, &owner) == -1) {
		log_warnx("not using %s (%s's): no one user listens on port "
		    "%d here", path, who, port);
		goto out;
	}
	if (owner != st.st_uid) {
		socket_note_user(owner, daemon, sizeof daemon);
		log_warnx("not using %s: it is %s's, but the taskgate on port "
		    "%d is %s's; give --socket PATH (TASKGATE_SOCKET) to "
		    "choose a socket", path, who, port, daemon);
		goto out;
	}
	if (data[0] != '/' || !socket_note_plain(data) ||
	    stat(data, &sst) == -1 || !S_ISSOCK(sst.st_mode) ||
	    sst.st_uid != owner) {
		log_warnx("not using the unix socket %s names: it is not "
		    "%s's socket", path, who);
		goto out;
	}
	sock = xstrdup(data);
out:
	free(path);
	return sock;
}

/*
 * Where a client verb reaches the daemon (new), as --listen takes it:
 * the unix socket socket names when it exists (--socket, given), else
 * the one the note of listen's port names, else listen itself.
 */
char *
socket_note_where(const char *socket, const char *listen)
{
	struct listen_addr	 a;
	struct stat		 st;
	char			*where, *found, err[256];
	int			 port;

	if (socket != NULL && stat(socket, &st) == 0 && S_ISSOCK(st.st_mode)) {
		xasprintf(&where, "unix:%s", socket);
		return where;
	}
	if (socket == NULL &&
	    options_parse_listen(listen, &a, err, sizeof err) == 0 &&
	    (port = socket_note_port(&a)) > 0 &&
	    (found = socket_note_find(port)) != NULL) {
		xasprintf(&where, "unix:%s", found);
		free(found);
		return where;
	}
	return xstrdup(listen);
}
