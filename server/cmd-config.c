/*
 * cmd-config.c: the two offline verbs, which need no daemon and bind no
 * socket.
 *
 * `taskgate check-config [--config PATH]` reads an orchestration config
 * with orchconf_load_all(): a field of the wrong type is a structural
 * problem, and every one is printed (exit 2).  Otherwise it prints what
 * plan_check() finds (plan.c lists those messages), plus, first, these of
 * its own:
 *
 *	apiEndpoint 'URL' is not an http or https URL such as
 *	    http://127.0.0.1:9090
 *	apiEndpoint 'URL' ends in /api or has a query: give Task Copilot's
 *	    address alone, such as http://127.0.0.1:9090 (taskgate asks
 *	    /api/streams there)
 *
 * each problem as "taskgate: PATH: PROBLEM" on stderr, exit 1.  A sound
 * plan prints "taskgate: PATH: ok (N streams)" on stdout, exit 0.
 *
 * `taskgate generate-config [--upstream URL] [--output PATH]
 * [--project-root DIR] [--force]` asks the upstream for GET /api/streams
 * (one synchronous request: 10 s, 8 MiB, http and https only, no
 * redirects; or, for sqlite:PATH, one read of the tasks.db, whose
 * project, the directory holding its .copilot/, is then the default
 * --project-root) and writes the file Task Copilot's `/orchestration generate`
 * writes, pretty-printed (indent 2) with a trailing newline:
 *
 *	version			"1.0"
 *	generatedAt		now, as 2026-11-26T10:33:14.000Z
 *	initiative		null: the stream list does not say which
 *	apiEndpoint		the upstream URL
 *	streams[]		streamId, streamName, streamPhase, totalTasks,
 *				completedTasks, dependencies, projectRoot (the
 *				absolute --project-root), worktreePath (the
 *				upstream's as it is, "#(...)" included: tmux.c
 *				makes tmux take it literally; else null), in
 *				the upstream's order
 *	executionPlan		{"foundation":[ids],"parallel":[ids],
 *				"integration":[ids]}: every key present, ids in
 *				stream order; a stream of another phase is in
 *				none (and check-config refuses the plan)
 *	pollInterval		5
 *	maxParallelStreams	5
 *	contextRecovery		{stallTimeoutMinutes: 10,
 *				autoRecoveryEnabled: true,
 *				maxRecoveryAttempts: 3}
 *
 * It checks what it made as check-config would and writes nothing when
 * the upstream's streams are not a sound plan (exit 1, one line per
 * problem, prefixed with the list's URL) or do not fit the config's types
 * (exit 2).  The file is written to a
 * temporary file beside it, then linked into place (never replacing one
 * that appeared meanwhile) or, with --force, renamed over the old one.
 *
 * Flags have TASKGATE_* twins, read first, as in options.c.  Exit status:
 * 0 done, 1 the plan has problems, 2 a bad flag, a file that cannot be
 * read, parsed or written, or an upstream that does not answer well; each
 * of those is one line on stderr.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config.h"
#include "taskgate.h"

#define CMD_CONFIG_DEFAULT_PATH	".claude/orchestration/orchestration-config.json"
#define CMD_CONFIG_DEFAULT_URL	"http://127.0.0.1:9090"
#define CMD_CONFIG_TIMEOUT_MS	10000L

enum cmd_config_opt {
	CC_CONFIG = 256, CC_UPSTREAM, CC_OUTPUT, CC_PROJECT_ROOT, CC_FORCE,
	CC_HELP
};

struct cmd_config_verb {
	const char			*name;
	const char			*synopsis;
	const char			*about;
	const struct verb_flag		*rows;
	size_t				 n_rows;
};

/* What the flags and their twins say; strings owned. */
struct cmd_config_args {
	char	*config;
	char	*upstream;
	char	*output;
	char	*project_root;
	bool	 force;
};

static const struct verb_flag cmd_config_check_rows[] = {
	{ "config", required_argument, CC_CONFIG, "TASKGATE_CONFIG", "PATH",
	  "the config to check (default " CMD_CONFIG_DEFAULT_PATH ")" },
	{ "help", no_argument, CC_HELP, NULL, NULL, "show this help" },
};

