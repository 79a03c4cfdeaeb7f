/*
 * cmd-user.c: `taskgate user add|list|remove|link`, the people who share
 * this taskgate.  It works on the history database itself (--db, as
 * serve's), so only whoever may write that file (the daemon's owner)
 * manages people, and it works whether the daemon runs or not: the
 * daemon reads people from the database on each request.  `add` and
 * `link` print the person's sign-in link once; only its hash is kept.
 * `remove` and `link` then tell the running daemon (POST
 * /api/people/check, on its unix socket when --socket or serve's note
 * names one, else at --listen with the owner's token) so the removed person's open event streams, or those
 * opened with the replaced token, end at once; when no daemon answers,
 * they end at its next poll, and the change stands all the same.
 * Exit status: 0 done, 1 refused (no such person, a taken name), 2 a
 * usage error or a database that cannot be opened.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "taskgate.h"
#include "client.h"

#define CU_DEFAULT_LISTEN	"127.0.0.1:9191"
#define CU_TELL_TIMEOUT_MS	5000L

enum cmd_user_opt {
	CU_DB = 256, CU_LISTEN, CU_SOCKET, CU_TOKEN_FILE, CU_ROLE, CU_UNIX_USER, CU_JSON, CU_HELP
};

struct cmd_user_args {
	char	*db;
	char	*listen;
	char	*socket;
	char	*token_file;
	char	*role;
	char	*unix_user;
	bool	 json;
};

static const struct verb_flag cmd_user_rows[] = {
	{ "role", required_argument, CU_ROLE, NULL, "ROLE",
	  "add: viewer, operator or admin (required)" },
	{ "unix-user", required_argument, CU_UNIX_USER, NULL, "LOGIN",
	  "add: the Unix login that is this person on the unix socket" },
	{ "json", no_argument, CU_JSON, NULL, NULL, "list: as JSON" },
	{ "db", required_argument, CU_DB, "TASKGATE_DB", "PATH",
	  "the history database (default $XDG_STATE_HOME/taskgate/"
	  "history.db), as serve's" },
	{ "listen", required_argument, CU_LISTEN, "TASKGATE_LISTEN", "ADDR",
	  "where the daemon listens, for the link and to tell it of remove "
	  "and link (default 127.0.0.1:9191)" },
	{ "socket", required_argument, CU_SOCKET, "TASKGATE_SOCKET", "PATH",
	  "remove, link: the daemon's unix socket (serve --socket), used "
	  "instead of --listen when it exists" },
	{ "token-file", required_argument, CU_TOKEN_FILE, "TASKGATE_TOKEN_FILE",
	  "PATH", "remove, link: the owner's token, to tell the daemon at "
	  "--listen (default $XDG_STATE_HOME/taskgate/token)" },
	{ "help", no_argument, CU_HELP, NULL, NULL, "show this help" },
};
#define CU_NROWS (sizeof cmd_user_rows / sizeof cmd_user_rows[0])

static void
cmd_user_usage(FILE *f)
{
	const struct verb_flag	*flags[CU_NROWS];
	size_t			 i;

	for (i = 0; i < CU_NROWS; i++)
		flags[i] = &cmd_user_rows[i];
	fprintf(f, "usage: taskgate user add NAME --role viewer|operator|admin "
	    "[--unix-user LOGIN]\n"
	    "       taskgate user list [--json]\n"
	    "       taskgate user remove NAME\n"
	    "       taskgate user link NAME\n\n"
	    "Manages the people who share this taskgate.  add and link print "
	    "the person's\nsign-in link once (link makes a new one; the old "
	    "one stops working, and so\ndo event streams opened with it); "
	    "remove ends their sign-ins and event\nstreams.  Names are 1 "
	    "to 32 letters, digits, '.', '_' or '-'.\n"
	    "Exit status: 0 done, 1 refused, 2 a usage or database error.\n\n"
	    "options (each also read from the environment variable shown):\n");
	verb_usage(flags, CU_NROWS, f);
}

static void
cmd_user_set(char **slot, const char *v)
{
	free(*slot);
	*slot = xstrdup(v);
}

static int
cmd_user_apply(void *args, int id, const char *v, const char *from)
{
	struct cmd_user_args	*a = args;

	(void)from;
	switch ((enum cmd_user_opt)id) {
	case CU_DB:
		cmd_user_set(&a->db, v);
		break;
	case CU_LISTEN:
		cmd_user_set(&a->listen, v);
		break;
	case CU_SOCKET:
		cmd_user_set(&a->socket, v);
		break;
	case CU_TOKEN_FILE:
		cmd_user_set(&a->token_file, v);
		break;
	case CU_ROLE:
		cmd_user_set(&a->role, v);
		break;
	case CU_UNIX_USER:
		cmd_user_set(&a->unix_user, v);
		break;
	case CU_JSON:
		a->json = true;
		break;
	case CU_HELP:
		break;
	}
	return 0;
}

/* Prints the sign-in link for token, for a daemon at listen. */
static void
cmd_user_print_link(const char *name, const char *listen, const char *token)
{
	struct listen_addr	 a;
	char			 err[256], host[INET6_ADDRSTRLEN + 2];
	int			 port = 0;

	if (options_parse_listen(listen, &a, err, sizeof err) == -1 ||
	    a.family == AF_UNIX) {
		log_out("%s's token, shown this once: %s", name, token);
		return;
	}
	if (a.family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&a.ss;

		if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
			s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
		port = ntohs(s4->sin_port);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&a.ss;
		char	addr[INET6_ADDRSTRLEN];

		if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
			s6->sin6_addr = in6addr_loopback;
		inet_ntop(AF_INET6, &s6->sin6_addr, addr, sizeof addr);
		snprintf(host, sizeof host, "[%s]", addr);
		port = ntohs(s6->sin6_port);
	}
	log_out("%s's sign-in link, shown this once: http://%s:%d/?token=%s",
	    name, host, port, token);
}

