/*
 * http.c: the HTTP face.  It owns the libmicrohttpd daemons and the listen
 * socket (acceptor.c hands each connection to one of them), the route
 * table, the making of each request's state (struct request; request.c
 * has the rest of its life), and the checks every request passes before
 * a handler runs (Host, token, Origin, stream id, body cap, query).
 * Handlers live in api-*.c and assets.c, and answer through reply.c.
 *
 * Threading model: two libmicrohttpd daemons with epoll: the general one,
 * one thread with 32 KiB per connection, and one for event-stream clients,
 * two threads with 8 KiB (see acceptor.c); and suspend/resume for every
 * request that has to wait (a cache miss, a forwarded write, a session
 * action, an event-stream client with nothing to read).  A waiting
 * request costs a suspended connection, not a thread, so hundreds of
 * clients and a slow upstream do not need hundreds of threads on a
 * two-core box; answering from memory this way measured faster than
 * nginx on a two-core machine (bench/run).  Handlers share state only
 * through the modules' own locks.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "taskgate.h"

#define HTTP_MAX_CONNECTIONS	4000
/* More than the acceptor ever hands a daemon (it keeps the limits, see
 * acceptor.c): a place or two may stay counted a moment after it closed. */
#define HTTP_LIMIT_MARGIN	64
/* A query of more arguments is answered 431: libmicrohttpd keeps each in
 * the connection's pool, and one that does not fit there is never
 * answered (0.9.75).  So many fit with a 16 KiB URL and the headers. */
#define HTTP_MAX_QUERY_ARGS	128
#define HTTP_IDLE_TIMEOUT	30	/* seconds */
/* One thread answers the general requests: on a two-core box that its
 * clients share, a second one only time-shares the cores (the same req/s,
 * p99 twice as long in bench/run).  Two write a broadcast to a thousand
 * event-stream clients, one per core (p50 20 -> 9 ms). */
#define HTTP_GENERAL_THREADS	1
#define HTTP_EVENT_THREADS	2

#define M_GET	0x1	/* GET and HEAD */
#define M_POST	0x2

enum access {
	ACCESS_PUBLIC,	/* anyone who passes the Host check */
	ACCESS_READ,	/* public on loopback, a viewer under --allow-remote */
	ACCESS_VIEW,	/* a viewer: pane output, the audit */
	ACCESS_OPERATE,	/* an operator: the actions */
	ACCESS_ADMIN,	/* an admin: the people */
	ACCESS_HOOK	/* a window's hook secret, checked by its handler */
};

struct route {
	const char	*pattern;	/* "{id}" matches one stream id */
	unsigned	 methods;
	enum access	 access;
	enum MHD_Result	(*handler)(struct request *);
};

static enum MHD_Result http_whoami(struct request *);
static enum MHD_Result http_sign_out(struct request *);
static enum MHD_Result http_people(struct request *);
static enum MHD_Result http_people_check(struct request *);

