/*
 * orchconf.c: reads orchestration-config.json, the file Task Copilot's
 * `/orchestration generate` writes, into struct orchconf.  Unknown fields
 * are ignored; a field of the wrong type is an error that names it
 * ("streams[2].dependencies: ...").  maxCostUsd, at the top and on a
 * stream, is a spending limit for all streams together and for that
 * one.  Plan rules (cycles, phases, limits)
 * are not checked here: this file only reads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taskgate.h"

static int	orchconf_stream(json_t *, size_t, struct orch_stream *, char *,
		    size_t);
static int	orchconf_dollars(json_t *, const char *, const char *,
		    double *, char *, size_t);

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

static int
orchconf_string(json_t *o, const char *key, const char *where, bool required,
    bool nullable, char **out, char *err, size_t errlen)
{
	json_t	*v = json_object_get(o, key);

	*out = NULL;
	if (v == NULL && !required)
		return 0;
	if (json_is_null(v) && nullable)
		return 0;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "%s%s: expected a string%s", where, key,
		    v == NULL ? " (missing)" : "");
		return -1;
	}
	*out = xstrdup(json_string_value(v));
	return 0;
}

static int
orchconf_stream(json_t *s, size_t idx, struct orch_stream *out, char *err,
    size_t errlen)
{
	char	 where[48];
	json_t	*deps, *d;
	size_t	 i;

	snprintf(where, sizeof where, "streams[%zu].", idx);
	if (!json_is_object(s)) {
		snprintf(err, errlen, "streams[%zu]: expected an object", idx);
		return -1;
	}
	if (orchconf_string(s, "streamId", where, true, false, &out->id, err,
	    errlen) == -1 ||
	    orchconf_string(s, "streamName", where, false, false, &out->name,
	    err, errlen) == -1 ||
	    orchconf_string(s, "streamPhase", where, false, false,
	    &out->phase, err, errlen) == -1 ||
	    orchconf_string(s, "projectRoot", where, false, false,
	    &out->project_root, err, errlen) == -1 ||
	    orchconf_string(s, "worktreePath", where, false, true,
	    &out->worktree_path, err, errlen) == -1)
		return -1;
	if (orchconf_dollars(s, "maxCostUsd", where, &out->max_cost_usd, err,
	    errlen) == -1)
		return -1;
	if (!valid_stream_id(out->id)) {
		snprintf(err, errlen, "%sstreamId: '%.64s' is not a valid "
		    "stream id ([A-Za-z0-9][A-Za-z0-9._-]{0,63})", where,
		    out->id);
		return -1;
	}
	deps = json_object_get(s, "dependencies");
	if (deps == NULL || json_is_null(deps))
		return 0;
	if (!json_is_array(deps)) {
		snprintf(err, errlen, "%sdependencies: expected an array of "
		    "stream ids", where);
		return -1;
	}
	out->deps = xcalloc(json_array_size(deps), sizeof *out->deps);
	json_array_foreach(deps, i, d) {
		if (!json_is_string(d)) {
			snprintf(err, errlen, "%sdependencies[%zu]: expected a "
			    "string", where, i);
			return -1;
		}
		out->deps[out->n_deps++] = xstrdup(json_string_value(d));
	}
	return 0;
}

/*
 * A spending limit, o's key (where: its place, for err), in US dollars:
 * absent leaves *out alone; else a number above 0, at most a million.
 */
static int
orchconf_dollars(json_t *o, const char *key, const char *where, double *out,
    char *err, size_t errlen)
{
	json_t	*v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_number(v) || json_number_value(v) <= 0 ||
	    json_number_value(v) > 1e6) {
		snprintf(err, errlen, "%s%s: expected US dollars above 0, at "
		    "most 1000000", where, key);
		return -1;
	}
	*out = json_number_value(v);
	return 0;
}