/*
 * Tells the running daemon that name was removed or given a new token,
 * so it ends now the event streams that may no longer be open (POST
 * /api/people/check; what names them in the messages): on its unix
 * socket when --socket names one that exists or serve noted one for
 * --listen's port (the owner's Unix user is an admin there), else at
 * --listen with the owner's token.  A daemon that does not answer ends
 * them at its next poll; that is said, and is no failure.
 */
static void
cmd_user_tell_daemon(struct cmd_user_args *a, const char *what)
{
	struct client_conn	 c;
	struct client_reply	 r;
	char			*where;
	bool			 told = false, unix_socket = false;

	where = socket_note_where(a->socket, a->listen != NULL ? a->listen :
	    CU_DEFAULT_LISTEN);
	unix_socket = strncmp(where, "unix:", 5) == 0;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(where);
		log_warnx("cannot start libcurl: %s end at the daemon's "
		    "next poll", what);
		return;
	}
	if (client_conn_open(&c, where, a->token_file) == 0) {
		if ((unix_socket || client_conn_token(&c) == 0) &&
		    client_conn_request(&c, "POST", "/api/people/check",
		    !unix_socket, CU_TELL_TIMEOUT_MS, &r) == 0) {
			if (r.status == 200)
				told = true;
			else
				client_conn_refused("telling the daemon", &c,
				    &r);
			client_conn_reply_clear(&r);
		}
		client_conn_close(&c);
	}
	curl_global_cleanup();
	if (told)
		log_out("the daemon at %s ended %s", where, what);
	else
		log_warnx("the daemon was not told: %s end at its next poll "
		    "(give --listen, or --socket, where it runs)", what);
	free(where);
}

/* Whether argv holds exactly want operands after the verb and subverb. */
static int
cmd_user_operands(int argc, char **argv, int want, const char *sub)
{
	if (argc - optind == want)
		return 0;
	if (argc - optind < want)
		log_warnx("user %s needs a NAME (see taskgate user --help)",
		    sub);
	else
		log_warnx("unexpected argument '%.80s' (see taskgate user "
		    "--help)", argv[optind + want]);
	return -1;
}

