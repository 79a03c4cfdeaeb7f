/*
 * taskgate.h: the one header of the daemon.
 *
 * It declares the context (struct taskgate) and each module's API, grouped
 * under the name of the file that owns it.  Private structures stay in their
 * .c file (the session layer's, shared by its five files, in session.h).
 * The small shared things (limits, log, xmalloc, buf, clock,
 * validate, verb, one option's value, the plan's phases) are in util.h,
 * the pure rules (what the plan, a stream's state and an agent's state
 * are, judged from data with no I/O) in rules.h; this header includes
 * both.  The client verbs have their own, client.h.
 * Threads: main (startup, signals, teardown), the acceptor (new
 * connections), the libmicrohttpd threads (requests), the upstream thread
 * (libcurl work for Task Copilot), the poller, the session thread, the
 * event-stream watcher (heartbeats, hang-ups) and, with --webhook, its
 * sender.  Which thread may touch what is written next to each structure.
 */
#ifndef TASKGATE_H
#define TASKGATE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include <jansson.h>
#include <microhttpd.h>

#include "util.h"
#include "rules.h"

struct taskgate;
struct cache;
struct upstream;
struct http;
struct db;
struct events;
struct webhook;
struct audit;
struct poller;
struct metrics;
struct sessions;
struct idempotency;

/* options.c (its one-value parsers: util.h) */
struct options {
	char		*listen;		/* --listen */
	char		*upstream;		/* --upstream, NULL: config/default */
	char		*db_path;		/* --db */
	char		*token_file;		/* --token-file */
	double		 poll;			/* --poll, seconds */
	double		 upstream_timeout;	/* --upstream-timeout, seconds */
	char		*tmux_session;		/* --tmux-session */
	char		*agent_command;		/* --agent-command */
	int		 agent_hooks;		/* --agent-hooks: 1, 0, -1 auto */
	char		*web_root;		/* --web-root */
	char		*webhook;		/* --webhook */
	char		*config_path;		/* --config */
	bool		 config_given;		/* --config or TASKGATE_CONFIG */
	bool		 poll_given;		/* --poll or TASKGATE_POLL */
	bool		 auto_run;		/* --auto */
	bool		 allow_remote;		/* --allow-remote */
	bool		 verbose;		/* --verbose */
	char		**allowed_hosts;	/* --allowed-host, repeatable */
	size_t		 n_allowed_hosts;
	struct listen_addr addr;		/* parsed --listen */
	char		*socket_path;		/* --socket, or NULL */
	struct listen_addr socket_addr;		/* parsed --socket */
	char		*socket_group;		/* --socket-group, or NULL */
};

enum options_result { OPTIONS_OK, OPTIONS_EXIT_OK, OPTIONS_ERROR };

enum options_result options_parse(struct options *, int, char **, char *,
		    size_t);
void	options_clear(struct options *);
void	options_usage(FILE *);

/* orchconf.c (struct orchconf: rules.h) */
int	orchconf_load(const char *, struct orchconf *, char *, size_t);
size_t	orchconf_load_all(const char *, struct orchconf *, char ***);
int	orchconf_parse(json_t *, struct orchconf *, char *, size_t);
size_t	orchconf_parse_all(json_t *, struct orchconf *, char ***);
void	orchconf_defaults(struct orchconf *);
void	orchconf_clear(struct orchconf *);

/* cmd-statusline.c */
int	cmd_statusline(int, char **);

/* cmd-user.c */
int	cmd_user(int, char **);

/* cmd-config.c */
int	cmd_config_check(int, char **);
int	cmd_config_generate(int, char **);

/* files.c */
int	files_mkdirs_for(const char *, char *, size_t);

/* spawn.c */
struct spawn_result {
	int		status;		/* exit status, or 128 + signal */
	bool		timed_out;
	bool		not_found;	/* the program is not installed */
	struct buf	out;		/* stdout, capped at 1 MiB */
	struct buf	err;		/* stderr, capped at 1 MiB */
	char		error[256];	/* when spawn_run() returns -1 */
};