/* contextRecovery.exhaustionPhrases: the pane phrases that mean it. */
static int
orchconf_phrases(json_t *v, struct orchconf *c, char *err, size_t errlen)
{
	json_t	*p;
	size_t	 i;

	if (!json_is_array(v)) {
		snprintf(err, errlen, "contextRecovery.exhaustionPhrases: "
		    "expected an array of strings");
		return -1;
	}
	c->phrases = xcalloc(json_array_size(v) + 1, sizeof *c->phrases);
	json_array_foreach(v, i, p) {
		if (!json_is_string(p) || json_string_length(p) == 0) {
			snprintf(err, errlen, "contextRecovery.exhaustionPhrases"
			    "[%zu]: expected a non-empty string", i);
			return -1;
		}
		c->phrases[c->n_phrases++] = xstrdup(json_string_value(p));
	}
	return 0;
}

/*
 * executionPlan: taskgate takes the plan's order from the streams, so it
 * only checks the type: an object, whose foundation, parallel and
 * integration lists, where present, hold stream ids.
 */
static int
orchconf_plan(json_t *plan, char *err, size_t errlen)
{
	static const char *const phases[] = { "foundation", "parallel",
	    "integration" };
	json_t	*list, *id;
	size_t	 i, k;

	if (!json_is_object(plan)) {
		snprintf(err, errlen, "executionPlan: expected an object");
		return -1;
	}
	for (k = 0; k < sizeof phases / sizeof phases[0]; k++) {
		if ((list = json_object_get(plan, phases[k])) == NULL)
			continue;
		if (!json_is_array(list)) {
			snprintf(err, errlen, "executionPlan.%s: expected an "
			    "array of stream ids", phases[k]);
			return -1;
		}
		json_array_foreach(list, i, id) {
			if (!json_is_string(id)) {
				snprintf(err, errlen, "executionPlan.%s[%zu]: "
				    "expected a stream id", phases[k], i);
				return -1;
			}
		}
	}
	return 0;
}

