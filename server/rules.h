/*
 * rules.h: the pure rules of taskgate, which never touch I/O: what the
 * counts of a stream mean (model.c), what state an agent is in (agent.c),
 * what state a stream is in (stall.c), when a recovery may come
 * (recovery.c), what the plan allows (plan.c, on the orchestration
 * config's streams), and a bounded queue (fifo.c); with buf, clock and
 * validate from util.h.  Their files include this header only, and are
 * compiled without libmicrohttpd, libcurl, SQLite or pthread (the
 * library libtaskgate-rules.a); `make check-walls` holds them to it.
 */
#ifndef TASKGATE_RULES_H
#define TASKGATE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

/* The orchestration config, as orchconf.c reads it (the plan's input). */
struct orch_stream {
	char		*id;
	char		*name;
	char		*phase;
	char		**deps;
	size_t		 n_deps;
	char		*project_root;
	char		*worktree_path;		/* NULL when the config says null */
	double		 max_cost_usd;		/* its spending limit; 0: none */
};

struct orchconf {
	char			*api_endpoint;		/* NULL when absent */
	double			 poll_interval;		/* seconds, 0 when absent */
	long			 max_parallel;		/* default 5 */
	double			 stall_timeout_min;	/* default 10 */
	bool			 auto_recovery;		/* default true */
	long			 max_recovery;		/* default 3 */
	struct orch_stream	*streams;
	size_t			 n_streams;
	char			**phrases;	/* exhaustion phrases, NULL-
						   terminated; NULL: defaults */
	size_t			 n_phrases;
	double			 context_share;	/* percent; default 95 */
	int			 max_nudges;	/* Stop hooks answered "go on"
						   in a row; default 2 */
	double			 limit_wait_min;	/* a usage limit with no
						   reset time: resume after this;
						   default 30 */
	double			 limit_spread_s;	/* streams resumed this far
						   apart; default 60 */
	bool			 handoff_on_compact;	/* an automatic
						   compaction hands off too */
	double			 max_cost_usd;	/* all streams together, US
						   dollars; 0: no limit */
};

/* plan.c (its phases: util.h) */
enum plan_gate {
	PLAN_GATE_OPEN,		/* it may start */
	PLAN_GATE_WAIT,		/* only dependencies or phase order stop it */
	PLAN_GATE_CLOSED	/* complete, running, the limit or the budget */
};

/* One stream as the gates see it; the pointers are borrowed. */
struct plan_stream {
	const char	*id;
	const char	*phase;		/* streamPhase, or NULL */
	const char *const *deps;	/* the stream ids it depends on */
	size_t		 n_deps;
	long		 progress;	/* percent, 0 to 100 */
	bool		 complete;	/* it has tasks, all completed */
	bool		 blocked;	/* one of its tasks is blocked */
	bool		 live;		/* its session window is live */
	bool		 budget_spent;	/* no recovery attempts left */
	bool		 cost_spent;	/* past its spending limit */
	const char	*worked_by;	/* the agent Task Copilot reports
					   active on it (a heartbeat under
					   5 min old), or NULL */
};

int	plan_check(const struct orchconf *, char ***, size_t *);
void	plan_problems_free(char **, size_t);
enum plan_gate plan_may_start(const struct plan_stream *, size_t, size_t,
		    long, long, bool, json_t *);
json_t	*plan_next_actions(const struct plan_stream *, size_t, long, long);
size_t	plan_streams_from_json(json_t *, struct plan_stream **);
void	plan_streams_free(struct plan_stream *, size_t);

/* fifo.c */
struct fifo_link {
	struct fifo_link	*next;
};
struct fifo {
	struct fifo_link	*head, **tail;
	size_t			 n, max;
};
void	fifo_init(struct fifo *, size_t);
struct fifo_link *fifo_push(struct fifo *, struct fifo_link *);
struct fifo_link *fifo_pop(struct fifo *);

/* model.c */
enum model_status {
	MODEL_PENDING, MODEL_IN_PROGRESS, MODEL_BLOCKED, MODEL_COMPLETED
};

struct model_counts {
	long	total;
	long	completed;
	long	in_progress;
	long	blocked;
	long	pending;
	long	cancelled;	/* Task Copilot 3 only; done, not completed */
};

enum model_status model_status_of(const struct model_counts *);
bool	model_complete(const struct model_counts *);
const char *model_status_name(enum model_status);
long	model_progress(const struct model_counts *);
int	model_count_tasks(json_t *, struct model_counts *);
int	model_augment_list(json_t *, char *, size_t);
int	model_augment_detail(json_t *, char *, size_t);
json_t	*model_find_stream(json_t *, const char *);
void	model_add_blocked_reasons(json_t *, json_t *);

/* agent.c */
enum agent_state {
	AGENT_UNKNOWN,		/* nothing says yet */
	AGENT_WORKING,
	AGENT_IDLE,		/* its turn ended */
	AGENT_WAITING_INPUT,	/* a permission prompt or a question */
	AGENT_USAGE_LIMITED,	/* a rate or usage limit */
	AGENT_API_ERROR,	/* overloaded, unreachable, server errors */
	AGENT_NEEDS_LOGIN,	/* authentication or billing */
	AGENT_CONTEXT_EXHAUSTED,
	AGENT_DEAD,		/* the process exited */
	AGENT_BUDGET_SPENT	/* stopped past its spending limit */
};

