/*
 * session.h: what the session layer's files share, and no other file
 * includes: the record of one agent window (struct session), the layer
 * itself (struct sessions: the table, the job queue, the lock), and the
 * functions one of its files calls in another.  The files call each
 * other one way: session-thread.c calls the others; session-run.c calls
 * session-window.c, which calls session-pane.c and session-hooks.c; all
 * of them call session.c, which calls none of them.
 *
 *   session.c		the table, the job queue, the facts and JSON other
 *			threads read, progress read from the poller's
 *			facts, the helpers the other files share
 *   session-thread.c	the thread: runs the jobs and the tick, calling
 *			the files below
 *   session-hooks.c	Claude Code's hooks: which windows get them, their
 *			settings file, what they and the status line post
 *   session-pane.c	the pane watcher: the tmux tick, captures, "type
 *			when ready", typed-line confirmation, usage limits
 *   session-window.c	the window lifecycle: start, stop, recover,
 *			handoff, reply
 *   session-run.c	the plan runner behind --auto and POST /api/run
 *
 * Lock order: the poller's lock, then sessions.lock (the overview reads
 * the sessions inside poller_with_view()); nothing is locked while
 * sessions.lock is held: the poller's view and facts are read before it
 * is taken, events, audit rows and the database written after it is let
 * go.
 */
#ifndef TASKGATE_SESSION_H
#define TASKGATE_SESSION_H

#include <limits.h>
#include <pthread.h>

#include "taskgate.h"

#define SESSION_SECRET_ENV	"TASKGATE_HOOK_SECRET"

enum session_typed { TYPED_NONE, TYPED_WAITING, TYPED_DELIVERED,
	TYPED_UNDELIVERED };

enum session_phase { PHASE_NONE, PHASE_STARTING, PHASE_RUNNING };

struct session {
	struct session_row	 row;		/* persisted */
	enum session_phase	 phase;
	bool			 live;		/* window there, agent alive */
	bool			 dead;		/* window there, agent exited */
	int			 dead_status;	/* -1: not known */
	double			 dead_seen;	/* first seen dead, status unknown */
	double			 started_mono;
	double			 changed_mono;	/* the pane last moved */
	char			 sig[64];	/* activity/history/cursor */
	char			*text;		/* last capture, plain */
	struct agent_fact	 pane;		/* what the pane shows, since */
	struct agent_fact	 process;	/* dead, or unknown */
	struct agent_row	 agent;		/* its hooks' word (persisted) */
	struct agent_fact	 context_full;	/* its status line's, if full */
	bool			 agent_dirty;	/* to be written down */
	enum session_typed	 typed;		/* the last line taskgate typed */
	char			 typed_text[1024];
	double			 typed_at;	/* wall */
	char			 typed_evidence[600];	/* pane's last lines */
	double			 hook_tokens;	/* flood control */
	double			 hook_refill;	/* mono */
	long			 told_wait;	/* --auto told it waits for this
						   attempt (event, audit row) */
	bool			 told_spent;	/* and that it needs a human */
	bool			 busy;		/* a job for it is queued */
	bool			 question;	/* asked, not yet still long enough */
	int			 nudges;	/* Stop hooks answered "go on" in a
						   row */
	int			 handoffs;	/* since the last progress */
	int64_t			 progress_ms;	/* the last progress seen (a
						   fact's last_change_ms) */
	bool			 nudge_pending;	/* to tell (event, audit row) */
	char			 nudge_reason[512];
	json_t			*permission;	/* what its PermissionRequest
						   asks: {tool, input}, or NULL */
	char			 resume_actor[64];	/* who said "resume
						   now" (agent.resume_ms 1) */
};

struct sessions {
	struct taskgate		*tg;
	unsigned int		(*status_of)(enum session_result);
						/* its HTTP status, for the
						   audit (api-sessions.c) */
	char			**agent;	/* argv of --agent-command */
	bool			 hooks;		/* give windows Claude Code hooks */
	char			*self_quoted;	/* this program, quoted for sh */
	char			 hooks_dir[PATH_MAX];	/* their settings files */
	const char *const	*phrases;
	char			 owner[64];	/* the token's owner */
	pthread_t		 thread;
	bool			 started;

	pthread_mutex_t		 lock;		/* guards what follows */
	pthread_cond_t		 cond;
	struct session		**s;		/* each allocated alone, so a
						   pointer outlives a realloc */
	size_t			 n;
	struct session_job	*jobs, **jobs_tail;
	bool			 stop;
	bool			 agents_dirty;	/* an agent row to write */
	bool			 view_new;	/* the poller published */
	bool			 wake;		/* tick now (a resume now) */
	bool			 have_tmux_session;
	int64_t			 last_resume_ms;	/* the latest resume given out */
	char			 tmux_error[256];
};

/* session.c */
void	 session_agent_locked(const struct session *, struct agent_fact *);
void	 session_forget_agent(struct session *);
struct session *session_find(struct sessions *, const char *);
struct session *session_get(struct sessions *, const char *);
void	 session_watch_progress(struct sessions *);
double	 session_spent_of(const struct session *);
void	 session_spend_locked(struct sessions *, const struct session *,
	    struct agent_spend *);
bool	 session_spend_over_locked(struct sessions *, const struct session *,
	    char *, size_t);
const char *session_refusal_locked(struct sessions *, const struct session *,
	    const struct poller_fact *, bool, bool, char *, size_t, int64_t *);
json_t	*session_streams(struct sessions *, struct poller_fact **, size_t *);
void	 session_event(struct sessions *, const char *, const char *,
	    const char *, json_t *);
void	 session_save(struct sessions *, struct session *);
void	 session_answer(struct session_job *, enum session_result, json_t *);
void	 session_refuse(struct session_job *, enum session_result,
	    const char *, const char *, ...)
	    __attribute__((format(printf, 4, 5)));
void	 session_audit(struct sessions *, struct session_job *);

/* session-hooks.c */
void	 session_hooks_setup(struct sessions *);
int	 session_hooks_write_settings(struct sessions *, const char *,
	    const char *, char *, size_t);
void	 session_hooks_save(struct sessions *);

/* session-pane.c */
void	 session_pane_refresh(struct sessions *, double);
void	 session_pane_type_when_ready(struct sessions *, double);
void	 session_pane_expect_prompt(struct sessions *, const char *,
	    const char *);
void	 session_pane_check_typed(struct sessions *);
void	 session_pane_tend_limits(struct sessions *);

/* session-window.c */
int	 session_window_workdir(struct sessions *, struct session_job *,
	    json_t *, char *);
void	 session_window_launch(struct sessions *, struct session_job *,
	    const char *, const char *, long);
void	 session_window_start(struct sessions *, struct session_job *,
	    json_t *);
void	 session_window_stop(struct sessions *, struct session_job *);
void	 session_window_reply(struct sessions *, struct session_job *);
void	 session_window_recover(struct sessions *, struct session_job *,
	    json_t *, const struct poller_fact *);
void	 session_window_handoff(struct sessions *, struct session_job *,
	    json_t *);
void	 session_window_tend_handoffs(struct sessions *);
void	 session_window_tend_spend(struct sessions *);

/* session-run.c */
void	 session_run_plan(struct sessions *, struct session_job *, json_t *,
	    const struct poller_fact *, size_t);
void	 session_run_auto(struct sessions *);

#endif /* TASKGATE_SESSION_H */
