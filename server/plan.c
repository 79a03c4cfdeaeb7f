/*
 * plan.c: the rules of an orchestration plan -- phases, dependencies, the
 * gates a stream must pass before it starts, and the next actions to
 * suggest -- as pure functions: no I/O, no clock, no locks.  Callers own
 * everything they pass in.  Text that came from a file (phases, paths,
 * dependency names) is shown as it is, cut at PLAN_SHOWN bytes: whoever
 * prints a problem escapes it there (log.c's rule), so that each stays
 * one printable line.
 *
 * plan_check() lists what is wrong with a config's plan, one line per
 * problem.  First, for each stream in file order, these, in this order:
 *
 *	duplicate streamId ID (streams[I] and streams[J])
 *	ID has no streamPhase (expected foundation, parallel or integration)
 *	ID has an unknown streamPhase 'PHASE' (expected foundation, parallel
 *	    or integration)
 *	ID has an absolute worktreePath 'PATH' (it must be relative to
 *	    projectRoot)
 *	ID has a worktreePath 'PATH' that resolves outside projectRoot
 *	ID depends on unknown stream DEP
 *	ID (PHASE) depends on DEP of a later phase (PHASE)
 *
 * then, for the plan as a whole:
 *
 *	no foundation stream (at least one stream needs streamPhase
 *	    "foundation")
 *	too many parallel streams: N, maxParallelStreams is M
 *	circular dependency: A -> B -> A
 *
 * (each wrapped message above is one line).  A cycle is printed from the
 * first of its streams a depth-first walk in file order meets; each cycle
 * that walk finds is one line.  A path resolves outside projectRoot when,
 * read lexically, its ".." segments climb above it; nothing is looked up
 * on disk.
 *
 * plan_may_start() is the gate of one stream, for the start endpoint and
 * /api/overview.  It appends the reasons the stream may not start to a
 * JSON array, as short sentences, in this order:
 *
 *	DEP is at P%			a dependency is not complete
 *	DEP is not in the plan		a dependency names no stream
 *	ID has an unknown streamPhase 'PHASE'
 *	the foundation phase is not complete: A is at P%, B is at P%
 *	the parallel phase is not complete: ...
 *	ID is being worked on: agent @AGENT is active in Task Copilot
 *	ID is already complete
 *	ID is already running
 *	the parallel limit is reached: N of M sessions are live
 *	ID has used all its recovery attempts and needs a human
 *
 * A parallel stream waits for every foundation stream, an integration
 * stream for every foundation and parallel stream.  A stream that an
 * agent outside taskgate's windows works on (Task Copilot's activity says
 * it is active) is not offered a second one.  force drops the first six
 * kinds (dependencies, phase order, another agent at work: a person may
 * know better), and only those; the others always hold.  A dependency counts as met only when complete: a
 * stream at 199 of 200 tasks shows 99%, never a rounded 100%.
 *
 * plan_next_actions() suggests what to do next, as `/orchestration
 * status` does, in plan order (foundation, parallel, integration, then
 * streams of an unknown phase; file order within a phase):
 *
 *	{"action":"start","streamId":ID,"reason":"ready to start"}
 *	{"action":"wait","streamId":ID,"reason":"ID is running (P%)"}
 *	{"action":"wait","streamId":ID,"reason":REASONS}   (joined by "; ")
 *	{"action":"unblock","streamId":ID,"reason":"ID has blocked tasks"}
 *	{"action":"unblock","streamId":ID,"reason":REASONS}
 *	{"action":"done","streamId":null,"reason":"all N streams are complete"}
 *
 * "unblock" is for what only a person can fix: blocked tasks, a spent
 * recovery budget, a dependency on no stream, an unknown phase.  Complete
 * streams get no entry; each suggested start counts against the parallel
 * limit of the streams after it.
 */
#include <stdlib.h>
#include <string.h>

#include "rules.h"

#define PLAN_SHOWN	128	/* bytes of file text shown in a problem */

struct plan_lines {
	char		**v;
	size_t		  n;
};

/* A stream id and where it first appears; sorted by id for lookups. */
struct plan_index {
	const char	*id;
	size_t		 at;
};

