/*
 * assets.c: the dashboard's static files from the web root, with their
 * type, an ETag, and a Content-Security-Policy that allows nothing from
 * elsewhere; and the sign-in link: "/?token=..." sets the HttpOnly,
 * SameSite=Strict cookie and redirects to the clean URL, so the token
 * leaves the address bar.  It serves files only: no HTML is built here.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "taskgate.h"

#define ASSETS_MAX_FILE	(4 * 1024 * 1024)

static const struct {
	const char	*ext;
	const char	*type;
} assets_types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".json", "application/json; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".woff2", "font/woff2" },
};

/*
 * The web root to use when none is given: the source tree's web/ when
 * this binary runs from its build tree, else the installed copy.
 */
char *
assets_default_root(void)
{
	char	exe[PATH_MAX];
	ssize_t	n = readlink("/proc/self/exe", exe, sizeof exe - 1);

	if (n > 0) {
		exe[n] = '\0';
		if (strncmp(exe, TASKGATE_BUILDDIR "/",
		    strlen(TASKGATE_BUILDDIR) + 1) == 0)
			return xstrdup(TASKGATE_SRCDIR "/web");
	}
	return xstrdup(TASKGATE_WEBROOT);
}

static const char *
assets_type_of(const char *path)
{
	const char	*dot = strrchr(path, '.');
	size_t		 i;

	if (dot == NULL)
		return NULL;
	for (i = 0; i < sizeof assets_types / sizeof assets_types[0]; i++)
		if (strcmp(dot, assets_types[i].ext) == 0)
			return assets_types[i].type;
	return NULL;
}

/* True for a relative path of plain names: no "..", no dot files. */
static bool
assets_safe_path(const char *p)
{
	bool	start = true;

	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++) {
		char c = *p;

		if (c == '/') {
			if (start)
				return false;
			start = true;
			continue;
		}
		if (start && c == '.')
			return false;
		start = false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		    c == '-'))
			return false;
	}
	return !start;
}

/*
 * The sign-in link.  The owner's token is its own cookie, as it always
 * was; a person's token starts a sign-in of its own (people.c), whose
 * cookie signing out or removing the person ends.
 */
static enum MHD_Result
assets_sign_in(struct request *r, const char *token)
{
	struct MHD_Response	*resp;
	struct person		 p;
	char			*cookie, value[TASKGATE_TOKEN_HEX + 1];

	if (equal_const_time(token, auth_token(r->tg->auth)))
		snprintf(value, sizeof value, "%s", token);
	else if (people_by_token(r->tg->db, token, &p)) {
		if (people_sign_in(r->tg->db, p.name, value) == -1)
			return reply_error(r, REPLY_INTERNAL, "cannot record "
			    "the sign-in; try again");
	} else {
		r->bad_credentials = true;
		return reply_unauthorized(r, "this link's token opens nothing "
		    "here: use the link taskgate printed when it started, or "
		    "ask for a new one ('taskgate user link NAME')");
	}
	xasprintf(&cookie, "taskgate_token=%s; Path=/; HttpOnly; "
	    "SameSite=Strict", value);
	explicit_bzero(value, sizeof value);
	resp = MHD_create_response_from_buffer(0, NULL,
	    MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, cookie);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, "/");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-store");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	free(cookie);
	return reply_send(r, 303, resp);
}

/* GET of anything outside /api/: a file of the web root, or 404. */
enum MHD_Result
assets_serve(struct request *r)
{
	struct MHD_Response	*resp;
	struct stat		 st;
	const char		*rel, *type, *token;
	char			*path, *data, etag[40];
	ssize_t			 n;
	size_t			 got = 0;
	int			 fd;

	token = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND,
	    "token");
	if (strcmp(r->path, "/") == 0 && token != NULL)
		return assets_sign_in(r, token);
	rel = strcmp(r->path, "/") == 0 ? "index.html" : r->path + 1;
	if (!assets_safe_path(rel) || (type = assets_type_of(rel)) == NULL)
		return reply_not_found(r);
	xasprintf(&path, "%s/%s", r->tg->web_root, rel);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	free(path);
	if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > ASSETS_MAX_FILE) {
		if (fd != -1)
			close(fd);
		return reply_not_found(r);
	}
	data = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size &&
	    (n = read(fd, data + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	close(fd);
	etag_of(data, got, etag, sizeof etag);
	if (etag_match(request_header(r, MHD_HTTP_HEADER_IF_NONE_MATCH), etag)) {
		free(data);
		resp = MHD_create_response_from_buffer(0, NULL,
		    MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
		return reply_send(r, 304, resp);
	}
	resp = MHD_create_response_from_buffer(got, data,
	    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
	    "no-cache");
	MHD_add_response_header(resp, "Content-Security-Policy",
	    "default-src 'self'");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	return reply_send(r, 200, resp);
}
