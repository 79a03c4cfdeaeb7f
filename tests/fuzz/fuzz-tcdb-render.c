/*
 * fuzz-tcdb-render.c: the rows of a tasks.db as a broken or hostile file
 * holds them, and a request for them, rendered as the old API would
 * answer.  Every answer must be JSON text.
 *
 * The input is lines.  The first is the request: its first byte picks a
 * route (and GET or POST), the rest of the line follows it.  Each other
 * line is a row, its fields split by tabs, missing ones NULL:
 *   s ID NAME STATUS WORKTREE
 *   t ID STREAM TITLE STATUS AGENT CLAIMED_BY CLAIMED_AT CREATED_AT
 *     UPDATED_AT METADATA BLOCKED_REASON LAST_LOG DESCRIPTION PRD PARENT
 * (one line each; METADATA is any JSON).  The seeds are the .rows files
 * in tests/fuzz/seeds/.
 */
#include <stdlib.h>
#include <string.h>

#include "taskgate.h"

#define FUZZ_MAX_FIELDS	16

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char *const fuzz_routes[] = {
	"/api/streams", "/api/streams/", "/api/tasks?", "/api/activity?",
	"/health", "/api/checkpoints", "/api/", "",
};

/* Splits line at tabs into f (pointers into line); the number of fields. */
static size_t
fuzz_fields(char *line, char **f)
{
	size_t	n = 0;

	while (n < FUZZ_MAX_FIELDS) {
		f[n++] = line;
		if ((line = strchr(line, '\t')) == NULL)
			break;
		*line++ = '\0';
	}
	return n;
}

static char *
fuzz_dup(char **f, size_t n, size_t i)
{
	return i < n ? xstrdup(f[i]) : NULL;
}

static void
fuzz_row(struct tcdb_rows *s, char *line)
{
	char	*f[FUZZ_MAX_FIELDS];
	size_t	 n = fuzz_fields(line + 1, f);

	if (line[0] == 's') {
		struct tcdb_stream_row *r;

		s->streams = xrealloc(s->streams, (s->n_streams + 1) *
		    sizeof *s->streams);
		r = &s->streams[s->n_streams++];
		r->id = strtoll(f[0], NULL, 10);
		r->name = fuzz_dup(f, n, 1);
		r->status = fuzz_dup(f, n, 2);
		r->worktree = fuzz_dup(f, n, 3);
	} else if (line[0] == 't') {
		struct tcdb_task *t;

		s->tasks = xrealloc(s->tasks, (s->n_tasks + 1) *
		    sizeof *s->tasks);
		t = &s->tasks[s->n_tasks++];
		memset(t, 0, sizeof *t);
		t->id = strtoll(f[0], NULL, 10);
		t->stream_row = n > 1 ? strtoll(f[1], NULL, 10) : 0;
		t->title = fuzz_dup(f, n, 2);
		t->status = fuzz_dup(f, n, 3);
		t->agent = fuzz_dup(f, n, 4);
		t->claimed_by = fuzz_dup(f, n, 5);
		t->claimed_at = fuzz_dup(f, n, 6);
		t->created_at = fuzz_dup(f, n, 7);
		t->updated_at = fuzz_dup(f, n, 8);
		t->metadata = n > 9 ? json_loads(f[9], JSON_DECODE_ANY |
		    JSON_ALLOW_NUL, NULL) : NULL;
		t->blocked_reason = fuzz_dup(f, n, 10);
		t->last_log = fuzz_dup(f, n, 11);
		t->description = fuzz_dup(f, n, 12);
		if ((t->has_prd_id = n > 13))
			t->prd_id = strtoll(f[13], NULL, 10);
		if ((t->has_parent_id = n > 14))
			t->parent_id = strtoll(f[14], NULL, 10);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tcdb_rows	*s = xcalloc(1, sizeof *s);
	enum tcdb_result	 r;
	json_t			*body = NULL;
	char			*text = xmalloc(size + 1), *end = text + size;
	char			*line, *next, *uri;
	unsigned char		 pick;
	double			 now;

	/* A NUL ends its field early, as in a C string from SQLite. */
	memcpy(text, data, size);
	*end = '\0';
	for (line = text; line < end; line = next) {
		if ((next = memchr(line, '\n', (size_t)(end - line))) == NULL)
			next = end;
		*next++ = '\0';
		if (line != text)
			fuzz_row(s, line);
	}
	pick = (unsigned char)text[0];
	xasprintf(&uri, "%s%s", fuzz_routes[pick % 8], pick != '\0' ?
	    text + 1 : "");
	/* Around the fixture's times, a minute per step either way. */
	now = 1795689300.0 + ((int)(pick >> 3) - 16) * 60.0;

	r = tcdb_render_request(s, (pick & 0xf8) == 0xf8 ? "POST" : "GET",
	    uri, now, &body);
	if ((unsigned)r > TCDB_READ_ONLY || body == NULL)
		abort();
	free(text);
	text = json_dumps(body, JSON_COMPACT);
	if (text == NULL)
		abort();
	free(text);
	json_decref(body);
	free(uri);
	tcdb_rows_free(s);
	return 0;
}