static const char *const plan_phase_names[] = {
	[PLAN_FOUNDATION] = "foundation",
	[PLAN_PARALLEL] = "parallel",
	[PLAN_INTEGRATION] = "integration",
	[PLAN_UNKNOWN] = "unknown",
};

static void	plan_addf(struct plan_lines *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	plan_check_stream(const struct orchconf *,
		    const struct plan_index *, size_t, const size_t *, size_t,
		    struct plan_lines *);
static void	plan_check_cycles(const struct orchconf *,
		    const struct plan_index *, size_t, struct plan_lines *);
static void	plan_reason(json_t *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

enum plan_phase
plan_phase_of(const char *phase)
{
	enum plan_phase	p;

	if (phase == NULL)
		return PLAN_UNKNOWN;
	for (p = PLAN_FOUNDATION; p < PLAN_UNKNOWN; p++) {
		if (strcmp(phase, plan_phase_names[p]) == 0)
			return p;
	}
	return PLAN_UNKNOWN;
}

const char *
plan_phase_name(enum plan_phase p)
{
	return plan_phase_names[p];
}

/*
 * Appends one formatted line to l, unless l has it already: a dependency
 * listed twice would otherwise report its cycle or unknown name twice.
 */
static void
plan_addf(struct plan_lines *l, const char *fmt, ...)
{
	va_list	 ap;
	char	*line;
	int	 len;
	size_t	 i;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		len = 0;
	line = xmalloc((size_t)len + 1);
	va_start(ap, fmt);
	vsnprintf(line, (size_t)len + 1, fmt, ap);
	va_end(ap);
	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], line) == 0) {
			free(line);
			return;
		}
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	l->v[l->n++] = line;
}

static int
plan_index_cmp(const void *a, const void *b)
{
	const struct plan_index	*x = a, *y = b;
	int			 c = strcmp(x->id, y->id);

	if (c != 0)
		return c;
	return x->at < y->at ? -1 : x->at > y->at;
}

/*
 * Returns a new index of the config's stream ids, one entry per distinct
 * id (its first appearance), sorted by id, and sets dup_of[j] to the index
 * of the first stream with the same id as stream j (j itself if none).
 */
static struct plan_index *
plan_index_new(const struct orchconf *c, size_t *n, size_t *dup_of)
{
	struct plan_index	*ix;
	size_t			 i, k = 0;

	ix = xcalloc(c->n_streams, sizeof *ix);
	for (i = 0; i < c->n_streams; i++) {
		ix[i].id = c->streams[i].id;
		ix[i].at = i;
		dup_of[i] = i;
	}
	qsort(ix, c->n_streams, sizeof *ix, plan_index_cmp);
	for (i = 0; i < c->n_streams; i++) {
		if (k > 0 && strcmp(ix[k - 1].id, ix[i].id) == 0) {
			dup_of[ix[i].at] = ix[k - 1].at;
			continue;
		}
		ix[k++] = ix[i];
	}
	*n = k;
	return ix;
}