static const struct route http_routes[] = {
	{ "/health", M_GET, ACCESS_PUBLIC, api_upstream_health },
	{ "/api/streams", M_GET, ACCESS_READ, api_upstream_list },
	{ "/api/streams/{id}", M_GET, ACCESS_READ, api_upstream_detail },
	{ "/api/streams/{id}/health", M_GET, ACCESS_READ,
	  api_upstream_passthrough },
	{ "/api/streams/{id}/checkpoint", M_POST, ACCESS_OPERATE,
	  api_upstream_checkpoint },
	{ "/api/tasks", M_GET, ACCESS_READ, api_upstream_passthrough },
	{ "/api/activity", M_GET, ACCESS_READ, api_upstream_passthrough },
	{ "/api/checkpoints", M_GET, ACCESS_READ, api_upstream_passthrough },
	{ "/api/streams/{id}/history", M_GET, ACCESS_READ,
	  api_streams_history },
	{ "/api/overview", M_GET, ACCESS_READ, api_streams_overview },
	{ "/api/events", M_GET, ACCESS_READ, api_events_serve },
	{ "/metrics", M_GET, ACCESS_READ, api_metrics_serve },
	{ "/api/streams/{id}/start", M_POST, ACCESS_OPERATE, api_sessions_start },
	{ "/api/streams/{id}/stop", M_POST, ACCESS_OPERATE, api_sessions_stop },
	{ "/api/streams/{id}/recover", M_POST, ACCESS_OPERATE,
	  api_sessions_recover },
	{ "/api/run", M_POST, ACCESS_OPERATE, api_sessions_run },
	{ "/api/streams/{id}/reply", M_POST, ACCESS_OPERATE, api_sessions_reply },
	{ "/api/streams/{id}/resume", M_POST, ACCESS_OPERATE,
	  api_sessions_resume },
	{ "/api/sessions", M_GET, ACCESS_READ, api_sessions_list },
	{ "/api/sessions/{id}/output", M_GET, ACCESS_VIEW,
	  api_sessions_output },
	{ "/api/audit", M_GET, ACCESS_VIEW, api_sessions_audit },
	{ "/api/whoami", M_GET, ACCESS_READ, http_whoami },
	{ "/api/signout", M_POST, ACCESS_PUBLIC, http_sign_out },
	{ "/api/people", M_GET, ACCESS_ADMIN, http_people },
	{ "/api/people/check", M_POST, ACCESS_ADMIN, http_people_check },
	{ "/api/hooks/{id}", M_POST, ACCESS_HOOK, api_hooks_post },
	{ "/api/hooks/{id}/status", M_POST, ACCESS_HOOK, api_hooks_status },
};
#define HTTP_NROUTES (sizeof http_routes / sizeof http_routes[0])


/* What a daemon's callbacks are given: taskgate, and which daemon. */
struct http_door {
	struct taskgate		*tg;
	struct http		*http;
	bool			 events;	/* the event-stream daemon */
};

/*
 * One connection's state: the request it is reading, so that a request
 * libmicrohttpd drops without the completed callback (it can, on its
 * error paths) is freed with the next one or with the connection.
 */
struct http_conn {
	struct request		*req;		/* or NULL */
};

struct http {
	struct http_door	 general_door, events_door;
	struct MHD_Daemon	*general;
	struct MHD_Daemon	*events;	/* GET /api/events only */
	struct acceptor		*acceptor;
	int			 fd;
	bool			 is_unix;	/* a unix socket: peers are named */
};

static void	*http_uri_log(void *, const char *, struct MHD_Connection *);
static void	 http_connection(void *, struct MHD_Connection *, void **,
		    enum MHD_ConnectionNotificationCode);
static void	 http_completed(void *, struct MHD_Connection *, void **,
		    enum MHD_RequestTerminationCode);
static enum MHD_Result http_access(void *, struct MHD_Connection *,
		    const char *, const char *, const char *, const char *,
		    size_t *, void **);
static enum MHD_Result http_dispatch(struct request *);
static const struct route *http_match(const char *, char *, bool *);
static void	 http_mhd_log(void *, const char *, va_list);

/*
 * Creates, binds and listens on the socket for a; returns it, or -1 with
 * one line in err (a busy port named as such).  A unix socket is mode
 * 0600, or 0660 and of group when one is named (the team that may
 * connect).
 */