/* Fills c from a parsed document; -1 with the field named in err. */
int
orchconf_parse(json_t *root, struct orchconf *c, char *err, size_t errlen)
{
	json_t	*v, *rec, *streams, *s;
	size_t	 i;

	orchconf_defaults(c);
	if (!json_is_object(root)) {
		snprintf(err, errlen, "the top level: expected an object");
		return -1;
	}
	if (orchconf_string(root, "apiEndpoint", "", false, true,
	    &c->api_endpoint, err, errlen) == -1)
		return -1;
	if ((v = json_object_get(root, "pollInterval")) != NULL) {
		if (!json_is_number(v) || json_number_value(v) <= 0 ||
		    json_number_value(v) > 86400) {
			snprintf(err, errlen, "pollInterval: expected a number "
			    "of seconds above 0, at most 86400 (a day)");
			return -1;
		}
		c->poll_interval = json_number_value(v);
	}
	if ((v = json_object_get(root, "maxParallelStreams")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1) {
			snprintf(err, errlen, "maxParallelStreams: expected a "
			    "whole number above 0");
			return -1;
		}
		c->max_parallel = (long)json_integer_value(v);
	}
	if (orchconf_dollars(root, "maxCostUsd", "", &c->max_cost_usd, err,
	    errlen) == -1)
		return -1;
	if ((rec = json_object_get(root, "contextRecovery")) != NULL) {
		if (!json_is_object(rec)) {
			snprintf(err, errlen, "contextRecovery: expected an "
			    "object");
			return -1;
		}
		if ((v = json_object_get(rec, "stallTimeoutMinutes")) != NULL) {
			if (!json_is_number(v) || json_number_value(v) <= 0) {
				snprintf(err, errlen, "contextRecovery."
				    "stallTimeoutMinutes: expected a number of "
				    "minutes above 0");
				return -1;
			}
			c->stall_timeout_min = json_number_value(v);
		}
		if ((v = json_object_get(rec, "autoRecoveryEnabled")) != NULL) {
			if (!json_is_boolean(v)) {
				snprintf(err, errlen, "contextRecovery."
				    "autoRecoveryEnabled: expected true or "
				    "false");
				return -1;
			}
			c->auto_recovery = json_is_true(v);
		}
		if ((v = json_object_get(rec, "usageLimitWaitMinutes")) !=
		    NULL) {
			if (!json_is_number(v) || json_number_value(v) <= 0 ||
			    json_number_value(v) > 7 * 24 * 60) {
				snprintf(err, errlen, "contextRecovery."
				    "usageLimitWaitMinutes: expected minutes "
				    "above 0, at most a week");
				return -1;
			}
			c->limit_wait_min = json_number_value(v);
		}
		if ((v = json_object_get(rec, "usageLimitSpreadSeconds")) !=
		    NULL) {
			if (!json_is_number(v) || json_number_value(v) < 0 ||
			    json_number_value(v) > 3600) {
				snprintf(err, errlen, "contextRecovery."
				    "usageLimitSpreadSeconds: expected seconds "
				    "from 0 to 3600");
				return -1;
			}
			c->limit_spread_s = json_number_value(v);
		}
		if ((v = json_object_get(rec, "handoffOnAutoCompact")) !=
		    NULL) {
			if (!json_is_boolean(v)) {
				snprintf(err, errlen, "contextRecovery."
				    "handoffOnAutoCompact: expected true or "
				    "false");
				return -1;
			}
			c->handoff_on_compact = json_is_true(v);
		}
		if ((v = json_object_get(rec, "maxNudges")) != NULL) {
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > 100) {
				snprintf(err, errlen, "contextRecovery.maxNudges: "
				    "expected a whole number from 0 to 100");
				return -1;
			}
			c->max_nudges = (int)json_integer_value(v);
		}
		if ((v = json_object_get(rec, "contextSharePercent")) != NULL) {
			if (!json_is_number(v) || json_number_value(v) <= 0 ||
			    json_number_value(v) > 100) {
				snprintf(err, errlen, "contextRecovery."
				    "contextSharePercent: expected a percent "
				    "above 0, at most 100");
				return -1;
			}
			c->context_share = json_number_value(v);
		}
		if ((v = json_object_get(rec, "exhaustionPhrases")) != NULL &&
		    orchconf_phrases(v, c, err, errlen) == -1)
			return -1;
		if ((v = json_object_get(rec, "maxRecoveryAttempts")) != NULL) {
			if (!json_is_integer(v) || json_integer_value(v) < 0) {
				snprintf(err, errlen, "contextRecovery."
				    "maxRecoveryAttempts: expected a whole "
				    "number");
				return -1;
			}
			c->max_recovery = (long)json_integer_value(v);
		}
	}
	if ((v = json_object_get(root, "executionPlan")) != NULL &&
	    orchconf_plan(v, err, errlen) == -1)
		return -1;
	streams = json_object_get(root, "streams");
	if (streams == NULL)
		return 0;
	if (!json_is_array(streams)) {
		snprintf(err, errlen, "streams: expected an array");
		return -1;
	}
	c->streams = xcalloc(json_array_size(streams), sizeof *c->streams);
	json_array_foreach(streams, i, s) {
		c->n_streams++;
		if (orchconf_stream(s, i, &c->streams[i], err, errlen) == -1)
			return -1;
	}
	return 0;
}

/* Reads and parses the file at path; -1 with one line in err. */
int
orchconf_load(const char *path, struct orchconf *c, char *err, size_t errlen)
{
	json_error_t	 jerr;
	json_t		*root;
	FILE		*f;
	char		 why[200];
	int		 rc;

	orchconf_defaults(c);
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot read it: %s", path,
		    strerror(errno));
		return -1;
	}
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	if (root == NULL) {
		snprintf(err, errlen, "%s: not valid JSON: %s (line %d)", path,
		    jerr.text, jerr.line);
		return -1;
	}
	rc = orchconf_parse(root, c, why, sizeof why);
	json_decref(root);
	if (rc == -1) {
		snprintf(err, errlen, "%s: %s", path, why);
		orchconf_clear(c);
		orchconf_defaults(c);
	}
	return rc;
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
