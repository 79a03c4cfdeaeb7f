/*
 * auth.c: who may talk to taskgate.  It owns the token (read from, or
 * created in, the token file), the Bearer and cookie checks with a
 * constant-time comparison, the Host allowlist that defeats DNS rebinding,
 * and the Origin check for cookie-authenticated writes.  It never logs the
 * token.  It also owns the count of wrong tokens and cookies per address
 * (AUTH_GUESS_MAX in AUTH_GUESS_WINDOW seconds, then 429 with Retry-After
 * until the window ends) and the reading of a unix socket peer's
 * credentials (SO_PEERCRED).  Who a person is belongs to people.c.
 */
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "taskgate.h"

#define AUTH_COOKIE_NAME "taskgate_token"
#define AUTH_GUESS_MAX		20	/* wrong tokens an address may send */
#define AUTH_GUESS_WINDOW	60	/* in this many seconds */
#define AUTH_GUESS_SLOTS	256	/* addresses remembered */

/* The wrong tokens one address sent in its current window. */
struct auth_guesses {
	char		 addr[64];	/* "" when free */
	double		 since;		/* clock_mono() of the window */
	int		 n;
};

struct auth {
	char	  token[TASKGATE_TOKEN_HEX + 1];
	char	**hosts;	/* extra allowed Host names (--allowed-host) */
	size_t	  n_hosts;
	pthread_mutex_t	 lock;	/* guards guesses */
	struct auth_guesses guesses[AUTH_GUESS_SLOTS];
};

static int	auth_read_token(int, const char *, char *, char *, size_t);

static int
auth_read_token(int fd, const char *path, char *out, char *err, size_t errlen)
{
	char		 data[TASKGATE_TOKEN_HEX + 8];
	ssize_t		 n;
	struct stat	 st;

	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "token file %s is not a regular file",
		    path);
		return -1;
	}
	if ((st.st_mode & 077) != 0)
		log_warnx("token file %s can be read by other users; "
		    "chmod 600 it", path);
	n = read(fd, data, sizeof data - 1);
	if (n < 0) {
		snprintf(err, errlen, "cannot read token file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	data[n] = '\0';
	data[strcspn(data, "\r\n")] = '\0';
	if (!valid_token_hex(data)) {
		snprintf(err, errlen, "token file %s does not hold 64 hex "
		    "digits; delete it to have a new one made", path);
		return -1;
	}
	memcpy(out, data, TASKGATE_TOKEN_HEX + 1);
	return 0;
}

/* 32 fresh random bytes in hex into out (65 bytes); -1 if none came. */
int
auth_random_hex(char *out, size_t outlen)
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 raw[TASKGATE_TOKEN_HEX / 2];
	size_t			 i;

	if (outlen < TASKGATE_TOKEN_HEX + 1 ||
	    getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return -1;
	for (i = 0; i < sizeof raw; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 0xf];
	}
	out[TASKGATE_TOKEN_HEX] = '\0';
	return 0;
}

/*
 * Reads the token from path into out (65 bytes), or creates the file with
 * 32 fresh random bytes in hex, mode 0600, when it does not exist.
 */
int
auth_token_file(const char *path, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char			 line[TASKGATE_TOKEN_HEX + 2];
	int			 fd, rc;

	if (outlen < TASKGATE_TOKEN_HEX + 1)
		return -1;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd != -1) {
		rc = auth_read_token(fd, path, out, err, errlen);
		close(fd);
		return rc;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "cannot open token file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (files_mkdirs_for(path, err, errlen) == -1)
		return -1;
	if (auth_random_hex(line, sizeof line) == -1) {
		snprintf(err, errlen, "cannot get random bytes: %s",
		    strerror(errno));
		return -1;
	}
	line[TASKGATE_TOKEN_HEX] = '\n';
	line[TASKGATE_TOKEN_HEX + 1] = '\0';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1 || write(fd, line, TASKGATE_TOKEN_HEX + 1) !=
	    TASKGATE_TOKEN_HEX + 1 || fsync(fd) == -1) {
		snprintf(err, errlen, "cannot write token file %s: %s", path,
		    strerror(errno));
		if (fd != -1) {
			close(fd);
			unlink(path);
		}
		return -1;
	}
	close(fd);
	memcpy(out, line, TASKGATE_TOKEN_HEX);
	out[TASKGATE_TOKEN_HEX] = '\0';
	return 0;
}