int
cmd_user(int argc, char **argv)
{
	const struct verb_flag	*flags[CU_NROWS];
	struct cmd_user_args	 a;
	struct db		*db = NULL;
	const char		*sub, *name = NULL;
	char			*what = NULL;
	char			 err[512], token[TASKGATE_TOKEN_HEX + 1];
	size_t			 i;
	int			 rc;

	memset(&a, 0, sizeof a);
	for (i = 0; i < CU_NROWS; i++)
		flags[i] = &cmd_user_rows[i];
	/* argv[0] is "user", argv[1] the subverb; getopt permutes. */
	rc = verb_parse("user", flags, CU_NROWS, CU_HELP, cmd_user_apply, &a,
	    argc, argv);
	if (rc == 1) {
		cmd_user_usage(stdout);
		rc = 0;
		goto out;
	}
	if (rc == -1 || optind >= argc) {
		if (rc == 0)
			log_warnx("user needs add, list, remove or link (see "
			    "taskgate user --help)");
		rc = 2;
		goto out;
	}
	sub = argv[optind++];
	if (strcmp(sub, "list") == 0)
		rc = cmd_user_operands(argc, argv, 0, sub);
	else if (strcmp(sub, "add") == 0 || strcmp(sub, "remove") == 0 ||
	    strcmp(sub, "link") == 0)
		rc = cmd_user_operands(argc, argv, 1, sub);
	else {
		log_warnx("unknown user command '%.80s': add, list, remove or "
		    "link", sub);
		rc = -1;
	}
	if (rc == -1) {
		rc = 2;
		goto out;
	}
	if (strcmp(sub, "list") != 0) {
		name = argv[optind];
		if (!valid_person_name(name)) {
			log_warnx("'%.80s' is not a name: 1 to %d letters, "
			    "digits, '.', '_' or '-', starting with a letter "
			    "or digit", name, PERSON_NAME_MAX);
			rc = 2;
			goto out;
		}
	}
	if (strcmp(sub, "add") == 0) {
		if (role_parse(a.role) == ROLE_NONE) {
			log_warnx("user add needs --role viewer, operator or "
			    "admin");
			rc = 2;
			goto out;
		}
		if (a.unix_user != NULL && !valid_person_name(a.unix_user)) {
			log_warnx("--unix-user '%.80s' is not a login name",
			    a.unix_user);
			rc = 2;
			goto out;
		}
	}
	if (a.db == NULL && (a.db = options_state_path("history.db")) ==
	    NULL) {
		log_warnx("neither XDG_STATE_HOME nor HOME is set: give --db");
		rc = 2;
		goto out;
	}
	if ((db = db_open(a.db, err, sizeof err)) == NULL) {
		log_warnx("%s", err);
		rc = 2;
		goto out;
	}
	rc = 0;
	if (strcmp(sub, "list") == 0) {
		json_t	*list = people_list(db);
		json_t	*p;
		size_t	 k;

		if (list == NULL)
			rc = 2;
		else if (a.json) {
			char *text = json_dumps(list, JSON_COMPACT);

			log_out("%s", text != NULL ? text : "[]");
			free(text);
		} else
			json_array_foreach(list, k, p)
				log_out("%-20s %-9s %-12s added %s",
				    json_string_value(json_object_get(p,
				    "name")), json_string_value(
				    json_object_get(p, "role")),
				    json_string_value(json_object_get(p,
				    "unixUser"))[0] != '\0' ?
				    json_string_value(json_object_get(p,
				    "unixUser")) : "-", json_string_value(
				    json_object_get(p, "createdAt")));
		json_decref(list);
	} else if (strcmp(sub, "add") == 0) {
		if (people_add(db, name, role_parse(a.role), a.unix_user,
		    token, err, sizeof err) == -1) {
			log_warnx("%s", err);
			rc = 1;
		} else {
			log_out("added %s as %s", name, a.role);
			cmd_user_print_link(name, a.listen != NULL ? a.listen :
			    CU_DEFAULT_LISTEN, token);
		}
	} else if (strcmp(sub, "remove") == 0) {
		if (people_remove(db, name, err, sizeof err) == -1) {
			log_warnx("%s", err);
			rc = 1;
		} else {
			log_out("removed %s; their sign-ins are ended", name);
			xasprintf(&what, "%s's open event streams", name);
			cmd_user_tell_daemon(&a, what);
		}
	} else {
		if (people_new_token(db, name, token, err, sizeof err) == -1) {
			log_warnx("%s", err);
			rc = 1;
		} else {
			cmd_user_print_link(name, a.listen != NULL ? a.listen :
			    CU_DEFAULT_LISTEN, token);
			xasprintf(&what, "the event streams opened with %s's "
			    "old token", name);
			cmd_user_tell_daemon(&a, what);
		}
	}
	explicit_bzero(token, sizeof token);
out:
	free(what);
	db_close(db);
	free(a.db);
	free(a.listen);
	free(a.socket);
	free(a.token_file);
	free(a.role);
	free(a.unix_user);
	return rc;
}
