/*
 * agent.c: what state one agent is in, as pure functions of what was
 * observed, with the clock given by the caller.  Three witnesses, each a
 * fact with the time it began:
 *
 *   - the agent's own word: Claude Code's hook events (agent_from_hook);
 *   - its pane: the texts the real Claude Code 2.1 prints, and for other
 *     agents the exhaustion phrases and a question on the last line
 *     (agent_from_pane);
 *   - its process: an exited agent is dead, whatever was said before.
 *
 * agent_combine() takes the newest: a hook older than the newest pane
 * fact does not override it, and a dead process overrides everything.
 * The texts come from the real binary (tests/claude/OBSERVED.md), not
 * from guesses.  agent_nudge() says whether a turn that ended is told to
 * go on, and agent_spend_over() whether a stream has spent its money.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

#define AGENT_PANE_LINES	30	/* the bottom of the screen */
#define AGENT_SPINNER_LINES	10	/* the spinner, the box, the mode line */
#define AGENT_PANE_SETTLE	1.0	/* s a pane may lag behind a hook */

static const char *const agent_names[] = {
	[AGENT_UNKNOWN] = "unknown",
	[AGENT_WORKING] = "working",
	[AGENT_IDLE] = "idle",
	[AGENT_WAITING_INPUT] = "waiting-input",
	[AGENT_USAGE_LIMITED] = "usage-limited",
	[AGENT_API_ERROR] = "api-error",
	[AGENT_NEEDS_LOGIN] = "needs-login",
	[AGENT_CONTEXT_EXHAUSTED] = "context-exhausted",
	[AGENT_DEAD] = "dead",
	[AGENT_BUDGET_SPENT] = "budget-spent",
};

/* What a pane says when an agent's context is exhausted, unless the
 * config names its own (contextRecovery.exhaustionPhrases). */
const char *const agent_default_phrases[] = {
	"context window exceeded",
	"conversation compacted",
	"maximum context",
	"context limit reached",
	"The conversation is too long",
	NULL
};

/* The hook events taskgate asks Claude Code for, and takes. */
static const char *const agent_events[] = {
	"UserPromptSubmit", "PreToolUse", "PostToolUse", "PermissionRequest",
	"Notification", "Stop", "StopFailure", "PreCompact", "SessionEnd",
	NULL
};

const char *
agent_state_name(enum agent_state s)
{
	return agent_names[s];
}

/* The state of that name; AGENT_UNKNOWN for any other name. */
enum agent_state
agent_state_from_name(const char *name)
{
	size_t	i;

	for (i = 0; name != NULL && i < sizeof agent_names /
	    sizeof agent_names[0]; i++)
		if (strcmp(agent_names[i], name) == 0)
			return (enum agent_state)i;
	return AGENT_UNKNOWN;
}

/* The hook events taskgate takes, NULL-terminated. */
const char *const *
agent_hook_events(void)
{
	return agent_events;
}

/* Whether name is a hook event taskgate takes. */
bool
agent_hook_known(const char *name)
{
	size_t	i;

	for (i = 0; name != NULL && agent_events[i] != NULL; i++)
		if (strcmp(agent_events[i], name) == 0)
			return true;
	return false;
}