static const struct verb_flag cmd_config_generate_rows[] = {
	{ "upstream", required_argument, CC_UPSTREAM, "TASKGATE_UPSTREAM",
	  "URL", "Task Copilot's URL (default " CMD_CONFIG_DEFAULT_URL ")" },
	{ "output", required_argument, CC_OUTPUT, "TASKGATE_OUTPUT", "PATH",
	  "the file to write (default " CMD_CONFIG_DEFAULT_PATH ")" },
	{ "project-root", required_argument, CC_PROJECT_ROOT,
	  "TASKGATE_PROJECT_ROOT", "DIR", "every stream's projectRoot "
	  "(default: the current directory)" },
	{ "force", no_argument, CC_FORCE, "TASKGATE_FORCE", NULL,
	  "replace the file if it exists" },
	{ "help", no_argument, CC_HELP, NULL, NULL, "show this help" },
};

static const struct cmd_config_verb cmd_config_check_verb = {
	"check-config", "[--config PATH]",
	"Checks an orchestration config: field types, phases, dependencies "
	"(unknown\nstreams, cycles, phase order), worktree paths and the "
	"parallel limit.\nExit status: 0 sound, 1 problems found, 2 the file "
	"cannot be read or parsed.\n",
	cmd_config_check_rows,
	sizeof cmd_config_check_rows / sizeof cmd_config_check_rows[0]
};

static const struct cmd_config_verb cmd_config_generate_verb = {
	"generate-config",
	"[--upstream URL] [--output PATH] [--project-root DIR] [--force]",
	"Writes orchestration-config.json from the upstream's streams, as "
	"Task Copilot's\n`/orchestration generate` does, and checks it as "
	"check-config would.\nExit status: 0 written, 1 the streams are not a "
	"sound plan, 2 any other\nerror.\n",
	cmd_config_generate_rows,
	sizeof cmd_config_generate_rows / sizeof cmd_config_generate_rows[0]
};

static int	cmd_config_parse(const struct cmd_config_verb *,
		    struct cmd_config_args *, int, char **);
static void	cmd_config_args_clear(struct cmd_config_args *);
static json_t	*cmd_config_fetch(const char *, char *, size_t);
static json_t	*cmd_config_document(json_t *, const char *, const char *);
static int	cmd_config_write(const char *, json_t *, bool, char *,
		    size_t);

/* Arguments ------------------------------------------------------------- */

/* The verb's flags as verb.c takes them; returns how many. */
static size_t
cmd_config_flags(const struct cmd_config_verb *v,
    const struct verb_flag **flags)
{
	size_t	i;

	for (i = 0; i < v->n_rows && i < VERB_FLAGS_MAX; i++)
		flags[i] = &v->rows[i];
	return i;
}

static void
cmd_config_usage(const struct cmd_config_verb *v, FILE *f)
{
	const struct verb_flag	*flags[VERB_FLAGS_MAX];

	fprintf(f, "usage: taskgate %s %s\n\n%s\noptions (each also read "
	    "from the environment variable shown):\n", v->name, v->synopsis,
	    v->about);
	verb_usage(flags, cmd_config_flags(v, flags), f);
}

static void
cmd_config_set(char **slot, const char *v)
{
	free(*slot);
	*slot = xstrdup(v);
}

/* Applies one value; from names the flag or variable.  -1 after a line. */
static int
cmd_config_apply(void *args, int id, const char *v, const char *from)
{
	struct cmd_config_args	*a = args;

	switch ((enum cmd_config_opt)id) {
	case CC_CONFIG:
		cmd_config_set(&a->config, v);
		break;
	case CC_UPSTREAM:
		cmd_config_set(&a->upstream, v);
		break;
	case CC_OUTPUT:
		cmd_config_set(&a->output, v);
		break;
	case CC_PROJECT_ROOT:
		cmd_config_set(&a->project_root, v);
		break;
	case CC_FORCE:
		if (v == NULL)
			a->force = true;
		else if (options_parse_bool(v, &a->force) == -1) {
			log_warnx("%s: '%s' is not true or false", from, v);
			return -1;
		}
		break;
	case CC_HELP:
		break;
	}
	return 0;
}

/*
 * Fills a from the environment, then argv (argv[0] is the verb).  Returns
 * 0 to go on, 1 when --help was shown, -1 after printing one line.
 */