/* Returns the index of the first stream called id, or -1. */
static long
plan_index_find(const struct plan_index *ix, size_t n, const char *id)
{
	size_t	lo = 0, hi = n;

	while (lo < hi) {
		size_t	mid = lo + (hi - lo) / 2;
		int	c = strcmp(id, ix[mid].id);

		if (c == 0)
			return (long)ix[mid].at;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* Whether a relative path's ".." segments climb above where it starts. */
static bool
plan_path_escapes(const char *path)
{
	const char	*p = path, *end;
	long		 depth = 0;
	size_t		 len;

	while (*p != '\0') {
		end = strchr(p, '/');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (--depth < 0)
				return true;
		} else if (len > 0 && !(len == 1 && p[0] == '.'))
			depth++;
		p += len;
		if (*p == '/')
			p++;
	}
	return false;
}

static void
plan_check_phase(const struct orch_stream *s, struct plan_lines *l)
{
	if (s->phase == NULL) {
		plan_addf(l, "%s has no streamPhase (expected foundation, "
		    "parallel or integration)", s->id);
		return;
	}
	if (plan_phase_of(s->phase) != PLAN_UNKNOWN)
		return;
	plan_addf(l, "%s has an unknown streamPhase '%.*s' (expected "
	    "foundation, parallel or integration)", s->id, PLAN_SHOWN,
	    s->phase);
}

static void
plan_check_worktree(const struct orch_stream *s, struct plan_lines *l)
{
	const char	*w = s->worktree_path;

	if (w == NULL)
		return;
	if (w[0] == '/')
		plan_addf(l, "%s has an absolute worktreePath '%.*s' (it must "
		    "be relative to projectRoot)", s->id, PLAN_SHOWN, w);
	else if (plan_path_escapes(w))
		plan_addf(l, "%s has a worktreePath '%.*s' that resolves "
		    "outside projectRoot", s->id, PLAN_SHOWN, w);
}

static void
plan_check_deps(const struct orchconf *c, const struct plan_index *ix,
    size_t nix, size_t i, struct plan_lines *l)
{
	const struct orch_stream	*s = &c->streams[i];
	enum plan_phase			 mine = plan_phase_of(s->phase), theirs;
	size_t				 j;
	long				 d;

	for (j = 0; j < s->n_deps; j++) {
		if ((d = plan_index_find(ix, nix, s->deps[j])) == -1) {
			plan_addf(l, "%s depends on unknown stream %.*s",
			    s->id, PLAN_SHOWN, s->deps[j]);
			continue;
		}
		theirs = plan_phase_of(c->streams[d].phase);
		if (mine != PLAN_UNKNOWN && theirs != PLAN_UNKNOWN &&
		    theirs > mine)
			plan_addf(l, "%s (%s) depends on %s of a later phase (%s)",
			    s->id, plan_phase_name(mine), c->streams[d].id,
			    plan_phase_name(theirs));
	}
}

/* The problems of stream i, in the order the top comment gives. */
static void
plan_check_stream(const struct orchconf *c, const struct plan_index *ix,
    size_t nix, const size_t *dup_of, size_t i, struct plan_lines *l)
{
	const struct orch_stream	*s = &c->streams[i];

	if (dup_of[i] != i)
		plan_addf(l, "duplicate streamId %s (streams[%zu] and "
		    "streams[%zu])", s->id, dup_of[i], i);
	plan_check_phase(s, l);
	plan_check_worktree(s, l);
	plan_check_deps(c, ix, nix, i, l);
}

static void
plan_check_counts(const struct orchconf *c, struct plan_lines *l)
{
	size_t	i, foundation = 0, parallel = 0;

	for (i = 0; i < c->n_streams; i++) {
		switch (plan_phase_of(c->streams[i].phase)) {
		case PLAN_FOUNDATION:
			foundation++;
			break;
		case PLAN_PARALLEL:
			parallel++;
			break;
		default:
			break;
		}
	}
	if (foundation == 0)
		plan_addf(l, "no foundation stream (at least one stream needs "
		    "streamPhase \"foundation\")");
	if (parallel > (size_t)c->max_parallel)
		plan_addf(l, "too many parallel streams: %zu, "
		    "maxParallelStreams is %ld", parallel, c->max_parallel);
}

/* Adds "circular dependency: ..." for the path stack[from..top] and back. */
static void
plan_add_cycle(const struct orchconf *c, const size_t *stack, size_t from,
    size_t top, struct plan_lines *l)
{
	struct buf	b;
	size_t		k;

	buf_init(&b, 0);
	for (k = from; k <= top; k++) {
		buf_add(&b, c->streams[stack[k]].id,
		    strlen(c->streams[stack[k]].id));
		buf_add(&b, " -> ", 4);
	}
	buf_add(&b, c->streams[stack[from]].id,
	    strlen(c->streams[stack[from]].id));
	plan_addf(l, "circular dependency: %s", b.data);
	buf_clear(&b);
}

/*
 * A depth-first walk over the dependency edges, streams in file order,
 * with an explicit stack so that a long chain cannot overflow ours.  Each
 * edge back to a stream still on the stack closes one cycle.
 */
static void
plan_check_cycles(const struct orchconf *c, const struct plan_index *ix,
    size_t nix, struct plan_lines *l)
{
	enum { WHITE, GREY, BLACK }	*colour;
	size_t				 n = c->n_streams, root, sp, top;
	size_t				*stack, *next, *pos;
	long				 d;

	colour = xcalloc(n, sizeof *colour);
	stack = xcalloc(n, sizeof *stack);
	next = xcalloc(n, sizeof *next);
	pos = xcalloc(n, sizeof *pos);
	for (root = 0; root < n; root++) {
		if (colour[root] != WHITE)
			continue;
		sp = 0;
		stack[sp++] = root;
		colour[root] = GREY;
		while (sp > 0) {
			top = stack[sp - 1];
			if (next[top] == c->streams[top].n_deps) {
				colour[top] = BLACK;
				sp--;
				continue;
			}
			d = plan_index_find(ix, nix,
			    c->streams[top].deps[next[top]++]);
			if (d == -1 || colour[d] == BLACK)
				continue;
			if (colour[d] == GREY) {
				plan_add_cycle(c, stack, pos[d], sp - 1, l);
				continue;
			}
			colour[d] = GREY;
			pos[d] = sp;
			stack[sp++] = (size_t)d;
		}
	}
	free(colour);
	free(stack);
	free(next);
	free(pos);
}

/*
 * Fills *problems (new; free with plan_problems_free()) with one line per
 * problem of c's plan and *n with their number.  Returns 0 when there are
 * none, -1 otherwise.
 */
int
plan_check(const struct orchconf *c, char ***problems, size_t *n)
{
	struct plan_lines	 l = { NULL, 0 };
	struct plan_index	*ix;
	size_t			*dup_of, nix, i;

	dup_of = xcalloc(c->n_streams, sizeof *dup_of);
	ix = plan_index_new(c, &nix, dup_of);
	for (i = 0; i < c->n_streams; i++)
		plan_check_stream(c, ix, nix, dup_of, i, &l);
	plan_check_counts(c, &l);
	plan_check_cycles(c, ix, nix, &l);
	free(ix);
	free(dup_of);
	*problems = l.v;
	*n = l.n;
	return l.n == 0 ? 0 : -1;
}

void
plan_problems_free(char **problems, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(problems[i]);
	free(problems);
}

/* Gates ------------------------------------------------------------------ */

/* Appends one sentence to reasons (borrowed). */
static void
plan_reason(json_t *reasons, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	json_array_append_new(reasons, json_vsprintf(fmt, ap));
	va_end(ap);
}

static const struct plan_stream *
plan_find(const struct plan_stream *v, size_t n, const char *id)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (v[i].id != NULL && strcmp(v[i].id, id) == 0)
			return &v[i];
	}
	return NULL;
}