int
http_listen_socket(const struct listen_addr *a, const char *group, char *err,
    size_t errlen)
{
	int	fd, on = 1;
	gid_t	gid = (gid_t)-1;

	if (a->family == AF_UNIX && group != NULL) {
		struct group	 gr, *res = NULL;
		char		 buf[4096];

		if (getgrnam_r(group, &gr, buf, sizeof buf, &res) != 0 ||
		    res == NULL) {
			snprintf(err, errlen, "--socket-group %s: there is no "
			    "such group", group);
			return -1;
		}
		gid = gr.gr_gid;
	}

	fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		snprintf(err, errlen, "cannot listen on %s: %s", a->text,
		    strerror(errno));
		return -1;
	}
	if (a->family == AF_UNIX) {
		const char *path = ((const struct sockaddr_un *)&a->ss)->sun_path;
		struct stat st;

		/* A socket file nobody answers on is left over: replace it. */
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
			int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
			    0);

			if (probe != -1 && connect(probe,
			    (const struct sockaddr *)&a->ss, a->len) == -1)
				unlink(path);
			if (probe != -1)
				close(probe);
		}
	} else
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (a->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1) {
		if (errno == EADDRINUSE)
			snprintf(err, errlen, "cannot listen on %s: the address "
			    "is in use (is another taskgate running?)",
			    a->text);
		else
			snprintf(err, errlen, "cannot listen on %s: %s",
			    a->text, strerror(errno));
		close(fd);
		return -1;
	}
	if (a->family == AF_UNIX) {
		const char *path = ((const struct sockaddr_un *)&a->ss)->sun_path;

		if (gid != (gid_t)-1 && (chown(path, (uid_t)-1, gid) == -1 ||
		    chmod(path, 0660) == -1)) {
			snprintf(err, errlen, "cannot give %s to group %s: %s",
			    a->text, group, strerror(errno));
			close(fd);
			unlink(path);
			return -1;
		}
		if (gid == (gid_t)-1)
			chmod(path, 0600);
	}
	if (listen(fd, 1024) == -1) {
		snprintf(err, errlen, "cannot listen on %s: %s", a->text,
		    strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* The port fd is bound to, or 0 for a unix socket. */
int
http_bound_port(int fd)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/*
 * The base URL a process on this box reaches the socket fd at, into out
 * ("http://127.0.0.1:9191"; the loopback address for a wildcard one), or
 * -1 for a unix socket, which Claude Code's hooks cannot reach.
 */
int
http_local_base(int fd, char *out, size_t len)
{
	struct sockaddr_storage	ss;
	socklen_t		sl = sizeof ss;
	char			host[INET6_ADDRSTRLEN];

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		return -1;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		if (in->sin_addr.s_addr == htonl(INADDR_ANY))
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		snprintf(out, len, "http://%s:%d", host, ntohs(in->sin_port));
		return 0;
	}
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			in6->sin6_addr = in6addr_loopback;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		snprintf(out, len, "http://[%s]:%d", host,
		    ntohs(in6->sin6_port));
		return 0;
	}
	return -1;
}

static void	http_mhd_log(void *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

static void
http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char	line[512];

	(void)cls;
	vsnprintf(line, sizeof line, fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("libmicrohttpd: %s", line);
}

/*
 * Starts one libmicrohttpd daemon that takes its connections from the
 * acceptor: pool is each connection's memory, limit its connections,
 * threads its epoll threads (each connection stays on one).
 */
static struct MHD_Daemon *
http_daemon(struct http_door *door, size_t pool, unsigned int limit,
    unsigned int threads)
{
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD |
	    MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC |
	    MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
	    0, NULL, NULL, http_access, door,
	    MHD_OPTION_URI_LOG_CALLBACK, http_uri_log, door,
	    MHD_OPTION_NOTIFY_COMPLETED, http_completed, door,
	    MHD_OPTION_NOTIFY_CONNECTION, http_connection, door,
	    MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, door,
	    MHD_OPTION_CONNECTION_LIMIT, limit,
	    /* A client that sends or reads nothing for this long is cut:
	     * a slowloris starves nobody.  Waiting event-stream clients
	     * are suspended, and a suspended connection never times out. */
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_IDLE_TIMEOUT,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, pool,
	    MHD_OPTION_THREAD_POOL_SIZE, threads,
	    MHD_OPTION_END);
}

