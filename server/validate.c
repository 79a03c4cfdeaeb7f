/*
 * validate.c: pure checks of untrusted text: stream ids, tokens, ETags and
 * If-None-Match lists, people's names and roles, and a comparison that takes the same time whatever
 * the input, and the decoding of raw paths.  No I/O: these are what the
 * fuzzers drive.
 */
#include <stdlib.h>
#include <string.h>

#include "rules.h"

static bool
validate_idchar(char c, bool first)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return !first && (c == '.' || c == '_' || c == '-');
}

/* A stream id is [A-Za-z0-9][A-Za-z0-9._-]{0,63}. */
bool
valid_stream_id(const char *s)
{
	size_t	i;

	if (s == NULL || s[0] == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= STREAM_ID_MAX || !validate_idchar(s[i], i == 0))
			return false;
	}
	return true;
}

/*
 * A person's name, or a Unix login that names one, is
 * [A-Za-z0-9][A-Za-z0-9._-]{0,31}: no spaces, no control characters,
 * nothing a terminal, a log line or a page would read as more than text.
 */
bool
valid_person_name(const char *s)
{
	size_t	i;

	if (s == NULL || s[0] == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= PERSON_NAME_MAX || !validate_idchar(s[i], i == 0))
			return false;
	}
	return true;
}

static const char *const validate_roles[] = {
	[ROLE_NONE] = "none",
	[ROLE_VIEWER] = "viewer",
	[ROLE_OPERATOR] = "operator",
	[ROLE_ADMIN] = "admin",
};

const char *
role_name(enum role r)
{
	if ((size_t)r >= sizeof validate_roles / sizeof validate_roles[0])
		return "none";
	return validate_roles[r];
}

/* viewer, operator or admin; ROLE_NONE for anything else. */
enum role
role_parse(const char *s)
{
	if (s == NULL)
		return ROLE_NONE;
	if (strcmp(s, "viewer") == 0)
		return ROLE_VIEWER;
	if (strcmp(s, "operator") == 0)
		return ROLE_OPERATOR;
	if (strcmp(s, "admin") == 0)
		return ROLE_ADMIN;
	return ROLE_NONE;
}

bool
valid_token_hex(const char *s)
{
	size_t	i;

	for (i = 0; i < TASKGATE_TOKEN_HEX; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	}
	return s[i] == '\0';
}

/*
 * Compares two strings in time that depends only on the length of the
 * second (the secret), never on where they differ.
 */
bool
equal_const_time(const char *given, const char *secret)
{
	size_t		 glen = strlen(given), slen = strlen(secret), i;
	unsigned char	 diff = glen != slen;

	for (i = 0; i < slen; i++) {
		unsigned char g = i < glen ? (unsigned char)given[i] : 0;

		diff |= g ^ (unsigned char)secret[i];
	}
	return diff == 0;
}

/* A strong ETag of the bytes: FNV-1a 64, quoted. */
void
etag_of(const void *p, size_t len, char *out, size_t outlen)
{
	const unsigned char	*s = p;
	uint64_t		 h = 0xcbf29ce484222325ULL;
	size_t			 i;

	for (i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	snprintf(out, outlen, "\"%016llx-%zx\"", (unsigned long long)h, len);
}

/*
 * Returns 1 when the If-None-Match header value names etag (or is "*"),
 * 0 otherwise.  Weak tags (W/"...") compare by their opaque part, as
 * RFC 9110 asks for If-None-Match.
 */
int
etag_match(const char *header, const char *etag)
{
	const char	*p = header;
	size_t		 elen = strlen(etag);

	if (header == NULL)
		return 0;
	while (*p != '\0') {
		const char	*start;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return 1;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		start = p;
		if (*p != '"') {
			while (*p != '\0' && *p != ',')
				p++;
			continue;
		}
		p++;
		while (*p != '\0' && *p != '"')
			p++;
		if (*p != '"')
			return 0;
		p++;
		if ((size_t)(p - start) == elen &&
		    memcmp(start, etag, elen) == 0)
			return 1;
	}
	return 0;
}

static int
validate_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes the path part of a raw URI into *out (new).  Refuses a
 * malformed escape and %00, so that what is checked is what is forwarded.
 */
int
valid_decode_path(const char *uri, char **out)
{
	size_t	 len = strcspn(uri, "?"), i, j = 0;
	char	*p = xmalloc(len + 1);

	for (i = 0; i < len; i++) {
		int hi, lo;

		if (uri[i] != '%') {
			p[j++] = uri[i];
			continue;
		}
		if (i + 2 >= len || (hi = validate_hexval(uri[i + 1])) < 0 ||
		    (lo = validate_hexval(uri[i + 2])) < 0 || (hi | lo) == 0) {
			free(p);
			*out = NULL;
			return -1;
		}
		p[j++] = (char)(hi << 4 | lo);
		i += 2;
	}
	p[j] = '\0';
	*out = p;
	return 0;
}

/*
 * Parses a Last-Event-ID: decimal digits only, else -1 (then the client
 * is treated as new).
 */
int64_t
valid_last_event_id(const char *s)
{
	int64_t	v = 0;

	if (s == NULL || *s == '\0' || strlen(s) > 18)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}
