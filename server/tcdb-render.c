/*
 * tcdb-render.c: the rows of Task Copilot 3's `.copilot/tasks.db` (struct
 * tcdb_rows, read by tcdb.c) as the old HTTP API's answers: the stream
 * list and detail, tasks, activity, a stream's health and /health, with
 * the fields mapped as docs/tc-source.md describes.
 *
 * Pure: no SQLite, no I/O, no clock (the time is given).  What it cannot
 * answer is a tcdb_result with the old API's error body, never an HTTP
 * status: tcdb.c, which plays the old API's server, maps results to
 * statuses.  The rows are untrusted: any text may be NULL, metadata is
 * whatever an LLM wrote (anything but an object counts as none), and the
 * request's path and query are a client's.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "taskgate.h"

#define TC_ACTIVE_S	300	/* the old API's isActive window */
#define TC_STALE_S	600	/* its "no activity for 10+ minutes" */

/*
 * A stream as the old API listed it: one tc stream (tasks.stream_id), or,
 * for tasks in no tc stream, the metadata.streamId they name, else
 * "unassigned".
 */
struct tc_stream {
	long long	 row;		/* streams.id; 0: in none */
	const char	*meta_id;	/* a rowless group's streamId, or NULL */
	char		 label[STREAM_ID_MAX + 1];
	const char	*name;
	const char	*phase;
	bool		 phase_written;	/* metadata.streamPhase */
	const char	*worktree;
	bool		 archived;
	json_t		*deps;		/* labels (new) */
	json_t		*files;		/* (new) */
	struct model_counts c;
	size_t		 first;		/* index of its first task */
};

/* The streams of a snapshot, and which one each task is in. */
struct tc_groups {
	struct tc_stream	*v;
	size_t			 n;
	size_t			*of;		/* [task index] -> index in v */
};

static const char *const tc_agent_names[][2] = {
	{ "me", "Engineer" }, { "ta", "Tech Architect" }, { "qa", "QA Engineer" },
	{ "sec", "Security" }, { "doc", "Documentation" }, { "do", "DevOps" },
	{ "sd", "Service Designer" }, { "uxd", "UX Designer" },
	{ "uids", "UI Designer" }, { "uid", "UI Developer" },
	{ "cw", "Copywriter" },
};

void
tcdb_rows_free(struct tcdb_rows *s)
{
	size_t	i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n_tasks; i++) {
		struct tcdb_task *t = &s->tasks[i];

		json_decref(t->metadata);
		free(t->title);
		free(t->description);
		free(t->status);
		free(t->agent);
		free(t->claimed_by);
		free(t->claimed_at);
		free(t->created_at);
		free(t->updated_at);
		free(t->blocked_reason);
		free(t->last_log);
	}
	for (i = 0; i < s->n_streams; i++) {
		free(s->streams[i].name);
		free(s->streams[i].status);
		free(s->streams[i].worktree);
	}
	free(s->tasks);
	free(s->streams);
	free(s->deps);
	free(s);
}

/* A task's metadata when it is an object, else NULL (borrowed). */
static json_t *
tc_meta(const struct tcdb_task *t)
{
	return json_is_object(t->metadata) ? t->metadata : NULL;
}

static const char *
tc_meta_str(const struct tcdb_task *t, const char *key)
{
	return json_string_value(json_object_get(tc_meta(t), key));
}

/* A task's status; tc's default when the row has none. */
static const char *
tc_status(const struct tcdb_task *t)
{
	return t->status != NULL ? t->status : "pending";
}

static const char *
tc_title(const struct tcdb_task *t)
{
	return t->title != NULL ? t->title : "";
}

/*
 * The length of the UTF-8 sequence at s, 0 when it is not one: as jansson
 * checks, no overlong forms, surrogates or code points past U+10FFFF.
 */