/* Starts serving on the listening socket fd; NULL with err on failure. */
struct http *
http_start(struct taskgate *tg, int fd, char *err, size_t errlen)
{
	struct http	*h = xcalloc(1, sizeof *h);

	h->general_door.tg = h->events_door.tg = tg;
	h->general_door.http = h->events_door.http = h;
	h->events_door.events = true;
	h->fd = fd;
	h->is_unix = http_bound_port(fd) == 0;
	/* 32 KiB holds a 20 KiB URL, which must reach taskgate to get the
	 * upstream's own 431 (and an 8,000-character query its answer). */
	h->general = http_daemon(&h->general_door, ACCEPTOR_HEAD_MAX,
	    HTTP_MAX_CONNECTIONS + HTTP_LIMIT_MARGIN, HTTP_GENERAL_THREADS);
	/* A head of at most TASKGATE_EVENTS_HEAD_MAX bytes, a waiting
	 * client: 8 KiB is plenty, and a thousand dashboards cost 8 MiB
	 * less than in the general pool.  More connections than the event
	 * stream takes, so that one too many gets a clear 503.  The limit
	 * of the daemon is per thread, and the acceptor cannot choose the
	 * thread: each may take them all. */
	h->events = http_daemon(&h->events_door, 8 * 1024,
	    HTTP_EVENT_THREADS * (TASKGATE_EVENTS_MAX_CLIENTS + 100) +
	    HTTP_LIMIT_MARGIN, HTTP_EVENT_THREADS);
	if (h->general == NULL || h->events == NULL) {
		snprintf(err, errlen, "cannot start the HTTP server");
		goto fail;
	}
	h->acceptor = acceptor_start(fd, h->general, HTTP_MAX_CONNECTIONS,
	    h->events, TASKGATE_EVENTS_MAX_CLIENTS + 100, err, errlen);
	if (h->acceptor == NULL)
		goto fail;
	return h;
fail:
	if (h->general != NULL)
		MHD_stop_daemon(h->general);
	if (h->events != NULL)
		MHD_stop_daemon(h->events);
	free(h);
	return NULL;
}

void
http_stop(struct http *h)
{
	if (h == NULL)
		return;
	acceptor_stop(h->acceptor);
	MHD_stop_daemon(h->events);
	MHD_stop_daemon(h->general);
	/* After the daemons: their last connections tell it they closed. */
	acceptor_free(h->acceptor);
	close(h->fd);
	free(h);
}

/*
 * libmicrohttpd's word on a connection: it keeps the state of each, and
 * tells the acceptor when one has closed.
 */
static void
http_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
    enum MHD_ConnectionNotificationCode code)
{
	struct http_door	*door = cls;
	struct http_conn	*hc = *socket_ctx;

	(void)conn;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_ctx = xcalloc(1, sizeof *hc);
		return;
	}
	if (hc != NULL) {
		request_free(hc->req);
		free(hc);
		*socket_ctx = NULL;
	}
	acceptor_closed(door->http->acceptor, door->events ? ACCEPTOR_EVENTS :
	    ACCEPTOR_GENERAL);
}

/*
 * The number of arguments in the query of uri: 0 without a query, else
 * one more than its '&' (as libmicrohttpd splits it).
 */
size_t
http_query_args(const char *uri)
{
	const char	*q = strchr(uri, '?');
	size_t		 n;

	if (q == NULL || q[1] == '\0')
		return 0;
	for (n = 1; (q = strchr(q + 1, '&')) != NULL; n++)
		;
	return n;
}

/*
 * The first thing MHD calls for a request: it makes the request state.
 * It is also the last moment before libmicrohttpd splits the query: a
 * query of too many arguments is cut off here (the raw URI is kept in
 * r->uri) and answered 431 by http_dispatch().
 */