int	spawn_run(char *const [], const char *, double, struct spawn_result *);
int	spawn_run_input(char *const [], const char *, double, const char *,
		    size_t, struct spawn_result *);
void	spawn_result_clear(struct spawn_result *);

/* tmux.c */
struct tmux_window {
	char	id[16];		/* @N */
	char	pane[16];	/* %N, the active pane */
	char	name[128];
	bool	dead;		/* the pane's program exited */
	int	dead_status;	/* -1 while tmux does not know it yet */
	long	pid;
	long	activity;	/* window_activity, seconds */
	long	history;	/* lines scrolled off */
	long	cx, cy;		/* the cursor */
};

char	**tmux_argv_new_window(const char *, bool, const char *,
		    const char *, const char *, char *const []);
const char *tmux_agent_refusal(char *const []);
const char *tmux_plain_error(const char *);
char	**tmux_argv_has_session(const char *);
bool	  tmux_said_gone(const char *);
char	**tmux_argv_list(const char *);
char	**tmux_argv_capture(const char *, int);
char	**tmux_argv_type(const char *, const char *);
char	**tmux_argv_enter(const char *);
char	**tmux_argv_escape(const char *);
char	**tmux_argv_kill(const char *);
void	tmux_argv_free(char **);
json_t	*tmux_argv_json(char **);
int	tmux_exec(char **, char **, char *, size_t);
size_t	tmux_parse_windows(const char *, struct tmux_window **);
char	*tmux_plain_text(const char *);

/* auth.c */
struct auth;
enum auth_via { AUTH_NONE, AUTH_BEARER, AUTH_COOKIE, AUTH_UNIX };

struct auth *auth_new(const char *, char **, size_t, char *, size_t);
void	auth_free(struct auth *);
const char *auth_token(const struct auth *);
bool	auth_host_allowed(const struct auth *, const char *);
enum auth_via auth_check(const struct auth *, const char *, const char *);
bool	auth_origin_matches(const char *, const char *);
int	auth_token_file(const char *, char *, size_t, char *, size_t);
int	auth_random_hex(char *, size_t);
enum auth_via auth_presented(const char *, const char *, char *, size_t);
int	auth_guess_failed(struct auth *, const char *);
int	auth_peer_user(int, uid_t *, char *, size_t);

/* upstream.c */
enum upstream_result {
	UPSTREAM_OK,		/* an HTTP answer, any status */
	UPSTREAM_UNREACHABLE,	/* no answer: refused, reset, unresolvable */
	UPSTREAM_BAD_RESPONSE	/* too slow, too big, not JSON, wrong shape */
};

struct upstream_call;
typedef void (*upstream_done_fn)(struct upstream_call *, void *);

struct upstream_call {
	/* Set by the caller before upstream_submit(). */
	char			*method;	/* "GET", "POST" */
	char			*uri;		/* path?query, as received */
	char			*body;		/* POST body or NULL */
	size_t			 body_len;
	char			*content_type;	/* of the POST body or NULL */
	upstream_done_fn	 done;		/* runs on the upstream thread */
	void			*arg;

	/* Set by the upstream thread before done() runs. */
	enum upstream_result	 result;
	long			 status;
	struct buf		 reply;
	char			*reply_type;
	char			 error[256];	/* a sentence when not OK */

	/* Private to upstream.c. */
	void			*easy;
	void			*headers;
	struct upstream_call	*next;
};

struct upstream_state {
	bool		 reached;	/* the last call got an HTTP answer */
	double		 last_ok;	/* wall clock of the last answer, 0 */
	double		 prev_ok;	/* last_ok before the last call */
	char		 last_error[256];
	uint64_t	 calls;		/* finished calls */
	uint64_t	 unreachable;	/* of which got no answer */
	uint64_t	 bad;		/* of which got a bad answer */
};