/* The percent to show: 100 only when complete, never below 0. */
static long
plan_shown_progress(const struct plan_stream *s)
{
	if (s->complete)
		return 100;
	if (s->progress >= 100)
		return 99;
	return s->progress < 0 ? 0 : s->progress;
}

/* Appends a reason per unmet dependency; true if there was one. */
static bool
plan_gate_deps(const struct plan_stream *v, size_t n,
    const struct plan_stream *s, json_t *reasons)
{
	const struct plan_stream	*d;
	size_t				 i;
	bool				 unmet = false;

	for (i = 0; i < s->n_deps; i++) {
		if ((d = plan_find(v, n, s->deps[i])) == NULL) {
			plan_reason(reasons, "%s is not in the plan",
			    s->deps[i]);
			unmet = true;
		} else if (!d->complete) {
			plan_reason(reasons, "%s is at %ld%%", d->id,
			    plan_shown_progress(d));
			unmet = true;
		}
	}
	return unmet;
}

/* Appends a reason if a stream of phase p is not complete. */
static bool
plan_gate_phase(const struct plan_stream *v, size_t n, enum plan_phase p,
    json_t *reasons)
{
	struct buf	 b;
	char		 pct[32];
	size_t		 i;
	bool		 open = true;

	buf_init(&b, 0);
	for (i = 0; i < n; i++) {
		if (plan_phase_of(v[i].phase) != p || v[i].complete)
			continue;
		buf_add(&b, open ? ": " : ", ", 2);
		buf_add(&b, v[i].id, strlen(v[i].id));
		snprintf(pct, sizeof pct, " is at %ld%%",
		    plan_shown_progress(&v[i]));
		buf_add(&b, pct, strlen(pct));
		open = false;
	}
	if (!open)
		plan_reason(reasons, "the %s phase is not complete%s",
		    plan_phase_name(p), b.data);
	buf_clear(&b);
	return !open;
}

