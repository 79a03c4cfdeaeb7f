/*
 * main.c: the verbs, and the order in which the daemon starts and stops.
 * Startup reads like a checklist: options, config, upstream URL, token,
 * database, listen socket, threads, the start line.  Any failure before
 * the start line is one clear line on stderr and exit status 2.
 */
#include <sys/resource.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "taskgate.h"
#include "client.h"

static const char *const main_client_verbs[] = {
	"status", "watch", "start", "stop", "recover", "run", "reply", NULL
};

static int	main_serve(struct options *);
static void	main_start_line(const struct options *, int, const char *);

int
main(int argc, char **argv)
{
	struct options		 opts;
	const char		*verb = "serve";
	char			 err[512];
	int			 shift = 0, i;

	/* jansson allocates with the project's allocators: out of memory
	 * aborts with a message instead of coming back as a NULL json_t. */
	json_set_alloc_funcs(xmalloc, free);
	if (argc > 1 && argv[1][0] != '-') {
		verb = argv[1];
		shift = 1;
	}
	if (strcmp(verb, "help") == 0) {
		options_usage(stdout);
		return 0;
	}
	if (strcmp(verb, "check-config") == 0)
		return cmd_config_check(argc - shift, argv + shift);
	if (strcmp(verb, "generate-config") == 0)
		return cmd_config_generate(argc - shift, argv + shift);
	if (strcmp(verb, "statusline") == 0)
		return cmd_statusline(argc - shift, argv + shift);
	if (strcmp(verb, "user") == 0)
		return cmd_user(argc - shift, argv + shift);
	if (strcmp(verb, "serve") != 0) {
		for (i = 0; main_client_verbs[i] != NULL; i++) {
			if (strcmp(verb, main_client_verbs[i]) == 0)
				return client_main(argc - shift, argv + shift);
		}
		log_warnx("unknown command '%s' (see taskgate --help)", verb);
		return 2;
	}
	switch (options_parse(&opts, argc - shift, argv + shift, err,
	    sizeof err)) {
	case OPTIONS_EXIT_OK:
		options_clear(&opts);
		return 0;
	case OPTIONS_ERROR:
		log_warnx("%s", err);
		options_clear(&opts);
		return 2;
	case OPTIONS_OK:
		break;
	}
	i = main_serve(&opts);
	options_clear(&opts);
	return i;
}

/* Prints the one line a person can click; the token is meant to be there. */
/*
 * tasks.db changed (tcdb-watch.c's thread): what the cache holds of it is
 * due, and the poller reads it now, so the change is on /api/events
 * without waiting for the poll interval.
 */
static void
main_tasks_db_changed(void *arg)
{
	struct taskgate	*tg = arg;

	cache_expire_all(tg->cache);
	poller_poke(tg->poller);
}