struct upstream *upstream_new(const char *, double);
int	upstream_start(struct upstream *);
void	upstream_stop(struct upstream *);
void	upstream_free(struct upstream *);
const char *upstream_url(const struct upstream *);
struct upstream_call *upstream_call_new(const char *, const char *);
void	upstream_call_free(struct upstream_call *);
void	upstream_submit(struct upstream *, struct upstream_call *);
void	upstream_run(struct upstream *, struct upstream_call *);
void	upstream_state(struct upstream *, struct upstream_state *);
void	upstream_note_bad(struct upstream *, const char *);
json_t	*upstream_json(struct upstream *, bool);
int	upstream_check_url(const char *, char *, size_t);

/* tcdb-render.c */
struct tcdb_task {			/* one row of tasks; any text NULL */
	long long	 id;
	long long	 prd_id, parent_id;
	bool		 has_prd_id, has_parent_id;
	long long	 stream_row;	/* streams.id, 0 when none */
	char		*title, *description, *status, *agent, *claimed_by;
	char		*claimed_at, *created_at, *updated_at; /* UTC, as stored */
	json_t		*metadata;	/* an object; anything else is none */
	char		*blocked_reason; /* from a "Blocked:" work product */
	char		*last_log;	/* its newest agent_log time */
};

struct tcdb_stream_row {		/* one row of streams */
	long long	 id;
	char		*name, *status, *worktree;
};

struct tcdb_dep {			/* one row of task_dependencies */
	long long	 task;		/* waits for */
	long long	 on;
};

struct tcdb_rows {			/* one consistent read of the file */
	struct tcdb_task	*tasks;		/* oldest first */
	size_t			 n_tasks;
	struct tcdb_stream_row	*streams;
	size_t			 n_streams;
	struct tcdb_dep		*deps;
	size_t			 n_deps;
};

enum tcdb_result {
	TCDB_OK,
	TCDB_BAD_PATH,		/* a bad or NUL percent-escape */
	TCDB_NO_STREAM,		/* no such stream, or it is archived */
	TCDB_NO_ROUTE,		/* a path the old API did not serve */
	TCDB_READ_ONLY		/* checkpoints, writes: tc keeps none */
};

void	tcdb_rows_free(struct tcdb_rows *);
void	tcdb_id_from_name(const char *, long long, char *, size_t);
enum tcdb_result tcdb_render_request(const struct tcdb_rows *, const char *,
	    const char *, double, json_t **);

/* tcdb.c */
struct tcdb;
struct tcdb *tcdb_new(const char *);
void	tcdb_free(struct tcdb *);
void	tcdb_call(struct tcdb *, struct upstream_call *);
json_t	*tcdb_render(const struct tcdb_rows *, const char *, double, long *);
struct tcdb_rows *tcdb_snapshot_of(struct tcdb *, char *, size_t);
int	tcdb_project_root(const char *, char *, size_t);

/* tcdb-watch.c */
typedef void (*tcdb_change_fn)(void *);
struct tcdb_watch;
struct tcdb_watch *tcdb_watch_start(const char *, tcdb_change_fn, void *);
void	tcdb_watch_stop(struct tcdb_watch *);

/* cache.c */
enum cache_kind {
	CACHE_PASSTHROUGH,	/* the upstream's JSON, byte for byte */
	CACHE_LIST,		/* /api/streams, plus "status" per stream */
	CACHE_DETAIL,		/* /api/streams/{id}, plus task counters */
	CACHE_PROBE		/* /health: only the outcome matters */
};

struct cache_body {
	int		 refs;		/* atomic */
	long		 status;
	char		*content_type;
	char		*data;
	size_t		 len;
	char		 etag[40];
	double		 fetched_wall;
	/* What a reader made from this body and keeps as long as it lives
	 * (api-upstream.c's shared 304), freed by memo_free; memo_lock
	 * guards both. */
	pthread_mutex_t	 memo_lock;
	void		*memo;
	void		(*memo_free)(void *);
};

enum cache_verdict { CACHE_SERVE, CACHE_FAIL, CACHE_WAIT };

struct cache_waiter {
	void	(*suspend)(struct cache_waiter *);	/* under the lock */
	void	(*wake)(struct cache_waiter *);		/* upstream thread */
	struct cache_waiter *next;
	unsigned long	 gen;	/* cache.c's: the writes it must see */
	bool		 revalidate;	/* the client said no-cache: no stored
					   answer, a fetch (shared) */
};