/* Appends the phase-order reasons for s; true if there was one. */
static bool
plan_gate_phases(const struct plan_stream *v, size_t n,
    const struct plan_stream *s, json_t *reasons)
{
	enum plan_phase	 mine = plan_phase_of(s->phase), p;
	bool		 waits = false;

	if (mine == PLAN_UNKNOWN) {
		plan_reason(reasons, "%s has an unknown streamPhase '%s'",
		    s->id, s->phase != NULL ? s->phase : "");
		return true;
	}
	for (p = PLAN_FOUNDATION; p < mine; p++) {
		if (plan_gate_phase(v, n, p, reasons))
			waits = true;
	}
	return waits;
}

/*
 * The gate of stream i of v (n streams), with live session windows open
 * and at most max_parallel allowed.  Appends to reasons (borrowed) why it
 * may not start and returns PLAN_GATE_OPEN if it may; PLAN_GATE_WAIT if
 * only its dependencies or the phase order stop it (force would open it);
 * PLAN_GATE_CLOSED otherwise.
 */
enum plan_gate
plan_may_start(const struct plan_stream *v, size_t n, size_t i,
    long max_parallel, long live, bool force, json_t *reasons)
{
	const struct plan_stream	*s = &v[i];
	bool				 wait = false, closed = false;

	if (!force) {
		if (plan_gate_deps(v, n, s, reasons))
			wait = true;
		if (plan_gate_phases(v, n, s, reasons))
			wait = true;
		if (s->worked_by != NULL && !s->live && !s->complete) {
			plan_reason(reasons, "%s is being worked on: agent "
			    "@%.*s is active in Task Copilot", s->id,
			    PLAN_SHOWN, s->worked_by);
			wait = true;
		}
	}
	if (s->complete) {
		plan_reason(reasons, "%s is already complete", s->id);
		closed = true;
	}
	if (s->live) {
		plan_reason(reasons, "%s is already running", s->id);
		closed = true;
	} else if (!s->complete && live >= max_parallel) {
		plan_reason(reasons, "the parallel limit is reached: %ld of %ld "
		    "sessions are live", live, max_parallel);
		closed = true;
	}
	if (s->budget_spent) {
		plan_reason(reasons, "%s has used all its recovery attempts and "
		    "needs a human", s->id);
		closed = true;
	}
	if (s->cost_spent && !s->complete) {
		plan_reason(reasons, "%s has cost its spending limit "
		    "(maxCostUsd); raise the limit to go on", s->id);
		closed = true;
	}
	if (closed)
		return PLAN_GATE_CLOSED;
	return wait ? PLAN_GATE_WAIT : PLAN_GATE_OPEN;
}

/* Next actions ----------------------------------------------------------- */

static void
plan_action(json_t *out, const char *action, const char *id, json_t *reason)
{
	json_t	*a = json_object();

	json_object_set_new(a, "action", json_string(action));
	json_object_set_new(a, "streamId", id != NULL ? json_string(id) :
	    json_null());
	json_object_set_new(a, "reason", reason);
	json_array_append_new(out, a);
}

/* Returns a new string: the reasons (a JSON array of strings) joined. */
static json_t *
plan_joined(json_t *reasons)
{
	struct buf	 b;
	json_t		*r, *s;
	size_t		 i;

	buf_init(&b, 0);
	json_array_foreach(reasons, i, r) {
		if (i > 0)
			buf_add(&b, "; ", 2);
		buf_add(&b, json_string_value(r), json_string_length(r));
	}
	s = json_stringn(b.data != NULL ? b.data : "", b.len);
	buf_clear(&b);
	return s;
}

/* Whether a person must act before s can ever start. */
static bool
plan_stuck(const struct plan_stream *v, size_t n, const struct plan_stream *s)
{
	size_t	i;

	if (plan_phase_of(s->phase) == PLAN_UNKNOWN)
		return true;
	for (i = 0; i < s->n_deps; i++) {
		if (plan_find(v, n, s->deps[i]) == NULL)
			return true;
	}
	return false;
}

