/*
 * orchconf.c: reads orchestration-config.json, the file Task Copilot's
 * `/orchestration generate` writes, into struct orchconf.  Unknown fields
 * are ignored; a field of the wrong type is an error that names it
 * ("streams[2].dependencies: ..."), and every such field is listed, not
 * only the first (orchconf_parse_all(), for check-config).  maxCostUsd,
 * at the top and on a stream, is a spending limit for all streams
 * together and for that one.  Plan rules (cycles, phases, limits) are
 * not checked here: this file only reads.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taskgate.h"


void
orchconf_defaults(struct orchconf *c)
{
	memset(c, 0, sizeof *c);
	c->max_parallel = 5;
	c->stall_timeout_min = 10;
	c->context_share = 95;
	c->max_nudges = 2;
	c->limit_wait_min = 30;
	c->limit_spread_s = 60;
	c->auto_recovery = true;
	c->max_recovery = 3;
}

/* The problems found so far, one sentence each, in document order. */
struct orchconf_errs {
	char	**v;
	size_t	  n;
};

/* What a spending limit (maxCostUsd) must be. */
#define ORCHCONF_DOLLARS	"US dollars above 0, at most 1000000"

static bool	orchconf_number(json_t *, const char *, const char *, bool,
		    double, bool, double, const char *, double *,
		    struct orchconf_errs *);

static void __attribute__((format(printf, 2, 3)))
orchconf_err(struct orchconf_errs *e, const char *fmt, ...)
{
	va_list	 ap;
	char	*line;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) == -1)
		fatal("vasprintf");
	va_end(ap);
	e->v = xrealloc(e->v, (e->n + 1) * sizeof *e->v);
	e->v[e->n++] = line;
}

/* *out is the string at key (new), or NULL; a wrong type is a problem. */
static void
orchconf_string(json_t *o, const char *key, const char *where, bool required,
    bool nullable, char **out, struct orchconf_errs *e)
{
	json_t	*v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL && !required)
		return;
	if (json_is_null(v) && nullable)
		return;
	if (!json_is_string(v)) {
		orchconf_err(e, "%s%s: expected a string%s", where, key,
		    v == NULL ? " (missing)" : "");
		return;
	}
	*out = xstrdup(json_string_value(v));
}

static void
orchconf_stream(json_t *s, size_t idx, struct orch_stream *out,
    struct orchconf_errs *e)
{
	char	 where[48];
	json_t	*deps, *d;
	size_t	 i;

	snprintf(where, sizeof where, "streams[%zu].", idx);
	if (!json_is_object(s)) {
		orchconf_err(e, "streams[%zu]: expected an object", idx);
		return;
	}
	orchconf_string(s, "streamId", where, true, false, &out->id, e);
	orchconf_string(s, "streamName", where, false, false, &out->name, e);
	orchconf_string(s, "streamPhase", where, false, false, &out->phase, e);
	orchconf_string(s, "projectRoot", where, false, false,
	    &out->project_root, e);
	orchconf_string(s, "worktreePath", where, false, true,
	    &out->worktree_path, e);
	orchconf_number(s, where, "maxCostUsd", false, 0, true, 1e6,
	    ORCHCONF_DOLLARS, &out->max_cost_usd, e);
	if (out->id != NULL && !valid_stream_id(out->id))
		orchconf_err(e, "%sstreamId: '%.64s' is not a valid stream id "
		    "([A-Za-z0-9][A-Za-z0-9._-]{0,63})", where, out->id);
	deps = json_object_get(s, "dependencies");
	if (deps == NULL || json_is_null(deps))
		return;
	if (!json_is_array(deps)) {
		orchconf_err(e, "%sdependencies: expected an array of stream "
		    "ids", where);
		return;
	}
	out->deps = xcalloc(json_array_size(deps), sizeof *out->deps);
	json_array_foreach(deps, i, d) {
		if (!json_is_string(d))
			orchconf_err(e, "%sdependencies[%zu]: expected a string",
			    where, i);
		else
			out->deps[out->n_deps++] = xstrdup(
			    json_string_value(d));
	}
}

/* contextRecovery.exhaustionPhrases: the pane phrases that mean it. */
static void
orchconf_phrases(json_t *v, struct orchconf *c, struct orchconf_errs *e)
{
	json_t	*p;
	size_t	 i;

	if (!json_is_array(v)) {
		orchconf_err(e, "contextRecovery.exhaustionPhrases: expected an "
		    "array of strings");
		return;
	}
	c->phrases = xcalloc(json_array_size(v) + 1, sizeof *c->phrases);
	json_array_foreach(v, i, p) {
		if (!json_is_string(p) || json_string_length(p) == 0)
			orchconf_err(e, "contextRecovery.exhaustionPhrases[%zu]: "
			    "expected a non-empty string", i);
		else
			c->phrases[c->n_phrases++] = xstrdup(
			    json_string_value(p));
	}
}