static size_t
tc_utf8_len(const unsigned char *s)
{
	uint32_t	cp;
	size_t		n, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* the NUL stops here too */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * Text for the answer (new).  SQLite hands back whatever bytes were
 * stored, and a path or query may decode to any: each byte that is not
 * part of valid UTF-8 is shown as U+FFFD, so a row is never dropped from
 * an answer (JSON cannot carry it as it is).
 */
static json_t *
tc_text(const char *s)
{
	const unsigned char	*u = (const unsigned char *)s;
	json_t			*out;
	char			*fixed;
	size_t			 i = 0, j = 0, n;

	if (s == NULL)
		return json_null();
	if ((out = json_string(s)) != NULL)
		return out;
	fixed = xmalloc(strlen(s) * 3 + 1);
	while (u[i] != '\0') {
		if ((n = tc_utf8_len(u + i)) == 0) {
			memcpy(fixed + j, "\xef\xbf\xbd", 3);
			j += 3;
			i++;
			continue;
		}
		memcpy(fixed + j, u + i, n);
		i += n;
		j += n;
	}
	fixed[j] = '\0';
	out = json_string(fixed);
	free(fixed);
	return out;
}

static bool
tc_iso_ok(const char *t)
{
	return t != NULL && strlen(t) >= 19;
}

/* "2026-11-26 10:33:13" as the old API wrote times (new), or NULL. */
static char *
tc_iso(const char *t)
{
	char	*out;

	if (!tc_iso_ok(t))
		return NULL;
	xasprintf(&out, "%.10sT%.8s.000Z", t, t + 11);
	return out;
}

/* A stored time as an ISO string, or null (new). */
static json_t *
tc_time(const char *t)
{
	char	*iso = tc_iso(t);
	json_t	*out = iso != NULL ? tc_text(iso) : json_null();

	free(iso);
	return out;
}

static double
tc_epoch(const char *t)
{
	struct tm	tm;

	if (t == NULL)
		return 0;
	memset(&tm, 0, sizeof tm);
	if (strptime(t, "%Y-%m-%d %H:%M:%S", &tm) == NULL)
		return 0;
	return (double)timegm(&tm);
}

static const struct tcdb_stream_row *
tc_row(const struct tcdb_rows *s, long long id)
{
	size_t	i;

	for (i = 0; i < s->n_streams; i++)
		if (s->streams[i].id == id)
			return &s->streams[i];
	return NULL;
}

static bool
tc_row_archived(const struct tcdb_stream_row *r)
{
	return r != NULL && r->status != NULL &&
	    strcmp(r->status, "archived") == 0;
}

static const char *
tc_agent_name(const char *id)
{
	size_t	i;

	for (i = 0; i < sizeof tc_agent_names / sizeof tc_agent_names[0]; i++)
		if (strcmp(tc_agent_names[i][0], id) == 0)
			return tc_agent_names[i][1];
	return id;
}

static void
tc_union(json_t *into, json_t *list)
{
	json_t	*v, *w;
	size_t	 i, j;
	bool	 seen;

	json_array_foreach(list, i, v) {
		if (!json_is_string(v))
			continue;
		seen = false;
		json_array_foreach(into, j, w)
			if (json_equal(v, w))
				seen = true;
		if (!seen)
			json_array_append(into, v);
	}
}

static int
tc_phase_rank(const char *p)
{
	if (p == NULL)
		return 3;
	if (strcmp(p, "foundation") == 0)
		return 0;
	if (strcmp(p, "parallel") == 0)
		return 1;
	if (strcmp(p, "integration") == 0)
		return 2;
	return 3;
}

/* Whether task t belongs in group g (before labels are given). */
static bool
tc_in_group(const struct tc_stream *g, const struct tcdb_task *t,
    const char *meta_id)
{
	if (t->stream_row > 0 || g->row > 0)
		return g->row == t->stream_row;
	if (meta_id == NULL || g->meta_id == NULL)
		return meta_id == NULL && g->meta_id == NULL;
	return strcmp(meta_id, g->meta_id) == 0;
}

/* A task's metadata.streamId when it is a valid id, else NULL. */
static const char *
tc_meta_id(const struct tcdb_task *t)
{
	const char	*id = tc_meta_str(t, "streamId");

	return id != NULL && valid_stream_id(id) ? id : NULL;
}

static bool
tc_label_taken(const struct tc_stream *v, size_t n, const char *label)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].label, label) == 0)
			return true;
	return false;
}

/*
 * A valid stream id made from a stream's name: letters, digits, '.', '_'
 * and '-' kept, every other run of bytes one '-' ("Workstream 02" is
 * "Workstream-02"), cut to STREAM_ID_MAX; "stream-ROW" when nothing is
 * left.
 */
