/*
 * client-conn.c: how a client verb reaches the running daemon.  Finding
 * it: --listen ADDR / TASKGATE_LISTEN takes what serve takes
 * (127.0.0.1:PORT, [::1]:PORT, unix:/path); a wildcard address (0.0.0.0,
 * [::]) is reached on loopback.  The token is read from --token-file /
 * TASKGATE_TOKEN_FILE (default $XDG_STATE_HOME/taskgate/token, else
 * ~/.local/state/taskgate/token) and never created here: only serve
 * makes it.  It is sent as "Authorization: Bearer" when the caller asks
 * (the actions), and with every request when the address is not a
 * loopback one (such a daemon runs --allow-remote and wants it
 * everywhere); never on a unix socket, where the daemon knows the
 * caller's Unix user (SO_PEERCRED) and needs no token.
 *
 * Requests: libcurl easy handles, http only, no redirects, no proxy, 5 s
 * to connect; the caller gives the whole request's time.  Replies are
 * capped at 8 MiB and must be a JSON object.  client_conn_easy() is the
 * handle every request shares, for watch's own transfers too.  Each
 * failure is one line on stderr starting "taskgate: ", the daemon's
 * words made safe (termtext.c).  It binds no socket and writes no file.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "client.h"

#define CLIENT_CONN_CONNECT_MS	5000L

/* Where the token file is by default (new), or NULL without a home. */
static char *
client_conn_default_token_file(void)
{
	const char	*xdg = getenv("XDG_STATE_HOME");
	const char	*home = getenv("HOME");
	char		*p;

	if (xdg != NULL && xdg[0] == '/')
		xasprintf(&p, "%s/taskgate/token", xdg);
	else if (home != NULL && home[0] == '/')
		xasprintf(&p, "%s/.local/state/taskgate/token", home);
	else
		return NULL;
	return p;
}

/* Fills c from the address and token file given; -1 after a line. */
int
client_conn_open(struct client_conn *c, const char *listen,
    const char *token_file)
{
	struct listen_addr	 a;
	char			 err[256], host[INET6_ADDRSTRLEN];
	int			 port;

	memset(c, 0, sizeof *c);
	if (options_parse_listen(listen, &a, err, sizeof err) == -1) {
		log_warnx("%s", err);
		return -1;
	}
	c->token_file = token_file != NULL ? xstrdup(token_file) :
	    client_conn_default_token_file();
	if (a.family == AF_UNIX) {
		c->unix_path = xstrdup(((struct sockaddr_un *)&a.ss)->sun_path);
		c->base = xstrdup("http://localhost");
		xasprintf(&c->where, "unix:%s", c->unix_path);
		return 0;
	}
	if (a.family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a.ss;

		port = ntohs(s4->sin_port);
		if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		xasprintf(&c->base, "http://%s:%d", host, port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.ss;

		port = ntohs(s6->sin6_port);
		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			s6->sin6_addr = in6addr_loopback;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
		xasprintf(&c->base, "http://[%s]:%d", host, port);
	}
	if (port == 0) {
		log_warnx("--listen %s: a client needs the "
		    "daemon's port", listen);
		free(c->base);
		free(c->token_file);
		memset(c, 0, sizeof *c);
		return -1;
	}
	c->where = xstrdup(c->base);
	c->remote = !a.loopback;
	return 0;
}

void
client_conn_close(struct client_conn *c)
{
	free(c->base);
	free(c->unix_path);
	free(c->where);
	free(c->token_file);
	explicit_bzero(c->token, sizeof c->token);
	memset(c, 0, sizeof *c);
}

/*
 * Reads the token into c->token, once.  A client never makes the file:
 * a missing one means no daemon has run with it.  -1 after a line.
 */
int
client_conn_token(struct client_conn *c)
{
	char	data[TASKGATE_TOKEN_HEX + 8];
	ssize_t	n;
	int	fd;

	if (c->token[0] != '\0')
		return 0;
	if (c->token_file == NULL) {
		log_warnx("neither XDG_STATE_HOME nor HOME is "
		    "set: give --token-file");
		return -1;
	}
	if ((fd = open(c->token_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) ==
	    -1) {
		if (errno == ENOENT)
			log_warnx("no token file at %s: start "
			    "'taskgate serve' first (it makes one), or give "
			    "--token-file", c->token_file);
		else
			log_warnx("cannot open token file %s: "
			    "%s", c->token_file, strerror(errno));
		return -1;
	}
	n = read(fd, data, sizeof data - 1);
	close(fd);
	if (n < 0) {
		log_warnx("cannot read token file %s: %s",
		    c->token_file, strerror(errno));
		return -1;
	}
	data[n] = '\0';
	data[strcspn(data, "\r\n")] = '\0';
	if (!valid_token_hex(data)) {
		log_warnx("token file %s does not hold 64 hex "
		    "digits", c->token_file);
		explicit_bzero(data, sizeof data);
		return -1;
	}
	memcpy(c->token, data, TASKGATE_TOKEN_HEX + 1);
	explicit_bzero(data, sizeof data);
	return 0;
}

/*
 * A new easy handle for path on the daemon, with the options every
 * request shares; *headers (new) must outlive it.  accept is the Accept
 * header's value.  With auth (or a remote daemon) the token is sent; NULL
 * after a line when it cannot be read.
 */
void *
client_conn_easy(struct client_conn *c, const char *path, bool auth,
    const char *accept, struct curl_slist **headers)
{
	CURL	*e;
	char	*s;

	*headers = NULL;
	/* On the unix socket the daemon knows the caller's Unix user, and
	 * a token (someone else's file, say) would only be in the way. */
	if (c->unix_path != NULL)
		auth = false;
	if ((auth || c->remote) && client_conn_token(c) == -1)
		return NULL;
	if ((e = curl_easy_init()) == NULL) {
		log_warnx("cannot initialise libcurl");
		return NULL;
	}
	xasprintf(&s, "%s%s", c->base, path);
	curl_easy_setopt(e, CURLOPT_URL, s);
	free(s);
	if (c->unix_path != NULL)
		curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, c->unix_path);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CLIENT_CONN_CONNECT_MS);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "taskgate/" PACKAGE_VERSION);
	xasprintf(&s, "Accept: %s", accept);
	*headers = curl_slist_append(*headers, s);
	free(s);
	if (auth || c->remote) {
		xasprintf(&s, "Authorization: Bearer %s", c->token);
		*headers = curl_slist_append(*headers, s);
		explicit_bzero(s, strlen(s));
		free(s);
	}
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, *headers);
	return e;
}