static void *
http_uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_door	*door = cls;
	struct request		*r = xcalloc(1, sizeof *r);
	const union MHD_ConnectionInfo *ci;
	struct http_conn	*hc;

	r->tg = door->tg;
	r->events_door = door->events;
	r->http = door->http;
	r->conn = conn;
	r->uri = xstrdup(uri != NULL ? uri : "/");
	buf_init(&r->body, TASKGATE_MAX_BODY);
	if (uri != NULL && http_query_args(uri) > HTTP_MAX_QUERY_ARGS) {
		/* The bytes are the connection's own read buffer, which
		 * libmicrohttpd splits after this call. */
		char	*q = strchr(uri, '?');

		q[1] = '\0';
		r->too_many_args = true;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (ci != NULL && (hc = ci->socket_context) != NULL) {
		request_free(hc->req);	/* one it never completed */
		hc->req = r;
		r->slot = &hc->req;
	}
	return r;
}


static void
http_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
    enum MHD_RequestTerminationCode why)
{
	(void)cls;
	(void)conn;
	(void)why;
	request_free(*req_cls);
	*req_cls = NULL;
}


static enum MHD_Result
http_access(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **req_cls)
{
	struct request	*r = *req_cls;

	(void)cls;
	(void)url;
	(void)version;
	if (r == NULL)
		return MHD_NO;
	switch (r->state) {
	case REQ_NEW:
		/* Answering in this first call makes libmicrohttpd close
		 * the connection (seen in testing): only take note and
		 * wait. */
		r->conn = conn;
		r->method = method;
		r->state = REQ_BODY;
		return MHD_YES;
	case REQ_BODY:
		if (*upload_size > 0) {
			if (!r->body_too_big &&
			    buf_add(&r->body, upload, *upload_size) == -1)
				r->body_too_big = true;
			*upload_size = 0;
			return MHD_YES;
		}
		r->state = REQ_RUN;
		return http_dispatch(r);
	case REQ_WAITING:
		r->state = REQ_RUN;
		return r->route->handler(r);
	case REQ_RUN:
	case REQ_DONE:
		break;
	}
	*upload_size = 0;
	return MHD_YES;
}

/*
 * Matches path against the table and copies the {id} segment, if any, into
 * id; *bad_id tells that segment is not a valid stream id.
 */
static const struct route *
http_match(const char *path, char *id, bool *bad_id)
{
	size_t	 plen = strlen(path), i;

	*bad_id = false;
	/*
	 * "/api/streams/" is "/api/streams", as upstream, which takes the
	 * slash on its plugin roots "/api/NAME/" and on no other route:
	 * "/health/" and "/api/streams/ID/" are 404 there, and here.
	 */
	if (plen > 6 && path[plen - 1] == '/' && strncmp(path, "/api/", 5) == 0 &&
	    memchr(path + 5, '/', plen - 6) == NULL)
		plen--;
	for (i = 0; i < HTTP_NROUTES; i++) {
		const char	*pat = http_routes[i].pattern;
		const char	*p = path, *end = path + plen;
		const char	*hole = strstr(pat, "{id}");
		size_t		 pre, seglen;

		if (hole == NULL) {
			if (strlen(pat) == plen && strncmp(pat, path, plen) == 0)
				return &http_routes[i];
			continue;
		}
		pre = (size_t)(hole - pat);
		if (plen <= pre || strncmp(pat, p, pre) != 0)
			continue;
		p += pre;
		seglen = strcspn(p, "/");
		if (p + seglen > end)
			seglen = (size_t)(end - p);
		if ((size_t)(end - (p + seglen)) != strlen(hole + 4) ||
		    strncmp(p + seglen, hole + 4, strlen(hole + 4)) != 0)
			continue;
		if (seglen > STREAM_ID_MAX) {
			*bad_id = true;
			return &http_routes[i];
		}
		memcpy(id, p, seglen);
		id[seglen] = '\0';
		*bad_id = !valid_stream_id(id);
		return &http_routes[i];
	}
	return NULL;
}