struct cache_answer {
	enum cache_verdict	 verdict;
	struct cache_body	*body;		/* SERVE: a reference */
	const char		*x_cache;	/* "HIT", "MISS", "STALE" */
	enum upstream_result	 outcome;	/* of the last attempt */
	char			 error[256];	/* FAIL: the sentence */
};

struct cache *cache_new(struct upstream *, double);
void	cache_free(struct cache *);
int	cache_get(struct cache *, const char *, enum cache_kind,
		    struct cache_waiter *, bool, struct cache_answer *);
void	cache_expire_all(struct cache *);
void	cache_write(struct cache *, struct upstream_call *);
void	cache_write_run(struct cache *, struct upstream_call *);
void	cache_abort_waiters(struct cache *);
void	cache_body_ref(struct cache_body *);
void	cache_body_unref(void *);

/* db.c */
struct sqlite3;
struct db *db_open(const char *, char *, size_t);
void	db_close(struct db *);
struct sqlite3 *db_lock(struct db *);
void	db_unlock(struct db *);
void	db_note_write(struct db *, bool);
bool	db_writable(struct db *, char *, size_t);
bool	db_watch(struct db *);

/* people.c */
#define PEOPLE_HASH_HEX		64	/* SHA-256 in hex */
struct person {
	char		 name[PERSON_NAME_MAX + 1];
	enum role	 role;
	char		 unix_user[PERSON_NAME_MAX + 1];	/* "" when none */
};

void	people_hash(const char *, char [PEOPLE_HASH_HEX + 1]);
int	people_add(struct db *, const char *, enum role, const char *,
		    char [TASKGATE_TOKEN_HEX + 1], char *, size_t);
int	people_remove(struct db *, const char *, char *, size_t);
int	people_new_token(struct db *, const char *,
		    char [TASKGATE_TOKEN_HEX + 1], char *, size_t);
json_t	*people_list(struct db *);
bool	people_by_token(struct db *, const char *, struct person *);
bool	people_by_unix_user(struct db *, const char *, struct person *);
bool	people_by_cookie(struct db *, const char *, struct person *);
bool	people_exists(struct db *, const char *);
bool	people_gone(void *, const char *, const char *);
int	people_sign_in(struct db *, const char *,
		    char [TASKGATE_TOKEN_HEX + 1]);
void	people_sign_out(struct db *, const char *);

/* history.c */
struct stream_row {
	char			 id[STREAM_ID_MAX + 1];
	struct model_counts	 counts;
	int64_t			 last_change_ms;	/* counts last changed */
	double			 unchanged_s;	/* seen unchanged, upstream up */
	char			 state[32];	/* a health state's name */
	int64_t			 state_since_ms;
	char			*evidence;	/* JSON text, owned */
};

int	history_load_rows(struct db *, struct stream_row **, size_t *);
int	history_save_rows(struct db *, const struct stream_row *, size_t);
int	history_add_sample(struct db *, const char *, int64_t,
		    const struct model_counts *);
int	history_samples(struct db *, const char *, int64_t, int64_t, long,
		    struct buf *);
void	history_rows_free(struct stream_row *, size_t);

struct session_row {
	char			id[STREAM_ID_MAX + 1];
	char			window[16];	/* tmux @N, "" when none */
	char			pane[16];	/* tmux %N */
	int64_t			started_ms;
	struct recovery_track	rec;
};

int	history_load_sessions(struct db *, struct session_row **, size_t *);
int	history_save_session(struct db *, const struct session_row *);

/* What an agent window said of itself through its hooks (persisted). */
struct agent_row {
	char			id[STREAM_ID_MAX + 1];
	char			secret[65];	/* hex; "" when it has none */
	char			claude_session[80];
	char			last_event[32];
	int64_t			last_event_ms;
	char			last_prompt[512];
	int64_t			last_prompt_ms;
	struct agent_fact	hook;		/* the last event's word */
	int64_t			resume_ms;	/* parked until (wall ms), 0 */
	int64_t			limit_reset_ms;	/* status line's reset, 0 */
	double			context_pct;	/* status line; -1: unknown */
	double			cost_usd;	/* status line; -1: unknown */
	char			model[64];
	double			cost_before_usd; /* the stream's earlier
						   agents, together */
};