void
tcdb_id_from_name(const char *name, long long row, char *out, size_t len)
{
	size_t	i, j = 0;
	bool	dash = false;

	if (len > STREAM_ID_MAX + 1)
		len = STREAM_ID_MAX + 1;
	for (i = 0; name != NULL && name[i] != '\0' && j + 1 < len; i++) {
		unsigned char	c = (unsigned char)name[i];
		bool		alnum = (c >= 'A' && c <= 'Z') ||
				    (c >= 'a' && c <= 'z') ||
				    (c >= '0' && c <= '9');

		if (alnum || (j > 0 && (c == '.' || c == '_' || c == '-'))) {
			if (dash && j + 2 < len)
				out[j++] = '-';
			dash = false;
			out[j++] = (char)c;
		} else if (j > 0)
			dash = true;
	}
	out[j] = '\0';
	if (j == 0)
		snprintf(out, len, "stream-%lld", row);
}

/*
 * Gives group k its id: the streamId most of its tasks' metadata name
 * (the first of a tie), else one made from its name; never one an
 * earlier group has.
 */
static void
tc_give_label(const struct tcdb_rows *s, struct tc_groups *g, size_t k)
{
	struct tc_stream	*st = &g->v[k];
	json_t			*votes = json_object(), *v;
	const char		*best = NULL, *key;
	json_int_t		 most = 0;
	char			 base[STREAM_ID_MAX + 1];
	size_t			 i;
	int			 n;

	for (i = st->first; i < s->n_tasks; i++) {
		const char	*id = tc_meta_id(&s->tasks[i]);

		if (g->of[i] != k || id == NULL)
			continue;
		v = json_object_get(votes, id);
		json_object_set_new(votes, id, json_integer(v != NULL ?
		    json_integer_value(v) + 1 : 1));
	}
	json_object_foreach(votes, key, v) {
		if (json_integer_value(v) > most &&
		    !tc_label_taken(g->v, k, key)) {
			most = json_integer_value(v);
			best = key;
		}
	}
	if (best != NULL)
		snprintf(st->label, sizeof st->label, "%s", best);
	json_decref(votes);
	if (best != NULL)
		return;
	if (st->row == 0 && st->meta_id == NULL)
		snprintf(base, sizeof base, "%s", "unassigned");
	else
		tcdb_id_from_name(st->name != NULL ? st->name : st->meta_id,
		    st->row, base, sizeof base);
	snprintf(st->label, sizeof st->label, "%s", base);
	for (n = 2; tc_label_taken(g->v, k, st->label); n++)
		snprintf(st->label, sizeof st->label, "%.*s-%d",
		    STREAM_ID_MAX - 12, base, n);
}

/* Counts task t into its stream. */
static void
tc_count(struct tc_stream *st, const struct tcdb_task *t)
{
	const char	*status = tc_status(t);
	const char	*phase = tc_meta_str(t, "streamPhase");
	json_t		*deps;

	if (!st->phase_written && tc_phase_rank(phase) < 3) {
		st->phase = phase;
		st->phase_written = true;
	}
	deps = json_object_get(tc_meta(t), "streamDependencies");
	if (deps == NULL)
		deps = json_object_get(tc_meta(t), "dependencies");
	tc_union(st->deps, deps);
	tc_union(st->files, json_object_get(tc_meta(t), "files"));
	st->c.total++;
	if (strcmp(status, "completed") == 0)
		st->c.completed++;
	else if (strcmp(status, "in_progress") == 0)
		st->c.in_progress++;
	else if (strcmp(status, "blocked") == 0)
		st->c.blocked++;
	else if (strcmp(status, "pending") == 0)
		st->c.pending++;
	else if (strcmp(status, "cancelled") == 0)
		st->c.cancelled++;
}

static int
tc_index_cmp(const void *a, const void *b, void *arg)
{
	const struct tcdb_rows	*s = arg;
	long long		 x = s->tasks[*(const size_t *)a].id;
	long long		 y = s->tasks[*(const size_t *)b].id;

	return x < y ? -1 : x > y;
}

/* The index of the task with that id, in by (indexes sorted by id). */
static bool
tc_task_index(const struct tcdb_rows *s, const size_t *by, long long id,
    size_t *out)
{
	size_t	lo = 0, hi = s->n_tasks, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->tasks[by[mid]].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->n_tasks || s->tasks[by[lo]].id != id)
		return false;
	*out = by[lo];
	return true;
}