/* 431 for a URL over 16 KiB, byte for byte as the upstream answers it. */
static enum MHD_Result
http_uri_too_long(struct request *r)
{
	static const char	 body[] = "{\"error\":\"Request Header Fields Too "
				    "Large\",\"message\":\"Exceeded maximum "
				    "allowed HTTP header size\",\"statusCode\":431}";
	struct MHD_Response	*resp;

	resp = MHD_create_response_from_buffer(sizeof body - 1, (void *)body,
	    MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
	    "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	return reply_send(r, 431, resp);
}

static bool
http_method_allowed(unsigned methods, const char *m)
{
	if ((methods & M_GET) && (strcmp(m, "GET") == 0 ||
	    strcmp(m, "HEAD") == 0))
		return true;
	return (methods & M_POST) && strcmp(m, "POST") == 0;
}

struct http_header_scan {
	const char	*name;		/* to count */
	int		 n;
};

static enum MHD_Result
http_header_one(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct http_header_scan	*scan = cls;

	(void)kind;
	(void)value;
	if (key != NULL && strcasecmp(key, scan->name) == 0)
		scan->n++;
	return MHD_YES;
}

/* How many times the request carries the header name. */
static int
http_header_count(struct request *r, const char *name)
{
	struct http_header_scan	scan = { name, 0 };

	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, http_header_one,
	    &scan);
	return scan.n;
}

/* The connection's socket, or -1. */
static int
http_conn_fd(struct request *r)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(r->conn,
	    MHD_CONNECTION_INFO_CONNECTION_FD);
	return ci != NULL ? ci->connect_fd : -1;
}

/* The address r came from, for counting its wrong tokens, into r->peer. */
static void
http_peer_name(struct request *r)
{
	const union MHD_ConnectionInfo *ci;
	uid_t	uid;
	char	login[PERSON_NAME_MAX + 8];

	if (r->http->is_unix) {
		if (auth_peer_user(http_conn_fd(r), &uid, login,
		    sizeof login) == 0)
			snprintf(r->peer, sizeof r->peer, "unix:%lu",
			    (unsigned long)uid);
		else
			snprintf(r->peer, sizeof r->peer, "unix:?");
		return;
	}
	ci = MHD_get_connection_info(r->conn,
	    MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		snprintf(r->peer, sizeof r->peer, "?");
	else if (ci->client_addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)ci->client_addr)->sin_addr, r->peer,
		    sizeof r->peer);
	else if (ci->client_addr->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)ci->client_addr)->sin6_addr, r->peer,
		    sizeof r->peer);
	else
		snprintf(r->peer, sizeof r->peer, "?");
}

/*
 * Who r is: the owner (the token file's token, as Bearer or cookie), a
 * person (their token as Bearer, their sign-in's cookie), or, on the
 * unix socket only, the Unix user at the other end: the person their
 * login names, else the daemon's own user as an admin and any other as a
 * viewer.  Sets r->auth, r->role and r->actor; a token or cookie that
 * opens nothing sets r->bad_credentials and counts for nothing else.
 */
static void
http_identify(struct request *r)
{
	struct taskgate	*tg = r->tg;
	const char	*authz = request_header(r,
			    MHD_HTTP_HEADER_AUTHORIZATION);
	const char	*cookie = request_header(r, MHD_HTTP_HEADER_COOKIE);
	struct person	 p;
	char		 value[TASKGATE_TOKEN_HEX + 2];
	char		 login[PERSON_NAME_MAX + 8];
	enum auth_via	 via;
	uid_t		 uid;

	r->role = ROLE_NONE;
	r->actor[0] = '\0';
	/* Whose wrong tokens to count: a header's, a cookie's, a link's. */
	http_peer_name(r);
	r->auth = auth_check(tg->auth, authz, cookie);
	if (r->auth != AUTH_NONE) {
		r->role = ROLE_ADMIN;
		snprintf(r->actor, sizeof r->actor, "%s",
		    session_owner(tg->sessions));
		return;
	}
	via = auth_presented(authz, cookie, value, sizeof value);
	if ((via == AUTH_BEARER && people_by_token(tg->db, value, &p)) ||
	    (via == AUTH_COOKIE && people_by_cookie(tg->db, value, &p))) {
		r->auth = via;
		r->role = p.role;
		snprintf(r->actor, sizeof r->actor, "%s", p.name);
		snprintf(r->person, sizeof r->person, "%s", p.name);
		if (via == AUTH_BEARER)
			people_hash(value, r->token_sha256);
	} else if (via != AUTH_NONE)
		r->bad_credentials = true;
	else if (r->http->is_unix && auth_peer_user(http_conn_fd(r), &uid,
	    login, sizeof login) == 0) {
		r->auth = AUTH_UNIX;
		if (people_by_unix_user(tg->db, login, &p)) {
			r->role = p.role;
			snprintf(r->actor, sizeof r->actor, "%s", p.name);
			snprintf(r->person, sizeof r->person, "%s", p.name);
		} else {
			r->role = uid == geteuid() ? ROLE_ADMIN : ROLE_VIEWER;
			snprintf(r->actor, sizeof r->actor, "%s", login);
		}
	}
	explicit_bzero(value, sizeof value);
}