int	history_load_agents(struct db *, struct agent_row **, size_t *);
int	history_events_last_id(struct db *, int64_t *, char *, size_t);
int64_t	history_event_add(struct db *, int64_t, const char *, const char *);
void	history_events_after(struct db *, int64_t, int,
		    void (*)(int64_t, const char *, const char *, void *), void *);
int	history_save_agent(struct db *, const struct agent_row *);

/* audit.c */
struct audit *audit_new(struct db *);
void	audit_free(struct audit *);
void	audit_add(struct audit *, const char *, const char *, const char *,
		    const char *, unsigned int, json_t *);
void	audit_retry(struct audit *);
json_t	*audit_last_action(struct audit *, const char *);
size_t	audit_pending(struct audit *);
json_t	*audit_list(struct audit *, const char *, long);

/* events.c */
#define TASKGATE_EVENTS_MAX_CLIENTS 3000	/* then 503, not a slow box */
struct events;
struct events *events_new(struct db *, char *, size_t);
void	events_set_snapshot(struct events *, char *(*)(void *), void *);
void	events_set_webhook(struct events *, struct webhook *);
int	events_start(struct events *);
void	events_stop(struct events *);
void	events_free(struct events *);
void	events_emit(struct events *, const char *, json_t *);
enum events_attach { EVENTS_ATTACH_OK, EVENTS_ATTACH_FULL,
	EVENTS_ATTACH_STOPPING };
enum events_attach events_attach(struct events *, struct MHD_Connection *,
	    int64_t, const char *, const char *, struct MHD_Response **);
size_t	events_end_gone(struct events *,
	    bool (*)(void *, const char *, const char *), void *);
size_t	events_client_count(struct events *);
size_t	events_pending(struct events *);
void	events_retry(struct events *);
int64_t	events_last_id(struct events *);

/* webhook.c */
struct webhook *webhook_new(const char *, char *, size_t);
int	webhook_start(struct webhook *);
void	webhook_post(struct webhook *, int64_t, const char *, const char *);
void	webhook_stop(struct webhook *);
void	webhook_free(struct webhook *);

/* poller.c */
struct poller *poller_new(struct taskgate *);
int	poller_start(struct poller *);
void	poller_stop(struct poller *);
void	poller_join(struct poller *);
void	poller_free(struct poller *);

/* One stream as the last round judged it, in numbers. */
struct poller_fact {
	char			 id[STREAM_ID_MAX + 1];
	struct model_counts	 counts;
	int64_t			 last_change_ms; /* the counts last moved */
	enum stall_state	 state;		/* as the view names it */
	int64_t			 judged_ms;	/* the sessions were read */
};
void	poller_with_view(struct poller *, void (*)(json_t *,
	    const struct poller_fact *, size_t, void *), void *);
size_t	poller_facts(struct poller *, struct poller_fact **);
const struct poller_fact *poller_fact_find(const struct poller_fact *, size_t,
	    const char *);
void	poller_set_sessions(struct poller *, void (*)(void *),
	    void (*)(void *, const char *, double, struct stall_input *),
	    void *);
size_t	poller_pending(struct poller *);
void	poller_poke(struct poller *);

/* api-streams.c */
json_t	*api_streams_overview_doc(struct taskgate *);
char	*api_streams_snapshot(void *);

/* metrics.c */
enum metric {
	METRIC_HTTP_REQUESTS,
	METRIC_CACHE_HIT,
	METRIC_CACHE_MISS,
	METRIC_CACHE_STALE,
	METRIC_CACHE_FAIL,
	METRIC_RECOVERIES,
	METRIC_HOOK_EVENTS,
	METRIC__COUNT
};

struct metrics *metrics_new(void);
void	metrics_free(struct metrics *);
void	metrics_count(struct metrics *, enum metric);
uint64_t metrics_get(struct metrics *, enum metric);