/*
 * A task that waits for a task of another stream (task_dependencies)
 * makes its stream depend on that one, beside what the metadata says.
 */
static void
tc_task_deps(const struct tcdb_rows *s, struct tc_groups *g)
{
	size_t	*by, i, a, b;
	json_t	*one;

	if (s->n_deps == 0 || s->n_tasks == 0)
		return;
	by = xcalloc(s->n_tasks, sizeof *by);
	for (i = 0; i < s->n_tasks; i++)
		by[i] = i;
	qsort_r(by, s->n_tasks, sizeof *by, tc_index_cmp, (void *)s);
	for (i = 0; i < s->n_deps; i++) {
		if (!tc_task_index(s, by, s->deps[i].task, &a) ||
		    !tc_task_index(s, by, s->deps[i].on, &b) ||
		    g->of[a] == g->of[b])
			continue;
		one = json_pack("[s]", g->v[g->of[b]].label);
		tc_union(g->v[g->of[a]].deps, one);
		json_decref(one);
	}
	free(by);
}

/*
 * Groups the tasks into streams, as tc does: by tasks.stream_id.  A tc
 * stream without tasks is not listed (the old API's streams were made of
 * tasks).  Fills g (free with tc_groups_free()).
 */
static void
tc_streams(const struct tcdb_rows *s, struct tc_groups *g)
{
	size_t	i, k, pass;

	memset(g, 0, sizeof *g);
	g->of = xcalloc(s->n_tasks + 1, sizeof *g->of);
	for (i = 0; i < s->n_tasks; i++) {
		const struct tcdb_task		*t = &s->tasks[i];
		const struct tcdb_stream_row	*row = tc_row(s, t->stream_row);
		const char			*meta_id = t->stream_row > 0 ?
						    NULL : tc_meta_id(t);
		struct tc_stream		*st = NULL;

		for (k = 0; k < g->n && st == NULL; k++)
			if (tc_in_group(&g->v[k], t, meta_id))
				st = &g->v[k];
		if (st == NULL) {
			g->v = xrealloc(g->v, (g->n + 1) * sizeof *g->v);
			st = &g->v[g->n++];
			memset(st, 0, sizeof *st);
			st->row = t->stream_row > 0 ? t->stream_row : 0;
			st->meta_id = meta_id;
			st->first = i;
			st->deps = json_array();
			st->files = json_array();
			if (row != NULL)
				st->name = row->name;
			else if (meta_id != NULL)
				st->name = tc_meta_str(t, "streamName");
			else if (st->row == 0)
				st->name = "unassigned";
			st->worktree = row != NULL ? row->worktree : NULL;
			st->archived = tc_row_archived(row);
		}
		g->of[i] = (size_t)(st - g->v);
		tc_count(st, t);
	}
	for (k = 0; k < g->n; k++) {
		tc_give_label(s, g, k);
		if (g->v[k].name == NULL)
			g->v[k].name = g->v[k].label;
	}
	tc_task_deps(s, g);
	/* No streamPhase written: derive it from the dependency graph. */
	for (pass = 0; pass < 3; pass++) {
		for (k = 0; k < g->n; k++) {
			struct tc_stream	*v = g->v;
			json_t			*d;
			size_t			 j, m;
			int			 worst = -1;

			if (v[k].phase_written)
				continue;
			if (json_array_size(v[k].deps) == 0) {
				v[k].phase = "foundation";
				continue;
			}
			json_array_foreach(v[k].deps, j, d)
				for (m = 0; m < g->n; m++)
					if (strcmp(v[m].label,
					    json_string_value(d)) == 0 &&
					    tc_phase_rank(v[m].phase) > worst)
						worst = tc_phase_rank(
						    v[m].phase);
			v[k].phase = worst <= 0 ? "parallel" : "integration";
		}
	}
}

static void
tc_groups_free(struct tc_groups *g)
{
	size_t	i;

	for (i = 0; i < g->n; i++) {
		json_decref(g->v[i].deps);
		json_decref(g->v[i].files);
	}
	free(g->v);
	free(g->of);
}

/* The label of task i's stream. */
static const char *
tc_label(const struct tc_groups *g, size_t i)
{
	return g->v[g->of[i]].label;
}

static int
tc_stream_cmp(const void *a, const void *b)
{
	const struct tc_stream	*x = a, *y = b;
	int			 d = tc_phase_rank(x->phase) -
				    tc_phase_rank(y->phase);

	return d != 0 ? d : strcmp(x->name, y->name);
}