/* Returns a new auth for the token file at path, or NULL with err set. */
struct auth *
auth_new(const char *path, char **hosts, size_t n_hosts, char *err,
    size_t errlen)
{
	struct auth	*a = xcalloc(1, sizeof *a);
	size_t		 i;

	if (auth_token_file(path, a->token, sizeof a->token, err,
	    errlen) == -1) {
		free(a);
		return NULL;
	}
	a->hosts = xcalloc(n_hosts, sizeof *a->hosts);
	for (i = 0; i < n_hosts; i++)
		a->hosts[i] = xstrdup(hosts[i]);
	a->n_hosts = n_hosts;
	pthread_mutex_init(&a->lock, NULL);
	return a;
}

void
auth_free(struct auth *a)
{
	size_t	i;

	if (a == NULL)
		return;
	for (i = 0; i < a->n_hosts; i++)
		free(a->hosts[i]);
	free(a->hosts);
	pthread_mutex_destroy(&a->lock);
	explicit_bzero(a->token, sizeof a->token);
	free(a);
}

const char *
auth_token(const struct auth *a)
{
	return a->token;
}

/*
 * True when the Host header names this server: localhost, 127.0.0.1,
 * [::1] or an --allowed-host name, with any port.
 */
bool
auth_host_allowed(const struct auth *a, const char *host)
{
	char		 name[256];
	const char	*end;
	size_t		 len, i;

	if (host == NULL || host[0] == '\0')
		return false;
	if (host[0] == '[') {
		end = strchr(host, ']');
		if (end == NULL)
			return false;
		end++;
	} else {
		end = strchr(host, ':');
		if (end == NULL)
			end = host + strlen(host);
	}
	if (*end != '\0') {
		const char *p = end;

		if (*p++ != ':' || *p == '\0')
			return false;
		for (; *p != '\0'; p++)
			if (*p < '0' || *p > '9')
				return false;
	}
	len = (size_t)(end - host);
	if (len >= sizeof name)
		return false;
	memcpy(name, host, len);
	name[len] = '\0';
	if (len > 0 && name[len - 1] == '.')
		name[len - 1] = '\0';
	if (strcasecmp(name, "localhost") == 0 ||
	    strcmp(name, "127.0.0.1") == 0 || strcmp(name, "[::1]") == 0)
		return true;
	for (i = 0; i < a->n_hosts; i++)
		if (strcasecmp(name, a->hosts[i]) == 0)
			return true;
	return false;
}

/* Finds the value of the taskgate cookie in a Cookie header, into out. */
static bool
auth_cookie_value(const char *cookie, char *out, size_t outlen)
{
	const char	*p = cookie;
	size_t		 nlen = strlen(AUTH_COOKIE_NAME);

	while (p != NULL && *p != '\0') {
		size_t vlen;

		while (*p == ' ' || *p == ';')
			p++;
		if (strncmp(p, AUTH_COOKIE_NAME, nlen) == 0 && p[nlen] == '=') {
			p += nlen + 1;
			vlen = strcspn(p, ";");
			if (vlen >= outlen)
				return false;
			memcpy(out, p, vlen);
			out[vlen] = '\0';
			return true;
		}
		p = strchr(p, ';');
	}
	return false;
}

/*
 * Checks the Authorization header (Bearer) first, then the Cookie header.
 * Both comparisons are constant-time.
 */