/* session.c (the session-*.c files share session.h, which only they
 * include) */
enum session_job_kind { JOB_START, JOB_STOP, JOB_RECOVER, JOB_RUN,
	JOB_REPLY, JOB_HANDOFF };

/* What a reply says: a line of text, or a permission dialog's answer. */
enum session_reply { SESSION_REPLY_TEXT, SESSION_REPLY_ALLOW,
	SESSION_REPLY_DENY };

/*
 * What a session job came to, with a sentence in its answer's "error" when
 * it did not act; api-sessions.c alone says it in HTTP.
 */
enum session_result {
	SESSION_DONE,		/* acted, or a dry run said how it would */
	SESSION_STARTED,	/* a window was made */
	SESSION_TYPED,		/* a reply typed; its delivery is to come */
	SESSION_UNKNOWN_STREAM,	/* Task Copilot has no such stream */
	SESSION_REFUSED,	/* the rules say no now ("code" says which) */
	SESSION_BAD_WORKTREE,	/* its directory is missing or outside */
	SESSION_FAILED,		/* taskgate could not (the hooks' file) */
	SESSION_TMUX_FAILED,	/* tmux did not do it */
	SESSION_UNAVAILABLE	/* not ready yet, or stopping */
};

/* One action for the session thread; done() runs on that thread. */
struct session_job {
	enum session_job_kind	 kind;
	char			 id[STREAM_ID_MAX + 1];	/* "" for run */
	bool			 force;
	bool			 dry_run;
	bool			 auto_run;	/* decided by --auto */
	enum session_reply	 reply;		/* JOB_REPLY: which */
	char			*text;		/* JOB_REPLY: the line (owned) */
	char			 actor[64];
	enum session_result	 result;
	json_t			*answer;	/* its body (new) */
	void			(*done)(struct session_job *);
	void			*arg;
	struct session_job	*next;
};

struct sessions;
struct sessions *session_new(struct taskgate *,
	    unsigned int (*)(enum session_result), char *, size_t);
int	session_thread_start(struct sessions *);
void	session_thread_stop(struct sessions *);
void	session_free(struct sessions *);
int	session_submit(struct sessions *, struct session_job *);
const char *session_job_name(enum session_job_kind);
const char *session_owner(struct sessions *);
size_t	session_plan(struct sessions *, json_t *, struct plan_stream **,
	    long *);
bool	session_may_recover(struct sessions *, const char *,
		    const struct poller_fact *, char *, size_t);
json_t	*session_json(struct sessions *, const char *);
json_t	*session_list(struct sessions *);
json_t	*session_output(struct sessions *, const char *, long);
void	session_stall_input(void *, const char *, double,
		    struct stall_input *);
void	session_view_published(void *);
bool	session_cost_spent(struct sessions *, const char *);
void	session_set_limits(struct sessions *, const struct orchconf *);
json_t	*session_spend_json(struct sessions *);

/* session-hooks.c: what session_hooks_event() made of a hook event. */
enum session_hook_result {
	SESSION_HOOK_OK,		/* recorded */
	SESSION_HOOK_FORBIDDEN,		/* no window of this stream has it */
	SESSION_HOOK_BAD_EVENT,		/* not a hook event taskgate takes */
	SESSION_HOOK_FLOOD		/* too many from this window */
};
enum session_hook_result session_hooks_event(struct sessions *, const char *,
		    const char *, json_t *, bool *, char **);
enum session_hook_result session_hooks_status(struct sessions *, const char *,
		    const char *, json_t *, bool *);

/* session-pane.c */
int	session_pane_resume_now(struct sessions *, const char *, const char *);