/* A string member of o, or "" (absent, or not a string). */
static const char *
agent_str(json_t *o, const char *key)
{
	const char	*s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

/*
 * Ends s before a UTF-8 sequence that a cut to a buffer's size left
 * incomplete, so that the text stays valid UTF-8 (jansson refuses a
 * string that is not, and the evidence would be lost).
 */
static void
agent_utf8_trim(char *s)
{
	size_t		 k = strlen(s), i, want;
	unsigned char	 lead;

	if (k == 0)
		return;
	for (i = k - 1; i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80; i--)
		;
	lead = (unsigned char)s[i];
	want = lead < 0x80 ? 1 : (lead & 0xe0) == 0xc0 ? 2 :
	    (lead & 0xf0) == 0xe0 ? 3 : (lead & 0xf8) == 0xf0 ? 4 : 1;
	if (k - i < want)
		s[i] = '\0';
}

/*
 * The last n lines of text (blank lines at its end aside) into buf, cut
 * to its size, never inside a UTF-8 sequence.
 */
void
agent_pane_tail_copy(const char *text, int n, char *buf, size_t len)
{
	if (len == 0)
		return;
	snprintf(buf, len, "%s", agent_pane_tail(text, n));
	agent_utf8_trim(buf);
}

static void
agent_set(struct agent_fact *f, enum agent_state st, double at,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
agent_set(struct agent_fact *f, enum agent_state st, double at,
    const char *fmt, ...)
{
	va_list	ap;

	f->state = st;
	f->at = at;
	va_start(ap, fmt);
	vsnprintf(f->reason, sizeof f->reason, fmt, ap);
	va_end(ap);
	agent_utf8_trim(f->reason);
}

/* Whether any string member of o mentions needle (any case). */
static bool
agent_mentions(json_t *o, const char *needle)
{
	const char	*key;
	json_t		*v;

	json_object_foreach(o, key, v) {
		if (json_is_string(v) && strcasestr(json_string_value(v),
		    needle) != NULL)
			return true;
		if (json_is_object(v) && agent_mentions(v, needle))
			return true;
	}
	return false;
}

/*
 * The state one hook event (its JSON body, as Claude Code POSTs it) says
 * the agent is in, at now, into *f.  Returns -1 for a body that is not a
 * hook event taskgate takes (no or unknown hook_event_name); an event
 * that says nothing new of the state (an auth success) leaves f->state
 * AGENT_UNKNOWN.
 */
int
agent_from_hook(json_t *body, double now, struct agent_fact *f)
{
	const char	*ev = agent_str(body, "hook_event_name");
	const char	*tool = agent_str(body, "tool_name");
	const char	*err = agent_str(body, "error");
	const char	*kind = agent_str(body, "notification_type");

	memset(f, 0, sizeof *f);
	if (!json_is_object(body) || !agent_hook_known(ev))
		return -1;
	if (strcmp(ev, "UserPromptSubmit") == 0)
		agent_set(f, AGENT_WORKING, now, "a prompt was submitted");
	else if (strcmp(ev, "PreToolUse") == 0)
		agent_set(f, AGENT_WORKING, now, "uses the tool %.60s", tool);
	else if (strcmp(ev, "PostToolUse") == 0)
		agent_set(f, AGENT_WORKING, now, "used the tool %.60s", tool);
	else if (strcmp(ev, "PermissionRequest") == 0)
		agent_set(f, AGENT_WAITING_INPUT, now, "asks permission to use "
		    "%.60s", tool[0] != '\0' ? tool : "a tool");
	else if (strcmp(ev, "Notification") == 0) {
		if (strcmp(kind, "permission_prompt") == 0 ||
		    strcmp(kind, "elicitation_dialog") == 0)
			agent_set(f, AGENT_WAITING_INPUT, now, "%.150s",
			    agent_str(body, "message")[0] != '\0' ?
			    agent_str(body, "message") : "waits for an answer");
		else if (strcmp(kind, "idle_prompt") == 0)
			agent_set(f, AGENT_IDLE, now, "waits at its prompt");
	} else if (strcmp(ev, "Stop") == 0)
		agent_set(f, AGENT_IDLE, now, "its turn ended");
	else if (strcmp(ev, "StopFailure") == 0) {
		if (strcmp(err, "rate_limit") == 0)
			agent_set(f, AGENT_USAGE_LIMITED, now, "the API refused "
			    "the request: rate limit");
		else if (strcmp(err, "authentication_failed") == 0 ||
		    strcmp(err, "billing_error") == 0)
			agent_set(f, AGENT_NEEDS_LOGIN, now, "the API refused "
			    "the request: %s", err);
		else if (strcmp(err, "invalid_request") == 0 &&
		    agent_mentions(body, "too long"))
			agent_set(f, AGENT_CONTEXT_EXHAUSTED, now, "the prompt "
			    "is too long");
		else
			agent_set(f, AGENT_API_ERROR, now, "the turn failed: "
			    "%.60s", err[0] != '\0' ? err : "unknown");
	} else if (strcmp(ev, "PreCompact") == 0)
		agent_set(f, AGENT_WORKING, now, "compacts its context (%.20s)",
		    agent_str(body, "trigger"));
	else if (strcmp(ev, "SessionEnd") == 0)
		agent_set(f, AGENT_DEAD, now, "the session ended (%.40s)",
		    agent_str(body, "reason")[0] != '\0' ?
		    agent_str(body, "reason") : "no reason given");
	return 0;
}

/*
 * The lines of text as an array of pointers into a copy (*copy, to free),
 * the last n of them, without trailing blank lines; returns how many.
 */
static size_t
agent_lines(const char *text, size_t n, char **copy, char ***lines)
{
	char	*p, *nl;
	size_t	 count = 0, cap = 0, first;

	*copy = xstrdup(text);
	*lines = NULL;
	for (p = *copy; p != NULL; p = nl) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		if (count == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			*lines = xrealloc(*lines, cap * sizeof **lines);
		}
		(*lines)[count++] = p;
	}
	while (count > 0 && strspn((*lines)[count - 1], " \t") ==
	    strlen((*lines)[count - 1]))
		count--;
	first = count > n ? count - n : 0;
	memmove(*lines, *lines + first, (count - first) * sizeof **lines);
	return count - first;
}

/* Where the last n lines of text start, blank lines at its end aside. */
const char *
agent_pane_tail(const char *text, int n)
{
	const char	*p = text + strlen(text);

	while (p > text && isspace((unsigned char)p[-1]))
		p--;
	while (p > text && (p[-1] != '\n' || --n > 0))
		p--;
	return p;
}

/* Whether line, after leading blanks, starts with prefix. */
static bool
agent_starts(const char *line, const char *prefix)
{
	line += strspn(line, " \t");
	return strncmp(line, prefix, strlen(prefix)) == 0;
}

/*
 * line past its blanks and Claude Code's message marks (whole UTF-8
 * characters: a byte-wise skip would cut into another character).
 */
static const char *
agent_skip_marks(const char *line)
{
	static const char *const marks[] = { "●", "⏺", "⎿", "│" };
	size_t	i;
	bool	again = true;

	while (again) {
		again = false;
		line += strspn(line, " \t");
		for (i = 0; i < sizeof marks / sizeof marks[0]; i++)
			if (strncmp(line, marks[i], strlen(marks[i])) == 0) {
				line += strlen(marks[i]);
				again = true;
			}
	}
	return line;
}

/* The state an error message line of Claude Code names, or unknown. */
static enum agent_state
agent_error_line(const char *line, char *reason, size_t len)
{
	static const struct {
		const char		*text;
		enum agent_state	 state;
	} known[] = {
		{ "Prompt is too long", AGENT_CONTEXT_EXHAUSTED },
		{ "Context limit reached", AGENT_CONTEXT_EXHAUSTED },
		{ "rate limit", AGENT_USAGE_LIMITED },
		{ "usage limit", AGENT_USAGE_LIMITED },
		{ "(429)", AGENT_USAGE_LIMITED },
		{ "Invalid API key", AGENT_NEEDS_LOGIN },
		{ "Please run /login", AGENT_NEEDS_LOGIN },
		{ "OAuth token", AGENT_NEEDS_LOGIN },
		{ "Credit balance is too low", AGENT_NEEDS_LOGIN },
		{ "Can't reach the API server", AGENT_API_ERROR },
		{ "Overloaded", AGENT_API_ERROR },
		{ "API Error", AGENT_API_ERROR },
	};
	size_t	i;

	for (i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcasestr(line, known[i].text) != NULL) {
			snprintf(reason, len, "%s", agent_skip_marks(line));
			return known[i].state;
		}
	return AGENT_UNKNOWN;
}

/*
 * What a pane's text shows, into reason (the line that says it).  For
 * Claude Code, from the bottom of its screen: a permission dialog; a
 * spinner (working, or retrying an unreachable API); its prompt, and
 * above it the last message (an API error names the state; an answer
 * means idle).  For any agent: an exhaustion phrase (phrases,
 * NULL-terminated; any case) in the last AGENT_PHRASE_LINES lines, or a
 * question on the last line.
 */
enum agent_state
agent_from_pane(const char *text, const char *const *phrases, char *reason,
    size_t len)
{
	enum agent_state st = AGENT_UNKNOWN;
	char		*copy, **all, **lines, *last;
	size_t		 n, i, prompt = 0, dialog = 0, nall;
	bool		 has_prompt = false, has_yes = false;

	reason[0] = '\0';
	if (text == NULL)
		return AGENT_UNKNOWN;
	nall = agent_lines(text, AGENT_PHRASE_LINES, &copy, &all);
	n = nall > AGENT_PANE_LINES ? AGENT_PANE_LINES : nall;
	lines = all + (nall - n);
	if (n == 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (strstr(lines[i], "Do you want to proceed?") != NULL ||
		    strstr(lines[i], "Do you want to make this edit") != NULL ||
		    strstr(lines[i], "Do you want to create") != NULL) {
			dialog = i + 1;
		}
		if (strstr(lines[i], "1. Yes") != NULL)
			has_yes = true;
		if (agent_starts(lines[i], "❯") && !agent_starts(lines[i],
		    "❯ 1.")) {
			has_prompt = true;
			prompt = i;
		}
	}
	if (dialog > 0 && has_yes) {
		snprintf(reason, len, "a permission prompt: %s",
		    agent_skip_marks(lines[dialog - 1]));
		st = AGENT_WAITING_INPUT;
		goto out;
	}
	/* While it works, a spinner sits above the input box and the mode
	 * line says "esc to interrupt"; while the API fails, the spinner
	 * says "✻ API error · retrying in 37s · attempt 1/10", or names a
	 * 429 once it knows ("✻ 429 This request would exceed your
	 * account's rate limit… · retrying in 35s · attempt 5/10"). */
	for (i = n > AGENT_SPINNER_LINES ? n - AGENT_SPINNER_LINES : 0; i < n;
	    i++) {
		if (strstr(lines[i], "retrying in") != NULL ||
		    strstr(lines[i], "retrying…") != NULL ||
		    strstr(lines[i], "Can't reach the API server") != NULL) {
			snprintf(reason, len, "%s", lines[i] + strspn(lines[i],
			    " \t"));
			st = strstr(lines[i], "429") != NULL ||
			    strcasestr(lines[i], "rate limit") != NULL ?
			    AGENT_USAGE_LIMITED : AGENT_API_ERROR;
			goto out;
		}
	}
	for (i = n > AGENT_SPINNER_LINES ? n - AGENT_SPINNER_LINES : 0; i < n;
	    i++) {
		if (strcasestr(lines[i], "esc to interrupt") != NULL) {
			snprintf(reason, len, "%s", lines[i] + strspn(lines[i],
			    " \t"));
			st = AGENT_WORKING;
			goto out;
		}
	}
	if (has_prompt) {
		/* The last message above the prompt box says how the turn
		 * ended: an error names the state, anything else is idle.  It
		 * may sit near the top of the screen, above dozens of blank
		 * lines: look back through all the lines taken. */
		for (i = nall - n + prompt; i-- > 0;) {
			if (agent_starts(all[i], "─") ||
			    strspn(all[i], " \t") == strlen(all[i]))
				continue;
			st = agent_error_line(all[i], reason, len);
			if (st != AGENT_UNKNOWN)
				goto out;
			if (agent_starts(all[i], "●") ||
			    agent_starts(all[i], "⏺") ||
			    agent_starts(all[i], "⎿") ||
			    agent_starts(all[i], "❯") ||
			    agent_starts(all[i], ">"))
				break;
		}
		snprintf(reason, len, "waits at its prompt");
		st = AGENT_IDLE;
		goto out;
	}
	for (i = 0; phrases != NULL && phrases[i] != NULL; i++) {
		size_t	j;

		for (j = 0; phrases[i][0] != '\0' && j < nall; j++)
			if (strcasestr(all[j], phrases[i]) != NULL) {
				snprintf(reason, len, "%s", phrases[i]);
				st = AGENT_CONTEXT_EXHAUSTED;
				goto out;
			}
	}
	last = lines[n - 1] + strspn(lines[n - 1], " \t");
	if ((last[0] != '\0' && last[strlen(last) - 1] == '?') ||
	    strcasestr(last, "(y/n)") || strcasestr(last, "[y/n]") ||
	    strcasestr(last, "Do you want")) {
		snprintf(reason, len, "%s", last);
		st = AGENT_WAITING_INPUT;
	}
out:
	agent_utf8_trim(reason);
	free(all);
	free(copy);
	return st;
}

/*
 * The agent's state from its three witnesses (any may be AGENT_UNKNOWN):
 * a dead process first; then the newer of the hook and the pane fact.
 * The hook is the agent's own word: a pane that changed less than
 * AGENT_PANE_SETTLE after it is still drawing what the hook said (the
 * real Claude Code's mode line says "esc to interrupt" for a moment
 * after a turn failed), and does not override it.
 */
void
agent_combine(const struct agent_fact *hook, const struct agent_fact *pane,
    const struct agent_fact *process, struct agent_fact *out)
{
	if (process != NULL && process->state == AGENT_DEAD)
		*out = *process;
	else if (hook != NULL && hook->state != AGENT_UNKNOWN &&
	    (pane == NULL || pane->state == AGENT_UNKNOWN ||
	    hook->at + AGENT_PANE_SETTLE >= pane->at))
		*out = *hook;
	else if (pane != NULL && pane->state != AGENT_UNKNOWN)
		*out = *pane;
	else
		memset(out, 0, sizeof *out);
}

/* Whether a window in this state waits for a person or a quota: never
 * killed, by a click or by --auto. */
bool
agent_state_protected(enum agent_state s)
{
	return s == AGENT_WAITING_INPUT || s == AGENT_USAGE_LIMITED ||
	    s == AGENT_NEEDS_LOGIN;
}

/*
 * Whether an agent whose turn just ended (a Stop hook) should be told to
 * go on, and with what reason (for Claude Code's {"decision": "block"}):
 * only while its stream id has work it can do (counts c: not complete,
 * not all of it blocked on a person), at most max times in a row (nudges
 * so far: in_row).  Claude Code marks the Stop after a block with
 * stop_hook_active; past max it is let stop.
 */
bool
agent_nudge(const char *id, const struct model_counts *c, int in_row,
    int max, char *reason, size_t len)
{
	long	left = c->total - c->completed - c->cancelled;

	reason[0] = '\0';
	if (c->total <= 0 || left <= 0 || in_row >= max)
		return false;
	if (c->blocked > 0 && c->in_progress == 0 && c->pending == 0)
		return false;	/* what is left waits for a person */
	snprintf(reason, len, "taskgate: stream %s is not complete: %ld of "
	    "%ld tasks done, %ld left (%ld in progress, %ld pending, %ld "
	    "blocked). Go on with the next task of %s that is not blocked, "
	    "and mark each task completed in Task Copilot when it is done.",
	    id, c->completed + c->cancelled, c->total, left, c->in_progress,
	    c->pending, c->blocked, id);
	return true;
}

/*
 * Whether a stream is past its spending limit (sp: what it and all
 * streams have spent, and the limits, maxCostUsd; a limit of 0 or less
 * is none); reaching a limit is past it.  why (len bytes) says which, in
 * words, with the figures.
 */
bool
agent_spend_over(const struct agent_spend *sp, char *why, size_t len)
{
	if (len > 0)
		why[0] = '\0';
	if (sp->stream_max > 0 && sp->stream_usd >= sp->stream_max) {
		snprintf(why, len, "it has cost $%.2f, and its limit "
		    "(maxCostUsd) is $%.2f", sp->stream_usd, sp->stream_max);
		return true;
	}
	if (sp->total_max > 0 && sp->total_usd >= sp->total_max) {
		snprintf(why, len, "all streams together have cost $%.2f, and "
		    "the limit for all (maxCostUsd) is $%.2f", sp->total_usd,
		    sp->total_max);
		return true;
	}
	return false;
}