enum auth_via
auth_check(const struct auth *a, const char *authorization,
    const char *cookie)
{
	char	value[TASKGATE_TOKEN_HEX + 2];

	if (authorization != NULL &&
	    strncasecmp(authorization, "Bearer ", 7) == 0) {
		const char *t = authorization + 7;

		while (*t == ' ')
			t++;
		if (equal_const_time(t, a->token))
			return AUTH_BEARER;
		return AUTH_NONE;
	}
	if (cookie != NULL && auth_cookie_value(cookie, value, sizeof value) &&
	    equal_const_time(value, a->token))
		return AUTH_COOKIE;
	return AUTH_NONE;
}

/* True when Origin is http://HOST for the Host the request was sent to. */
bool
auth_origin_matches(const char *origin, const char *host)
{
	if (origin == NULL || host == NULL)
		return false;
	if (strncasecmp(origin, "http://", 7) != 0)
		return false;
	return strcasecmp(origin + 7, host) == 0;
}

/*
 * The credential a request presents, into out (at most outlen - 1 bytes):
 * the Bearer token when there is an Authorization header of that scheme,
 * else the taskgate cookie.  AUTH_NONE when it presents none.
 */
enum auth_via
auth_presented(const char *authorization, const char *cookie, char *out,
    size_t outlen)
{
	out[0] = '\0';
	if (authorization != NULL &&
	    strncasecmp(authorization, "Bearer ", 7) == 0) {
		const char *t = authorization + 7;

		while (*t == ' ')
			t++;
		snprintf(out, outlen, "%s", t);
		return AUTH_BEARER;
	}
	if (cookie != NULL && auth_cookie_value(cookie, out, outlen))
		return AUTH_COOKIE;
	out[0] = '\0';
	return authorization != NULL ? AUTH_BEARER : AUTH_NONE;
}

/*
 * Counts a wrong token or cookie from addr.  Returns 0 while the address
 * is within its allowance, else the seconds until its window ends (for
 * Retry-After).  A right token is never refused for its address's wrong
 * ones, so a guesser on loopback cannot lock the others out.
 */
int
auth_guess_failed(struct auth *a, const char *addr)
{
	struct auth_guesses	*g = NULL, *unused = NULL, *oldest = NULL;
	double			 now = clock_mono();
	int			 wait = 0;
	size_t			 i;

	pthread_mutex_lock(&a->lock);
	for (i = 0; i < AUTH_GUESS_SLOTS && g == NULL; i++) {
		struct auth_guesses *s = &a->guesses[i];

		if (s->addr[0] != '\0' && now - s->since >= AUTH_GUESS_WINDOW)
			s->addr[0] = '\0';
		if (s->addr[0] == '\0') {
			if (unused == NULL)
				unused = s;
		} else if (strcmp(s->addr, addr) == 0)
			g = s;
		else if (oldest == NULL || s->since < oldest->since)
			oldest = s;
	}
	if (g == NULL) {
		g = unused != NULL ? unused : oldest;
		snprintf(g->addr, sizeof g->addr, "%s", addr);
		g->since = now;
		g->n = 0;
	}
	if (++g->n > AUTH_GUESS_MAX) {
		wait = (int)(AUTH_GUESS_WINDOW - (now - g->since)) + 1;
		if (wait < 1)
			wait = 1;
	}
	pthread_mutex_unlock(&a->lock);
	return wait;
}

/*
 * The Unix user at the other end of fd, when fd is a unix socket: its
 * uid, and its login into login (or "uid N" when it has none).  -1 for
 * any other socket: credentials count only on the unix socket.
 */
int
auth_peer_user(int fd, uid_t *uid, char *login, size_t loginlen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof ss;
	struct ucred		 cred;
	socklen_t		 cl = sizeof cred;
	struct passwd		 pw, *res = NULL;
	char			 buf[4096];

	if (fd == -1 || getsockname(fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    ss.ss_family != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == -1)
		return -1;
	*uid = cred.uid;
	if (getpwuid_r(cred.uid, &pw, buf, sizeof buf, &res) == 0 &&
	    res != NULL && valid_person_name(pw.pw_name))
		snprintf(login, loginlen, "%s", pw.pw_name);
	else
		snprintf(login, loginlen, "uid %lu", (unsigned long)cred.uid);
	return 0;
}