static void
main_start_line(const struct options *o, int port, const char *token)
{
	char	host[INET6_ADDRSTRLEN + 2] = "127.0.0.1";

	if (o->addr.family == AF_UNIX) {
		log_out("taskgate: listening on %s (token in %s)", o->listen,
		    o->token_file);
		return;
	}
	if (o->addr.family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)&o->addr.ss;
		char a[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
		if (!IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			snprintf(host, sizeof host, "[%s]", a);
	} else {
		const struct sockaddr_in *s4 = (const void *)&o->addr.ss;

		if (s4->sin_addr.s_addr != htonl(INADDR_ANY))
			inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
	}
	log_out("taskgate: dashboard at http://%s:%d/?token=%s", host, port,
	    token);
}

/*
 * Each client is a descriptor: raise the soft limit to the hard one (the
 * usual 1024 would stop the event stream near a thousand dashboards).
 */
/*
 * SIGHUP: the spending limits (maxCostUsd) are read again from the
 * config file, so that a person can raise one and start the stream that
 * was stopped at it without a restart.  Nothing else of the config
 * changes; a config that does not read leaves them as they were.
 */
static void
main_reload_limits(struct taskgate *tg)
{
	struct orchconf	fresh;
	char		err[512];

	if (access(tg->opts->config_path, F_OK) != 0) {
		log_warnx("SIGHUP: no config at %s; the spending limits stay",
		    tg->opts->config_path);
		return;
	}
	if (orchconf_load(tg->opts->config_path, &fresh, err,
	    sizeof err) == -1) {
		log_warnx("SIGHUP: %s; the spending limits stay", err);
		return;
	}
	session_set_limits(tg->sessions, &fresh);
	log_info("SIGHUP: spending limits read again from %s (all streams: "
	    "%s)", tg->opts->config_path, fresh.max_cost_usd > 0 ? "set" :
	    "none");
	orchconf_clear(&fresh);
}

static void
main_raise_fd_limit(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		log_warn("cannot raise the open-files limit");
}

static int
main_serve(struct options *o)
{
	struct taskgate	 tg;
	sigset_t	 sigs;
	char		 err[512];
	int		 fd, unix_fd = -1, sig, note_port = 0;

	memset(&tg, 0, sizeof tg);
	tg.opts = o;
	log_init(o->verbose);

	/* The orchestration config: required if named, optional if not. */
	if (o->config_given || access(o->config_path, F_OK) == 0) {
		if (orchconf_load(o->config_path, &tg.conf, err,
		    sizeof err) == -1)
			fatalx("%s", err);
	} else
		orchconf_defaults(&tg.conf);
	if (o->upstream == NULL)
		o->upstream = xstrdup(tg.conf.api_endpoint != NULL ?
		    tg.conf.api_endpoint : "http://127.0.0.1:9090");
	if (!o->poll_given && tg.conf.poll_interval > 0)
		o->poll = tg.conf.poll_interval;
	if (upstream_check_url(o->upstream, err, sizeof err) != 0)
		fatalx("%s", err);
	if (o->webhook != NULL &&
	    (tg.webhook = webhook_new(o->webhook, err, sizeof err)) == NULL)
		fatalx("%s", err);

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatalx("cannot initialise libcurl");
	if ((tg.auth = auth_new(o->token_file, o->allowed_hosts,
	    o->n_allowed_hosts, err, sizeof err)) == NULL)
		fatalx("%s", err);
	if ((tg.db = db_open(o->db_path, err, sizeof err)) == NULL)
		fatalx("%s", err);
	if ((fd = http_listen_socket(&o->addr, o->socket_group, err,
	    sizeof err)) == -1)
		fatalx("%s", err);
	if (o->socket_path != NULL && (unix_fd = http_listen_socket(
	    &o->socket_addr, o->socket_group, err, sizeof err)) == -1)
		fatalx("%s", err);
	tg.web_root = o->web_root != NULL ? xstrdup(o->web_root) :
	    assets_default_root();
	if (http_local_base(fd, tg.hook_base, sizeof tg.hook_base) == -1)
		tg.hook_base[0] = '\0';

	main_raise_fd_limit();

	/* Threads started from here on inherit these blocked signals. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	tg.upstream = upstream_new(o->upstream, o->upstream_timeout);
	tg.upstream_url = upstream_url(tg.upstream);
	if (upstream_start(tg.upstream) == -1)
		fatalx("cannot start the upstream thread");
	tg.cache = cache_new(tg.upstream, o->poll);
	tg.metrics = metrics_new();
	tg.audit = audit_new(tg.db);
	if ((tg.events = events_new(tg.db, err, sizeof err)) == NULL)
		fatalx("%s", err);
	tg.poller = poller_new(&tg);
	tg.idempotency = idempotency_new();
	/* The audit rows of the session thread carry the status the API
	 * gives each result. */
	if ((tg.sessions = session_new(&tg, api_sessions_status, err,
	    sizeof err)) == NULL)
		fatalx("%s", err);
	/* The sessions read their progress from each round's facts. */
	poller_set_sessions(tg.poller, session_view_published,
	    session_stall_input, tg.sessions);
	events_set_snapshot(tg.events, api_streams_snapshot, &tg);
	events_set_webhook(tg.events, tg.webhook);
	if (tg.webhook != NULL && webhook_start(tg.webhook) == -1)
		fatalx("cannot start the webhook thread");
	if (strncmp(tg.upstream_url, "sqlite:", 7) == 0)
		tg.tcwatch = tcdb_watch_start(tg.upstream_url + 7,
		    main_tasks_db_changed, &tg);
	/* The sessions first: the poller's first round reads them. */
	if (events_start(tg.events) == -1 ||
	    session_thread_start(tg.sessions) == -1 ||
	    poller_start(tg.poller) == -1)
		fatalx("cannot start the event, poller and session threads");
	if ((tg.http = http_start(&tg, fd, err, sizeof err)) == NULL)
		fatalx("%s", err);
	if (unix_fd != -1 && (tg.http_unix = http_start(&tg, unix_fd, err,
	    sizeof err)) == NULL)
		fatalx("%s", err);

	log_info("upstream %s, polled at most every %g s, history in %s",
	    tg.upstream_url, o->poll, o->db_path);
	main_start_line(o, http_bound_port(fd), auth_token(tg.auth));
	if (o->socket_path != NULL)
		log_info("also listening on unix:%s, where the caller's Unix "
		    "user names them", o->socket_path);
	/* Where a client that has only the port finds the socket; without
	 * one, a note an earlier run of ours left would send clients to a
	 * dead socket. */
	if (o->socket_path != NULL && o->addr.family != AF_UNIX) {
		note_port = http_bound_port(fd);
		socket_note_write(note_port, o->socket_path);
	} else if (o->addr.family != AF_UNIX)
		socket_note_remove(http_bound_port(fd));

	do {
		if (sigwait(&sigs, &sig) != 0)
			break;
		if (sig == SIGHUP)
			main_reload_limits(&tg);
	} while (sig == SIGHUP);
	log_info("stopping (signal %d)", sig);
	if (note_port > 0)
		socket_note_remove(note_port);

	tcdb_watch_stop(tg.tcwatch);
	poller_stop(tg.poller);
	session_thread_stop(tg.sessions);
	cache_abort_waiters(tg.cache);
	poller_join(tg.poller);
	events_stop(tg.events);
	http_stop(tg.http);
	http_stop(tg.http_unix);
	webhook_stop(tg.webhook);
	upstream_stop(tg.upstream);
	poller_free(tg.poller);
	session_free(tg.sessions);
	idempotency_free(tg.idempotency);
	events_free(tg.events);
	webhook_free(tg.webhook);
	metrics_free(tg.metrics);
	cache_free(tg.cache);
	upstream_free(tg.upstream);
	audit_free(tg.audit);
	db_close(tg.db);
	auth_free(tg.auth);
	orchconf_clear(&tg.conf);
	free(tg.web_root);
	if (o->addr.family == AF_UNIX)
		unlink(((struct sockaddr_un *)&o->addr.ss)->sun_path);
	if (o->socket_path != NULL)
		unlink(o->socket_path);
	curl_global_cleanup();
	return 0;
}