/* Runs the checks every request passes, then its handler. */
static enum MHD_Result
http_dispatch(struct request *r)
{
	struct taskgate	*tg = r->tg;
	const char	*host = request_header(r, MHD_HTTP_HEADER_HOST);
	bool		 bad_id, is_get;
	enum access	 access;

	metrics_count(tg->metrics, METRIC_HTTP_REQUESTS);
	r->crowded = !r->events_door && acceptor_crowded(r->http->acceptor);
	if (!auth_host_allowed(tg->auth, host))
		return reply_error(r, REPLY_FORBIDDEN_HOST, "the Host header "
		    "does not name this server; use localhost, 127.0.0.1 "
		    "or [::1], or start taskgate with --allowed-host");
	if (http_header_count(r, MHD_HTTP_HEADER_HOST) > 1)
		return reply_error(r, REPLY_BAD_HEADER, "the request has more "
		    "than one Host header");
	/* The upstream's own limit and answer, for every path alike. */
	if (strlen(r->uri) > TASKGATE_MAX_URI)
		return http_uri_too_long(r);
	if (r->too_many_args)
		return reply_error(r, REPLY_TOO_MANY_ARGS, "a query takes at "
		    "most %d arguments", HTTP_MAX_QUERY_ARGS);
	/* Route on our own decoding of the raw path, the one forwarded. */
	if (valid_decode_path(r->uri, &r->path) == -1)
		return reply_error(r, REPLY_BAD_PATH, "the path has a bad or NUL "
		    "percent-escape");
	if (r->body_too_big)
		return reply_error(r, REPLY_TOO_LARGE, "request bodies are "
		    "limited to %d KiB", TASKGATE_MAX_BODY / 1024);
	is_get = strcmp(r->method, "GET") == 0 ||
	    strcmp(r->method, "HEAD") == 0;
	r->route = http_match(r->path, r->id, &bad_id);
	http_identify(r);
	if (r->route == NULL) {
		/* The sign-in link itself carries the token it checks. */
		bool sign_in = strcmp(r->path, "/") == 0 &&
		    MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
		    "token") != NULL;

		if (tg->opts->allow_remote && r->role == ROLE_NONE && !sign_in)
			return reply_unauthorized(r, "this taskgate accepts "
			    "remote clients, so every request needs a token");
		if (is_get && strncmp(r->path, "/api/", 5) != 0)
			return assets_serve(r);
		return reply_not_found(r);
	}
	if (!http_method_allowed(r->route->methods, r->method))
		return reply_bad_method(r, r->route->methods & M_POST ? "POST" :
		    "GET, HEAD");
	if (bad_id)
		return reply_error(r, REPLY_BAD_ID, "stream ids are 1 to 64 "
		    "letters, digits, '.', '_' or '-', starting with a letter "
		    "or digit");
	access = r->route->access;
	if (access == ACCESS_READ && tg->opts->allow_remote)
		access = ACCESS_VIEW;
	if (access == ACCESS_VIEW || access == ACCESS_OPERATE ||
	    access == ACCESS_ADMIN) {
		enum role need = access == ACCESS_VIEW ? ROLE_VIEWER :
		    access == ACCESS_OPERATE ? ROLE_OPERATOR : ROLE_ADMIN;

		if (r->role == ROLE_NONE)
			return reply_unauthorized(r, "this needs a token: send "
			    "'Authorization: Bearer TOKEN' (the owner's is in "
			    "the token file; 'taskgate user link NAME' makes "
			    "a person's) or open a sign-in link once");
		if (r->role < need)
			return reply_error(r, REPLY_FORBIDDEN_ROLE, "%s is %s "
			    "%s; this needs the %s role", r->actor,
			    r->role == ROLE_OPERATOR ? "an" : "a",
			    role_name(r->role), role_name(need));
		if (r->auth == AUTH_COOKIE && !is_get &&
		    !auth_origin_matches(request_header(r, "Origin"), host))
			return reply_error(r, REPLY_FORBIDDEN_ORIGIN, "a write "
			    "signed in by cookie must come from this "
			    "server's own pages (Origin)");
	}
	return r->route->handler(r);
}

