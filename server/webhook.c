/*
 * webhook.c: --webhook URL.  Every recorded event is POSTed to the URL as
 * {"id":N,"event":"TYPE","data":{...}} (the event stream's own id, type
 * and data), in order, by one thread with its own libcurl handle, so a
 * slow or dead receiver never delays taskgate.  Each event gets one try
 * (10 s at most); a failure is logged, not retried.  At most
 * WEBHOOK_QUEUE_MAX events wait; past that the oldest is dropped, with a
 * warning.  It owns the queue, the thread and the handle, nothing else.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "config.h"
#include "taskgate.h"

#define WEBHOOK_QUEUE_MAX	1000
#define WEBHOOK_TIMEOUT_MS	10000L

struct webhook_item {
	struct fifo_link	 link;		/* first */
	char			*body;
};

struct webhook {
	char			*url;
	pthread_mutex_t		 lock;		/* guards what follows */
	pthread_cond_t		 cond;
	struct fifo		 queue;		/* of webhook_item */
	size_t			 dropped;	/* not yet reported */
	bool			 stopping;
	pthread_t		 thread;
	bool			 started;
};

static void	*webhook_main(void *);

static void
webhook_item_free(struct webhook_item *item)
{
	free(item->body);
	free(item);
}

/*
 * Checks url (http:// or https://, as libcurl parses it); NULL with err
 * when it is not one.
 */
struct webhook *
webhook_new(const char *url, char *err, size_t errlen)
{
	struct webhook	*w;
	CURLU		*u = curl_url();
	char		*scheme = NULL;
	bool		 ok;

	ok = u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0);
	curl_free(scheme);
	curl_url_cleanup(u);
	if (!ok) {
		snprintf(err, errlen, "--webhook: '%s' is not an http:// or "
		    "https:// URL", url);
		return NULL;
	}
	w = xcalloc(1, sizeof *w);
	w->url = xstrdup(url);
	fifo_init(&w->queue, WEBHOOK_QUEUE_MAX);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	return w;
}

int
webhook_start(struct webhook *w)
{
	if (pthread_create(&w->thread, NULL, webhook_main, w) != 0)
		return -1;
	w->started = true;
	return 0;
}

/* Queues an event (data is its JSON text); never blocks on the network. */
void
webhook_post(struct webhook *w, int64_t id, const char *type,
    const char *data)
{
	struct webhook_item	*item;
	struct fifo_link	*old;

	if (w == NULL)
		return;
	item = xcalloc(1, sizeof *item);
	xasprintf(&item->body, "{\"id\":%lld,\"event\":\"%s\",\"data\":%s}",
	    (long long)id, type, data);
	pthread_mutex_lock(&w->lock);
	if ((old = fifo_push(&w->queue, &item->link)) != NULL) {
		webhook_item_free((struct webhook_item *)old);
		w->dropped++;
	}
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Ends the thread after the POST in flight; what still waits is dropped. */
void
webhook_stop(struct webhook *w)
{
	if (w == NULL || !w->started)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->started = false;
}

void
webhook_free(struct webhook *w)
{
	struct fifo_link	*item;

	if (w == NULL)
		return;
	if (w->queue.n > 0)
		log_warnx("webhook: %zu events were not sent before the end",
		    w->queue.n);
	while ((item = fifo_pop(&w->queue)) != NULL)
		webhook_item_free((struct webhook_item *)item);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w->url);
	free(w);
}

static size_t
webhook_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* One POST; says what went wrong, once per run of failures. */
static void
webhook_send(struct webhook *w, CURL *c, const char *body, bool *failing)
{
	CURLcode	 rc;
	long		 status = 0;

	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	rc = curl_easy_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_OK && status >= 200 && status < 300) {
		if (*failing)
			log_info("webhook: %s takes events again", w->url);
		*failing = false;
		return;
	}
	if (!*failing) {
		if (rc != CURLE_OK)
			log_warnx("webhook: cannot POST to %s: %s", w->url,
			    curl_easy_strerror(rc));
		else
			log_warnx("webhook: %s answered %ld", w->url, status);
	}
	*failing = true;
}

static void *
webhook_main(void *arg)
{
	struct webhook		*w = arg;
	struct webhook_item	*item;
	struct curl_slist	*headers = NULL;
	CURL			*c = curl_easy_init();
	size_t			 dropped;
	bool			 failing = false;

	if (c == NULL) {
		log_warnx("webhook: cannot make a libcurl handle; no events "
		    "will be POSTed");
		return NULL;
	}
	headers = curl_slist_append(headers, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, w->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "taskgate/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, WEBHOOK_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, webhook_discard);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->queue.head == NULL && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stopping)
			break;
		item = (struct webhook_item *)fifo_pop(&w->queue);
		dropped = w->dropped;
		w->dropped = 0;
		pthread_mutex_unlock(&w->lock);
		if (dropped > 0)
			log_warnx("webhook: %zu events dropped: %s is too slow",
			    dropped, w->url);
		webhook_send(w, c, item->body, &failing);
		webhook_item_free(item);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	curl_slist_free_all(headers);
	curl_easy_cleanup(c);
	return NULL;
}