static size_t
client_conn_receive(char *p, size_t size, size_t n, void *arg)
{
	if (buf_add(arg, p, size * n) == -1)
		return 0;	/* over the cap: libcurl fails the transfer */
	return size * n;
}

/* True when rc says nothing answered at the address. */
static bool
client_conn_unanswered(CURLcode rc, CURL *e)
{
	double	connected = 0;

	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
		return true;
	case CURLE_OPERATION_TIMEDOUT:
		curl_easy_getinfo(e, CURLINFO_CONNECT_TIME, &connected);
		return connected <= 0;
	default:
		return false;
	}
}

/*
 * Runs METHOD path (an empty body for POST) and fills r.  Returns 0 when
 * the daemon answered, whatever the status, with a JSON body; -1 after
 * one line on stderr (the caller exits 2).
 */
int
client_conn_request(struct client_conn *c, const char *method,
    const char *path, bool auth, long timeout_ms, struct client_reply *r)
{
	struct curl_slist	*h;
	CURL			*e;
	CURLcode		 rc;

	memset(r, 0, sizeof *r);
	buf_init(&r->body, TASKGATE_MAX_UPSTREAM);
	if ((e = client_conn_easy(c, path, auth, "application/json",
	    &h)) == NULL)
		return -1;
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body != NULL ?
		    c->body : "");
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, c->body != NULL ?
		    (long)strlen(c->body) : 0L);
	}
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, client_conn_receive);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &r->body);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
	if (rc != CURLE_OK) {
		if (client_conn_unanswered(rc, e))
			log_warnx("no taskgate answers at %s (is "
			    "'taskgate serve' running?)", c->where);
		else if (rc == CURLE_OPERATION_TIMEDOUT)
			log_warnx("the taskgate at %s did not "
			    "answer %s %s within %ld s", c->where, method,
			    path, timeout_ms / 1000);
		else if (rc == CURLE_WRITE_ERROR)
			log_warnx("the answer of %s to %s %s is "
			    "over %d MiB", c->where, method, path,
			    TASKGATE_MAX_UPSTREAM / (1024 * 1024));
		else
			log_warnx("%s %s at %s: %s", method,
			    path, c->where, curl_easy_strerror(rc));
	}
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	if (rc != CURLE_OK)
		return -1;
	r->json = json_loadb(r->body.data != NULL ? r->body.data : "",
	    r->body.len, 0, NULL);
	if (!json_is_object(r->json)) {
		log_warnx("%s answered %s %s with status %ld "
		    "and no JSON object: is it taskgate?", c->where, method,
		    path, r->status);
		return -1;
	}
	return 0;
}

void
client_conn_reply_clear(struct client_reply *r)
{
	buf_clear(&r->body);
	json_decref(r->json);
	memset(r, 0, sizeof *r);
}


/*
 * GET /api/overview into r: 0, or the exit status after one line on
 * stderr (1 the daemon refused, 2 none answered), r then freed.
 */
int
client_conn_get_overview(struct client_conn *c, long timeout_ms,
    struct client_reply *r)
{
	if (client_conn_request(c, "GET", "/api/overview", false, timeout_ms,
	    r) == -1) {
		client_conn_reply_clear(r);
		return 2;
	}
	if (r->status != 200) {
		client_conn_refused("GET /api/overview", c, r);
		client_conn_reply_clear(r);
		return 1;
	}
	return 0;
}

/*
 * Prints a refusal: "taskgate: WHAT: ERROR" and each reason on its own
 * line, on stderr.
 */
void
client_conn_refused(const char *what, const struct client_conn *c,
    const struct client_reply *r)
{
	json_t		*reasons, *v;
	const char	*error, *code;
	char		*e, fallback[64];
	size_t		 i;
	bool		 utf8 = termtext_utf8_locale();

	error = json_string_value(json_object_get(r->json, "error"));
	code = json_string_value(json_object_get(r->json, "code"));
	if (error == NULL) {
		snprintf(fallback, sizeof fallback, "status %ld", r->status);
		error = fallback;
	}
	e = termtext_dup(error, utf8);
	fprintf(stderr, "taskgate: %s: %s", what, e);
	free(e);
	if (code != NULL) {
		e = termtext_dup(code, utf8);
		fprintf(stderr, " (%ld %s)\n", r->status, e);
		free(e);
	} else
		fprintf(stderr, " (%ld)\n", r->status);
	reasons = json_object_get(r->json, "reasons");
	json_array_foreach(reasons, i, v) {
		if (!json_is_string(v))
			continue;
		e = termtext_dup(json_string_value(v), utf8);
		fprintf(stderr, "  - %s\n", e);
		free(e);
	}
	if (r->status == 401) {
		e = log_escape(c->token_file != NULL ? c->token_file :
		    "(none)", 512);
		fprintf(stderr, "  - the token in %s is not this taskgate's "
		    "(see --token-file)\n", e);
		free(e);
	}
}
