/*
 * sse-clients: many event-stream clients in one process, for bench/run.
 *
 * It opens N connections to GET /api/events, waits until each has read its
 * `snapshot` event, and prints "ready OK FAILED".  Then, with --expect
 * EVENT, it waits (up to --timeout seconds) until every ready client has
 * read an event of that type, records when each one arrived (one epoll
 * loop, CLOCK_MONOTONIC, so the client adds microseconds, not the
 * milliseconds of an interpreter), and prints
 * "arrived COUNT p50 MS p99 MS max MS", the times after the first arrival.
 * Without --expect it holds the connections until its standard input
 * closes.  It exits 0 when every client did what was asked.
 *
 *   sse-clients [--expect EVENT] [--timeout S] [--host H] PORT N
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum client_state { CONNECTING, WAIT_STATUS, WAIT_SNAPSHOT, READY, ARRIVED, FAILED };

struct client {
	int fd;
	enum client_state state;
	char line[80]; /* the start of the line being read */
	size_t len;
	double arrived;
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Feeds received bytes through the line reader; returns the number of
 * clients that changed state (0 or 1). */
static int client_read_lines(struct client *c, const char *data, size_t n, const char *expect)
{
	char want[96];
	int changed = 0;

	snprintf(want, sizeof(want), "event: %s", expect ? expect : "");
	for (size_t i = 0; i < n; i++) {
		if (data[i] != '\n') {
			if (c->len < sizeof(c->line) - 1 && data[i] != '\r')
				c->line[c->len++] = data[i];
			continue;
		}
		c->line[c->len] = '\0';
		if (c->state == WAIT_STATUS) {
			if (strncmp(c->line, "HTTP/1.1 200", 12) != 0) {
				c->state = FAILED;
				return 1;
			}
			c->state = WAIT_SNAPSHOT;
		} else if (c->state == WAIT_SNAPSHOT && strcmp(c->line, "event: snapshot") == 0) {
			c->state = READY;
			changed = 1;
		} else if (c->state == READY && expect && strcmp(c->line, want) == 0) {
			c->state = ARRIVED;
			c->arrived = now_ms();
			changed = 1;
		}
		c->len = 0;
	}
	return changed;
}

static void usage(void)
{
	fprintf(stderr, "usage: sse-clients [--expect EVENT] [--timeout S] [--host H] PORT N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "expect", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ "host", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *expect = NULL, *host = "127.0.0.1";
	double timeout = 60;
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'e': expect = optarg; break;
		case 't': timeout = atof(optarg); break;
		case 'H': host = optarg; break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
	int port = atoi(argv[optind]);
	int n = atoi(argv[optind + 1]);
	if (port <= 0 || port > 65535 || n <= 0)
		usage();

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		usage();

	struct client *clients = calloc((size_t)n, sizeof(*clients));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (!clients || ep < 0) {
		perror("sse-clients");
		return 1;
	}
	char request[128];
	int reqlen = snprintf(request, sizeof(request),
	                      "GET /api/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n");
	int pending = n, ready = 0, failed = 0, arrived = 0;

	for (int i = 0; i < n; i++) {
		struct client *c = &clients[i];
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0 || (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)) {
			c->state = FAILED;
			failed++;
			pending--;
			continue;
		}
		c->state = CONNECTING;
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	}

	double deadline = now_ms() + timeout * 1e3;
	bool announced = false, stdin_open = !expect;
	if (stdin_open) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0)
			stdin_open = false;
	}
	struct epoll_event events[256];
	char buf[16384];

	for (;;) {
		if (!announced && pending == 0) {
			printf("ready %d %d\n", ready, failed);
			fflush(stdout);
			announced = true;
			deadline = now_ms() + timeout * 1e3;
		}
		if (announced && expect && arrived + failed >= n)
			break;
		if (announced && !expect && !stdin_open)
			break;
		double left = deadline - now_ms();
		if (left <= 0 && (expect || !announced))
			break;
		int k = epoll_wait(ep, events, 256, (expect || !announced) ? (int)left + 1 : -1);
		if (k < 0 && errno != EINTR)
			break;
		for (int j = 0; j < k; j++) {
			struct client *c = events[j].data.ptr;
			if (!c) {
				ssize_t r = read(0, buf, sizeof(buf));
				if (r <= 0) {
					epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
					stdin_open = false;
				}
				continue;
			}
			if (c->state == CONNECTING) {
				int err = 0;
				socklen_t len = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err || write(c->fd, request, (size_t)reqlen) != reqlen) {
					c->state = FAILED;
					failed++;
					pending--;
					close(c->fd);
					continue;
				}
				c->state = WAIT_STATUS;
				struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				continue;
			}
			ssize_t r = read(c->fd, buf, sizeof(buf));
			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				if (c->state != ARRIVED && c->state != FAILED) {
					if (c->state != READY)
						pending--;
					c->state = FAILED;
					failed++;
				}
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				continue;
			}
			if (r < 0)
				continue;
			enum client_state before = c->state;
			if (client_read_lines(c, buf, (size_t)r, expect)) {
				if (c->state == FAILED) {
					failed++;
					pending--;
					close(c->fd);
				} else if (before < READY && c->state >= READY) {
					ready++;
					pending--;
					if (c->state == ARRIVED)
						arrived++;
				} else if (c->state == ARRIVED) {
					arrived++;
				}
			}
		}
	}
	if (!announced) {
		printf("ready %d %d\n", ready, n - ready);
		return 1;
	}
	if (!expect)
		return failed ? 1 : 0;

	double *times = calloc((size_t)n, sizeof(double));
	int m = 0;
	for (int i = 0; i < n; i++)
		if (clients[i].state == ARRIVED)
			times[m++] = clients[i].arrived;
	qsort(times, (size_t)m, sizeof(double), cmp_double);
	double first = m ? times[0] : 0;
	printf("arrived %d p50 %.2f p99 %.2f max %.2f\n", m, m ? times[(m - 1) / 2] - first : 0,
	       m ? times[(int)(0.99 * (m - 1))] - first : 0, m ? times[m - 1] - first : 0);
	return m == n ? 0 : 1;
}
