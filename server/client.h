/*
 * client.h: the header of the client verbs (status, watch, start, stop,
 * recover, run), declared under the name of the file that owns each
 * part.  It gives them util.h and jansson, and never libmicrohttpd,
 * SQLite or pthread: a client is not the daemon.  Who calls whom, one
 * way only (nothing calls back up):
 *
 *	main.c		-> client.c (client_main)
 *	client.c	-> client-conn.c, client-render.c, client-frame.c,
 *			   client-watch.c (client_watch), termtext.c
 *	client-watch.c	-> client-conn.c, client-render.c, client-frame.c,
 *			   termtext.c
 *	client-render.c	-> client-frame.c, termtext.c
 *	client-frame.c	-> termtext.c
 *	client-conn.c	-> termtext.c
 */
#ifndef TASKGATE_CLIENT_H
#define TASKGATE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util.h"

/* termtext.c */
bool	termtext_utf8_locale(void);
int	termtext_safe(const char *, bool, struct buf *, int, int *);
int	termtext_width(const char *, bool);
char	*termtext_dup(const char *, bool);

/* client-conn.c */
struct curl_slist;

/* How a client verb reaches the daemon; strings owned. */
struct client_conn {
	char	*base;		/* http://HOST:PORT, or http://localhost */
	char	*unix_path;	/* the path of unix:/path, or NULL */
	char	*where;		/* as messages name it: base, or unix:/path */
	char	*token_file;	/* NULL: neither XDG_STATE_HOME nor HOME */
	bool	 remote;	/* not loopback: every request needs the token */
	char	 token[TASKGATE_TOKEN_HEX + 1];	/* "" until read */
	const char *body;	/* the next POST's JSON body, or NULL */
};

/* A daemon's answer to one request. */
struct client_reply {
	long		 status;	/* HTTP status */
	struct buf	 body;		/* capped at TASKGATE_MAX_UPSTREAM */
	json_t		*json;		/* the body parsed (owned), or NULL */
};

int	client_conn_open(struct client_conn *, const char *, const char *);
void	client_conn_close(struct client_conn *);
int	client_conn_token(struct client_conn *);
void	*client_conn_easy(struct client_conn *, const char *, bool,
		    const char *, struct curl_slist **);
int	client_conn_request(struct client_conn *, const char *, const char *,
		    bool, long, struct client_reply *);
void	client_conn_reply_clear(struct client_reply *);
int	client_conn_get_overview(struct client_conn *, long,
		    struct client_reply *);
void	client_conn_refused(const char *, const struct client_conn *,
		    const struct client_reply *);

/* client-frame.c */
enum client_color {
	CLIENT_PLAIN, CLIENT_GREEN, CLIENT_YELLOW, CLIENT_GREY, CLIENT_RED,
	CLIENT_BOLD, CLIENT_CYAN
};

/* Lines of terminal text; every string added is made safe to print. */
struct client_frame {
	struct buf	*lines;		/* bytes of each line, colours included */
	size_t		 n;
	size_t		 cap;
	int		 width;		/* columns of the last line so far */
	int		 max;		/* columns a line may take; 0: no limit */
	bool		 color;		/* SGR colours */
	bool		 utf8;		/* the terminal takes UTF-8 */
	bool		 cut;		/* the last line was cut: nothing
					   more goes on it */
	size_t		 next_end;	/* lines down to the last next
					   action drawn; 0: none */
};

void	client_frame_init(struct client_frame *, int, bool, bool);
void	client_frame_clear(struct client_frame *);
void	client_frame_line(struct client_frame *);
void	client_frame_add(struct client_frame *, enum client_color,
		    const char *, ...) __attribute__((format(printf, 3, 4)));
void	client_frame_pad(struct client_frame *, int);

/* client-render.c */
/* How much client_render_overview() draws of each stream. */
enum client_detail {
	CLIENT_TREE,		/* status: a small tree per stream */
	CLIENT_ROWS,		/* watch: a row, and its state, agent, gate */
	CLIENT_ROWS_NO_AGENT,	/* the same without the agent's line */
	CLIENT_ROWS_ONLY	/* one row per stream, nothing under it */
};

void	client_render_overview(struct client_frame *, json_t *,
	    enum client_detail);

/* client-watch.c */
int	client_watch(struct client_conn *, bool);

/* client.c */
int	client_main(int, char **);

#endif /* TASKGATE_CLIENT_H */