/* A task in the old API's shape (new); optional fields omitted. */
static json_t *
tc_task_json(const struct tcdb_task *t)
{
	json_t	*o = json_object();

	json_object_set_new(o, "id", json_integer(t->id));
	if (t->has_prd_id)
		json_object_set_new(o, "prdId", json_integer(t->prd_id));
	if (t->has_parent_id)
		json_object_set_new(o, "parentId", json_integer(t->parent_id));
	json_object_set_new(o, "title", tc_text(tc_title(t)));
	if (t->description != NULL && *t->description != '\0')
		json_object_set_new(o, "description", tc_text(t->description));
	if (t->agent != NULL)
		json_object_set_new(o, "assignedAgent", tc_text(t->agent));
	json_object_set_new(o, "status", tc_text(tc_status(t)));
	if (strcmp(tc_status(t), "blocked") == 0 && t->blocked_reason != NULL)
		json_object_set_new(o, "blockedReason",
		    tc_text(t->blocked_reason));
	json_object_set_new(o, "metadata", tc_meta(t) != NULL ?
	    json_incref(tc_meta(t)) : json_object());
	json_object_set_new(o, "createdAt", tc_time(t->created_at));
	json_object_set_new(o, "updatedAt", tc_time(t->updated_at));
	return o;
}

/* A query parameter, percent-decoded (new), or NULL. */
static char *
tc_query(const char *uri, const char *name)
{
	const char	*q = strchr(uri, '?'), *p;
	size_t		 nlen = strlen(name);

	if (q == NULL)
		return NULL;
	for (p = q + 1; *p != '\0'; p += strcspn(p, "&"), p += *p == '&') {
		size_t	 len = strcspn(p, "&"), i, j = 0;
		char	*v;

		if (len <= nlen || strncmp(p, name, nlen) != 0 || p[nlen] != '=')
			continue;
		v = xmalloc(len);
		for (i = nlen + 1; i < len; i++) {
			if (p[i] == '%' && i + 2 < len + 1 && isxdigit(
			    (unsigned char)p[i + 1]) && isxdigit(
			    (unsigned char)p[i + 2])) {
				char hex[3] = { p[i + 1], p[i + 2], 0 };

				v[j++] = (char)strtol(hex, NULL, 16);
				i += 2;
			} else
				v[j++] = p[i] == '+' ? ' ' : p[i];
		}
		v[j] = '\0';
		return v;
	}
	return NULL;
}

/* True when the query's includeArchived is "true". */
static bool
tc_with_archived(const char *uri)
{
	char	*arch = tc_query(uri, "includeArchived");
	bool	 yes = arch != NULL && strcmp(arch, "true") == 0;

	free(arch);
	return yes;
}

/* GET /api/streams */
static json_t *
tcdb_render_list(const struct tcdb_rows *s, bool with_archived)
{
	struct tc_groups	 g;
	struct tc_stream	*v;
	json_t			*list = json_array();
	size_t			 n, i;

	tc_streams(s, &g);
	v = g.v;
	n = g.n;
	/* (g.of is of no use once sorted) */
	if (n > 0)	/* v is NULL for none, which qsort may not take */
		qsort(v, n, sizeof *v, tc_stream_cmp);
	for (i = 0; i < n; i++) {
		json_t *o;

		if (v[i].archived && !with_archived)
			continue;
		o = json_pack("{s:o,s:o,s:o,s:I,s:I,s:I,s:I,s:I,s:O,s:O}",
		    "streamId", tc_text(v[i].label), "streamName",
		    tc_text(v[i].name), "streamPhase", tc_text(v[i].phase),
		    "totalTasks", (json_int_t)v[i].c.total, "completedTasks",
		    (json_int_t)v[i].c.completed, "inProgressTasks",
		    (json_int_t)v[i].c.in_progress, "blockedTasks",
		    (json_int_t)v[i].c.blocked, "pendingTasks",
		    (json_int_t)v[i].c.pending, "files", v[i].files,
		    "dependencies", v[i].deps);
		if (v[i].worktree != NULL)
			json_object_set_new(o, "worktreePath",
			    tc_text(v[i].worktree));
		if (v[i].c.cancelled > 0)
			json_object_set_new(o, "cancelledTasks",
			    json_integer(v[i].c.cancelled));
		json_object_set_new(o, "progressPercentage",
		    json_integer(model_progress(&v[i].c)));
		json_array_append_new(list, o);
	}
	tc_groups_free(&g);
	return json_pack("{s:o,s:I}", "streams", list, "totalStreams",
	    (json_int_t)json_array_size(list));
}