/*
 * executionPlan: taskgate takes the plan's order from the streams, so it
 * only checks the type: an object, whose foundation, parallel and
 * integration lists, where present, hold stream ids.
 */
static void
orchconf_plan(json_t *plan, struct orchconf_errs *e)
{
	static const char *const phases[] = { "foundation", "parallel",
	    "integration" };
	json_t	*list, *id;
	size_t	 i, k;

	if (!json_is_object(plan)) {
		orchconf_err(e, "executionPlan: expected an object");
		return;
	}
	for (k = 0; k < sizeof phases / sizeof phases[0]; k++) {
		if ((list = json_object_get(plan, phases[k])) == NULL)
			continue;
		if (!json_is_array(list)) {
			orchconf_err(e, "executionPlan.%s: expected an array of "
			    "stream ids", phases[k]);
			continue;
		}
		json_array_foreach(list, i, id) {
			if (!json_is_string(id))
				orchconf_err(e, "executionPlan.%s[%zu]: expected "
				    "a stream id", phases[k], i);
		}
	}
}

/*
 * A number at key of o (absent: nothing), within what ok() says; else the
 * problem, "PREFIXkey: expected WANT".  Returns whether *out was set.
 */
static bool
orchconf_number(json_t *o, const char *prefix, const char *key, bool whole,
    double lo, bool lo_open, double hi, const char *want, double *out,
    struct orchconf_errs *e)
{
	json_t	*v = json_object_get(o, key);
	double	 x;

	if (v == NULL)
		return false;
	x = json_is_number(v) ? json_number_value(v) : 0;
	if (!(whole ? json_is_integer(v) : json_is_number(v)) ||
	    (lo_open ? x <= lo : x < lo) || x > hi) {
		orchconf_err(e, "%s%s: expected %s", prefix, key, want);
		return false;
	}
	*out = x;
	return true;
}

static bool
orchconf_boolean(json_t *o, const char *prefix, const char *key, bool *out,
    struct orchconf_errs *e)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL)
		return false;
	if (!json_is_boolean(v)) {
		orchconf_err(e, "%s%s: expected true or false", prefix, key);
		return false;
	}
	*out = json_is_true(v);
	return true;
}

static void
orchconf_recovery(json_t *rec, struct orchconf *c, struct orchconf_errs *e)
{
	static const char	 p[] = "contextRecovery.";
	json_t			*v;
	double			 x;

	if (!json_is_object(rec)) {
		orchconf_err(e, "contextRecovery: expected an object");
		return;
	}
	if (orchconf_number(rec, p, "stallTimeoutMinutes", false, 0, true,
	    HUGE_VAL, "a number of minutes above 0", &x, e))
		c->stall_timeout_min = x;
	orchconf_boolean(rec, p, "autoRecoveryEnabled", &c->auto_recovery, e);
	if (orchconf_number(rec, p, "usageLimitWaitMinutes", false, 0, true,
	    7 * 24 * 60, "minutes above 0, at most a week", &x, e))
		c->limit_wait_min = x;
	if (orchconf_number(rec, p, "usageLimitSpreadSeconds", false, 0, false,
	    3600, "seconds from 0 to 3600", &x, e))
		c->limit_spread_s = x;
	orchconf_boolean(rec, p, "handoffOnAutoCompact", &c->handoff_on_compact,
	    e);
	if (orchconf_number(rec, p, "maxNudges", true, 0, false, 100,
	    "a whole number from 0 to 100", &x, e))
		c->max_nudges = (int)x;
	if (orchconf_number(rec, p, "contextSharePercent", false, 0, true, 100,
	    "a percent above 0, at most 100", &x, e))
		c->context_share = x;
	if ((v = json_object_get(rec, "exhaustionPhrases")) != NULL)
		orchconf_phrases(v, c, e);
	if (orchconf_number(rec, p, "maxRecoveryAttempts", true, 0, false,
	    HUGE_VAL, "a whole number", &x, e))
		c->max_recovery = (long)x;
}

/*
 * Fills c from a parsed document, and lists in *problems (new, free with
 * plan_problems_free) every field of the wrong type or out of range, in
 * document order, not only the first.  Returns how many.
 */
