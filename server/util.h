/*
 * util.h: the small things the daemon and the client verbs share, with
 * no library but libc: the limits, logging and fatal errors, allocation
 * that cannot fail, growable buffers, clocks, the validators of
 * untrusted values, a verb's flags, the parsers of one option value and
 * the plan's phases.  Declarations are grouped under the name of the file
 * that owns them, as in taskgate.h, which includes this header; the
 * client verbs include it through client.h, without libmicrohttpd,
 * SQLite or pthread.
 */
#ifndef TASKGATE_UTIL_H
#define TASKGATE_UTIL_H

#include <sys/socket.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TASKGATE_MAX_BODY	(64 * 1024)		/* request bodies */
#define TASKGATE_MAX_UPSTREAM	(8 * 1024 * 1024)	/* upstream replies */
#define TASKGATE_MAX_URI	16384			/* like the upstream's 16 KiB */
#define TASKGATE_TOKEN_HEX	64			/* 32 random bytes */
#define STREAM_ID_MAX		64
#define PERSON_NAME_MAX		32	/* a person's or a Unix login's name */

/* log.c */
void	log_init(bool);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_out(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
char	*log_escape(const char *, size_t);

/* xmalloc.c */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* buf.c */
struct buf {
	char	*data;		/* NUL-terminated, owned */
	size_t	 len;
	size_t	 cap;		/* allocated */
	size_t	 max;		/* the most it may hold; 0: no limit */
};

void	buf_init(struct buf *, size_t);
int	buf_add(struct buf *, const void *, size_t);
char	*buf_steal(struct buf *, size_t *);
void	buf_clear(struct buf *);

/* clock.c */
double	clock_mono(void);
double	clock_wall(void);
void	clock_iso8601(double, char *, size_t);
int64_t	clock_parse_ms(const char *);

/* validate.c */
bool	valid_stream_id(const char *);
bool	valid_token_hex(const char *);
int	etag_match(const char *, const char *);
void	etag_of(const void *, size_t, char *, size_t);
bool	equal_const_time(const char *, const char *);
int	valid_decode_path(const char *, char **);
int64_t	valid_last_event_id(const char *);
bool	valid_person_name(const char *);

/* What a person may do, each role all that the one before may (people.c). */
enum role { ROLE_NONE, ROLE_VIEWER, ROLE_OPERATOR, ROLE_ADMIN };
const char *role_name(enum role);
enum role role_parse(const char *);

/* verb.c */
#define VERB_FLAGS_MAX	16		/* flags of one verb */
struct verb_flag {
	const char	*name;		/* the long flag */
	int		 has_arg;	/* getopt_long's */
	int		 id;		/* above 255: what apply is given */
	const char	*env;		/* the environment twin, or NULL */
	const char	*arg;		/* how the help names the value */
	const char	*help;
};
typedef int (*verb_apply_fn)(void *, int, const char *, const char *);
int	verb_parse(const char *, const struct verb_flag *const *, size_t, int,
		    verb_apply_fn, void *, int, char **);
int	verb_no_more(const char *, int, char **);
bool	verb_is_command(const char *);
void	verb_usage(const struct verb_flag *const *, size_t, FILE *);

/* options.c: one option's value (the command line itself: taskgate.h) */
struct listen_addr {
	struct sockaddr_storage	 ss;		/* inet/inet6/unix address */
	socklen_t		 len;
	int			 family;	/* AF_INET, AF_INET6, AF_UNIX */
	bool			 loopback;	/* a loopback address or unix */
	char			 text[128];	/* as given, for messages */
};

int	options_parse_listen(const char *, struct listen_addr *, char *,
		    size_t);

/* socket-note.c: where a client finds the daemon's unix socket */
int	socket_note_port(const struct listen_addr *);
void	socket_note_write(int, const char *);
void	socket_note_remove(int);
bool	socket_note_listener(const char *, int, unsigned long *);
char	*socket_note_find(int);
char	*socket_note_where(const char *, const char *);
int	options_parse_seconds(const char *, double *);
int	options_parse_bool(const char *, bool *);
char	*options_state_path(const char *);

/* plan.c: the phases (the plan's rules: taskgate.h) */
enum plan_phase {
	PLAN_FOUNDATION,
	PLAN_PARALLEL,
	PLAN_INTEGRATION,
	PLAN_UNKNOWN		/* any other streamPhase, or none */
};

enum plan_phase plan_phase_of(const char *);
const char *plan_phase_name(enum plan_phase);

#endif /* TASKGATE_UTIL_H */
