/*
 * session-thread.c: the session layer's thread, the one that makes every
 * tmux call.  Actions (start, stop, recover, reply, handoff, run) arrive
 * as jobs (session_submit() in session.c queues them) and run one at a
 * time in the order they came, each answered with a result and audited.
 * Each tick the thread reads the poller's facts for progress, watches
 * the panes and types what waits (session-pane.c), stops streams past
 * their spending limit, resumes parked ones and hands off full contexts
 * (session-window.c, session-pane.c), writes down what the hooks said
 * (session-hooks.c) and, with --auto, runs the plan (session-run.c).
 * Nothing else calls into these files; they call into session.c, never
 * the other way round.
 */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "session.h"

#define SESSION_TICK_FAST	0.25	/* seconds, while a window starts */
#define SESSION_TICK_IDLE	10.0	/* seconds, while tmux has no session */

static void	*session_thread_main(void *);

/*
 * Starts the thread, having decided whether agents get hooks (before any
 * request or poll could ask).  -1 when it cannot start.
 */
int
session_thread_start(struct sessions *ss)
{
	session_hooks_setup(ss);
	if (pthread_create(&ss->thread, NULL, session_thread_main, ss) != 0)
		return -1;
	ss->started = true;
	return 0;
}

/* Fails the jobs not yet run, stops the thread. */
void
session_thread_stop(struct sessions *ss)
{
	struct session_job	*j, *next;

	pthread_mutex_lock(&ss->lock);
	ss->stop = true;
	j = ss->jobs;
	ss->jobs = NULL;
	ss->jobs_tail = &ss->jobs;
	pthread_cond_broadcast(&ss->cond);
	pthread_mutex_unlock(&ss->lock);
	for (; j != NULL; j = next) {
		next = j->next;
		j->result = SESSION_UNAVAILABLE;
		j->answer = json_pack("{s:s,s:s}", "error", "taskgate is "
		    "stopping", "code", "unavailable");
		j->done(j);
	}
	if (ss->started)
		pthread_join(ss->thread, NULL);
	ss->started = false;
}

static void
session_thread_run_job(struct sessions *ss, struct session_job *j)
{
	struct poller_fact	*facts;
	size_t			 n_facts;
	json_t			*streams = session_streams(ss, &facts, &n_facts);

	if (streams == NULL)
		session_refuse(j, SESSION_UNAVAILABLE, "not-ready", "taskgate "
		    "has not read the stream list from Task Copilot yet");
	else if (j->kind == JOB_START)
		session_window_start(ss, j, streams);
	else if (j->kind == JOB_STOP)
		session_window_stop(ss, j);
	else if (j->kind == JOB_RECOVER)
		session_window_recover(ss, j, streams, poller_fact_find(facts,
		    n_facts, j->id));
	else if (j->kind == JOB_REPLY)
		session_window_reply(ss, j);
	else if (j->kind == JOB_HANDOFF)
		session_window_handoff(ss, j, streams);
	else
		session_run_plan(ss, j, streams, facts, n_facts);
	json_decref(streams);
	free(facts);
	session_audit(ss, j);
}

static void *
session_thread_main(void *arg)
{
	struct sessions		*ss = arg;
	struct session_job	*jobs, *j, *next;
	struct timespec		 ts;
	double			 tick, now, last_auto = 0;
	size_t			 i;
	bool			 fast, timed_out, hooks_only = false;

	for (;;) {
		now = clock_mono();
		session_watch_progress(ss);
		if (!hooks_only) {
			session_pane_refresh(ss, now);
			session_pane_type_when_ready(ss, now);
		}
		session_pane_check_typed(ss);
		if (!hooks_only) {
			session_window_tend_spend(ss);
			session_pane_tend_limits(ss);
			session_window_tend_handoffs(ss);
		}
		session_hooks_save(ss);
		if (hooks_only) {
			hooks_only = false;
			pthread_mutex_lock(&ss->lock);
			goto wait;
		}

		pthread_mutex_lock(&ss->lock);
		jobs = ss->jobs;
		ss->jobs = NULL;
		ss->jobs_tail = &ss->jobs;
		pthread_mutex_unlock(&ss->lock);
		for (j = jobs; j != NULL; j = next) {
			struct session *s;

			next = j->next;
			session_thread_run_job(ss, j);
			pthread_mutex_lock(&ss->lock);
			if (j->id[0] != '\0' &&
			    (s = session_find(ss, j->id)) != NULL)
				s->busy = false;
			pthread_mutex_unlock(&ss->lock);
			j->done(j);
		}
		if (ss->tg->opts->auto_run && (jobs != NULL ||
		    now - last_auto >= ss->tg->opts->poll)) {
			session_run_auto(ss);
			last_auto = now;
		}

		pthread_mutex_lock(&ss->lock);
		fast = false;
		for (i = 0; i < ss->n; i++)
			if (ss->s[i]->phase == PHASE_STARTING ||
			    ss->s[i]->typed == TYPED_WAITING ||
			    ss->s[i]->question)
				fast = true;
		/* One tmux call per poll while windows exist or --auto may
		 * start some; rarely otherwise (it only looks for windows to
		 * adopt). */
		tick = fast ? SESSION_TICK_FAST : ss->tg->opts->poll;
		if (!fast && !ss->have_tmux_session &&
		    !ss->tg->opts->auto_run && tick < SESSION_TICK_IDLE)
			tick = SESSION_TICK_IDLE;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)(tick * 1e9);
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		/* A wake for hooks keeps this deadline: the windows are still
		 * listed once a tick, however many hooks come. */
wait:
		timed_out = false;
		while (!ss->stop && ss->jobs == NULL && !ss->agents_dirty &&
		    !ss->wake && !ss->view_new && !timed_out)
			timed_out = pthread_cond_timedwait(&ss->cond, &ss->lock,
			    &ts) != 0;
		/* Woken only to write down what hooks said, or to read a
		 * poll's progress: no tmux call. */
		hooks_only = !timed_out && ss->jobs == NULL &&
		    (ss->agents_dirty || ss->view_new) && !ss->wake;
		ss->wake = ss->view_new = false;
		if (ss->stop) {
			pthread_mutex_unlock(&ss->lock);
			break;
		}
		pthread_mutex_unlock(&ss->lock);
	}
	return NULL;
}
