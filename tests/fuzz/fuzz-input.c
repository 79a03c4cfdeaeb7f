/*
 * fuzz-input.c: the small untrusted strings of a request: raw paths,
 * stream ids, Last-Event-ID, history times, If-None-Match lists, Host
 * and Origin headers, Authorization and Cookie headers; and the first
 * bytes of a connection, which choose its daemon.
 */
#include <stdlib.h>
#include <string.h>

#include "taskgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct auth *fuzz_auth;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*s, *path, err[256];
	char	 etag[40];
	bool	 privileged;

	/* Raw bytes, not a string: the look of the front door. */
	acceptor_classify((const char *)data, size, TASKGATE_EVENTS_HEAD_MAX,
	    &privileged);
	s = xstrndup((const char *)data, size);

	if (fuzz_auth == NULL) {
		char tmpl[] = "/tmp/fuzz-token-XXXXXX";
		char *dir = mkdtemp(tmpl), file[64];

		snprintf(file, sizeof file, "%s/token", dir);
		fuzz_auth = auth_new(file, NULL, 0, err, sizeof err);
	}
	if (valid_decode_path(s, &path) == 0)
		free(path);
	valid_stream_id(s);
	valid_token_hex(s);
	valid_last_event_id(s);
	clock_parse_ms(s);
	etag_of(s, strlen(s), etag, sizeof etag);
	etag_match(s, etag);
	etag_match(s, "\"abc\"");
	auth_host_allowed(fuzz_auth, s);
	auth_origin_matches(s, "localhost:9191");
	auth_check(fuzz_auth, s, s);
	equal_const_time(s, auth_token(fuzz_auth));
	free(s);
	return 0;
}