size_t
orchconf_parse_all(json_t *root, struct orchconf *c, char ***problems)
{
	struct orchconf_errs	 e = { NULL, 0 };
	json_t			*v, *streams, *s;
	double			 x;
	size_t			 i;

	orchconf_defaults(c);
	if (!json_is_object(root)) {
		orchconf_err(&e, "the top level: expected an object");
		*problems = e.v;
		return e.n;
	}
	orchconf_string(root, "apiEndpoint", "", false, true, &c->api_endpoint,
	    &e);
	if (orchconf_number(root, "", "pollInterval", false, 0, true, 86400,
	    "a number of seconds above 0, at most 86400 (a day)", &x, &e))
		c->poll_interval = x;
	if (orchconf_number(root, "", "maxParallelStreams", true, 1, false,
	    HUGE_VAL, "a whole number above 0", &x, &e))
		c->max_parallel = (long)x;
	orchconf_number(root, "", "maxCostUsd", false, 0, true, 1e6,
	    ORCHCONF_DOLLARS, &c->max_cost_usd, &e);
	if ((v = json_object_get(root, "contextRecovery")) != NULL)
		orchconf_recovery(v, c, &e);
	if ((v = json_object_get(root, "executionPlan")) != NULL)
		orchconf_plan(v, &e);
	streams = json_object_get(root, "streams");
	if (streams != NULL && !json_is_array(streams))
		orchconf_err(&e, "streams: expected an array");
	else if (streams != NULL) {
		c->streams = xcalloc(json_array_size(streams),
		    sizeof *c->streams);
		json_array_foreach(streams, i, s) {
			c->n_streams++;
			orchconf_stream(s, i, &c->streams[i], &e);
		}
	}
	*problems = e.v;
	return e.n;
}

/*
 * The first of n problems into err, for the callers that stop there (the
 * daemon); frees them.  -1 when there is one, else 0.
 */
static int
orchconf_first(char **problems, size_t n, char *err, size_t errlen)
{
	if (n > 0)
		snprintf(err, errlen, "%s", problems[0]);
	plan_problems_free(problems, n);
	return n > 0 ? -1 : 0;
}

/* Fills c from a parsed document; -1 with the first problem in err. */
int
orchconf_parse(json_t *root, struct orchconf *c, char *err, size_t errlen)
{
	char	**problems;
	size_t	  n = orchconf_parse_all(root, c, &problems);

	return orchconf_first(problems, n, err, errlen);
}

/*
 * Reads and parses the file at path into c, and lists in *problems (new,
 * free with plan_problems_free) what stops it, each line "PATH: ...":
 * the file cannot be read or is no JSON (one line), or every field of the
 * wrong type.  c is left with the defaults unless there is none.  Returns
 * how many.
 */
size_t
orchconf_load_all(const char *path, struct orchconf *c, char ***problems)
{
	struct orchconf_errs	 e = { NULL, 0 };
	json_error_t		 jerr;
	json_t			*root;
	FILE			*f;
	char			**why;
	size_t			 n, i;

	orchconf_defaults(c);
	if ((f = fopen(path, "r")) == NULL) {
		orchconf_err(&e, "%s: cannot read it: %s", path,
		    strerror(errno));
		*problems = e.v;
		return e.n;
	}
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (root == NULL) {
		orchconf_err(&e, "%s: not valid JSON: %s (line %d)", path,
		    jerr.text, jerr.line);
		*problems = e.v;
		return e.n;
	}
	n = orchconf_parse_all(root, c, &why);
	json_decref(root);
	for (i = 0; i < n; i++)
		orchconf_err(&e, "%s: %s", path, why[i]);
	plan_problems_free(why, n);
	if (n > 0) {
		orchconf_clear(c);
		orchconf_defaults(c);
	}
	*problems = e.v;
	return e.n;
}

/* Reads and parses the file at path; -1 with the first problem in err. */
int
orchconf_load(const char *path, struct orchconf *c, char *err, size_t errlen)
{
	char	**problems;
	size_t	  n = orchconf_load_all(path, c, &problems);

	return orchconf_first(problems, n, err, errlen);
}

void
orchconf_clear(struct orchconf *c)
{
	size_t	i, j;

	for (i = 0; i < c->n_streams; i++) {
		struct orch_stream *s = &c->streams[i];

		free(s->id);
		free(s->name);
		free(s->phase);
		for (j = 0; j < s->n_deps; j++)
			free(s->deps[j]);
		free(s->deps);
		free(s->project_root);
		free(s->worktree_path);
	}
	free(c->streams);
	for (i = 0; i < c->n_phrases; i++)
		free(c->phrases[i]);
	free(c->phrases);
	free(c->api_endpoint);
	memset(c, 0, sizeof *c);
}