/* The old API's answer for a stream it does not have (new). */
static json_t *
tc_no_stream(const char *id)
{
	return json_pack("{s:s,s:o}", "error", "Stream not found", "streamId",
	    tc_text(id));
}

/* GET /api/streams/{id} */
static enum tcdb_result
tcdb_render_detail(const struct tcdb_rows *s, const char *id,
    bool with_archived, json_t **out)
{
	struct tc_groups	 g;
	struct tc_stream	*v;
	json_t			*o = NULL, *tasks, *deps;
	size_t			 n, i, k;

	tc_streams(s, &g);
	v = g.v;
	n = g.n;
	for (i = 0; i < n; i++) {
		const struct tcdb_task *first = &s->tasks[v[i].first];

		if (strcmp(v[i].label, id) != 0)
			continue;
		if (v[i].archived && !with_archived)
			break;
		tasks = json_array();
		for (k = 0; k < s->n_tasks; k++)
			if (g.of[k] == i)
				json_array_append_new(tasks,
				    tc_task_json(&s->tasks[k]));
		o = json_pack("{s:o,s:o,s:o,s:o}", "streamId", tc_text(id),
		    "streamName", tc_text(v[i].name), "streamPhase",
		    tc_text(v[i].phase), "tasks", tasks);
		deps = json_object_get(tc_meta(first), "streamDependencies");
		json_object_set_new(o, "dependencies", json_deep_copy(
		    deps != NULL ? deps : v[i].deps));
		json_object_set_new(o, "status", json_string(model_status_name(
		    model_status_of(&v[i].c))));
		if (v[i].worktree != NULL)
			json_object_set_new(o, "worktreePath",
			    tc_text(v[i].worktree));
		json_object_set_new(o, "archived", json_boolean(v[i].archived));
		json_object_set_new(o, "progressPercentage",
		    json_integer(model_progress(&v[i].c)));
		break;
	}
	tc_groups_free(&g);
	if (o == NULL) {
		*out = tc_no_stream(id);
		return TCDB_NO_STREAM;
	}
	*out = o;
	return TCDB_OK;
}

static bool
tc_matches(const char *want, const char *have)
{
	return want == NULL || (have != NULL && strcmp(want, have) == 0);
}

/* GET /api/tasks: newest first, filtered as the query asks. */
static json_t *
tcdb_render_tasks(const struct tcdb_rows *s, const char *uri)
{
	char	*status = tc_query(uri, "status"), *stream = tc_query(uri,
		    "streamId"), *agent = tc_query(uri, "assignedAgent");
	char	*prd = tc_query(uri, "prdId"), *limit_s = tc_query(uri,
		    "limit"), prd_text[32];
	json_t	*list = json_array();
	long	 limit = limit_s != NULL ? atol(limit_s) : 0;
	size_t	 i;
	struct tc_groups g;

	tc_streams(s, &g);
	for (i = s->n_tasks; i-- > 0;) {
		const struct tcdb_task *t = &s->tasks[i];

		if (tc_row_archived(tc_row(s, t->stream_row)))
			continue;
		snprintf(prd_text, sizeof prd_text, "%lld",
		    t->has_prd_id ? t->prd_id : 0);
		if (!tc_matches(status, tc_status(t)) || !tc_matches(stream,
		    tc_label(&g, i)) || !tc_matches(agent, t->agent) ||
		    (prd != NULL && (!t->has_prd_id ||
		    strcmp(prd, prd_text) != 0)))
			continue;
		if (limit >= 1 && (long)json_array_size(list) >= limit)
			break;
		json_array_append_new(list, tc_task_json(t));
	}
	tc_groups_free(&g);
	free(status);
	free(stream);
	free(agent);
	free(prd);
	free(limit_s);
	return json_pack("{s:o,s:I}", "tasks", list, "totalTasks",
	    (json_int_t)json_array_size(list));
}