/* the context */
struct taskgate {
	struct options		*opts;		/* read-only after start */
	struct orchconf		 conf;		/* read-only after start, but
						   its spending limits (the
						   sessions' lock, SIGHUP) */
	const char		*upstream_url;
	char			*web_root;
	struct auth		*auth;
	struct upstream		*upstream;
	struct cache		*cache;
	struct db		*db;
	struct audit		*audit;
	struct events		*events;
	struct webhook		*webhook;	/* --webhook, or NULL */
	struct poller		*poller;
	struct metrics		*metrics;
	struct sessions		*sessions;
	struct idempotency	*idempotency;
	struct http		*http;
	struct tcdb_watch	*tcwatch;	/* sqlite:PATH, inotify; or NULL */
	struct http		*http_unix;	/* --socket's, or NULL */
	char			 hook_base[64];	/* http://127.0.0.1:PORT, or ""
						   (a unix socket: no hooks) */
};

/* http.c */
enum reply_error {
	REPLY_NOT_FOUND,		/* 404 not-found */
	REPLY_BAD_METHOD,	/* 405 method-not-allowed */
	REPLY_BAD_ID,		/* 400 invalid-stream-id */
	REPLY_BAD_PATH,		/* 400 bad-path */
	REPLY_UNAUTHORIZED,	/* 401 unauthorized */
	REPLY_FORBIDDEN_HOST,	/* 403 forbidden-host */
	REPLY_FORBIDDEN_ORIGIN,	/* 403 forbidden-origin */
	REPLY_TOO_LARGE,		/* 413 body-too-large */
	REPLY_UNREACHABLE,	/* 502 upstream-unreachable */
	REPLY_BAD_RESPONSE,	/* 502 upstream-bad-response */
	REPLY_UNAVAILABLE,	/* 503 unavailable */
	REPLY_BAD_QUERY,		/* 400 bad-query */
	REPLY_CONFLICT,		/* 409 conflict */
	REPLY_UNPROCESSABLE,	/* 422 unprocessable */
	REPLY_INTERNAL,		/* 500 internal-error */
	REPLY_BAD_HEADER,	/* 400 bad-header */
	REPLY_TOO_MANY_ARGS,	/* 431 too-many-arguments */
	REPLY_FORBIDDEN,		/* 403 forbidden */
	REPLY_BAD_BODY,		/* 400 bad-body */
	REPLY_UNKNOWN_EVENT,	/* 422 unknown-event */
	REPLY_FORBIDDEN_ROLE,	/* 403 forbidden-role */
	REPLY_TOO_MANY_GUESSES	/* 429 too-many-attempts */
};

enum request_state { REQ_NEW, REQ_BODY, REQ_RUN, REQ_WAITING, REQ_DONE };

struct route;

/* One HTTP request; lives from the first header to the completed callback. */
struct request {
	struct taskgate		*tg;
	struct MHD_Connection	*conn;
	char			*uri;		/* raw path?query, owned */
	const char		*method;	/* borrowed from MHD */
	char			*path;		/* decoded path, owned */
	const struct route	*route;
	char			 id[STREAM_ID_MAX + 1];	/* {id}, if any */
	struct buf		 body;		/* capped at 64 KiB */
	bool			 body_too_big;
	bool			 too_many_args;	/* its query was cut off */
	bool			 events_door;	/* on the event-stream daemon */
	struct request		**slot;		/* its connection's hold on it */
	struct http		*http;		/* the server it came to */
	bool			 crowded;	/* answers close the connection */
	enum request_state	 state;
	enum auth_via		 auth;		/* how it was signed in */
	enum role		 role;		/* ROLE_NONE: nobody */
	char			 actor[64];	/* who acts: a person, a login */
	char			 person[PERSON_NAME_MAX + 1];	/* or "" */
	char			 token_sha256[PEOPLE_HASH_HEX + 1];
					/* the person's token it came with
					   (Bearer), or "" */
	bool			 bad_credentials;	/* presented wrong ones */
	char			 peer[64];	/* its address, for the guesses */
	int			 retry_after;	/* s, for a 429 */
	bool			 woken;		/* resumed after a wait */
	struct cache_waiter	 waiter;	/* embedded; see cache_get() */
	struct upstream_call	*call;		/* a forwarded write */
	struct session_job	*job;		/* a session action */
};

struct http *http_start(struct taskgate *, int, char *, size_t);
void	http_stop(struct http *);
int	http_listen_socket(const struct listen_addr *, const char *, char *,
	    size_t);
