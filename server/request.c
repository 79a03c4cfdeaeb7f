/*
 * request.c: what a handler reads of its request (a header, a query
 * parameter), how it waits (suspend, then resume from any thread once
 * its answer is ready), and the request's end (request_free()).  http.c
 * makes each request; the handlers use it through here.
 */
#include <stdlib.h>
#include <string.h>

#include "taskgate.h"

const char *
request_header(struct request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

struct request_query_count {
	const char	*name;
	const char	*value;
	int		 n;
};


static enum MHD_Result
request_query_one(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct request_query_count	*q = cls;

	(void)kind;
	if (key != NULL && strcmp(key, q->name) == 0) {
		q->value = value != NULL ? value : "";
		q->n++;
	}
	return MHD_YES;
}

/*
 * The query parameter name into *value (NULL when absent).  Returns -1
 * when it is given more than once, which taskgate's own endpoints refuse.
 */
int
request_query(struct request *r, const char *name, const char **value)
{
	struct request_query_count	q = { name, NULL, 0 };

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND,
	    request_query_one, &q);
	*value = q.value;
	return q.n > 1 ? -1 : 0;
}

void
request_suspend(struct request *r)
{
	r->state = REQ_WAITING;
	MHD_suspend_connection(r->conn);
}

/* Resumes a request suspended with request_suspend(); any thread. */
void
request_resume(struct request *r)
{
	r->woken = true;
	MHD_resume_connection(r->conn);
}

/* Frees a request's state, and its place in its connection's. */
void
request_free(struct request *r)
{
	if (r == NULL)
		return;
	if (r->slot != NULL)
		*r->slot = NULL;
	upstream_call_free(r->call);
	if (r->job != NULL) {
		json_decref(r->job->answer);
		free(r->job->text);
		free(r->job);
	}
	buf_clear(&r->body);
	free(r->path);
	free(r->uri);
	free(r);
}