/* The newest of a task's claim, update and log times: its "heartbeat". */
static const char *
tc_heartbeat(const struct tcdb_task *t)
{
	const char	*best = t->claimed_at;

	if (t->updated_at != NULL && (best == NULL ||
	    strcmp(t->updated_at, best) > 0))
		best = t->updated_at;
	if (t->last_log != NULL && (best == NULL ||
	    strcmp(t->last_log, best) > 0))
		best = t->last_log;
	return best;
}

static int
tc_activity_cmp(const void *a, const void *b)
{
	const char	*x = json_string_value(json_object_get(*(json_t *const *)a,
			    "lastHeartbeat"));
	const char	*y = json_string_value(json_object_get(*(json_t *const *)b,
			    "lastHeartbeat"));

	return strcmp(y != NULL ? y : "", x != NULL ? x : "");
}

/* GET /api/activity: claimed tasks, newest heartbeat first. */
static json_t *
tcdb_render_activity(const struct tcdb_rows *s, const char *uri, double now)
{
	char	*active = tc_query(uri, "active"), *stream = tc_query(uri,
		    "streamId");
	bool	 all = active != NULL && strcmp(active, "false") == 0;
	json_t	**items = NULL, *list = json_array();
	size_t	 n = 0, i;
	long	 on = 0;
	struct tc_groups g;

	tc_streams(s, &g);
	for (i = 0; i < s->n_tasks; i++) {
		const struct tcdb_task	*t = &s->tasks[i];
		const char		*agent = t->agent != NULL ? t->agent :
					    t->claimed_by;
		const char		*phase = tc_meta_str(t, "phase");
		const char		*label = tc_label(&g, i);
		const char		*status = tc_status(t);
		json_t			*o;
		bool			 is_active;

		if (t->claimed_at == NULL || agent == NULL ||
		    !tc_matches(stream, label) || (!all &&
		    (strcmp(status, "completed") == 0 ||
		    strcmp(status, "cancelled") == 0)))
			continue;
		is_active = now - tc_epoch(tc_heartbeat(t)) < TC_ACTIVE_S;
		o = json_pack("{s:o,s:o,s:o,s:o,s:I,s:o}", "streamId",
		    tc_text(label), "streamName", tc_text(g.v[g.of[i]].name),
		    "agentId",
		    tc_text(agent), "agentName", tc_text(tc_agent_name(agent)),
		    "taskId", (json_int_t)t->id, "taskTitle",
		    tc_text(tc_title(t)));
		if (phase != NULL)
			json_object_set_new(o, "phase", json_string(phase));
		/* Unlike a task's times, these are left out when odd. */
		if (tc_iso_ok(t->claimed_at))
			json_object_set_new(o, "startedAt",
			    tc_time(t->claimed_at));
		if (tc_iso_ok(tc_heartbeat(t)))
			json_object_set_new(o, "lastHeartbeat",
			    tc_time(tc_heartbeat(t)));
		json_object_set_new(o, "isActive", json_boolean(is_active));
		on += is_active;
		items = xrealloc(items, (n + 1) * sizeof *items);
		items[n++] = o;
	}
	tc_groups_free(&g);
	if (n > 0)	/* as above */
		qsort(items, n, sizeof *items, tc_activity_cmp);
	for (i = 0; i < n; i++)
		json_array_append_new(list, items[i]);
	free(items);
	free(active);
	free(stream);
	return json_pack("{s:o,s:I,s:I}", "activities", list, "totalActive",
	    (json_int_t)on, "totalIdle", (json_int_t)(n - (size_t)on));
}

