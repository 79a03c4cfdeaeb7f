/*
 * cmd-statusline.c: `taskgate statusline URL`, the status line taskgate
 * gives each Claude Code window (its settings' statusLine command).
 * Claude Code runs it with its status JSON on stdin (context share,
 * cost, model); it posts that JSON to URL (the daemon's
 * /api/hooks/ID/status) with the window's secret from
 * TASKGATE_HOOK_SECRET, and prints one short line for the status bar.  A
 * status line must never get in the agent's way: whatever fails, it
 * prints what it can and exits 0, within two seconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "taskgate.h"

#define STATUSLINE_MAX		(64 * 1024)	/* bytes of JSON read */
#define STATUSLINE_TIMEOUT_MS	2000L

static size_t
cmd_statusline_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* Posts body to url with the secret; quietly, since nobody reads it. */
static void
cmd_statusline_post(const char *url, const char *secret, const char *body,
    size_t len)
{
	CURL			*c;
	struct curl_slist	*h = NULL;
	char			*header;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (c = curl_easy_init()) == NULL)
		return;
	xasprintf(&header, "X-Taskgate-Hook: %s", secret);
	h = curl_slist_append(h, header);
	h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, STATUSLINE_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cmd_statusline_discard);
	curl_easy_perform(c);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	free(header);
	curl_global_cleanup();
}

int
cmd_statusline(int argc, char **argv)
{
	const char	*secret = getenv("TASKGATE_HOOK_SECRET");
	json_t		*doc, *pct, *cost;
	char		*body = xmalloc(STATUSLINE_MAX + 1);
	size_t		 len;

	len = fread(body, 1, STATUSLINE_MAX, stdin);
	body[len] = '\0';
	if (argc == 2 && strncmp(argv[1], "http://", 7) == 0 &&
	    secret != NULL && secret[0] != '\0')
		cmd_statusline_post(argv[1], secret, body, len);
	doc = json_loadb(body, len, 0, NULL);
	pct = json_object_get(json_object_get(doc, "context_window"),
	    "used_percentage");
	cost = json_object_get(json_object_get(doc, "cost"),
	    "total_cost_usd");
	/* Numbers only: nothing from outside reaches the terminal. */
	if (json_is_number(pct) && json_is_number(cost))
		printf("taskgate · context %.0f%% · $%.2f\n",
		    json_number_value(pct), json_number_value(cost));
	else if (json_is_number(pct))
		printf("taskgate · context %.0f%%\n", json_number_value(pct));
	else
		printf("taskgate\n");
	json_decref(doc);
	free(body);
	return 0;
}