/* The action for stream i; a suggested start adds to *live. */
static void
plan_next_one(const struct plan_stream *v, size_t n, size_t i,
    long max_parallel, long *live, json_t *out)
{
	const struct plan_stream	*s = &v[i];
	json_t				*reasons;

	if (s->complete)
		return;
	if (s->blocked) {
		plan_action(out, "unblock", s->id,
		    json_sprintf("%s has blocked tasks", s->id));
		return;
	}
	if (s->budget_spent) {
		plan_action(out, "unblock", s->id, json_sprintf("%s has used "
		    "all its recovery attempts and needs a human", s->id));
		return;
	}
	if (s->cost_spent) {
		plan_action(out, "unblock", s->id, json_sprintf("%s has cost "
		    "its spending limit (maxCostUsd)", s->id));
		return;
	}
	if (s->live) {
		plan_action(out, "wait", s->id, json_sprintf("%s is running "
		    "(%ld%%)", s->id, plan_shown_progress(s)));
		return;
	}
	reasons = json_array();
	if (plan_may_start(v, n, i, max_parallel, *live, false, reasons) ==
	    PLAN_GATE_OPEN) {
		plan_action(out, "start", s->id, json_string("ready to start"));
		(*live)++;
	} else
		plan_action(out, plan_stuck(v, n, s) ? "unblock" : "wait",
		    s->id, plan_joined(reasons));
	json_decref(reasons);
}

/*
 * Returns a new array of suggested actions for the n streams of v, with
 * live session windows open and at most max_parallel allowed; empty when
 * there are no streams.
 */
json_t *
plan_next_actions(const struct plan_stream *v, size_t n, long max_parallel,
    long live)
{
	json_t		*out = json_array();
	enum plan_phase	 p;
	size_t		 i, done = 0;

	for (i = 0; i < n; i++) {
		if (v[i].complete)
			done++;
	}
	if (n > 0 && done == n) {
		plan_action(out, "done", NULL, json_sprintf("all %zu stream%s "
		    "%s complete", n, n == 1 ? "" : "s", n == 1 ? "is" : "are"));
		return out;
	}
	for (p = PLAN_FOUNDATION; p <= PLAN_UNKNOWN; p++) {
		for (i = 0; i < n; i++) {
			if (plan_phase_of(v[i].phase) == p)
				plan_next_one(v, n, i, max_parallel, &live,
				    out);
		}
	}
	return out;
}

/*
 * Fills *out (new array, free with plan_streams_free) from stream objects
 * as the API shows them (streamId, streamPhase, dependencies as ids or
 * as {streamId} objects, progressPercentage, status, blockedTasks, and
 * the agent Task Copilot reports on it: agent.isActive, agent.agentId).  The
 * strings stay borrowed from streams; live and budget_spent are left for
 * the caller.  Returns the count.
 */
size_t
plan_streams_from_json(json_t *streams, struct plan_stream **out)
{
	size_t			 n = json_array_size(streams), i, j;
	struct plan_stream	*ps = xcalloc(n, sizeof *ps);
	json_t			*s, *d, *agent;

	json_array_foreach(streams, i, s) {
		json_t		*deps = json_object_get(s, "dependencies");
		const char	*status = json_string_value(json_object_get(s,
				    "status"));
		const char	**ids = xcalloc(json_array_size(deps),
				    sizeof *ids);
		size_t		 k = 0;

		json_array_foreach(deps, j, d) {
			const char *id = json_is_object(d) ?
			    json_string_value(json_object_get(d, "streamId")) :
			    json_string_value(d);

			if (id != NULL)
				ids[k++] = id;
		}
		ps[i].id = json_string_value(json_object_get(s, "streamId"));
		if (ps[i].id == NULL)
			ps[i].id = "";
		ps[i].phase = json_string_value(json_object_get(s,
		    "streamPhase"));
		ps[i].deps = ids;
		ps[i].n_deps = k;
		ps[i].progress = (long)json_integer_value(json_object_get(s,
		    "progressPercentage"));
		ps[i].complete = status != NULL &&
		    strcmp(status, "completed") == 0;
		ps[i].blocked = json_integer_value(json_object_get(s,
		    "blockedTasks")) > 0;
		agent = json_object_get(s, "agent");
		if (json_is_true(json_object_get(agent, "isActive")))
			ps[i].worked_by = json_string_value(json_object_get(
			    agent, "agentId")) != NULL ? json_string_value(
			    json_object_get(agent, "agentId")) : "?";
	}
	*out = ps;
	return n;
}

void
plan_streams_free(struct plan_stream *ps, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free((void *)ps[i].deps);
	free(ps);
}