/* GET /api/streams/{id}/health */
static enum tcdb_result
tcdb_render_stream_health(const struct tcdb_rows *s, const char *id,
    double now, json_t **out)
{
	const struct tcdb_task	*current = NULL;
	const char		*last = NULL;
	json_t			*warnings, *o;
	size_t			 i, n = 0;
	bool			 healthy = true;
	struct tc_groups	 g;

	tc_streams(s, &g);
	for (i = 0; i < s->n_tasks; i++) {
		const struct tcdb_task *t = &s->tasks[i];

		if (strcmp(tc_label(&g, i), id) != 0)
			continue;
		n++;
		if (current == NULL && strcmp(tc_status(t), "in_progress") == 0)
			current = t;
		if (t->last_log != NULL && (last == NULL ||
		    strcmp(t->last_log, last) > 0))
			last = t->last_log;
	}
	tc_groups_free(&g);
	if (n == 0) {
		*out = tc_no_stream(id);
		return TCDB_NO_STREAM;
	}
	warnings = json_array();
	if (current != NULL && (last == NULL ||
	    now - tc_epoch(last) > TC_STALE_S)) {
		healthy = false;
		json_array_append_new(warnings, json_string("Task in_progress "
		    "but no activity for 10+ minutes"));
	}
	o = json_pack("{s:o,s:b}", "streamId", tc_text(id), "healthy",
	    healthy);
	json_object_set_new(o, "currentTask", current != NULL ?
	    json_integer(current->id) : json_null());
	json_object_set_new(o, "taskStatus", current != NULL ?
	    tc_text(tc_status(current)) : json_null());
	json_object_set_new(o, "lastActivity", tc_time(last));
	json_object_set_new(o, "lastCheckpoint", json_null());
	json_object_set_new(o, "currentCheckpoint", json_null());
	json_object_set_new(o, "timeSinceActivity", last != NULL ?
	    json_integer((json_int_t)(now - tc_epoch(last))) : json_null());
	json_object_set_new(o, "timeSinceCheckpoint", json_null());
	json_object_set_new(o, "warnings", warnings);
	*out = o;
	return TCDB_OK;
}

/* GET /health: tc has no server, so the file answering is "ok". */
static json_t *
tcdb_render_health(double now)
{
	char	ts[32];

	clock_iso8601(now, ts, sizeof ts);
	return json_pack("{s:s,s:s}", "status", "ok", "timestamp", ts);
}

/*
 * Answers a method on uri (path?query, as received) from rows s at time
 * now (seconds since the epoch): the result, and in *body what the old
 * API sent with it (new; its error shapes for the others).
 */
enum tcdb_result
tcdb_render_request(const struct tcdb_rows *s, const char *method,
    const char *uri, double now, json_t **body)
{
	enum tcdb_result	 r = TCDB_OK;
	char			*path, *id = NULL, *rest = NULL, *msg;
	size_t			 plen = strcspn(uri, "?");

	if (strcmp(method, "GET") != 0) {
		*body = json_pack("{s:s,s:s}", "error", "Task Copilot 3 (tc) "
		    "takes no writes through taskgate: it keeps no "
		    "checkpoints, and taskgate reads its database read-only",
		    "code", "not-implemented");
		return TCDB_READ_ONLY;
	}
	if (valid_decode_path(uri, &path) == -1) {
		*body = json_pack("{s:s}", "error", "bad path");
		return TCDB_BAD_PATH;
	}
	if (plen > 1 && path[strlen(path) - 1] == '/')
		path[strlen(path) - 1] = '\0';
	if (strncmp(path, "/api/streams/", 13) == 0) {
		id = xstrdup(path + 13);
		rest = strchr(id, '/');
		if (rest != NULL)
			*rest++ = '\0';
	}
	if (strcmp(path, "/health") == 0)
		*body = tcdb_render_health(now);
	else if (strcmp(path, "/api/streams") == 0)
		*body = tcdb_render_list(s, tc_with_archived(uri));
	else if (id != NULL && rest == NULL)
		r = tcdb_render_detail(s, id, tc_with_archived(uri), body);
	else if (id != NULL && strcmp(rest, "health") == 0)
		r = tcdb_render_stream_health(s, id, now, body);
	else if (strcmp(path, "/api/tasks") == 0)
		*body = tcdb_render_tasks(s, uri);
	else if (strcmp(path, "/api/activity") == 0)
		*body = tcdb_render_activity(s, uri, now);
	else if (strcmp(path, "/api/checkpoints") == 0 || (id != NULL &&
	    strcmp(rest, "checkpoint") == 0)) {
		r = TCDB_READ_ONLY;
		*body = json_pack("{s:s,s:s}", "error", "Task Copilot 3 (tc) "
		    "keeps no checkpoints, and taskgate reads its database "
		    "read-only", "code", "not-implemented");
	} else {
		/* The old API's route error; tcdb.c adds its statusCode. */
		r = TCDB_NO_ROUTE;
		xasprintf(&msg, "Route GET:%s not found", uri);
		*body = json_pack("{s:o,s:s}", "message", tc_text(msg),
		    "error", "Not Found");
		free(msg);
	}
	free(id);
	free(path);
	return r;
}