/* One witness's word on an agent, and since when (wall seconds). */
struct agent_fact {
	enum agent_state	 state;
	double			 at;
	char			 reason[200];	/* evidence, in words */
};

extern const char *const agent_default_phrases[];
#define AGENT_PHRASE_LINES 100	/* a pane's lines searched for phrases */
const char *agent_state_name(enum agent_state);
const char *agent_pane_tail(const char *, int);
void	agent_pane_tail_copy(const char *, int, char *, size_t);
enum agent_state agent_state_from_name(const char *);
const char *const *agent_hook_events(void);
bool	agent_hook_known(const char *);
int	agent_from_hook(json_t *, double, struct agent_fact *);
enum agent_state agent_from_pane(const char *, const char *const *, char *,
		    size_t);
void	agent_combine(const struct agent_fact *, const struct agent_fact *,
		    const struct agent_fact *, struct agent_fact *);
bool	agent_state_protected(enum agent_state);
bool	agent_nudge(const char *, const struct model_counts *, int, int, char *,
		    size_t);

/* What a stream has spent and what all streams have (the status lines'
 * cost.total_cost_usd), with their limits (maxCostUsd; 0: none), in US
 * dollars. */
struct agent_spend {
	double	stream_usd;
	double	stream_max;
	double	total_usd;
	double	total_max;
};
bool	agent_spend_over(const struct agent_spend *, char *, size_t);

/* stall.c */
enum stall_state {
	STALL_OK,
	STALL_UPSTREAM_UNHEALTHY,
	STALL_NO_PROGRESS,
	STALL_WAITING_INPUT,
	STALL_CONTEXT_EXHAUSTED,
	STALL_DEAD,
	STALL_NEEDS_HUMAN,
	STALL_IDLE,
	STALL_USAGE_LIMITED,
	STALL_API_ERROR,
	STALL_NEEDS_LOGIN,
	STALL_BUDGET_SPENT
};

struct stall_track {
	double	unchanged_s;	/* seen unchanged while the upstream was up */
	double	last_obs;	/* time of the last reachable observation, 0 */
};

struct stall_input {
	struct model_counts	 counts;
	double			 unchanged_s;
	double			 timeout_s;	/* stallTimeoutMinutes * 60 */
	bool			 upstream_unhealthy;
	json_t			*upstream_warnings;	/* borrowed, or NULL */
	bool			 session_live;
	struct agent_fact	 agent;		/* from the session layer */
	bool			 budget_spent;	/* recoveries since progress */
	long			 attempts;	/* and how many */
	struct agent_spend	 spend;		/* its cost and the limits */
};

/* What a state was judged on: a change to a milder one needs it to move. */
struct stall_basis {
	bool			 set;
	struct model_counts	 counts;
	bool			 working;	/* in progress, or a live window */
	enum agent_state	 agent;
	bool			 unhealthy;	/* the upstream's verdict */
	bool			 spent;
	bool			 over_limit;	/* past a spending limit */
};

const char *stall_state_name(enum stall_state);
void	stall_basis_of(const struct stall_input *, struct stall_basis *);
bool	stall_keeps(enum stall_state, enum stall_state,
	    const struct stall_basis *, const struct stall_basis *);
int	stall_state_from_name(const char *);
enum stall_state stall_state_of_agent(enum agent_state);
bool	stall_state_recoverable(enum stall_state);
const char *stall_state_protected(enum stall_state);
void	stall_observe(struct stall_track *, double, bool, bool);
enum stall_state stall_judge(const struct stall_input *, json_t **);

/* recovery.c */
struct recovery_track {
	long	attempts;	/* recoveries since the last progress */
	int64_t	next_ms;	/* wall ms before which no recovery starts */
};

enum recovery_verdict { RECOVERY_NOW, RECOVERY_LATER, RECOVERY_SPENT };

enum recovery_verdict recovery_decide(const struct recovery_track *, long,
		    int64_t, int64_t *);
void	recovery_record(struct recovery_track *, int64_t, double, double);
void	recovery_reset(struct recovery_track *);

/* What the refusal rule of a recovery looks at (recovery_refusal()). */
struct recovery_ask {
	const char		*id;
	bool			 session;	/* a window of ours, or one
						   its agent died in */
	bool			 window;	/* a window now */
	int64_t			 started_ms;	/* it was (re)started */
	bool			 judged;	/* a poll judged the stream: */
	enum stall_state	 state;		/* its state, as judged */
	int64_t			 judged_ms;	/* by the poll of then */
	struct agent_fact	 agent;		/* the agent's own word now */
	struct recovery_track	 rec;
	long			 max;		/* maxRecoveryAttempts */
	int64_t			 now_ms;
	bool			 force;		/* a person overrides */
	bool			 hint;		/* say how to force */
};

const char *recovery_refusal(const struct recovery_ask *, char *, size_t,
		    int64_t *);

#endif /* TASKGATE_RULES_H */