static int
cmd_config_parse(const struct cmd_config_verb *v, struct cmd_config_args *a,
    int argc, char **argv)
{
	const struct verb_flag	*flags[VERB_FLAGS_MAX];
	int			 rc;

	memset(a, 0, sizeof *a);
	rc = verb_parse(v->name, flags, cmd_config_flags(v, flags), CC_HELP,
	    cmd_config_apply, a, argc, argv);
	if (rc == 1)
		cmd_config_usage(v, stdout);
	if (rc != 0)
		return rc;
	return verb_no_more(v->name, argc, argv);
}

static void
cmd_config_args_clear(struct cmd_config_args *a)
{
	free(a->config);
	free(a->upstream);
	free(a->output);
	free(a->project_root);
	memset(a, 0, sizeof *a);
}

/* check-config ----------------------------------------------------------- */

/* Whether path is a readable regular file; prints the line if not. */
static int
cmd_config_readable(const char *path)
{
	struct stat	 st;
	FILE		*f;

	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			log_warnx("%s: there is no config there; write one from "
			    "Task Copilot's streams with 'taskgate "
			    "generate-config', or name yours with --config PATH",
			    path);
		else
			log_warnx("%s: cannot read it: %s", path,
			    strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		log_warnx("%s: is a directory, not a config file", path);
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

/* Prints each problem of c on stderr, prefixed; returns how many. */
static size_t
cmd_config_report(const char *prefix, const struct orchconf *c)
{
	char	**problems, err[256];
	size_t	  n, i, total = 0;
	int	  rc;

	rc = c->api_endpoint != NULL ? upstream_check_url(c->api_endpoint,
	    err, sizeof err) : 0;
	if (rc == -1) {
		log_warnx("%s: apiEndpoint '%.128s' is not an http or https "
		    "URL such as %s", prefix, c->api_endpoint,
		    CMD_CONFIG_DEFAULT_URL);
		total++;
	} else if (rc == -2) {
		log_warnx("%s: apiEndpoint '%.128s' ends in /api or has a "
		    "query: give Task Copilot's address alone, such as %s "
		    "(taskgate asks /api/streams there)", prefix, c->api_endpoint,
		    CMD_CONFIG_DEFAULT_URL);
		total++;
	}
	plan_check(c, &problems, &n);
	for (i = 0; i < n; i++)
		log_warnx("%s: %s", prefix, problems[i]);
	plan_problems_free(problems, n);
	return total + n;
}

int
cmd_config_check(int argc, char **argv)
{
	struct cmd_config_args	 a;
	struct orchconf		 c;
	const char		*path;
	char			**problems;
	size_t			 n, i;
	int			 rc;

	if ((rc = cmd_config_parse(&cmd_config_check_verb, &a, argc,
	    argv)) != 0) {
		cmd_config_args_clear(&a);
		return rc == 1 ? 0 : 2;
	}
	path = a.config != NULL ? a.config : CMD_CONFIG_DEFAULT_PATH;
	if (cmd_config_readable(path) == -1) {
		cmd_config_args_clear(&a);
		return 2;
	}
	/* Every structural problem, not only the first. */
	if ((n = orchconf_load_all(path, &c, &problems)) > 0) {
		for (i = 0; i < n; i++)
			log_warnx("%s", problems[i]);
		plan_problems_free(problems, n);
		cmd_config_args_clear(&a);
		return 2;
	}
	if (cmd_config_report(path, &c) > 0)
		rc = 1;
	else
		log_out("taskgate: %s: ok (%zu stream%s)", path, c.n_streams,
		    c.n_streams == 1 ? "" : "s");
	orchconf_clear(&c);
	cmd_config_args_clear(&a);
	return rc;
}

/* generate-config: the upstream ---------------------------------------- */

static size_t
cmd_config_receive(char *p, size_t size, size_t n, void *arg)
{
	if (buf_add(arg, p, size * n) == -1)
		return 0;	/* over 8 MiB: libcurl fails the transfer */
	return size * n;
}

/* The sentence for a failed transfer, sorted as upstream.c sorts them. */
static void
cmd_config_curl_error(CURLcode rc, const char *base, char *err,
    size_t errlen)
{
	if (rc == CURLE_WRITE_ERROR)
		snprintf(err, errlen, "the upstream's reply to GET /api/streams "
		    "is over 8 MiB");
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		snprintf(err, errlen, "the upstream at %s did not answer GET "
		    "/api/streams within %ld s", base,
		    CMD_CONFIG_TIMEOUT_MS / 1000);
	else if (rc == CURLE_WEIRD_SERVER_REPLY ||
	    rc == CURLE_BAD_CONTENT_ENCODING)
		snprintf(err, errlen, "the upstream's reply to GET /api/streams "
		    "is not valid HTTP (%s)", curl_easy_strerror(rc));
	else
		snprintf(err, errlen, "cannot reach the upstream at %s: %s",
		    base, curl_easy_strerror(rc));
}

/* Runs GET base/api/streams into b; -1 with a sentence in err. */
static int
cmd_config_get(const char *base, struct buf *b, char *err, size_t errlen)
{
	struct curl_slist	*h;
	CURL			*e;
	CURLcode		 rc;
	char			*url;
	long			 status = 0;

	if ((e = curl_easy_init()) == NULL) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -1;
	}
	xasprintf(&url, "%s/api/streams", base);
	h = curl_slist_append(NULL, "Accept: application/json");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, CMD_CONFIG_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CMD_CONFIG_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "taskgate/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, cmd_config_receive);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
	rc = curl_easy_perform(e);
	if (rc == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	free(url);
	if (rc != CURLE_OK) {
		cmd_config_curl_error(rc, base, err, errlen);
		return -1;
	}
	if (status != 200) {
		snprintf(err, errlen, "the upstream at %s answered GET "
		    "/api/streams with status %ld", base, status);
		return -1;
	}
	return 0;
}

/* The stream list of a tasks.db (new), or NULL with err set. */
static json_t *
cmd_config_fetch_tcdb(const char *path, char *err, size_t errlen)
{
	struct tcdb		*db = tcdb_new(path);
	struct tcdb_rows	*snap;
	json_t			*j = NULL;
	long			 status;

	if ((snap = tcdb_snapshot_of(db, err, errlen)) != NULL)
		j = tcdb_render(snap, "/api/streams", clock_wall(), &status);
	tcdb_free(db);
	return j;
}

/* Returns the upstream's stream list (new), or NULL with err set. */
static json_t *
cmd_config_fetch(const char *base, char *err, size_t errlen)
{
	struct buf	 b;
	json_t		*j;

	if (strncmp(base, "sqlite:", 7) == 0)
		return cmd_config_fetch_tcdb(base + 7, err, errlen);
	buf_init(&b, TASKGATE_MAX_UPSTREAM);
	if (cmd_config_get(base, &b, err, errlen) == -1) {
		buf_clear(&b);
		return NULL;
	}
	j = json_loadb(b.data != NULL ? b.data : "", b.len, 0, NULL);
	buf_clear(&b);
	if (!json_is_array(json_object_get(j, "streams"))) {
		snprintf(err, errlen, "the upstream's reply to GET /api/streams "
		    "is not a stream list ({\"streams\": [...]})");
		json_decref(j);
		return NULL;
	}
	return j;
}

/* generate-config: the document ----------------------------------------- */

/* Copies key from one object to another, if it is there. */
static void
cmd_config_copy(json_t *to, json_t *from, const char *key)
{
	json_t	*v = json_object_get(from, key);

	if (v != NULL)
		json_object_set(to, key, v);
}

static json_t *
cmd_config_count(json_t *from, const char *key)
{
	json_t	*v = json_object_get(from, key);

	return json_is_integer(v) ? json_copy(v) : json_integer(0);
}

/* One stream of the config (new) from one of the upstream's. */
static json_t *
cmd_config_stream(json_t *up, const char *root)
{
	json_t	*s = json_object(), *deps, *wt;

	cmd_config_copy(s, up, "streamId");
	if (json_object_get(up, "streamName") != NULL)
		cmd_config_copy(s, up, "streamName");
	else if (json_object_get(up, "streamId") != NULL)
		json_object_set(s, "streamName", json_object_get(up,
		    "streamId"));
	cmd_config_copy(s, up, "streamPhase");
	json_object_set_new(s, "totalTasks", cmd_config_count(up,
	    "totalTasks"));
	json_object_set_new(s, "completedTasks", cmd_config_count(up,
	    "completedTasks"));
	deps = json_object_get(up, "dependencies");
	json_object_set_new(s, "dependencies", json_is_array(deps) ?
	    json_deep_copy(deps) : json_array());
	json_object_set_new(s, "projectRoot", json_string(root));
	wt = json_object_get(up, "worktreePath");
	json_object_set_new(s, "worktreePath", json_is_string(wt) ?
	    json_copy(wt) : json_null());
	return s;
}

/* {"foundation":[ids],"parallel":[ids],"integration":[ids]} (new). */
static json_t *
cmd_config_execution_plan(json_t *streams)
{
	json_t		*plan = json_object(), *s;
	enum plan_phase	 p;
	size_t		 i;

	for (p = PLAN_FOUNDATION; p < PLAN_UNKNOWN; p++)
		json_object_set_new(plan, plan_phase_name(p), json_array());
	json_array_foreach(streams, i, s) {
		const char *phase = json_string_value(json_object_get(s,
		    "streamPhase"));
		json_t *id = json_object_get(s, "streamId");

		p = plan_phase_of(phase);
		if (p != PLAN_UNKNOWN && id != NULL)
			json_array_append(json_object_get(plan,
			    plan_phase_name(p)), id);
	}
	return plan;
}

/* The whole config (new) from the upstream's list, as the top says. */
static json_t *
cmd_config_document(json_t *list, const char *url, const char *root)
{
	json_t	*doc = json_object(), *streams = json_array(), *s, *rec;
	char	 now[40];
	size_t	 i;

	json_array_foreach(json_object_get(list, "streams"), i, s)
		json_array_append_new(streams, cmd_config_stream(s, root));
	clock_iso8601(clock_wall(), now, sizeof now);
	json_object_set_new(doc, "version", json_string("1.0"));
	json_object_set_new(doc, "generatedAt", json_string(now));
	json_object_set_new(doc, "initiative", json_null());
	json_object_set_new(doc, "apiEndpoint", json_string(url));
	json_object_set_new(doc, "streams", streams);
	json_object_set_new(doc, "executionPlan",
	    cmd_config_execution_plan(streams));
	json_object_set_new(doc, "pollInterval", json_integer(5));
	json_object_set_new(doc, "maxParallelStreams", json_integer(5));
	rec = json_object();
	json_object_set_new(rec, "stallTimeoutMinutes", json_integer(10));
	json_object_set_new(rec, "autoRecoveryEnabled", json_true());
	json_object_set_new(rec, "maxRecoveryAttempts", json_integer(3));
	json_object_set_new(doc, "contextRecovery", rec);
	return doc;
}

/* generate-config: the file --------------------------------------------- */

/* Writes doc to the open temporary file fd; -1 with errno set. */
static int
cmd_config_dump(int fd, json_t *doc)
{
	FILE	*f;
	mode_t	 mask;
	int	 rc = 0;

	mask = umask(0);
	umask(mask);
	if (fchmod(fd, 0666 & ~mask) == -1 || (f = fdopen(fd, "w")) == NULL) {
		close(fd);
		return -1;
	}
	if (json_dumpf(doc, f, JSON_INDENT(2)) == -1 || fputc('\n', f) == EOF ||
	    fflush(f) == EOF || fsync(fileno(f)) == -1)
		rc = -1;
	if (fclose(f) == EOF)
		rc = -1;
	return rc;
}

/* Puts tmp in place at path without replacing a file; -1 with errno. */
static int
cmd_config_link(const char *tmp, const char *path)
{
	if (link(tmp, path) == 0)
		return unlink(tmp);
	if (errno == EEXIST)
		return -1;
	/* A file system without hard links: check, then rename. */
	if (access(path, F_OK) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(tmp, path);
}

/* Writes doc to path atomically; -1 with a sentence in err. */
static int
cmd_config_write(const char *path, json_t *doc, bool force, char *err,
    size_t errlen)
{
	char	*tmp;
	int	 fd, rc;

	if (files_mkdirs_for(path, err, errlen) == -1)
		return -1;
	xasprintf(&tmp, "%s.XXXXXX", path);
	if ((fd = mkstemp(tmp)) == -1) {
		snprintf(err, errlen, "cannot create a file beside %s: %s",
		    path, strerror(errno));
		free(tmp);
		return -1;
	}
	if ((rc = cmd_config_dump(fd, doc)) == -1)
		snprintf(err, errlen, "cannot write %s: %s", tmp,
		    strerror(errno));
	else if ((rc = force ? rename(tmp, path) : cmd_config_link(tmp,
	    path)) == -1) {
		if (errno == EEXIST)
			snprintf(err, errlen, "%s already exists; add --force "
			    "to replace it", path);
		else
			snprintf(err, errlen, "cannot write %s: %s", path,
			    strerror(errno));
	}
	if (rc == -1)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* generate-config -------------------------------------------------------- */

/*
 * Checks doc as check-config would and prints what is wrong.  Returns the
 * exit status: 0 sound, 1 plan problems, 2 a field of the wrong type.
 */
static int
cmd_config_validate(json_t *doc, const char *list_url, size_t *n_streams)
{
	struct orchconf	c;
	char		err[256];
	size_t		n;

	if (orchconf_parse(doc, &c, err, sizeof err) == -1) {
		log_warnx("%s: the upstream's streams do not fit the config: "
		    "%s", list_url, err);
		orchconf_clear(&c);
		return 2;
	}
	n = cmd_config_report(list_url, &c);
	*n_streams = c.n_streams;
	orchconf_clear(&c);
	return n == 0 ? 0 : 1;
}

/* The absolute, resolved project root (new), or NULL after a line. */
static char *
cmd_config_project_root(const char *given)
{
	struct stat	 st;
	char		*root;

	if ((root = realpath(given != NULL ? given : ".", NULL)) == NULL) {
		log_warnx("--project-root %s: %s",
		    given != NULL ? given : ".", strerror(errno));
		return NULL;
	}
	if (stat(root, &st) == -1 || !S_ISDIR(st.st_mode)) {
		log_warnx("--project-root %s: not a directory", root);
		free(root);
		return NULL;
	}
	return root;
}

/* Fetches, builds, checks and writes; returns the exit status. */
static int
cmd_config_generate_run(const char *url, const char *output,
    const char *root, bool force)
{
	json_t	*list, *doc;
	char	 err[512], *list_url;
	size_t	 n = 0;
	int	 rc = 0;

	if ((list = cmd_config_fetch(url, err, sizeof err)) == NULL) {
		log_warnx("%s", err);
		return 2;
	}
	doc = cmd_config_document(list, url, root);
	json_decref(list);
	xasprintf(&list_url, "%s/api/streams", url);
	rc = cmd_config_validate(doc, list_url, &n);
	free(list_url);
	if (rc == 0 && cmd_config_write(output, doc, force, err,
	    sizeof err) == -1) {
		log_warnx("%s", err);
		rc = 2;
	} else if (rc == 0)
		log_out("taskgate: wrote %s (%zu stream%s from %s)", output,
		    n, n == 1 ? "" : "s", url);
	json_decref(doc);
	return rc;
}

int
cmd_config_generate(int argc, char **argv)
{
	struct cmd_config_args	 a;
	const char		*output;
	char			 err[512], *root = NULL, *url = NULL;
	char			 tc_root[4096];
	const char		*given;
	size_t			 len;
	int			 rc;

	if ((rc = cmd_config_parse(&cmd_config_generate_verb, &a, argc,
	    argv)) != 0) {
		cmd_config_args_clear(&a);
		return rc == 1 ? 0 : 2;
	}
	rc = 2;
	output = a.output != NULL ? a.output : CMD_CONFIG_DEFAULT_PATH;
	url = xstrdup(a.upstream != NULL ? a.upstream : CMD_CONFIG_DEFAULT_URL);
	len = strlen(url);
	while (len > 0 && url[len - 1] == '/')
		url[--len] = '\0';
	if (upstream_check_url(url, err, sizeof err) != 0) {
		log_warnx("%s", err);
		goto out;
	}
	/* A tasks.db's project holds its .copilot/. */
	given = a.project_root;
	if (given == NULL && strncmp(url, "sqlite:", 7) == 0 &&
	    tcdb_project_root(url + 7, tc_root, sizeof tc_root) == 0)
		given = tc_root;
	if ((root = cmd_config_project_root(given)) == NULL)
		goto out;
	if (!a.force && access(output, F_OK) == 0) {
		log_warnx("%s already exists; add --force to replace it",
		    output);
		goto out;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("cannot initialise libcurl");
		goto out;
	}
	rc = cmd_config_generate_run(url, output, root, a.force);
	curl_global_cleanup();
out:
	free(root);
	free(url);
	cmd_config_args_clear(&a);
	return rc;
}