int	http_bound_port(int);
int	http_local_base(int, char *, size_t);
enum MHD_Result reply_error(struct request *, enum reply_error, const char *,
		    ...) __attribute__((format(printf, 3, 4)));
enum MHD_Result reply_send(struct request *, unsigned int,
		    struct MHD_Response *);
void	reply_common_headers(struct MHD_Response *);
bool	reply_can_share(const struct request *);
enum MHD_Result reply_shared(struct request *, unsigned int,
		    struct MHD_Response *);
enum MHD_Result reply_json(struct request *, unsigned int, json_t *);
enum MHD_Result reply_unauthorized(struct request *, const char *);
enum MHD_Result reply_not_found(struct request *);
enum MHD_Result reply_bad_method(struct request *, const char *);
void	request_free(struct request *);
void	request_suspend(struct request *);
void	request_resume(struct request *);
const char *request_header(struct request *, const char *);
int	request_query(struct request *, const char *, const char **);
size_t	http_query_args(const char *);

/* acceptor.c */
#define TASKGATE_EVENTS_HEAD_MAX 4096	/* a head the small pool takes */
#define ACCEPTOR_HEAD_MAX	32768	/* the look: the general pool's size */
#define ACCEPTOR_RESERVE	64	/* general places kept for the owner */
enum acceptor_route { ACCEPTOR_WAIT, ACCEPTOR_GENERAL, ACCEPTOR_EVENTS,
	ACCEPTOR_BAD };
struct acceptor;
enum acceptor_route acceptor_classify(const char *, size_t, size_t, bool *);
struct acceptor *acceptor_start(int, struct MHD_Daemon *, unsigned int,
		    struct MHD_Daemon *, unsigned int, char *, size_t);
void	acceptor_closed(struct acceptor *, enum acceptor_route);
bool	acceptor_crowded(const struct acceptor *);
void	acceptor_stop(struct acceptor *);
void	acceptor_free(struct acceptor *);

/* api-events.c */
enum MHD_Result api_events_serve(struct request *);

/* api-hooks.c */
enum MHD_Result api_hooks_post(struct request *);
enum MHD_Result api_hooks_status(struct request *);

/* api-upstream.c */
enum MHD_Result api_upstream_list(struct request *);
enum MHD_Result api_upstream_detail(struct request *);
enum MHD_Result api_upstream_passthrough(struct request *);
enum MHD_Result api_upstream_checkpoint(struct request *);
enum MHD_Result api_upstream_health(struct request *);

/* api-streams.c, api-metrics.c */
enum MHD_Result api_streams_overview(struct request *);
enum MHD_Result api_streams_history(struct request *);
enum MHD_Result api_metrics_serve(struct request *);

/* api-sessions.c */
enum MHD_Result api_sessions_start(struct request *);
enum MHD_Result api_sessions_stop(struct request *);
enum MHD_Result api_sessions_recover(struct request *);
enum MHD_Result api_sessions_run(struct request *);
enum MHD_Result api_sessions_reply(struct request *);
enum MHD_Result api_sessions_resume(struct request *);
enum MHD_Result api_sessions_list(struct request *);
enum MHD_Result api_sessions_output(struct request *);
enum MHD_Result api_sessions_audit(struct request *);
unsigned int api_sessions_status(enum session_result);

/* idempotency.c */
#define IDEMPOTENCY_KEY_MAX 128
enum idempotency_verdict { IDEMPOTENCY_NEW, IDEMPOTENCY_REPLAY,
	IDEMPOTENCY_PENDING, IDEMPOTENCY_MISMATCH };
struct idempotency *idempotency_new(void);
void	idempotency_free(struct idempotency *);
bool	idempotency_key_ok(const char *);
enum idempotency_verdict idempotency_claim(struct idempotency *,
		    const char *, const char *, unsigned int *, char **);
void	idempotency_store(struct idempotency *, const char *, const char *,
		    unsigned int, const char *);

/* assets.c */
enum MHD_Result assets_serve(struct request *);
char	*assets_default_root(void);

#endif /* TASKGATE_H */