/*
 * GET /api/whoami: who this request is (the page cannot read its HttpOnly
 * cookie), their role, what that role may do, and whether reads need a
 * token.
 */
static enum MHD_Result
http_whoami(struct request *r)
{
	return reply_json(r, 200, json_pack("{s:b,s:s?,s:s?,s:s,s:b,s:b,"
	    "s:b}", "signedIn", r->role != ROLE_NONE, "via",
	    r->auth == AUTH_BEARER ? "bearer" : r->auth == AUTH_COOKIE ?
	    "cookie" : r->auth == AUTH_UNIX ? "unix" : NULL, "name",
	    r->role != ROLE_NONE ? r->actor : NULL, "role",
	    role_name(r->role), "mayOperate", r->role >= ROLE_OPERATOR,
	    "mayManagePeople", r->role >= ROLE_ADMIN, "tokenRequired",
	    r->tg->opts->allow_remote));
}

/*
 * POST /api/signout: ends this browser's sign-in (a person's is deleted,
 * so the cookie opens nothing even if it was copied) and its cookie.
 */
static enum MHD_Result
http_sign_out(struct request *r)
{
	struct MHD_Response	*resp;
	char			 value[TASKGATE_TOKEN_HEX + 2];

	if (auth_presented(NULL, request_header(r, MHD_HTTP_HEADER_COOKIE),
	    value, sizeof value) == AUTH_COOKIE)
		people_sign_out(r->tg->db, value);
	explicit_bzero(value, sizeof value);
	resp = MHD_create_response_from_buffer(0, NULL,
	    MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE,
	    "taskgate_token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	return reply_send(r, 204, resp);
}

/* GET /api/people: who shares this taskgate (admins only). */
static enum MHD_Result
http_people(struct request *r)
{
	json_t	*list = people_list(r->tg->db);

	if (list == NULL)
		return reply_error(r, REPLY_INTERNAL, "cannot read the people");
	return reply_json(r, 200, json_pack("{s:o}", "people", list));
}

/*
 * POST /api/people/check (admins only): ends now the event streams of
 * people who are no longer people, and those that came with a token
 * since replaced.  `taskgate user remove` and `user link` call it once
 * they changed the database, so those streams end at once rather than
 * at the next poll.  It reads the database, never the
 * request: a name in a body would be a claim, the database is the fact.
 * No lock is held here: events_end_gone() resumes the connections it
 * ends once it let the events lock go.
 */
static enum MHD_Result
http_people_check(struct request *r)
{
	size_t	ended = events_end_gone(r->tg->events, people_gone, r->tg->db);

	return reply_json(r, 200, json_pack("{s:I}", "endedStreams",
	    (json_int_t)ended));
}
